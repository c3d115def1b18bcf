"""Reminders of status-page updates due: two minutes before, and once overdue.

For each active real incident the next update is due by the cadence rules (`cadence.next_due`,
as the composer's header counts down). A gap is the time after one published update until the
next; each gap gets at most one Slack message (CMOC_REMINDER_WEBHOOK_URL), sent through the
outbox under a key made of the incident and the gap's start, so that any number of passes, app
servers and workers send it once. The browser's own alerts (a notification and a sound, once
each per gap) use the words made here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cmoc_core import composer, handbook
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiRejected
from cmoc_core.clients.slack import HookKind, SlackWebhook
from cmoc_core.commands import Action, Command, Result, Said, Settle, idempotency_key
from cmoc_core.config import Settings
from cmoc_core.models import UNKNOWN_SEVERITY_COUNTS_AS, OutboxEntry, PublishStatus
from cmoc_core.outbox import Outbox, Outcome, OutcomeStatus
from cmoc_core.storage import session_scope
from cmoc_core.timeutil import iso_z, moment

REMIND_BEFORE = timedelta(minutes=2)
# Whom the outbox and the audit log name for reminders: the cockpit itself, for no one's click.
SENDER = "CMOC Cockpit reminders"
HOOK_NAME = "reminder webhook"
# A reminder Slack refused is tried again, but not on every pass of every process.
RETRY_FAILED_AFTER = timedelta(minutes=1)


class ReminderState(StrEnum):
    """Where an incident's next update stands, for reminders."""

    NONE = "none"
    DUE_SOON = "due soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class DueUpdate:
    """An active real incident's next status-page update: which gap it closes and when it is due."""

    incident: str  # the incident, stable across processes: `cockpit 12`, `status page <id>`
    working_id: int | None
    title: str
    severity: int | None
    gap_start: datetime
    due: datetime

    def state(self, now: datetime) -> ReminderState:
        """Overdue after the due time, due soon in the two minutes before it, else none."""
        if now >= self.due:
            return ReminderState.OVERDUE
        if now >= self.due - REMIND_BEFORE:
            return ReminderState.DUE_SOON
        return ReminderState.NONE

    @property
    def gap_key(self) -> str:
        """The gap's key: the same in every process, for the outbox and the browser's memory."""
        return idempotency_key("update reminder", self.incident, iso_z(self.gap_start))

    @property
    def severity_words(self) -> str:
        """`S2`, or the severity the cadence counts while it is not set."""
        if self.severity:
            return f"S{self.severity}"
        return f"severity not set, counted as S{UNKNOWN_SEVERITY_COUNTS_AS}"

    def message(self, now: datetime) -> str:
        """The reminder in words, naming the incident and the due time."""
        about = f"“{self.title}” ({self.severity_words})"
        if self.state(now) is ReminderState.OVERDUE:
            return (
                f"Status-page update overdue since {moment(self.due)} for {about}: "
                "post the next update now."
            )
        return (
            f"Status-page update due at {moment(self.due)} for {about}: "
            "post the next update before then."
        )


@dataclass(frozen=True)
class IncidentReminder:
    """An incident's next update and where it stands now, for the pages."""

    update: DueUpdate
    state: ReminderState


def due_updates(*, session: Session, settings: Settings, now: datetime) -> list[DueUpdate]:
    """The next update due of every active real incident: worked here, or on the status page."""
    found = []
    for incident in composer.open_incidents(session=session, now=now):
        if incident.practice or incident.resolved_at is not None:
            continue
        due = incident.next_due() if incident.state in handbook.CADENCE_MINUTES else None
        if due is None or incident.last_posted_at is None:
            continue
        found.append(
            DueUpdate(
                incident=f"cockpit {incident.id}",
                working_id=incident.id,
                title=incident.title,
                severity=incident.severity,
                gap_start=incident.last_posted_at,
                due=due,
            )
        )
    page = settings.statusio_statuspage_id
    if not page:
        return found
    project = settings.gitlab_production_project
    for synced in composer.unadopted_active(session=session, statuspage_ids=[page]):
        summary = composer.takeover_summary(
            session=session, synced=synced, project=project, now=now
        )
        if summary.due is None or summary.last_at is None:
            continue
        found.append(
            DueUpdate(
                incident=f"status page {synced.id}",
                working_id=None,
                title=summary.title,
                severity=summary.severity,
                gap_start=summary.last_at,
                due=summary.due,
            )
        )
    return found


def reminder_states(
    *, session: Session, settings: Settings, now: datetime
) -> list[IncidentReminder]:
    """Each active real incident's next update and whether it is due soon, overdue or neither."""
    updates = due_updates(session=session, settings=settings, now=now)
    return [IncidentReminder(update, update.state(now)) for update in updates]


