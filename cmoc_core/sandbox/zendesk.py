"""Fake Zendesk Support search API over deterministic tickets, some tied to incidents."""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from cmoc_core.sandbox import catalogue as cat
from cmoc_core.sandbox.organisation import Json, Organisation, format_time, parse_time

TOKEN = "sandbox-zendesk-token"
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 100
RESULT_LIMIT = 1000
PRODUCTION_TAG = "gitlab-com_gl-infra_production_issues_{iid}"
BACKGROUND_DAYS = 60
BACKGROUND_PER_DAY = 25
FIRST_TICKET_ID = 4_800_000
SUPPORT_GROUP_ID = 360_001_234_567
STATUS_RANK = {"new": 0, "open": 1, "pending": 2, "hold": 3, "solved": 4, "closed": 5}
SORT_FIELDS = ("created_at", "updated_at", "priority", "status", "ticket_type")
UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800, "month": 2_592_000}
UNITS |= {"year": 31_536_000}
ISSUE_LINK = re.compile(r"https://gitlab\.com/gitlab-com/gl-infra/production/-/issues/(\d+)")
TERM = re.compile(r"^(-?)([a-z_]+)(<=|>=|:|<|>)(.+)$", re.IGNORECASE)
TOKENS = re.compile(r'-?[a-z_]+(?:<=|>=|:|<|>)"[^"]*"|"[^"]*"|\S+', re.IGNORECASE)
RELATIVE = re.compile(r"^(\d+)(minute|hour|day|week|month|year)s?$")
INCIDENT_SUBJECTS = (
    "Is GitLab.com down? Seeing {symptom}",
    "Urgent: {symptom}",
    "Our team is blocked by {symptom}",
    "Production pipelines affected: {symptom}",
    "Customer escalation - {symptom}",
    "Seeing {symptom} since this morning",
)
BACKGROUND_SUBJECTS = (
    "Unable to sign in after enabling 2FA",
    "Question about CI/CD minutes on our plan",
    "Request to restore a deleted project",
    "Invoice shows the wrong number of seats",
    "Runner registration token not working",
    "How do I transfer a namespace?",
    "SAML SSO group sync not updating",
    "Container Registry cleanup policy not running",
    "Storage usage looks higher than expected",
    "Cannot add a member to our group",
    "Webhook deliveries failing with 500",
    "License key does not activate",
)
BACKGROUND_TAGS = (
    "gitlab_com",
    "self_managed",
    "billing",
    "ci_cd",
    "authentication",
    "namespace",
    "registry",
    "saml",
    "storage",
    "webhooks",
)
PRIORITIES = ("low", "normal", "normal", "high", "urgent")
AGENT_ID = 361_000_000_001
AGENT_SINCE = "2021-03-01T09:00:00Z"


@dataclass(frozen=True)
class Ticket:
    """One ticket with its search fields parsed once."""

    data: Json
    created: datetime
    updated: datetime

    @property
    def tags(self) -> list[str]:
        """The ticket's tags."""
        return list(self.data["tags"])

    @property
    def status(self) -> str:
        """new, open, pending, hold, solved or closed."""
        return str(self.data["status"])


def _error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "description": description})


def production_issue_iid(incident: Json) -> int | None:
    """The production issue an incident's messages link to, if any."""
    for message in incident["messages"]:
        if match := ISSUE_LINK.search(message["details"]):
            return int(match.group(1))
    return None


def _symptom(name: str) -> str:
    kind = next((k for k in cat.INCIDENT_KINDS if k.title == name), None)
    return kind.symptom if kind else name.lower()


