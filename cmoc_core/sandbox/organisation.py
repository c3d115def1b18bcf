"""A deterministic synthetic organisation: the raw API data the fake servers serve."""

from __future__ import annotations

import bisect
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from cmoc_core.sandbox import catalogue as cat

Json = dict[str, Any]


def affected_component(component: Json) -> Json:
    """A page's component as an incident or a window lists it (statusio-go *_types.go)."""
    return {
        "__v": 0,
        "_id": component["_id"],
        "position": component["position"],
        "statuspage": component["statuspage"],
        "containers": [container["_id"] for container in component["containers"]],
        "name": component["name"],
    }


def affected_container(container: Json) -> Json:
    """A component's container as an incident or a window lists it (statusio-go *_types.go)."""
    return {"__v": 0, **container}


DEFAULT_PAGES_PER_YEAR = 130
STATUS_INCIDENTS_PER_YEAR = 66
CONTACT_REQUESTS_PER_YEAR = 40
EOC_PAGES_PER_YEAR = 12
# Services of other teams, whose incidents share the account's log with the CMOC pages.
OTHER_SERVICES = (
    ("Infrastructure", "GitLab.com - Web fleet"),
    ("Infrastructure", "GitLab.com - API fleet"),
    ("Infrastructure", "Sidekiq"),
    ("Infrastructure", "Gitaly"),
    ("Database", "Patroni - main"),
    ("Database", "Patroni - ci"),
    ("Database", "PgBouncer"),
    ("Networking", "Cloudflare"),
    ("Networking", "HAProxy"),
    ("Observability", "Prometheus / Thanos"),
    ("Observability", "Logging pipeline"),
    ("Security", "Security operations"),
)
RESOLVED_MAINTENANCES = 7
SCHEDULE_LEAD = timedelta(days=14)
PD_API = "https://api.pagerduty.com"
PD_WEB = "https://gitlab.pagerduty.com"
GITLAB_WEB = "https://gitlab.com"
TIME_ZONES = {"AMER": "America/New_York", "EMEA": "Europe/London", "APAC": "Asia/Tokyo"}
LABEL_IDS = {name: 5_000_000 + index * 1_171 for index, name in enumerate(cat.LABELS)}
_UNENCODED_PLUS = re.compile(r" (\d{2}:?\d{2})$")
_PD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_RESOLVE = 0


