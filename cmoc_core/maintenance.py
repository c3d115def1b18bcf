"""Maintenance windows: upcoming, active and closed, checks before sending, each action sent once.

Status.io has no reschedule call. A reschedule schedules the replacement first and deletes the
original only once the replacement exists, each step through the outbox: subscribers never see
neither window, and a repeated or interrupted reschedule finishes without a second replacement.
The replacement affects the same items as the original: Status.io lists a window's components
and, apart, its containers (`components_affected`, `containers_affected`, statusio-go
maintenance_types.go), so each component keeps only its own containers that the window lists.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import drafts, linking, timeutil
from cmoc_core.access import Viewer
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiError, ApiRejected
from cmoc_core.clients.statusio import StatusIoClient
from cmoc_core.commands import (
    Command,
    DeleteMaintenance,
    PostMaintenance,
    ScheduleMaintenance,
    flags,
    permission_for,
)
from cmoc_core.commands import MaintenanceAction as Action
from cmoc_core.handbook import BROADCAST_CHANNELS
from cmoc_core.models import (
    AuditEntry,
    Component,
    Maintenance,
    MaintenanceMessage,
    MaintenancePhase,
    OutboxEntry,
    PublishStatus,
)
from cmoc_core.outbox import Outbox, Outcome, OutcomeStatus
from cmoc_core.storage import session_scope, upsert
from cmoc_core.timeutil import parse_time, to_minute

CLOSED_SHOWN = 20
# Starting this much before the planned start needs a reason, kept in the audit log.
EARLY_START_GRACE = timedelta(minutes=15)
# The schedule form's draft: one for the page, as the composer keeps one per form.
SCHEDULE_DRAFT = "maintenance:schedule"


ACTIONS_BY_PHASE = {
    MaintenancePhase.UPCOMING: (Action.UPDATE, Action.START, Action.RESCHEDULE),
    MaintenancePhase.ACTIVE: (Action.UPDATE, Action.FINISH),
    MaintenancePhase.RESOLVED: (),
}
CALLS: dict[Action, Literal["start", "update", "finish"]] = {
    Action.UPDATE: "update",
    Action.START: "start",
    Action.FINISH: "finish",
}

# Wording: labels, default texts, warnings and problems, in one place.
ACTION_LABELS = {
    Action.UPDATE: "Post update",
    Action.START: "Start maintenance",
    Action.FINISH: "Finish maintenance",
    Action.RESCHEDULE: "Reschedule",
}
UPDATE_WITHOUT_STARTING = "Post update without starting"
VERBS = {Action.UPDATE: "post an update to", Action.START: "start", Action.FINISH: "finish"}
DONE = {
    Action.UPDATE: "updated",
    Action.START: "started",
    Action.FINISH: "finished",
    Action.RESCHEDULE: "rescheduled",
}
PHASE_NAMES = {
    MaintenancePhase.UPCOMING: "upcoming",
    MaintenancePhase.ACTIVE: "in progress",
    MaintenancePhase.RESOLVED: "closed",
}
NOTICE_LABELS = {
    "now": "Notify subscribers now",
    "72_hr": "Remind 72 hours before",
    "24_hr": "Remind 24 hours before",
    "1_hr": "Remind 1 hour before",
}
REMINDERS = {"72_hr": "72 hours", "24_hr": "24 hours", "1_hr": "1 hour"}
REMINDER_LEADS = {
    "72_hr": timedelta(hours=72),
    "24_hr": timedelta(hours=24),
    "1_hr": timedelta(hours=1),
}
SUBJECTS = {
    Action.SCHEDULE: "Scheduled maintenance: {name}",
    Action.UPDATE: "Maintenance update: {name}",
    Action.START: "Maintenance in progress: {name}",
    Action.FINISH: "Maintenance completed: {name}",
}
DEFAULT_TEXTS = {
    Action.UPDATE: "",
    Action.START: "Scheduled maintenance is now in progress.",
    Action.FINISH: "Scheduled maintenance has been completed. Thank you for your patience.",
}
ISSUE_SUFFIX = " Details: {url}"
RESCHEDULED_NOTE = "Rescheduled from {old} to {new}. "
RESCHEDULED_NOTE_PATTERN = re.compile(r"^Rescheduled from .+? to .+? UTC\. ")
TARGET = "Status.io maintenance “{name}”"

AUTOMATION_WARNING = (
    "{this} Before you {verb} it, open it in Status.io and click "
    "(Disable) next to “Automation: Running”. Automation cannot be re-enabled once disabled: "
    "every later update, including finishing the maintenance, must then be posted by hand."
)
AUTOMATION_KNOWN = "This maintenance runs with automation."
AUTOMATION_UNREPORTED = (
    "This maintenance may run with automation: Status.io does not report this, so check the "
    "maintenance in Status.io."
)
AUTOMATION_ACK = "I have disabled automation for this maintenance in Status.io (cannot be undone)"
REMINDERS_ON = (
    "Email reminders are set for this maintenance: leave “notify_email” unticked so "
    "subscribers do not get a duplicate reminder."
)
REMINDERS_UNREPORTED = (
    "Status.io does not report whether email reminders are set for this maintenance: check in "
    "Status.io, and if they are, leave “notify_email” unticked so subscribers do not get a "
    "duplicate reminder."
)
# Status.io's maintenance list carries neither the automation nor the reminder settings
# (statusio-go maintenance_types.go `MaintenanceResponse`; statusio-python and -ruby return the
# list as it comes): only a window scheduled or changed from here has them.
NOT_REPORTED = "Status.io does not report this"
AUTOMATION_STATES = {
    True: "Automation: on (as scheduled from here)",
    False: "Automation: off",
    None: f"Automation: {NOT_REPORTED}",
}
REMINDERS_NONE = "Reminders: none"
REMINDERS_SET = "Reminders: {which} before the start (as scheduled from here)"
REMINDERS_AHEAD = "; still to come: {which}"
REMINDERS_DONE = "; none still to come"
REMINDERS_NOT_REPORTED = f"Reminders: {NOT_REPORTED}"
OVERRUN = "Overrunning by {by}: finish it or post an update"
NO_REMINDER = (
    "No “{label}”: the window starts in {ahead}, less than {lead} from now, so that reminder "
    "can no longer go out."
)
NO_REMINDER_PAST = "No “{label}”: the start is not in the future."
EARLY_START = (
    "The planned start is {start}, {early} from now. Starting more than 15 minutes early needs "
    "a reason: it is kept in the audit log with the start."
)
EARLY_REASON_LABEL = "Reason for starting early (kept in the audit log)"
NO_EARLY_REASON = (
    "Say why the maintenance starts {early} before its planned start ({start}): the reason is "
    "kept in the audit log."
)
EARLY_AUDIT = "Started {early} before the planned start ({start}). Reason: {reason}"
ALL_INFRASTRUCTURE_WARNING = "All infrastructure puts EVERY component under maintenance."
# statusio-python and statusio-ruby document maintenance/update as "Update an active
# maintenance"; statusio-ruby's spec updates a window just scheduled, and the dashboard has
# "Post Update Without Starting" (handbook), but no source says the API accepts it before the
# start. So the page says what happens if Status.io refuses, and a refusal loses nothing.
UPDATE_BEFORE_START = (
    "If Status.io refuses an update before the start, nothing is posted and your message stays "
    "here: then post it with “Post Update Without Starting” in Status.io."
)
UPDATE_REFUSED_BEFORE_START = (
    "Status.io refused the update to “{name}” before its start ({reason}): nothing was posted "
    "and your message is kept; post it with “Post Update Without Starting” in Status.io, or "
    "here once the maintenance has started."
)
UNLISTED_ITEMS = (
    "{count} of this window's affected items {are} not in the synced component list, so the "
    "form below cannot tick {them}: sync Status.io, then reschedule, so the new window keeps "
    "{them}."
)
UNLISTED_NOTE = "Also affects {count} item{s} not in the synced component list."

EMPTY_NAME = "The name is empty: say in simple terms what is being maintained."
EMPTY_DETAILS = "The details are empty: say what users will notice, and for how long."
EMPTY_MESSAGE = "The message is empty."
NO_COMPONENTS = "Choose the affected components (or, knowingly, all infrastructure)."
START_IN_PAST = "The start, {start}, is in the past (it is now {now}): choose a later start."
END_BEFORE_START = (
    "The maintenance ends ({end}) before it starts ({start}): check the dates and times (UTC)."
)
BAD_ISSUE_LINK = "The issue link is not a {project} issue link (…/{project}/-/issues/<number>)."
NOT_ALLOWED = "A maintenance that is {phase} cannot be {done}."
AUTOMATION_NOT_DISABLED = "Disable automation in Status.io first, then tick that you did."
NOT_CONFIGURED = "Status.io is not configured: nothing was sent."
ORIGINAL_KEPT = "The original window is unchanged."
HALF_DONE = (
    "The replacement is scheduled, but the original window could not be deleted yet: {reason} "
    "Reschedule again to finish: the replacement is not scheduled twice."
)
RESUMED = (
    "This finished the reschedule started earlier (to {new}); the times you entered now were "
    "not used. Reschedule the new window if they should change."
)
ORIGINAL_DELETED = (
    "The original window ({original}) is then deleted; a deletion sends no notification, so "
    "only the new notice tells them the date changed."
)
NOT_REFRESHED = " The list could not be refreshed from Status.io ({reason})."


def when(at: datetime) -> str:
    """`24-11-2026 14:00 UTC`: a time as the page writes it (the handbook's DD-MM-YYYY, UTC)."""
    return timeutil.moment(at)


def span(start: datetime | None, end: datetime | None) -> str:
    """`24-11-2026 14:00 – 16:00 UTC`, with both dates when the window crosses midnight."""
    if start is None or end is None:
        return "time not set"
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    until = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%d-%m-%Y %H:%M}"
    return f"{start:%d-%m-%Y %H:%M} – {until} UTC"


