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

    def components(self) -> list[dict[str, Any]]:
        """The status page's components, each with its containers."""
        result = self._result("list components", f"component/list/{self.statuspage_id}")
        return _as_list(result, "list components")

    def incident_pages(
        self, which: Literal["active", "resolved"]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of active or resolved incidents (newest first) until an empty page."""
        call = f"list {which} incidents"
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            items = _as_list(
                self._result(call, f"incident/list/{which}/{self.statuspage_id}", {"page": page}),
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

    def _result(self, call: str, path: str, params: dict[str, Any] | None = None) -> Any:
        body = self.http.json("GET", path, call=call, params=params)
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, dict) or "error" not in status:
            raise ApiBadResponse(API, call, "the answer has no status envelope")
        if str(status.get("error")).lower() != "no":
            raise ApiRejected(API, call, str(status.get("message") or "error without a message"))
        return body.get("result")


def _as_list(value: Any, call: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiBadResponse(API, call, "the result is not a list of objects")
    return value
