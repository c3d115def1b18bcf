"""The live composer: working incidents, checks before publishing, drafts, and each action."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import cadence, drafts, handbook, linking
from cmoc_core.access import Viewer
from cmoc_core.clients import Clients
from cmoc_core.commands import (
    BY_HAND_PLACE,
    PRACTICE_PLACE,
    Action,
    AddLabel,
    ChangePage,
    Command,
    CreateStatusIncident,
    LocalRecord,
    Result,
    SlackNotice,
    UpdateStatusIncident,
    flags,
    permission_for,
)
from cmoc_core.config import Settings
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.history import production_issue
from cmoc_core.models import (
    UNKNOWN_SEVERITY_COUNTS_AS,
    AuditEntry,
    PagerDutyIncident,
    PublishStatus,
    SeverityChange,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.outbox import Actor, OnSent, Outbox, Outcome, OutcomeStatus, acting, audit
from cmoc_core.severity import severities
from cmoc_core.timeutil import moment


@dataclass
class Message:
    """What the CMOC is about to publish."""

    details: str
    state: int
    status: int
    broadcast: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(handbook.BROADCAST_CHANNELS, True)
    )


RECENTLY_RESOLVED = timedelta(hours=24)
# What each checklist button says: a call to a service, or a tick for what is done elsewhere.
STEP_ACTIONS = {
    StepKey.ACKNOWLEDGE_PAGE: "Acknowledge page",
    StepKey.RESOLVE_PAGE: "Resolve page",
    StepKey.LABEL_ISSUE: "Add label",
    StepKey.JOIN_CHANNEL: "Joined",
    StepKey.ZENDESK_TAG: "Done",
    StepKey.IM_ALL_CLEAR: "All-clear given",
    StepKey.FINAL_ZENDESK_CHECK: "Checked",
}
PUBLISHING = (Action.CREATE_INCIDENT, Action.UPDATE_INCIDENT, Action.RESOLVE_INCIDENT)
ALL_CLEAR_FIRST = "Resolve only after the Incident Manager's all-clear: tick it above."


def open_incidents(*, session: Session, now: datetime) -> list[WorkingIncident]:
    """Working incidents not resolved, or resolved in the last day (post-mortem), newest first."""
    query = (
        select(WorkingIncident)
        .where(
            col(WorkingIncident.resolved_at).is_(None)
            | (col(WorkingIncident.resolved_at) > now - RECENTLY_RESOLVED)
        )
        .order_by(col(WorkingIncident.opened_at).desc())
    )
    return list(session.exec(query))


def unadopted_active(*, session: Session, statuspage_ids: list[str]) -> list[StatusPageIncident]:
    """Synced active status-page incidents that have no working record yet."""
    adopted = select(WorkingIncident.statuspage_incident_id).where(
        col(WorkingIncident.statuspage_incident_id).is_not(None)
    )
    query = select(StatusPageIncident).where(
        col(StatusPageIncident.resolved).is_(False),
        col(StatusPageIncident.statuspage_id).in_(statuspage_ids),
        col(StatusPageIncident.id).not_in(adopted),
    )
    return list(session.exec(query.order_by(col(StatusPageIncident.datetime_open).desc())))


@dataclass(frozen=True)
class IncidentFacts:
    """What the CMOC knows when starting an incident (all but the title may come later)."""

    title: str
    practice: bool = False
    severity: int | None = None
    issue_url: str | None = None
    page_id: str | None = None
    slack_channel: str | None = None
    zoom_url: str | None = None


def start_incident(
    *,
    session: Session,
    facts: IncidentFacts,
    statuspage_id: str,
    now: datetime,
    actor: Actor = "CMOC",
) -> WorkingIncident:
    """A new working incident, not yet on the status page; its severity is the first change."""
    actor = acting(actor, permission_for(Action.CHANGE_FACTS, practice=facts.practice))
    incident = WorkingIncident(
        title=facts.title.strip() or "New incident",
        statuspage_id=statuspage_id,
        practice=facts.practice,
        opened_at=now,
        severity=facts.severity,
        issue_url=_blank_is_none(facts.issue_url),
        pagerduty_incident_id=facts.page_id,
        slack_channel=_blank_is_none(facts.slack_channel),
        zoom_url=_blank_is_none(facts.zoom_url),
    )
    session.add(incident)
    session.flush()
    if facts.severity is not None:
        session.add(
            SeverityChange(incident_id=incident.id or 0, at=now, level=facts.severity, actor=actor)
        )
    return incident


def statuspage_for(settings: Settings, *, practice: bool) -> str:
    """The status page an incident publishes to: the practice page for drills."""
    chosen = (
        settings.statusio_practice_statuspage_id if practice else settings.statusio_statuspage_id
    )
    return chosen or ""


def _blank_is_none(text: str | None) -> str | None:
    return (text or "").strip() or None


def open_pages(*, session: Session) -> list[PagerDutyIncident]:
    """PagerDuty pages still triggered or acknowledged, newest first."""
    query = (
        select(PagerDutyIncident)
        .where(col(PagerDutyIncident.status).in_(["triggered", "acknowledged"]))
        .order_by(col(PagerDutyIncident.created_at).desc())
    )
    return list(session.exec(query))


def pages_waiting(*, session: Session, ids: Sequence[str]) -> list[PagerDutyIncident]:
    """Of these pages, the ones still open that no working incident has taken, oldest first."""
    taken = select(WorkingIncident.pagerduty_incident_id).where(
        col(WorkingIncident.pagerduty_incident_id).is_not(None)
    )
    query = (
        select(PagerDutyIncident)
        .where(
            col(PagerDutyIncident.id).in_(list(ids)),
            col(PagerDutyIncident.status).in_(["triggered", "acknowledged"]),
            col(PagerDutyIncident.id).not_in(taken),
        )
        .order_by(col(PagerDutyIncident.created_at))
    )
    return list(session.exec(query))


def page_choices(*, session: Session, incident: WorkingIncident) -> list[PagerDutyIncident]:
    """The pages an incident may be tied to: the open ones, and its own even when closed."""
    pages = open_pages(session=session)
    current = incident.pagerduty_incident_id
    if current and all(page.id != current for page in pages):
        own = session.get(PagerDutyIncident, current)
        if own is not None:
            pages.append(own)
    return pages


SEVERITIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class EditableFacts:
    """What the CMOC may set or change at any time (the title until it is on the status page)."""

    title: str = ""
    severity: int | None = None
    page_id: str | None = None
    issue_url: str | None = None
    slack_channel: str | None = None
    zoom_url: str | None = None


def facts_of(incident: WorkingIncident) -> EditableFacts:
    """The incident's editable facts as they are now."""
    return EditableFacts(
        title=incident.title,
        severity=incident.severity,
        page_id=incident.pagerduty_incident_id,
        issue_url=incident.issue_url,
        slack_channel=incident.slack_channel,
        zoom_url=incident.zoom_url,
    )


