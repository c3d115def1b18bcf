"""End of shift: the CMOC shifts, a handover issue drafted from a shift's window, created once.

The handover KPI counts an issue authored by the shift's CMOC within two hours of the shift's
end, so the issue is created in the CMOC's name (GitLab `sudo`, which needs an administrator's
token) unless the token is the CMOC's own, and stored at once so the KPI sees it before a sync.
Since `sudo` acts as someone else, only that CMOC, signed in, or a manager may ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import cadence, handbook, linking, rota
from cmoc_core import drafts as draft_store
from cmoc_core.access import Permission, Refused, Viewer
from cmoc_core.clients import Clients
from cmoc_core.clients.gitlab import GitLabClient
from cmoc_core.clients.http import ApiError
from cmoc_core.commands import CreateIssue
from cmoc_core.config import Settings
from cmoc_core.models import (
    GitLabIssue,
    Identity,
    IssueKind,
    Maintenance,
    MaintenancePhase,
    OnCallEntry,
    OutboxEntry,
    Person,
    PublishStatus,
    ScheduleKind,
    StatusPageIncident,
    StatusPageMessage,
    System,
    WorkingIncident,
)
from cmoc_core.outbox import Outbox, Outcome, OutcomeStatus
from cmoc_core.rota import HANDOVER_WINDOW, People
from cmoc_core.severity import severities
from cmoc_core.storage import upsert
from cmoc_core.sync import gitlab_issue_row
from cmoc_core.timeutil import iso_z

RECENT = timedelta(days=14)
REMINDER_LEAD = timedelta(hours=1)
UPCOMING_MAINTENANCE = timedelta(days=7)
# Our clock and GitLab's may differ; the title and text must match exactly anyway.
LABELS = ["Handover"]
CONFIDENTIAL_REASON = (
    "The handover tracker is public, but a handover can mention customers and confidential "
    "incidents, so the handbook's Handover template makes the issue confidential."
)
NO_NOTES = "Nothing else to report."
NOTHING_HAPPENED = "Nothing happened during this shift: nothing to hand over, all is well."


def _when(moment: datetime | None) -> str:
    return f"{moment:%d-%m-%Y %H:%M} UTC" if moment else "unknown"


@dataclass(frozen=True)
class Shift:
    """A CMOC's merged on-call span, the GitLab account to author its handover, its handover."""

    user_id: str
    person: str
    region: str | None
    start: datetime
    end: datetime
    gitlab_username: str | None = None
    gitlab_ids: frozenset[str] = frozenset()
    handover_url: str | None = None
    counted: bool = False
    person_key: str | None = None  # the mapped person on call, to tell whose shift it is

    @property
    def key(self) -> str:
        """The shift's identity: its PagerDuty user and start."""
        return f"{self.user_id}@{iso_z(self.start)}"

    @property
    def handed_over(self) -> bool:
        """A handover issue exists for the shift (counted or not)."""
        return self.handover_url is not None

    @property
    def counts_until(self) -> datetime:
        """The last moment a handover issue created for the shift counts for it."""
        return self.end + HANDOVER_WINDOW

    def describe(self) -> str:
        """`Alice Adams · AMER · 02-02-2026 08:00 – 02-02-2026 16:00 UTC`."""
        where = f" · {self.region}" if self.region else ""
        return f"{self.person}{where} · {self.start:%d-%m-%Y %H:%M} – {_when(self.end)}"


