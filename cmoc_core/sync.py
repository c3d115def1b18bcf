"""Pulls PagerDuty, Status.io and GitLab into the database: idempotent, incremental, resumable.

Every page of data is written in its own transaction, and a stream's cursor moves only when the
whole stream succeeded, so a run that fails part-way keeps what it stored and the next run
repeats the unfinished stream; upserts by the APIs' ids make the repetition harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from cmoc_core import cadence, linking, maintenance, people
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiError
from cmoc_core.config import Settings
from cmoc_core.handbook import region_in
from cmoc_core.models import (
    Component,
    GitLabIssue,
    GitLabLabelEvent,
    Identity,
    IssueKind,
    Maintenance,
    MaintenanceMessage,
    OnCallEntry,
    PagerDutyIncident,
    PagerDutyLogEntry,
    ScheduleKind,
    StatusPageIncident,
    StatusPageMessage,
    SyncState,
    System,
)
from cmoc_core.sources import SOURCE_NAMES
from cmoc_core.storage import session_scope, upsert
from cmoc_core.synclock import sync_lock
from cmoc_core.timeutil import parse_time, utc_now

SOURCES = ("statusio", "gitlab", "pagerduty")
FIRST_SYNC_DAYS = 365
OVERLAP = timedelta(minutes=10)
COMPONENTS_REFRESH = timedelta(hours=24)
ACK_ROWS = ("acknowledged_at", "acknowledged_by", "statuspage_incident_id")
# How far back a re-pull may reach: no further than the product's history could start, and no
# more than ten years (a re-pull from 1900 would page through a century of empty windows).
EARLIEST_DAY = date(2000, 1, 1)
LONGEST_YEARS = 10

Progress = Callable[[str], None]


@dataclass
class StreamResult:
    """What one stream did in a run."""

    stream: str
    items: int = 0
    error: str | None = None
    skipped: str | None = None


@dataclass
class SyncReport:
    """The outcome of a sync run."""

    streams: list[StreamResult] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    busy: str | None = None

    @property
    def ok(self) -> bool:
        """The sync ran and no stream failed."""
        return self.busy is None and all(s.error is None for s in self.streams)

    @property
    def first_error(self) -> str | None:
        """The first failure's one-line reason, or why the sync did not start."""
        return self.busy or next((s.error for s in self.streams if s.error), None)

    def summary(self) -> str:
        """A readable multi-line summary."""
        if self.busy:
            return self.busy
        lines = []
        for s in self.streams:
            state = (
                f"FAILED: {s.error}"
                if s.error
                else (f"skipped: {s.skipped}" if s.skipped else "ok")
            )
            lines.append(f"{s.stream:<28} {s.items:>7} items  {state}")
        total = sum(self.requests.values())
        per_source = ", ".join(f"{k} {v}" for k, v in sorted(self.requests.items()))
        lines.append(f"requests: {total} ({per_source})")
        return "\n".join(lines)


@dataclass
class _Run:
    engine: Engine
    settings: Settings
    clients: Clients
    now: datetime
    since: datetime | None
    progress: Progress
    report: SyncReport
    stream: str = ""

    def state(self, stream: str) -> SyncState:
        with Session(self.engine) as session:
            return session.get(SyncState, stream) or SyncState(stream=stream)

    def window_start(self) -> tuple[datetime, bool]:
        """Where the current stream starts and whether this run is incremental."""
        cursor = self.state(self.stream).cursor
        if self.since is None and cursor is not None:
            return cursor - OVERLAP, True
        return self.since or self.now - timedelta(days=FIRST_SYNC_DAYS), False

    def write(
        self, rows_by_model: Iterable[tuple[type, list[dict[str, Any]], tuple[str, ...]]]
    ) -> None:
        with session_scope(self.engine) as session:
            for model, rows, keys in rows_by_model:
                upsert(session, model, rows, keys=keys)


