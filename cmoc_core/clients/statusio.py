"""Status.io API v2: components, incidents with their messages, and maintenance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx

from cmoc_core.clients.http import ApiBadResponse, ApiRejected, JsonApi

API = "Status.io"
MAX_PAGES = 1000


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
        **options: Any,
    ) -> None:
        self.statuspage_id = statuspage_id
        self.http = JsonApi(
            api=API,
            base_url=base_url,
            headers={"x-api-id": api_id, "x-api-key": api_key},
            secrets=[api_id, api_key],
            transport=transport,
            min_interval=min_interval,
            **options,
        )

    def components(self, *, statuspage_id: str | None = None) -> list[dict[str, Any]]:
        """The status page's components, each with its containers."""
        page_id = statuspage_id or self.statuspage_id
        result = self._result("list components", f"component/list/{page_id}")
        return _as_list(result, "list components")

    def incident_pages(
        self, which: Literal["active", "resolved"], *, statuspage_id: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of active or resolved incidents (newest first) until an empty page."""
        call = f"list {which} incidents"
        page_id = statuspage_id or self.statuspage_id
        seen: set[str] = set()
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

    def maintenances(self) -> dict[str, list[dict[str, Any]]]:
        """Active, upcoming and resolved maintenance windows."""
        call = "list maintenance"
        result = self._result(call, f"maintenance/list/{self.statuspage_id}")
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
            raise ApiBadResponse(API, call, "the answer has no status envelope")
        if str(status.get("error")).lower() != "no":
            raise ApiRejected(API, call, str(status.get("message") or "error without a message"))
        return body.get("result")


def _flag(on: bool) -> str:
    return "1" if on else "0"


def _as_list(value: Any, call: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiBadResponse(API, call, "the result is not a list of objects")
    return value
