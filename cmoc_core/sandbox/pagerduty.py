"""Fake PagerDuty REST API v2: incidents, log entries, on-calls, users, services, schedules."""

from __future__ import annotations

import bisect
import calendar
import copy
import random
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import httpx

from cmoc_core.sandbox.body import request_body
from cmoc_core.sandbox.organisation import (
    PD_API,
    PD_WEB,
    Json,
    Organisation,
    format_time,
    parse_time,
)

TOKEN = "sandbox-pagerduty-token"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_RANGE_MONTHS = 6
DEFAULT_RANGE_MONTHS = 1
INCIDENT_SORT_KEYS = ("created_at", "incident_number", "resolved_at")
FROM_REQUIRED = (
    'You must specify a user\'s email address in the "From" header to perform this action'
)
# getCurrentUser works with a user-level key only (openapiv3.json); python-pagerduty reads a 400
# whose error mentions "account-level access token" as such a key. The exact text and code
# PagerDuty sends are not published.
ACCOUNT_TOKEN_HAS_NO_USER = (
    "This request was made with an account-level access token, which belongs to no user; "
    "use a user-level token"
)
WRITE_STATUSES = ("acknowledged", "resolved")
WRITE_CHANNEL = "api"


class BadRequest(Exception):
    """A request PagerDuty refuses with HTTP 400."""

    def __init__(self, message: str, code: int = 2001) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def error_response(
    status: int, message: str, code: int, errors: list[str] | None = None
) -> httpx.Response:
    """PagerDuty's error envelope; `errors` defaults to the message itself."""
    details = [message] if errors is None else errors
    return httpx.Response(
        status, json={"error": {"message": message, "code": code, "errors": details}}
    )


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole calendar months, the day clamped to the month's length."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _int_param(params: httpx.QueryParams, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


