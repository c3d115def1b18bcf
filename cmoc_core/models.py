"""Database tables for the synced history and the app's own records."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from cmoc_core import cadence
from cmoc_core.cadence import announcement_columns
from cmoc_core.kinds import IssueKind, ScheduleKind, System


def _in_utc(value: datetime) -> datetime:
    """The moment in UTC; a naive datetime is refused, since its zone is a guess."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given where a UTC timestamp is required")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _in_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, the text SQLAlchemy's DATETIME writes, made in one C call per value."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            # "2026-11-29 10:00:00.000000", as sqlite.DATETIME's storage format.
            return _in_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    # SQLAlchemy hands the result to the column type's own literal renderer, hence a datetime.
    def process_literal_param(  # type: ignore[override]
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """A timestamp written into SQL text, as it would be bound."""
        return self.process_bind_param(value, dialect)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MaintenancePhase(StrEnum):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    RESOLVED = "resolved"


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


def _enum(**kwargs: Any) -> Any:
    return Field(sa_type=String(32), **kwargs)


def _json_list() -> Any:
    return Field(default_factory=list, sa_type=JSON)


class Person(SQLModel, table=True):
    """One CMOC, however many systems know them."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str
    email: str | None = None


class Identity(SQLModel, table=True):
    """A user account in one system, tied to a person by matching."""

    __table_args__ = (UniqueConstraint("system", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    system: System = _enum()
    external_id: str
    username: str | None = None
    name: str
    email: str | None = None
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)


class PersonMapping(SQLModel, table=True):
    """An explicit statement that an identity belongs to the person named `person_key`."""

    __table_args__ = (UniqueConstraint("system", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    system: System = _enum()
    external_id: str
    person_key: str


class StatusPageIncident(SQLModel, table=True):
    """A Status.io incident."""

    id: str = Field(primary_key=True)
    statuspage_id: str = Field(index=True)
    name: str
    datetime_open: datetime = _utc(index=True)
    resolved: bool = False
    post_mortem_url: str | None = None
    components: list[str] = _json_list()
    production_issue_iid: int | None = Field(default=None, index=True)
    # When the incident counts as opened in the KPIs: its first message (kpis.md 2).
    first_message_at: datetime | None = _utc(default=None, index=True)


class StatusPageMessage(SQLModel, table=True):
    """One published update of a Status.io incident."""

    id: str = Field(primary_key=True)
    incident_id: str = Field(foreign_key="statuspageincident.id", index=True)
    details: str = Field(sa_type=Text)
    state: int
    status: int
    posted_at: datetime = _utc(index=True)
    announced_minutes: float | None = None
    announced_clock: int | None = None


@event.listens_for(StatusPageMessage, "before_insert")
@event.listens_for(StatusPageMessage, "before_update")
def _read_announcement(_mapper: Any, _connection: Any, message: StatusPageMessage) -> None:
    """Keep the announced next update in step with the text (bulk writers set it themselves)."""
    for name, value in announcement_columns(message.details).items():
        setattr(message, name, value)


class Component(SQLModel, table=True):
    """A status-page component in one container; `id` is Status.io's `component-container`."""

    id: str = Field(primary_key=True)
    statuspage_id: str = Field(index=True)
    component_id: str
    container_id: str
    name: str
    container_name: str
    position: int = 0


class Maintenance(SQLModel, table=True):
    """A Status.io maintenance window."""

    id: str = Field(primary_key=True)
    statuspage_id: str = Field(index=True)
    name: str
    phase: MaintenancePhase = _enum()
    planned_start: datetime | None = _utc(default=None)
    planned_end: datetime | None = _utc(default=None)
    components: list[str] = _json_list()


class MaintenanceMessage(SQLModel, table=True):
    """One published update of a maintenance window."""

    id: str = Field(primary_key=True)
    maintenance_id: str = Field(foreign_key="maintenance.id", index=True)
    details: str = Field(sa_type=Text)
    state: int | None = None
    posted_at: datetime = _utc()


class PagerDutyIncident(SQLModel, table=True):
    """A PagerDuty incident on a CMOC service: a page to the CMOC."""

    id: str = Field(primary_key=True)
    incident_number: int
    title: str
    service_id: str = Field(index=True)
    status: str
    urgency: str | None = None
    created_at: datetime = _utc(index=True)
    resolved_at: datetime | None = _utc(default=None)
    html_url: str | None = None
    acknowledged_at: datetime | None = _utc(default=None)
    acknowledged_by: str | None = None
    production_issue_iid: int | None = None
    statuspage_incident_id: str | None = Field(default=None, index=True)


class PagerDutyLogEntry(SQLModel, table=True):
    """A PagerDuty log entry of a CMOC page (trigger, acknowledge, resolve, ...)."""

    id: str = Field(primary_key=True)
    incident_id: str = Field(index=True)
    type: str
    created_at: datetime = _utc()
    agent_id: str | None = None
    agent_type: str | None = None


class OnCallEntry(SQLModel, table=True):
    """A span in which a user was on call on a CMOC or shadow schedule."""

    __table_args__ = (UniqueConstraint("schedule_id", "user_id", "start"),)
    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(index=True)
    schedule_kind: ScheduleKind = _enum()
    user_id: str = Field(index=True)
    start: datetime = _utc(index=True)
    end: datetime | None = _utc(default=None)
    region: str | None = None


class GitLabIssue(SQLModel, table=True):
    """A GitLab issue: production incident, handover, contact request or practice event."""

    __table_args__ = (UniqueConstraint("project_path", "iid"),)
    id: int = Field(primary_key=True)
    project_path: str
    iid: int
    kind: IssueKind = _enum(index=True)
    title: str
    description: str | None = Field(default=None, sa_type=Text)
    state: str
    confidential: bool = False
    created_at: datetime = _utc(index=True)
    updated_at: datetime = _utc()
    closed_at: datetime | None = _utc(default=None)
    labels: list[str] = _json_list()
    severity: int | None = None
    author_id: str | None = None
    assignee_ids: list[str] = _json_list()
    web_url: str | None = None
    label_events_synced_for: datetime | None = _utc(default=None)


class GitLabLabelEvent(SQLModel, table=True):
    """A label added to or removed from a GitLab issue."""

    id: int = Field(primary_key=True)
    issue_id: int = Field(foreign_key="gitlabissue.id", index=True)
    label_name: str | None = None
    action: str
    created_at: datetime = _utc()
    user_id: str | None = None


class StakeholderThread(SQLModel, table=True):
    """An Incident Notifier post for a status-page incident."""

    id: int | None = Field(default=None, primary_key=True)
    statuspage_incident_id: str = Field(index=True)
    posted_at: datetime = _utc()
    destination: str
    via: str
    text: str = Field(sa_type=Text)


class SyncState(SQLModel, table=True):
    """Progress and health of one synced stream, such as `pagerduty.incidents`."""

    stream: str = Field(primary_key=True)
    cursor: datetime | None = _utc(default=None)
    last_attempt_at: datetime | None = _utc(default=None)
    last_success_at: datetime | None = _utc(default=None)
    last_error: str | None = None
    items: int = 0


class SyncLock(SQLModel, table=True):
    """Who runs a sync on this database now, so that a second sync does not start beside it.

    On SQLite this row is the lock (taken by one atomic upsert, released by deleting it, expired
    when its heartbeat is older than `synclock.EXPIRES_AFTER`); on PostgreSQL an advisory lock
    decides and the row only tells others since when the running sync holds it.
    """

    name: str = Field(primary_key=True)
    holder: str
    token: str
    started_at: datetime = _utc()
    heartbeat_at: datetime = _utc()


class PublishStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


# Until the severity is set, the live countdown keeps the strictest cadence (S1's).
UNKNOWN_SEVERITY_COUNTS_AS = 1


class WorkingIncident(SQLModel, table=True):
    """The CMOC's working record of one incident: where it is published, links, checklist."""

    id: int | None = Field(default=None, primary_key=True)
    title: str
    statuspage_id: str
    practice: bool = False
    statuspage_incident_id: str | None = Field(default=None, index=True)
    severity: int | None = None
    issue_url: str | None = None
    pagerduty_incident_id: str | None = None
    slack_channel: str | None = None
    zoom_url: str | None = None
    status: int = 300
    state: int = 100
    components: list[str] = _json_list()
    opened_at: datetime = _utc()
    resolved_at: datetime | None = _utc(default=None)
    post_mortem_url: str | None = None
    steps: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    last_posted_at: datetime | None = _utc(default=None)
    last_text: str | None = Field(default=None, sa_type=Text)
    draft_revision: int = 0

    def next_due(self) -> datetime | None:
        """When the next update is due (as S1 while the severity is unknown); None before one."""
        if self.last_posted_at is None:
            return None
        return cadence.next_due(
            posted_at=self.last_posted_at,
            text=self.last_text or "",
            state=self.state,
            severity=self.severity or UNKNOWN_SEVERITY_COUNTS_AS,
        )


class SeverityChange(SQLModel, table=True):
    """A severity set for a working incident in the cockpit: when, which level, by whom."""

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="workingincident.id", index=True)
    at: datetime = _utc(index=True)
    level: int
    actor: str


