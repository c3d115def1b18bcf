"""The live composer: working incidents, checks before publishing, drafts, and each action."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import cadence, handbook, linking, outbox, textlimits
from cmoc_core.clients import Clients
from cmoc_core.handbook import ComponentStatus, IncidentState
from cmoc_core.history import production_issue
from cmoc_core.models import (
    Draft,
    OutboxEntry,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.outbox import Outcome

CONFIRM_WINDOW = timedelta(minutes=2)


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


def start_incident(
    *, session: Session, title: str, statuspage_id: str, practice: bool, now: datetime
) -> WorkingIncident:
    """A new working incident, not yet on the status page."""
    incident = WorkingIncident(
        title=title.strip() or "New incident",
        statuspage_id=statuspage_id,
        practice=practice,
        opened_at=now,
    )
    session.add(incident)
    session.flush()
    return incident


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
        steps={"create_incident": synced.datetime_open.isoformat()},
    )
    session.add(incident)
    session.flush()
    return incident


def _issue_url(messages: list[StatusPageMessage], project: str) -> str | None:
    pattern = linking.issue_url_pattern(project)
    for message in messages:
        match = pattern.search(message.details)
        if match:
            return match.group(0)
    return None


def next_due(incident: WorkingIncident) -> datetime | None:
    """When the next status-page update is due, or None before the first one."""
    if incident.last_posted_at is None:
        return None
    return cadence.next_due(
        posted_at=incident.last_posted_at,
        text=incident.last_text or "",
        state=incident.state,
        severity=incident.severity,
    )


def stage(incident: WorkingIncident) -> handbook.Stage:
    """The handbook stage the incident is in."""
    if incident.resolved_at is not None or "im_all_clear" in incident.steps:
        return handbook.Stage.RESOLVE
    if incident.state == IncidentState.MONITORING:
        return handbook.Stage.MONITOR
    engage = [s.key for s in handbook.STEPS if s.stage == handbook.Stage.ENGAGE]
    if all(key in incident.steps for key in engage if key != "resolve_page"):
        return handbook.Stage.MANAGE
    return handbook.Stage.ENGAGE


def mark_step(*, session: Session, incident: WorkingIncident, key: str, now: datetime) -> None:
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
    if components is not None and not components and not all_infrastructure:
        found.append("Choose the affected components (or, knowingly, all infrastructure).")
    report = textlimits.check_length(message.details)
    if report.over_limit:
        found.extend(report.problems())
    return found


def draft_key(incident_id: int | None, form: str) -> str:
    """The key a form's draft is saved under."""
    return f"{incident_id or 'new'}:{form}"


def load_draft(*, session: Session, key: str) -> dict[str, Any]:
    """The saved values of a form, or nothing."""
    draft = session.get(Draft, key)
    return dict(draft.values) if draft else {}


def save_draft(*, session: Session, key: str, values: dict[str, Any], now: datetime) -> None:
    """Save a form's values as they are typed."""
    draft = session.get(Draft, key) or Draft(key=key)
    draft.values, draft.updated_at = values, now
    session.add(draft)


PRACTICE_TARGET = "practice: not sent to GitLab, PagerDuty or Slack"