def format_time(moment: datetime) -> str:
    """`2026-01-01T10:00:00Z` for an aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_ms(moment: datetime) -> str:
    """`2026-01-01T10:00:00.000Z`, the way Status.io writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_time(value: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 date or time; naive input is taken as UTC."""
    parsed = datetime.fromisoformat(_UNENCODED_PLUS.sub(r"+\1", value.strip()))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Person:
    """One member of staff with their PagerDuty and GitLab identities."""

    name: str
    region: str
    role: str
    email: str
    pagerduty_user_id: str | None
    gitlab_user_id: int
    gitlab_username: str
    gitlab_name: str
    gitlab_public_email: str | None
    gitlab_email: str


@dataclass
class Organisation:
    """Everything the fake servers serve, shaped as the APIs send it, and the ids the app needs."""

    seed: int
    start: datetime
    end: datetime
    people: list[Person]
    pd_users: list[Json]
    pd_services: list[Json]
    pd_escalation_policies: list[Json]
    pd_schedules: list[Json]
    pd_incidents: list[Json]
    pd_log_entries: list[Json]
    pd_oncalls: list[Json]
    statusio_components: list[Json]
    statusio_practice_components: list[Json]
    statusio_incidents: list[Json]
    statusio_active_incident_ids: list[str]
    statusio_maintenances: dict[str, list[Json]]
    gitlab_users: list[Json]
    gitlab_projects: list[Json]
    gitlab_issues: dict[str, list[Json]]
    gitlab_label_events: dict[str, dict[int, list[Json]]]
    cmoc_service_ids: list[str]
    cmoc_schedule_ids: list[str]
    shadow_schedule_ids: list[str]
    statuspage_id: str
    practice_statuspage_id: str
    production_project: str = cat.PRODUCTION_PROJECT
    handover_project: str = cat.HANDOVER_PROJECT
    contact_request_project: str = cat.CONTACT_REQUEST_PROJECT
    contact_request_label: str = cat.CONTACT_REQUEST_LABEL
    training_project: str = cat.TRAINING_PROJECT
    practice_event_label: str = cat.PRACTICE_EVENT_LABEL
    # PagerDuty shows an incident's `body.details` only on `GET /incidents/{id}?include[]=body`.
    pd_incident_details: dict[str, str] = field(default_factory=dict)

    def people_with_role(self, role: str) -> list[Person]:
        """The people holding `role` ("cmoc", "shadow", "sre", ...)."""
        return [person for person in self.people if person.role == role]

    def statusio_active_incidents(self) -> list[Json]:
        """The status-page incidents still open at the end."""
        active = set(self.statusio_active_incident_ids)
        return [i for i in self.statusio_incidents if i["_id"] in active]

    def statusio_resolved_incidents(self) -> list[Json]:
        """The status-page incidents resolved before the end."""
        active = set(self.statusio_active_incident_ids)
        return [i for i in self.statusio_incidents if i["_id"] not in active]


def generate(
    *,
    seed: int = 7,
    end: datetime,
    days: int = 365,
    pages: int | None = None,
    other_incidents: int = 0,
) -> Organisation:
    """An organisation with `days` of history before `end`; the same inputs give the same data.

    `pages` CMOC pages; `other_incidents` more incidents on other teams' services, as in an
    account where CMOC pages are a small share of the whole log. Adding other incidents leaves
    every other part of the organisation as it is without them.
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    if days < 1:
        raise ValueError("days must be at least 1")
    if pages is None:
        pages = round(DEFAULT_PAGES_PER_YEAR * days / 365)
    if pages < 0 or other_incidents < 0:
        raise ValueError("pages and other_incidents must not be negative")
    end = end.astimezone(UTC).replace(microsecond=0)
    org = _Builder(random.Random(seed), seed=seed, end=end, days=days).build(pages)
    if other_incidents:
        _OtherIncidents(org, random.Random(f"other-incidents-{seed}")).add(other_incidents)
    return org


class _Ids:
    """Unique identifiers in the styles of the three APIs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def pd(self, prefix: str = "P", length: int = 6) -> str:
        while True:
            value = prefix + "".join(self.rng.choices(_PD_ALPHABET, k=length))
            if value not in self.seen:
                self.seen.add(value)
                return value

    def long(self, prefix: str, length: int) -> str:
        """A long id whose random bits make a clash negligible, so no bookkeeping is needed."""
        return f"{prefix}{self.rng.getrandbits(4 * length):0{length}X}"

    def hex24(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"


@dataclass
class _Shift:
    region: str
    person: Person
    start: datetime
    end: datetime
    schedule_id: str


@dataclass
class _Update:
    at: datetime
    state: int
    status: int
    resolving: bool = False
    announcement: str = ""


@dataclass
class _StatusPlan:
    kind: cat.IncidentKind
    severity: int | None
    severity_change: tuple[datetime, int] | None
    updates: list[_Update]
    link_mode: str
    active: bool
    iid: int = 0


@dataclass
class _PageSpec:
    service: str
    triggered: datetime
    title: str
    details: str
    responder: Person
    acks: list[tuple[datetime, Person]]
    resolved: tuple[datetime, Person | None] | None
    priority: str | None
    escalated: bool


class _LogEvent(NamedTuple):
    at: datetime
    kind: str
    agent: Json
    channel: str
    summary: str
    user: Person | None = None


@dataclass
class _IssueDraft:
    project: str
    created: datetime
    title: str
    description: str
    author: Person
    confidential: bool = False
    issue_type: str = "issue"
    assignees: list[Person] = field(default_factory=list)
    closed: datetime | None = None
    iid: int | None = None
    events: list[tuple[datetime, str, str, Person]] = field(default_factory=list)
    hide_events: bool = False

    def add(self, at: datetime, label: str, user: Person) -> None:
        self.events.append((at, "add", label, user))

    def remove(self, at: datetime, label: str, user: Person) -> None:
        self.events.append((at, "remove", label, user))


def _ascii_email(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = [part.replace("'", "").lower() for part in folded.split()]
    return f"{parts[0]}.{parts[-1]}@example.com"


def _shift_clock_time(text: str, posted: datetime, shift: timedelta) -> str:
    """An announcement's `HH:MM UTC` moved by `shift`, as its message is."""

    def moved(match: re.Match[str]) -> str:
        hour, minute = int(match.group(1)), int(match.group(2))
        due = posted.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due < posted:
            due += timedelta(days=1)
        return f"{due + shift:%H:%M} UTC"

    return re.sub(r"(\d{2}):(\d{2}) UTC", moved, text)


def _ceil_minutes(moment: datetime, step: int) -> datetime:
    floored = moment.replace(second=0, microsecond=0)
    floored -= timedelta(minutes=floored.minute % step)
    return floored if floored == moment else floored + timedelta(minutes=step)


def _seconds(delta: timedelta) -> timedelta:
    return timedelta(seconds=round(delta.total_seconds()))


def _quarters(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    first = date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    quarters: list[tuple[datetime, datetime]] = []
    while True:
        q_start = datetime(first.year, first.month, 1, tzinfo=UTC)
        if q_start >= end:
            return quarters
        year, month = first.year, first.month + 3
        if month > 12:
            year, month = year + 1, month - 12
        first = date(year, month, 1)
        quarters.append((q_start, datetime(first.year, first.month, 1, tzinfo=UTC)))


class _Builder:
    """Builds one organisation; every random choice comes from the one seeded generator."""

    def __init__(self, rng: random.Random, *, seed: int, end: datetime, days: int) -> None:
        self.rng = rng
        self.seed = seed
        self.end = end
        self.start = end - timedelta(days=days)
        self.ids = _Ids(rng)
        self.behaviour: dict[str, cat.StaffSpec] = {}
        self.people = [self._person(index, spec) for index, spec in enumerate(cat.STAFF)]
        self.region_cmocs = {
            region: [p for p in self.people if p.role == "cmoc" and p.region == region]
            for region in cat.REGIONS
        }
        self.rotation = {region: list(people) for region, people in self.region_cmocs.items()}
        for people in self.rotation.values():
            rng.shuffle(people)
        self.scheduled: dict[tuple[str, date], Person] = {}
        self.drafts: list[_IssueDraft] = []
        self.page_details: dict[str, str] = {}

    def build(self, pages: int) -> Organisation:
        self._pagerduty_directory()
        shifts = self._cmoc_shifts()
        shadow_shifts = self._shadow_shifts()
        self.statuspage_id, practice_id = self.ids.hex24(), self.ids.hex24()
        components = self._components(self.statuspage_id)
        practice_components = self._components(practice_id)
        self.components_by_name = {c["name"]: c for c in components}
        plans = self._status_plans()
        page_specs = self._pages(plans, pages)
        page_specs += self._eoc_pages()
        incidents, log_entries = self._render_pages(page_specs)
        status_incidents = [self._render_status_incident(plan) for plan in plans]
        self.open_times = sorted(plan.updates[0].at for plan in plans)
        self._handovers(shifts)
        self._contact_requests()
        self._practice_events()
        issues, label_events = self._render_issues()
        return Organisation(
            seed=self.seed,
            start=self.start,
            end=self.end,
            people=self.people,
            pd_users=[self._pd_user(p) for p in self.people if p.pagerduty_user_id],
            pd_services=list(self.services.values()),
            pd_escalation_policies=list(self.policies.values()),
            pd_schedules=list(self.schedules.values()),
            pd_incidents=incidents,
            pd_log_entries=log_entries,
            pd_oncalls=[self._oncall(shift) for shift in shifts + shadow_shifts],
            statusio_components=components,
            statusio_practice_components=practice_components,
            statusio_incidents=status_incidents,
            statusio_active_incident_ids=[
                incident["_id"]
                for incident, plan in zip(status_incidents, plans, strict=True)
                if plan.active
            ],
            statusio_maintenances=self._maintenances(),
            gitlab_users=[self._gitlab_user(p) for p in self.people],
            gitlab_projects=[self._project(path) for path in cat.PROJECT_IDS],
            gitlab_issues=issues,
            gitlab_label_events=label_events,
            cmoc_service_ids=[self.services["cmoc"]["id"]],
            cmoc_schedule_ids=[self.schedules[region]["id"] for region in cat.REGIONS],
            shadow_schedule_ids=[self.schedules["shadow"]["id"]],
            statuspage_id=self.statuspage_id,
            practice_statuspage_id=practice_id,
            pd_incident_details=self.page_details,
        )

    def _between(self, first: datetime, last: datetime) -> datetime:
        span = int((last - first).total_seconds())
        return first + timedelta(seconds=self.rng.randrange(max(span, 1)))

    def _person(self, index: int, spec: cat.StaffSpec) -> Person:
        email = _ascii_email(spec.name)
        public_email = {
            "same": email,
            "case": email.split("@")[0].title() + "@example.com",
            "empty": "",
            "none": None,
        }[spec.email_mode]
        self.behaviour[spec.username] = spec
        # The primary e-mail, which GitLab shows only to an administrator's token; an account
        # without a public e-mail was registered with a personal address.
        primary = email if spec.email_mode != "none" else f"{spec.username}@personal.example"
        return Person(
            name=spec.name,
            region=spec.region,
            role=spec.role,
            email=email,
            pagerduty_user_id=self.ids.pd() if spec.role in cat.PAGERDUTY_ROLES else None,
            gitlab_user_id=1_204_017 + index * 35_171,
            gitlab_username=spec.username,
            gitlab_name=spec.gitlab_name or spec.name,
            gitlab_public_email=public_email,
            gitlab_email=primary,
        )

    def _spec(self, person: Person) -> cat.StaffSpec:
        return self.behaviour[person.gitlab_username]

    def _ref(self, kind: str, object_id: str, summary: str, path: str) -> Json:
        return {
            "id": object_id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{PD_API}/{path}/{object_id}",
            "html_url": f"{PD_WEB}/{path}/{object_id}",
        }

    def _user_ref(self, person: Person) -> Json:
        return self._ref("user", str(person.pagerduty_user_id), person.name, "users")

    def _pd_user(self, person: Person) -> Json:
        user_id = str(person.pagerduty_user_id)
        return {
            "id": user_id,
            "type": "user",
            "summary": person.name,
            "self": f"{PD_API}/users/{user_id}",
            "html_url": f"{PD_WEB}/users/{user_id}",
            "name": person.name,
            "email": person.email,
            "time_zone": TIME_ZONES[person.region],
            "role": "user",
            "job_title": {"cmoc": "Support Engineer", "shadow": "Support Engineer"}.get(
                person.role, "Site Reliability Engineer"
            ),
            "description": "",
            "teams": [self.team_ref],
        }

    def _pagerduty_directory(self) -> None:
        team_id = self.ids.pd()
        self.team_ref = self._ref("team", team_id, "Support", "teams")
        self.priority_ids = {f"P{level}": self.ids.pd() for level in range(1, 5)}
        self.policies: dict[str, Json] = {}
        self.services: dict[str, Json] = {}
        self.schedules: dict[str, Json] = {}
        for key, name in (("cmoc", "CMOC"), ("eoc", "Production EOC")):
            policy_id = self.ids.pd()
            self.policies[key] = {
                "id": policy_id,
                "type": "escalation_policy",
                "summary": name,
                "name": name,
                "self": f"{PD_API}/escalation_policies/{policy_id}",
                "html_url": f"{PD_WEB}/escalation_policies/{policy_id}",
            }
        for key, name, description in (
            ("cmoc", "Incident Management - CMOC", "Pages the Communications Manager On Call"),
            ("eoc", "Production - EOC", "Pages the Engineer On Call"),
        ):
            service_id = self.ids.pd()
            self.services[key] = {
                "id": service_id,
                "type": "service",
                "summary": name,
                "name": name,
                "description": description,
                "status": "active",
                "self": f"{PD_API}/services/{service_id}",
                "html_url": f"{PD_WEB}/service-directory/{service_id}",
                "escalation_policy": self._policy_ref(key),
                "teams": [self.team_ref],
                "created_at": format_time(self.start - timedelta(days=900)),
            }
        shadows = [p for p in self.people if p.role == "shadow"]
        for key, name, members in (
            *((region, f"CMOC - {region}", self.region_cmocs[region]) for region in cat.REGIONS),
            ("shadow", "CMOC Shadow", shadows),
        ):
            schedule_id = self.ids.pd()
            self.schedules[key] = {
                "id": schedule_id,
                "type": "schedule",
                "summary": name,
                "name": name,
                "description": f"{name} rotation",
                "time_zone": "UTC",
                "self": f"{PD_API}/schedules/{schedule_id}",
                "html_url": f"{PD_WEB}/schedules/{schedule_id}",
                "users": [self._user_ref(p) for p in members],
                "escalation_policies": [self._policy_ref("cmoc")],
                "teams": [self.team_ref],
            }

    def _policy_ref(self, key: str) -> Json:
        policy = self.policies[key]
        return self._ref("escalation_policy", policy["id"], policy["name"], "escalation_policies")

    def _schedule_ref(self, schedule_id: str) -> Json:
        schedule = next(s for s in self.schedules.values() if s["id"] == schedule_id)
        return self._ref("schedule", schedule_id, schedule["name"], "schedules")

    def _weekly(self, region: str, day: date) -> Person:
        week = (day.toordinal() - 1) // 7
        people = self.rotation[region]
        return people[week % len(people)]

    def _cmoc_shifts(self) -> list[_Shift]:
        shifts = []
        first = self.start.date()
        for offset in range(((self.end + SCHEDULE_LEAD).date() - first).days + 1):
            day = first + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for region in cat.REGIONS:
                person = self._weekly(region, day)
                if self.rng.random() < 0.04:
                    person = self.rng.choice(self.region_cmocs[region])
                begin = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                    hours=cat.REGION_START_HOUR[region]
                )
                finish = begin + timedelta(hours=cat.SHIFT_HOURS)
                if finish <= self.start:
                    continue
                self.scheduled[(region, day)] = person
                shifts.append(_Shift(region, person, begin, finish, self.schedules[region]["id"]))
        return shifts

    def _shadow_shifts(self) -> list[_Shift]:
        shifts = []
        latest = self.end - timedelta(days=1)
        for q_start, q_end in _quarters(self.start, self.end):
            first, last = max(q_start, self.start), min(q_end, latest)
            if first >= last:
                continue
            for person in (p for p in self.people if p.role == "shadow"):
                for _ in range(self.rng.choice((0, 1, 2, 2, 3))):
                    day = self._between(first, last).date()
                    while day.weekday() >= 5:
                        day -= timedelta(days=1)
                    begin = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                        hours=cat.REGION_START_HOUR[person.region]
                    )
                    shifts.append(
                        _Shift(
                            person.region,
                            person,
                            begin,
                            begin + timedelta(hours=cat.SHIFT_HOURS),
                            self.schedules["shadow"]["id"],
                        )
                    )
        shifts.sort(key=lambda shift: shift.start)
        return shifts

    def _oncall(self, shift: _Shift) -> Json:
        return {
            "user": self._user_ref(shift.person),
            "schedule": self._schedule_ref(shift.schedule_id),
            "escalation_policy": self._policy_ref("cmoc"),
            "escalation_level": 1,
            "start": format_time(shift.start),
            "end": format_time(shift.end),
        }

    def _region_at(self, moment: datetime) -> str:
        return next(
            region
            for region in cat.REGIONS
            if cat.REGION_START_HOUR[region] <= moment.hour < cat.REGION_START_HOUR[region] + 8
        )

    def _responder(self, moment: datetime) -> Person:
        """The CMOC paged at `moment`: the scheduled one, else the region's CMOC of the week."""
        region = self._region_at(moment)
        return self.scheduled.get((region, moment.date())) or self._weekly(region, moment.date())

    def _sre(self, moment: datetime) -> Person:
        region = self._region_at(moment)
        return next(p for p in self.people if p.role == "sre" and p.region == region)

    def _components(self, statuspage_id: str) -> list[Json]:
        containers = {
            name: {"_id": self.ids.hex24(), "name": name, "location": location}
            for name, location in cat.CONTAINERS
        }
        return [
            {
                "_id": self.ids.hex24(),
                "name": name,
                "description": description,
                "position": position,
                "statuspage": statuspage_id,
                "hook_key": self.ids.hex24()[:16],
                "containers": [dict(containers[c]) for c in container_names],
            }
            for position, (name, description, container_names) in enumerate(cat.COMPONENTS, 1)
        ]

    def _status_plans(self) -> list[_StatusPlan]:
        total = max(2, round(STATUS_INCIDENTS_PER_YEAR * (self.end - self.start).days / 365))
        first, last = self.start + timedelta(hours=6), self.end - timedelta(hours=12)
        count = total - 2 if first < last else 0
        opened = sorted(self._between(first, last) for _ in range(count))
        plans = [self._status_plan(at) for at in opened]
        plans.append(self._active_plan(severity=2, quiet_minutes=(12, 35)))
        plans.append(self._active_plan(severity=None, quiet_minutes=(3, 9)))
        return plans

    def _status_plan(self, opened: datetime, severity: int | None = None) -> _StatusPlan:
        rng = self.rng
        if severity is None:
            severity = rng.choices((1, 2, 3, 4), weights=(8, 30, 45, 17))[0]
        states = self._states()
        change = None
        if len(states) > 3 and rng.random() < 0.2:
            new = severity - 1 if severity > 1 and rng.random() < 0.75 else min(severity + 1, 4)
            if new != severity:
                change = (rng.randint(1, len(states) - 2), new)
        updates, change_event = self._timeline(opened, severity, states, change)
        link_mode = rng.choices(
            ("gitlab", "other_host", "later", "none", "related"), weights=(78, 8, 6, 5, 3)
        )[0]
        unlabelled = rng.random() < 0.05
        return _StatusPlan(
            kind=rng.choice(cat.INCIDENT_KINDS),
            severity=None if unlabelled else severity,
            severity_change=None if unlabelled else change_event,
            updates=updates,
            link_mode=link_mode,
            active=False,
        )

    def _active_plan(self, *, severity: int | None, quiet_minutes: tuple[int, int]) -> _StatusPlan:
        """A still-open incident whose last update was posted a little before the end."""
        plan = self._status_plan(self.end - timedelta(hours=6), severity)
        open_updates = [u for u in plan.updates if not u.resolving and u.state != cat.MONITORING]
        keep = min(len(open_updates), self.rng.randint(2, 3))
        plan.updates = plan.updates[:keep]
        quiet = self.rng.randint(quiet_minutes[0] * 60, quiet_minutes[1] * 60)
        shift = self.end - timedelta(seconds=quiet) - plan.updates[-1].at
        for update in plan.updates:
            update.announcement = _shift_clock_time(update.announcement, update.at, shift)
            update.at += shift
        if plan.severity_change:
            change_at, new = plan.severity_change
            kept = change_at + shift < plan.updates[-1].at
            plan.severity_change = (change_at + shift, new) if kept else None
        plan.active = True
        plan.link_mode = "gitlab"
        return plan

    def _states(self) -> list[int]:
        rng = self.rng
        states = []
        if rng.random() >= 0.15:
            states += [cat.INVESTIGATING] * rng.choice((1, 1, 2, 2, 3, 4))
        states += [cat.IDENTIFIED] * rng.choice((1, 1, 2, 3))
        states += [cat.MONITORING] * rng.choice((0, 1, 1, 1, 1, 2))
        return [*states, _RESOLVE]

    def _timeline(
        self,
        opened: datetime,
        severity: int,
        states: list[int],
        change: tuple[int, int] | None,
    ) -> tuple[list[_Update], tuple[datetime, int] | None]:
        """Updates following `states` from `opened`: mostly on time, sometimes late."""
        updates: list[_Update] = []
        at, current, change_event = opened, severity, None
        for index, state in enumerate(states):
            if change and index == change[0]:
                current = change[1]
                change_event = (at - timedelta(minutes=1), current)
            status = cat.STATUS_BY_SEVERITY[current]
            if state == _RESOLVE:
                updates.append(_Update(at, cat.MONITORING, cat.OPERATIONAL, resolving=True))
                break
            announcement, due = self._announcement(at, state)
            if due is None:
                due = timedelta(minutes=cat.CADENCE_MINUTES[current][state])
            updates.append(_Update(at, state, status, announcement=announcement))
            closing = state == cat.MONITORING and states[index + 1] == _RESOLVE
            at += self._gap(at, due, closing=closing)
        return updates, change_event

    def _announcement(self, at: datetime, state: int) -> tuple[str, timedelta | None]:
        rng = self.rng
        if rng.random() >= 0.15:
            return "", None
        monitoring = state == cat.MONITORING
        minutes = rng.choice((30, 45, 60, 120) if monitoring else (20, 30, 45, 60))
        style = rng.choice(("in", "in", "at", "by"))
        if style == "in":
            text = {
                60: "Next update in 1 hour.",
                120: "We'll post the next update within the next 2 hours.",
            }.get(minutes, f"Next update in {minutes} minutes.")
            return text, timedelta(minutes=minutes)
        due_at = _ceil_minutes(at + timedelta(minutes=minutes), 5)
        if style == "at":
            return f"Next update at {due_at:%H:%M} UTC.", due_at - at
        return f"We'll provide another update by {due_at:%H:%M} UTC.", due_at - at

    def _gap(self, at: datetime, due: timedelta, *, closing: bool) -> timedelta:
        rng = self.rng
        if rng.random() < self._spec(self._responder(at)).late_update:
            return _seconds(due + timedelta(seconds=rng.randint(150, 1800)))
        target = min(due, timedelta(minutes=32)) if closing else due
        return _seconds(target * rng.uniform(0.45, 0.97))

    def _pages(self, plans: list[_StatusPlan], total: int) -> list[_PageSpec]:
        """CMOC pages: one per status-page incident (latest first), the rest for other incidents."""
        rng = self.rng
        linked = plans[len(plans) - min(total, len(plans)) :]
        cases: list[tuple[datetime, _StatusPlan | None, str]] = [
            (self._page_time(plan), plan, "open" if plan is plans[-1] else "normal")
            for plan in linked
        ]
        others = total - len(linked)
        last = self.end - timedelta(minutes=45)
        cases += [(self._between(self.start, last), None, "normal") for _ in range(others - 1)]
        if others:
            cases.append((self.end - timedelta(minutes=rng.randint(2, 6)), None, "unanswered"))
        cases.sort(key=lambda case: case[0])
        specs = []
        iid = 16_800 + rng.randint(0, 400)
        for triggered, plan, outcome in cases:
            iid += rng.randint(1, 4)
            kind = plan.kind if plan else rng.choice(cat.INCIDENT_KINDS)
            severity = (plan.severity if plan else rng.choices((2, 3, 4), (2, 6, 3))[0]) or 3
            if plan:
                plan.iid = iid
            self._production_issue(triggered, iid, kind, severity, plan)
            title, details = self._page_text(iid, kind)
            specs.append(self._page_spec(triggered, title, details, f"P{severity}", outcome))
        return specs

    def _page_time(self, plan: _StatusPlan) -> datetime:
        before = timedelta(minutes=self.rng.randint(3, 20), seconds=self.rng.randint(0, 59))
        return plan.updates[0].at - before

    def _page_text(self, iid: int, kind: cat.IncidentKind) -> tuple[str, str]:
        url = f"{GITLAB_WEB}/{cat.PRODUCTION_PROJECT}/-/issues/{iid}"
        style = self.rng.choices(("title", "details", "none"), weights=(65, 20, 15))[0]
        if style == "title":
            return f"Incident #{iid}: {kind.title}", f"Woodhouse paged the CMOC. Issue: {url}"
        if style == "details":
            return f"CMOC requested: {kind.title}", f"Woodhouse paged the CMOC for {url}"
        return (
            "Communications Manager requested in #incident-management",
            "Please join the incident channel and the Zoom call.",
        )

    def _page_spec(
        self,
        triggered: datetime,
        title: str,
        details: str,
        priority: str,
        outcome: str,
    ) -> _PageSpec:
        """A CMOC page and how it was handled; `outcome` "open" stays acknowledged at the end."""
        rng = self.rng
        responder = self._responder(triggered)
        if rng.random() < 0.05:
            responder = rng.choice([p for p in self.people if p.role == "cmoc"])
        roll = rng.random()
        slow = self._spec(responder).slow_ack
        acks: list[tuple[datetime, Person]] = []
        if outcome == "open" or (outcome == "normal" and roll >= 0.05):
            if roll < 0.05 + slow:
                minutes = rng.uniform(15.5, 40)
            elif roll < 0.17 + slow:
                minutes = rng.uniform(10, 15)
            else:
                minutes = rng.uniform(0.5, 10)
            first_ack = triggered + _seconds(timedelta(minutes=minutes))
            acks.append((first_ack, responder))
            if rng.random() < 0.08:
                again = responder if rng.random() < 0.6 else self._responder(first_ack)
                acks.append((first_ack + timedelta(seconds=rng.randint(60, 360)), again))
        resolved: tuple[datetime, Person | None] | None
        if outcome == "open":
            resolved = None
        elif acks:
            resolved = (acks[-1][0] + timedelta(seconds=rng.randint(300, 3600)), acks[-1][1])
        else:
            closer = None if rng.random() < 0.5 else self._responder(triggered)
            resolved = (triggered + timedelta(seconds=rng.randint(1800, 14400)), closer)
        return _PageSpec(
            service="cmoc",
            triggered=triggered,
            title=title,
            details=details,
            responder=responder,
            acks=acks,
            resolved=resolved,
            priority=priority,
            escalated=not acks or acks[0][0] - triggered > timedelta(minutes=15),
        )

    def _eoc_pages(self) -> list[_PageSpec]:
        rng = self.rng
        count = round(EOC_PAGES_PER_YEAR * (self.end - self.start).days / 365)
        specs = []
        for _ in range(count):
            triggered = self._between(self.start, self.end - timedelta(hours=2))
            sre = self._sre(triggered)
            ack = triggered + timedelta(seconds=rng.randint(30, 300))
            specs.append(
                _PageSpec(
                    service="eoc",
                    triggered=triggered,
                    title=rng.choice(cat.EOC_ALERTS),
                    details="Alertmanager alert for the production environment.",
                    responder=sre,
                    acks=[(ack, sre)],
                    resolved=(ack + timedelta(seconds=rng.randint(600, 7200)), sre),
                    priority=None,
                    escalated=False,
                )
            )
        return specs

    def _render_pages(self, specs: list[_PageSpec]) -> tuple[list[Json], list[Json]]:
        specs = sorted(specs, key=lambda spec: spec.triggered)
        incidents, entries = [], []
        number = 180_000 + self.rng.randint(0, 5000)
        for spec in specs:
            number += self.rng.randint(1, 3)
            incident, incident_entries = self._render_page(spec, number)
            incidents.append(incident)
            entries += incident_entries
        entries.sort(key=lambda entry: entry["created_at"], reverse=True)
        return incidents, entries

    def _render_page(self, spec: _PageSpec, number: int) -> tuple[Json, list[Json]]:
        """One PagerDuty incident and its log entries, as they stand at the end."""
        rng = self.rng
        incident_id = self.ids.long("Q", 13)
        service = self.services[spec.service]
        service_ref = self._ref("service", service["id"], service["name"], "services")
        incident_ref = self._ref("incident", incident_id, f"[#{number}] {spec.title}", "incidents")
        events = [
            _LogEvent(
                spec.triggered,
                "trigger_log_entry",
                service_ref,
                "api",
                "Triggered through the API.",
            ),
            _LogEvent(
                spec.triggered + timedelta(seconds=rng.randint(3, 30)),
                "notify_log_entry",
                service_ref,
                rng.choice(("sms", "push_notification")),
                f"Notified {spec.responder.name}.",
                spec.responder,
            ),
        ]
        if spec.escalated:
            events.append(
                _LogEvent(
                    spec.triggered + timedelta(minutes=15),
                    "notify_log_entry",
                    service_ref,
                    "phone",
                    f"Notified {spec.responder.name}.",
                    spec.responder,
                )
            )
        for at, person in spec.acks:
            events.append(
                _LogEvent(
                    at,
                    "acknowledge_log_entry",
                    self._user_ref(person),
                    rng.choice(("website", "sms", "website")),
                    f"Acknowledged by {person.name}.",
                )
            )
        if spec.resolved:
            events.append(self._resolve_event(*spec.resolved, service_ref))
        events = sorted((e for e in events if e.at < self.end), key=lambda e: e.at)
        entries = [self._log_entry(event, spec, service_ref, incident_ref) for event in events]
        acks = [(at, p) for at, p in spec.acks if at < self.end]
        resolved_at = spec.resolved[0] if spec.resolved and spec.resolved[0] < self.end else None
        status = "resolved" if resolved_at else "acknowledged" if acks else "triggered"
        changes = [e for e in events if e.kind in ("acknowledge_log_entry", "resolve_log_entry")]
        last_change = changes[-1] if changes else events[0]
        assignee = acks[-1][1] if acks else spec.responder
        incident = {
            "id": incident_id,
            "type": "incident",
            "summary": incident_ref["summary"],
            "self": incident_ref["self"],
            "html_url": incident_ref["html_url"],
            "incident_number": number,
            "title": spec.title,
            "created_at": format_time(spec.triggered),
            "updated_at": format_time(events[-1].at),
            "status": status,
            "incident_key": f"{rng.getrandbits(128):032x}",
            "service": service_ref,
            "assignments": []
            if resolved_at
            else [{"at": format_time(spec.triggered), "assignee": self._user_ref(assignee)}],
            "assigned_via": "escalation_policy",
            "acknowledgements": [
                {"at": format_time(at), "acknowledger": self._user_ref(p)} for at, p in acks
            ]
            if status == "acknowledged"
            else [],
            "last_status_change_at": format_time(last_change.at),
            "last_status_change_by": last_change.agent,
            "resolved_at": format_time(resolved_at) if resolved_at else None,
            "first_trigger_log_entry": {
                "id": entries[0]["id"],
                "type": "trigger_log_entry_reference",
                "self": entries[0]["self"],
                "html_url": None,
            },
            "escalation_policy": service["escalation_policy"],
            "teams": [self.team_ref],
            "priority": {
                "id": self.priority_ids[spec.priority],
                "type": "priority_reference",
                "summary": spec.priority,
            }
            if spec.priority
            else None,
            "urgency": "high",
            "alert_counts": {
                "all": 1,
                "triggered": 0 if resolved_at else 1,
                "resolved": 1 if resolved_at else 0,
            },
            "pending_actions": [],
            "conference_bridge": None,
            "resolve_reason": None,
            "incident_type": {"name": "incident_default"},
        }
        self.page_details[incident_id] = spec.details
        return incident, entries

    def _resolve_event(self, at: datetime, resolver: Person | None, service_ref: Json) -> _LogEvent:
        if resolver is None:
            return _LogEvent(
                at, "resolve_log_entry", service_ref, "timeout", "Resolved by timeout."
            )
        summary = f"Resolved by {resolver.name}."
        return _LogEvent(at, "resolve_log_entry", self._user_ref(resolver), "website", summary)

    def _log_entry(
        self, event: _LogEvent, spec: _PageSpec, service_ref: Json, incident_ref: Json
    ) -> Json:
        entry_id = self.ids.long("R", 25)
        entry: Json = {
            "id": entry_id,
            "type": event.kind,
            "summary": event.summary,
            "self": f"{PD_API}/log_entries/{entry_id}",
            "html_url": None,
            "created_at": format_time(event.at),
            "agent": event.agent,
            "channel": {"type": event.channel},
            "incident": incident_ref,
            "teams": [self.team_ref],
            "contexts": [],
        }
        # PagerDuty's schema declares `service` on a log entry, but none of its three log-entry
        # examples carries it (PagerDuty/api-schema openapiv3.json): here only the entries the
        # service itself made (trigger, notify, resolve by timeout) name it.
        if event.agent.get("type") != "user_reference":
            entry["service"] = service_ref
        if event.kind == "trigger_log_entry":
            entry["event_details"] = {"description": spec.title}
        if event.user is not None:
            entry["user"] = self._user_ref(event.user)
        return entry

    def _production_issue(
        self,
        triggered: datetime,
        iid: int,
        kind: cat.IncidentKind,
        severity: int,
        plan: _StatusPlan | None,
    ) -> None:
        """The production incident issue behind a page, with its label history."""
        rng = self.rng
        created = triggered - timedelta(minutes=rng.randint(1, 6), seconds=rng.randint(0, 59))
        sre = self._sre(created)
        draft = _IssueDraft(
            project=cat.PRODUCTION_PROJECT,
            created=created,
            title=f"{created:%Y-%m-%d}: {kind.title}",
            description=(
                f"## Summary\n\nUsers are experiencing {kind.symptom}.\n\n"
                "## Impact\n\nSee the status page for customer-facing updates."
            ),
            author=sre,
            issue_type="incident",
            assignees=[sre],
            iid=iid,
            hide_events=rng.random() < 0.03,
        )
        initial = plan.severity if plan else severity
        draft.add(created, "incident", sre)
        if initial is not None:
            draft.add(created, f"severity::{initial}", sre)
        draft.add(created, "Incident::Active", sre)
        if plan is None:
            finished = triggered + timedelta(minutes=rng.randint(40, 360))
            self._advance(draft, "Incident::Active", "Incident::Resolved", finished, sre)
            draft.closed = finished + timedelta(hours=rng.randint(1, 72))
            self.drafts.append(draft)
            return
        if plan.severity_change:
            at, new = plan.severity_change
            draft.remove(at, f"severity::{plan.severity}", sre)
            draft.add(at, f"severity::{new}", sre)
        first = plan.updates[0].at
        cmoc = self._responder(first)
        roll = rng.random()
        if roll < 0.82:
            draft.add(
                first + timedelta(minutes=rng.randint(2, 25), seconds=rng.randint(0, 59)),
                cat.STATUS_PAGE_LABEL,
                cmoc,
            )
        elif roll < 0.87:
            draft.add(first + timedelta(hours=rng.randint(2, 8)), cat.STATUS_PAGE_LABEL, cmoc)
        monitoring = next(
            (u.at for u in plan.updates if u.state == cat.MONITORING and not u.resolving), None
        )
        state = "Incident::Active"
        if monitoring:
            self._advance(draft, state, "Incident::Mitigated", monitoring, sre)
            state = "Incident::Mitigated"
        if plan.updates[-1].resolving:
            resolved = plan.updates[-1].at
            self._advance(draft, state, "Incident::Resolved", resolved, sre)
            if rng.random() < 0.8:
                draft.closed = resolved + timedelta(hours=rng.randint(1, 96))
        self.drafts.append(draft)

    def _advance(self, draft: _IssueDraft, old: str, new: str, at: datetime, user: Person) -> None:
        draft.remove(at, old, user)
        draft.add(at, new, user)

    def _render_status_incident(self, plan: _StatusPlan) -> Json:
        incident_id = self.ids.hex24()
        components = [self.components_by_name[name] for name in plan.kind.components]
        containers: dict[str, Json] = {}
        for component in components:
            for container in component["containers"]:
                containers.setdefault(container["_id"], container)
        messages = [
            {
                "_id": self.ids.hex24(),
                "details": self._message_text(plan, index),
                "state": update.state,
                "status": update.status,
                "datetime": format_time_ms(update.at),
                "source": "web",
                "incident": incident_id,
                "components": [c["_id"] for c in components],
                "containers": list(containers),
            }
            for index, update in enumerate(plan.updates)
        ]
        post_mortem = ""
        if not plan.active and plan.severity in (1, 2) and plan.link_mode != "none":
            post_mortem = f"{GITLAB_WEB}/{cat.PRODUCTION_PROJECT}/-/issues/{plan.iid}"
        return {
            "_id": incident_id,
            "name": plan.kind.title,
            "statuspage": self.statuspage_id,
            "datetime_open": format_time_ms(plan.updates[0].at),
            "post_mortem_url": post_mortem,
            "components_affected": [affected_component(c) for c in components],
            "containers_affected": [affected_container(c) for c in containers.values()],
            "messages": messages,
        }

    def _issue_link(self, plan: _StatusPlan, index: int) -> str | None:
        path = f"{cat.PRODUCTION_PROJECT}/-/issues/{plan.iid}"
        if plan.link_mode == "none" or (plan.link_mode == "later" and index == 0):
            return None
        host = cat.OTHER_HOST if plan.link_mode == "other_host" else GITLAB_WEB
        return f"{host}/{path}"

    def _message_text(self, plan: _StatusPlan, index: int) -> str:
        update = plan.updates[index]
        previous = plan.updates[index - 1] if index else None
        templates: tuple[str, ...]
        if update.resolving:
            templates = cat.RESOLVED_MESSAGES
        elif previous is None or previous.state != update.state:
            templates = cat.FIRST_MESSAGES[update.state]
        else:
            templates = cat.FOLLOW_UP_MESSAGES[update.state]
        link = self._issue_link(plan, index) or cat.NO_LINK_TEXT
        text = self.rng.choice(templates).format(symptom=plan.kind.symptom, link=link)
        if plan.link_mode == "related" and index == 1:
            text += " " + cat.RELATED_LINK.format(number=400_000 + self.rng.randint(0, 99_999))
        if update.announcement:
            text += " " + update.announcement
        return text

    def _handovers(self, shifts: list[_Shift]) -> None:
        """Handover issues: most within two hours of the shift end, some late, some missing."""
        rng = self.rng
        for shift in shifts:
            if shift.end > self.end:
                continue
            roll = rng.random()
            if roll < self._spec(shift.person).missed_handover:
                continue
            if roll > 0.95:
                created = shift.end + timedelta(minutes=rng.randint(180, 300))
            else:
                created = shift.end + timedelta(minutes=rng.randint(-25, 100))
            created += timedelta(seconds=rng.randint(0, 59))
            if created >= self.end:
                continue
            opened = bisect.bisect_left(self.open_times, shift.end) - bisect.bisect_left(
                self.open_times, shift.start
            )
            closed = created + timedelta(hours=rng.randint(6, 30))
            self.drafts.append(
                _IssueDraft(
                    project=cat.HANDOVER_PROJECT,
                    created=created,
                    title=f"CMOC Handover {shift.start:%Y-%m-%d} {shift.region}",
                    description=(
                        "## Incidents\n\n"
                        f"{opened} status-page incident(s) opened during the shift.\n\n"
                        "## Maintenance\n\nNone.\n\n## Contact requests\n\nNone.\n\n"
                        "## Notes\n\nNothing else to report."
                    ),
                    author=shift.person,
                    confidential=True,
                    closed=closed,
                    events=[(created, "add", "Handover", shift.person)],
                )
            )

    def _contact_requests(self) -> None:
        rng = self.rng
        count = max(1, round(CONTACT_REQUESTS_PER_YEAR * (self.end - self.start).days / 365))
        authors = [p for p in self.people if p.role in ("security", "sre")]
        support = next(p for p in self.people if p.role == "support")
        for _ in range(count):
            created = self._between(self.start, self.end - timedelta(hours=1))
            assignee = self._responder(created) if rng.random() < 0.8 else support
            author = rng.choice(authors)
            closed = None
            if rng.random() < 0.82:
                closed = created + timedelta(minutes=rng.randint(60, 6 * 24 * 60))
            reason = rng.choice(cat.CONTACT_REQUEST_REASONS)
            self.drafts.append(
                _IssueDraft(
                    project=cat.CONTACT_REQUEST_PROJECT,
                    created=created,
                    title=f"Contact request: {reason} (user {rng.randint(1_000_000, 19_999_999)})",
                    description=f"Please reach out to the user about {reason}.",
                    author=author,
                    confidential=True,
                    assignees=[assignee],
                    closed=closed,
                    events=[(created, "add", cat.CONTACT_REQUEST_LABEL, author)],
                )
            )

    def _practice_events(self) -> None:
        """One practice event per region per quarter; some CMOCs miss some quarters."""
        rng = self.rng
        latest = self.end - timedelta(hours=2)
        for q_start, q_end in _quarters(self.start, self.end):
            first, last = max(q_start, self.start), min(q_end, latest)
            if first >= last:
                continue
            quarter = (q_start.month - 1) // 3 + 1
            for region in cat.REGIONS:
                created = self._between(first, last)
                cmocs = self.region_cmocs[region]
                joined = [p for p in cmocs if rng.random() < 0.65] or [rng.choice(cmocs)]
                joined += [
                    p
                    for p in self.people
                    if p.role == "shadow" and p.region == region and rng.random() < 0.5
                ]
                facilitator = rng.choice(cmocs)
                self.drafts.append(
                    _IssueDraft(
                        project=cat.TRAINING_PROJECT,
                        created=created,
                        title=f"CMOC Practice Event - {region} - {q_start.year} Q{quarter}",
                        description=(
                            "## Scenario\n\nA simulated incident on the practice status page.\n\n"
                            "## Roles\n\nFacilitator, note taker and CMOC."
                        ),
                        author=facilitator,
                        assignees=joined,
                        closed=created + timedelta(days=rng.randint(1, 10)),
                        events=[(created, "add", cat.PRACTICE_EVENT_LABEL, facilitator)],
                    )
                )

    def _maintenances(self) -> dict[str, list[Json]]:
        """Closed maintenances over the history, one in progress and two upcoming."""
        rng = self.rng
        latest = self.end - timedelta(days=1)
        starts = sorted(
            self._between(self.start, latest).replace(minute=0, second=0)
            for _ in range(RESOLVED_MAINTENANCES)
        )
        resolved = [self._maintenance(start, "resolved") for start in starts]
        active = self._maintenance(self.end - timedelta(hours=1), "active")
        upcoming = [
            self._maintenance(self.end + timedelta(days=days, hours=rng.randint(0, 6)), "upcoming")
            for days in sorted(rng.sample(range(3, 21), 2))
        ]
        return {
            "active": [active],
            "upcoming": upcoming,
            "resolved": list(reversed(resolved)),
        }

    def _maintenance(self, start: datetime, phase: str) -> Json:
        rng = self.rng
        name, component_names = rng.choice(cat.MAINTENANCE_KINDS)
        components = [self.components_by_name[n] for n in component_names]
        containers: dict[str, Json] = {}
        for component in components:
            for container in component["containers"]:
                containers.setdefault(container["_id"], container)
        finish = start + timedelta(hours=rng.randint(1, 4))
        maintenance_id = self.ids.hex24()
        steps = [
            (
                start - timedelta(days=rng.randint(5, 14)),
                100,
                f"We will be undergoing scheduled maintenance: {name}. "
                "GitLab.com may be briefly unavailable during the window.",
            ),
        ]
        if phase in ("active", "resolved"):
            steps.append((start, 200, "Scheduled maintenance is now in progress."))
        if phase == "resolved":
            steps.append((finish, 300, "Scheduled maintenance has been completed."))
        return {
            "_id": maintenance_id,
            "name": name,
            "statuspage": self.statuspage_id,
            "datetime_open": format_time_ms(steps[0][0]),
            "datetime_planned_start": format_time_ms(start),
            "datetime_planned_end": format_time_ms(finish),
            "components_affected": [affected_component(c) for c in components],
            "containers_affected": [affected_container(c) for c in containers.values()],
            "messages": [
                {
                    "_id": self.ids.hex24(),
                    "details": details,
                    "state": state,
                    "status": cat.PLANNED,
                    "datetime": format_time_ms(at),
                    "maintenance": maintenance_id,
                }
                for at, state, details in steps
            ],
        }

    def _gitlab_user(self, person: Person) -> Json:
        """The account as GitLab stores it; the server shows each endpoint its own entity."""
        return {
            **self._user_basic(person),
            "public_email": person.gitlab_public_email,
            "email": person.gitlab_email,
        }

    def _user_basic(self, person: Person) -> Json:
        """An issue's author or assignee: GitLab's UserBasic entity, which carries no e-mail."""
        return {
            "id": person.gitlab_user_id,
            "username": person.gitlab_username,
            "name": person.gitlab_name,
            "state": "active",
            "avatar_url": f"{GITLAB_WEB}/uploads/user/avatar/{person.gitlab_user_id}/avatar.png",
            "web_url": f"{GITLAB_WEB}/{person.gitlab_username}",
        }

    def _event_user(self, person: Person) -> Json:
        user = self._user_basic(person)
        return {key: user[key] for key in ("id", "name", "username", "state", "avatar_url")}

    def _project(self, path: str) -> Json:
        return {
            "id": cat.PROJECT_IDS[path],
            "name": path.rsplit("/", 1)[-1],
            "path": path.rsplit("/", 1)[-1],
            "path_with_namespace": path,
            "web_url": f"{GITLAB_WEB}/{path}",
            "visibility": "public",
        }

    def _render_issues(self) -> tuple[dict[str, list[Json]], dict[str, dict[int, list[Json]]]]:
        """Issues of every project with ids in creation order, and their label events."""
        rng = self.rng
        drafts = sorted(self.drafts, key=lambda draft: draft.created)
        next_iid = {
            cat.PRODUCTION_PROJECT: 1,
            cat.HANDOVER_PROJECT: 3100,
            cat.CONTACT_REQUEST_PROJECT: 410,
            cat.TRAINING_PROJECT: 5900,
        }
        issue_id = 150_000_000
        issues: dict[str, list[Json]] = {path: [] for path in cat.PROJECT_IDS}
        label_events: dict[str, dict[int, list[Json]]] = {path: {} for path in cat.PROJECT_IDS}
        pending: list[Json] = []
        for draft in drafts:
            issue_id += rng.randint(1, 40)
            if draft.iid is None:
                draft.iid = next_iid[draft.project]
                next_iid[draft.project] += 1
            issue, events = self._render_issue(draft, issue_id)
            issues[draft.project].append(issue)
            label_events[draft.project][draft.iid] = events
            pending += events
        event_id = 310_000_000
        for event in sorted(pending, key=lambda event: event["created_at"]):
            event_id += rng.randint(1, 9)
            event["id"] = event_id
        return issues, label_events

    def _render_issue(self, draft: _IssueDraft, issue_id: int) -> tuple[Json, list[Json]]:
        events = sorted((e for e in draft.events if e[0] < self.end), key=lambda e: e[0])
        labels: list[str] = []
        for _, action, label, _ in events:
            if action == "add" and label not in labels:
                labels.append(label)
            elif action == "remove" and label in labels:
                labels.remove(label)
        closed = draft.closed if draft.closed and draft.closed < self.end else None
        updated = max([draft.created, *(e[0] for e in events), *([closed] if closed else [])])
        severity = next((int(label[-1]) for label in labels if label.startswith("severity::")), 0)
        path = draft.project
        author = self._user_basic(draft.author)
        issue = {
            "id": issue_id,
            "iid": draft.iid,
            "project_id": cat.PROJECT_IDS[path],
            "title": draft.title,
            "description": draft.description,
            "state": "closed" if closed else "opened",
            "created_at": format_time(draft.created),
            "updated_at": format_time(updated),
            "closed_at": format_time(closed) if closed else None,
            "closed_by": author if closed else None,
            "labels": sorted(labels, key=str.lower),
            "milestone": None,
            "assignees": [self._user_basic(p) for p in draft.assignees],
            "assignee": self._user_basic(draft.assignees[0]) if draft.assignees else None,
            "author": author,
            "type": draft.issue_type.upper(),
            "issue_type": draft.issue_type,
            "severity": cat.GITLAB_SEVERITY.get(severity, "UNKNOWN")
            if draft.issue_type == "incident"
            else "UNKNOWN",
            "user_notes_count": self.rng.randint(0, 40),
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": draft.confidential,
            "discussion_locked": None,
            "web_url": f"{GITLAB_WEB}/{path}/-/issues/{draft.iid}",
            "references": {
                "short": f"#{draft.iid}",
                "relative": f"#{draft.iid}",
                "full": f"{path}#{draft.iid}",
            },
        }
        if draft.hide_events:
            return issue, []
        rendered = [
            {
                "id": 0,
                "user": self._event_user(user),
                "created_at": format_time(at),
                "resource_type": "Issue",
                "resource_id": issue_id,
                "label": {
                    "id": LABEL_IDS[label],
                    "name": label,
                    "color": cat.LABELS[label][0],
                    "description": cat.LABELS[label][1],
                },
                "action": action,
            }
            for at, action, label, user in events
        ]
        return issue, rendered