def recent_shifts(
    *, session: Session, settings: Settings, now: datetime, within: timedelta = RECENT
) -> list[Shift]:
    """CMOC shifts begun by `now` and ending after `now - within`, newest first, with handovers."""
    query = select(OnCallEntry).where(
        OnCallEntry.schedule_kind == ScheduleKind.CMOC, col(OnCallEntry.start) <= now
    )
    if settings.pagerduty_cmoc_schedule_ids:
        query = query.where(col(OnCallEntry.schedule_id).in_(settings.pagerduty_cmoc_schedule_ids))
    entries = session.exec(query).all()
    spans = [
        (shift.user_id, shift.region, shift.start, shift.end)
        for shift in rota.shifts(entries)
        if shift.end is not None and now - within < shift.end
    ]
    if not spans:
        return []
    people = People.load(session=session)
    accounts = session.exec(select(Identity).where(Identity.system == System.GITLAB)).all()
    keys = dict(
        session.exec(
            select(Identity.external_id, Person.key)
            .join(Person, col(Identity.person_id) == col(Person.id))
            .where(
                Identity.system == System.PAGERDUTY,
                col(Identity.external_id).in_(sorted({user for user, _, _, _ in spans})),
            )
        ).all()
    )
    handovers = [
        (people.name(System.GITLAB, author), created, url)
        for author, created, url in session.exec(
            select(GitLabIssue.author_id, GitLabIssue.created_at, GitLabIssue.web_url)
            .where(
                GitLabIssue.kind == IssueKind.HANDOVER,
                col(GitLabIssue.created_at) >= min(s[3] for s in spans) - HANDOVER_WINDOW,
            )
            .order_by(col(GitLabIssue.created_at))
        )
    ]
    sent = {
        entry.key: (entry.result or {}).get("web_url")
        for entry in session.exec(
            select(OutboxEntry).where(
                col(OutboxEntry.key).in_([_outbox_key(user, start) for user, _, start, _ in spans]),
                OutboxEntry.status == PublishStatus.SENT,
            )
        )
    }
    shifts = []
    for user, region, start, end in sorted(spans, key=lambda span: span[2], reverse=True):
        person = people.name(System.PAGERDUTY, user) or user
        counting = next(
            (
                url
                for author, created, url in handovers
                if author == person and abs(created - end) <= HANDOVER_WINDOW
            ),
            None,
        )
        own = [
            (i.external_id, i.username)
            for i in accounts
            if people.name(System.GITLAB, i.external_id) == person
        ]
        shifts.append(
            Shift(
                user_id=user,
                person=person,
                region=region,
                start=start,
                end=end,
                gitlab_username=next((name for _, name in own if name), None),
                gitlab_ids=frozenset(external_id for external_id, _ in own),
                handover_url=counting or sent.get(_outbox_key(user, start)),
                counted=counting is not None,
                person_key=keys.get(user),
            )
        )
    return shifts


def current_shift(shifts: list[Shift], now: datetime) -> Shift | None:
    """The shift to preselect: of those begun and still to hand over, the one ending nearest now.

    A shift is still to hand over while it has no handover issue and one created now would
    count (until two hours after its end). Without one, the shift on call at `now` (the latest
    to start), else the latest to have ended.
    """
    due = [s for s in shifts if s.start <= now and not s.handed_over and now <= s.counts_until]
    if due:
        return min(due, key=lambda s: (abs(s.end - now), s.end))
    on_call = rota.on_call_at(shifts, now)
    if on_call is not None:
        return on_call
    ended = [s for s in shifts if s.end <= now]
    return max(ended, key=lambda s: s.end) if ended else None


def find_shift(shifts: list[Shift], key: str) -> Shift:
    """The shift with this key, or a LookupError saying there is none."""
    for shift in shifts:
        if shift.key == key:
            return shift
    raise LookupError(
        f"There is no CMOC shift {key} among the last {RECENT.days} days' shifts. "
        "Pick one from the list (sync PagerDuty if yours is missing)."
    )


def reminder(*, shift: Shift, now: datetime) -> str | None:
    """What to remind of, from an hour before the shift's end until it is handed over."""
    # Two hours after the end a handover no longer counts for the shift: the reminder stops.
    deadline = shift.counts_until
    if shift.handed_over or not shift.end - REMINDER_LEAD <= now <= deadline:
        return None
    if now < shift.end:
        return (
            f"{shift.person}'s shift ends at {_when(shift.end)}: create the handover issue, "
            "even if nothing happened."
        )
    return (
        f"{shift.person}'s shift ended at {_when(shift.end)} and has no handover issue yet: "
        f"create it by {_when(deadline)} so that it counts."
    )


@dataclass(frozen=True)
class IncidentNote:
    """A status-page incident as the shift left it."""

    title: str
    issue_url: str | None
    severity: int | None
    state: int
    resolved: bool
    last_update: datetime
    next_due: datetime | None


@dataclass(frozen=True)
class MaintenanceNote:
    """A maintenance window in progress or coming up at the shift's end."""

    name: str
    start: datetime | None
    end: datetime | None
    in_progress: bool


