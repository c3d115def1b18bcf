"""Fake Status.io API v2: components, incidents and maintenances of the status pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from cmoc_core.sandbox.organisation import Json, Organisation

API_ID = "sandbox-statusio-api-id"
API_KEY = "sandbox-statusio-api-key"
PAGE_SIZE = 25
OK = {"error": "no", "message": "OK"}


def envelope(result: Any) -> httpx.Response:
    """Status.io's success envelope around `result`."""
    return httpx.Response(200, json={"status": OK, "result": result})


def error_envelope(message: str, status_code: int = 200) -> httpx.Response:
    """Status.io's failure envelope; the API reports most failures with HTTP 200."""
    return httpx.Response(status_code, json={"status": {"error": "yes", "message": message}})


def _newest_first(incidents: list[Json]) -> list[Json]:
    return sorted(incidents, key=lambda incident: incident["datetime_open"], reverse=True)


def _page_number(request: httpx.Request) -> int:
    try:
        return max(int(request.url.params.get("page", "1")), 1)
    except ValueError:
        return 1


@dataclass
class _Page:
    components: list[Json]
    active: list[Json]
    resolved: list[Json]
    maintenances: dict[str, list[Json]]


class StatusioServer:
    """Status.io as it would answer for the organisation's status pages."""

    def __init__(self, org: Organisation, *, api_id: str = API_ID, api_key: str = API_KEY) -> None:
        self.org = org
        self.api_id = api_id
        self.api_key = api_key
        no_maintenances: dict[str, list[Json]] = {"active": [], "upcoming": [], "resolved": []}
        self.pages = {
            org.statuspage_id: _Page(
                components=org.statusio_components,
                active=_newest_first(org.statusio_active_incidents()),
                resolved=_newest_first(org.statusio_resolved_incidents()),
                maintenances=org.statusio_maintenances,
            ),
            org.practice_statuspage_id: _Page(
                components=org.statusio_practice_components,
                active=[],
                resolved=[],
                maintenances=no_maintenances,
            ),
        }

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Status.io's answer to `request`; `path` is the part after the API prefix."""
        headers = request.headers
        if headers.get("x-api-id") != self.api_id or headers.get("x-api-key") != self.api_key:
            return error_envelope("Authentication failed", 401)
        if request.method != "GET":
            return error_envelope("Not found", 404)
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        match parts:
            case ["component", "list", page_id]:
                return self._for_page(page_id, lambda: self.pages[page_id].components)
            case ["incident", "list", "active" | "resolved" as which, page_id]:
                return self._for_page(page_id, lambda: self._paged(page_id, which, request))
            case ["incident", "list", page_id]:
                return self._for_page(page_id, lambda: self._all_incidents(page_id))
            case ["incidents", page_id]:
                return self._for_page(page_id, lambda: self._incident_ids(page_id))
            case ["incident", page_id, incident_id]:
                return self._for_page(page_id, lambda: self._incident(page_id, incident_id))
            case ["maintenance", "list", page_id]:
                return self._for_page(page_id, lambda: self._maintenances(page_id))
        return error_envelope("Not found", 404)

    def _for_page(self, page_id: str, result: Callable[[], Any]) -> httpx.Response:
        if page_id not in self.pages:
            return error_envelope("Statuspage not found")
        value = result()
        return value if isinstance(value, httpx.Response) else envelope(value)

    def _paged(self, page_id: str, which: str, request: httpx.Request) -> list[Json]:
        page = self.pages[page_id]
        incidents = page.active if which == "active" else page.resolved
        start = (_page_number(request) - 1) * PAGE_SIZE
        return incidents[start : start + PAGE_SIZE]

    def _all_incidents(self, page_id: str) -> Json:
        page = self.pages[page_id]
        return {"active_incidents": page.active, "resolved_incidents": page.resolved}

    def _incident_ids(self, page_id: str) -> Json:
        page = self.pages[page_id]
        return {
            "active_incidents": [i["_id"] for i in page.active],
            "resolved_incidents": [i["_id"] for i in page.resolved],
        }

    def _incident(self, page_id: str, incident_id: str) -> list[Json] | httpx.Response:
        page = self.pages[page_id]
        for incident in page.active + page.resolved:
            if incident["_id"] == incident_id:
                return [incident]
        return error_envelope("Incident not found")

    def _maintenances(self, page_id: str) -> Json:
        lists = self.pages[page_id].maintenances
        return {
            "active_maintenances": lists["active"],
            "upcoming_maintenances": lists["upcoming"],
            "resolved_maintenances": lists["resolved"],
        }
