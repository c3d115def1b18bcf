"""Status.io API v2: components, incidents with their messages, and maintenance.

Maintenance writes follow Status.io's own clients, the public reference while the Apiary page is
out of reach: statusio-go `maintenance_types.go` (field names of `maintenance/schedule` and of
the start/update/finish/delete control body), statusio-python `statusio/api.py` (the same names
plus `message_subject` and the notify flags as "0"/"1"), and for the planned date and time
statusio-ruby `spec/statusio_spec.rb`, which schedules against the live API with `%m/%d/%Y` and
`%H:%M`, as Ansible's `community.general.statusio_maintenance` does (both UTC). statusio-python's
test sends `YYYY/MM/DD` and statusio-go's test uses a broken Go layout, so MM/DD/YYYY + HH:MM is
the form two independent clients agree on. `maintenance/delete` answers "Successfully deleted
maintenance" (statusio-ruby spec).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from cmoc_core.clients.http import ApiBadResponse, ApiRejected, JsonApi

API = "Status.io"
MAX_PAGES = 1000
PLANNED_DATE = "%m/%d/%Y"
PLANNED_TIME = "%H:%M"
MAINTENANCE_NOTICES = ("now", "72_hr", "24_hr", "1_hr")


@dataclass(frozen=True)
class IncidentIds:
    """The ids of a status page's active and resolved incidents (`incidents/{id}`)."""

    active: frozenset[str]
    resolved: frozenset[str]


