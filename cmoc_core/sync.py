"""Pulls PagerDuty, Status.io and GitLab into the database: idempotent, incremental, resumable.

Data is written a page (or a batch of pages) of each listing at a time, each in its own
transaction, and a stream's cursor moves only when the whole stream succeeded, so a run that
fails part-way keeps what it stored and the next run repeats the unfinished stream; upserts by
the APIs' ids make the repetition harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Update, bindparam, exists, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from cmoc_core import cadence, linking, maintenance, people
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiAuthError, ApiError, ApiRejected, ApiUnavailable
from cmoc_core.clients.pagerduty import (
    MAX_WINDOW,
    OFFSET_CEILING,
    PAGE_SIZE,
    OffsetCeilingReached,
)
from cmoc_core.config import Settings
from cmoc_core.coverage import SOURCES
from cmoc_core.handbook import region_in
from cmoc_core.models import (
    Component,
    GitLabIssue,
    GitLabLabelEvent,
    GitLabUser,
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
from cmoc_core.synclock import Held, sync_lock
from cmoc_core.timeutil import parse_time, utc_now

FIRST_SYNC_DAYS = 365
OVERLAP = timedelta(minutes=10)
COMPONENTS_REFRESH = timedelta(hours=24)
ACK_ROWS = ("acknowledged_at", "acknowledged_by", "statuspage_incident_id")
ACKNOWLEDGE = "acknowledge_log_entry"
# On-call entries are read this far ahead, so the shift on call now and the next one are stored
# before they start (PagerDuty's /oncalls takes `until` up to 90 days ahead).
ONCALL_LEAD = timedelta(days=14)
_FOREVER = datetime.max.replace(tzinfo=UTC)  # the end of a span with none
# A page whose title names no production issue is asked for its `body.details` (one request
# each) only while it is this recent: the cockpit needs the link live; older pages are linked
# by the time rule of kpis.md "Linking", so the first sync does not cost a request per page.
DETAILS_LOOKBACK = timedelta(days=7)
# GitLab accounts are looked up once for their e-mail and refreshed rarely, a few per run.
GITLAB_USER_REFRESH = timedelta(days=30)
GITLAB_USER_REFRESHES_PER_RUN = 5
# Newly resolved status-page incidents up to this many are read one by one; more, by listing.
SINGLE_INCIDENT_READS = 5
# How far back a re-pull may reach: no further than the product's history could start, and no
# more than ten years (a re-pull from 1900 would page through a century of empty windows).
# Listed pages are stored this many at a time, at least.
PAGE_BATCH = 1000
# Log entries of this many pages are stored together when they are read page by page.
PAGE_LOG_BATCH = 100
# Log entries read from the account's log are stored this many at a time, at least.
LOG_ENTRY_BATCH = 1000
# The account log splits a window holding more than the offset ceiling into parts this big, each
# costing one more first request (see PagerDutyClient._window).
SPLIT_PART = OFFSET_CEILING * 8 // 10

Progress = Callable[[str], None]

# Each stream in words for people; the names themselves stay the database's and the command's.
STREAM_NAMES = {
    "statusio.components": "Status.io components",
    "statusio.incidents": "Status.io incidents",
    "statusio.maintenance": "Status.io maintenance",
    "gitlab.production": "GitLab production issues",
    "gitlab.label_events": "GitLab label events",
    "gitlab.handover": "GitLab handover issues",
    "gitlab.contact_requests": "GitLab contact requests",
    "gitlab.practice_events": "GitLab practice events",
    "gitlab.users": "GitLab users",
    "pagerduty.pages": "PagerDuty CMOC pages",
    "pagerduty.oncalls": "PagerDuty on-call shifts",
    "pagerduty.users": "PagerDuty users",
}
NOT_CONFIGURED = "not configured"
AFTER_FAILURE = "an earlier stream of this source failed"
KEPT = "Nothing already stored is lost"
SETTINGS = "with Test connection on the Sync & settings page"


class AckSource(StrEnum):
    """Where a first sync reads the log entries telling who acknowledged each page, and when.

    Resolved incidents list no `acknowledgements` (PagerDuty/api-schema openapiv3.json, the
    Incident schema; `include[]=first_trigger_log_entries` adds only the trigger), so the first
    acknowledgement of a resolved page is only in its log entries.
    """

    # The cheaper of ACCOUNT_LOG and PAGE_LOGS, by counts asked of PagerDuty first.
    AUTO = "auto"
    # `GET /log_entries` over the whole window: it has no service filter, so it reads every
    # service's entries and costs grow with the whole account.
    ACCOUNT_LOG = "account_log"
    # `GET /incidents/{id}/log_entries` for each page: one request a page.
    PAGE_LOGS = "page_logs"
    # `GET /log_entries` over each stretch of time some page was open. Never chosen by AUTO: it
    # misses entries made after a page was resolved, and it costs a request or more a stretch:
    # far more than ACCOUNT_LOG on a quiet account, about as much on a busy one, where pages are
    # open much of the time (benchmarks/sync_scale.py).
    PAGE_WINDOWS = "page_windows"


@dataclass
class StreamResult:
    """What one stream did in a run."""

    stream: str
    items: int = 0
    error: str | None = None  # one line for the command's summary and exit reason
    skipped: str | None = None
    note: str | None = None
    failure: str | None = None  # the error for people: what happened and what to do

    @property
    def name(self) -> str:
        """The stream in words, such as `GitLab label events`."""
        return STREAM_NAMES[self.stream]

    @property
    def service(self) -> str:
        """The service the stream reads, such as `GitLab`."""
        return SOURCE_NAMES[self.stream.partition(".")[0]]

    def outcome(self) -> str:
        """The stream's outcome in one line for people."""
        if self.failure:
            return f"{self.name}: failed"
        if self.skipped == NOT_CONFIGURED:
            return f"{self.name}: not synced, as {self.service} is not configured"
        if self.skipped:
            return f"{self.name}: not synced after an earlier {self.service} failure"
        return f"{self.name}: {self.items:,} {'item' if self.items == 1 else 'items'}"


