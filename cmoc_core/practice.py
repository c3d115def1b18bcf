"""Practice events: one per region and quarter, drills on the practice status page, score cards.

The handbook keeps an event's date and time from the CMOC, so neither is written into the
event's GitLab issue (the CMOC is assigned to it); only the facilitator sees them in the app.

A drill's score card: time to acknowledge runs from the scenario's page to the acknowledge step;
each gap between updates is judged by the cadence for the severity in effect when the later
update went out (what the countdown showed then); a message breaks the handbook's limits when
it is over 280 on X or its text before the final link is over 220; the checklist counts the
steps of the four stages, "update on the cadence" being done when every gap was on time.
Only the prompts played before the drill ended are scored. A drill that replays a past incident
also sets each real update beside the CMOC's update of the same rank (first with first), so the
retrospective compares when each went out and how long it was.

Ending a drill takes its practice incident out of the active ones: resolved on the practice
status page through the outbox if it was published there, otherwise retired here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import cadence, checklist, composer, handbook, scenarios, textlimits
from cmoc_core.access import Permission, Viewer
from cmoc_core.checklist import Checklist
from cmoc_core.clients import Clients
from cmoc_core.commands import Action, CreateIssue, UpdateStatusIncident, flags, permission_for
from cmoc_core.config import Settings
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.models import (
    Identity,
    OnCallEntry,
    OutboxEntry,
    Person,
    PracticeDrill,
    PracticeEvent,
    PublishStatus,
    ScheduleKind,
    StatusPageIncident,
    StatusPageMessage,
    System,
    WorkingIncident,
)
from cmoc_core.outbox import Outbox, Outcome, OutcomeStatus, audit
from cmoc_core.scenarios import Library, Reference, Scenario
from cmoc_core.severity import severities

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


# Planning events and the facilitator's view (dates, times, scripts) are the managers': like a
# live incident, the event should come unannounced to the CMOC. A drill is drafting on the
# practice page, so shadows run drills too.
FACILITATE = Permission.MANAGE
PLAN = permission_for(Action.CREATE_PRACTICE_EVENT_ISSUE)
DRILL = permission_for(Action.CREATE_INCIDENT, practice=True)


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
    viewer: Viewer,
    now: datetime,
) -> Outcome:
    """Create the event's issue in the training project, at most once per event."""
    gitlab = clients.gitlab
    if gitlab is None:
        return Outcome(
            OutcomeStatus.FAILED, "GitLab is not configured: create the event's issue by hand."
        )
    project, label = settings.gitlab_training_project, settings.gitlab_practice_event_label
    with Session(engine) as session:
        event = session.get(PracticeEvent, event_id)
        if event is None:
            raise LookupError(f"practice event {event_id} does not exist")
        issue = event_issue(session=session, event=event)

    command = CreateIssue(
        kind="create_practice_event_issue",
        intent=str(event_id),
        project=project,
        title=issue.title,
        description=issue.description,
        labels=(label,),
        confidential=False,
        assignee_ids=tuple(issue.assignee_ids),
        match_description=False,
    )

    def record(session: Session, result: dict[str, Any]) -> None:
        stored = session.get(PracticeEvent, event_id)
        if stored is not None:
            stored.issue_url = result.get("web_url")
            session.add(stored)

    outbox = Outbox(engine, Clients(gitlab=gitlab))
    return outbox.publish(command, actor=viewer, now=now, on_sent=record)


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
    issue_url = None
    if scenario.issue is not None:
        # Issue links name the project right after the host, as linking recognises them.
        host = urlsplit(settings.gitlab_url)
        project = f"{host.scheme}://{host.netloc}/{settings.gitlab_production_project}"
        issue_url = f"{project}/-/issues/{scenario.issue}"
    facts = composer.IncidentFacts(
        title=scenario.title, practice=True, severity=scenario.severity, issue_url=issue_url
    )
    incident = composer.start_incident(session=session, facts=facts, statuspage_id=page, now=now)
    drill = PracticeDrill(
        event_id=event_id,
        scenario=scenario.name,
        source_incident_id=scenario.source,
        cmoc_id=cmoc_id,
        working_incident_id=incident.id,
        started_at=now,
    )
    session.add_all([incident, drill])
    session.flush()
    return drill


