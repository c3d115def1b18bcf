"""Practice events against the sandbox: planning, a scored drill, and the training KPI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from cmoc_core import composer, practice
from cmoc_core.composer import Message, Publisher
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.kpis import compute_kpis
from cmoc_core.models import (
    OnCallEntry,
    PracticeDrill,
    PracticeEvent,
    ScheduleKind,
    WorkingIncident,
)
from cmoc_core.practice import PracticeError, Update
from cmoc_core.scenarios import Library, Prompt, Scenario
from cmoc_core.sources import open_sources
from cmoc_core.storage import session_scope
from tests import kpi_worlds
from tests.kpi_worlds import World
from tests.support.viewers import configured

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EVENT_AT = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
SCENARIO = Scenario(
    name="database-failover",
    title="Elevated 5xx errors on GitLab.com",
    severity=2,
    issue=18110,
    prompts=(
        Prompt(0, "PagerDuty page: elevated 5xx on GitLab.com", page=True, state="investigating"),
        Prompt(3, "IM: we believe it's the database, S2", severity=2),
        Prompt(12, "IM: severity raised to S1", severity=1),
        Prompt(18, "IM: cause identified, failing over", state="identified"),
        Prompt(25, "IM: fix deployed, monitoring", state="monitoring"),
        Prompt(40, "IM: all clear", state="resolved"),
    ),
)
LINK = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18110"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def sources(sandbox):
    """The sandbox's settings and clients, as the app uses them in demo mode."""
    opened = open_sources(Settings(), sandbox=sandbox)
    yield opened
    opened.clients.close()


@pytest.fixture
def team(engine, sandbox):
    """A facilitator, a note taker and an EMEA CMOC, known to PagerDuty and GitLab."""
    world = World(engine)
    users = sandbox.org.gitlab_users[:3]
    people = [
        world.person(u["name"], pd_id=f"PUSER{n}", gitlab_id=str(u["id"]))
        for n, u in enumerate(users)
    ]
    world.add(
        OnCallEntry(
            schedule_id="PSCHED",
            schedule_kind=ScheduleKind.CMOC,
            user_id=people[2].pd_id,
            start=T0 - timedelta(days=7),
            end=T0,
            region="EMEA",
        )
    )
    with Session(engine) as session:
        ids = {p.name: p.id for p in practice.people(session=session)}
    roles = ("facilitator", "note_taker", "cmoc")
    return {role: ids[who.name] for role, who in zip(roles, people, strict=True)}, users


def test_planning_creates_one_issue_with_the_roles_assigned_and_no_date(
    engine, sandbox, sources, team
):
    roles, users = team
    with session_scope(engine) as session:
        assert practice.region_cmocs(session=session, region="EMEA")[0].id == roles["cmoc"]
        assert practice.region_cmocs(session=session, region="AMER") == []
        event = practice.plan_event(
            session=session,
            region="EMEA",
            scheduled_at=EVENT_AT,
            scenario="database-failover",
            facilitator_id=roles["facilitator"],
            note_taker_id=roles["note_taker"],
            cmoc_id=roles["cmoc"],
            now=T0,
        )
    outcomes = [
        practice.create_event_issue(
            engine=engine,
            clients=sources.clients,
            settings=sources.settings,
            event_id=event.id,
            viewer=configured("trainer@example.com"),
            now=T0,
        )
        for _ in range(2)
    ]

    assert [o.status for o in outcomes] == ["sent", "already_sent"]
    writes = sandbox.writes("gitlab")
    assert len(writes) == 1
    write = writes[0]
    assert write.method == "POST"
    assert write.path == "/projects/gitlab-com%2Fsupport%2Fsupport-team-meta/issues"
    assert write.body["labels"] == "CMOC Practice Event"
    assert write.body["assignee_ids"] == sorted(u["id"] for u in users)
    assert write.body["title"] == "CMOC Practice Event - EMEA - 2026-Q4"
    text = write.body["title"] + write.body["description"]
    for leak in ("03-12", "12-03", "3 Dec", "December", "Thursday", "14:30", "14h30", "2026-12"):
        assert leak not in text
    assert not re.search(r"\b\d{1,2}:\d{2}\b", text)
    assert "database" not in text.lower() and SCENARIO.title not in text
    handles = ["@" + "".join(u["name"].split()).lower() for u in users]  # as World names them
    assert all(handle in write.body["description"] for handle in handles)
    with Session(engine) as session:
        stored = session.get(PracticeEvent, event.id)
        assert stored.issue_url == outcomes[0].result["web_url"]
        assert "/gitlab-com/support/support-team-meta/-/issues/" in stored.issue_url
        assert stored.scheduled_at == EVENT_AT and stored.quarter == "2026-Q4"