def lasting(delta: timedelta) -> str:
    """`13 d 22 h 05 min`, `9 h 02 min`, `45 min` or `under a minute`: whole minutes, for people."""
    minutes = int(abs(delta).total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    # Within the longest reminder lead (72 h) hours read against it; beyond, days read better.
    if hours >= 72:
        days, hours = divmod(hours, 24)
        return f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else "under a minute"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True)
class Plan:
    """A maintenance window to schedule, as the CMOC filled it in."""

    name: str
    details: str
    start: datetime
    end: datetime
    components: list[str] = field(default_factory=list)
    all_infrastructure: bool = False
    automation: bool = True
    notify: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(NOTICE_LABELS, True))
    issue_url: str = ""

    @property
    def text(self) -> str:
        """The details as sent: with the Scheduled Maintenance issue link when they lack it."""
        details, url = self.details.strip(), self.issue_url.strip()
        return details if not url or url in details else details + ISSUE_SUFFIX.format(url=url)


@dataclass(frozen=True)
class Notice:
    """The message of an update, a start or a finish."""

    details: str
    broadcast: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(BROADCAST_CHANNELS, True)
    )
    automation_disabled: bool = False
    early_reason: str = ""


@dataclass(frozen=True)
class Overrun:
    """An active window still open after its planned end."""

    by: timedelta

    @property
    def message(self) -> str:
        """What the CMOC reads on the window, and what to do."""
        return OVERRUN.format(by=lasting(self.by))