def _time_param(params: httpx.QueryParams, name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise BadRequest(f"{name} is not a valid date", 2004) from None


def _list_param(params: httpx.QueryParams, name: str) -> list[str]:
    values = params.get_list(f"{name}[]") + params.get_list(name)
    return [part for value in values for part in value.split(",") if part]


def paginate(items: list[Json], params: httpx.QueryParams, key: str) -> Json:
    """One page of `items` in PagerDuty's classic pagination envelope."""
    limit = min(max(_int_param(params, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
    offset = _int_param(params, "offset", 0)
    if offset < 0:
        raise BadRequest("Offset must not be negative")
    if offset + limit > MAX_OFFSET:
        raise BadRequest(f"Offset must be less than {MAX_OFFSET}")
    return {
        key: items[offset : offset + limit],
        "limit": limit,
        "offset": offset,
        "more": offset + limit < len(items),
        "total": len(items) if params.get("total") == "true" else None,
    }


class PagerDutyServer:
    """PagerDuty as it would answer for the organisation; the end of its history is "now"."""

    def __init__(
        self,
        org: Organisation,
        *,
        token: str = TOKEN,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.org = org
        self.token = token
        self.clock = clock or (lambda: org.end)
        # User-level API keys (a user's own "API User Token"), each naming its user's id; `token`
        # is the account-level key.
        self.user_tokens: dict[str, str] = {}
        self._rng = random.Random(f"pagerduty-writes-{org.seed}")
        self.incidents = sorted(org.pd_incidents, key=lambda i: i["created_at"])
        self.incident_times = [parse_time(i["created_at"]) for i in self.incidents]
        self.incidents_by_id = {i["id"]: i for i in self.incidents}
        self.log_entries = sorted(org.pd_log_entries, key=lambda e: e["created_at"])
        self.log_entry_times = [parse_time(e["created_at"]) for e in self.log_entries]
        self.oncalls = sorted(org.pd_oncalls, key=lambda o: (o["start"], o["schedule"]["id"]))
        self.oncall_spans = [(parse_time(o["start"]), parse_time(o["end"])) for o in self.oncalls]

    @property
    def now(self) -> datetime:
        """The sandbox's present: reads default to it and writes are stamped with it."""
        return self.clock()

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """PagerDuty's answer to `request`; `path` is the part after the API prefix."""
        given = request.headers.get("authorization") or ""
        key_user = next(
            (user for key, user in self.user_tokens.items() if given == f"Token token={key}"),
            None,
        )
        if given != f"Token token={self.token}" and key_user is None:
            return error_response(401, "Authentication failed", 2006)
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        if request.method == "GET" and parts == ["users", "me"]:
            # getCurrentUser: the key's own user, as getUser shows it.
            if key_user is None:
                return error_response(400, ACCOUNT_TOKEN_HAS_NO_USER, 2001)
            return self._one(self.org.pd_users, key_user, "user")
        if request.method == "PUT" and len(parts) == 2 and parts[0] == "incidents":
            return self._update_incident(request, parts[1])
        if request.method != "GET":
            return error_response(404, "Not Found", 2100)
        params = request.url.params
        try:
            return self._route(parts, params)
        except BadRequest as exc:
            return error_response(400, exc.message, exc.code)

    def _route(self, parts: list[str], params: httpx.QueryParams) -> httpx.Response:
        # Paths, parameters and fields follow PagerDuty/api-schema reference/REST/openapiv3.json.
        match parts:
            case ["incidents"]:
                # listIncidents: the Incident schema has no `description`, and `body` is not
                # among the list's include[] values.
                return httpx.Response(200, json=self._incidents(params))
            case ["incidents", incident_id]:
                # getIncident: `body` ({type, details}) only with include[]=body.
                incident = self.incidents_by_id.get(incident_id)
                if incident is None:
                    return error_response(404, "Incident Not Found", 5001)
                if "body" in _list_param(params, "include"):
                    details = self.org.pd_incident_details.get(incident_id, "")
                    incident = {**incident, "body": {"type": "incident_body", "details": details}}
                return httpx.Response(200, json={"incident": incident})
            case ["incidents", incident_id, "log_entries"]:
                if incident_id not in self.incidents_by_id:
                    return error_response(404, "Incident Not Found", 5001)
                return httpx.Response(200, json=self._log_entries(params, incident_id))
            case ["log_entries"]:
                # listLogEntries: the schema declares `service`, its examples omit it; so do
                # the entries a user made here.
                return httpx.Response(200, json=self._log_entries(params, None))
            case ["oncalls"]:
                # listOnCalls: entries overlapping since..until (until at most 90 days ahead).
                return httpx.Response(200, json=self._oncalls(params))
            case ["users"]:
                # listUsers: classic pagination, offset + limit at most 10,000
                # (developer-docs 09-Pagination.md). `query` also finds users by e-mail, as
                # PagerDuty's own clients use it (terraform-provider-pagerduty
                # data_source_pagerduty_user.go; python-pagerduty find(attribute="email")).
                users = self.org.pd_users
                return httpx.Response(
                    200, json=self._listing(users, params, "users", fields=("name", "email"))
                )
            case ["users", user_id]:
                # getUser: one user, the documented way past the list's offset ceiling.
                return self._one(self.org.pd_users, user_id, "user")
            case ["services"]:
                services = self.org.pd_services
                return httpx.Response(200, json=self._listing(services, params, "services"))
            case ["services", service_id]:
                return self._one(self.org.pd_services, service_id, "service")
            case ["schedules"]:
                # listSchedules (openapiv3.json): classic pagination of Schedule objects.
                schedules = self.org.pd_schedules
                return httpx.Response(200, json=self._listing(schedules, params, "schedules"))
            case ["schedules", schedule_id]:
                # getSchedule: `{"schedule": Schedule}`, 404 for an unknown id.
                return self._one(self.org.pd_schedules, schedule_id, "schedule")
        return error_response(404, "Not Found", 2100)

    def _one(self, items: list[Json], object_id: str, key: str) -> httpx.Response:
        found = next((item for item in items if item["id"] == object_id), None)
        if found is None:
            return error_response(404, "Not Found", 2100)
        return httpx.Response(200, json={key: found})

    def _listing(
        self,
        items: list[Json],
        params: httpx.QueryParams,
        key: str,
        *,
        fields: tuple[str, ...] = ("name",),
    ) -> Json:
        query = (params.get("query") or "").lower()
        matching = [item for item in items if any(query in str(item[f]).lower() for f in fields)]
        return paginate(matching, params, key)

    def _window(self, params: httpx.QueryParams) -> tuple[datetime, datetime] | None:
        """The since/until range of an incident query, checked the way PagerDuty checks it."""
        if params.get("date_range") == "all":
            return None
        since, until = _time_param(params, "since"), _time_param(params, "until")
        if since is None:
            since = add_months(until or self.now, -DEFAULT_RANGE_MONTHS)
        if until is None:
            until = max(self.now, since)
        if until < since:
            raise BadRequest("until must not be before since", 2004)
        if until > add_months(since, MAX_RANGE_MONTHS):
            raise BadRequest("The since/until range must not exceed 6 months", 2004)
        return since, until

    def _incidents(self, params: httpx.QueryParams) -> Json:
        window = self._window(params)
        items: Iterable[Json] = self.incidents
        if window:
            low = bisect.bisect_left(self.incident_times, window[0])
            high = bisect.bisect_left(self.incident_times, window[1])
            items = self.incidents[low:high]
        filters: list[Callable[[Json], bool]] = []
        if service_ids := set(_list_param(params, "service_ids")):
            filters.append(lambda i: i["service"]["id"] in service_ids)
        if statuses := set(_list_param(params, "statuses")):
            filters.append(lambda i: i["status"] in statuses)
        if urgencies := set(_list_param(params, "urgencies")):
            filters.append(lambda i: i["urgency"] in urgencies)
        if user_ids := set(_list_param(params, "user_ids")):
            filters.append(lambda i: any(a["assignee"]["id"] in user_ids for a in i["assignments"]))
        if incident_key := params.get("incident_key"):
            filters.append(lambda i: i["incident_key"] == incident_key)
        selected = [i for i in items if all(check(i) for check in filters)]
        return paginate(self._sorted(selected, params.get("sort_by")), params, "incidents")

    def _sorted(self, incidents: list[Json], sort_by: str | None) -> list[Json]:
        if not sort_by:
            return incidents
        for rule in reversed(sort_by.split(",")[:2]):
            field, _, direction = rule.partition(":")
            if field not in INCIDENT_SORT_KEYS or direction not in ("", "asc", "desc"):
                raise BadRequest(f"Invalid sort_by: {rule}")
            incidents = sorted(
                incidents,
                key=lambda i: (i[field] is not None, i[field] or 0),
                reverse=direction == "desc",
            )
        return incidents

    def _log_entries(self, params: httpx.QueryParams, incident_id: str | None) -> Json:
        """Log entries newest first, optionally within since/until and for one incident."""
        since, until = _time_param(params, "since"), _time_param(params, "until")
        low = bisect.bisect_left(self.log_entry_times, since) if since else 0
        high = bisect.bisect_left(self.log_entry_times, until) if until else len(self.log_entries)
        entries = self.log_entries[low:high]
        if incident_id:
            entries = [e for e in entries if e["incident"]["id"] == incident_id]
        if params.get("is_overview") == "true":
            entries = [e for e in entries if e["type"] != "notify_log_entry"]
        if team_ids := set(_list_param(params, "team_ids")):
            entries = [e for e in entries if any(t["id"] in team_ids for t in e["teams"])]
        page = paginate(entries[::-1], params, "log_entries")
        if "incidents" in _list_param(params, "include"):
            page["log_entries"] = [self._with_incident(entry) for entry in page["log_entries"]]
        return page

    def _with_incident(self, entry: Json) -> Json:
        full = self.incidents_by_id.get(entry["incident"]["id"], entry["incident"])
        return {**entry, "incident": full}

    def _oncalls(self, params: httpx.QueryParams) -> Json:
        """On-call entries overlapping since/until (default: now) on the asked schedules."""
        since = _time_param(params, "since") or self.now
        until = _time_param(params, "until") or since
        if until < since:
            raise BadRequest("until must not be before since", 2004)
        schedule_ids = set(_list_param(params, "schedule_ids"))
        user_ids = set(_list_param(params, "user_ids"))
        selected: list[dict[str, Any]] = []
        for oncall, (start, end) in zip(self.oncalls, self.oncall_spans, strict=True):
            overlaps = start <= since < end if since == until else start < until and end > since
            if not overlaps:
                continue
            if schedule_ids and oncall["schedule"]["id"] not in schedule_ids:
                continue
            if user_ids and oncall["user"]["id"] not in user_ids:
                continue
            selected.append(oncall)
        return paginate(selected, params, "oncalls")

    def _requester(self, request: httpx.Request) -> Json | None:
        email = (request.headers.get("from") or "").strip().lower()
        return next((u for u in self.org.pd_users if u["email"].lower() == email), None)

    def _update_incident(self, request: httpx.Request, incident_id: str) -> httpx.Response:
        """PUT /incidents/{id}: acknowledge or resolve as the user named in `From`."""
        user = self._requester(request)
        if user is None:
            return httpx.Response(400, json={"error": {"message": FROM_REQUIRED, "code": 2001}})
        current = self.incidents_by_id.get(incident_id)
        if current is None:
            return error_response(404, "Incident Not Found", 5001)
        body = request_body(request)
        changes = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(changes, dict):
            return error_response(400, "Invalid Input Provided", 2001, ["incident is required"])
        if changes.get("type") not in ("incident", "incident_reference"):
            return error_response(
                400, "Invalid Input Provided", 2001, ["Type must be incident_reference"]
            )
        status = changes.get("status")
        if status not in WRITE_STATUSES:
            return error_response(
                400, "Invalid Input Provided", 2001, ["Status must be acknowledged or resolved"]
            )
        if current["status"] == "resolved":
            return error_response(
                400, "Invalid Input Provided", 2001, ["Incident Already Resolved"]
            )
        incident = self._writable_incident(current)
        self._apply_status(incident, status, user)
        return httpx.Response(200, json={"incident": incident})

    def trigger(
        self, title: str, *, at: datetime | None = None, service_id: str | None = None
    ) -> Json:
        """A new page on a CMOC service (the first by default), triggered now or at `at`.

        Shaped as `_Builder._render_page` shapes a page still triggered: a trigger log entry by
        the service and a notification of the CMOC on call, assigned to them.
        """
        moment = at or self.now
        stamp = format_time(moment)
        service = next(
            s
            for s in self.org.pd_services
            if s["id"] == (service_id or self.org.cmoc_service_ids[0])
        )
        service_ref = _reference("service", service["id"], service["name"], "services")
        responder = next(u for u in self.org.pd_users if u["email"] == self._cmoc_email())
        user_ref = _reference("user", responder["id"], responder["name"], "users")
        number = max((i["incident_number"] for i in self.incidents), default=180_000) + 1
        incident_id = f"Q{self._rng.getrandbits(52):013X}"
        incident_ref = _reference("incident", incident_id, f"[#{number}] {title}", "incidents")
        trigger_id = self._next_entry_id()
        incident: Json = {
            "id": incident_id,
            "type": "incident",
            "summary": incident_ref["summary"],
            "self": incident_ref["self"],
            "html_url": incident_ref["html_url"],
            "incident_number": number,
            "title": title,
            "created_at": stamp,
            "updated_at": stamp,
            "status": "triggered",
            "incident_key": f"{self._rng.getrandbits(128):032x}",
            "service": service_ref,
            "assignments": [{"at": stamp, "assignee": user_ref}],
            "assigned_via": "escalation_policy",
            "acknowledgements": [],
            "last_status_change_at": stamp,
            "last_status_change_by": service_ref,
            "resolved_at": None,
            "first_trigger_log_entry": {
                "id": trigger_id,
                "type": "trigger_log_entry_reference",
                "self": f"{PD_API}/log_entries/{trigger_id}",
                "html_url": None,
            },
            "escalation_policy": service["escalation_policy"],
            "teams": list(service.get("teams") or []),
            "priority": None,
            "urgency": "high",
            "alert_counts": {"all": 1, "triggered": 1, "resolved": 0},
            "pending_actions": [],
            "conference_bridge": None,
            "resolve_reason": None,
            "incident_type": {"name": "incident_default"},
        }
        index = bisect.bisect_right(self.incident_times, moment)
        self.incidents.insert(index, incident)
        self.incident_times.insert(index, moment)
        self.incidents_by_id[incident_id] = incident
        trigger = self._entry(incident, "trigger_log_entry", "Triggered through the API.", stamp)
        trigger.update(
            id=trigger_id,
            self=f"{PD_API}/log_entries/{trigger_id}",
            agent=service_ref,
            channel={"type": "api"},
            service=service_ref,
            event_details={"description": title},
        )
        self._insert_entry(trigger, moment)
        notify = self._entry(incident, "notify_log_entry", f"Notified {responder['name']}.", stamp)
        notify.update(
            agent=service_ref,
            channel={"type": "push_notification"},
            service=service_ref,
            user=user_ref,
        )
        self._insert_entry(notify, moment)
        return incident

    def _cmoc_email(self) -> str:
        return self.org.people_with_role("cmoc")[0].email

    def _next_entry_id(self) -> str:
        return f"R{self._rng.getrandbits(100):025X}"

    def _entry(self, incident: Json, kind: str, summary: str, stamp: str) -> Json:
        """A log entry of `incident`, its agent and channel to be set by the caller."""
        entry_id = self._next_entry_id()
        return {
            "id": entry_id,
            "type": kind,
            "summary": summary,
            "self": f"{PD_API}/log_entries/{entry_id}",
            "html_url": None,
            "created_at": stamp,
            "agent": None,
            "channel": None,
            "incident": {
                "id": incident["id"],
                "type": "incident_reference",
                "summary": incident["summary"],
                "self": incident["self"],
                "html_url": incident["html_url"],
            },
            "teams": incident["teams"],
            "contexts": [],
        }

    def _insert_entry(self, entry: Json, at: datetime) -> None:
        index = bisect.bisect_right(self.log_entry_times, at)
        self.log_entries.insert(index, entry)
        self.log_entry_times.insert(index, at)

    def _writable_incident(self, current: Json) -> Json:
        """A private copy of `current` replacing it, so the organisation is never changed."""
        incident = copy.deepcopy(current)
        index = next(i for i, item in enumerate(self.incidents) if item is current)
        self.incidents[index] = incident
        self.incidents_by_id[incident["id"]] = incident
        return incident

    def _apply_status(self, incident: Json, status: str, user: Json) -> None:
        now = self.now
        stamp = format_time(now)
        agent = {
            "id": user["id"],
            "type": "user_reference",
            "summary": user["summary"],
            "self": user["self"],
            "html_url": user["html_url"],
        }
        if status == "acknowledged":
            incident["status"] = "acknowledged"
            incident["acknowledgements"].append({"at": stamp, "acknowledger": agent})
            kind, summary = "acknowledge_log_entry", f"Acknowledged by {user['name']}."
        else:
            incident["status"] = "resolved"
            incident["resolved_at"] = stamp
            incident["assignments"] = []
            incident["acknowledgements"] = []
            counts = incident["alert_counts"]
            incident["alert_counts"] = {
                "all": counts["all"],
                "triggered": 0,
                "resolved": counts["all"],
            }
            kind, summary = "resolve_log_entry", f"Resolved by {user['name']}."
        incident["last_status_change_at"] = stamp
        incident["last_status_change_by"] = agent
        incident["updated_at"] = stamp
        self._add_log_entry(incident, kind, summary, agent, stamp)

    def _add_log_entry(
        self, incident: Json, kind: str, summary: str, agent: Json, stamp: str
    ) -> None:
        entry_id = f"R{self._rng.getrandbits(100):025X}"
        entry = {
            "id": entry_id,
            "type": kind,
            "summary": summary,
            "self": f"{PD_API}/log_entries/{entry_id}",
            "html_url": None,
            "created_at": stamp,
            "agent": agent,
            "channel": {"type": WRITE_CHANNEL},
            "incident": {
                "id": incident["id"],
                "type": "incident_reference",
                "summary": incident["summary"],
                "self": incident["self"],
                "html_url": incident["html_url"],
            },
            "teams": incident["teams"],
            "contexts": [],
        }
        at = parse_time(stamp)
        index = bisect.bisect_right(self.log_entry_times, at)
        self.log_entries.insert(index, entry)
        self.log_entry_times.insert(index, at)


def _reference(kind: str, object_id: str, summary: str, path: str) -> Json:
    """A PagerDuty reference to an object (`{id, type: "<kind>_reference", ...}`)."""
    return {
        "id": object_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{PD_API}/{path}/{object_id}",
        "html_url": f"{PD_WEB}/{path}/{object_id}",
    }