class Draft(SQLModel, table=True):
    """Form values saved as they are typed, so a refresh or a restart loses nothing."""

    key: str = Field(primary_key=True)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = _utc()


class OutboxEntry(SQLModel, table=True):
    """One outgoing action, written before the call so it is sent at most once."""

    key: str = Field(primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="workingincident.id", index=True)
    action: str
    target: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: PublishStatus = _enum(default=PublishStatus.PENDING)
    attempts: int = 0
    created_at: datetime = _utc()
    claimed_at: datetime | None = _utc(default=None)
    finished_at: datetime | None = _utc(default=None)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str | None = None


class AuditEntry(SQLModel, table=True):
    """Who did what, when, to which target, and how it ended."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str
    action: str
    target: str
    detail: str = Field(default="", sa_type=Text)
    result: str
    incident_id: int | None = Field(default=None, index=True)


class PracticeEvent(SQLModel, table=True):
    """A planned practice event for one region and quarter, with its roles."""

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(index=True)
    quarter: str
    scheduled_at: datetime = _utc()
    scenario: str
    facilitator_id: int | None = Field(default=None, foreign_key="person.id")
    note_taker_id: int | None = Field(default=None, foreign_key="person.id")
    cmoc_id: int | None = Field(default=None, foreign_key="person.id")
    issue_url: str | None = None
    created_at: datetime = _utc()


class PracticeDrill(SQLModel, table=True):
    """One run of a practice scenario: the note taker's log and the score card."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int | None = Field(default=None, foreign_key="practiceevent.id", index=True)
    scenario: str
    # The past status-page incident the drill replays, if it is not a library scenario.
    source_incident_id: str | None = None
    cmoc_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    working_incident_id: int | None = Field(default=None, foreign_key="workingincident.id")
    started_at: datetime = _utc()
    finished_at: datetime | None = _utc(default=None, index=True)
    notes: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    score: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class GitLabUser(SQLModel, table=True):
    """A GitLab account as `GET /users/:id` showed it: the e-mail people are matched by."""

    id: int = Field(primary_key=True)
    username: str | None = None
    name: str | None = None
    email: str | None = None
    found: bool = True
    looked_up_at: datetime = _utc()


class HistoryRevision(SQLModel, table=True):
    """One row counting the changes to the tables the KPI report reads, moved on by triggers
    (migration 0009), so that every writer counts, the app's own or not."""

    id: int = Field(primary_key=True)
    revision: int = Field(sa_type=BigInteger)


class KpiFacts(SQLModel, table=True):
    """One part of a table of the KPI report's columnar copy (`cmoc_core.kpi_facts`), as Arrow
    IPC bytes, made at a history revision under some settings (`key`)."""

    key: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    part: int = Field(primary_key=True)
    revision: int = Field(sa_type=BigInteger)
    data: bytes = Field(sa_type=LargeBinary)