@dataclass(frozen=True)
class ReminderOffer:
    """One reminder before the start, and whether it can still go out for a window."""

    key: str
    label: str
    lead: timedelta
    ahead: timedelta

    @property
    def possible(self) -> bool:
        """The window starts at least this reminder's lead from now."""
        return self.ahead >= self.lead

    @property
    def missing(self) -> str | None:
        """Why the form does not offer it, or None when it does."""
        if self.possible:
            return None
        if self.ahead <= timedelta(0):
            return NO_REMINDER_PAST.format(label=self.label)
        return NO_REMINDER.format(
            label=self.label, ahead=lasting(self.ahead), lead=REMINDERS[self.key]
        )


@dataclass(frozen=True)
class Note:
    """One published message of a maintenance."""

    posted_at: datetime
    details: str
    state: int | None


@dataclass
class Window:
    """A maintenance window with its messages and what this app knows of its settings.

    `automation` and `notify` are known for windows scheduled from here (None otherwise:
    Status.io does not report them). `overrun` is set for an active window past its end.
    `components` names each affected item as `Website (Google Compute Engine)`;
    `component_ids` are their `component-container` ids, and `unlisted` the affected items
    whose component is missing from the synced component list (no form can offer them).
    """

    id: str
    name: str
    phase: MaintenancePhase
    planned_start: datetime | None
    planned_end: datetime | None
    components: list[str]
    component_ids: list[str]
    messages: list[Note]
    issue_url: str | None
    automation: bool | None = None
    notify: dict[str, bool] | None = None
    unlisted: list[str] = field(default_factory=list)
    overrun: Overrun | None = None

    @property
    def details(self) -> str:
        """The announcement: the first message."""
        return self.messages[0].details if self.messages else ""

    @property
    def reminders(self) -> bool | None:
        """Whether reminders before the start are set; None when this app cannot tell."""
        return None if self.notify is None else any(self.notify.get(k) for k in REMINDERS)

    @property
    def actions(self) -> tuple[Action, ...]:
        """What can be done with it now."""
        return ACTIONS_BY_PHASE[self.phase]


@dataclass
class Board:
    """The maintenance of one status page by phase."""

    active: list[Window]
    upcoming: list[Window]
    closed: list[Window]

    def find(self, window_id: str) -> Window | None:
        """The window with this id, if listed."""
        return next(
            (w for w in self.active + self.upcoming + self.closed if w.id == window_id), None
        )


def board(
    *, session: Session, statuspage_id: str, project: str, now: datetime | None = None
) -> Board:
    """The page's maintenance from the database at `now` (default: the clock).

    Overrunning windows come first, longest overrun first, then open windows by start; then the
    latest closed ones.
    """
    now = now or timeutil.utc_now()
    rows = session.exec(select(Maintenance).where(Maintenance.statuspage_id == statuspage_id)).all()
    notes: dict[str, list[Note]] = defaultdict(list)
    messages = session.exec(
        select(MaintenanceMessage)
        .join(Maintenance)
        .where(Maintenance.statuspage_id == statuspage_id)
        .order_by(col(MaintenanceMessage.posted_at))
    )
    for message in messages:
        notes[message.maintenance_id].append(
            Note(message.posted_at, message.details, message.state)
        )
    page = components(session=session, statuspage_id=statuspage_id)
    known = _known_settings(session)
    issue = linking.issue_url_pattern(project)
    windows = []
    for row in rows:
        found = (issue.search(n.details) for n in notes[row.id])
        settings = known.get(row.id, {})
        ids, labels, unlisted = _affected(row.components, page, settings.get("components"))
        windows.append(
            Window(
                id=row.id,
                name=row.name,
                phase=MaintenancePhase(row.phase),
                planned_start=row.planned_start,
                planned_end=row.planned_end,
                components=labels,
                component_ids=ids,
                messages=notes[row.id],
                issue_url=next((m.group(0) for m in found if m), None),
                automation=settings.get("automation"),
                notify=settings.get("notify"),
                unlisted=unlisted,
            )
        )
    for window in windows:
        window.overrun = overrun(window, now=now)
    never = datetime.max.replace(tzinfo=UTC)
    by_start = sorted(windows, key=lambda w: w.planned_start or never)
    active = [w for w in by_start if w.phase == MaintenancePhase.ACTIVE]
    return Board(
        active=sorted(active, key=lambda w: -w.overrun.by if w.overrun else timedelta.max),
        upcoming=[w for w in by_start if w.phase == MaintenancePhase.UPCOMING],
        closed=[w for w in reversed(by_start) if w.phase == MaintenancePhase.RESOLVED][
            :CLOSED_SHOWN
        ],
    )


