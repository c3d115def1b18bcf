"""Fake Status.io API v2: components, incidents and maintenances of the status pages.

Planned maintenance dates are read as MM/DD/YYYY (statusio-ruby, Ansible) or YYYY/MM/DD
(statusio-python's test), times as 24-hour HH:MM, all UTC; see `cmoc_core.clients.statusio`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote

import httpx

from cmoc_core.sandbox.body import request_body
from cmoc_core.sandbox.organisation import (
    Json,
    Organisation,
    affected_component,
    affected_container,
)

API_ID = "sandbox-statusio-api-id"
API_KEY = "sandbox-statusio-api-key"
PAGE_SIZE = 25
OK = {"error": "no", "message": "OK"}
STATUS_CODES = (100, 200, 300, 400, 500, 600)
STATE_CODES = (100, 200, 300)
OPERATIONAL = 100
NOTIFY_FLAGS = (
    "notify_email",
    "notify_sms",
    "notify_webhook",
    "social",
    "irc",
    "hipchat",
    "msteams",
    "slack",
)
WRITE_SOURCE = "api"
# The one form two independent clients agree on (see `cmoc_core.clients.statusio`).
PLANNED_DATE = "%m/%d/%Y"
PLANNED_TIME = "%H:%M"
MAINTENANCE_NOTICES = (
    "maintenance_notify_now",
    "maintenance_notify_72_hr",
    "maintenance_notify_24_hr",
    "maintenance_notify_1_hr",
)
# Message states of a maintenance, as the organisation's history writes them.
SCHEDULED, IN_PROGRESS, COMPLETED = 100, 200, 300
PLANNED_MAINTENANCE = 200
DELETED = "Successfully deleted maintenance"


class Refused(Exception):
    """A write Status.io answers with its failure envelope."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def envelope(result: Any) -> httpx.Response:
    """Status.io's success envelope around `result`."""
    return httpx.Response(200, json={"status": OK, "result": result})


def error_envelope(message: str, status_code: int = 200) -> httpx.Response:
    """Status.io's failure envelope; the API reports most failures with HTTP 200."""
    return httpx.Response(status_code, json={"status": {"error": "yes", "message": message}})


def _newest_first(incidents: list[Json]) -> list[Json]:
    return sorted(incidents, key=lambda incident: incident["datetime_open"], reverse=True)


def _shuffled(incidents: list[Json], order: random.Random) -> list[Json]:
    """The incidents in a fixed order of `order`'s choosing, neither by date nor by id."""
    mixed = sorted(incidents, key=lambda incident: incident["_id"])
    order.shuffle(mixed)
    return mixed