def past_incidents(
    *, session: Session, settings: Settings, limit: int = 100
) -> list[StatusPageIncident]:
    """Resolved real incidents with messages, newest first, that a drill can replay."""
    with_messages = select(StatusPageMessage.incident_id)
    query = select(StatusPageIncident).where(
        col(StatusPageIncident.resolved).is_(True),
        col(StatusPageIncident.id).in_(with_messages),
        StatusPageIncident.statuspage_id != (settings.statusio_practice_statuspage_id or ""),
    )
    if settings.statusio_statuspage_id:
        query = query.where(StatusPageIncident.statuspage_id == settings.statusio_statuspage_id)
    query = query.order_by(col(StatusPageIncident.datetime_open).desc()).limit(limit)
    return list(session.exec(query))


def replay(*, session: Session, settings: Settings, incident_id: str, speed: int) -> Scenario:
    """A past real incident as a drill at `speed`, its severity read from its production issue."""
    incident = session.get(StatusPageIncident, incident_id)
    if incident is None or incident.statuspage_id == settings.statusio_practice_statuspage_id:
        raise PracticeError("That past incident is not in the history: choose another one.")
    messages = session.exec(
        select(StatusPageMessage)
        .where(StatusPageMessage.incident_id == incident_id)
        .order_by(col(StatusPageMessage.posted_at))
    ).all()
    iid = incident.production_issue_iid
    known = severities(
        session=session,
        project=settings.gitlab_production_project,
        iids=[iid] if iid is not None else [],
    )
    severity = known.get(iid) if iid is not None else None
    try:
        return scenarios.from_incident(
            incident=incident,
            messages=messages,
            levels=[severity.at(m.posted_at) if severity else None for m in messages],
            speed=speed,
        )
    except ValueError as exc:
        raise PracticeError(f"{exc}: choose another past incident.") from None


def find_scenario(*, session: Session, settings: Settings, library: Library, name: str) -> Scenario:
    """The scenario a name stands for: a library script, or a past incident replayed."""
    source = scenarios.replay_of(name)
    if source is not None:
        return replay(session=session, settings=settings, incident_id=source[0], speed=source[1])
    if name not in library.scenarios:
        raise PracticeError(
            f"The scenario {name} is not in the library or is broken: see the Scenarios tab."
        )
    return library.scenarios[name]


def scenario_title(*, session: Session, library: Library, name: str) -> str:
    """A scenario's title without building it (a replay's comes from its incident's name), or
    what became of it when it can no longer be found."""
    replayed = scenarios.replay_of(name)
    if replayed is not None:
        incident = session.get(StatusPageIncident, replayed[0])
        if incident is None:
            return "A past incident no longer in the history"
        return scenarios.replay_title(incident.name)
    scenario = library.scenarios.get(name)
    return scenario.title if scenario else f"{name} (not in the library)"


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
            col(OutboxEntry.action).in_(composer.PUBLISHING),
        )
        .order_by(col(OutboxEntry.finished_at))
    )
    return [
        Update(
            posted_at=entry.finished_at or entry.created_at,
            state=int(entry.payload["state"]),
            text=str(entry.payload["details"]),
            resolved=entry.action == Action.RESOLVE_INCIDENT,
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
    reference: list[dict[str, Any]] = field(default_factory=list)

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
    *,
    scenario: Scenario,
    started_at: datetime,
    ended_at: datetime,
    steps: dict[str, str],
    updates: list[Update],
) -> ScoreCard:
    """The score card of a drill from its checklist times, its updates and when it ended."""
    played = ended_at - started_at
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
    done: list[str] = [
        s.key
        for s in handbook.STEPS
        if s.key in steps or (s.key == "update_on_cadence" and kept_cadence)
    ]
    expected = [p for p in scenario.played(played) if p.state]
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
        reference=[
            _compared(real, updates[n] if n < len(updates) else None, started_at)
            for n, real in enumerate(r for r in scenario.reference if r.offset <= played)
        ],
    )


def _compared(real: Reference, mine: Update | None, started_at: datetime) -> dict[str, Any]:
    """A real update beside the CMOC's of the same rank: when each went out, how long it was."""
    return {
        "state": real.state,
        "real_minutes": real.real_minutes,
        "drill_minutes": real.minute,
        "real_length": real.length,
        "trainee_minutes": _minutes(mine.posted_at - started_at) if mine else None,
        "trainee_length": len(mine.text) if mine else None,
    }