@dataclass(frozen=True)
class ContactRequestNote:
    """A contact request opened during the shift."""

    title: str
    url: str | None
    opened_at: datetime
    closed: bool
    assignees: tuple[str, ...]


@dataclass(frozen=True)
class Window:
    """What happened in a shift: the facts a handover reports."""

    shift: Shift
    incidents: list[IncidentNote]
    maintenance: list[MaintenanceNote]
    contact_requests: list[ContactRequestNote]

    @property
    def quiet(self) -> bool:
        """Nothing to report."""
        return not (self.incidents or self.maintenance or self.contact_requests)


def gather(*, session: Session, settings: Settings, shift: Shift) -> Window:
    """The incidents, maintenance and contact requests of a shift, as they stood at its end."""
    return Window(
        shift,
        _incidents(session, settings, shift),
        _maintenance(session, settings, shift.end),
        _contact_requests(session, settings, shift),
    )


def _incidents(session: Session, settings: Settings, shift: Shift) -> list[IncidentNote]:
    """Incidents open at some time in the shift: begun before its end, not resolved before it."""
    span = (
        select(
            StatusPageMessage.incident_id,
            func.min(StatusPageMessage.posted_at).label("first_at"),
            func.max(StatusPageMessage.posted_at).label("last_at"),
        )
        .group_by(col(StatusPageMessage.incident_id))
        .subquery()
    )
    query = (
        select(StatusPageIncident, span.c.last_at)
        .join(span, span.c.incident_id == StatusPageIncident.id)
        .where(
            span.c.first_at < shift.end,
            col(StatusPageIncident.resolved).is_(False) | (span.c.last_at >= shift.start),
        )
    )
    if settings.statusio_statuspage_id:
        query = query.where(StatusPageIncident.statuspage_id == settings.statusio_statuspage_id)
    found = list(session.exec(query))
    project = settings.gitlab_production_project
    levels = severities(
        session=session,
        project=project,
        iids=(i.production_issue_iid for i, _ in found if i.production_issue_iid),
    )
    pattern = linking.issue_url_pattern(project)
    notes: dict[str, IncidentNote] = {}
    for incident, last_at in found:
        messages = session.exec(
            select(StatusPageMessage)
            .where(
                StatusPageMessage.incident_id == incident.id,
                col(StatusPageMessage.posted_at) < shift.end,
            )
            .order_by(col(StatusPageMessage.posted_at))
        ).all()
        last = messages[-1]
        level = levels.get(incident.production_issue_iid or -1)
        severity = level.at(last.posted_at) if level else None
        resolved = incident.resolved and last_at < shift.end
        link = next((m.group(0) for x in messages if (m := pattern.search(x.details))), None)
        notes[incident.id] = IncidentNote(
            title=incident.name,
            issue_url=link,
            severity=severity,
            state=last.state,
            resolved=resolved,
            last_update=last.posted_at,
            next_due=None
            if resolved or last.state not in handbook.CADENCE_MINUTES
            else cadence.next_due(
                posted_at=last.posted_at, text=last.details, state=last.state, severity=severity
            ),
        )
    for working in _published_working_incidents(session, settings, shift):
        known = notes.get(working.statuspage_incident_id or "")
        assert working.last_posted_at is not None
        if known is None or known.last_update < working.last_posted_at:
            resolved = working.resolved_at is not None and working.resolved_at < shift.end
            notes[working.statuspage_incident_id or ""] = IncidentNote(
                title=working.title,
                issue_url=working.issue_url,
                severity=working.severity,
                state=working.state,
                resolved=resolved,
                last_update=working.last_posted_at,
                next_due=None if resolved else working.next_due(),
            )
    return sorted(notes.values(), key=lambda n: (n.resolved, n.last_update))


def _published_working_incidents(
    session: Session, settings: Settings, shift: Shift
) -> list[WorkingIncident]:
    """Incidents published from this app during the shift, which a sync may not have seen yet."""
    query = select(WorkingIncident).where(
        col(WorkingIncident.practice).is_(False),
        col(WorkingIncident.statuspage_incident_id).is_not(None),
        col(WorkingIncident.last_posted_at) >= shift.start,
        col(WorkingIncident.last_posted_at) < shift.end,
    )
    if settings.statusio_statuspage_id:
        query = query.where(WorkingIncident.statuspage_id == settings.statusio_statuspage_id)
    return list(session.exec(query))