@dataclass(frozen=True)
class FactsOutcome:
    """What a change of facts did: a sentence per fact changed, or why nothing was."""

    changed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


# How a change of facts is audited: the sentence saying what changed is the detail.
FACTS_TARGET = "Incident facts"


def change_facts(
    *,
    session: Session,
    incident_id: int,
    facts: EditableFacts,
    actor: Actor,
    now: datetime,
    project: str,
    seen: EditableFacts | None = None,
) -> FactsOutcome:
    """Apply the facts that differ, record each severity change, audit each change in words."""
    # With `seen` (the facts as the form showed them), a fact left as shown keeps what is stored
    # now, so a change made meanwhile in another session is not undone.
    incident = _stored(session, incident_id)
    actor = acting(actor, permission_for(Action.CHANGE_FACTS, practice=incident.practice))
    wanted = _tidy(facts)
    if seen is not None:
        shown, stored = _tidy(seen), facts_of(incident)
        wanted = replace(
            wanted,
            **{
                name: getattr(stored, name)
                for name in _FACT_NAMES
                if getattr(wanted, name) == getattr(shown, name)
            },
        )
    problems = _facts_problems(session, incident, wanted, project)
    if problems:
        return FactsOutcome(problems=tuple(problems))
    changed: list[str] = []
    if wanted.title != incident.title:
        changed.append(_sentence("the title", wanted.title, incident.title))
        incident.title = wanted.title
    if wanted.severity != incident.severity:
        changed.append(_sentence("severity", _level(wanted.severity), _level(incident.severity)))
        incident.severity = wanted.severity
        session.add(
            SeverityChange(incident_id=incident_id, at=now, level=wanted.severity or 0, actor=actor)
        )
    if wanted.page_id != incident.pagerduty_incident_id:
        changed.append(
            _sentence(
                "the PagerDuty page",
                _page_number(session, wanted.page_id),
                _page_number(session, incident.pagerduty_incident_id),
            )
        )
        incident.pagerduty_incident_id = wanted.page_id
    for what, name in (
        ("the production issue link", "issue_url"),
        ("the Slack channel", "slack_channel"),
        ("the Zoom link", "zoom_url"),
    ):
        before, after = getattr(incident, name), getattr(wanted, name)
        if after != before:
            changed.append(_sentence(what, after, before))
            setattr(incident, name, after)
    session.add(incident)
    for sentence in changed:
        audit(
            session,
            at=now,
            actor=actor,
            action=Action.CHANGE_FACTS,
            target=FACTS_TARGET,
            result=PublishStatus.SENT,
            detail=sentence,
            incident_id=incident_id,
        )
    return FactsOutcome(changed=tuple(changed))


