"""The live composer: working incidents, checks before publishing, drafts, and each action."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import drafts, handbook, linking, textlimits
from cmoc_core.clients import Clients
from cmoc_core.commands import (
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
)
from cmoc_core.config import Settings
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.history import production_issue
from cmoc_core.models import (
    AuditEntry,
    PagerDutyIncident,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.outbox import OnSent, Outbox, Outcome, OutcomeStatus


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
    *, session: Session, facts: IncidentFacts, statuspage_id: str, now: datetime
) -> WorkingIncident:
    """A new working incident, not yet on the status page."""
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


def save_post_mortem(*, session: Session, incident_id: int, url: str, now: datetime) -> None:
    """Keep the post-mortem link with the incident and tick its step."""
    incident = _stored(session, incident_id)
    incident.post_mortem_url = url.strip() or None
    mark_step(session=session, incident=incident, key=StepKey.POST_MORTEM, now=now)


def adopt(*, session: Session, synced: StatusPageIncident, project: str) -> WorkingIncident:
    """A working record for an incident already on the status page, filled from the sync."""
    messages = session.exec(
        select(StatusPageMessage)
        .where(StatusPageMessage.incident_id == synced.id)
        .order_by(col(StatusPageMessage.posted_at))
    ).all()
    issue = production_issue(session=session, iid=synced.production_issue_iid)
    last = messages[-1] if messages else None
    incident = WorkingIncident(
        title=synced.name,
        statuspage_id=synced.statuspage_id,
        statuspage_incident_id=synced.id,
        severity=issue.severity if issue else None,
        issue_url=issue.web_url if issue else _issue_url(messages, project),
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


def problems(
    *,
    message: Message,
    project: str,
    require_link: bool,
    title: str | None = None,
    components: list[str] | None = None,
    all_infrastructure: bool = False,
    all_clear: bool = True,
) -> list[str]:
    """What stops a message from being published, in plain words; empty when it may go.

    The handbook wants the incident issue linked when creating and when resolving; in other
    updates the link is welcome but optional.
    """
    found = []
    if title is not None and not title.strip():
        found.append("The title is empty: say in simple terms what the issue is.")
    if not message.details.strip():
        found.append("The details are empty.")
    elif require_link and linking.first_issue_iid([message.details], project) is None:
        found.append(
            "The details must contain the link to the incident issue "
            f"(…/{project}/-/issues/<number>) so readers can follow along."
        )
    if not all_clear:
        found.append(ALL_CLEAR_FIRST)
    if components is not None and not components and not all_infrastructure:
        found.append("Choose the affected components (or, knowingly, all infrastructure).")
    report = textlimits.check_length(message.details)
    if report.over_limit:
        found.extend(report.problems())
    return found


def draft_key(incident_id: int | None, form: str) -> str:
    """The key a form's draft is saved under."""
    return f"{incident_id or 'new'}:{form}"


PRACTICE_TARGET = "practice: not sent to GitLab, PagerDuty or Slack"


@dataclass
class Publisher:
    """Builds the composer's commands and publishes them for the actor through the outbox."""

    engine: Engine
    clients: Clients
    project: str
    actor: str

    @property
    def outbox(self) -> Outbox:
        """The one way commands reach the services."""
        return Outbox(self.engine, self.clients)

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

        return self.outbox.publish(command, actor=self.actor, now=now, on_sent=apply)

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
                    f"(published {last.at:%d-%m-%Y %H:%M} UTC by {last.by}); nothing was sent.",
                )
        outcome = self.outbox.publish(
            command, actor=self.actor, now=now, on_sent=self._applied(command, now)
        )
        if outcome.status != OutcomeStatus.SUPERSEDED:
            return outcome
        earlier = outcome.earlier
        if isinstance(earlier, UpdateStatusIncident):
            # Settle the other session's update first if it was left unclear, so the place it
            # holds is never stuck and its effect is recorded once.
            self.outbox.publish(
                earlier, actor=self.actor, now=now, on_sent=self._applied(earlier, now)
            )
        with Session(self.engine) as session:
            last = last_publication(session=session, incident=self._incident(incident_id))
        said = (
            f"“{last.text}” was published {last.at:%d-%m-%Y %H:%M} UTC by {last.by}"
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
                SlackNotice(working_id=incident_id, webhook=webhook.name, text=text),
                now,
                then=partial(_thread, destination=webhook.name, via="slack", text=text, now=now),
            )
            for webhook in self.clients.slack
        ]

    def notify_again(self, *, notice: SlackNotice, now: datetime) -> Outcome:
        """Post a notice again that may not have arrived, after the person checked the channel."""
        then = partial(_thread, destination=notice.webhook, via="slack", text=notice.text, now=now)
        return self.outbox.send_again(
            notice, actor=self.actor, now=now, on_sent=self._ticks(notice, now, then)
        )

    def notice_arrived(self, *, notice: SlackNotice, now: datetime) -> Outcome:
        """Record a notice of unclear outcome as arrived, because the person saw it there."""
        then = partial(_thread, destination=notice.webhook, via="slack", text=notice.text, now=now)
        return self.outbox.mark_arrived(
            notice, actor=self.actor, now=now, on_sent=self._ticks(notice, now, then)
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
            where="Incident Notifier (by hand)",
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
        if iid is None or self.clients.gitlab is None:
            return Outcome(
                OutcomeStatus.FAILED, "Set the production issue link (and configure GitLab) first."
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
        if not page_id or self.clients.pagerduty is None:
            return Outcome(
                OutcomeStatus.FAILED, "Choose the PagerDuty page (and configure PagerDuty) first."
            )
        command = ChangePage(working_id=incident_id, page_id=page_id, resolve=resolve)
        return self._act(command, now)

    def _rehearse(self, step: StepKey, incident_id: int, now: datetime) -> Outcome:
        """A practice incident's step: ticked and audited, but nothing reaches a real service."""
        command = LocalRecord(working_id=incident_id, step=step, where=PRACTICE_TARGET)
        return self._act(command, now)

    def _act(self, command: Command, now: datetime, *, then: Then | None = None) -> Outcome:
        """Publish a command that ticks the checklist step of the same name when it is done."""
        return self.outbox.publish(
            command, actor=self.actor, now=now, on_sent=self._ticks(command, now, then)
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
    by: str


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
        by = sent.actor if sent is not None else "someone"
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