def _maintenance(session: Session, settings: Settings, at: datetime) -> list[MaintenanceNote]:
    """Maintenance in progress at `at` (or started and not finished), or due within a week."""
    query = select(Maintenance).where(
        col(Maintenance.planned_start).is_not(None),
        col(Maintenance.planned_start) <= at + UPCOMING_MAINTENANCE,
        (col(Maintenance.planned_end) > at) | (Maintenance.phase == MaintenancePhase.ACTIVE),
        Maintenance.phase != MaintenancePhase.RESOLVED,
    )
    if settings.statusio_statuspage_id:
        query = query.where(Maintenance.statuspage_id == settings.statusio_statuspage_id)
    return [
        MaintenanceNote(m.name, m.planned_start, m.planned_end, (m.planned_start or at) <= at)
        for m in session.exec(query.order_by(col(Maintenance.planned_start)))
    ]


def _contact_requests(
    session: Session, settings: Settings, shift: Shift
) -> list[ContactRequestNote]:
    query = (
        select(GitLabIssue)
        .where(
            GitLabIssue.kind == IssueKind.CONTACT_REQUEST,
            col(GitLabIssue.created_at) >= shift.start,
            col(GitLabIssue.created_at) < shift.end,
        )
        .order_by(col(GitLabIssue.created_at))
    )
    label = settings.gitlab_contact_request_label
    people = People.load(session=session)
    return [
        ContactRequestNote(
            title=issue.title,
            url=issue.web_url,
            opened_at=issue.created_at,
            closed=issue.closed_at is not None and issue.closed_at < shift.end,
            assignees=tuple(people.name(System.GITLAB, a) or a for a in issue.assignee_ids),
        )
        for issue in session.exec(query)
        if not label or label in issue.labels
    ]


@dataclass(frozen=True)
class HandoverDraft:
    """The handover issue about to be created."""

    title: str
    body: str
    confidential: bool = True


def title(shift: Shift) -> str:
    """`CMOC Handover 2026-02-02 AMER`, as the handover tracker names them."""
    return f"CMOC Handover {shift.start:%Y-%m-%d} {shift.region or f'{shift.start:%H:%M} UTC'}"


def _opening(shift: Shift) -> str:
    region = f" ({shift.region})" if shift.region else ""
    return (
        f"Handover from {shift.person}, CMOC{region} from {_when(shift.start)} "
        f"to {_when(shift.end)}."
    )


def nothing_happened(shift: Shift) -> HandoverDraft:
    """The valid, encouraged handover of a quiet shift."""
    return HandoverDraft(title(shift), f"{_opening(shift)}\n\n{NOTHING_HAPPENED}\n")


def draft(window: Window) -> HandoverDraft:
    """The handover issue for a shift: its incidents, maintenance, contact requests and notes."""
    shift = window.shift
    if window.quiet:
        return nothing_happened(shift)
    sections = {
        "Incidents": [_incident_line(n) for n in window.incidents],
        "Maintenance": [
            f"- **{'In progress' if m.in_progress else 'Upcoming'}**: {m.name}, "
            f"{_when(m.start)} to {_when(m.end)}."
            for m in window.maintenance
        ],
        "Contact requests": [_contact_line(c) for c in window.contact_requests],
        "Notes": [NO_NOTES],
    }
    body = "\n\n".join(
        [_opening(shift)]
        + [f"## {name}\n\n" + ("\n".join(lines) or "None.") for name, lines in sections.items()]
    )
    return HandoverDraft(title(shift), body + "\n")


def _incident_line(note: IncidentNote) -> str:
    severity = f"S{note.severity}" if note.severity else "severity unknown"
    link = f" {note.issue_url}" if note.issue_url else ""
    last = f"last update {_when(note.last_update)}"
    if note.resolved:
        return f"- **Resolved**: {note.title} ({severity}), {last}.{link}"
    due = f"; next update due {_when(note.next_due)}" if note.next_due else ""
    state = handbook.state_name(note.state)
    return f"- **Still open**: {note.title} ({severity}, {state}), {last}{due}.{link}"