_FACT_NAMES = tuple(f.name for f in fields(EditableFacts))


def _tidy(facts: EditableFacts) -> EditableFacts:
    channel = _blank_is_none(facts.slack_channel)
    if channel is not None and not channel.startswith("#"):
        channel = f"#{channel}"
    return EditableFacts(
        title=" ".join(facts.title.split()),
        severity=facts.severity,
        page_id=_blank_is_none(facts.page_id),
        issue_url=_blank_is_none(facts.issue_url),
        slack_channel=channel,
        zoom_url=_blank_is_none(facts.zoom_url),
    )


def _facts_problems(
    session: Session, incident: WorkingIncident, facts: EditableFacts, project: str
) -> list[str]:
    found = []
    if facts.title != incident.title:
        if incident.statuspage_incident_id is not None:
            # Status.io's incident/update takes no name: the title stays what was created.
            found.append("The title is on the status page already and cannot change there.")
        elif not facts.title:
            found.append("The title is empty: say in simple terms what the issue is.")
    if facts.severity is None and incident.severity is not None:
        found.append("The severity cannot go back to unknown: choose the severity in effect.")
    elif facts.severity is not None and facts.severity not in SEVERITIES:
        found.append("The severity is S1, S2, S3 or S4.")
    if facts.page_id is not None and session.get(PagerDutyIncident, facts.page_id) is None:
        found.append("That PagerDuty page is not known here: sync, then choose it again.")
    if facts.issue_url is not None and linking.first_issue_iid([facts.issue_url], project) is None:
        found.append(
            f"The production issue link must lead to an issue of {project} "
            f"(…/{project}/-/issues/<number>)."
        )
    if facts.slack_channel is not None and any(c.isspace() for c in facts.slack_channel):
        found.append("The Slack channel is one word, such as #incident-12345.")
    if facts.zoom_url is not None and linking.safe_link(facts.zoom_url, allowed_hosts=None) is None:
        found.append("The Zoom link must be a web address (https://…).")
    return found


def _level(severity: int | None) -> str | None:
    return None if severity is None else f"S{severity}"


def _page_number(session: Session, page_id: str | None) -> str | None:
    if page_id is None:
        return None
    page = session.get(PagerDutyIncident, page_id)
    return f"#{page.incident_number}" if page is not None else "an unknown page"


def _sentence(what: str, after: str | None, before: str | None) -> str:
    """`Set severity to S1 (was not set)`, `Removed the Zoom link (was …)`."""
    if after is None:
        return f"Removed {what} (was {before})"
    return f"Set {what} to {after} (was {before or 'not set'})"


class ChoiceKind(StrEnum):
    """What a picker option opens: a working record, a synced incident to take over, a new one."""

    WORKING = "working"
    SYNCED = "synced"
    NEW = "new"


@dataclass(frozen=True)
class Choice:
    """A picker option's stable value: its kind and the id of what it opens."""

    kind: ChoiceKind
    ident: int | str | None = None


NEW_INCIDENT = Choice(ChoiceKind.NEW)


@dataclass(frozen=True)
class PickerEntry:
    """An incident the picker offers, with what its label shows."""

    choice: Choice
    title: str
    practice: bool
    severity: int | None
    state: int
    resolved: bool
    on_status_page: bool
    due: datetime | None
    opened_at: datetime

    def overdue_by(self, now: datetime) -> timedelta | None:
        """How long its update is overdue at `now`, or None when it is not."""
        if self.resolved or self.due is None or self.due >= now:
            return None
        return now - self.due


@dataclass(frozen=True)
class Picker:
    """The incidents in the order the picker offers them, and the one it opens on."""

    entries: tuple[PickerEntry, ...]
    default: Choice