@dataclass
class SyncReport:
    """The outcome of a sync run."""

    streams: list[StreamResult] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    busy: str | None = None
    refused: Held | None = None  # who held the lock when this sync was refused
    # Where a first sync read the pages' acknowledgements; None when it did not choose.
    ack_source: AckSource | None = None

    @property
    def ok(self) -> bool:
        """The sync ran and no stream failed."""
        return self.busy is None and all(s.error is None for s in self.streams)

    @property
    def first_error(self) -> str | None:
        """The first failure's one-line reason, or why the sync did not start."""
        return self.busy or next((s.error for s in self.streams if s.error), None)

    @property
    def first_failure(self) -> str | None:
        """The first failure for people, with what to do, or why the sync did not start."""
        return self.busy or next((s.failure for s in self.streams if s.failure), None)

    def outcome_lines(self) -> list[str]:
        """The run for people: a line per stream, then the requests made of each service."""
        if self.busy:
            return [self.busy]
        asked = {SOURCE_NAMES.get(k, k): v for k, v in self.requests.items() if v}
        per_service = ", ".join(f"{name} {count:,}" for name, count in sorted(asked.items()))
        total = f"Requests made: {sum(asked.values()):,}"
        return [
            *(s.outcome() for s in self.streams),
            f"{total} ({per_service})" if per_service else total,
        ]

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
            if s.note:
                lines.append(f"{'':<28} {s.note}")
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
    note: str | None = None
    ack_source: AckSource = AckSource.AUTO

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
    ack_source: AckSource = AckSource.AUTO,
) -> SyncReport:
    """Sync the chosen sources; failures are recorded per stream and never undo stored data.

    One sync at a time per database: while another holds the sync lock, nothing is pulled and
    the report's `busy` says since when that sync runs. `holder` names this one in the lock.
    `ack_source` says where a first sync reads acknowledgements (AUTO: the cheaper way).
    """
    with sync_lock(engine, holder=holder) as held:
        if not held:
            return SyncReport(busy=held.message, refused=held)
        return _run_sync(
            engine=engine,
            settings=settings,
            clients=clients,
            sources=sources,
            since=since,
            now=now,
            progress=progress,
            ack_source=ack_source,
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
    ack_source: AckSource,
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
        ack_source=ack_source,
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
        ("gitlab", "gitlab.users", clients.gitlab, _sync_gitlab_users),
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
            result.skipped = NOT_CONFIGURED
            continue
        if source in failed_sources:
            result.skipped = AFTER_FAILURE
            continue
        run.progress(f"Syncing {result.name}")
        run.stream = stream
        run.note = None
        _mark(engine, stream, last_attempt_at=run.now)
        try:
            result.items = step(run)
            result.note = run.note
        except ApiError as exc:
            result.error = str(exc)
            result.failure = _api_failure(result.name, exc)
        except (KeyError, TypeError, ValueError) as exc:
            # Only the kind of error: its text can quote what the service sent, secrets included.
            shape = type(exc).__name__
            result.error = (
                f"{SOURCE_NAMES[source]}: {stream} got an answer of an unexpected shape ({shape})"
            )
            result.failure = _unreadable(result.name, SOURCE_NAMES[source])
        except SQLAlchemyError as exc:
            result.error = f"database: {stream} could not be stored ({type(exc).__name__})"
            result.failure = (
                f"{result.name} could not be synced: what was read could not be stored in the "
                f"database. {KEPT}: try Sync now again in a few minutes; if it keeps failing, "
                "ask whoever runs this app to check the database."
            )
        if result.error:
            failed_sources.add(source)
            _mark(engine, stream, last_error=result.failure)
            run.progress(result.failure or result.error)
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


def _api_failure(name: str, exc: ApiError) -> str:
    """A service's refusal or silence for people: what it said, and what to do."""
    said = f"{name} could not be synced ({exc.api}: {exc.cause})."
    if isinstance(exc, ApiAuthError):
        return f"{said} Check {exc.api}'s credentials {SETTINGS}, then try Sync now again."
    if isinstance(exc, ApiRejected):
        return f"{said} Check {exc.api}'s settings {SETTINGS}, then try Sync now again."
    if isinstance(exc, ApiUnavailable):
        return (
            f"{said} {KEPT}: try Sync now again in a few minutes; if it keeps failing, "
            f"check {exc.api} {SETTINGS}."
        )
    return f"{said} {_unreadable_advice(exc.api)}"


def _unreadable(name: str, service: str) -> str:
    """An answer of a shape this app cannot read, for people, with what to do."""
    return (
        f"{name} could not be synced: {service} sent an answer this app cannot read. "
        f"{_unreadable_advice(service)}"
    )


def _unreadable_advice(service: str) -> str:
    return (
        f"{KEPT}: try Sync now again later; if it keeps failing, ask whoever runs this app to "
        f"look into it, as {service} may have changed its answers."
    )


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
    """Active incidents in full; resolved ones by comparing id sets, never by list order.

    The lists' order, page size and first page number are undocumented (see `incident_pages`),
    so a run never stops on a page's dates or on a page without changes: it asks for every id
    at once (`incidents/{id}`), reads only the resolved incidents not yet stored as resolved,
    and reads one by one any listed id the pages did not show.
    """
    client = run.clients.statusio
    assert client is not None
    _, incremental = run.window_start()
    with Session(run.engine) as session:
        known: dict[str, tuple[bool, int]] = {
            incident_id: (resolved, count)
            for incident_id, resolved, count in session.exec(
                select(StatusPageIncident.id, StatusPageIncident.resolved, _message_count()).where(
                    StatusPageIncident.statuspage_id == client.statuspage_id
                )
            )
        }
    listed = client.incident_ids()
    pages = client.incident_pages("active", until_seen=listed.active)
    written, seen = _store_statusio_pages(run, pages, "active", known)
    unseen_active = listed.active - seen
    wanted = set(listed.resolved)
    if incremental:
        wanted = {i for i in wanted if not known.get(i, (False, 0))[0]}
    if not incremental or len(wanted) > SINGLE_INCIDENT_READS:
        # A first sync reads to the end of the list even when no resolved id was listed.
        pages = client.incident_pages("resolved", until_seen=wanted or None)
        stored, seen = _store_statusio_pages(run, pages, "resolved", known)
        written += stored
        wanted -= seen
    for which, unseen in (("active", unseen_active), ("resolved", wanted)):
        for incident_id in sorted(unseen):
            incident = client.incident(incident_id)
            written += _store_statusio_incidents(run, [incident], which, known)
    return written


def _store_statusio_pages(
    run: _Run, pages: Iterable[list[dict[str, Any]]], which: str, known: dict[str, tuple[bool, int]]
) -> tuple[int, set[str]]:
    """Store the pages' new or changed incidents; returns how many, and every id the pages held."""
    written, seen = 0, set[str]()
    for page in pages:
        written += _store_statusio_incidents(run, page, which, known)
        seen.update(str(raw.get("_id")) for raw in page)
    return written, seen


def _store_statusio_incidents(
    run: _Run, page: list[dict[str, Any]], which: str, known: dict[str, tuple[bool, int]]
) -> int:
    """Store the incidents of a page that are new or changed; returns how many."""
    client = run.clients.statusio
    assert client is not None
    project = run.settings.gitlab_production_project
    incidents, messages = [], []
    for raw in page:
        incident, incident_messages = _statusio_incident(raw, client.statuspage_id, which, project)
        if known.get(incident["id"]) != (incident["resolved"], len(incident_messages)):
            incidents.append(incident)
            messages.extend(incident_messages)
            known[incident["id"]] = (incident["resolved"], len(incident_messages))
    run.write([(StatusPageIncident, incidents, ("id",)), (StatusPageMessage, messages, ("id",))])
    return len(incidents)


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
    """The accounts of the issues' authors and assignees, without e-mail.

    Authors and assignees are GitLab's UserBasic (gitlabhq lib/api/entities/user_basic.rb:
    id, username, name, state, avatar_url, web_url): the e-mail comes from the looked-up
    account (`gitlab.users`), and these rows never overwrite it.
    """
    users = [issue.get("author") for issue in issues]
    users += [a for issue in issues for a in issue.get("assignees") or []]
    return [
        {
            "system": System.GITLAB,
            "external_id": str(user["id"]),
            "username": user.get("username"),
            "name": user.get("name") or user.get("username") or str(user["id"]),
        }
        for user in users
        if isinstance(user, dict) and user.get("id") is not None
    ]


def _sync_gitlab_users(run: _Run) -> int:
    """Look up each GitLab account not looked up yet, and refresh a few old lookups."""
    client = run.clients.gitlab
    assert client is not None
    with Session(run.engine) as session:
        accounts = {
            int(external_id)
            for external_id in session.exec(
                select(Identity.external_id).where(Identity.system == System.GITLAB)
            )
            if external_id.isdigit()
        }
        looked_up = {user.id: user.looked_up_at for user in session.exec(select(GitLabUser))}
    unknown = sorted(accounts - set(looked_up))
    stale = sorted(
        (at, user_id)
        for user_id, at in looked_up.items()
        if user_id in accounts and run.now - at >= GITLAB_USER_REFRESH
    )[:GITLAB_USER_REFRESHES_PER_RUN]
    for user_id in [*unknown, *(user_id for _, user_id in stale)]:
        account = client.user(user_id)
        row = {
            "id": user_id,
            "username": account.username if account else None,
            "name": account.name if account else None,
            "email": account.email if account else None,
            "found": account is not None,
            "looked_up_at": run.now,
        }
        with session_scope(run.engine) as session:
            upsert(session, GitLabUser, [row], keys=("id",))
            session.execute(
                update(Identity)
                .where(
                    col(Identity.system) == System.GITLAB,
                    col(Identity.external_id) == str(user_id),
                )
                .values(email=row["email"])
            )
    return len(unknown) + len(stale)


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
    """CMOC pages with their acknowledgements.

    A first sync lists the CMOC services' incidents, then reads their log entries where it
    costs fewer requests (see AckSource). An incremental sync reads the account's log since the
    last run, with the incidents embedded: one request covers an hour of a large account.
    """
    client = run.clients.pagerduty
    assert client is not None
    services = set(run.settings.pagerduty_cmoc_service_ids)
    start, incremental = run.window_start()
    written = 0
    if incremental:
        for page in client.log_entries(since=start, until=run.now, include_incidents=True):
            embedded = [
                e["incident"]
                for e in page
                if isinstance(e.get("incident"), dict) and "created_at" in e["incident"]
            ]
            cmoc = [i for i in embedded if _service_of(i) in services]
            written += len(_store_pages(run, cmoc))
            _store_log_entries(run, page)
        return written
    spans: list[tuple[str, datetime, datetime]] = []
    listed: list[dict[str, Any]] = []
    acks: _PayloadAcks = {}
    pages = client.incidents(since=start, until=run.now, service_ids=sorted(services))
    for page in chain(pages, [[]]):
        # Rows, not the incidents' JSON, are kept until a batch is stored (see _store_in_batches).
        rows, page_acks = _page_rows([i for i in page if _service_of(i) in services])
        listed += rows
        acks.update(page_acks)
        if listed and (len(listed) >= PAGE_BATCH or not page):
            spans += [_open_span(row, run.now) for row in _write_pages(run, listed, acks)]
            listed, acks = [], {}
    written = len(spans)
    source, why = _ack_source(run, start, len(spans))
    run.note = f"acknowledgements from {why}"
    run.report.ack_source = source
    if source is AckSource.ACCOUNT_LOG:
        _store_in_batches(run, client.log_entries(since=start, until=run.now))
    elif source is AckSource.PAGE_LOGS:
        ids = list(dict.fromkeys(incident_id for incident_id, _, _ in spans))
        for first in range(0, len(ids), PAGE_LOG_BATCH):
            entries = [
                entry
                for incident_id in ids[first : first + PAGE_LOG_BATCH]
                for page in client.incident_log_entries(incident_id)
                for entry in page
            ]
            _store_log_entries(run, entries)
    else:
        _store_in_batches(
            run,
            (
                page
                for since, until in _merged_spans(spans)
                for page in client.log_entries(since=since, until=until)
            ),
        )
    return written


def store_listed_pages(
    *,
    engine: Engine,
    settings: Settings,
    clients: Clients,
    incidents: list[dict[str, Any]],
    now: datetime,
) -> list[str]:
    """Store incidents listed outside a sync (the new-page check) as a sync stores CMOC pages.

    Returns the ids of the CMOC pages the database did not hold before, oldest first. A new
    page whose title names no production issue costs one `body.details` read, as in a sync.
    """
    services = set(settings.pagerduty_cmoc_service_ids)
    cmoc = [i for i in incidents if isinstance(i, dict) and _service_of(i) in services]
    if not cmoc:
        return []
    with Session(engine) as session:
        ids = [incident["id"] for incident in cmoc]
        known = set(session.execute(_KNOWN_PAGES, {"ids": ids}).scalars())
    run = _Run(engine, settings, clients, now, None, lambda _m: None, SyncReport())
    run.stream = "pagerduty.pages"
    _store_pages(run, cmoc)
    return [incident_id for incident_id in dict.fromkeys(ids) if incident_id not in known]


def _store_in_batches(run: _Run, pages: Iterable[list[dict[str, Any]]]) -> None:
    """Store log entries read page by page, LOG_ENTRY_BATCH or more at a time.

    Only the facts stored are kept between pages, not the entries' JSON: long-lived objects
    make Python's full garbage collections more frequent and slower.
    """
    batch: list[_LogFact] = []
    for page in pages:
        batch += _log_facts(page)
        if len(batch) >= LOG_ENTRY_BATCH:
            _store_log_facts(run, batch)
            batch = []
    _store_log_facts(run, batch)


def _open_span(row: dict[str, Any], now: datetime) -> tuple[str, datetime, datetime]:
    """A stored page's id and the time it was open: from its trigger to its resolution."""
    created: datetime = row["created_at"] or now
    resolved: datetime = row["resolved_at"] or now
    # A second more, so that the window (whose `until` is exclusive) holds the resolution.
    return row["id"], created, min(max(resolved, created) + timedelta(seconds=1), now)


def _merged_spans(spans: list[tuple[str, datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The stretches of time in which at least one page was open."""
    merged: list[list[datetime]] = []
    for _, start, end in sorted(spans, key=lambda span: span[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged if start < end]


def _ack_source(run: _Run, start: datetime, pages: int) -> tuple[AckSource, str]:
    """Where this first sync reads log entries, and why, in words for the sync report.

    Reading each page's log costs a request a page; the account's log costs a request per 100
    entries of every service. With few pages, asking for the account's count would cost as
    much as reading them, so it is not asked.
    """
    if run.ack_source is not AckSource.AUTO:
        return run.ack_source, f"{run.ack_source.value} (chosen by the caller)"
    windows = -(-(run.now - start) // MAX_WINDOW)
    if pages <= windows:
        return AckSource.PAGE_LOGS, f"each page's log ({pages} pages)"
    client = run.clients.pagerduty
    assert client is not None
    totals = client.log_entries_total(since=start, until=run.now)
    account = sum(
        -(-total // PAGE_SIZE) + (-(-total // SPLIT_PART) if total > OFFSET_CEILING else 0)
        for total in totals
    )
    counts = f"{pages:,} pages; the account's log takes about {account:,} requests"
    if account <= pages:
        return AckSource.ACCOUNT_LOG, f"the account's log ({counts})"
    return AckSource.PAGE_LOGS, f"each page's log ({counts})"


def _service_of(incident: dict[str, Any]) -> str | None:
    service = incident.get("service")
    return service.get("id") if isinstance(service, dict) else None


def _store_pages(run: _Run, incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store listed CMOC incidents as pages, in one unit of work; returns the rows stored."""
    return _write_pages(run, *_page_rows(incidents))


_PayloadAcks = dict[str, tuple[datetime | None, str | None]]


def _page_rows(incidents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], _PayloadAcks]:
    """The rows of listed incidents, and the first acknowledgement each one lists."""
    rows, payload_acks = [], {}
    for raw in incidents:
        resolved_at = parse_time(raw.get("resolved_at"))
        if resolved_at is None and raw.get("status") == "resolved":
            resolved_at = parse_time(raw.get("last_status_change_at"))
        rows.append(
            {
                "id": raw["id"],
                "incident_number": int(raw.get("incident_number") or 0),
                "title": raw.get("title") or raw.get("summary") or "",
                "service_id": _service_of(raw) or "",
                "status": raw.get("status") or "triggered",
                "urgency": raw.get("urgency"),
                "created_at": parse_time(raw["created_at"]),
                "resolved_at": resolved_at,
                "html_url": raw.get("html_url"),
                "production_issue_iid": None,
            }
        )
        acks = sorted(
            (parse_time(a.get("at")), _user_id(a.get("acknowledger")))
            for a in raw.get("acknowledgements") or []
            if a.get("at")
        )
        if acks:
            payload_acks[raw["id"]] = acks[0]
    return rows, payload_acks


def _write_pages(
    run: _Run, rows: list[dict[str, Any]], payload_acks: _PayloadAcks
) -> list[dict[str, Any]]:
    """Store page rows with the production issue each names; returns them."""
    if not rows:
        return rows
    issues = _page_issues(run, rows)
    for row in rows:
        row["production_issue_iid"] = issues.get(row["id"])
    with session_scope(run.engine) as session:
        upsert(session, PagerDutyIncident, rows, keys=("id",), keep=ACK_ROWS)
        _refresh_acknowledgements(session, [r["id"] for r in rows], payload_acks)
    return rows


def _page_issues(run: _Run, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """The production issue each page names: in its title, else in its `body.details`.

    The current Incident schema has no `description` (PagerDuty/api-schema openapiv3.json): a
    page's own text is its title, and the alert's details are read one page at a time with
    `include[]=body`, only for a recent page seen for the first time. A stored page keeps the
    issue found before.
    """
    client = run.clients.pagerduty
    assert client is not None
    project = run.settings.gitlab_production_project
    with Session(run.engine) as session:
        answer = session.execute(_STORED_ISSUES, {"ids": [row["id"] for row in rows]})
        stored: dict[str, int | None] = dict(answer.all())
    found: dict[str, int | None] = {}
    recent = run.now - DETAILS_LOOKBACK
    for row in rows:
        if row["id"] in found:
            continue
        iid = linking.iid_in_page_text(row["title"], project)
        created = row["created_at"]
        if iid is None and row["id"] in stored:
            iid = stored[row["id"]]
        elif iid is None and created is not None and created >= recent:
            details = client.incident_details(row["id"])
            iid = linking.iid_in_page_text(details or "", project)
        found[row["id"]] = iid
    return found


# The id lists are bound when executed, so the statements are built and compiled once.
_KNOWN_PAGES = select(PagerDutyIncident.id).where(
    col(PagerDutyIncident.id).in_(bindparam("ids", expanding=True))
)
_STORED_ISSUES = select(PagerDutyIncident.id, PagerDutyIncident.production_issue_iid).where(
    col(PagerDutyIncident.id).in_(bindparam("ids", expanding=True))
)


class _LogFact(NamedTuple):
    """What is kept of one log entry, read off its JSON as soon as it arrives."""

    id: str
    incident_id: str
    type: str
    created_at: str
    agent_id: str | None
    agent_type: str | None
    agent_summary: str | None


def _log_facts(entries: Iterable[dict[str, Any]]) -> list[_LogFact]:
    """The facts of the entries that name their incident and time; `service` is never needed.

    PagerDuty's schema declares `service` on a log entry but its three log-entry examples omit
    it (PagerDuty/api-schema openapiv3.json), so entries are kept by their incident alone.
    """
    facts = []
    for entry in entries:
        incident = entry.get("incident") or {}
        if not entry.get("created_at") or not incident.get("id"):
            continue
        agent = entry.get("agent") or {}
        facts.append(
            _LogFact(
                entry["id"],
                incident["id"],
                entry.get("type") or "",
                entry["created_at"],
                agent.get("id"),
                agent.get("type"),
                agent.get("summary"),
            )
        )
    return facts


def _store_log_entries(run: _Run, entries: list[dict[str, Any]]) -> None:
    """Store the log entries of stored pages, in one unit of work."""
    _store_log_facts(run, _log_facts(entries))


def _store_log_facts(run: _Run, facts: list[_LogFact]) -> None:
    """Store the log entries of stored pages and their agents, then the acknowledgements."""
    if not facts:
        return
    with session_scope(run.engine) as session:
        ids = list({fact.incident_id for fact in facts})
        known = set(session.execute(_KNOWN_PAGES, {"ids": ids}).scalars())
        rows: list[dict[str, Any]] = []
        people: dict[str, str | None] = {}
        for fact in facts:
            if fact.incident_id not in known:
                continue
            rows.append(
                {
                    "id": fact.id,
                    "incident_id": fact.incident_id,
                    "type": fact.type,
                    "created_at": parse_time(fact.created_at),
                    "agent_id": fact.agent_id,
                    "agent_type": fact.agent_type,
                }
            )
            if fact.agent_type == "user_reference" and fact.agent_id:
                people[fact.agent_id] = fact.agent_summary
        upsert(session, PagerDutyLogEntry, rows, keys=("id",))
        identities = [
            {"system": System.PAGERDUTY, "external_id": agent, "name": name or agent}
            for agent, name in people.items()
        ]
        upsert(session, Identity, identities, keys=("system", "external_id"))
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
    """Acknowledged = earliest acknowledge log entry, else the earliest acknowledgement listed.

    One statement for every page given: the database copies the earliest entry's time and
    agent as stored, so nothing is read back first.
    """
    if not incident_ids:
        return
    session.execute(_first_ack_update(), {"ids": incident_ids})
    if not payload_acks:
        return
    logged = set(
        session.exec(
            select(PagerDutyLogEntry.incident_id).where(
                col(PagerDutyLogEntry.incident_id).in_(sorted(payload_acks)),
                PagerDutyLogEntry.type == ACKNOWLEDGE,
            )
        )
    )
    wanted = set(incident_ids)
    listed = [
        {"key": incident_id, "at": at, "by": by}
        for incident_id, (at, by) in sorted(payload_acks.items())
        if incident_id in wanted and incident_id not in logged
    ]
    if listed:
        page = PagerDutyIncident.__table__  # type: ignore[attr-defined]
        session.execute(
            update(page)
            .where(page.c.id == bindparam("key"))
            .values(acknowledged_at=bindparam("at"), acknowledged_by=bindparam("by")),
            listed,
        )


@lru_cache(maxsize=1)
def _first_ack_update() -> Update:
    """UPDATE of the pages in `:ids` that have an acknowledge entry, from the earliest one."""
    entry = PagerDutyLogEntry.__table__.alias("entry")  # type: ignore[attr-defined]
    page = PagerDutyIncident.__table__  # type: ignore[attr-defined]
    first = (
        select(entry.c.created_at, entry.c.agent_id)
        .where(entry.c.incident_id == page.c.id, entry.c.type == ACKNOWLEDGE)
        .order_by(entry.c.created_at, entry.c.id)
        .limit(1)
    )
    return (
        update(page)
        .where(page.c.id.in_(bindparam("ids", expanding=True)), exists(first))
        .values(
            acknowledged_at=first.with_only_columns(entry.c.created_at).scalar_subquery(),
            acknowledged_by=first.with_only_columns(entry.c.agent_id).scalar_subquery(),
        )
    )


def _sync_oncalls(run: _Run) -> int:
    """On-call entries from the window's start to ONCALL_LEAD ahead, stored in one unit of work.

    What PagerDuty lists for the window stands for every span starting in it: shifts ahead
    change (overrides, swaps), so stored spans starting in the window are replaced by what was
    read, whether or not PagerDuty clips entries to the window.
    """
    client = run.clients.pagerduty
    assert client is not None
    kinds = dict.fromkeys(run.settings.pagerduty_cmoc_schedule_ids, ScheduleKind.CMOC)
    kinds.update(dict.fromkeys(run.settings.pagerduty_shadow_schedule_ids, ScheduleKind.SHADOW))
    if not kinds:
        return 0
    start, _ = run.window_start()
    regions: dict[str, str] = {}
    rows, people = [], []
    until = run.now + ONCALL_LEAD
    for page in client.oncalls(since=start, until=until, schedule_ids=sorted(kinds)):
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
        in_window = session.exec(
            select(OnCallEntry).where(
                col(OnCallEntry.schedule_id).in_(sorted(kinds)), col(OnCallEntry.start) >= start
            )
        ).all()
        replaced, merged = _merged_oncalls(session, rows, before=start)
        # Written only when the rota changed: each write makes the KPI copy stale.
        if _spans([*in_window, *replaced]) != _spans(merged):
            for gone in [*in_window, *replaced]:
                session.delete(gone)
            session.flush()
            session.add_all(merged)
    _fill_regions(run.engine, regions)
    return len(rows)


def _spans(entries: list[OnCallEntry]) -> list[tuple[Any, ...]]:
    """The entries as comparable values, in order."""
    return sorted(
        (e.schedule_id, e.schedule_kind, e.user_id, e.start, e.end or _FOREVER, e.region or "")
        for e in entries
    )


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


def _merged_oncalls(
    session: Session, rows: list[dict[str, Any]], *, before: datetime
) -> tuple[list[OnCallEntry], list[OnCallEntry]]:
    """The spans read, merged with stored spans starting `before` the window of the same user and
    schedule that touch or overlap them: (the stored spans they replace, the merged spans).

    Whether PagerDuty clips an entry to the query window or not, a span read twice (or in two
    windows) then ends up as one row.
    """
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_pair.setdefault((row["schedule_id"], row["user_id"]), []).append(row)
    replaced: list[OnCallEntry] = []
    merged: list[OnCallEntry] = []
    for (schedule, user), spans in by_pair.items():
        low = min(s["start"] for s in spans)
        high = max(s["end"] or _FOREVER for s in spans)
        stored = session.exec(
            select(OnCallEntry).where(
                OnCallEntry.schedule_id == schedule,
                OnCallEntry.user_id == user,
                OnCallEntry.start < before,
                OnCallEntry.start <= high,
                or_(col(OnCallEntry.end).is_(None), col(OnCallEntry.end) >= low),
            )
        ).all()
        intervals = sorted(
            [(s["start"], s["end"] or _FOREVER) for s in spans]
            + [(e.start, e.end or _FOREVER) for e in stored]
        )
        joined: list[list[datetime]] = []
        for start, end in intervals:
            if joined and start <= joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], end)
            else:
                joined.append([start, end])
        replaced.extend(stored)
        merged.extend(
            OnCallEntry(
                schedule_id=schedule,
                schedule_kind=spans[0]["schedule_kind"],
                user_id=user,
                start=start,
                end=None if end == _FOREVER else end,
                region=spans[0]["region"],
            )
            for start, end in joined
        )
    return replaced, merged


def _sync_users(run: _Run) -> int:
    """PagerDuty users, for their emails; only when an identity has not been looked up yet.

    The listing stops once every unresolved identity was seen. Classic pagination ends at
    offset 10,000 (developer-docs 09-Pagination.md): past it, the identities still unresolved
    are read one by one with `GET /users/{id}`, and the stream says so.
    """
    with Session(run.engine) as session:
        unresolved = set(
            session.exec(
                select(Identity.external_id).where(
                    Identity.system == System.PAGERDUTY, col(Identity.username).is_(None)
                )
            )
        )
    if not unresolved and run.since is None:
        return 0
    client = run.clients.pagerduty
    assert client is not None
    written = 0
    seen: set[str] = set()
    try:
        for page in client.users():
            written += _store_pd_users(run, page)
            seen.update(str(user.get("id")) for user in page)
            if run.since is None and unresolved <= seen:
                break
    except OffsetCeilingReached:
        missing = sorted(unresolved - seen)
        for user_id in missing:
            user = client.user(user_id)
            written += _store_pd_users(run, [user] if user else [])
        run.note = (
            f"PagerDuty lists at most {OFFSET_CEILING:,} users; "
            f"{len(missing)} more were read one by one"
        )
    with session_scope(run.engine) as session:
        for identity in session.exec(
            select(Identity).where(
                Identity.system == System.PAGERDUTY, col(Identity.username).is_(None)
            )
        ):
            identity.username = identity.external_id
            session.add(identity)
    return written


def _store_pd_users(run: _Run, users: list[dict[str, Any]]) -> int:
    rows = [
        {
            "system": System.PAGERDUTY,
            "external_id": user["id"],
            "username": user.get("email") or user["id"],
            "name": user.get("name") or user["id"],
            "email": user.get("email"),
        }
        for user in users
        if user.get("id")
    ]
    run.write([(Identity, rows, ("system", "external_id"))])
    return len(rows)


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
