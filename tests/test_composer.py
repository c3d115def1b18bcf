"""Composer actions against the sandbox: each sent once, unclear outcomes checked, all audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from cmoc_core import auditlog, notifier
from cmoc_core.clients import build_clients
from cmoc_core.composer import IncidentFacts, Message, Publisher, start_incident
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import AuditEntry, StakeholderThread, WorkingIncident
from cmoc_core.sandbox import Fault
from cmoc_core.storage import session_scope
from tests.support.viewers import configured

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{iid}"


@pytest.fixture
def world(sqlite_engine, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    publisher = Publisher(
        sqlite_engine, clients, settings.gitlab_production_project, configured("cmoc@x")
    )
    iid = sandbox.org.gitlab_issues[settings.gitlab_production_project][0]["iid"]
    facts = IncidentFacts(title="Elevated error rates", severity=2, issue_url=ISSUE.format(iid=iid))
    with session_scope(sqlite_engine) as session:
        incident = start_incident(
            session=session,
            facts=facts,
            statuspage_id=settings.statusio_statuspage_id,
            now=sandbox.now(),
        )
    components = [f"{c['_id']}-{c['containers'][0]['_id']}" for c in clients.statusio.components()][
        :1
    ]
    yield publisher, incident.id, components, sandbox
    clients.close()


def create(world, **kwargs):
    publisher, incident_id, components, sandbox = world
    message = Message(f"Investigating errors in: {ISSUE.format(iid=1)}", 100, 300)
    return publisher.create(
        incident_id=incident_id,
        message=message,
        components=components,
        all_infrastructure=False,
        now=sandbox.now(),
        **kwargs,
    )


def working(world) -> WorkingIncident:
    publisher, incident_id, _, _ = world
    with Session(publisher.engine) as session:
        return session.get(WorkingIncident, incident_id)


def test_create_publishes_once_and_a_second_click_sends_nothing(world):
    sandbox = world[3]
    first, second = create(world), create(world)
    assert first.status == "sent" and second.status == "already_sent"
    assert [w.path for w in sandbox.writes("statusio")] == ["/incident/create"]
    incident = working(world)
    assert incident.statuspage_incident_id == first.result["incident_id"]
    assert "create_incident" in incident.steps and incident.last_posted_at is not None


def test_an_update_that_timed_out_is_checked_with_the_service_before_it_is_sent_again(world):
    publisher, incident_id, _, sandbox = world
    create(world)
    sandbox.add_fault(Fault(service="statusio", path_contains="incident/update", kind="timeout"))
    message = Message(f"Rolling back. {ISSUE.format(iid=1)}", 200, 300)
    lost = publisher.update(incident_id=incident_id, message=message, now=sandbox.now())
    assert lost.status == "unknown" and "may or may not" in lost.message
    later = sandbox.now() + timedelta(minutes=3)
    again = publisher.update(incident_id=incident_id, message=message, now=later)
    assert again.status == "sent"
    assert [w.path for w in sandbox.writes("statusio")].count("/incident/update") == 2
    # the first attempt never reached the service (the fault answered), so it was sent again once


def test_a_rejected_update_fails_plainly_and_can_be_sent_after_fixing(world):
    publisher, incident_id, _, sandbox = world
    create(world)
    sandbox.add_fault(
        Fault(
            service="statusio",
            path_contains="incident/update",
            kind="statusio_error",
            message="Incident not found",
        )
    )
    message = Message(f"Rolling back. {ISSUE.format(iid=1)}", 200, 300)
    failed = publisher.update(incident_id=incident_id, message=message, now=sandbox.now())
    assert failed.status == "failed" and "Incident not found" in failed.message
    assert "draft is kept" in failed.message
    assert publisher.update(incident_id=incident_id, message=message, now=sandbox.now()).ok


def test_stakeholders_are_notified_on_every_webhook_once_and_recorded_as_threads(world):
    publisher, incident_id, _, sandbox = world
    create(world)
    outcomes = publisher.notify(
        incident_id=incident_id, text="*Summary*: errors", now=sandbox.now()
    )
    again = publisher.notify(incident_id=incident_id, text="*Summary*: errors", now=sandbox.now())
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert [o.status for o in again] == ["already_sent", "already_sent"]
    assert len(sandbox.slack.posts) == 2
    with Session(publisher.engine) as session:
        threads = session.exec(select(StakeholderThread)).all()
    assert len(threads) == 2 and {t.via for t in threads} == {"slack"}
    assert "notify_stakeholders" in working(world).steps


def test_a_notice_to_a_webhook_without_a_name_says_where_it_went_by_what_the_address_tells(world):
    publisher, incident_id, _, sandbox = world
    create(world)
    places = notifier.destinations(settings_from_mapping(sandbox.settings()))
    tails = [path.split("/")[3][-4:] for path in sandbox.slack.hooks]
    assert [p.label for p in places] == [f"Slack incoming webhook …{t}" for t in tails]
    outcomes = publisher.notify(
        incident_id=incident_id, text="*Summary*: errors", now=sandbox.now()
    )
    said = [o.message for o in outcomes]
    for place in places:
        assert any(f"Posted the Incident Notifier to {place.label}" in s for s in said), said
    with Session(publisher.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "notify_stakeholders")
        ).all()
        logged = [line.what for line in auditlog.lines(session=session, entries=entries)]
    assert logged == [f"Posted the Incident Notifier to {p.label}" for p in places]
    secrets = [path.split("/")[4] for path in sandbox.slack.hooks]
    assert not any(secret in " ".join(said + logged) for secret in secrets)


def test_the_issue_is_labelled_and_the_page_acknowledged_through_the_apis(world, organisation):
    publisher, incident_id, _, sandbox = world
    page = next(i for i in sandbox.org.pd_incidents if i["status"] != "resolved")
    with session_scope(publisher.engine) as session:
        session.get(WorkingIncident, incident_id).pagerduty_incident_id = page["id"]
    assert publisher.label_issue(incident_id=incident_id, now=sandbox.now()).ok
    assert publisher.page(incident_id=incident_id, resolve=False, now=sandbox.now()).ok
    label = sandbox.writes("gitlab")[0]
    assert label.body == {"add_labels": "Incident-Comms::Status-Page"}
    ack = sandbox.writes("pagerduty")[0]
    assert ack.body == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert ack.headers.get("from") == sandbox.settings()["PAGERDUTY_FROM_EMAIL"]
    assert {"label_issue", "acknowledge_page"} <= set(working(world).steps)


def test_every_action_is_in_the_audit_log(world):
    publisher, incident_id, _, sandbox = world
    create(world)
    create(world)
    with Session(publisher.engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.incident_id == incident_id)
        ).all()
    assert [(e.action, e.result, e.actor) for e in entries] == [
        ("create_incident", "sent", "cmoc@x")
    ]
    assert "Elevated error rates" in entries[0].detail


def test_stakeholders_notified_before_the_incident_exists_count_for_it_once_created(world):
    publisher, incident_id, _, sandbox = world
    publisher.notify(incident_id=incident_id, text="*Summary*: errors", now=sandbox.now())
    created = create(world)
    with Session(publisher.engine) as session:
        threads = session.exec(select(StakeholderThread)).all()
    assert {t.statuspage_incident_id for t in threads} == {created.result["incident_id"]}


def test_a_practice_incident_ticks_label_page_and_notify_without_reaching_real_services(
    sqlite_engine, sandbox
):
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    publisher = Publisher(
        sqlite_engine, clients, settings.gitlab_production_project, configured("cmoc@x")
    )
    page = next(i for i in sandbox.org.pd_incidents if i["status"] != "resolved")
    facts = IncidentFacts(
        title="Drill: elevated error rates",
        practice=True,
        issue_url=ISSUE.format(iid=1),  # a real issue must never get the label
        page_id=page["id"],
    )
    with session_scope(sqlite_engine) as session:
        incident = start_incident(
            session=session,
            facts=facts,
            statuspage_id=settings.statusio_practice_statuspage_id,
            now=sandbox.now(),
        )
    now = sandbox.now()
    assert publisher.label_issue(incident_id=incident.id, now=now).ok
    assert publisher.page(incident_id=incident.id, resolve=False, now=now).ok
    assert [o.ok for o in publisher.notify(incident_id=incident.id, text="drill", now=now)] == [
        True
    ]
    clients.close()
    assert sandbox.writes("gitlab") == [] and sandbox.writes("pagerduty") == []
    assert sandbox.slack.posts == []
    with Session(sqlite_engine) as session:
        steps = session.get(WorkingIncident, incident.id).steps
        targets = {a.target for a in session.exec(select(AuditEntry))}
    assert {"label_issue", "acknowledge_page", "notify_stakeholders"} <= set(steps)
    assert targets == {"practice: not sent to GitLab, PagerDuty or Slack"}