def picker(
    *,
    session: Session,
    now: datetime,
    statuspage_ids: Sequence[str],
    practice_statuspage_id: str | None,
    project: str,
) -> Picker:
    """Every open incident by urgency, and the one to open on: the most urgent active real one."""
    entries = [_working_entry(incident) for incident in open_incidents(session=session, now=now)]
    synced = unadopted_active(session=session, statuspage_ids=list(statuspage_ids))
    entries += _synced_entries(session, synced, practice_statuspage_id, project, now)
    ordered = sorted(entries, key=partial(_urgency, now=now))
    active = [entry for entry in ordered if not entry.resolved]
    default = active[0].choice if active else NEW_INCIDENT
    return Picker(tuple(ordered), default)


def _urgency(entry: PickerEntry, *, now: datetime) -> tuple[int, int, int, int, float]:
    """Active, real, worked here first; then overdue (most first), not yet created, soonest."""
    if entry.resolved:
        return (1, 0, 0, 0, -entry.opened_at.timestamp())
    if entry.due is not None and entry.due < now:
        group, moment = 0, entry.due.timestamp()
    elif not entry.on_status_page:
        group, moment = 1, entry.opened_at.timestamp()
    else:
        group, moment = 2, entry.due.timestamp() if entry.due else float("inf")
    synced = int(entry.choice.kind == ChoiceKind.SYNCED)
    return (0, int(entry.practice), synced, group, moment)


def _working_entry(incident: WorkingIncident) -> PickerEntry:
    return PickerEntry(
        choice=Choice(ChoiceKind.WORKING, incident.id),
        title=incident.title,
        practice=incident.practice,
        severity=incident.severity,
        state=incident.state,
        resolved=incident.resolved_at is not None,
        on_status_page=incident.statuspage_incident_id is not None,
        due=None if incident.resolved_at else incident.next_due(),
        opened_at=incident.opened_at,
    )


def _synced_entries(
    session: Session,
    synced: Sequence[StatusPageIncident],
    practice_statuspage_id: str | None,
    project: str,
    now: datetime,
) -> list[PickerEntry]:
    if not synced:
        return []
    last = _last_messages(session, [incident.id for incident in synced])
    iids = [i.production_issue_iid for i in synced if i.production_issue_iid is not None]
    known = severities(session=session, project=project, iids=iids)
    entries = []
    for incident in synced:
        message = last.get(incident.id)
        over_time = known.get(incident.production_issue_iid or 0)
        severity = over_time.at(now) if over_time else None
        entries.append(
            PickerEntry(
                choice=Choice(ChoiceKind.SYNCED, incident.id),
                title=incident.name,
                practice=incident.statuspage_id == practice_statuspage_id,
                severity=severity,
                state=message.state if message else IncidentState.INVESTIGATING,
                resolved=False,
                on_status_page=True,
                due=_synced_due(message, severity),
                opened_at=incident.datetime_open,
            )
        )
    return entries


def _synced_due(message: StatusPageMessage | None, severity: int | None) -> datetime | None:
    if message is None or message.state not in handbook.CADENCE_MINUTES:
        return None
    return cadence.next_due(
        posted_at=message.posted_at,
        text=message.details,
        state=message.state,
        severity=severity or UNKNOWN_SEVERITY_COUNTS_AS,
    )


def _last_messages(session: Session, ids: Iterable[str]) -> dict[str, StatusPageMessage]:
    latest: dict[str, StatusPageMessage] = {}
    for message in session.exec(
        select(StatusPageMessage)
        .where(col(StatusPageMessage.incident_id).in_(list(ids)))
        .order_by(col(StatusPageMessage.posted_at))
    ):
        latest[message.incident_id] = message
    return latest


@dataclass(frozen=True)
class TakeoverSummary:
    """What the CMOC sees before taking over an incident already on the status page."""

    title: str
    severity: int | None
    state: int | None
    last_text: str | None
    last_at: datetime | None
    due: datetime | None
    page: PagerDutyIncident | None
    issue_url: str | None


def takeover_summary(
    *, session: Session, synced: StatusPageIncident, project: str, now: datetime
) -> TakeoverSummary:
    """Severity, state, last update and its time, next due, page and issue of a synced one."""
    messages = _messages(session, synced.id)
    message = messages[-1] if messages else None
    iid = synced.production_issue_iid
    known = severities(session=session, project=project, iids=[iid] if iid is not None else [])
    over_time = known.get(iid or 0)
    severity = over_time.at(now) if over_time else None
    issue = production_issue(session=session, iid=iid)
    return TakeoverSummary(
        title=synced.name,
        severity=severity,
        state=message.state if message else None,
        last_text=message.details if message else None,
        last_at=message.posted_at if message else None,
        due=_synced_due(message, severity),
        page=_linked_page(session, synced.id),
        issue_url=issue.web_url if issue else _issue_url(messages, project),
    )