def _contact_line(request: ContactRequestNote) -> str:
    who = ", ".join(request.assignees) or "nobody"
    status = "closed" if request.closed else "still open"
    link = f" {request.url}" if request.url else ""
    return (
        f"- {request.title}, opened {_when(request.opened_at)}, assigned to {who}; {status}.{link}"
    )


def draft_key(shift: Shift) -> str:
    """The key the shift's handover draft is saved under."""
    return f"handover:{shift.key}"


def _intent(user_id: str, start: datetime) -> str:
    """One handover issue per shift, whatever the text or the author."""
    return f"{user_id} {iso_z(start)}"


def _outbox_key(user_id: str, start: datetime) -> str:
    return CreateIssue.key_of("create_handover", _intent(user_id, start))


def _own(viewer: Viewer, shift: Shift) -> bool:
    return viewer.person_key is not None and viewer.person_key == shift.person_key


def manager_for(*, viewer: Viewer, shift: Shift) -> str | None:
    """The shift's CMOC, when a signed-in manager creates the handover for them, else None."""
    if not viewer.signed_in or _own(viewer, shift) or not viewer.may(Permission.MANAGE):
        return None
    return shift.person


def creation_refusal(*, viewer: Viewer, shift: Shift) -> str | None:
    """Why this person may not create the shift's handover issue, in one sentence, or None."""
    # The issue is created in the shift's CMOC's name, so only that CMOC, signed in, may create
    # it, or a manager for them; without sign-in the configured user acts for everyone.
    if not viewer.signed_in or _own(viewer, shift):
        return viewer.refusal(Permission.PUBLISH)
    if viewer.may(Permission.MANAGE):
        return None
    who = viewer.email or viewer.name
    if viewer.person_key is None:
        return (
            f"You are signed in as {who}, whom the people mapping does not match to anyone on "
            f"the rotation, so this is not your shift: only {shift.person}, signed in, or a "
            "manager may create its handover issue, which is created in their name."
        )
    return (
        f"This is {shift.person}'s shift, not yours: its handover issue is created in their "
        f"name, so only {shift.person}, signed in, or a manager may create it."
    )


@dataclass(frozen=True)
class Creation:
    """How creating a handover issue ended; after a refusal, the token's user to retry as."""

    outcome: Outcome
    fallback_author: str | None = None

    @property
    def url(self) -> str | None:
        """The created issue's address."""
        return (self.outcome.result or {}).get("web_url") if self.outcome.ok else None