def run_sync(
    *,
    engine: Engine,
    settings: Settings,
    clients: Clients,
    sources: Iterable[str] = SOURCES,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    holder: str = "a sync",
) -> SyncReport:
    """Sync the chosen sources; failures are recorded per stream and never undo stored data.

    One sync at a time per database: while another holds the sync lock, nothing is pulled and
    the report's `busy` says since when that sync runs. `holder` names this one in the lock.
    """
    with sync_lock(engine, holder=holder) as held:
        if not held:
            return SyncReport(busy=held.message)
        return _run_sync(
            engine=engine,
            settings=settings,
            clients=clients,
            sources=sources,
            since=since,
            now=now,
            progress=progress,
        )


def _run_sync(
    *,
    engine: Engine,
    settings: Settings,
    clients: Clients,
    sources: Iterable[str],
    since: datetime | None,
    now: datetime | None,
    progress: Progress | None,
) -> SyncReport:
    wanted = set(sources)
    run = _Run(
        engine,
        settings,
        clients,
        now or utc_now(),
        since,
        progress or (lambda _m: None),
        SyncReport(),
    )
    before = clients.requests_made()
    plan: list[tuple[str, str, Any, Callable[[_Run], int]]] = [
        ("statusio", "statusio.components", clients.statusio, _sync_components),
        ("statusio", "statusio.incidents", clients.statusio, _sync_statusio_incidents),
        ("statusio", "statusio.maintenance", clients.statusio, _sync_maintenance),
        ("gitlab", "gitlab.production", clients.gitlab, _issue_stream(IssueKind.PRODUCTION)),
        ("gitlab", "gitlab.label_events", clients.gitlab, _sync_label_events),
        ("gitlab", "gitlab.handover", clients.gitlab, _issue_stream(IssueKind.HANDOVER)),
        (
            "gitlab",
            "gitlab.contact_requests",
            clients.gitlab,
            _issue_stream(IssueKind.CONTACT_REQUEST),
        ),
        (
            "gitlab",
            "gitlab.practice_events",
            clients.gitlab,
            _issue_stream(IssueKind.PRACTICE_EVENT),
        ),
        ("pagerduty", "pagerduty.pages", clients.pagerduty, _sync_pages),
        ("pagerduty", "pagerduty.oncalls", clients.pagerduty, _sync_oncalls),
        ("pagerduty", "pagerduty.users", clients.pagerduty, _sync_users),
    ]
    failed_sources: set[str] = set()
    for source, stream, client, step in plan:
        if source not in wanted:
            continue
        result = StreamResult(stream)
        run.report.streams.append(result)
        if client is None:
            result.skipped = "not configured"
            continue
        if source in failed_sources:
            result.skipped = "an earlier stream of this source failed"
            continue
        run.progress(f"Syncing {stream}")
        run.stream = stream
        _mark(engine, stream, last_attempt_at=run.now)
        try:
            result.items = step(run)
        except ApiError as exc:
            result.error = str(exc)
        except (KeyError, TypeError, ValueError) as exc:
            # Only the kind of error: its text can quote what the service sent, secrets included.
            shape = type(exc).__name__
            result.error = (
                f"{SOURCE_NAMES[source]}: {stream} got an answer of an unexpected shape ({shape})"
            )
        except SQLAlchemyError as exc:
            result.error = f"database: {stream} could not be stored ({type(exc).__name__})"
        if result.error:
            failed_sources.add(source)
            _mark(engine, stream, last_error=result.error)
            run.progress(f"{stream} failed: {result.error}")
            continue
        _mark(
            engine,
            stream,
            cursor=run.now,
            last_success_at=run.now,
            last_error=None,
            items=result.items,
        )
    run.progress("Linking pages, incidents and people")
    with session_scope(engine) as session:
        refresh_links(session=session, settings=settings)
        people.refresh_people(session=session)
    after = clients.requests_made()
    run.report.requests = {k: after[k] - before.get(k, 0) for k in after}
    return run.report