def test_one_event_per_region_and_quarter_and_the_regions_still_missing(engine, team):
    roles, _ = team
    plan = {
        "scheduled_at": EVENT_AT,
        "scenario": "database-failover",
        "facilitator_id": roles["facilitator"],
        "note_taker_id": roles["note_taker"],
        "cmoc_id": roles["cmoc"],
        "now": T0,
    }
    with session_scope(engine) as session:
        assert practice.regions_without_event(session=session, quarter="2026-Q4") == [
            "AMER",
            "EMEA",
            "APAC",
        ]
        practice.plan_event(session=session, region="EMEA", **plan)
        assert practice.regions_without_event(session=session, quarter="2026-Q4") == [
            "AMER",
            "APAC",
        ]
        with pytest.raises(PracticeError, match="EMEA already has a practice event in 2026-Q4"):
            practice.plan_event(session=session, region="EMEA", **plan)
        with pytest.raises(PracticeError, match="cannot also be the facilitator"):
            practice.plan_event(
                session=session, region="AMER", **{**plan, "facilitator_id": roles["cmoc"]}
            )
        next_quarter = {**plan, "scheduled_at": datetime(2027, 1, 20, 9, tzinfo=UTC)}
        practice.plan_event(session=session, region="EMEA", **next_quarter)
        assert practice.regions_without_event(session=session, quarter="2027-Q1") == [
            "AMER",
            "APAC",
        ]


def test_a_known_sequence_of_actions_gives_exact_scores():
    steps = {"acknowledge_page": minutes(4.5).isoformat(), "join_channel": minutes(5).isoformat()}
    long_body = "We are still investigating elevated error rates on GitLab.com. " * 4
    updates = [
        Update(minutes(6), 100, f"Investigating errors: {LINK}"),
        Update(minutes(14), 100, long_body.strip() + f" {LINK}"),  # S1 from minute 12: 10 min
        Update(minutes(20), 200, "Identified: a saturated database primary. Failing over."),
        Update(minutes(45), 200, "Failover in progress."),  # identified S1: 10 min, 25 taken
        Update(minutes(50), 300, "Fix deployed; monitoring."),
    ]
    card = practice.score(
        scenario=SCENARIO, started_at=T0, ended_at=minutes(60), steps=steps, updates=updates
    )

    assert card.ack_seconds == 270 and card.ack_within_target
    assert card.updates == 5
    assert [g["minutes"] for g in card.gaps] == [8, 6, 25, 5]
    assert [g["allowed_minutes"] for g in card.gaps] == [10, 10, 10, 10]
    assert [g["severity"] for g in card.gaps] == [1, 1, 1, 1]
    assert [g["on_time"] for g in card.gaps] == [True, True, False, True]
    assert card.gaps_on_time == 3
    assert [v["at"] for v in card.length_violations] == [minutes(14).isoformat()]
    assert card.steps_done == ["acknowledge_page", "join_channel"]
    assert card.steps_total == 13
    assert card.states_expected == 4
    assert card.states_missed == ["resolved (asked at +40 min)"]
    assert card.states_followed == 3


def test_the_cadence_step_is_done_when_every_gap_is_on_time_and_severity_counts_when_it_changes():
    updates = [
        Update(minutes(1), 100, f"Investigating: {LINK}"),
        Update(minutes(11), 100, "Still investigating."),  # S2 at minute 11: 15 min allowed
        Update(minutes(14), 100, "Still investigating."),
    ]
    card = practice.score(
        scenario=SCENARIO, started_at=T0, ended_at=minutes(60), steps={}, updates=updates
    )
    assert card.ack_seconds is None and not card.ack_within_target
    assert [g["allowed_minutes"] for g in card.gaps] == [15, 10]
    assert card.steps_done == ["update_on_cadence"]
    assert card.length_violations == []


