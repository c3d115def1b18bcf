"""Practice events: one per region and quarter, drills on the practice status page, score cards.

The handbook keeps an event's date and time from the CMOC, so neither is written into the
event's GitLab issue (the CMOC is assigned to it); only the facilitator sees them in the app.

A drill's score card: time to acknowledge runs from the scenario's page to the acknowledge step;
each gap between updates is judged by the cadence for the severity in effect when the later
update went out (what the countdown showed then); a message breaks the handbook's limits when
it is over 280 on X or its text before the final link is over 220; the checklist counts the
steps of the four stages, "update on the cadence" being done when every gap was on time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import cadence, composer, handbook, outbox, textlimits
from cmoc_core.clients import Clients
from cmoc_core.config import Settings
from cmoc_core.models import (
    Identity,
    OnCallEntry,
    OutboxEntry,
    Person,
    PracticeDrill,
    PracticeEvent,
    PublishStatus,
    ScheduleKind,
    System,
    WorkingIncident,
)
from cmoc_core.outbox import Outcome
from cmoc_core.scenarios import Scenario

CONFIRM_WINDOW = timedelta(minutes=10)
PUBLISH_ACTIONS = ("create_incident", "update_incident", "resolve_incident")

ISSUE_TITLE = "CMOC Practice Event - {region} - {quarter}"
ISSUE_DESCRIPTION = """\
## CMOC practice event: {region}, {quarter}

A practice incident for the {region} CMOC rotation this quarter. It is not a test that can be \
passed or failed: it is a team exercise to gain experience with Status.io, the incident room \
and the CMOC workflow, and a chance to improve the process and its documentation.

The date and time are known to the facilitator only: like a live incident, the event comes \
unannounced.

## Roles

- Incident Manager and facilitator: {facilitator}
- Note taker: {note_taker}
- CMOC: {cmoc}

## Before the event (facilitator)

- [ ] Choose a scenario from the script library (confidential to the facilitators)
- [ ] Create this quarter's event feedback document
- [ ] Agree the time with the note taker, not with the CMOC

## During the event

- The CMOC works the incident on the practice status page, never the public one.
- The note taker logs learnings, improvements and gaps in documentation or process.

## After the event

- [ ] Retrospective with the CMOC: the score card and the note taker's log
- [ ] Issues or merge requests for the gaps found
"""


class PracticeError(ValueError):
    """Why a practice action cannot be done, in plain words."""


def quarter_of(moment: datetime) -> str:
    """The calendar quarter of `moment`, as `2026-Q4`."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def people(*, session: Session) -> list[Person]:
    """Everyone known to the app, by name."""
    return list(session.exec(select(Person).order_by(col(Person.name))))


def region_cmocs(*, session: Session, region: str) -> list[Person]:
    """The people with a CMOC shift in `region`, by name."""
    query = (
        select(Person)
        .join(Identity, col(Identity.person_id) == col(Person.id))
        .join(OnCallEntry, col(OnCallEntry.user_id) == col(Identity.external_id))
        .where(
            Identity.system == System.PAGERDUTY,
            OnCallEntry.schedule_kind == ScheduleKind.CMOC,
            OnCallEntry.region == region,
        )
        .distinct()
        .order_by(col(Person.name))
    )
    return list(session.exec(query))


def events(*, session: Session, since_quarter: str, undrilled: bool = False) -> list[PracticeEvent]:
    """Practice events of `since_quarter` and later (only those without a drill if `undrilled`)."""
    query = select(PracticeEvent).where(col(PracticeEvent.quarter) >= since_quarter)
    if undrilled:
        drilled = select(PracticeDrill.event_id).where(col(PracticeDrill.event_id).is_not(None))
        query = query.where(col(PracticeEvent.id).not_in(drilled))
    return list(session.exec(query.order_by(col(PracticeEvent.quarter), col(PracticeEvent.region))))


def regions_without_event(*, session: Session, quarter: str) -> list[str]:
    """The regions that have no practice event planned in `quarter`."""
    query = select(PracticeEvent.region).where(PracticeEvent.quarter == quarter)
    planned = set(session.exec(query))
    return [region for region in handbook.REGIONS if region not in planned]