def _linked_page(session: Session, statuspage_incident_id: str) -> PagerDutyIncident | None:
    """The newest page tied to a status-page incident, open ones first."""
    pages = session.exec(
        select(PagerDutyIncident)
        .where(PagerDutyIncident.statuspage_incident_id == statuspage_incident_id)
        .order_by(col(PagerDutyIncident.created_at).desc())
    ).all()
    open_first = sorted(pages, key=lambda page: page.status == "resolved")
    return open_first[0] if open_first else None


def audit_entries(*, session: Session, incident_id: int) -> list[AuditEntry]:
    """Everything done for one incident, newest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.incident_id == incident_id)
        .order_by(col(AuditEntry.at).desc())
    )
    return list(session.exec(query))


def tick_step(*, session: Session, incident_id: int, key: StepKey, now: datetime) -> None:
    """Tick a step the CMOC does outside the cockpit (joined the channel, the all-clear, ...)."""
    mark_step(session=session, incident=_stored(session, incident_id), key=key, now=now)


def save_post_mortem(
    *, session: Session, incident_id: int, url: str, now: datetime, actor: Actor
) -> None:
    """Keep the post-mortem link with the incident and tick its step."""
    incident = _stored(session, incident_id)
    acting(actor, permission_for(StepKey.POST_MORTEM, practice=incident.practice))
    incident.post_mortem_url = url.strip() or None
    mark_step(session=session, incident=incident, key=StepKey.POST_MORTEM, now=now)


def adopt(*, session: Session, synced: StatusPageIncident, project: str) -> WorkingIncident:
    """A working record for an incident already on the status page, filled from the sync."""
    messages = _messages(session, synced.id)
    issue = production_issue(session=session, iid=synced.production_issue_iid)
    last = messages[-1] if messages else None
    page = _linked_page(session, synced.id)
    incident = WorkingIncident(
        title=synced.name,
        statuspage_id=synced.statuspage_id,
        statuspage_incident_id=synced.id,
        severity=issue.severity if issue else None,
        issue_url=issue.web_url if issue else _issue_url(messages, project),
        pagerduty_incident_id=page.id if page is not None and page.status != "resolved" else None,
        status=last.status if last else ComponentStatus.DEGRADED_PERFORMANCE,
        state=last.state if last else IncidentState.INVESTIGATING,
        opened_at=synced.datetime_open,
        last_posted_at=last.posted_at if last else None,
        last_text=last.details if last else None,
        steps={StepKey.CREATE_INCIDENT: synced.datetime_open.isoformat()},
    )
    session.add(incident)
    session.flush()
    return incident


def _messages(session: Session, statuspage_incident_id: str) -> list[StatusPageMessage]:
    """A synced incident's messages, oldest first."""
    query = (
        select(StatusPageMessage)
        .where(StatusPageMessage.incident_id == statuspage_incident_id)
        .order_by(col(StatusPageMessage.posted_at))
    )
    return list(session.exec(query))


def _issue_url(messages: Sequence[StatusPageMessage], project: str) -> str | None:
    pattern = linking.issue_url_pattern(project)
    for message in messages:
        match = pattern.search(message.details)
        if match:
            return match.group(0)
    return None


def stage(incident: WorkingIncident) -> handbook.Stage:
    """The handbook stage the incident is in."""
    if incident.resolved_at is not None or StepKey.IM_ALL_CLEAR in incident.steps:
        return handbook.Stage.RESOLVE
    if incident.state == IncidentState.MONITORING:
        return handbook.Stage.MONITOR
    engage = [s.key for s in handbook.STEPS if s.stage == handbook.Stage.ENGAGE]
    if all(key in incident.steps for key in engage if key != StepKey.RESOLVE_PAGE):
        return handbook.Stage.MANAGE
    return handbook.Stage.ENGAGE


def mark_step(*, session: Session, incident: WorkingIncident, key: StepKey, now: datetime) -> None:
    """Tick a checklist step with the time it was done (first time wins)."""
    if key not in incident.steps:
        incident.steps = {**incident.steps, key: now.isoformat()}
        session.add(incident)


def draft_key(incident_id: int | None, form: str) -> str:
    """The key a form's draft is saved under."""
    return f"{incident_id or 'new'}:{form}"