def test_a_drill_publishes_only_to_the_practice_page_and_is_scored_from_what_it_sent(
    engine, sandbox, sources, team
):
    roles, _ = team
    settings = sources.settings
    with session_scope(engine) as session:
        drill = practice.start_drill(
            session=session,
            settings=settings,
            scenario=SCENARIO,
            cmoc_id=roles["cmoc"],
            now=T0,
        )
    incident_id = drill.working_incident_id
    publisher = Publisher(
        engine, sources.clients, settings.gitlab_production_project, "cmoc@example.com"
    )
    practice_page = settings.statusio_practice_statuspage_id
    component = sandbox.org.statusio_practice_components[0]
    components = [f"{component['_id']}-{component['containers'][0]['_id']}"]

    def tick(key: str, at: datetime) -> None:
        with session_scope(engine) as session:
            stored = session.get(WorkingIncident, incident_id)
            composer.mark_step(session=session, incident=stored, key=key, now=at)

    def severity_at(at: datetime) -> int:
        with session_scope(engine) as session:
            stored = session.get(PracticeDrill, drill.id)
            return practice.follow_scenario(
                session=session, drill=stored, scenario=SCENARIO, now=at
            ).severity

    tick("acknowledge_page", minutes(2))
    tick("join_channel", minutes(3))
    issue = f"{settings.gitlab_url}/{settings.gitlab_production_project}/-/issues/18110"
    created = publisher.create(
        incident_id=incident_id,
        message=Message(f"We're seeing elevated error rates on GitLab.com: {issue}", 100, 300),
        components=components,
        all_infrastructure=False,
        now=minutes(4),
    )
    assert created.ok, created.message
    assert severity_at(minutes(11)) == 2 and severity_at(minutes(12)) == 1
    for at, state, text in (
        (13, 100, "We are still investigating elevated error rates. " * 5),
        (19, 200, "We have identified a saturated database primary and are failing over."),
        (35, 300, "The fix is deployed and we are monitoring."),
    ):
        sent = publisher.update(
            incident_id=incident_id, message=Message(text.strip(), state, 300), now=minutes(at)
        )
        assert sent.ok, sent.message
    tick("im_all_clear", minutes(40))
    resolved = publisher.update(
        incident_id=incident_id,
        message=Message(f"This incident has been resolved. {issue}", 300, 300),
        now=minutes(41),
        resolve=True,
    )
    assert resolved.ok, resolved.message
    with session_scope(engine) as session:
        practice.add_note(session=session, drill_id=drill.id, text=" Slow to join ", now=minutes(5))
        with pytest.raises(PracticeError, match="empty"):
            practice.add_note(session=session, drill_id=drill.id, text="  ", now=minutes(6))
    with session_scope(engine) as session:
        card = practice.finish_drill(
            session=session,
            drill_id=drill.id,
            scenario=SCENARIO,
            viewer=configured("cmoc@example.com"),
            now=minutes(45),
        )
    with session_scope(engine) as session:
        again = practice.finish_drill(
            session=session,
            drill_id=drill.id,
            scenario=SCENARIO,
            viewer=configured("cmoc@example.com"),
            now=minutes(90),
        )

    statusio = sandbox.writes("statusio")
    assert [w.path for w in statusio] == [
        "/incident/create",
        "/incident/update",
        "/incident/update",
        "/incident/update",
        "/incident/resolve",
    ]
    assert {w.body["statuspage_id"] for w in statusio} == {practice_page}
    assert practice_page != settings.statusio_statuspage_id
    assert card == again
    assert card.ack_seconds == 120
    assert [g["minutes"] for g in card.gaps] == [9, 6, 16, 6]
    assert [g["allowed_minutes"] for g in card.gaps] == [10, 10, 10, 30]
    assert [g["on_time"] for g in card.gaps] == [True, True, False, True]
    assert len(card.length_violations) == 1
    assert card.length_violations[0]["at"] == minutes(13).isoformat()
    assert card.steps_done == [
        "acknowledge_page",
        "join_channel",
        "create_incident",
        "start_monitoring",
        "im_all_clear",
        "resolve_incident",
    ]
    assert card.states_missed == [] and card.states_expected == 4
    with Session(engine) as session:
        stored = session.get(PracticeDrill, drill.id)
        assert stored.finished_at == minutes(45)
        assert stored.notes == [{"at": minutes(5).isoformat(), "text": "Slow to join"}]
        assert stored.score["ack_seconds"] == 120


@pytest.mark.parametrize(
    "pages, problem",
    [
        ({"STATUSIO_STATUSPAGE_ID": "public"}, "No practice status page is configured"),
        (
            {"STATUSIO_STATUSPAGE_ID": "public", "STATUSIO_PRACTICE_STATUSPAGE_ID": "public"},
            "is the public status page",
        ),
    ],
)
def test_a_drill_never_starts_without_a_separate_practice_page(engine, pages, problem):
    with session_scope(engine) as session, pytest.raises(PracticeError, match=problem):
        practice.start_drill(
            session=session,
            settings=settings_from_mapping(pages),
            scenario=SCENARIO,
            cmoc_id=None,
            now=T0,
        )
    with Session(engine) as session:
        assert session.exec(select(WorkingIncident)).all() == []