def _affected(
    stored: list[str], page: list[Component], scheduled: tuple[str, ...] | None
) -> tuple[list[str], list[str], list[str]]:
    """A window's affected items: their ids, their names, and those the page does not list.

    `stored` holds the `component-container` pairs its listing allows (see `affected_items`).
    A pair whose component the page lists without that container is no item of the window.
    When the window was scheduled from here with items that account for the whole listing,
    those exact items are kept: the listing alone cannot tell Website-GCE with API-CF from
    all four pairs.
    """
    by_id = {c.id: c for c in page}
    listed_components = {c.component_id for c in page}
    ids: list[str] = []
    unlisted: list[str] = []
    for item in dict.fromkeys(stored):
        if item in by_id:
            ids.append(item)
        elif item.partition("-")[0] not in listed_components:
            unlisted.append(item)
    if scheduled and set(scheduled) <= set(ids) and _parts(scheduled) == _parts(ids):
        ids = [item for item in ids if item in set(scheduled)]
    labels = [f"{by_id[i].name} ({by_id[i].container_name})" for i in ids]
    return ids, labels, unlisted


def _parts(items: Iterable[str]) -> tuple[set[str], set[str]]:
    """The components and the containers named by `component-container` ids."""
    pairs = [item.partition("-") for item in items]
    return {c for c, _, _ in pairs}, {k for _, _, k in pairs}


def _known_settings(session: Session) -> dict[str, dict[str, Any]]:
    """Settings and items of windows scheduled from here, and which had automation disabled."""
    entries = session.exec(
        select(OutboxEntry)
        .where(
            col(OutboxEntry.action).in_([a.value for a in Action]),
            OutboxEntry.status == PublishStatus.SENT,
        )
        .order_by(col(OutboxEntry.finished_at))
    )
    known: dict[str, dict[str, Any]] = defaultdict(dict)
    for entry in entries:
        command = Command.restore(entry.payload)
        if isinstance(command, ScheduleMaintenance):
            known[(entry.result or {}).get("maintenance_id", "")] = {
                "automation": command.automation,
                "notify": dict(command.notify),
                "components": command.components,
            }
        elif isinstance(command, PostMaintenance) and command.automation_disabled:
            known[command.maintenance_id]["automation"] = False
    return known


def components(*, session: Session, statuspage_id: str) -> list[Component]:
    """The status page's components, one per container, in page order."""
    query = (
        select(Component)
        .where(Component.statuspage_id == statuspage_id)
        .order_by(col(Component.position), col(Component.name), col(Component.container_name))
    )
    return list(session.exec(query))


def affected_items(raw: dict[str, Any]) -> list[str]:
    """A listed window's affected items as `component-container` ids (`infrastructure_affected`).

    Status.io lists the window's components and its containers apart (statusio-go
    maintenance_types.go). Each component is paired with the listed containers it has: those
    in its own `containers` when the listing carries them, else every listed container, left
    for `board` to check against the page's component list.
    """
    containers = [_id_of(c) for c in raw.get("containers_affected") or []]
    items = []
    for component in raw.get("components_affected") or []:
        component_id = _id_of(component)
        own = component.get("containers") if isinstance(component, dict) else None
        has = None if not isinstance(own, list) else {_id_of(c) for c in own}
        items += [
            f"{component_id}-{container}"
            for container in containers
            if component_id and container and (has is None or container in has)
        ]
    return list(dict.fromkeys(items))


def _id_of(item: Any) -> str:
    """The id of a listed component or container, given as an object or as its id."""
    return str(item.get("_id") or "") if isinstance(item, dict) else str(item or "")