def years_before(day: date, years: int) -> date:
    """The same day `years` years earlier (28 February for a 29 February without one)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def earliest_since(today: date) -> date:
    """The earliest day a sync may re-pull from."""
    return max(EARLIEST_DAY, years_before(today, LONGEST_YEARS))


def _mark(engine: Engine, stream: str, **values: Any) -> None:
    with session_scope(engine) as session:
        state = session.get(SyncState, stream) or SyncState(stream=stream)
        for name, value in values.items():
            setattr(state, name, value)
        session.add(state)


def _sync_components(run: _Run) -> int:
    state = run.state(run.stream)
    fresh = state.last_success_at and run.now - state.last_success_at < COMPONENTS_REFRESH
    if fresh and run.since is None:
        return 0
    assert run.clients.statusio is not None
    page_id = run.clients.statusio.statuspage_id
    rows = [
        {
            "id": f"{component['_id']}-{container['_id']}",
            "statuspage_id": page_id,
            "component_id": component["_id"],
            "container_id": container["_id"],
            "name": component.get("name") or "",
            "container_name": container.get("name") or "",
            "position": int(component.get("position") or 0),
        }
        for component in run.clients.statusio.components()
        for container in component.get("containers") or []
    ]
    run.write([(Component, rows, ("id",))])
    return len(rows)


def _sync_statusio_incidents(run: _Run) -> int:
    client = run.clients.statusio
    assert client is not None
    start, incremental = run.window_start()
    project = run.settings.gitlab_production_project
    with Session(run.engine) as session:
        known = {
            incident_id: (resolved, count)
            for incident_id, resolved, count in session.exec(
                select(StatusPageIncident.id, StatusPageIncident.resolved, _message_count()).where(
                    StatusPageIncident.statuspage_id == client.statuspage_id
                )
            )
        }
    written = 0
    for which in ("active", "resolved"):
        for page in client.incident_pages(which):
            incidents, messages = [], []
            for raw in page:
                incident, incident_messages = _statusio_incident(
                    raw, client.statuspage_id, which, project
                )
                if known.get(incident["id"]) != (incident["resolved"], len(incident_messages)):
                    incidents.append(incident)
                    messages.extend(incident_messages)
            run.write(
                [(StatusPageIncident, incidents, ("id",)), (StatusPageMessage, messages, ("id",))]
            )
            written += len(incidents)
            if which == "resolved" and incremental and not incidents:
                break
            opened = [parse_time(raw.get("datetime_open")) for raw in page]
            if which == "resolved" and all(o is not None and o < start for o in opened):
                break
    return written


def _message_count() -> Any:
    return (
        select(func.count(col(StatusPageMessage.id)))
        .where(StatusPageMessage.incident_id == StatusPageIncident.id)
        .scalar_subquery()
    )


def _statusio_incident(
    raw: dict[str, Any], page_id: str, which: str, project: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    incident_id = str(raw["_id"])
    messages = []
    for position, message in enumerate(raw.get("messages") or []):
        posted = parse_time(message.get("datetime"))
        if posted is None:
            continue
        messages.append(
            {
                "id": str(message.get("_id") or f"{incident_id}-{position}"),
                "incident_id": incident_id,
                "details": message.get("details") or "",
                **cadence.announcement_columns(message.get("details")),
                "state": int(message.get("state") or 0),
                "status": int(message.get("status") or 0),
                "posted_at": posted,
            }
        )
    messages.sort(key=lambda m: m["posted_at"])
    opened = parse_time(raw.get("datetime_open")) or (
        messages[0]["posted_at"] if messages else None
    )
    if opened is None:
        cause = f"incident {incident_id} has no opening time"
        raise ApiError(SOURCE_NAMES["statusio"], "list incidents", cause)
    incident = {
        "id": incident_id,
        "statuspage_id": page_id,
        "name": raw.get("name") or "(untitled)",
        "datetime_open": opened,
        "first_message_at": messages[0]["posted_at"] if messages else opened,
        "resolved": which == "resolved",
        "post_mortem_url": raw.get("post_mortem_url") or None,
        "components": [c.get("name") or "" for c in raw.get("components_affected") or []],
        "production_issue_iid": linking.first_issue_iid((m["details"] for m in messages), project),
    }
    return incident, messages


def _sync_maintenance(run: _Run) -> int:
    client = run.clients.statusio
    assert client is not None
    windows, messages = maintenance.rows(client.maintenances(), client.statuspage_id)
    run.write([(Maintenance, windows, ("id",)), (MaintenanceMessage, messages, ("id",))])
    return len(windows)


def _issue_stream(kind: IssueKind) -> Callable[[_Run], int]:
    def sync(run: _Run) -> int:
        settings = run.settings
        project, labels = {
            IssueKind.PRODUCTION: (settings.gitlab_production_project, None),
            IssueKind.HANDOVER: (settings.gitlab_handover_project, None),
            IssueKind.CONTACT_REQUEST: (
                settings.gitlab_contact_request_project,
                settings.gitlab_contact_request_label,
            ),
            IssueKind.PRACTICE_EVENT: (
                settings.gitlab_training_project,
                settings.gitlab_practice_event_label,
            ),
        }[kind]
        if not project:
            return 0
        assert run.clients.gitlab is not None
        start, _ = run.window_start()
        written = 0
        for page in run.clients.gitlab.issues(project, labels=labels, updated_after=start):
            issues = [gitlab_issue_row(raw, project, kind) for raw in page]
            people = _gitlab_people(page)
            run.write(
                [(GitLabIssue, issues, ("id",)), (Identity, people, ("system", "external_id"))]
            )
            written += len(issues)
        return written

    return sync


def gitlab_issue_row(raw: dict[str, Any], project: str, kind: IssueKind) -> dict[str, Any]:
    """The stored row of one issue as the GitLab API returns it."""
    labels = [str(label) for label in raw.get("labels") or []]
    return {
        "id": int(raw["id"]),
        "project_path": project,
        "iid": int(raw["iid"]),
        "kind": kind,
        "title": raw.get("title") or "",
        "description": raw.get("description"),
        "state": raw.get("state") or "opened",
        "confidential": bool(raw.get("confidential")),
        "created_at": parse_time(raw.get("created_at")),
        "updated_at": parse_time(raw.get("updated_at")) or parse_time(raw.get("created_at")),
        "closed_at": parse_time(raw.get("closed_at")),
        "labels": labels,
        "severity": linking.severity_from_labels(labels),
        "author_id": _user_id(raw.get("author")),
        "assignee_ids": [_user_id(a) for a in raw.get("assignees") or [] if _user_id(a)],
        "web_url": raw.get("web_url"),
    }


def _user_id(user: Any) -> str | None:
    return str(user["id"]) if isinstance(user, dict) and user.get("id") is not None else None


def _gitlab_people(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users = [issue.get("author") for issue in issues]
    users += [a for issue in issues for a in issue.get("assignees") or []]
    return [
        {
            "system": System.GITLAB,
            "external_id": str(user["id"]),
            "username": user.get("username"),
            "name": user.get("name") or user.get("username") or str(user["id"]),
            "email": user.get("public_email") or user.get("email") or None,
        }
        for user in users
        if isinstance(user, dict) and user.get("id") is not None
    ]


def _sync_label_events(run: _Run) -> int:
    """Label history of production issues that incidents link to or that carry the label."""
    client = run.clients.gitlab
    assert client is not None
    project = run.settings.gitlab_production_project
    with Session(run.engine) as session:
        linked = set(
            session.exec(
                select(StatusPageIncident.production_issue_iid).where(
                    col(StatusPageIncident.production_issue_iid).is_not(None)
                )
            )
        )
        issues = session.exec(
            select(GitLabIssue).where(
                GitLabIssue.kind == IssueKind.PRODUCTION, GitLabIssue.project_path == project
            )
        ).all()
    wanted = [
        issue
        for issue in issues
        if (issue.iid in linked or "Incident-Comms::Status-Page" in issue.labels)
        and issue.label_events_synced_for != issue.updated_at
    ]
    written = 0
    for issue in wanted:
        events = [
            {
                "id": int(event["id"]),
                "issue_id": issue.id,
                "label_name": (event.get("label") or {}).get("name"),
                "action": event.get("action") or "add",
                "created_at": parse_time(event.get("created_at")),
                "user_id": _user_id(event.get("user")),
            }
            for event in client.label_events(project, issue.iid)
            if event.get("created_at")
        ]
        with session_scope(run.engine) as session:
            upsert(session, GitLabLabelEvent, events, keys=("id",))
            stored = session.get(GitLabIssue, issue.id)
            assert stored is not None
            stored.label_events_synced_for = issue.updated_at
            session.add(stored)
        written += len(events)
    return written


def _sync_pages(run: _Run) -> int:
    """CMOC pages with their acknowledgements, from the incident list and the bulk log."""
    client = run.clients.pagerduty
    assert client is not None
    services = set(run.settings.pagerduty_cmoc_service_ids)
    start, incremental = run.window_start()
    written = 0
    if not incremental:
        for page in client.incidents(since=start, until=run.now, service_ids=sorted(services)):
            written += _store_pages(run, [i for i in page if _service_of(i) in services])
    for page in client.log_entries(since=start, until=run.now, include_incidents=incremental):
        if incremental:
            embedded = [
                e["incident"]
                for e in page
                if isinstance(e.get("incident"), dict) and "created_at" in e["incident"]
            ]
            written += _store_pages(run, [i for i in embedded if _service_of(i) in services])
        _store_log_entries(run, page, services)
    return written


def _service_of(incident: dict[str, Any]) -> str | None:
    service = incident.get("service")
    return service.get("id") if isinstance(service, dict) else None


def _store_pages(run: _Run, incidents: list[dict[str, Any]]) -> int:
    project = run.settings.gitlab_production_project
    rows, payload_acks = [], {}
    for raw in incidents:
        title = raw.get("title") or raw.get("summary") or ""
        text = f"{title} {raw.get('description') or ''}"
        resolved_at = parse_time(raw.get("resolved_at"))
        if resolved_at is None and raw.get("status") == "resolved":
            resolved_at = parse_time(raw.get("last_status_change_at"))
        rows.append(
            {
                "id": raw["id"],
                "incident_number": int(raw.get("incident_number") or 0),
                "title": title,
                "service_id": _service_of(raw) or "",
                "status": raw.get("status") or "triggered",
                "urgency": raw.get("urgency"),
                "created_at": parse_time(raw["created_at"]),
                "resolved_at": resolved_at,
                "html_url": raw.get("html_url"),
                "production_issue_iid": linking.iid_in_page_text(text, project),
            }
        )
        acks = sorted(
            (parse_time(a.get("at")), _user_id(a.get("acknowledger")))
            for a in raw.get("acknowledgements") or []
            if a.get("at")
        )
        if acks:
            payload_acks[raw["id"]] = acks[0]
    if not rows:
        return 0
    with session_scope(run.engine) as session:
        upsert(session, PagerDutyIncident, rows, keys=("id",), keep=ACK_ROWS)
        _refresh_acknowledgements(session, [r["id"] for r in rows], payload_acks)
    return len(rows)


def _store_log_entries(run: _Run, entries: list[dict[str, Any]], services: set[str]) -> None:
    rows, people = [], []
    for entry in entries:
        incident = entry.get("incident") or {}
        service = entry.get("service") or incident.get("service") or {}
        if service.get("id") not in services or not entry.get("created_at"):
            continue
        agent = entry.get("agent") or {}
        rows.append(
            {
                "id": entry["id"],
                "incident_id": incident.get("id"),
                "type": entry.get("type") or "",
                "created_at": parse_time(entry["created_at"]),
                "agent_id": agent.get("id"),
                "agent_type": agent.get("type"),
            }
        )
        if agent.get("type") == "user_reference" and agent.get("id"):
            people.append(_pd_reference(agent))
    if not rows:
        return
    with session_scope(run.engine) as session:
        known = set(
            session.exec(
                select(PagerDutyIncident.id).where(
                    col(PagerDutyIncident.id).in_({r["incident_id"] for r in rows})
                )
            )
        )
        rows = [r for r in rows if r["incident_id"] in known]
        upsert(session, PagerDutyLogEntry, rows, keys=("id",))
        upsert(session, Identity, people, keys=("system", "external_id"))
        _refresh_acknowledgements(session, sorted({r["incident_id"] for r in rows}), {})


def _pd_reference(reference: dict[str, Any]) -> dict[str, Any]:
    return {
        "system": System.PAGERDUTY,
        "external_id": reference["id"],
        "name": reference.get("summary") or reference["id"],
    }


def _refresh_acknowledgements(
    session: Session,
    incident_ids: list[str],
    payload_acks: dict[str, tuple[datetime | None, str | None]],
) -> None:
    """Acknowledged = earliest acknowledge log entry, else the earliest acknowledgement listed."""
    if not incident_ids:
        return
    earliest: dict[str, tuple[datetime, str | None]] = {}
    entries = session.exec(
        select(PagerDutyLogEntry).where(
            col(PagerDutyLogEntry.incident_id).in_(incident_ids),
            PagerDutyLogEntry.type == "acknowledge_log_entry",
        )
    )
    for entry in entries:
        if entry.incident_id not in earliest or entry.created_at < earliest[entry.incident_id][0]:
            earliest[entry.incident_id] = (entry.created_at, entry.agent_id)
    for incident in session.exec(
        select(PagerDutyIncident).where(col(PagerDutyIncident.id).in_(incident_ids))
    ):
        found = earliest.get(incident.id) or payload_acks.get(incident.id)
        if found and (incident.acknowledged_at, incident.acknowledged_by) != found:
            incident.acknowledged_at, incident.acknowledged_by = found
            session.add(incident)


def _sync_oncalls(run: _Run) -> int:
    client = run.clients.pagerduty
    assert client is not None
    kinds = dict.fromkeys(run.settings.pagerduty_cmoc_schedule_ids, ScheduleKind.CMOC)
    kinds.update(dict.fromkeys(run.settings.pagerduty_shadow_schedule_ids, ScheduleKind.SHADOW))
    if not kinds:
        return 0
    start, _ = run.window_start()
    written = 0
    regions: dict[str, str] = {}
    for page in client.oncalls(since=start, until=run.now, schedule_ids=sorted(kinds)):
        rows, people = [], []
        for entry in page:
            schedule_ref = entry.get("schedule") or {}
            schedule = schedule_ref.get("id")
            user = entry.get("user") or {}
            begin = parse_time(entry.get("start"))
            if schedule not in kinds or not user.get("id") or begin is None:
                continue
            region = region_in(schedule_ref.get("summary"))
            if region is not None:
                regions[schedule] = region
            rows.append(
                {
                    "schedule_id": schedule,
                    "schedule_kind": kinds[schedule],
                    "user_id": user["id"],
                    "start": begin,
                    "end": parse_time(entry.get("end")),
                    "region": region,
                }
            )
            people.append(_pd_reference(user))
        with session_scope(run.engine) as session:
            upsert(session, Identity, people, keys=("system", "external_id"))
            _merge_oncalls(session, rows)
        written += len(rows)
    _fill_regions(run.engine, regions)
    return written


def _fill_regions(engine: Engine, regions: dict[str, str]) -> None:
    """Give every stored span of a schedule its region, where none is stored yet.

    The region comes from the schedule's name, which only the API tells: spans stored before
    regions were kept (or outside every window read since) learn it from any later read.
    """
    if not regions:
        return
    with session_scope(engine) as session:
        for schedule, region in sorted(regions.items()):
            session.execute(
                update(OnCallEntry)
                .where(
                    col(OnCallEntry.schedule_id) == schedule,
                    col(OnCallEntry.region).is_(None),
                )
                .values(region=region)
            )


def _merge_oncalls(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store spans merged with stored spans of the same user and schedule that touch or overlap.

    Whether PagerDuty clips an entry to the query window or not, a span read twice (or in two
    windows) then ends up as one row.
    """
    forever = datetime.max.replace(tzinfo=UTC)
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_pair.setdefault((row["schedule_id"], row["user_id"]), []).append(row)
    for (schedule, user), spans in by_pair.items():
        low = min(s["start"] for s in spans)
        high = max(s["end"] or forever for s in spans)
        stored = session.exec(
            select(OnCallEntry).where(
                OnCallEntry.schedule_id == schedule,
                OnCallEntry.user_id == user,
                OnCallEntry.start <= high,
                or_(col(OnCallEntry.end).is_(None), col(OnCallEntry.end) >= low),
            )
        ).all()
        intervals = sorted(
            [(s["start"], s["end"] or forever) for s in spans]
            + [(e.start, e.end or forever) for e in stored]
        )
        merged: list[list[datetime]] = []
        for start, end in intervals:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        region = spans[0]["region"]
        spans_now = sorted((e.start, e.end or forever) for e in stored)
        unchanged = spans_now == [tuple(m) for m in merged]
        if unchanged and all(e.region == region for e in stored):
            continue
        for entry in stored:
            session.delete(entry)
        session.flush()
        kind = spans[0]["schedule_kind"]
        session.add_all(
            OnCallEntry(
                schedule_id=schedule,
                schedule_kind=kind,
                user_id=user,
                start=start,
                end=None if end == forever else end,
                region=region,
            )
            for start, end in merged
        )