def create(
    *,
    engine: Engine,
    gitlab: GitLabClient | None,
    project: str,
    shift: Shift,
    handover: HandoverDraft,
    viewer: Viewer,
    now: datetime,
    as_token_user: bool = False,
) -> Creation:
    """Create the shift's handover issue once, in the CMOC's name unless `as_token_user`."""
    # Refused before anything is asked of GitLab or written.
    reason = creation_refusal(viewer=viewer, shift=shift)
    if reason is not None:
        raise Refused(reason)
    if gitlab is None:
        return Creation(
            Outcome(OutcomeStatus.FAILED, "GitLab is not configured, so nothing was created.")
        )
    try:
        token = gitlab.current_user()
    except ApiError as exc:
        return Creation(
            Outcome(OutcomeStatus.FAILED, f"{exc}. Nothing was created; your draft is kept.")
        )
    token_user = str(token.get("username") or token["id"])
    if as_token_user or str(token["id"]) in shift.gitlab_ids:
        sudo = None
    elif shift.gitlab_username:
        sudo = shift.gitlab_username
    else:
        return Creation(
            Outcome(
                OutcomeStatus.FAILED,
                f"{shift.person}'s GitLab account is not known yet (the people mapping on "
                "Sync & settings can name it), so the issue cannot be created in their name. "
                "Nothing was created; your draft is kept.",
            ),
            fallback_author=token_user,
        )
    command = CreateIssue(
        kind="create_handover",
        intent=_intent(shift.user_id, shift.start),
        project=project,
        title=handover.title,
        description=handover.body,
        labels=tuple(LABELS),
        confidential=handover.confidential,
        sudo=sudo,
        manager_for=manager_for(viewer=viewer, shift=shift),
    )

    def store(session: Session, issue: dict[str, Any]) -> None:
        upsert(
            session,
            GitLabIssue,
            [gitlab_issue_row(issue, project, IssueKind.HANDOVER)],
            keys=("id",),
        )
        draft_store.discard(session=session, key=draft_key(shift))

    outbox = Outbox(engine, Clients(gitlab=gitlab))
    outcome = outbox.publish(command, actor=viewer, now=now, on_sent=store)
    refused = outcome.cause.status if outcome.cause is not None else None
    if sudo and refused in (403, 404):
        refusal = (
            f"GitLab refused to create the issue as @{sudo}: only an administrator's token "
            f"with the sudo scope may act for another user, and @{token_user}'s is not one."
            if refused == 403
            else f"GitLab does not know the user @{sudo}."
        )
        return Creation(
            Outcome(OutcomeStatus.FAILED, f"{refusal} Nothing was created; your draft is kept."),
            fallback_author=token_user,
        )
    if outcome.ok:
        issue = outcome.result or {}
        author = issue.get("author") or {}
        done = "was already created" if outcome.status == OutcomeStatus.ALREADY_SENT else "created"
        note = (
            ""
            if str(author.get("id")) in shift.gitlab_ids
            else f" It is authored by @{author.get('username')}, so it does not count as "
            f"{shift.person}'s handover for this shift."
        )
        outcome = Outcome(
            outcome.status, f"Handover issue {done}: {issue.get('web_url')}.{note}", issue
        )
    return Creation(outcome)


def save_draft(
    *, session: Session, shift: Shift, body: str, confidential: bool, now: datetime
) -> None:
    """Keep the handover being written, so a reload or a restart loses nothing."""
    draft_store.save(
        session=session,
        key=draft_key(shift),
        values={"body": body, "confidential": confidential},
        now=now,
    )


def load_draft(*, session: Session, shift: Shift) -> dict[str, Any]:
    """The handover draft saved for this shift, or nothing."""
    return draft_store.load(session=session, key=draft_key(shift))


class ShiftStatus(StrEnum):
    """Where a shift stands with its handover, in the words of the shift picker."""

    HANDED_OVER = "handed over"
    NOT_COUNTED = "handed over (not counted)"
    ON_CALL = "on call now"
    NO_HANDOVER = "no handover yet"


def shift_status(shift: Shift, now: datetime) -> ShiftStatus:
    """Handed over (counted or not), on call at `now`, or still without a handover."""
    if shift.counted:
        return ShiftStatus.HANDED_OVER
    if shift.handed_over:
        return ShiftStatus.NOT_COUNTED
    return ShiftStatus.ON_CALL if shift.start <= now < shift.end else ShiftStatus.NO_HANDOVER


def still_open(window: Window) -> int:
    """How many of the window's incidents were not resolved by the shift's end."""
    return sum(not note.resolved for note in window.incidents)


@dataclass(frozen=True)
class Writing:
    """A handover being written: the shift's window, a fresh draft, and the text kept so far."""

    window: Window
    fresh: HandoverDraft
    kept: HandoverDraft


def writing(*, session: Session, settings: Settings, shift: Shift) -> Writing:
    """The shift's window, its fresh draft, and the text kept as typed (else the fresh one)."""
    window = gather(session=session, settings=settings, shift=shift)
    fresh = draft(window)
    saved = load_draft(session=session, shift=shift)
    kept = HandoverDraft(
        fresh.title,
        str(saved.get("body", fresh.body)),
        bool(saved.get("confidential", True)),
    )
    return Writing(window, fresh, kept)


@dataclass(frozen=True)
class Review:
    """What to tell the CMOC about a handover before it is created."""

    empty: bool
    public: bool
    leaves_out_activity: bool


def review(*, window: Window, handover: HandoverDraft) -> Review:
    """Whether the handover is empty, public, or says nothing happened when the data disagrees."""
    return Review(
        empty=not handover.body.strip(),
        public=not handover.confidential,
        leaves_out_activity=(
            not window.quiet and handover.body == nothing_happened(window.shift).body
        ),
    )