@dataclass
class Publisher:
    """Runs the composer's actions through the outbox with the configured clients."""

    engine: Engine
    clients: Clients
    project: str
    actor: str

    def create(
        self,
        *,
        incident_id: int,
        message: Message,
        components: list[str],
        all_infrastructure: bool,
        now: datetime,
        force: bool = False,
    ) -> Outcome:
        """Create the incident on its status page."""
        incident, statusio = self._incident(incident_id), self._statusio()
        payload = {
            "name": incident.title,
            "details": message.details,
            "status": message.status,
            "state": message.state,
            "components": components,
            "all_infrastructure": all_infrastructure,
            "broadcast": message.broadcast,
            "statuspage_id": incident.statuspage_id,
        }

        def send() -> dict[str, Any]:
            new_id = statusio.create_incident(
                name=incident.title,
                details=message.details,
                components=components,
                status=message.status,
                state=message.state,
                broadcast=message.broadcast,
                all_infrastructure=all_infrastructure,
                statuspage_id=incident.statuspage_id,
            )
            return {"incident_id": new_id}

        def confirm(entry: OutboxEntry) -> dict[str, Any] | None:
            for page in statusio.incident_pages("active", statuspage_id=incident.statuspage_id):
                for found in page:
                    if found.get("name") == incident.title and _messages_with(
                        found, message.details, entry.created_at
                    ):
                        return {"incident_id": found["_id"]}
            return None

        def apply(session: Session, result: dict[str, Any]) -> None:
            stored = self._stored(session, incident_id)
            stored.statuspage_incident_id = result["incident_id"]
            for thread in session.exec(
                select(StakeholderThread).where(
                    StakeholderThread.statuspage_incident_id == _working_key(stored)
                )
            ):
                thread.statuspage_incident_id = result["incident_id"]
                session.add(thread)
            stored.components = components
            self._posted(session, stored, message, now)
            mark_step(session=session, incident=stored, key="create_incident", now=now)

        return self._publish("create_incident", incident, payload, send, confirm, apply, now, force)

    def update(
        self,
        *,
        incident_id: int,
        message: Message,
        now: datetime,
        resolve: bool = False,
        force: bool = False,
    ) -> Outcome:
        """Publish an update (or the resolving update) to the incident."""
        incident, statusio = self._incident(incident_id), self._statusio()
        if incident.statuspage_incident_id is None:
            return Outcome("failed", "Create the incident on the status page first.")
        status = ComponentStatus.OPERATIONAL if resolve else message.status
        action = "resolve_incident" if resolve else "update_incident"
        payload = {
            "incident_id": incident.statuspage_incident_id,
            "details": message.details,
            "status": status,
            "state": message.state,
            "broadcast": message.broadcast,
        }

        def send() -> dict[str, Any]:
            statusio.update_incident(
                incident_id=incident.statuspage_incident_id or "",
                details=message.details,
                status=status,
                state=message.state,
                broadcast=message.broadcast,
                resolve=resolve,
                statuspage_id=incident.statuspage_id,
            )
            return {"published": True}

        def confirm(entry: OutboxEntry) -> dict[str, Any] | None:
            found = statusio.incident(
                incident.statuspage_incident_id or "", statuspage_id=incident.statuspage_id
            )
            return (
                {"published": True}
                if _messages_with(found, message.details, entry.created_at)
                else None
            )

        def apply(session: Session, _result: dict[str, Any]) -> None:
            stored = self._stored(session, incident_id)
            self._posted(session, stored, Message(message.details, message.state, status), now)
            if message.state == IncidentState.MONITORING:
                mark_step(session=session, incident=stored, key="start_monitoring", now=now)
            if resolve:
                stored.resolved_at = now
                mark_step(session=session, incident=stored, key="resolve_incident", now=now)

        return self._publish(action, incident, payload, send, confirm, apply, now, force)

    def notify(self, *, incident_id: int, text: str, now: datetime) -> list[Outcome]:
        """Post the Incident Notifier text to every configured webhook, each at most once."""
        incident = self._incident(incident_id)
        if incident.practice:
            return [self._rehearse("notify_stakeholders", incident, now)]
        outcomes = []
        for webhook in self.clients.slack:

            def record(session: Session, stored: WorkingIncident, name: str = webhook.name) -> None:
                _thread(session, stored, name, "slack", text, now)

            outcomes.append(
                self._act(
                    "notify_stakeholders",
                    incident,
                    f"Slack {webhook.name}",
                    {"text": text, "webhook": webhook.name},
                    partial(_posted_ok, webhook, text),
                    now,
                    then=record,
                )
            )
        return outcomes

    def record_manual_notification(self, *, incident_id: int, text: str, now: datetime) -> Outcome:
        """Record that the Incident Notifier was posted by hand (no webhook configured)."""

        def record(session: Session, stored: WorkingIncident) -> None:
            _thread(session, stored, "by hand", "manual", text, now)

        return self._act(
            "notify_stakeholders",
            self._incident(incident_id),
            "Incident Notifier (by hand)",
            {"text": text, "webhook": "manual"},
            lambda: {"recorded": True},
            now,
            then=record,
        )

    def label_issue(self, *, incident_id: int, now: datetime) -> Outcome:
        """Add the Incident-Comms::Status-Page label to the production issue."""
        incident = self._incident(incident_id)
        if incident.practice:
            return self._rehearse("label_issue", incident, now)
        iid = linking.first_issue_iid([incident.issue_url or ""], self.project)
        gitlab = self.clients.gitlab
        if iid is None or gitlab is None:
            return Outcome("failed", "Set the production issue link (and configure GitLab) first.")

        def send() -> dict[str, Any]:
            issue = gitlab.add_labels(self.project, iid, [handbook.STATUS_PAGE_LABEL])
            return {"labels": issue.get("labels")}

        return self._act(
            "label_issue",
            incident,
            f"GitLab {self.project}#{iid}",
            {"iid": iid, "label": handbook.STATUS_PAGE_LABEL},
            send,
            now,
        )

    def page(self, *, incident_id: int, resolve: bool, now: datetime) -> Outcome:
        """Acknowledge (or resolve) the incident's PagerDuty page."""
        incident = self._incident(incident_id)
        action = "resolve_page" if resolve else "acknowledge_page"
        if incident.practice:
            return self._rehearse(action, incident, now)
        pagerduty = self.clients.pagerduty
        page_id = incident.pagerduty_incident_id
        if not page_id or pagerduty is None:
            return Outcome("failed", "Choose the PagerDuty page (and configure PagerDuty) first.")
        change = pagerduty.resolve if resolve else pagerduty.acknowledge

        def send() -> dict[str, Any]:
            return {"status": change(page_id).get("status")}

        return self._act(
            action, incident, f"PagerDuty page {page_id}", {"page": page_id}, send, now
        )

    def _rehearse(self, action: str, incident: WorkingIncident, now: datetime) -> Outcome:
        """A practice incident's step: ticked and audited, but nothing reaches a real service."""
        return self._act(action, incident, PRACTICE_TARGET, {}, lambda: {"practice": True}, now)

    def _act(
        self,
        action: str,
        incident: WorkingIncident,
        target: str,
        payload: dict[str, Any],
        send: Any,
        now: datetime,
        *,
        then: Any = None,
    ) -> Outcome:
        """An action that ticks the checklist step of the same name when it is done."""

        def apply(session: Session, _result: dict[str, Any]) -> None:
            stored = self._stored(session, incident.id or 0)
            mark_step(session=session, incident=stored, key=action, now=now)
            if then is not None:
                then(session, stored)

        return self._send(
            action,
            incident,
            target,
            payload,
            send,
            now,
            key=(incident.id, action, payload),
            on_sent=apply,
        )

    def _publish(
        self,
        action: str,
        incident: WorkingIncident,
        payload: dict[str, Any],
        send: Any,
        confirm: Any,
        apply: Any,
        now: datetime,
        force: bool,
    ) -> Outcome:
        """A status-page action: checked against Status.io when its outcome is unclear."""
        # An incident is created once; each update is one per draft revision, so publishing the
        # same words again later is possible while a repeat of the same attempt is not.
        key = (
            (incident.id, action)
            if action == "create_incident"
            else (incident.id, action, incident.draft_revision, payload)
        )
        target = f"Status.io {'practice page' if incident.practice else 'status page'}"
        return self._send(
            action,
            incident,
            target,
            payload,
            send,
            now,
            key=key,
            on_sent=apply,
            confirm=confirm,
            force=force,
        )

    def _send(
        self,
        action: str,
        incident: WorkingIncident,
        target: str,
        payload: dict[str, Any],
        send: Any,
        now: datetime,
        *,
        key: tuple[Any, ...],
        on_sent: Any,
        confirm: Any = None,
        force: bool = False,
    ) -> Outcome:
        return outbox.publish(
            engine=self.engine,
            key=outbox.idempotency_key(*key),
            action=action,
            target=target,
            payload=payload,
            send=send,
            confirm_sent=confirm,
            on_sent=on_sent,
            actor=self.actor,
            now=now,
            incident_id=incident.id,
            force=force,
        )

    def _incident(self, incident_id: int) -> WorkingIncident:
        with Session(self.engine) as session:
            return self._stored(session, incident_id)

    @staticmethod
    def _stored(session: Session, incident_id: int) -> WorkingIncident:
        incident = session.get(WorkingIncident, incident_id)
        if incident is None:
            raise LookupError(f"working incident {incident_id} does not exist")
        return incident

    def _statusio(self) -> Any:
        if self.clients.statusio is None:
            raise LookupError("Status.io is not configured")
        return self.clients.statusio

    @staticmethod
    def _posted(
        session: Session, incident: WorkingIncident, message: Message, now: datetime
    ) -> None:
        incident.state, incident.status = message.state, message.status
        incident.last_posted_at, incident.last_text = now, message.details
        incident.draft_revision += 1
        session.add(incident)
        for form in ("create", "update", "resolve"):
            draft = session.get(Draft, draft_key(incident.id, form))
            if draft is not None:
                session.delete(draft)


def _posted_ok(webhook: Any, text: str) -> dict[str, Any]:
    webhook.post(text)
    return {"posted": True}


def _thread(
    session: Session,
    incident: WorkingIncident,
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


def zendesk_count(clients: Clients, tag: str) -> int | None:
    """How many tickets carry the incident's tag, or None without Zendesk."""
    if clients.zendesk is None:
        return None
    return clients.zendesk.count(f"type:ticket tags:{tag}")


def _messages_with(incident: dict[str, Any], details: str, since: datetime) -> bool:
    """Whether an incident from Status.io has a message with these details, sent since then."""
    from cmoc_core.timeutil import parse_time

    for message in incident.get("messages") or []:
        posted = parse_time(message.get("datetime"))
        if message.get("details") == details and posted and posted >= since - CONFIRM_WINDOW:
            return True
    return False