def format_time_ms(moment: datetime) -> str:
    """`2026-01-01T10:00:00.123Z`, the way Status.io writes times."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _text(body: Json, name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Refused(f"Missing required parameter: {name}")
        return ""
    if not isinstance(value, str):
        raise Refused(f"Invalid parameter: {name} must be a string")
    if required and not value.strip():
        raise Refused(f"Missing required parameter: {name}")
    return value


def _code(body: Json, name: str, allowed: tuple[int, ...]) -> int:
    value = body.get(name)
    if value is None:
        raise Refused(f"Missing required parameter: {name}")
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise Refused(f"Invalid parameter: {name} must be one of {', '.join(map(str, allowed))}")
    return value


def _flag(body: Json, name: str) -> bool:
    value = body.get(name, "0")
    if value not in ("0", "1"):
        raise Refused(f'Invalid parameter: {name} must be "0" or "1"')
    return value == "1"


def _planned(body: Json, which: str) -> datetime:
    """The planned start or end from its date and time fields, in UTC."""
    day, clock = _text(body, f"date_planned_{which}"), _text(body, f"time_planned_{which}")
    try:
        return datetime.strptime(f"{day} {clock}", f"{PLANNED_DATE} {PLANNED_TIME}").replace(
            tzinfo=UTC
        )
    except ValueError:
        raise Refused(
            f"Invalid parameter: date_planned_{which} and time_planned_{which} must be a date "
            "such as 12/31/2026 and a 24-hour time such as 23:30"
        ) from None


def _page_number(request: httpx.Request, first: int) -> int:
    try:
        return int(request.url.params.get("page", str(first)))
    except ValueError:
        return first


@dataclass
class _Page:
    components: list[Json]
    active: list[Json]
    resolved: list[Json]
    maintenances: dict[str, list[Json]]


class StatusioServer:
    """Status.io as it would answer for the organisation's status pages."""

    def __init__(
        self,
        org: Organisation,
        *,
        api_id: str = API_ID,
        api_key: str = API_KEY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.org = org
        self.api_id = api_id
        self.api_key = api_key
        self.clock = clock or (lambda: org.end)
        self._rng = random.Random(f"statusio-writes-{org.seed}")
        # The order, page size and first page of `incident/list/resolved/{id}?page=N` are not
        # documented (statusio-go `IncidentListResolved` only sends `?page=N`): resolved
        # incidents come in a shuffled order, fixed per organisation, that no sync may rely on;
        # `first_page` is the number of the first page (a page before it reads as the first).
        self.first_page = 1
        self._order = random.Random(f"statusio-order-{org.seed}")
        self._owned: set[str] = set()
        no_maintenances: dict[str, list[Json]] = {"active": [], "upcoming": [], "resolved": []}
        self.pages = {
            org.statuspage_id: _Page(
                components=org.statusio_components,
                active=_newest_first(org.statusio_active_incidents()),
                resolved=_shuffled(org.statusio_resolved_incidents(), self._order),
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
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        if request.method == "POST":
            return self._write(parts, request)
        if request.method != "GET":
            return error_envelope("Not found", 404)
        # Paths and shapes follow statusio/statusio-go (incidents.go, *_types.go), the reference
        # while the Apiary page is out of reach.
        match parts:
            case ["component", "list", page_id]:
                return self._for_page(page_id, lambda: self.pages[page_id].components)
            case ["incident", "list", "active" | "resolved" as which, page_id]:
                # IncidentListActive / IncidentListResolved: `[IncidentResponse]` per page.
                return self._for_page(page_id, lambda: self._paged(page_id, which, request))
            case ["incident", "list", page_id]:
                return self._for_page(page_id, lambda: self._all_incidents(page_id))
            case ["incidents", page_id]:
                # IncidentListByID: `{active_incidents: [id], resolved_incidents: [id]}`.
                return self._for_page(page_id, lambda: self._incident_ids(page_id))
            case ["incident", page_id, incident_id]:
                # IncidentSingle: `[IncidentResponse]`, active or resolved.
                return self._for_page(page_id, lambda: self._incident(page_id, incident_id))
            case ["maintenance", "list", page_id]:
                # MaintenanceList (maintenance_types.go): every item carries both
                # `components_affected` and `containers_affected`.
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
        start = max(_page_number(request, self.first_page) - self.first_page, 0) * PAGE_SIZE
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

    def _write(self, parts: list[str], request: httpx.Request) -> httpx.Response:
        """The answer to a write: an incident or maintenance action named by the path."""
        actions: dict[tuple[str, ...], Callable[[Json], Any]] = {
            ("incident", "create"): self._create,
            ("incident", "update"): partial(self._update, resolve=False),
            ("incident", "resolve"): partial(self._update, resolve=True),
            ("maintenance", "schedule"): self._schedule,
            ("maintenance", "start"): partial(self._maintenance_message, action="start"),
            ("maintenance", "update"): partial(self._maintenance_message, action="update"),
            ("maintenance", "finish"): partial(self._maintenance_message, action="finish"),
            ("maintenance", "delete"): self._delete_maintenance,
        }
        action = actions.get(tuple(parts))
        if action is None:
            return error_envelope("Not found", 404)
        body = request_body(request)
        if not isinstance(body, dict):
            return error_envelope("Invalid request: the body must be a JSON object")
        try:
            result = action(body)
        except Refused as exc:
            return error_envelope(exc.message)
        return result if isinstance(result, httpx.Response) else envelope(result)

    def _writable_page(self, body: Json) -> _Page:
        """The body's page, its lists copied before this sandbox first writes to it."""
        page_id = _text(body, "statuspage_id")
        page = self.pages.get(page_id)
        if page is None:
            raise Refused("Statuspage not found")
        if page_id not in self._owned:
            page.active = copy.deepcopy(page.active)
            page.resolved = copy.deepcopy(page.resolved)
            page.maintenances = copy.deepcopy(page.maintenances)
            self._owned.add(page_id)
        return page

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(96):024x}"

    def _create(self, body: Json) -> str:
        page = self._writable_page(body)
        name = _text(body, "incident_name")
        details = _text(body, "incident_details")
        status = _code(body, "current_status", STATUS_CODES)
        state = _code(body, "current_state", STATE_CODES)
        for flag in NOTIFY_FLAGS:
            _flag(body, flag)
        _text(body, "message_subject", required=False)
        components, containers = self._infrastructure(page, body)
        now = self.clock()
        incident: Json = {
            "_id": self._new_id(),
            "name": name,
            "statuspage": body["statuspage_id"],
            "datetime_open": format_time_ms(now),
            "post_mortem_url": "",
            "components_affected": [affected_component(c) for c in components],
            "containers_affected": [affected_container(c) for c in containers],
            "messages": [],
        }
        self._add_message(incident, details, state, status, now)
        page.active = _newest_first([incident, *page.active])
        return str(incident["_id"])

    def _infrastructure(self, page: _Page, body: Json) -> tuple[list[Json], list[Json]]:
        """The components and containers a create names, each checked against the page."""
        everything = _flag(body, "all_infrastructure_affected")
        raw = body.get("infrastructure_affected", [])
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise Refused(
                "Invalid parameter: infrastructure_affected must be a list of "
                '"componentId-containerId" strings'
            )
        pairs: list[tuple[Json, Json]] = []
        if everything:
            pairs = [(c, box) for c in page.components for box in c["containers"]]
        for item in raw:
            component_id, _, container_id = item.partition("-")
            component = next((c for c in page.components if c["_id"] == component_id), None)
            boxes = component["containers"] if component else []
            container = next((box for box in boxes if box["_id"] == container_id), None)
            if component is None or container is None:
                raise Refused(f"Invalid infrastructure_affected: {item}")
            pairs.append((component, container))
        if not pairs:
            raise Refused("Missing required parameter: infrastructure_affected")
        components = list({c["_id"]: c for c, _ in pairs}.values())
        containers = list({box["_id"]: box for _, box in pairs}.values())
        return components, containers

    def _add_message(
        self,
        item: Json,
        details: str,
        state: int,
        status: int,
        now: datetime,
        *,
        kind: str = "incident",
    ) -> None:
        """Append a message to an incident or (with `kind="maintenance"`) a maintenance."""
        item["messages"].append(
            {
                "_id": self._new_id(),
                "details": details,
                "state": state,
                "status": status,
                "datetime": format_time_ms(now),
                "source": WRITE_SOURCE,
                kind: item["_id"],
                "components": [c["_id"] for c in item["components_affected"]],
                "containers": [c["_id"] for c in item["containers_affected"]],
            }
        )

    def _update(self, body: Json, *, resolve: bool) -> bool:
        page = self._writable_page(body)
        incident_id = _text(body, "incident_id")
        details = _text(body, "incident_details")
        state = _code(body, "current_state", STATE_CODES)
        if resolve:
            if body.get("current_status") is not None:
                _code(body, "current_status", STATUS_CODES)
            status = OPERATIONAL
        else:
            status = _code(body, "current_status", STATUS_CODES)
        for flag in NOTIFY_FLAGS:
            _flag(body, flag)
        _text(body, "message_subject", required=False)
        incident = next((i for i in page.active if i["_id"] == incident_id), None)
        if incident is None:
            if any(i["_id"] == incident_id for i in page.resolved):
                raise Refused("Incident is already resolved")
            raise Refused("Incident not found")
        self._add_message(incident, details, state, status, self.clock())
        if resolve:
            page.active = [i for i in page.active if i is not incident]
            page.resolved.insert(self._order.randrange(len(page.resolved) + 1), incident)
        return True

    def _schedule(self, body: Json) -> str:
        page = self._writable_page(body)
        name = _text(body, "maintenance_name")
        details = _text(body, "maintenance_details")
        start, end = _planned(body, "start"), _planned(body, "end")
        if end <= start:
            raise Refused("Invalid parameter: the planned end must be after the planned start")
        for flag in ("automation", *MAINTENANCE_NOTICES):
            _flag(body, flag)
        _text(body, "message_subject", required=False)
        components, containers = self._infrastructure(page, body)
        now = self.clock()
        maintenance: Json = {
            "_id": self._new_id(),
            "name": name,
            "statuspage": body["statuspage_id"],
            "datetime_open": format_time_ms(now),
            "datetime_planned_start": format_time_ms(start),
            "datetime_planned_end": format_time_ms(end),
            "components_affected": [affected_component(c) for c in components],
            "containers_affected": [affected_container(c) for c in containers],
            "messages": [],
        }
        self._add_message(
            maintenance, details, SCHEDULED, PLANNED_MAINTENANCE, now, kind="maintenance"
        )
        upcoming = page.maintenances["upcoming"]
        upcoming.append(maintenance)
        upcoming.sort(key=lambda m: m["datetime_planned_start"])
        return str(maintenance["_id"])

    def _maintenance_message(self, body: Json, *, action: str) -> bool:
        """Start an upcoming maintenance, update an open one, or finish an active one."""
        page = self._writable_page(body)
        maintenance_id = _text(body, "maintenance_id")
        details = _text(body, "maintenance_details")
        for flag in NOTIFY_FLAGS:
            _flag(body, flag)
        _text(body, "message_subject", required=False)
        phase, maintenance = self._find_maintenance(page, maintenance_id)
        allowed = {"start": ("upcoming",), "update": ("upcoming", "active"), "finish": ("active",)}
        if phase not in allowed[action]:
            raise Refused(
                {
                    "resolved": "Maintenance is already finished",
                    "active": "Maintenance is already in progress",
                    "upcoming": "Maintenance has not started",
                }[phase]
            )
        moves_to = {"start": "active", "update": phase, "finish": "resolved"}[action]
        state = {"upcoming": SCHEDULED, "active": IN_PROGRESS, "resolved": COMPLETED}[moves_to]
        self._add_message(
            maintenance, details, state, PLANNED_MAINTENANCE, self.clock(), kind="maintenance"
        )
        if moves_to != phase:
            lists = page.maintenances
            lists[phase] = [m for m in lists[phase] if m is not maintenance]
            lists[moves_to] = [maintenance, *lists[moves_to]]
        return True

    def _delete_maintenance(self, body: Json) -> httpx.Response:
        page = self._writable_page(body)
        phase, maintenance = self._find_maintenance(page, _text(body, "maintenance_id"))
        lists = page.maintenances
        lists[phase] = [m for m in lists[phase] if m is not maintenance]
        return httpx.Response(
            200, json={"status": {"error": "no", "message": DELETED}, "result": True}
        )

    @staticmethod
    def _find_maintenance(page: _Page, maintenance_id: str) -> tuple[str, Json]:
        for phase, items in page.maintenances.items():
            for maintenance in items:
                if maintenance["_id"] == maintenance_id:
                    return phase, maintenance
        raise Refused("Maintenance not found")