@dataclass
class Publisher:
    """Builds the composer's commands and publishes them for the viewer through the outbox."""

    # The outbox refuses (`access.Refused`) what the viewer may not do before writing anything.

    engine: Engine
    clients: Clients
    project: str
    viewer: Viewer

    @property
    def outbox(self) -> Outbox:
        """The one way commands reach the services."""
        return Outbox(self.engine, self.clients)

    def refusal(self, action: str, *, practice: bool = False) -> str | None:
        """Why the viewer may not take this kind of action (or step), in one sentence, or None."""
        return self.viewer.refusal(permission_for(action, practice=practice))

    def zendesk_count(self, tag: str) -> int | None:
        """How many tickets carry the incident's tag, or None without Zendesk."""
        self.viewer.require(permission_for(StepKey.ZENDESK_TAG))
        return zendesk_count(self.clients, tag)

    def create(
        self,
        *,
        incident_id: int,
        message: Message,
        components: list[str],
        all_infrastructure: bool,
        now: datetime,
    ) -> Outcome:
        """Create the incident on its status page."""
        incident = self._incident(incident_id)
        command = CreateStatusIncident(
            working_id=incident_id,
            statuspage_id=incident.statuspage_id,
            practice=incident.practice,
            name=incident.title,
            details=message.details,
            status=message.status,
            state=message.state,
            components=tuple(components),
            all_infrastructure=all_infrastructure,
            broadcast=flags(message.broadcast),
        )

        def apply(session: Session, result: Result) -> None:
            stored = _stored(session, incident_id)
            stored.statuspage_incident_id = result["incident_id"]
            for thread in session.exec(
                select(StakeholderThread).where(
                    StakeholderThread.statuspage_incident_id == _working_key(stored)
                )
            ):
                thread.statuspage_incident_id = result["incident_id"]
                session.add(thread)
            stored.components = components
            _posted(session, stored, message, now)
            mark_step(session=session, incident=stored, key=StepKey.CREATE_INCIDENT, now=now)

        return self.outbox.publish(command, actor=self.viewer, now=now, on_sent=apply)

    def update(
        self,
        *,
        incident_id: int,
        message: Message,
        now: datetime,
        resolve: bool = False,
        seen_revision: int | None = None,
    ) -> Outcome:
        """Publish an update (or the resolving update) after the revision the CMOC last saw.

        When another session published since (`seen_revision` is behind), nothing is sent and
        the outcome says who published what and when; publishing again from the new revision
        is the CMOC's deliberate choice.
        """
        incident = self._incident(incident_id)
        if incident.statuspage_incident_id is None:
            return Outcome(OutcomeStatus.FAILED, "Create the incident on the status page first.")
        if resolve and StepKey.IM_ALL_CLEAR not in incident.steps:
            return Outcome(OutcomeStatus.FAILED, ALL_CLEAR_FIRST)
        status = ComponentStatus.OPERATIONAL if resolve else message.status
        command = UpdateStatusIncident(
            working_id=incident_id,
            revision=incident.draft_revision if seen_revision is None else seen_revision,
            statuspage_id=incident.statuspage_id,
            practice=incident.practice,
            incident=incident.statuspage_incident_id,
            details=message.details,
            status=status,
            state=message.state,
            broadcast=flags(message.broadcast),
            resolve=resolve,
        )
        if not self.outbox.holds(command):
            with Session(self.engine) as session:
                last = last_publication(session=session, incident=incident)
            if last is not None and last.text.strip() == message.details.strip():
                return Outcome(
                    OutcomeStatus.FAILED,
                    f"These words are already the latest update on the status page "
                    f"(published {last.when_and_who}); nothing was sent.",
                )
        outcome = self.outbox.publish(
            command, actor=self.viewer, now=now, on_sent=self._applied(command, now)
        )
        if outcome.status != OutcomeStatus.SUPERSEDED:
            return outcome
        earlier = outcome.earlier
        if isinstance(earlier, UpdateStatusIncident):
            # Settle the other session's update first if it was left unclear, so the place it
            # holds is never stuck and its effect is recorded once.
            self.outbox.publish(
                earlier, actor=self.viewer, now=now, on_sent=self._applied(earlier, now)
            )
        with Session(self.engine) as session:
            last = last_publication(session=session, incident=self._incident(incident_id))
        said = (
            f"“{last.text}” was published {last.when_and_who}"
            if last is not None
            else "another update is being published right now"
        )
        return Outcome(
            OutcomeStatus.SUPERSEDED,
            f"Since you opened this preview, {said}. Nothing was sent: read it, and publish "
            "yours anyway only if it still adds something.",
            key=outcome.key,
            earlier=earlier,
        )

    def _applied(self, command: UpdateStatusIncident, now: datetime) -> OnSent:
        """What a published update changes in the working incident."""

        def apply(session: Session, _result: Result) -> None:
            stored = _stored(session, command.working_id)
            message = Message(command.details, command.state, command.status)
            _posted(session, stored, message, now)
            if command.state == IncidentState.MONITORING:
                mark_step(session=session, incident=stored, key=StepKey.START_MONITORING, now=now)
            if command.resolve:
                stored.resolved_at = now
                mark_step(session=session, incident=stored, key=StepKey.RESOLVE_INCIDENT, now=now)

        return apply

    def notify(self, *, incident_id: int, text: str, now: datetime) -> list[Outcome]:
        """Post the Incident Notifier text to every configured webhook, each at most once."""
        incident = self._incident(incident_id)
        if incident.practice:
            return [self._rehearse(StepKey.NOTIFY_STAKEHOLDERS, incident_id, now)]
        return [
            self._act(
                SlackNotice(
                    working_id=incident_id, webhook=webhook.name, text=text, channel=webhook.channel
                ),
                now,
                then=partial(_thread, destination=webhook.name, via="slack", text=text, now=now),
            )
            for webhook in self.clients.slack
        ]

    def notify_again(self, *, notice: SlackNotice, now: datetime) -> Outcome:
        """Post a notice again that may not have arrived, after the person checked the channel."""
        then = partial(_thread, destination=notice.webhook, via="slack", text=notice.text, now=now)
        return self.outbox.send_again(
            notice, actor=self.viewer, now=now, on_sent=self._ticks(notice, now, then)
        )

    def notice_arrived(self, *, notice: SlackNotice, now: datetime) -> Outcome:
        """Record a notice of unclear outcome as arrived, because the person saw it there."""
        then = partial(_thread, destination=notice.webhook, via="slack", text=notice.text, now=now)
        return self.outbox.mark_arrived(
            notice, actor=self.viewer, now=now, on_sent=self._ticks(notice, now, then)
        )

    def unsettled_notices(self, *, incident_id: int) -> list[SlackNotice]:
        """Notices whose arrival only a look in the channel can settle."""
        found = self.outbox.unsettled(incident_id=incident_id)
        return [c for c in found if isinstance(c, SlackNotice)]

    def record_manual_notification(self, *, incident_id: int, text: str, now: datetime) -> Outcome:
        """Record that the Incident Notifier was posted by hand (no webhook configured)."""
        command = LocalRecord(
            working_id=incident_id,
            step=StepKey.NOTIFY_STAKEHOLDERS,
            where=BY_HAND_PLACE,
            text=text,
        )
        then = partial(_thread, destination="by hand", via="manual", text=text, now=now)
        return self._act(command, now, then=then)

    def label_issue(self, *, incident_id: int, now: datetime) -> Outcome:
        """Add the Incident-Comms::Status-Page label to the production issue."""
        incident = self._incident(incident_id)
        if incident.practice:
            return self._rehearse(StepKey.LABEL_ISSUE, incident_id, now)
        iid = linking.first_issue_iid([incident.issue_url or ""], self.project)
        if iid is None:
            return Outcome(
                OutcomeStatus.FAILED,
                "Set the production issue link first: under “Incident facts” at the top of "
                "the page.",
            )
        if self.clients.gitlab is None:
            return Outcome(
                OutcomeStatus.FAILED,
                "GitLab is not configured here: add the label on the issue in GitLab.",
            )
        command = AddLabel(
            working_id=incident_id,
            project=self.project,
            iid=iid,
            label=handbook.STATUS_PAGE_LABEL,
        )
        return self._act(command, now)

    def page(self, *, incident_id: int, resolve: bool, now: datetime) -> Outcome:
        """Acknowledge (or resolve) the incident's PagerDuty page."""
        incident = self._incident(incident_id)
        if incident.practice:
            step = StepKey.RESOLVE_PAGE if resolve else StepKey.ACKNOWLEDGE_PAGE
            return self._rehearse(step, incident_id, now)
        page_id = incident.pagerduty_incident_id
        if not page_id:
            return Outcome(
                OutcomeStatus.FAILED,
                "Choose the PagerDuty page first: under “Incident facts” at the top of the page.",
            )
        if self.clients.pagerduty is None:
            return Outcome(
                OutcomeStatus.FAILED,
                "PagerDuty is not configured here: acknowledge or resolve the page in PagerDuty.",
            )
        with Session(self.engine) as session:
            known = session.get(PagerDutyIncident, page_id)
        number = known.incident_number if known is not None else None
        command = ChangePage(
            working_id=incident_id,
            page_id=page_id,
            resolve=resolve,
            number=number,
            from_email=self.viewer.pagerduty_email,
        )
        return self._act(command, now)

    def _rehearse(self, step: StepKey, incident_id: int, now: datetime) -> Outcome:
        """A practice incident's step: ticked and audited, but nothing reaches a real service."""
        command = LocalRecord(working_id=incident_id, step=step, where=PRACTICE_PLACE)
        return self._act(command, now)

    def _act(self, command: Command, now: datetime, *, then: Then | None = None) -> Outcome:
        """Publish a command that ticks the checklist step of the same name when it is done."""
        return self.outbox.publish(
            command, actor=self.viewer, now=now, on_sent=self._ticks(command, now, then)
        )

    @staticmethod
    def _ticks(command: Command, now: datetime, then: Then | None) -> OnSent:
        def apply(session: Session, _result: Result) -> None:
            stored = _stored(session, command.incident_id or 0)
            mark_step(session=session, incident=stored, key=StepKey(command.action), now=now)
            if then is not None:
                then(session, stored)

        return apply

    def _incident(self, incident_id: int) -> WorkingIncident:
        with Session(self.engine) as session:
            return _stored(session, incident_id)