class StatusIoClient:
    """Read side of Status.io; one request at a time, spaced as Status.io asks (1 s default)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_id: str,
        api_key: str,
        statuspage_id: str,
        transport: httpx.BaseTransport | None = None,
        min_interval: float = 1.0,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.statuspage_id = statuspage_id
        self.http = JsonApi(
            api=API,
            base_url=base_url,
            headers={"x-api-id": api_id, "x-api-key": api_key},
            secrets=[api_id, api_key, *secrets],
            transport=transport,
            min_interval=min_interval,
            **options,
        )

    def components(self, *, statuspage_id: str | None = None) -> list[dict[str, Any]]:
        """The status page's components, each with its containers."""
        page_id = statuspage_id or self.statuspage_id
        result = self._result("list components", f"component/list/{page_id}")
        return _as_list(result, "list components")

    def incident_ids(self, *, statuspage_id: str | None = None) -> IncidentIds:
        """Every active and resolved incident's id, in one request."""
        call = "list incident ids"
        result = self._result(call, f"incidents/{statuspage_id or self.statuspage_id}")
        if not isinstance(result, dict):
            raise ApiBadResponse(API, call, "the result is not an object")
        lists = [result.get(f"{which}_incidents") or [] for which in ("active", "resolved")]
        if not all(isinstance(ids, list) for ids in lists):
            raise ApiBadResponse(API, call, "the incident ids are not lists")
        active, resolved = (frozenset(str(i) for i in ids) for ids in lists)
        return IncidentIds(active=active, resolved=resolved)

    def incident_pages(
        self,
        which: Literal["active", "resolved"],
        *,
        until_seen: Collection[str] | None = None,
        statuspage_id: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of active or resolved incidents, in the service's order, until none is new.

        The order, page size and first page number of `incident/list/{which}/{id}?page=N` are
        undocumented (statusio-go `IncidentListActive`/`IncidentListResolved` only send
        `?page=N`), so nothing here assumes an order: reading stops at an empty page, at a page
        of incidents already seen, or once every id of `until_seen` has been seen.
        """
        call = f"list {which} incidents"
        page_id = statuspage_id or self.statuspage_id
        wanted = set(until_seen) if until_seen is not None else None
        if wanted is not None and not wanted:
            return
        seen: set[object] = set()
        for page in range(1, MAX_PAGES + 1):
            items = _as_list(
                self._result(call, f"incident/list/{which}/{page_id}", {"page": page}),
                call,
            )
            fresh = [item for item in items if item.get("_id") not in seen]
            if not fresh:
                return
            seen.update(item.get("_id") for item in fresh)
            yield fresh
            if wanted is not None and wanted <= seen:
                return

    def maintenances(self, *, statuspage_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Active, upcoming and resolved maintenance windows (a missing list is empty)."""
        call = "list maintenance"
        result = self._result(call, f"maintenance/list/{statuspage_id or self.statuspage_id}")
        if not isinstance(result, dict):
            raise ApiBadResponse(API, call, "the result is not an object")
        return {
            phase: _as_list(result.get(f"{phase}_maintenances") or [], call)
            for phase in ("active", "upcoming", "resolved")
        }

    def incident(self, incident_id: str, *, statuspage_id: str | None = None) -> dict[str, Any]:
        """One incident with its messages."""
        page = statuspage_id or self.statuspage_id
        items = _as_list(
            self._result("read incident", f"incident/{page}/{incident_id}"), "read incident"
        )
        if not items:
            raise ApiBadResponse(API, "read incident", f"incident {incident_id} not found")
        return items[0]

    def create_incident(
        self,
        *,
        name: str,
        details: str,
        components: list[str],
        status: int,
        state: int,
        broadcast: dict[str, bool],
        all_infrastructure: bool = False,
        statuspage_id: str | None = None,
    ) -> str:
        """Create an incident; returns its id. `components` are `component-container` ids."""
        body = {
            "statuspage_id": statuspage_id or self.statuspage_id,
            "incident_name": name,
            "incident_details": details,
            "infrastructure_affected": components,
            "all_infrastructure_affected": _flag(all_infrastructure),
            "current_status": status,
            "current_state": state,
            **{channel: _flag(on) for channel, on in broadcast.items()},
        }
        result = self._result("create incident", "incident/create", body=body, method="POST")
        if not isinstance(result, str) or not result:
            raise ApiBadResponse(API, "create incident", "no incident id in the answer")
        return result

    def update_incident(
        self,
        *,
        incident_id: str,
        details: str,
        status: int,
        state: int,
        broadcast: dict[str, bool],
        resolve: bool = False,
        statuspage_id: str | None = None,
    ) -> None:
        """Publish an update to an incident, or its resolving update when `resolve`."""
        action = "resolve" if resolve else "update"
        body = {
            "statuspage_id": statuspage_id or self.statuspage_id,
            "incident_id": incident_id,
            "incident_details": details,
            "current_status": status,
            "current_state": state,
            **{channel: _flag(on) for channel, on in broadcast.items()},
        }
        self._result(f"{action} incident", f"incident/{action}", body=body, method="POST")

    def schedule_maintenance(
        self,
        *,
        name: str,
        details: str,
        components: list[str],
        start: datetime,
        end: datetime,
        all_infrastructure: bool = False,
        automation: bool = False,
        notify: Mapping[str, bool] | None = None,
        subject: str = "",
        statuspage_id: str | None = None,
    ) -> str:
        """Schedule a maintenance window (aware datetimes, sent in UTC); returns its id.

        `components` are `component-container` ids; `notify` names the notices to send among
        MAINTENANCE_NOTICES (now, 72_hr, 24_hr, 1_hr).
        """
        notices = notify or {}
        body = {
            "statuspage_id": statuspage_id or self.statuspage_id,
            "maintenance_name": name,
            "maintenance_details": details,
            "infrastructure_affected": components,
            "all_infrastructure_affected": _flag(all_infrastructure),
            "date_planned_start": planned_date(start),
            "time_planned_start": planned_time(start),
            "date_planned_end": planned_date(end),
            "time_planned_end": planned_time(end),
            "automation": _flag(automation),
            **{
                f"maintenance_notify_{notice}": _flag(notices.get(notice, False))
                for notice in MAINTENANCE_NOTICES
            },
            **({"message_subject": subject} if subject else {}),
        }
        call = "schedule maintenance"
        result = self._result(call, "maintenance/schedule", body=body, method="POST")
        if not isinstance(result, str) or not result:
            raise ApiBadResponse(API, call, "no maintenance id in the answer")
        return result

    def post_maintenance(
        self,
        action: Literal["start", "update", "finish"],
        *,
        maintenance_id: str,
        details: str,
        broadcast: Mapping[str, bool],
        subject: str = "",
        statuspage_id: str | None = None,
    ) -> None:
        """Start a maintenance, post an update without starting it, or finish it."""
        body = {
            "statuspage_id": statuspage_id or self.statuspage_id,
            "maintenance_id": maintenance_id,
            "maintenance_details": details,
            **{channel: _flag(on) for channel, on in broadcast.items()},
            **({"message_subject": subject} if subject else {}),
        }
        call = f"{action} maintenance"
        self._result(call, f"maintenance/{action}", body=body, method="POST")

    def delete_maintenance(self, *, maintenance_id: str, statuspage_id: str | None = None) -> None:
        """Delete a maintenance for good."""
        body = {
            "statuspage_id": statuspage_id or self.statuspage_id,
            "maintenance_id": maintenance_id,
        }
        self._result("delete maintenance", "maintenance/delete", body=body, method="POST")

    def _result(
        self,
        call: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        method: str = "GET",
    ) -> Any:
        body = self.http.json(method, path, call=call, params=params, body=body)
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, dict) or "error" not in status:
            raise self.http.error(ApiBadResponse, call, "the answer has no status envelope")
        if str(status.get("error")).lower() != "no":
            # Status.io answers its errors with HTTP 200: the message is the service's text and
            # may echo what was sent, credentials included.
            message = str(status.get("message") or "error without a message")
            raise self.http.error(ApiRejected, call, self.http.redact(message)[:200])
        return body.get("result")


def _flag(on: bool) -> str:
    return "1" if on else "0"


def planned_date(moment: datetime) -> str:
    """`12/31/2026`: a planned maintenance date the way Status.io reads it, in UTC."""
    return _utc(moment).strftime(PLANNED_DATE)


def planned_time(moment: datetime) -> str:
    """`23:30`: a planned maintenance time (24-hour clock, UTC)."""
    return _utc(moment).strftime(PLANNED_TIME)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("maintenance times must be timezone-aware")
    return moment.astimezone(UTC)


def _as_list(value: Any, call: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiBadResponse(API, call, "the result is not a list of objects")
    return value