def rows(
    listing: dict[str, list[dict[str, Any]]], statuspage_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stored rows of Status.io's maintenance list: windows and their messages.

    A window's `components` are its affected items as `component-container` ids.
    """
    windows, messages = [], []
    for phase, items in listing.items():
        for raw in items:
            window_id = str(raw["_id"])
            windows.append(
                {
                    "id": window_id,
                    "statuspage_id": statuspage_id,
                    "name": raw.get("name") or "(untitled)",
                    "phase": phase,
                    "planned_start": parse_time(raw.get("datetime_planned_start")),
                    "planned_end": parse_time(raw.get("datetime_planned_end")),
                    "components": affected_items(raw),
                }
            )
            for position, message in enumerate(raw.get("messages") or []):
                posted = parse_time(message.get("datetime"))
                if posted is not None:
                    messages.append(
                        {
                            "id": str(message.get("_id") or f"{window_id}-{position}"),
                            "maintenance_id": window_id,
                            "details": message.get("details") or "",
                            "state": message.get("state"),
                            "posted_at": posted,
                        }
                    )
    return windows, messages


def refresh(*, engine: Engine, client: StatusIoClient, statuspage_id: str) -> int:
    """Store Status.io's maintenance list, dropping open windows it no longer has; how many."""
    windows, messages = rows(client.maintenances(statuspage_id=statuspage_id), statuspage_id)
    with session_scope(engine) as session:
        upsert(session, Maintenance, windows, keys=("id",))
        upsert(session, MaintenanceMessage, messages, keys=("id",))
        gone = session.exec(
            select(Maintenance.id).where(
                Maintenance.statuspage_id == statuspage_id,
                Maintenance.phase != MaintenancePhase.RESOLVED,
                col(Maintenance.id).not_in([w["id"] for w in windows]),
            )
        ).all()
        if gone:
            session.execute(
                delete(MaintenanceMessage).where(col(MaintenanceMessage.maintenance_id).in_(gone))
            )
            session.execute(delete(Maintenance).where(col(Maintenance.id).in_(gone)))
    return len(windows)


def plan_problems(plan: Plan, *, now: datetime, project: str) -> list[str]:
    """What stops a window from being scheduled, in plain words; empty when it may go."""
    found = []
    if not plan.name.strip():
        found.append(EMPTY_NAME)
    if not plan.details.strip():
        found.append(EMPTY_DETAILS)
    if not plan.components and not plan.all_infrastructure:
        found.append(NO_COMPONENTS)
    if to_minute(plan.start) < to_minute(now):
        found.append(START_IN_PAST.format(start=when(plan.start), now=when(now)))
    if to_minute(plan.end) <= to_minute(plan.start):
        found.append(END_BEFORE_START.format(start=when(plan.start), end=when(plan.end)))
    if plan.issue_url.strip() and linking.first_issue_iid([plan.issue_url], project) is None:
        found.append(BAD_ISSUE_LINK.format(project=project))
    return found


def overrun(window: Window, *, now: datetime) -> Overrun | None:
    """How long an active window has run past its planned end; None when it has not."""
    end = window.planned_end
    if window.phase != MaintenancePhase.ACTIVE or end is None or to_minute(now) <= end:
        return None
    return Overrun(to_minute(now) - to_minute(end))


def reminder_offers(start: datetime, *, now: datetime) -> list[ReminderOffer]:
    """The 72-hour, 24-hour and 1-hour reminders for a window starting at `start`."""
    ahead = to_minute(start) - to_minute(now)
    return [
        ReminderOffer(key, NOTICE_LABELS[key], lead, ahead) for key, lead in REMINDER_LEADS.items()
    ]


def feasible(plan: Plan, *, now: datetime) -> Plan:
    """The plan without the reminders that can no longer go out before its start."""
    late = {o.key for o in reminder_offers(plan.start, now=now) if not o.possible}
    return replace(plan, notify={k: on and k not in late for k, on in plan.notify.items()})


def dropped_reminders(plan: Plan, *, now: datetime) -> list[str]:
    """The reminders a plan asks for that can no longer go out, each with why."""
    return [
        o.missing
        for o in reminder_offers(plan.start, now=now)
        if plan.notify.get(o.key) and o.missing is not None
    ]


def early_start(window: Window, action: Action, *, now: datetime) -> timedelta | None:
    """How long before its planned start a start would be, when that needs a reason."""
    start = window.planned_start
    if action != Action.START or start is None:
        return None
    early = to_minute(start) - to_minute(now)
    return early if early > EARLY_START_GRACE else None


def automation_words(window: Window) -> str:
    """The window's automation, as far as anyone can tell from here."""
    return AUTOMATION_STATES[window.automation]


def reminder_words(window: Window, *, now: datetime) -> str:
    """The window's reminders before its start: set from here, still to come, or not reported."""
    if window.notify is None:
        return REMINDERS_NOT_REPORTED
    chosen = [key for key in REMINDERS if window.notify.get(key)]
    if not chosen:
        return REMINDERS_NONE
    said = REMINDERS_SET.format(which=_listing([REMINDERS[key] for key in chosen]))
    if window.planned_start is None or window.phase != MaintenancePhase.UPCOMING:
        return said
    ahead = [key for key in chosen if window.planned_start - REMINDER_LEADS[key] > to_minute(now)]
    if not ahead:
        return said + REMINDERS_DONE
    times = [
        f"{REMINDERS[k]} before, at {when(window.planned_start - REMINDER_LEADS[k])}" for k in ahead
    ]
    return said + REMINDERS_AHEAD.format(which=_listing(times))


def needs_automation_disabled(window: Window, action: Action) -> bool:
    """Starting, finishing or updating a running maintenance needs automation off first."""
    touches_run = action in (Action.START, Action.FINISH) or (
        action == Action.UPDATE and window.phase == MaintenancePhase.ACTIVE
    )
    return touches_run and window.automation is not False


def warns_of_reminders(window: Window, action: Action) -> bool:
    """An update before the start may duplicate the email reminders Status.io sends."""
    return (
        action == Action.UPDATE
        and window.phase == MaintenancePhase.UPCOMING
        and window.reminders is not False
    )


def refusal_note(window: Window, action: Action) -> str | None:
    """What happens if Status.io refuses this action, when no source says it accepts it."""
    before_start = action == Action.UPDATE and window.phase == MaintenancePhase.UPCOMING
    return UPDATE_BEFORE_START if before_start else None


def reschedule_warnings(window: Window) -> list[str]:
    """What a reschedule of this window cannot keep on its own, in plain words."""
    count = len(window.unlisted)
    if not count:
        return []
    one = count == 1
    return [
        UNLISTED_ITEMS.format(count=count, are="is" if one else "are", them="it" if one else "them")
    ]


def unlisted_note(window: Window) -> str | None:
    """The affected items a window's card cannot name, counted."""
    count = len(window.unlisted)
    return UNLISTED_NOTE.format(count=count, s="" if count == 1 else "s") if count else None


def warnings(window: Window, action: Action, *, now: datetime) -> list[str]:
    """What the CMOC must know before this action, in the handbook's words."""
    found = []
    early = early_start(window, action, now=now)
    if early is not None and window.planned_start is not None:
        found.append(EARLY_START.format(start=when(window.planned_start), early=lasting(early)))
    if needs_automation_disabled(window, action):
        this = AUTOMATION_KNOWN if window.automation else AUTOMATION_UNREPORTED
        found.append(AUTOMATION_WARNING.format(this=this, verb=VERBS[action]))
    if warns_of_reminders(window, action):
        found.append(REMINDERS_ON if window.reminders else REMINDERS_UNREPORTED)
    return found


def action_label(window: Window, action: Action) -> str:
    """The button's name, as Status.io calls it."""
    if action == Action.UPDATE and window.phase == MaintenancePhase.UPCOMING:
        return UPDATE_WITHOUT_STARTING
    return ACTION_LABELS[action]


def default_notice(window: Window, action: Action) -> Notice:
    """The suggested message: the default text with the issue link, email off before reminders."""
    text = DEFAULT_TEXTS[action]
    if text and window.issue_url:
        text += ISSUE_SUFFIX.format(url=window.issue_url)
    broadcast = dict.fromkeys(BROADCAST_CHANNELS, True)
    if warns_of_reminders(window, action):
        broadcast["notify_email"] = False
    return Notice(text, broadcast)


def notice_problems(window: Window, action: Action, notice: Notice, *, now: datetime) -> list[str]:
    """What stops an update, a start or a finish, in plain words; empty when it may go."""
    found = []
    if action not in CALLS or action not in window.actions:
        found.append(NOT_ALLOWED.format(phase=PHASE_NAMES[window.phase], done=DONE[action]))
    if not notice.details.strip():
        found.append(EMPTY_MESSAGE)
    if needs_automation_disabled(window, action) and not notice.automation_disabled:
        found.append(AUTOMATION_NOT_DISABLED)
    early = early_start(window, action, now=now)
    if early is not None and window.planned_start and not notice.early_reason.strip():
        found.append(NO_EARLY_REASON.format(early=lasting(early), start=when(window.planned_start)))
    return found


def plan_for(window: Window, *, now: datetime) -> Plan:
    """The window's plan as far as this app knows it: where a reschedule starts from."""
    plan = Plan(
        name=window.name,
        details=RESCHEDULED_NOTE_PATTERN.sub("", window.details),
        start=window.planned_start or now,
        end=window.planned_end or now,
        components=list(window.component_ids),
        issue_url=window.issue_url or "",
    )
    if window.automation is not None:
        plan = replace(plan, automation=window.automation)
    if window.notify is not None:
        plan = replace(plan, notify=dict(window.notify))
    return plan


def rescheduled(plan: Plan, original: Window) -> Plan:
    """The replacement plan, its details opening with when the window moved from and to."""
    details = RESCHEDULED_NOTE_PATTERN.sub("", plan.details.strip())
    note = RESCHEDULED_NOTE.format(
        old=span(original.planned_start, original.planned_end), new=span(plan.start, plan.end)
    )
    return replace(plan, details=note + details)


def subscriber_sentence(plan: Plan, *, replacing: Window | None = None) -> str:
    """What subscribers will receive, in one or two plain sentences."""
    window = f"“{plan.name}”, {span(plan.start, plan.end)}"
    reminders = [label for key, label in REMINDERS.items() if plan.notify.get(key)]
    told = (
        f"Subscribers get a maintenance notice now for {window}"
        if plan.notify.get("now")
        else f"Subscribers are not notified now of {window}"
    )
    later = (
        f", then reminders {_listing(reminders)} before the start."
        if reminders
        else ", and no reminders before the start."
    )
    if replacing is None:
        return told + later
    original = span(replacing.planned_start, replacing.planned_end)
    return f"{told}{later} {ORIGINAL_DELETED.format(original=original)}"


def audit_log(*, session: Session, limit: int = 50) -> list[AuditEntry]:
    """The latest maintenance actions, newest first."""
    query = (
        select(AuditEntry)
        .where(col(AuditEntry.action).in_([a.value for a in Action]))
        .order_by(col(AuditEntry.at).desc())
        .limit(limit)
    )
    return list(session.exec(query))


@dataclass
class Publisher:
    """Runs maintenance actions on one status page for the viewer, then refreshes the list."""

    # The outbox refuses (`access.Refused`) what the viewer may not do before writing anything.

    engine: Engine
    client: StatusIoClient | None
    statuspage_id: str
    project: str
    viewer: Viewer

    def refusal(self, action: Action) -> str | None:
        """Why the viewer may not take this maintenance action, in one sentence, or None."""
        return self.viewer.refusal(permission_for(action))

    def schedule(self, *, plan: Plan, now: datetime, draft: str | None = None) -> Outcome:
        """Schedule a new maintenance window; once it is sent, forget the form's `draft`."""
        found = plan_problems(plan, now=now, project=self.project)
        if found:
            return Outcome(OutcomeStatus.FAILED, " ".join(found))
        dropped = dropped_reminders(plan, now=now)
        command = self._scheduling(feasible(plan, now=now), replacing=None)
        outcome = self._send(command, now, on_sent=_forgetting(draft))
        if dropped and outcome.ok:
            said = " ".join([outcome.message.rstrip(".") + ".", *dropped])
            outcome = replace(outcome, message=said)
        return self._refreshed(outcome)

    def post(self, *, window: Window, action: Action, notice: Notice, now: datetime) -> Outcome:
        """Start a maintenance, post an update without starting it, or finish it."""
        found = notice_problems(window, action, notice, now=now)
        if found:
            return Outcome(OutcomeStatus.FAILED, " ".join(found))
        early = early_start(window, action, now=now)
        reason = ""
        if early is not None and window.planned_start:
            reason = EARLY_AUDIT.format(
                early=lasting(early),
                start=when(window.planned_start),
                reason=notice.early_reason.strip(),
            )
        command = PostMaintenance(
            statuspage_id=self.statuspage_id,
            call=CALLS[action],
            maintenance_id=window.id,
            name=window.name,
            details=notice.details,
            broadcast=flags(notice.broadcast),
            subject=SUBJECTS[action].format(name=window.name),
            automation_disabled=notice.automation_disabled,
            reason=reason,
        )
        outcome = self._send(command, now)
        if refusal_note(window, action) and isinstance(outcome.cause, ApiRejected):
            reason = outcome.cause.cause
            message = UPDATE_REFUSED_BEFORE_START.format(name=window.name, reason=reason)
            return replace(outcome, message=message)
        return self._refreshed(outcome)

    def reschedule(self, *, window: Window, plan: Plan, now: datetime) -> Outcome:
        """Move an upcoming window: schedule the replacement, then delete the original."""
        started = self._started_reschedule(window.id)
        if started is None:
            found = plan_problems(plan, now=now, project=self.project)
            if Action.RESCHEDULE not in window.actions:
                found.insert(
                    0, NOT_ALLOWED.format(phase=PHASE_NAMES[window.phase], done="rescheduled")
                )
            if found:
                return Outcome(OutcomeStatus.FAILED, f"{' '.join(found)} {ORIGINAL_KEPT}")
            plan = feasible(plan, now=now)
            scheduling = self._scheduling(rescheduled(plan, window), replacing=window.id)
            resumed = ""
        else:
            scheduling = started
            asked = self._scheduling(
                rescheduled(feasible(plan, now=now), window), replacing=window.id
            )
            new = span(started.start, started.end)
            resumed = "" if asked == started else " " + RESUMED.format(new=new)
        first = self._send(scheduling, now)
        if not first.ok:
            return Outcome(first.status, f"{first.message} {ORIGINAL_KEPT}")
        deleting = DeleteMaintenance(
            statuspage_id=self.statuspage_id, maintenance_id=window.id, name=window.name
        )
        second = self._send(deleting, now)
        if not second.ok:
            return self._refreshed(
                Outcome(second.status, HALF_DONE.format(reason=second.message), first.result)
            )
        both_before = first.status == second.status == OutcomeStatus.ALREADY_SENT
        status = OutcomeStatus.ALREADY_SENT if both_before else OutcomeStatus.SENT
        sentence = subscriber_sentence(_plan_of(scheduling), replacing=window)
        return self._refreshed(Outcome(status, f"Rescheduled. {sentence}{resumed}", first.result))

    def _scheduling(self, plan: Plan, *, replacing: str | None) -> ScheduleMaintenance:
        """The command that schedules a plan (as a reschedule when it replaces a window)."""
        return ScheduleMaintenance(
            statuspage_id=self.statuspage_id,
            name=plan.name,
            details=plan.text,
            components=tuple(plan.components),
            start=to_minute(plan.start),
            end=to_minute(plan.end),
            all_infrastructure=plan.all_infrastructure,
            automation=plan.automation,
            notify=flags(plan.notify),
            subject=SUBJECTS[Action.SCHEDULE].format(name=plan.name),
            replacing=replacing,
        )

    def _send(
        self,
        command: Command,
        now: datetime,
        on_sent: Callable[[Session, dict[str, Any]], None] | None = None,
    ) -> Outcome:
        if self.client is None:
            return Outcome(OutcomeStatus.FAILED, NOT_CONFIGURED)
        outbox = Outbox(self.engine, Clients(statusio=self.client))
        return outbox.publish(command, actor=self.viewer, now=now, on_sent=on_sent)

    def _refreshed(self, outcome: Outcome) -> Outcome:
        """The outcome, after storing Status.io's list again when something may have changed."""
        if self.client is None or outcome.status not in ("sent", "already_sent", "unknown"):
            return outcome
        try:
            refresh(engine=self.engine, client=self.client, statuspage_id=self.statuspage_id)
        except ApiError as exc:
            return replace(outcome, message=outcome.message + NOT_REFRESHED.format(reason=exc))
        return outcome

    def _started_reschedule(self, window_id: str) -> ScheduleMaintenance | None:
        """The replacement of this window that went out or may have."""
        with Session(self.engine) as session:
            entries = session.exec(
                select(OutboxEntry).where(
                    OutboxEntry.action == Action.RESCHEDULE.value,
                    OutboxEntry.status != PublishStatus.FAILED,
                )
            ).all()
        commands = (Command.restore(e.payload) for e in entries)
        return next(
            (
                c
                for c in commands
                if isinstance(c, ScheduleMaintenance) and c.replacing == window_id
            ),
            None,
        )


def _forgetting(draft: str | None) -> Callable[[Session, dict[str, Any]], None] | None:
    """Forget the form's draft in the transaction that records the window as sent."""
    if draft is None:
        return None
    return lambda session, _result: drafts.discard(session=session, key=draft)


def draft_values(plan: Plan) -> dict[str, Any]:
    """The schedule form's values as a draft keeps them (JSON: dates and times as text)."""
    start, end = plan.start.astimezone(UTC), plan.end.astimezone(UTC)
    return {
        "name": plan.name,
        "issue_url": plan.issue_url,
        "details": plan.details,
        "start_date": start.date().isoformat(),
        "start_time": start.time().isoformat("minutes"),
        "end_date": end.date().isoformat(),
        "end_time": end.time().isoformat("minutes"),
        "components": list(plan.components),
        "all_infrastructure": plan.all_infrastructure,
        "automation": plan.automation,
        "notify": dict(plan.notify),
    }


def plan_from_draft(values: dict[str, Any], default: Plan) -> Plan:
    """The plan a saved draft holds; what it lacks or cannot be read comes from `default`."""
    if not values:
        return default
    try:
        start = _moment(values["start_date"], values["start_time"])
        end = _moment(values["end_date"], values["end_time"])
    except (KeyError, TypeError, ValueError):
        start, end = default.start, default.end
    notify = values.get("notify")
    return Plan(
        name=str(values.get("name", default.name)),
        details=str(values.get("details", default.details)),
        start=start,
        end=end,
        components=[str(c) for c in values.get("components") or []],
        all_infrastructure=bool(values.get("all_infrastructure", default.all_infrastructure)),
        automation=bool(values.get("automation", default.automation)),
        notify={k: bool(notify.get(k, True)) for k in NOTICE_LABELS}
        if isinstance(notify, dict)
        else dict(default.notify),
        issue_url=str(values.get("issue_url", default.issue_url)),
    )


def _moment(day: str, at: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), tzinfo=UTC)


