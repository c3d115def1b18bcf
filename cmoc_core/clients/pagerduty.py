"""PagerDuty REST API v2: incidents, log entries, on-call entries and users."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from cmoc_core.clients.http import ApiBadResponse, ApiRejected, JsonApi
from cmoc_core.timeutil import iso_z

API = "PagerDuty"
PAGE_SIZE = 100
OFFSET_CEILING = 10_000
MAX_WINDOW = timedelta(days=180)
ONCALL_WINDOW = timedelta(days=90)
SMALLEST_WINDOW = timedelta(minutes=1)


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
        if from_email:
            headers["From"] = from_email
        self.from_email = from_email
        self.http = JsonApi(
            api=API,
            base_url=base_url,
            headers=headers,
            secrets=[token, *secrets],
            transport=transport,
            **options,
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

    def oncalls(
        self, *, since: datetime, until: datetime, schedule_ids: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of on-call entries overlapping [since, until) on the given schedules."""
        params = [("schedule_ids[]", s) for s in schedule_ids]
        yield from self._windowed("oncalls", "oncalls", params, since, until, ONCALL_WINDOW)

    def users(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of the account's users."""
        yield from self._offset_pages("users", "users", [], call="list users")

    def incident(self, incident_id: str) -> dict[str, Any]:
        """One incident as PagerDuty has it now."""
        call = f"read page {incident_id}"
        answer = self.http.json("GET", f"incidents/{incident_id}", call=call)
        if not isinstance(answer, dict) or not isinstance(answer.get("incident"), dict):
            raise ApiBadResponse(API, call, "the answer has no incident")
        return answer["incident"]

    def acknowledge(self, incident_id: str) -> dict[str, Any]:
        """Acknowledge a page; needs PAGERDUTY_FROM_EMAIL."""
        return self._set_status(incident_id, "acknowledged")

    def resolve(self, incident_id: str) -> dict[str, Any]:
        """Resolve a page; needs PAGERDUTY_FROM_EMAIL."""
        return self._set_status(incident_id, "resolved")

    def _set_status(self, incident_id: str, status: str) -> dict[str, Any]:
        call = f"set page {incident_id} {status}"
        if not self.from_email:
            raise ApiRejected(API, call, "PAGERDUTY_FROM_EMAIL is not set; PagerDuty needs it")
        body = {"incident": {"type": "incident_reference", "status": status}}
        # Not repeated blindly: a second acknowledgement is recorded and restarts the
        # acknowledgement timeout, and a second resolve is refused as already resolved.
        answer = self.http.json(
            "PUT", f"incidents/{incident_id}", call=call, body=body, repeatable=False
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("incident"), dict):
            raise ApiBadResponse(API, call, "the answer has no incident")
        return answer["incident"]

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
        while more and offset + PAGE_SIZE <= OFFSET_CEILING:
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