def test_an_ended_drill_makes_its_cmoc_trained_in_that_quarter(engine):
    world = World(engine)
    ada = world.person("Ada Lovelace", pd_id="PADA", gitlab_id="501")
    world.shift(ada, kpi_worlds.utc(2026, 11, 2), kpi_worlds.utc(2026, 11, 9))
    quarter = {"since": kpi_worlds.utc(2026, 10, 1), "until": kpi_worlds.utc(2027, 1, 1)}

    def trained() -> bool:
        with Session(engine) as session:
            report = compute_kpis(session=session, settings=kpi_worlds.SETTINGS, **quarter)
        return next(c for c in report.training.grid if c.person == "Ada Lovelace").trained

    assert not trained()
    with session_scope(engine) as session:
        person = next(p for p in practice.people(session=session) if p.name == "Ada Lovelace")
        drill = practice.start_drill(
            session=session,
            settings=kpi_worlds.SETTINGS,
            scenario=SCENARIO,
            cmoc_id=person.id,
            now=minutes(0),
        )
    assert not trained()  # started is not completed
    with session_scope(engine) as session:
        practice.finish_drill(
            session=session,
            drill_id=drill.id,
            scenario=SCENARIO,
            viewer=configured("cmoc@example.com"),
            now=minutes(50),
        )
    assert trained()


APAC = Scenario(
    name="apac-connectivity",
    title="Connection issues to GitLab.com in APAC",
    severity=2,
    prompts=(
        Prompt(0, "PagerDuty page: connection issues", page=True, state="investigating"),
        Prompt(6, "IM: S2, reports from Asia-Pacific"),
        Prompt(16, "IM: isolated to APAC", state="identified"),
        Prompt(35, "IM: rerouted, monitoring", state="monitoring"),
        Prompt(66, "IM: all clear", state="resolved"),
    ),
)
CMOC = configured("cmoc@example.com")


def drill_of(engine, scenario: Scenario, settings: Settings = kpi_worlds.SETTINGS) -> PracticeDrill:
    with session_scope(engine) as session:
        return practice.start_drill(
            session=session, settings=settings, scenario=scenario, cmoc_id=None, now=T0
        )


def end(engine, drill: PracticeDrill, at: datetime, scenario: Scenario = APAC):
    with session_scope(engine) as session:
        return practice.finish_drill(
            session=session, drill_id=drill.id, scenario=scenario, viewer=CMOC, now=at
        )


def test_a_drill_ended_at_7_minutes_is_not_scored_on_prompts_still_to_play(engine):
    card = end(engine, drill_of(engine, APAC), minutes(7))

    assert card.states_expected == 1
    assert card.states_missed == ["investigating (asked at +0 min)"]
    for later in ("+16", "+35", "+66"):
        assert later not in " ".join(card.states_missed)


@pytest.mark.parametrize("ended, expected", [(15.9, 1), (16, 2), (65, 3), (66, 4)])
def test_a_prompt_counts_once_it_has_played_at_the_minute_the_drill_ended(ended, expected):
    card = practice.score(
        scenario=APAC, started_at=T0, ended_at=minutes(ended), steps={}, updates=[]
    )
    assert card.states_expected == expected == len(card.states_missed)


def active(engine, at: datetime) -> list[str]:
    with Session(engine) as session:
        offered = composer.picker(
            session=session,
            now=at,
            statuspage_ids=[kpi_worlds.LIVE_PAGE, kpi_worlds.PRACTICE_PAGE],
            practice_statuspage_id=kpi_worlds.PRACTICE_PAGE,
            project=kpi_worlds.PRODUCTION,
        )
    return [e.title for e in offered.entries if not e.resolved]