def _slack_text(text: str) -> str:
    """Text as Slack shows it literally: its control characters `&`, `<`, `>` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class UpdateReminder(Command):
    """One Slack reminder of an update due, for one gap of one incident."""

    # A webhook cannot be read back: an unclear post is never sent again on its own.
    settle: ClassVar[Settle] = Settle.ASK_USER

    incident: str
    gap_start: str
    text: str
    title: str
    severity: str
    due: str
    working_id: int | None = None

    @property
    def action(self) -> Action:
        """A reminder."""
        return Action.REMIND_UPDATE

    @property
    def target(self) -> str:
        """The reminder channel."""
        return "Slack reminders"

    @property
    def incident_id(self) -> int | None:
        """The working incident, when the incident is worked in the cockpit."""
        return self.working_id

    def identity(self) -> tuple[Any, ...]:
        """One reminder per gap of an incident, whatever its words say by then."""
        return (self.incident, self.gap_start)

    def words(self, result: Result | None = None) -> Said:
        """`Reminded the CMOC in Slack of the update due`."""
        return Said("Reminded", "remind", "the CMOC in Slack of the update due", "Slack")

    def describe(self) -> str:
        """The reminder."""
        return f"Reminded in Slack: {self.text}"

    def send(self, clients: Clients) -> Result:
        """Post the reminder: a message to a webhook, flat variables to a workflow trigger."""
        hook = next((w for w in clients.slack if w.name == HOOK_NAME), None)
        if hook is None:
            raise ApiRejected("Slack", "post a reminder", "CMOC_REMINDER_WEBHOOK_URL is not set")
        variables = None
        if hook.kind == HookKind.WORKFLOW_TRIGGER:
            variables = {
                "text": self.text,
                "incident": self.title,
                "severity": self.severity,
                "due": self.due,
            }
        hook.post(_slack_text(self.text), variables=variables)
        return {"posted": True}


def reminder_command(update: DueUpdate, now: datetime) -> UpdateReminder:
    """The Slack reminder of one gap, in the words for `now`."""
    return UpdateReminder(
        incident=update.incident,
        gap_start=iso_z(update.gap_start),
        text=update.message(now),
        title=update.title,
        severity=update.severity_words,
        due=moment(update.due),
        working_id=update.working_id,
    )


def reminder_hook(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SlackWebhook | None:
    """The client of CMOC_REMINDER_WEBHOOK_URL, or None when it is not set."""
    url = settings.cmoc_reminder_webhook_url
    if url is None:
        return None
    options: dict[str, Any] = {"transport": transport, "secrets": settings.secret_values()}
    if sleep is not None:
        options["sleep"] = sleep
    return SlackWebhook(url.get_secret_value(), name=HOOK_NAME, channel="reminders", **options)


@dataclass(frozen=True)
class ReminderPass:
    """What one pass found and sent: each incident's state, and the outcome of each send."""

    reminders: tuple[IncidentReminder, ...]
    sent: tuple[Outcome, ...]

    @property
    def new_messages(self) -> int:
        """How many reminders this pass posted."""
        return sum(1 for outcome in self.sent if outcome.status == OutcomeStatus.SENT)


def send_reminders(
    *, engine: Engine, settings: Settings, hook: SlackWebhook | None, now: datetime
) -> ReminderPass:
    """Post the Slack reminder of every gap due soon or overdue, at most once per gap."""
    with session_scope(engine) as session:
        found = reminder_states(session=session, settings=settings, now=now)
    if hook is None:
        return ReminderPass(tuple(found), ())
    outbox = Outbox(engine, Clients(slack=[hook]))
    outcomes = []
    for reminder in found:
        if reminder.state is ReminderState.NONE:
            continue
        command = reminder_command(reminder.update, now)
        if _failed_moments_ago(engine, command.key(), now):
            continue
        outcomes.append(outbox.publish(command, actor=SENDER, now=now))
    return ReminderPass(tuple(found), tuple(outcomes))


def _failed_moments_ago(engine: Engine, key: str, now: datetime) -> bool:
    """Whether the gap's reminder failed (nothing sent) within RETRY_FAILED_AFTER."""
    with session_scope(engine) as session:
        entry = session.get(OutboxEntry, key)
    return (
        entry is not None
        and entry.status == PublishStatus.FAILED
        and entry.finished_at is not None
        and now - entry.finished_at < RETRY_FAILED_AFTER
    )


@dataclass(frozen=True)
class BrowserAlert:
    """What the browser shows and when: a notification and a sound, once each per gap."""

    key: str
    soon_at: datetime
    due_at: datetime
    soon_title: str
    soon_body: str
    overdue_title: str
    overdue_body: str


def browser_alert(
    *,
    incident: str,
    title: str,
    severity: int | None,
    due: datetime,
    gap_start: datetime | None,
) -> BrowserAlert:
    """The browser's alerts for `incident`'s update due at `due` after the one at `gap_start`."""
    update = DueUpdate(
        incident=incident,
        working_id=None,
        title=title,
        severity=severity,
        gap_start=gap_start or due,
        due=due,
    )
    return BrowserAlert(
        key=update.gap_key,
        soon_at=due - REMIND_BEFORE,
        due_at=due,
        soon_title=f"Update due in 2 min: {title}",
        soon_body=f"{update.severity_words} · due at {moment(due)}",
        overdue_title=f"Update overdue: {title}",
        overdue_body=f"{update.severity_words} · was due at {moment(due)}; post an update now",
    )