class _TicketMaker:
    """Builds tickets in creation order from one seeded generator."""

    def __init__(self, org: Organisation) -> None:
        self.org = org
        self.rng = random.Random(f"zendesk-{org.seed}")
        self.drafts: list[tuple[datetime, str, list[str], str, str]] = []

    def incident(self, incident: Json, counts: tuple[int, int], after_end: int) -> None:
        """Tickets about `incident`: `counts` before the end, `after_end` in the hours after."""
        iid = production_issue_iid(incident)
        if iid is None:
            return
        rng = self.rng
        opened = parse_time(incident["datetime_open"])
        symptom = _symptom(incident["name"])
        tag = PRODUCTION_TAG.format(iid=iid)
        moments = [
            opened + (self.org.end - opened) * rng.uniform(0.05, 0.98)
            for _ in range(rng.randint(*counts))
        ]
        moments += [self.org.end + timedelta(minutes=rng.randint(5, 180)) for _ in range(after_end)]
        for at in moments:
            subject = rng.choice(INCIDENT_SUBJECTS).format(symptom=symptom)
            status = rng.choice(("new", "open", "open", "pending"))
            priority = rng.choice(("normal", "high", "high", "urgent"))
            self.drafts.append((at, subject, [tag, "gitlab_com", "incident"], status, priority))

    def resolved(self, incident: Json) -> None:
        """A few solved tickets about a past incident."""
        iid = production_issue_iid(incident)
        if iid is None:
            return
        opened = parse_time(incident["datetime_open"])
        symptom = _symptom(incident["name"])
        for _ in range(self.rng.randint(0, 3)):
            at = opened + timedelta(minutes=self.rng.randint(5, 120))
            subject = self.rng.choice(INCIDENT_SUBJECTS).format(symptom=symptom)
            tags = [PRODUCTION_TAG.format(iid=iid), "gitlab_com", "incident"]
            self.drafts.append((at, subject, tags, self.rng.choice(("solved", "closed")), "high"))

    def background(self) -> None:
        """Everyday tickets over the last weeks and the day after the end, older ones solved."""
        rng = self.rng
        first = self.org.end - timedelta(days=BACKGROUND_DAYS)
        span = int(timedelta(days=BACKGROUND_DAYS + 1).total_seconds())
        for _ in range(BACKGROUND_PER_DAY * (BACKGROUND_DAYS + 1)):
            at = first + timedelta(seconds=rng.randrange(span))
            age = self.org.end - at
            if age > timedelta(days=10):
                status = rng.choice(("solved", "solved", "closed", "closed", "pending"))
            elif age > timedelta(days=2):
                status = rng.choice(("open", "pending", "hold", "solved", "solved"))
            else:
                status = rng.choice(("new", "new", "open", "open", "pending", "solved"))
            tags = sorted(set(rng.sample(BACKGROUND_TAGS, rng.randint(1, 3))))
            subject = rng.choice(BACKGROUND_SUBJECTS)
            self.drafts.append((at, subject, tags, status, rng.choice(PRIORITIES)))

    def tickets(self) -> list[Ticket]:
        rng = self.rng
        tickets = []
        ticket_id = FIRST_TICKET_ID
        for at, subject, tags, status, priority in sorted(self.drafts, key=lambda d: d[0]):
            ticket_id += rng.randint(1, 7)
            created = at.replace(microsecond=0)
            updated = created + timedelta(minutes=rng.randint(0, 90))
            if status in ("solved", "closed"):
                updated = created + timedelta(hours=rng.randint(2, 72))
            data = {
                "id": ticket_id,
                "external_id": None,
                "via": {"channel": rng.choice(("web", "email", "api"))},
                "created_at": format_time(created),
                "updated_at": format_time(updated),
                "type": "incident" if "incident" in tags else rng.choice(("question", "problem")),
                "subject": subject,
                "raw_subject": subject,
                "description": f"{subject}.\n\nPlease advise.",
                "priority": priority,
                "status": status,
                "requester_id": 20_000_000 + rng.randrange(900_000),
                "submitter_id": 20_000_000 + rng.randrange(900_000),
                "assignee_id": None if status == "new" else 30_000_000 + rng.randrange(40),
                "organization_id": 40_000_000 + rng.randrange(5_000),
                "group_id": SUPPORT_GROUP_ID,
                "collaborator_ids": [],
                "follower_ids": [],
                "has_incidents": False,
                "is_public": True,
                "due_at": None,
                "tags": tags,
                "custom_fields": [],
                "satisfaction_rating": None,
                "ticket_form_id": 360_000_071_293,
                "brand_id": 360_000_001_234,
                "allow_channelback": False,
                "allow_attachments": True,
                "result_type": "ticket",
            }
            tickets.append(Ticket(data=data, created=created, updated=updated))
        return tickets