def plan_event(
    *,
    session: Session,
    region: str,
    scheduled_at: datetime,
    scenario: str,
    facilitator_id: int,
    note_taker_id: int,
    cmoc_id: int,
    now: datetime,
) -> PracticeEvent:
    """A practice event for the region in the quarter of `scheduled_at` (one per quarter)."""
    if region not in handbook.REGIONS:
        raise PracticeError(f"{region} is not one of the regions {', '.join(handbook.REGIONS)}.")
    if cmoc_id in (facilitator_id, note_taker_id):
        raise PracticeError("The CMOC cannot also be the facilitator or the note taker.")
    quarter = quarter_of(scheduled_at)
    if region not in regions_without_event(session=session, quarter=quarter):
        raise PracticeError(f"{region} already has a practice event in {quarter}.")
    event = PracticeEvent(
        region=region,
        quarter=quarter,
        scheduled_at=scheduled_at,
        scenario=scenario,
        facilitator_id=facilitator_id,
        note_taker_id=note_taker_id,
        cmoc_id=cmoc_id,
        created_at=now,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class EventIssue:
    """The GitLab issue of a practice event, as it will be created."""

    title: str
    description: str
    assignee_ids: list[int]


def event_issue(*, session: Session, event: PracticeEvent) -> EventIssue:
    """The event's issue: roles named and assigned, and neither the date nor the scenario."""
    roles = (event.facilitator_id, event.note_taker_id, event.cmoc_id)
    accounts = session.exec(
        select(Identity).where(Identity.system == System.GITLAB, col(Identity.person_id).in_(roles))
    ).all()
    handles = {a.person_id: f"@{a.username}" for a in accounts if a.username}

    def who(person_id: int | None) -> str:
        person = session.get(Person, person_id) if person_id is not None else None
        return handles.get(person_id) or (person.name if person else "to be found")

    values = {"region": event.region, "quarter": event.quarter}
    return EventIssue(
        title=ISSUE_TITLE.format(**values),
        description=ISSUE_DESCRIPTION.format(
            **values,
            facilitator=who(event.facilitator_id),
            note_taker=who(event.note_taker_id),
            cmoc=who(event.cmoc_id),
        ),
        assignee_ids=sorted({int(a.external_id) for a in accounts if a.external_id.isdigit()}),
    )


def create_event_issue(
    *,
    engine: Engine,
    clients: Clients,
    settings: Settings,
    event_id: int,
    actor: str,
    now: datetime,
) -> Outcome:
    """Create the event's issue in the training project, at most once per event."""
    gitlab = clients.gitlab
    if gitlab is None:
        return Outcome("failed", "GitLab is not configured: create the event's issue by hand.")
    project, label = settings.gitlab_training_project, settings.gitlab_practice_event_label
    with Session(engine) as session:
        event = session.get(PracticeEvent, event_id)
        if event is None:
            raise LookupError(f"practice event {event_id} does not exist")
        issue = event_issue(session=session, event=event)

    def send() -> dict[str, Any]:
        created = gitlab.create_issue(
            project,
            title=issue.title,
            description=issue.description,
            labels=[label],
            confidential=False,
            assignee_ids=issue.assignee_ids,
        )
        return {"web_url": created.get("web_url")}

    def confirm(entry: OutboxEntry) -> dict[str, Any] | None:
        since = entry.created_at - CONFIRM_WINDOW
        for page in gitlab.issues(project, labels=label, updated_after=since):
            for found in page:
                if found.get("title") == issue.title:
                    return {"web_url": found.get("web_url")}
        return None

    def record(session: Session, result: dict[str, Any]) -> None:
        stored = session.get(PracticeEvent, event_id)
        if stored is not None:
            stored.issue_url = result.get("web_url")
            session.add(stored)

    return outbox.publish(
        engine=engine,
        key=outbox.idempotency_key("practice_event_issue", event_id),
        action="create_practice_event_issue",
        target=f"GitLab {project}",
        payload={"title": issue.title, "labels": [label], "assignee_ids": issue.assignee_ids},
        send=send,
        confirm_sent=confirm,
        on_sent=record,
        actor=actor,
        now=now,
    )


def start_drill(
    *,
    session: Session,
    settings: Settings,
    scenario: Scenario,
    cmoc_id: int,
    now: datetime,
    event_id: int | None = None,
) -> PracticeDrill:
    """A running drill with its own working incident on the practice status page."""
    page = settings.statusio_practice_statuspage_id
    if not page:
        raise PracticeError(
            "No practice status page is configured (STATUSIO_PRACTICE_STATUSPAGE_ID); "
            "a drill never publishes to the public status page."
        )
    if page == settings.statusio_statuspage_id:
        raise PracticeError(
            "The practice status page is the public status page: configure a separate test page."
        )
    incident = composer.start_incident(
        session=session, title=scenario.title, statuspage_id=page, practice=True, now=now
    )
    incident.severity = scenario.severity
    if scenario.issue is not None:
        # Issue links name the project right after the host, as linking recognises them.
        host = urlsplit(settings.gitlab_url)
        project = f"{host.scheme}://{host.netloc}/{settings.gitlab_production_project}"
        incident.issue_url = f"{project}/-/issues/{scenario.issue}"
    drill = PracticeDrill(
        event_id=event_id,
        scenario=scenario.name,
        cmoc_id=cmoc_id,
        working_incident_id=incident.id,
        started_at=now,
    )
    session.add_all([incident, drill])
    session.flush()
    return drill


def running_drills(*, session: Session) -> list[PracticeDrill]:
    """Drills not yet ended, newest first."""
    query = select(PracticeDrill).where(col(PracticeDrill.finished_at).is_(None))
    return list(session.exec(query.order_by(col(PracticeDrill.started_at).desc())))


def past_drills(*, session: Session, cmoc_id: int | None = None) -> list[PracticeDrill]:
    """Ended drills, newest first; only one person's when `cmoc_id` is given."""
    query = select(PracticeDrill).where(col(PracticeDrill.finished_at).is_not(None))
    if cmoc_id is not None:
        query = query.where(PracticeDrill.cmoc_id == cmoc_id)
    return list(session.exec(query.order_by(col(PracticeDrill.finished_at).desc())))


def follow_scenario(
    *, session: Session, drill: PracticeDrill, scenario: Scenario, now: datetime
) -> WorkingIncident:
    """The drill's working incident, at the severity the scenario has reached by `now`."""
    incident = session.get(WorkingIncident, drill.working_incident_id)
    if incident is None:
        raise LookupError(f"the drill's working incident {drill.working_incident_id} is gone")
    severity = scenario.severity_at(now - drill.started_at)
    if incident.severity != severity:
        incident.severity = severity
        session.add(incident)
    return incident


def add_note(*, session: Session, drill_id: int, text: str, now: datetime) -> None:
    """Append a timestamped line to the note taker's log."""
    if not text.strip():
        raise PracticeError("The note is empty.")
    drill = _drill(session, drill_id)
    drill.notes = [*drill.notes, {"at": now.isoformat(), "text": text.strip()}]
    session.add(drill)


@dataclass(frozen=True)
class Update:
    """One status-page update the drill published."""

    posted_at: datetime
    state: int
    text: str
    resolved: bool = False

    @property
    def state_name(self) -> str:
        """`investigating`, `identified`, `monitoring` or `resolved`."""
        return "resolved" if self.resolved else handbook.state_name(self.state).lower()


def drill_updates(*, session: Session, incident_id: int | None) -> list[Update]:
    """The updates sent for a working incident, from the outbox, oldest first."""
    entries = session.exec(
        select(OutboxEntry)
        .where(
            OutboxEntry.incident_id == incident_id,
            OutboxEntry.status == PublishStatus.SENT,
            col(OutboxEntry.action).in_(PUBLISH_ACTIONS),
        )
        .order_by(col(OutboxEntry.finished_at))
    )
    return [
        Update(
            posted_at=entry.finished_at or entry.created_at,
            state=int(entry.payload["state"]),
            text=str(entry.payload["details"]),
            resolved=entry.action == "resolve_incident",
        )
        for entry in entries
    ]


@dataclass(frozen=True)
class ScoreCard:
    """How a drill went, in figures that are stored with it (plain JSON values)."""

    ack_seconds: float | None
    updates: int
    gaps: list[dict[str, Any]]
    length_violations: list[dict[str, Any]]
    steps_done: list[str]
    states_expected: int
    states_missed: list[str]

    @property
    def ack_within_target(self) -> bool:
        """Acknowledged within the handbook's 15 minutes."""
        target = handbook.ACK_TARGET.total_seconds()
        return self.ack_seconds is not None and self.ack_seconds <= target

    @property
    def gaps_on_time(self) -> int:
        """Gaps between updates that kept the cadence."""
        return sum(1 for gap in self.gaps if gap["on_time"])

    @property
    def steps_total(self) -> int:
        """Every checklist step of the four stages."""
        return len(handbook.STEPS)

    @property
    def steps_missing(self) -> list[str]:
        """The checklist steps not done, in the handbook's words."""
        return [s.text for s in handbook.STEPS if s.key not in self.steps_done]

    @property
    def states_followed(self) -> int:
        """Expected states the CMOC published once asked."""
        return self.states_expected - len(self.states_missed)


def score(
    *, scenario: Scenario, started_at: datetime, steps: dict[str, str], updates: list[Update]
) -> ScoreCard:
    """The score card of a drill from its checklist times and its published updates."""
    acknowledged = steps.get("acknowledge_page")
    paged_at = started_at + scenario.page.offset
    gaps = []
    for earlier, later in pairwise(updates):
        severity = scenario.severity_at(later.posted_at - started_at)
        verdict = cadence.gap_verdict(
            earlier_posted_at=earlier.posted_at,
            earlier_text=earlier.text,
            earlier_state=earlier.state,
            severity=severity,
            later_posted_at=later.posted_at,
        )
        gaps.append(
            {
                "start": earlier.posted_at.isoformat(),
                "end": later.posted_at.isoformat(),
                "state": handbook.state_name(earlier.state),
                "severity": severity,
                "minutes": _minutes(later.posted_at - earlier.posted_at),
                "allowed_minutes": _minutes(verdict.due - earlier.posted_at),
                "on_time": verdict.on_time,
            }
        )
    violations = []
    for update in updates:
        report = textlimits.check_length(update.text)
        if report.over_limit or report.body_over:
            violations.append({"at": update.posted_at.isoformat(), "problems": report.problems()})
    kept_cadence = bool(gaps) and all(gap["on_time"] for gap in gaps)
    done = [
        s.key
        for s in handbook.STEPS
        if s.key in steps or (s.key == "update_on_cadence" and kept_cadence)
    ]
    expected = [p for p in scenario.prompts if p.state]
    missed = [
        f"{p.state} (asked at +{p.minute} min)"
        for p in expected
        if not any(
            u.state_name == p.state and u.posted_at >= started_at + p.offset for u in updates
        )
    ]
    return ScoreCard(
        ack_seconds=(
            (datetime.fromisoformat(acknowledged) - paged_at).total_seconds()
            if acknowledged
            else None
        ),
        updates=len(updates),
        gaps=gaps,
        length_violations=violations,
        steps_done=done,
        states_expected=len(expected),
        states_missed=missed,
    )


def finish_drill(
    *, session: Session, drill_id: int, scenario: Scenario, now: datetime
) -> ScoreCard:
    """End a drill (once) and keep its score card; it then counts toward the training KPI."""
    drill = _drill(session, drill_id)
    if drill.finished_at is None:
        incident = session.get(WorkingIncident, drill.working_incident_id)
        card = score(
            scenario=scenario,
            started_at=drill.started_at,
            steps=incident.steps if incident else {},
            updates=drill_updates(session=session, incident_id=drill.working_incident_id),
        )
        drill.score, drill.finished_at = asdict(card), now
        session.add(drill)
    return ScoreCard(**drill.score)


def _drill(session: Session, drill_id: int) -> PracticeDrill:
    drill = session.get(PracticeDrill, drill_id)
    if drill is None:
        raise LookupError(f"practice drill {drill_id} does not exist")
    return drill


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 2)