def test_ending_a_drill_never_published_retires_its_incident_and_leaves_the_kpis_alone(
    engine, sandbox, sources
):
    world = World(engine)
    world.incident(minutes(-600), [(0, 100, "Investigating."), (30, 300, "Resolved.")], severity=2)
    quarter = {"since": kpi_worlds.utc(2026, 10, 1), "until": kpi_worlds.utc(2027, 1, 1)}

    def figures() -> dict:
        with Session(engine) as session:
            report = compute_kpis(session=session, settings=kpi_worlds.SETTINGS, **quarter)
        return report.as_dict()

    drill = drill_of(engine, APAC)
    before = figures()
    assert active(engine, minutes(5)) == [APAC.title]
    end(engine, drill, minutes(7))
    closed = practice.close_incident(
        engine=engine, clients=sources.clients, drill_id=drill.id, viewer=CMOC, now=minutes(7)
    )

    assert closed.ok and "never reached the practice status page" in closed.message
    assert active(engine, minutes(8)) == []
    assert sandbox.writes("statusio") == []
    with Session(engine) as session:
        incident = session.get(WorkingIncident, drill.working_incident_id)
        assert incident.resolved_at == minutes(7)
        lines = composer.audit_entries(session=session, incident_id=incident.id)
    assert [(a.action, a.result, a.actor) for a in lines] == [
        (practice.RETIRE, "retired", CMOC.actor)
    ]
    assert "never reached the practice status page" in lines[0].detail
    assert figures() == before
    again = practice.close_incident(
        engine=engine, clients=sources.clients, drill_id=drill.id, viewer=CMOC, now=minutes(9)
    )
    assert again is None


def test_ending_a_published_drill_resolves_it_on_the_practice_page_exactly_once(
    engine, sandbox, sources, team
):
    roles, _ = team
    settings = sources.settings
    drill = drill_of(engine, APAC, settings)
    publisher = Publisher(engine, sources.clients, settings.gitlab_production_project, CMOC)
    component = sandbox.org.statusio_practice_components[0]
    created = publisher.create(
        incident_id=drill.working_incident_id,
        message=Message(f"We are investigating connection issues: {LINK}", 100, 300),
        components=[f"{component['_id']}-{component['containers'][0]['_id']}"],
        all_infrastructure=False,
        now=minutes(3),
    )
    assert created.ok, created.message
    card = end(engine, drill, minutes(7))
    outcomes = [
        practice.close_incident(
            engine=engine, clients=sources.clients, drill_id=drill.id, viewer=CMOC, now=at
        )
        for at in (minutes(7), minutes(8))
    ]

    assert outcomes[0].ok and outcomes[1] is None
    writes = sandbox.writes("statusio")
    assert [w.path for w in writes] == ["/incident/create", "/incident/resolve"]
    assert writes[1].body["statuspage_id"] == settings.statusio_practice_statuspage_id
    assert writes[1].body["incident_details"] == practice.DRILL_ENDED
    assert card.updates == 1  # the resolve that ends the drill is not the trainee's
    with Session(engine) as session:
        assert session.get(WorkingIncident, drill.working_incident_id).resolved_at == minutes(7)
    assert active(engine, minutes(9)) == []


def test_resolved_real_incidents_can_be_replayed_and_practice_ones_are_never_offered(engine):
    world = World(engine)
    real = [(0, 100, "Investigating."), (20, 200, "Identified."), (40, 300, "Resolved.")]
    older = world.incident(minutes(-3000), real, severity=1)
    newer = world.incident(minutes(-600), real, severity=2)
    world.incident(minutes(-300), real, resolved=False)
    world.incident(minutes(-200), real, statuspage_id=kpi_worlds.PRACTICE_PAGE)
    settings = kpi_worlds.SETTINGS
    with Session(engine) as session:
        offered = practice.past_incidents(session=session, settings=settings)
        assert [i.id for i in offered] == [newer.id, older.id]
        scenario = practice.replay(
            session=session, settings=settings, incident_id=newer.id, speed=4
        )
        with pytest.raises(PracticeError, match="not in the history"):
            practice.replay(session=session, settings=settings, incident_id="gone", speed=4)
    assert scenario.severity == 2  # from the production issue's severity label
    assert [p.minute for p in scenario.prompts] == [0, 5, 10]

    ada = world.person("Ada Lovelace", pd_id="PADA", gitlab_id="501")
    with session_scope(engine) as session:
        cmoc = next(p.id for p in practice.people(session=session) if p.name == ada.name)
        drill = practice.begin_drill(
            session=session,
            settings=settings,
            library=Library({}, []),
            start=practice.DrillStart(scenario.name, cmoc),
            viewer=CMOC,
            now=T0,
        )
    with Session(engine) as session:
        stored = session.get(PracticeDrill, drill.id)
        assert stored.source_incident_id == newer.id
        again = practice.find_scenario(
            session=session, settings=settings, library=Library({}, []), name=stored.scenario
        )
        assert again == scenario
        assert (
            practice.scenario_title(session=session, library=Library({}, []), name=stored.scenario)
            == f"Replay: Incident {newer.id.removeprefix('sp')}"
        )