def finish_drill(
    *, session: Session, drill_id: int, scenario: Scenario, viewer: Viewer, now: datetime
) -> ScoreCard:
    """End a drill (once) and keep its score card; it then counts toward the training KPI."""
    viewer.require(DRILL)
    drill = _drill(session, drill_id)
    if drill.finished_at is None:
        incident = session.get(WorkingIncident, drill.working_incident_id)
        card = score(
            scenario=scenario,
            started_at=drill.started_at,
            ended_at=now,
            steps=incident.steps if incident else {},
            updates=drill_updates(session=session, incident_id=drill.working_incident_id),
        )
        drill.score, drill.finished_at = asdict(card), now
        session.add(drill)
    return ScoreCard(**drill.score)


DRILL_ENDED = "This practice drill has ended."
RETIRE = "retire_practice_incident"


def close_incident(
    *, engine: Engine, clients: Clients, drill_id: int, viewer: Viewer, now: datetime
) -> Outcome | None:
    """Take an ended drill's incident out of the active ones; None when nothing was left to do.

    Published on the practice status page, it is resolved there through the outbox, at most once
    and without notifying subscribers; never published, or when the practice page does not
    confirm the resolve, it is retired here, with an audit line that says so.
    """
    viewer.require(DRILL)
    with Session(engine) as session:
        drill = _drill(session, drill_id)
        incident = session.get(WorkingIncident, drill.working_incident_id)
    if drill.finished_at is None or incident is None or incident.resolved_at is not None:
        return None
    incident_id = incident.id or 0
    if incident.statuspage_incident_id is None:
        why = "It never reached the practice status page, so it is retired here."
    else:
        command = UpdateStatusIncident(
            working_id=incident_id,
            revision=incident.draft_revision,
            statuspage_id=incident.statuspage_id,
            practice=True,
            incident=incident.statuspage_incident_id,
            details=DRILL_ENDED,
            status=ComponentStatus.OPERATIONAL,
            state=IncidentState.MONITORING,
            broadcast=flags(dict.fromkeys(handbook.BROADCAST_CHANNELS, False)),
            resolve=True,
        )
        outcome = Outbox(engine, clients).publish(
            command,
            actor=viewer,
            now=now,
            on_sent=lambda session, _result: _resolved(session, incident_id, now),
        )
        if outcome.ok:
            return outcome
        why = (
            f"Resolving it on the practice status page did not succeed ({outcome.message}), so "
            "it is retired here: resolve it on the practice status page by hand."
        )
    with Session(engine) as session:
        _resolved(session, incident_id, now)
        audit(
            session,
            at=now,
            actor=viewer.actor,
            action=RETIRE,
            target="this app",
            result="retired",
            detail=f"The drill ended. {why}",
            incident_id=incident_id,
        )
        session.commit()
    status = OutcomeStatus.SENT if incident.statuspage_incident_id is None else OutcomeStatus.FAILED
    return Outcome(status, f"The drill's incident leaves the active incidents. {why}")


def _resolved(session: Session, incident_id: int, now: datetime) -> None:
    incident = session.get(WorkingIncident, incident_id)
    if incident is not None:
        incident.resolved_at = now
        session.add(incident)


def _drill(session: Session, drill_id: int) -> PracticeDrill:
    drill = session.get(PracticeDrill, drill_id)
    if drill is None:
        raise LookupError(f"practice drill {drill_id} does not exist")
    return drill


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 2)


# Steps a drill ticks itself; every other step is ticked by hand, since nothing in a drill may
# reach PagerDuty, Slack or GitLab.
DRILL_AUTOMATIC_STEPS: dict[StepKey, str] = {
    StepKey.CREATE_INCIDENT: "ticked when you create the incident",
    StepKey.UPDATE_ON_CADENCE: "judged from your updates when the drill ends",
    StepKey.START_MONITORING: "ticked when you publish Monitoring",
    StepKey.RESOLVE_INCIDENT: "ticked when you resolve",
    StepKey.POST_MORTEM: "add the link after resolving",
}
WAITING_FOR_PAGE = "waiting for the page"
INCOMPLETE_PLAN = (
    "Choose the date, the time, the scenario, the facilitator, the note taker and the CMOC."
)


@dataclass(frozen=True)
class EventPlan:
    """A practice event as the facilitator chose it so far; any choice may still be missing."""

    region: str | None
    day: date | None
    at: time | None
    scenario: str | None
    facilitator_id: int | None
    note_taker_id: int | None
    cmoc_id: int | None