Then = Callable[[Session, WorkingIncident], None]


@dataclass(frozen=True)
class Publication:
    """The latest words on the status page for an incident: what, when and by whom."""

    text: str
    at: datetime
    by: str = ""  # empty when no record says who published it

    @property
    def when_and_who(self) -> str:
        """`29-11-2026 23:51 UTC by cmoc@example.com`, or that the author is not recorded."""
        who = f" by {self.by}" if self.by.strip() else ", author not recorded"
        return f"{moment(self.at)}{who}"


def last_publication(*, session: Session, incident: WorkingIncident) -> Publication | None:
    """The incident's latest status-page message, from this app or synced from Status.io."""
    found: list[Publication] = []
    if incident.last_posted_at is not None and incident.last_text is not None:
        sent = session.exec(
            select(AuditEntry)
            .where(
                AuditEntry.incident_id == incident.id,
                col(AuditEntry.action).in_(PUBLISHING),
                AuditEntry.result == "sent",
            )
            .order_by(col(AuditEntry.at).desc())
        ).first()
        by = sent.actor if sent is not None else ""
        found.append(Publication(incident.last_text, incident.last_posted_at, by))
    if incident.statuspage_incident_id is not None:
        synced = session.exec(
            select(StatusPageMessage)
            .where(StatusPageMessage.incident_id == incident.statuspage_incident_id)
            .order_by(col(StatusPageMessage.posted_at).desc())
        ).first()
        if synced is not None:
            found.append(Publication(synced.details, synced.posted_at, "Status.io"))
    return max(found, key=lambda p: p.at, default=None)