def generate_tickets(org: Organisation) -> list[Ticket]:
    """The organisation's tickets in creation order; the same organisation gives the same ones."""
    maker = _TicketMaker(org)
    for incident in org.statusio_active_incidents():
        maker.incident(incident, counts=(3, 6), after_end=maker.rng.randint(2, 3))
    for incident in org.statusio_resolved_incidents()[-20:]:
        maker.resolved(incident)
    maker.background()
    return maker.tickets()


class _Query:
    """The parts of a Zendesk search query the sandbox understands; other terms are ignored."""

    def __init__(self, text: str, now: datetime) -> None:
        self.now = now
        self.checks: list[Callable[[Ticket], bool]] = []
        self.any_tags: set[str] = set()
        self.any_status: set[str] = set()
        self.order_by: str | None = None
        self.sort: str | None = None
        for token in TOKENS.findall(text):
            if match := TERM.match(token):
                negate, key, op, value = match.groups()
                self._term(bool(negate), key.lower(), op, value.strip('"'))

    def _term(self, negate: bool, key: str, op: str, value: str) -> None:
        check: Callable[[Ticket], bool] | None = None
        if key == "type" and op == ":":
            check = _always if value.lower() == "ticket" else _never
        elif key in ("tags", "tag") and op == ":":
            if not negate:
                self.any_tags.add(value)
                return
            check = _has_tag(value)
        elif key == "status" and value.lower() in STATUS_RANK:
            if op == ":" and not negate:
                self.any_status.add(value.lower())
                return
            check = _compare(op, STATUS_RANK[value.lower()], lambda t: STATUS_RANK[t.status])
        elif key in ("created", "updated"):
            check = self._time_check(key, op, value)
        elif key == "order_by" and op == ":":
            self.order_by = value
        elif key == "sort" and op == ":":
            self.sort = value
        if check is not None:
            self.checks.append(_negated(check) if negate else check)

    def _time_check(self, key: str, op: str, value: str) -> Callable[[Ticket], bool] | None:
        def moment(ticket: Ticket) -> datetime:
            return ticket.created if key == "created" else ticket.updated

        if match := RELATIVE.match(value.lower()):
            bound = self.now - timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])
            return None if op == ":" else _compare(op, bound, moment)
        try:
            bound = parse_time(value)
        except ValueError:
            return None
        if op == ":" and len(value) == 10:
            return lambda t: moment(t).date() == bound.date()
        return _compare(op, bound, moment) if op != ":" else lambda t: moment(t) == bound

    def matches(self, ticket: Ticket) -> bool:
        """Whether `ticket` satisfies every understood term."""
        if self.any_tags and not self.any_tags.intersection(ticket.tags):
            return False
        if self.any_status and ticket.status not in self.any_status:
            return False
        return all(check(ticket) for check in self.checks)


def _negated(check: Callable[[Ticket], bool]) -> Callable[[Ticket], bool]:
    return lambda ticket: not check(ticket)


def _always(_ticket: Ticket) -> bool:
    return True


def _never(_ticket: Ticket) -> bool:
    return False


def _has_tag(tag: str) -> Callable[[Ticket], bool]:
    return lambda ticket: tag in ticket.tags


def _sort_key(field: str) -> Callable[[Ticket], tuple[Any, int]]:
    """Order by `field`, ties broken by ticket id."""

    def key(ticket: Ticket) -> tuple[Any, int]:
        if field == "created_at":
            value: Any = ticket.created
        elif field == "updated_at":
            value = ticket.updated
        elif field == "status":
            value = STATUS_RANK[ticket.status]
        else:
            value = str(ticket.data.get(field.removeprefix("ticket_")) or "")
        return value, int(ticket.data["id"])

    return key


