"""PagerDuty REST API v2: incidents, log entries, on-call entries and users."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from cmoc_core.clients.http import ApiBadResponse, ApiError, ApiRejected, JsonApi
from cmoc_core.timeutil import iso_z

API = "PagerDuty"
PAGE_SIZE = 100
OFFSET_CEILING = 10_000
MAX_WINDOW = timedelta(days=180)
ONCALL_WINDOW = timedelta(days=90)
SMALLEST_WINDOW = timedelta(minutes=1)


class OffsetCeilingReached(ApiError):
    """A listing has more items than classic pagination reaches (offset + limit <= 10,000).

    PagerDuty answers 400 past the ceiling and asks for narrower filters instead
    (developer-docs `09-Pagination.md`); the items read so far were yielded.
    """


class PagerDutyClient:
    """Read side of PagerDuty: every listing is paged and split into windows it accepts."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        from_email: str | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        self.from_email = from_email
        self._connection: dict[str, Any] = {
            "api": API,
            "base_url": base_url,
            "secrets": [token, *secrets],
            "transport": transport,
            **options,
        }
        self._headers = headers
        self.http = JsonApi(
            headers={**headers, "From": from_email} if from_email else headers,
            **self._connection,
        )

    def incidents(
        self, *, since: datetime, until: datetime, service_ids: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of incidents created in [since, until) on the given services, oldest first."""
        params = [("service_ids[]", s) for s in service_ids] + [("sort_by", "created_at:asc")]
        yield from self._windowed("incidents", "incidents", params, since, until, MAX_WINDOW)

    def log_entries(
        self, *, since: datetime, until: datetime, include_incidents: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the account's overview log entries in [since, until)."""
        params: list[tuple[str, str]] = [("is_overview", "true")]
        if include_incidents:
            params.append(("include[]", "incidents"))
        yield from self._windowed("log_entries", "log_entries", params, since, until, MAX_WINDOW)

    def log_entries_total(self, *, since: datetime, until: datetime) -> list[int]:
        """How many overview log entries the account has in each window of [since, until).

        One request a window: `limit=1&total=true` asks for the count alone, as the official
        client's `get_total` does (python-pagerduty `RestApiV2BaseClient.get_total`).
        """
        totals = []
        start = since
        while start < until:
            end = min(start + MAX_WINDOW, until)
            call = f"count log entries {iso_z(start)}..{iso_z(end)}"
            query = [
                ("is_overview", "true"),
                ("since", iso_z(start)),
                ("until", iso_z(end)),
                ("total", "true"),
                ("limit", "1"),
                ("offset", "0"),
            ]
            body = self.http.json("GET", "log_entries", call=call, params=query)
            total = body.get("total") if isinstance(body, dict) else None
            if not isinstance(total, int):
                raise ApiBadResponse(API, call, "the answer has no total")
            totals.append(total)
            start = end
        return totals

    def incident_log_entries(self, incident_id: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of one incident's overview log entries, whenever they were made."""
        path = f"incidents/{incident_id}/log_entries"
        call = f"list log entries of page {incident_id}"
        yield from self._offset_pages(path, "log_entries", [("is_overview", "true")], call=call)

    def oncalls(
        self, *, since: datetime, until: datetime, schedule_ids: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of on-call entries overlapping [since, until) on the given schedules."""
        params = [("schedule_ids[]", s) for s in schedule_ids]
        yield from self._windowed("oncalls", "oncalls", params, since, until, ONCALL_WINDOW)

    def users(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of the account's users; OffsetCeilingReached when more lie past 10,000."""
        yield from self._offset_pages("users", "users", [], call="list users")

    def user(self, user_id: str) -> dict[str, Any] | None:
        """One user by id (`GET /users/{id}`), or None when PagerDuty has no such user."""
        call = f"read user {user_id}"
        answer = self.http.found(f"users/{user_id}", call=call)
        if answer is None:
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("user"), dict):
            raise ApiBadResponse(API, call, "the answer has no user")
        return answer["user"]

    def incident(self, incident_id: str) -> dict[str, Any]:
        """One incident as PagerDuty has it now."""
        call = f"read page {incident_id}"
        answer = self.http.json("GET", f"incidents/{incident_id}", call=call)
        if not isinstance(answer, dict) or not isinstance(answer.get("incident"), dict):
            raise ApiBadResponse(API, call, "the answer has no incident")
        return answer["incident"]

    def incident_details(self, incident_id: str) -> str | None:
        """An incident's `body.details` as text, or None when it has none or is gone.

        The current Incident schema has no `description`; the alert's details are in `body`,
        which `GET /incidents/{id}` returns only with `include[]=body` (PagerDuty/api-schema
        openapiv3.json; go-pagerduty `IncidentBody`). Details may be text or an object.
        """
        call = f"read details of page {incident_id}"
        answer = self.http.found(
            f"incidents/{incident_id}", call=call, params=[("include[]", "body")]
        )
        if answer is None:
            return None
        incident = answer.get("incident") if isinstance(answer, dict) else None
        if not isinstance(incident, dict):
            raise ApiBadResponse(API, call, "the answer has no incident")
        body = incident.get("body")
        details = body.get("details") if isinstance(body, dict) else None
        if details is None or details == "":
            return None
        return details if isinstance(details, str) else json.dumps(details, sort_keys=True)

    def acknowledge(self, incident_id: str, *, from_email: str | None = None) -> dict[str, Any]:
        """Acknowledge a page as the PagerDuty user `from_email` (else PAGERDUTY_FROM_EMAIL)."""
        return self._set_status(incident_id, "acknowledged", from_email)

    def resolve(self, incident_id: str, *, from_email: str | None = None) -> dict[str, Any]:
        """Resolve a page as the PagerDuty user `from_email` (else PAGERDUTY_FROM_EMAIL)."""
        return self._set_status(incident_id, "resolved", from_email)

    def _set_status(self, incident_id: str, status: str, from_email: str | None) -> dict[str, Any]:
        call = f"set page {incident_id} {status}"
        # PagerDuty requires `From` (a user's login e-mail) on incident writes and records the
        # change as that user's (openapiv3.json, `PUT /incidents/{id}`).
        sender = (from_email or "").strip() or self.from_email
        if not sender:
            raise ApiRejected(API, call, "PAGERDUTY_FROM_EMAIL is not set; PagerDuty needs it")
        body = {"incident": {"type": "incident_reference", "status": status}}
        # Not repeated blindly: a second acknowledgement is recorded and restarts the
        # acknowledgement timeout, and a second resolve is refused as already resolved.
        with self._writer(sender) as writer:
            answer = writer.json(
                "PUT", f"incidents/{incident_id}", call=call, body=body, repeatable=False
            )
        if not isinstance(answer, dict) or not isinstance(answer.get("incident"), dict):
            raise ApiBadResponse(API, call, "the answer has no incident")
        return answer["incident"]

    @contextmanager
    def _writer(self, from_email: str) -> Iterator[JsonApi]:
        """A client whose requests carry `From: from_email`; writes are rare, so it is not kept."""
        if from_email == self.from_email:
            yield self.http
            return
        writer = JsonApi(headers={**self._headers, "From": from_email}, **self._connection)
        try:
            yield writer
        finally:
            writer.close()

    def _windowed(
        self,
        path: str,
        key: str,
        params: list[tuple[str, str]],
        since: datetime,
        until: datetime,
        longest: timedelta,
    ) -> Iterator[list[dict[str, Any]]]:
        start = since
        while start < until:
            end = min(start + longest, until)
            yield from self._window(path, key, params, start, end)
            start = end

    def _window(
        self,
        path: str,
        key: str,
        params: list[tuple[str, str]],
        since: datetime,
        until: datetime,
    ) -> Iterator[list[dict[str, Any]]]:
        """One window's pages; a window holding more than the offset ceiling is split first."""
        call = f"list {path.replace('_', ' ')} {iso_z(since)}..{iso_z(until)}"
        window = [*params, ("since", iso_z(since)), ("until", iso_z(until))]
        first = self._page(path, key, [*window, ("total", "true")], 0, call)
        total = first.get("total")
        if isinstance(total, int) and total > OFFSET_CEILING and until - since > SMALLEST_WINDOW:
            parts = -(-total // (OFFSET_CEILING * 8 // 10))
            step = (until - since) / parts
            for i in range(parts):
                yield from self._window(
                    path,
                    key,
                    params,
                    since + step * i,
                    until if i == parts - 1 else since + step * (i + 1),
                )
            return
        yield first[key]
        offset = len(first[key])
        more = bool(first.get("more")) and offset > 0
        while more:
            if offset + PAGE_SIZE > OFFSET_CEILING:
                if until - since <= SMALLEST_WINDOW:
                    raise ApiBadResponse(API, call, "more than 10,000 items in one minute")
                # The total was not reported; fall back to halving what is left of the window.
                middle = since + (until - since) / 2
                yield from self._window(path, key, params, since, middle)
                yield from self._window(path, key, params, middle, until)
                return
            page = self._page(path, key, window, offset, call)
            yield page[key]
            offset += len(page[key])
            more = bool(page.get("more")) and bool(page[key])

    def _offset_pages(
        self, path: str, key: str, params: list[tuple[str, str]], *, call: str
    ) -> Iterator[list[dict[str, Any]]]:
        offset, more = 0, True
        while more:
            if offset + PAGE_SIZE > OFFSET_CEILING:
                cause = (
                    f"PagerDuty lists at most {OFFSET_CEILING:,} items by offset and more "
                    f"remain after the first {offset:,}"
                )
                raise OffsetCeilingReached(API, call, cause)
            page = self._page(path, key, params, offset, call)
            yield page[key]
            offset += len(page[key])
            more = bool(page.get("more")) and bool(page[key])

    def _page(
        self, path: str, key: str, params: list[tuple[str, str]], offset: int, call: str
    ) -> dict[str, Any]:
        query = [*params, ("limit", str(PAGE_SIZE)), ("offset", str(offset))]
        body = self.http.json("GET", path, call=call, params=query)
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise ApiBadResponse(API, call, f"the answer has no '{key}' list")
        return body

    def current_user(self) -> dict[str, Any]:
        """The user a user-level token belongs to (`GET /users/me`).

        An account-level token has no user of its own, so PagerDuty refuses this read with a
        400 (PagerDuty/api-schema openapiv3.json `getCurrentUser`; python-pagerduty
        `api_key_access` reads that 400 as "account"), raised here as ApiRejected.
        """
        call = "read the token's user"
        answer = self.http.json("GET", "users/me", call=call)
        if not isinstance(answer, dict) or not isinstance(answer.get("user"), dict):
            raise ApiBadResponse(API, call, "the answer has no user")
        return answer["user"]

    def incident_total(
        self, *, since: datetime, until: datetime, service_ids: Sequence[str]
    ) -> int:
        """How many incidents were created in [since, until) on the services: one short page."""
        call = "count pages"
        params = [
            *[("service_ids[]", s) for s in service_ids],
            ("since", iso_z(since)),
            ("until", iso_z(until)),
            ("limit", "1"),
            ("total", "true"),
        ]
        body = self.http.json("GET", "incidents", call=call, params=params)
        total = body.get("total") if isinstance(body, dict) else None
        if not isinstance(total, int) or isinstance(total, bool):
            raise ApiBadResponse(API, call, "the answer has no total")
        return total

    def schedule(self, schedule_id: str) -> dict[str, Any] | None:
        """One schedule by id (`GET /schedules/{id}`), or None when PagerDuty has no such one."""
        call = f"read schedule {schedule_id}"
        answer = self.http.found(f"schedules/{schedule_id}", call=call)
        if answer is None:
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("schedule"), dict):
            raise ApiBadResponse(API, call, "the answer has no schedule")
        return answer["schedule"]

    def first_schedules(self, *, limit: int = 1) -> list[dict[str, Any]]:
        """The first schedules of the account (`GET /schedules?limit=N`)."""
        call = "list schedules"
        body = self.http.json("GET", "schedules", call=call, params={"limit": limit})
        if not isinstance(body, dict) or not isinstance(body.get("schedules"), list):
            raise ApiBadResponse(API, call, "the answer has no 'schedules' list")
        return body["schedules"]

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        """The account's user with this e-mail address (case aside), or None.

        `GET /users?query=` finds users by e-mail as PagerDuty's own clients use it
        (terraform-provider-pagerduty `data_source_pagerduty_user.go`, python-pagerduty
        `find(..., attribute="email")`); the schema only says it matches names, so the answer is
        checked for an exact e-mail match.
        """
        call = "find the PAGERDUTY_FROM_EMAIL user"
        page = self._page("users", "users", [("query", email)], 0, call)
        wanted = email.strip().lower()
        return next(
            (
                user
                for user in page["users"]
                if isinstance(user, dict) and str(user.get("email") or "").strip().lower() == wanted
            ),
            None,
        )