def _stored(session: Session, incident_id: int) -> WorkingIncident:
    incident = session.get(WorkingIncident, incident_id)
    if incident is None:
        raise LookupError(f"working incident {incident_id} does not exist")
    return incident


def _posted(session: Session, incident: WorkingIncident, message: Message, now: datetime) -> None:
    incident.state, incident.status = message.state, message.status
    incident.last_posted_at, incident.last_text = now, message.details
    incident.draft_revision += 1
    session.add(incident)
    for form in ("create", "update", "resolve"):
        drafts.discard(session=session, key=draft_key(incident.id, form))


def _thread(
    session: Session,
    incident: WorkingIncident,
    *,
    destination: str,
    via: str,
    text: str,
    now: datetime,
) -> None:
    session.add(
        StakeholderThread(
            statuspage_incident_id=incident.statuspage_incident_id or _working_key(incident),
            posted_at=now,
            destination=destination,
            via=via,
            text=text,
        )
    )


def _working_key(incident: WorkingIncident) -> str:
    """Where a thread posted before the status-page incident exists is kept until it does."""
    return f"working:{incident.id}"


def status_page_url(incident: WorkingIncident) -> str:
    """The incident's public address on the status page."""
    return f"https://status.gitlab.com/pages/incident/{incident.statuspage_id}/" + (
        incident.statuspage_incident_id or ""
    )


def zendesk_count(clients: Clients, tag: str) -> int | None:
    """How many tickets carry the incident's tag, or None without Zendesk."""
    if clients.zendesk is None:
        return None
    return clients.zendesk.count(f"type:ticket tags:{tag}")