def _sync_users(run: _Run) -> int:
    """PagerDuty users, for their emails; only when an identity has not been looked up yet."""
    with Session(run.engine) as session:
        unresolved = session.exec(
            select(Identity.id).where(
                Identity.system == System.PAGERDUTY, col(Identity.username).is_(None)
            )
        ).first()
    if unresolved is None and run.since is None:
        return 0
    assert run.clients.pagerduty is not None
    written = 0
    for page in run.clients.pagerduty.users():
        rows = [
            {
                "system": System.PAGERDUTY,
                "external_id": user["id"],
                "username": user.get("email") or user["id"],
                "name": user.get("name") or user["id"],
                "email": user.get("email"),
            }
            for user in page
            if user.get("id")
        ]
        run.write([(Identity, rows, ("system", "external_id"))])
        written += len(rows)
    with session_scope(run.engine) as session:
        for identity in session.exec(
            select(Identity).where(
                Identity.system == System.PAGERDUTY, col(Identity.username).is_(None)
            )
        ):
            identity.username = identity.external_id
            session.add(identity)
    return written


def refresh_links(*, session: Session, settings: Settings) -> None:
    """Link every CMOC page to its status-page incident (kpis.md "Linking")."""
    opened = [
        linking.OpenedIncident(i.id, i.datetime_open, i.production_issue_iid)
        for i in session.exec(
            select(StatusPageIncident).order_by(col(StatusPageIncident.datetime_open))
        )
    ]
    for page in session.exec(select(PagerDutyIncident)):
        target = linking.link_page(
            triggered_at=page.created_at, issue_iid=page.production_issue_iid, incidents=opened
        )
        if target != page.statuspage_incident_id:
            page.statuspage_incident_id = target
            session.add(page)