def plan_chosen(
    *, session: Session, plan: EventPlan, viewer: Viewer, now: datetime
) -> PracticeEvent:
    """The practice event the facilitator chose, at `day` and `at` in UTC, once all is chosen."""
    viewer.require(PLAN)
    if (
        plan.region is None
        or plan.day is None
        or plan.at is None
        or plan.scenario is None
        or plan.facilitator_id is None
        or plan.note_taker_id is None
        or plan.cmoc_id is None
    ):
        raise PracticeError(INCOMPLETE_PLAN)
    return plan_event(
        session=session,
        region=plan.region,
        scheduled_at=datetime.combine(plan.day, time(plan.at.hour, plan.at.minute), tzinfo=UTC),
        scenario=plan.scenario,
        facilitator_id=plan.facilitator_id,
        note_taker_id=plan.note_taker_id,
        cmoc_id=plan.cmoc_id,
        now=now,
    )


@dataclass(frozen=True)
class DrillStart:
    """The drill the CMOC asked for: a scenario's name, who practises, for which event."""

    scenario: str | None
    cmoc_id: int | None
    event_id: int | None = None


def begin_drill(
    *,
    session: Session,
    settings: Settings,
    library: Library,
    start: DrillStart,
    viewer: Viewer,
    now: datetime,
) -> PracticeDrill:
    """Start the drill asked for, or say plainly what is missing for it."""
    viewer.require(DRILL)
    if start.scenario is None:
        raise PracticeError("Choose a scenario of the library or a past incident to replay.")
    scenario = find_scenario(
        session=session, settings=settings, library=library, name=start.scenario
    )
    if start.cmoc_id is None:
        raise PracticeError("Choose the CMOC who is practising.")
    return start_drill(
        session=session,
        settings=settings,
        scenario=scenario,
        cmoc_id=start.cmoc_id,
        event_id=start.event_id,
        now=now,
    )


def drill_checklist(
    *, incident: WorkingIncident, scenario: Scenario, started_at: datetime, now: datetime
) -> Checklist:
    """The drill's checklist: steps it ticks itself say how; the page is acknowledged once sent."""
    notes = dict(DRILL_AUTOMATIC_STEPS)
    if now - started_at < scenario.page.offset:
        notes[StepKey.ACKNOWLEDGE_PAGE] = WAITING_FOR_PAGE
    actions = {s.key: "Done" for s in handbook.STEPS} | {
        StepKey.ACKNOWLEDGE_PAGE: "Acknowledge page"
    }
    return checklist.checklist(incident, actions=actions, notes=notes)


def tick_drill_step(
    *, session: Session, drill_id: int, key: StepKey, viewer: Viewer, now: datetime
) -> None:
    """Tick a step the CMOC says they would have done; the drill ticks the automatic ones."""
    viewer.require(DRILL)
    if key in DRILL_AUTOMATIC_STEPS:
        raise PracticeError(f"The drill ticks this step itself: {DRILL_AUTOMATIC_STEPS[key]}.")
    drill = _drill(session, drill_id)
    incident = session.get(WorkingIncident, drill.working_incident_id)
    if incident is None:
        raise LookupError(f"the drill's working incident {drill.working_incident_id} is gone")
    composer.mark_step(session=session, incident=incident, key=key, now=now)


def ended_score(*, session: Session, drill_id: int) -> ScoreCard | None:
    """The score card of an ended drill; None while it runs or once it is gone."""
    drill = session.get(PracticeDrill, drill_id)
    return ScoreCard(**drill.score) if drill is not None and drill.score else None


@dataclass(frozen=True)
class DrillNote:
    """One line of the note taker's log."""

    at: datetime
    text: str


def notes_of(drill: PracticeDrill) -> list[DrillNote]:
    """A drill's note taker's log, in the order it was written."""
    return [DrillNote(datetime.fromisoformat(n["at"]), str(n["text"])) for n in drill.notes]


def drill_notes(*, session: Session, drill_id: int) -> list[DrillNote]:
    """The note taker's log of a drill as stored now."""
    drill = session.get(PracticeDrill, drill_id)
    return notes_of(drill) if drill is not None else []


@dataclass(frozen=True)
class PastDrill:
    """An ended drill with its score card and its note taker's log."""

    drill: PracticeDrill
    card: ScoreCard
    notes: tuple[DrillNote, ...]


def retrospectives(*, session: Session, cmoc_id: int | None = None) -> list[PastDrill]:
    """Ended drills, newest first, with score cards and logs; one person's if `cmoc_id`."""
    return [
        PastDrill(drill, ScoreCard(**drill.score), tuple(notes_of(drill)))
        for drill in past_drills(session=session, cmoc_id=cmoc_id)
    ]