def _compare(op: str, bound: Any, value: Callable[[Ticket], Any]) -> Callable[[Ticket], bool]:
    tests: dict[str, Callable[[Any, Any], bool]] = {
        ":": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    test = tests[op]
    return lambda ticket: test(value(ticket), bound)


def _positive(params: httpx.QueryParams, name: str, default: int) -> int:
    try:
        return max(int(params.get(name) or default), 1)
    except ValueError:
        return default


class ZendeskServer:
    """Zendesk Support as it would answer searches for the organisation's tickets."""

    def __init__(
        self,
        org: Organisation,
        *,
        email: str,
        token: str = TOKEN,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.email = email
        self.token = token
        self.clock = clock or (lambda: org.end)
        self._org = org
        person = next((p for p in org.people if p.email.lower() == email.lower()), None)
        self.agent_name = person.name if person else email.split("@")[0]
        # `end-user`, `agent` or `admin`: only agents and admins may search tickets.
        self.agent_role = "agent"

    @functools.cached_property
    def tickets(self) -> list[Ticket]:
        """The organisation's tickets, made on the first search: most runs never search."""
        return generate_tickets(self._org)

    def visible(self) -> list[Ticket]:
        """The tickets created by the sandbox's present."""
        now = self.clock()
        return [t for t in self.tickets if t.created <= now]

    def _authenticated(self, request: httpx.Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user.lower() == f"{self.email.lower()}/token" and secret == self.token

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Zendesk's answer to `request`; `path` is the part after `/api/v2`."""
        if not self._authenticated(request):
            return httpx.Response(401, json={"error": "Couldn't authenticate you"})
        if request.method == "GET" and path.rstrip("/") in ("/users/me.json", "/users/me"):
            return self._me(request)
        if request.method != "GET" or path.rstrip("/") not in ("/search.json", "/search"):
            return _error(404, "InvalidEndpoint", "Not found")
        return self._search(request)

    def _me(self, request: httpx.Request) -> httpx.Response:
        """GET /api/v2/users/me ("Show Self"): the signed-in user as a Users API object.

        Fields from developer.zendesk.com api-reference/ticketing/users/users "JSON format".
        """
        api_base = request.url.copy_with(
            raw_path=request.url.raw_path.split(b"/users/me", 1)[0], query=None
        )
        return httpx.Response(
            200,
            json={
                "user": {
                    "id": AGENT_ID,
                    "url": f"{api_base}/users/{AGENT_ID}.json",
                    "name": self.agent_name,
                    "email": self.email,
                    "created_at": AGENT_SINCE,
                    "updated_at": format_time(self.clock()),
                    "time_zone": "UTC",
                    "iana_time_zone": "Etc/UTC",
                    "locale": "en-US",
                    "role": self.agent_role,
                    "role_type": None,
                    "custom_role_id": None,
                    "active": True,
                    "verified": True,
                    "suspended": False,
                    "default_group_id": SUPPORT_GROUP_ID,
                }
            },
        )

    def _search(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        text = params.get("query") or ""
        if not text.strip():
            return _error(400, "invalid", "Invalid search: query is required")
        per_page = min(_positive(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = _positive(params, "page", 1)
        if page * per_page > RESULT_LIMIT:
            return _error(
                422,
                "invalid",
                "Invalid search: Requested response size was greater than Search Response Limits",
            )
        query = _Query(text, self.clock())
        found = [t for t in self.visible() if query.matches(t)]
        found = self._sorted(found, params, query)
        start = (page - 1) * per_page
        api_base = request.url.copy_with(
            raw_path=request.url.raw_path.split(b"/search", 1)[0], query=None
        )
        results = []
        for ticket in found[start : start + per_page]:
            results.append({**ticket.data, "url": f"{api_base}/tickets/{ticket.data['id']}.json"})
        more = start + per_page < len(found)
        return httpx.Response(
            200,
            json={
                "results": results,
                "facets": None,
                "next_page": str(request.url.copy_set_param("page", page + 1)) if more else None,
                "previous_page": str(request.url.copy_set_param("page", page - 1))
                if page > 1
                else None,
                "count": len(found),
            },
        )

    def _sorted(
        self, tickets: list[Ticket], params: httpx.QueryParams, query: _Query
    ) -> list[Ticket]:
        field = params.get("sort_by") or query.order_by or "created_at"
        if field not in SORT_FIELDS:
            field = "created_at"
        descending = (params.get("sort_order") or query.sort or "desc").lower() != "asc"
        return sorted(tickets, key=_sort_key(field), reverse=descending)