class _OtherIncidents:
    """Incidents of other teams' services, added to a built organisation.

    They have their own random generator, so the rest of the organisation stays the same, and
    the shapes of `_Builder._render_page`: a trigger by the service, a notification, mostly an
    acknowledgement and a resolution by the engineer, else a resolution by timeout.
    """

    def __init__(self, org: Organisation, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.ids = _Ids(rng)
        self.ids.seen.update(s["id"] for s in org.pd_services)
        self.responders = [
            (person, _reference("user", str(person.pagerduty_user_id), person.name, "users"))
            for person in org.people
            if person.role == "sre" and person.pagerduty_user_id
        ]
        teams = {team: self.ids.pd() for team, _ in OTHER_SERVICES}
        self.team_refs = {
            team: _reference("team", team_id, team, "teams") for team, team_id in teams.items()
        }
        self.services: list[Json] = []
        for team, name in OTHER_SERVICES:
            service_id = self.ids.pd()
            self.services.append(
                {
                    "id": service_id,
                    "type": "service",
                    "summary": name,
                    "name": name,
                    "description": f"Alerts of {name}",
                    "status": "active",
                    "self": f"{PD_API}/services/{service_id}",
                    "html_url": f"{PD_WEB}/service-directory/{service_id}",
                    "escalation_policy": org.pd_services[-1]["escalation_policy"],
                    "teams": [self.team_refs[team]],
                    "created_at": format_time(org.start - timedelta(days=900)),
                }
            )

    def add(self, count: int) -> None:
        """Add `count` incidents spread over the organisation's history."""
        org, rng = self.org, self.rng
        span = int((org.end - org.start).total_seconds()) - 3 * 3600
        number = 1_000_000
        incidents, entries = [], []
        for moment in sorted(rng.randrange(span) for _ in range(count)):
            number += rng.randint(1, 2)
            incident, incident_entries = self._incident(
                org.start + timedelta(seconds=moment), number
            )
            incidents.append(incident)
            entries += incident_entries
        org.pd_services = [*org.pd_services, *self.services]
        org.pd_incidents = sorted(
            [*org.pd_incidents, *incidents], key=lambda incident: incident["created_at"]
        )
        org.pd_log_entries = sorted(
            [*org.pd_log_entries, *entries], key=lambda entry: entry["created_at"], reverse=True
        )

    def _incident(self, triggered: datetime, number: int) -> tuple[Json, list[Json]]:
        rng = self.rng
        service = rng.choice(self.services)
        team_ref = service["teams"][0]
        service_ref = _reference("service", service["id"], service["name"], "services")
        person, user_ref = rng.choice(self.responders)
        title = rng.choice(cat.EOC_ALERTS)
        incident_id = self.ids.long("Q", 13)
        incident_ref = _reference("incident", incident_id, f"[#{number}] {title}", "incidents")
        notified = triggered + timedelta(seconds=rng.randint(3, 30))
        events: list[tuple[datetime, str, Json, str, str, Json | None]] = [
            (
                triggered,
                "trigger_log_entry",
                service_ref,
                "api",
                "Triggered through the API.",
                None,
            ),
            (
                notified,
                "notify_log_entry",
                service_ref,
                "sms",
                f"Notified {person.name}.",
                user_ref,
            ),
        ]
        if rng.random() < 0.9:
            ack = triggered + timedelta(seconds=rng.randint(30, 600))
            resolved = ack + timedelta(seconds=rng.randint(300, 7200))
            events.append(
                (
                    ack,
                    "acknowledge_log_entry",
                    user_ref,
                    "website",
                    f"Acknowledged by {person.name}.",
                    None,
                )
            )
            events.append(
                (
                    resolved,
                    "resolve_log_entry",
                    user_ref,
                    "website",
                    f"Resolved by {person.name}.",
                    None,
                )
            )
        else:
            resolved = triggered + timedelta(seconds=rng.randint(600, 3 * 3600))
            events.append(
                (
                    resolved,
                    "resolve_log_entry",
                    service_ref,
                    "timeout",
                    "Resolved by timeout.",
                    None,
                )
            )
        entries = []
        for at, kind, agent, channel, summary, user in events:
            entry_id = self.ids.long("R", 25)
            entry: Json = {
                "id": entry_id,
                "type": kind,
                "summary": summary,
                "self": f"{PD_API}/log_entries/{entry_id}",
                "html_url": None,
                "created_at": format_time(at),
                "agent": agent,
                "channel": {"type": channel},
                "incident": incident_ref,
                "teams": [team_ref],
                "contexts": [],
            }
            if agent.get("type") != "user_reference":
                entry["service"] = service_ref
            if kind == "trigger_log_entry":
                entry["event_details"] = {"description": title}
            if user is not None:
                entry["user"] = user
            entries.append(entry)
        last = events[-1]
        incident = {
            "id": incident_id,
            "type": "incident",
            "summary": incident_ref["summary"],
            "self": incident_ref["self"],
            "html_url": incident_ref["html_url"],
            "incident_number": number,
            "title": title,
            "created_at": format_time(triggered),
            "updated_at": format_time(last[0]),
            "status": "resolved",
            "incident_key": f"{rng.getrandbits(128):032x}",
            "service": service_ref,
            "assignments": [],
            "assigned_via": "escalation_policy",
            "acknowledgements": [],
            "last_status_change_at": format_time(last[0]),
            "last_status_change_by": last[2],
            "resolved_at": format_time(last[0]),
            "first_trigger_log_entry": {
                "id": entries[0]["id"],
                "type": "trigger_log_entry_reference",
                "self": entries[0]["self"],
                "html_url": None,
            },
            "escalation_policy": service["escalation_policy"],
            "teams": [team_ref],
            "priority": None,
            "urgency": "high",
            "alert_counts": {"all": 1, "triggered": 0, "resolved": 1},
            "pending_actions": [],
            "conference_bridge": None,
            "resolve_reason": None,
            "incident_type": {"name": "incident_default"},
        }
        return incident, entries


def _reference(kind: str, object_id: str, summary: str, path: str) -> Json:
    """A PagerDuty reference to an object (`{id, type: "<kind>_reference", ...}`)."""
    return {
        "id": object_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{PD_API}/{path}/{object_id}",
        "html_url": f"{PD_WEB}/{path}/{object_id}",
    }
