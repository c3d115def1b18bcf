"""Incident facts changed at any time, severity changes as the KPIs, history and countdown see
them, and the picker's order of urgency."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cmoc_core import composer
from cmoc_core.composer import (
    NEW_INCIDENT,
    Choice,
    ChoiceKind,
    EditableFacts,
    IncidentFacts,
    adopt,
    change_facts,
    facts_of,
    picker,
    start_incident,
    takeover_summary,
)
from cmoc_core.history import incident_record, incident_timeline
from cmoc_core.kpis import compute_kpis
from cmoc_core.models import (
    AuditEntry,
    PagerDutyIncident,
    SeverityChange,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.severity import cockpit_adds, severities
from cmoc_core.storage import session_scope
from tests.kpi_worlds import (
    FEBRUARY,
    LIVE_PAGE,
    PRACTICE_PAGE,
    PRODUCTION,
    SETTINGS,
    T0,
    World,
    minutes,
)

INVESTIGATING, IDENTIFIED, MONITORING = 100, 200, 300
ISSUE = "https://gitlab.example.com/" + PRODUCTION + "/-/issues/{iid}"


def started(engine, *, severity=None, iid=101, practice=False, at=T0, title="Errors") -> int:
    facts = IncidentFacts(
        title=title, practice=practice, severity=severity, issue_url=ISSUE.format(iid=iid)
    )
    with session_scope(engine) as session:
        page = PRACTICE_PAGE if practice else LIVE_PAGE
        incident = start_incident(
            session=session, facts=facts, statuspage_id=page, now=at, actor="ana@example.com"
        )
        return incident.id


def change(engine, incident_id: int, at: datetime, **facts) -> composer.FactsOutcome:
    with session_scope(engine) as session:
        current = facts_of(session.get(WorkingIncident, incident_id))
        wanted = EditableFacts(**{**current.__dict__, **facts})
        return change_facts(
            session=session,
            incident_id=incident_id,
            facts=wanted,
            actor="bo@example.com",
            now=at,
            project=PRODUCTION,
        )


def posted(engine, incident_id: int, at: datetime, state: int = INVESTIGATING) -> None:
    """As if its update had just been published."""
    with session_scope(engine) as session:
        incident = session.get(WorkingIncident, incident_id)
        incident.statuspage_incident_id = f"sp-{incident_id}"
        incident.last_posted_at, incident.last_text, incident.state = at, "Investigating.", state
        session.add(incident)


def page(engine, number: int, created: datetime, status: str = "triggered", linked=None) -> str:
    with session_scope(engine) as session:
        session.add(
            PagerDutyIncident(
                id=f"P{number}",
                incident_number=number,
                title=f"Incident #{number}: errors",
                service_id="PSVC",
                status=status,
                created_at=created,
                statuspage_incident_id=linked,
            )
        )
    return f"P{number}"


# Facts ----------------------------------------------------------------------------------------


def test_the_severity_chosen_at_start_is_the_first_recorded_change(sqlite_engine):
    incident_id = started(sqlite_engine, severity=2)
    started(sqlite_engine, severity=None, iid=102)
    with Session(sqlite_engine) as session:
        changes = session.exec(select(SeverityChange)).all()
    assert [(c.incident_id, c.at, c.level, c.actor) for c in changes] == [
        (incident_id, T0, 2, "ana@example.com")
    ]


def test_severity_set_and_changed_later_is_recorded_with_time_and_actor_and_audited(
    sqlite_engine,
):
    incident_id = started(sqlite_engine)
    first = change(sqlite_engine, incident_id, T0 + minutes(5), severity=1)
    second = change(sqlite_engine, incident_id, T0 + minutes(30), severity=2)
    same = change(sqlite_engine, incident_id, T0 + minutes(31), severity=2)
    assert first.changed == ("Set severity to S1 (was not set)",)
    assert second.changed == ("Set severity to S2 (was S1)",)
    assert same.changed == () and same.problems == ()
    with Session(sqlite_engine) as session:
        assert session.get(WorkingIncident, incident_id).severity == 2
        changes = session.exec(select(SeverityChange).order_by(col(SeverityChange.at))).all()
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all()
    assert [(c.at, c.level, c.actor) for c in changes] == [
        (T0 + minutes(5), 1, "bo@example.com"),
        (T0 + minutes(30), 2, "bo@example.com"),
    ]
    assert [(e.at, e.actor, e.detail, e.incident_id) for e in entries] == [
        (T0 + minutes(5), "bo@example.com", "Set severity to S1 (was not set)", incident_id),
        (T0 + minutes(30), "bo@example.com", "Set severity to S2 (was S1)", incident_id),
    ]


def test_page_issue_channel_and_zoom_can_be_set_changed_and_removed(sqlite_engine):
    incident_id = started(sqlite_engine, severity=3)
    first = page(sqlite_engine, 182679, T0 - minutes(3))
    second = page(sqlite_engine, 182680, T0 - minutes(1))
    set_all = change(
        sqlite_engine,
        incident_id,
        T0 + minutes(1),
        page_id=first,
        issue_url=ISSUE.format(iid=555),
        slack_channel="incident-555",
        zoom_url="https://zoom.example.com/j/1",
    )
    assert set_all.changed == (
        "Set the PagerDuty page to #182679 (was not set)",
        f"Set the production issue link to {ISSUE.format(iid=555)} (was {ISSUE.format(iid=101)})",
        "Set the Slack channel to #incident-555 (was not set)",
        "Set the Zoom link to https://zoom.example.com/j/1 (was not set)",
    )
    later = change(sqlite_engine, incident_id, T0 + minutes(2), page_id=second, zoom_url=" ")
    assert later.changed == (
        "Set the PagerDuty page to #182680 (was #182679)",
        "Removed the Zoom link (was https://zoom.example.com/j/1)",
    )
    with Session(sqlite_engine) as session:
        incident = session.get(WorkingIncident, incident_id)
        details = session.exec(select(AuditEntry.detail)).all()
    assert incident.pagerduty_incident_id == second and incident.zoom_url is None
    assert incident.slack_channel == "#incident-555"
    assert len(details) == 6


def test_facts_that_cannot_be_right_change_nothing_and_say_why(sqlite_engine):
    incident_id = started(sqlite_engine, severity=2)
    refused = change(
        sqlite_engine,
        incident_id,
        T0 + minutes(1),
        severity=None,
        page_id="PUNKNOWN",
        issue_url="https://gitlab.example.com/another/project/-/issues/3",
        zoom_url="javascript:alert(1)",
    )
    assert refused.changed == ()
    assert len(refused.problems) == 4
    assert "cannot go back to unknown" in refused.problems[0]
    assert "PagerDuty page is not known" in refused.problems[1]
    assert PRODUCTION in refused.problems[2]
    assert "web address" in refused.problems[3]
    with Session(sqlite_engine) as session:
        incident = session.get(WorkingIncident, incident_id)
        assert session.exec(select(AuditEntry)).all() == []
    assert incident.severity == 2 and incident.zoom_url is None
    assert incident.issue_url == ISSUE.format(iid=101)


def test_a_form_saved_after_another_session_changed_a_fact_does_not_undo_that_change(
    sqlite_engine,
):
    incident_id = started(sqlite_engine, severity=3)
    with Session(sqlite_engine) as session:
        shown = facts_of(session.get(WorkingIncident, incident_id))
    change(sqlite_engine, incident_id, T0 + minutes(1), slack_channel="#incident-1")
    with session_scope(sqlite_engine) as session:
        mine = EditableFacts(**{**shown.__dict__, "severity": 1})
        saved = change_facts(
            session=session,
            incident_id=incident_id,
            facts=mine,
            actor="cy@example.com",
            now=T0 + minutes(2),
            project=PRODUCTION,
            seen=shown,
        )
    assert saved.changed == ("Set severity to S1 (was S3)",)
    with Session(sqlite_engine) as session:
        incident = session.get(WorkingIncident, incident_id)
    assert (incident.severity, incident.slack_channel) == (1, "#incident-1")


def test_the_page_choices_keep_the_incidents_own_page_once_it_is_closed(sqlite_engine):
    incident_id = started(sqlite_engine)
    own = page(sqlite_engine, 1, T0 - minutes(30), status="resolved")
    newer = page(sqlite_engine, 2, T0 - minutes(5))
    older = page(sqlite_engine, 3, T0 - minutes(10), status="acknowledged")
    with session_scope(sqlite_engine) as session:
        session.get(WorkingIncident, incident_id).pagerduty_incident_id = own
    with Session(sqlite_engine) as session:
        incident = session.get(WorkingIncident, incident_id)
        choices = composer.page_choices(session=session, incident=incident)
    assert [p.id for p in choices] == [newer, older, own]


# Severity as the countdown, the KPIs and the history see it -----------------------------------


def test_the_live_countdown_counts_an_unknown_severity_as_s1_until_it_is_set():
    incident = WorkingIncident(
        title="Errors",
        statuspage_id=LIVE_PAGE,
        opened_at=T0,
        last_posted_at=T0,
        last_text="Investigating.",
        state=INVESTIGATING,
    )
    assert incident.next_due() == T0 + minutes(10)
    incident.severity = 3
    assert incident.next_due() == T0 + minutes(15)


def test_a_severity_set_in_the_cockpit_is_an_add_for_the_issue_it_links(sqlite_engine):
    world = World(sqlite_engine)
    labelled = world.production_issue(101, labels=["severity::3"])
    world.label_event(labelled, "severity::3", T0)
    raised = started(sqlite_engine, iid=101)
    change(sqlite_engine, raised, T0 + minutes(20), severity=1)
    started(sqlite_engine, severity=2, iid=404, at=T0 + minutes(1))
    drill = started(sqlite_engine, severity=4, iid=101, practice=True, at=T0 + minutes(25))
    change(sqlite_engine, drill, T0 + minutes(26), severity=4)
    with Session(sqlite_engine) as session:
        found = severities(session=session, project=PRODUCTION, iids=[101, 404, 999])
        adds = cockpit_adds(session=session, project=PRODUCTION)
    assert sorted(found) == [101, 404]
    assert [found[101].at(T0 + minutes(m)) for m in (0, 19, 20, 40)] == [3, 3, 1, 1]
    assert found[404].at(T0) == 2  # the only thing known: set in the cockpit
    assert [(a.iid, a.level) for a in adds] == [(404, 2), (101, 1)]  # never a drill's


def kpi_world(engine) -> None:
    """An incident whose issue says S3 by its current label; the cockpit set S1 before it."""
    world = World(engine)
    issue = world.production_issue(2001, labels=["severity::3"])
    world.incident(
        T0,
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),  # S1: due 10, gap 12
            (12, IDENTIFIED, "Cause identified."),  # S1: due 10, gap 8
            (20, MONITORING, "Resolved."),
        ],
        issue=issue,
    )
    incident_id = started(engine, iid=2001, at=T0 - minutes(5))
    change(engine, incident_id, T0 - minutes(4), severity=1)


def test_the_kpi_cadence_counts_a_gap_by_the_severity_set_in_the_cockpit(sqlite_engine):
    kpi_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        report = compute_kpis(
            session=session, settings=SETTINGS, since=FEBRUARY[0], until=FEBRUARY[1]
        ).as_dict()
    by_severity = report["update_cadence"]["by_severity"]
    assert (by_severity["1"]["gaps"], by_severity["1"]["on_time"]) == (2, 1)
    assert by_severity["3"]["gaps"] == 0


def test_the_history_timeline_judges_gaps_by_the_severity_set_in_the_cockpit(sqlite_engine):
    kpi_world(sqlite_engine)
    with Session(sqlite_engine) as session:
        incident_id = session.exec(select(StatusPageIncident.id)).one()
        record = incident_record(session=session, incident_id=incident_id)
        timeline = incident_timeline(
            session=session, record=record, project=PRODUCTION, now=T0 + minutes(60)
        )
    assert [(g.due, g.on_time) for g in timeline.gaps] == [
        (T0 + minutes(10), False),
        (T0 + minutes(22), True),
    ]


# The picker --------------------------------------------------------------------------------


def synced(engine, name: str, opened: datetime, last: datetime, *, practice=False) -> str:
    """An incident on the status page that no one here has taken over yet."""
    incident_id = f"sp-{name}"
    with session_scope(engine) as session:
        session.add(
            StatusPageIncident(
                id=incident_id,
                statuspage_id=PRACTICE_PAGE if practice else LIVE_PAGE,
                name=name,
                datetime_open=opened,
            )
        )
        session.add(
            StatusPageMessage(
                id=f"{incident_id}-m",
                incident_id=incident_id,
                details=f"Still investigating {name}.",
                state=IDENTIFIED,
                status=300,
                posted_at=last,
            )
        )
    return incident_id


def offered(engine, now: datetime) -> composer.Picker:
    with Session(engine) as session:
        return picker(
            session=session,
            now=now,
            statuspage_ids=[LIVE_PAGE, PRACTICE_PAGE],
            practice_statuspage_id=PRACTICE_PAGE,
            project=PRODUCTION,
        )


def test_the_picker_opens_on_the_most_overdue_real_incident_and_orders_by_urgency(sqlite_engine):
    now = T0 + timedelta(hours=9)
    overdue = started(sqlite_engine, severity=2, title="Overdue long")
    posted(sqlite_engine, overdue, now - timedelta(hours=8, minutes=51) - minutes(15))
    less_overdue = started(sqlite_engine, severity=2, title="Overdue a little", at=T0 + minutes(1))
    posted(sqlite_engine, less_overdue, now - minutes(20))
    not_created = started(sqlite_engine, title="Not created yet", at=now - minutes(3))
    due_soon = started(sqlite_engine, severity=2, title="Due soon", at=T0 + minutes(2))
    posted(sqlite_engine, due_soon, now - minutes(9))
    due_later = started(sqlite_engine, severity=2, title="Due later", at=T0 + minutes(4))
    posted(sqlite_engine, due_later, now - minutes(1))
    drill = started(sqlite_engine, severity=1, practice=True, title="Drill", at=now - minutes(60))
    posted(sqlite_engine, drill, now - timedelta(hours=20))  # more overdue, but a drill
    resolved = started(sqlite_engine, severity=1, title="Resolved", at=now - minutes(50))
    with session_scope(sqlite_engine) as session:
        session.get(WorkingIncident, resolved).resolved_at = now - minutes(10)
    to_take_over = synced(sqlite_engine, "On the page", T0, now - timedelta(hours=30))

    picked = offered(sqlite_engine, now)
    working = ChoiceKind.WORKING
    assert [e.choice for e in picked.entries] == [
        Choice(working, overdue),
        Choice(working, less_overdue),
        Choice(working, not_created),
        Choice(working, due_soon),
        Choice(working, due_later),
        Choice(ChoiceKind.SYNCED, to_take_over),  # real, but not worked here yet
        Choice(working, drill),
        Choice(working, resolved),
    ]
    assert picked.default == Choice(working, overdue)
    first = picked.entries[0]
    assert first.overdue_by(now) == timedelta(hours=8, minutes=51)
    assert (first.severity, first.state, first.practice, first.resolved) == (2, 100, False, False)
    assert picked.entries[4].overdue_by(now) is None
    assert picked.entries[-1].resolved and picked.entries[-2].practice


def test_the_picker_never_opens_on_a_drill_or_a_resolved_incident_over_a_real_one(sqlite_engine):
    now = T0 + minutes(30)
    resolved = started(sqlite_engine, severity=1, title="Resolved", at=T0)
    with session_scope(sqlite_engine) as session:
        session.get(WorkingIncident, resolved).resolved_at = now - minutes(5)
    assert offered(sqlite_engine, now).default == NEW_INCIDENT
    drill = started(sqlite_engine, severity=1, practice=True, title="Drill", at=now - minutes(1))
    assert offered(sqlite_engine, now).default == Choice(ChoiceKind.WORKING, drill)
    on_the_page = synced(sqlite_engine, "Real", T0, now - minutes(2))  # due in 8 min
    picked = offered(sqlite_engine, now)
    assert picked.default == Choice(ChoiceKind.SYNCED, on_the_page)
    assert picked.entries[0].due == now + minutes(8)  # unknown severity: S1's 10 minutes


def test_before_a_takeover_the_summary_says_state_last_update_due_page_and_issue(sqlite_engine):
    world = World(sqlite_engine)
    issue = world.production_issue(3001, labels=["severity::2"])
    on_the_page = world.incident(
        T0,
        [(0, INVESTIGATING, "Investigating."), (7, IDENTIFIED, "A bad deploy; rolling back.")],
        issue=issue,
        resolved=False,
    )
    page(sqlite_engine, 182001, T0 - minutes(40), status="resolved", linked=on_the_page.id)
    open_page = page(sqlite_engine, 182002, T0 - minutes(5), linked=on_the_page.id)
    with Session(sqlite_engine) as session:
        stored = session.get(StatusPageIncident, on_the_page.id)
        summary = takeover_summary(
            session=session, synced=stored, project=PRODUCTION, now=T0 + minutes(60)
        )
    assert (summary.severity, summary.state) == (2, IDENTIFIED)
    assert (summary.last_text, summary.last_at) == ("A bad deploy; rolling back.", T0 + minutes(7))
    assert summary.due == T0 + minutes(37)  # S2 identified: 30 minutes
    assert summary.page is not None and summary.page.id == open_page
    assert summary.issue_url == issue.url
    with session_scope(sqlite_engine) as session:
        stored = session.get(StatusPageIncident, on_the_page.id)
        adopted = adopt(session=session, synced=stored, project=PRODUCTION)
        assert adopted.pagerduty_incident_id == open_page


def test_the_title_changes_until_the_incident_is_on_the_status_page(sqlite_engine):
    incident_id = started(sqlite_engine, title="Errors")
    assert change(sqlite_engine, incident_id, T0, title="  ").problems == (
        "The title is empty: say in simple terms what the issue is.",
    )
    said = change(sqlite_engine, incident_id, T0, title="CI  jobs   stuck in pending")
    assert said.changed == ("Set the title to CI jobs stuck in pending (was Errors)",)
    with session_scope(sqlite_engine) as session:
        incident = session.get(WorkingIncident, incident_id)
        assert incident.title == "CI jobs stuck in pending"
        incident.statuspage_incident_id = "5f0000000000000000000001"
    refused = change(sqlite_engine, incident_id, T0, title="Something else")
    assert refused.problems == ("The title is on the status page already and cannot change there.",)
    with Session(sqlite_engine) as session:
        assert session.get(WorkingIncident, incident_id).title == "CI jobs stuck in pending"