def load_draft(*, session: Session, default: Plan) -> Plan:
    """The schedule form as it was last typed, or `default` when nothing is kept."""
    return plan_from_draft(drafts.load(session=session, key=SCHEDULE_DRAFT), default)


def keep_draft(*, session: Session, plan: Plan, default: Plan, now: datetime) -> None:
    """Keep the schedule form as typed, unless it is untouched and nothing was kept before."""
    values = draft_values(plan)
    kept = drafts.load(session=session, key=SCHEDULE_DRAFT)
    if values == kept or (not kept and values == draft_values(default)):
        return
    drafts.save(session=session, key=SCHEDULE_DRAFT, values=values, now=now)


def _plan_of(command: ScheduleMaintenance) -> Plan:
    """The plan a scheduling command was made from (its details already hold the issue link)."""
    return Plan(
        name=command.name,
        details=command.details,
        start=command.start,
        end=command.end,
        components=list(command.components),
        all_infrastructure=command.all_infrastructure,
        automation=command.automation,
        notify=dict(command.notify),
    )


@dataclass(frozen=True)
class PendingNotice:
    """A start, an update or a finish, checked and waiting for the CMOC to confirm it."""

    window: Window
    action: Action
    notice: Notice


@dataclass(frozen=True)
class PendingPlan:
    """A new window, or the move of `original`, checked and waiting for the CMOC to confirm it."""

    plan: Plan
    component_names: tuple[str, ...] = ()
    original: Window | None = None
    draft: str | None = None

    @property
    def action(self) -> Action:
        """Scheduling a new window, or moving `original`."""
        return Action.SCHEDULE if self.original is None else Action.RESCHEDULE

    @property
    def announced(self) -> Plan:
        """The plan as subscribers will read it: a move says where the window was."""
        return self.plan if self.original is None else rescheduled(self.plan, self.original)


Pending = PendingNotice | PendingPlan


def send(*, publisher: Publisher, pending: Pending, now: datetime) -> Outcome:
    """Send what the CMOC confirmed: a notice, a new window, or the move of a window."""
    if isinstance(pending, PendingNotice):
        return publisher.post(
            window=pending.window, action=pending.action, notice=pending.notice, now=now
        )
    if pending.original is not None:
        return publisher.reschedule(window=pending.original, plan=pending.plan, now=now)
    return publisher.schedule(plan=pending.plan, now=now, draft=pending.draft)
