"""The composer's incident facts and picker, driven through the real app at fixed clock times."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from cmoc_core import composer
from cmoc_core.composer import Choice, ChoiceKind, IncidentFacts
from cmoc_core.handbook import state_name
from cmoc_core.models import (
    AuditEntry,
    PagerDutyIncident,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.storage import make_engine, session_scope
from tests.app.test_composer_page import (
    T0,
    at_time,
    choose_component,
    errors,
    metric,
    publish,
    sandbox_of,
    start_incident,
    working_id,
)


def engine():
    return make_engine(os.environ["CMOC_DATABASE_URL"])


def texts(app: AppTest) -> str:
    shown = [*app.markdown, *app.text, *app.success, *app.error, *app.caption]
    return " ".join(str(e.value) for e in shown).replace("\\", "").replace("\u2060", "")


def save_facts(app: AppTest, incident_id: int, **values) -> AppTest:
    app.session_state[f"composer_facts_{incident_id}"] = True  # the CMOC opens the facts
    app.run()
    for name, value in values.items():
        widget = f"composer_facts_{name}_{incident_id}"
        if name in ("severity", "page"):
            app.selectbox(key=widget).set_value(value)
        else:
            app.text_input(key=widget).input(value)
    app.button(key=f"composer_facts_save_{incident_id}").click()
    return app.run()


def test_severity_set_after_start_drives_the_countdown_and_is_audited(app):
    start_incident(app, severity=None)
    incident_id = working_id()
    facts = next(e for e in app.expander if e.label == "Incident facts")
    assert facts.proto.expanded  # open while the severity is unknown
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0)
    assert metric(app, "Next update due in") == "10 min 00 s"  # unknown counts as S1

    save_facts(app, incident_id, severity=1)
    assert not app.exception
    assert "Set severity to S1 (was not set)" in texts(app)
    assert metric(app, "Severity") == "S1"
    picker = app.selectbox(key="composer_incident")  # its label changed, the choice held
    assert picker.value == Choice(ChoiceKind.WORKING, incident_id)
    assert picker.options[0].startswith("Elevated error rates on GitLab.com · S1 · Investigating")
    assert metric(app, "Next update due in") == "10 min 00 s"

    at_time(app, T0 + timedelta(minutes=2))
    save_facts(app, incident_id, severity=3)
    assert "Set severity to S3 (was S1)" in texts(app)
    assert metric(app, "Next update due in") == "13 min 00 s"  # S3 investigating: 15 minutes
    with Session(engine()) as session:
        entries = session.exec(
            select(AuditEntry)
            .where(AuditEntry.incident_id == incident_id, AuditEntry.target == "Incident facts")
            .order_by(col(AuditEntry.at))
        ).all()
    assert [(e.at, e.detail) for e in entries] == [
        (T0, "Set severity to S1 (was not set)"),
        (T0 + timedelta(minutes=2), "Set severity to S3 (was S1)"),
    ]


def unlinked_synced_and_triggered_page() -> tuple[StatusPageIncident, PagerDutyIncident]:
    """A synced incident to take over that no open page is tied to, and an open page.

    The demo's day decides which incidents and pages are open: on this test's own copy of the
    database, the oldest open incident is untied from its pages and one page is triggered.
    """
    with Session(engine()) as session:
        synced = session.exec(
            select(StatusPageIncident)
            .where(col(StatusPageIncident.resolved).is_(False))
            .order_by(col(StatusPageIncident.datetime_open))
        ).first()
        assert synced is not None, "the demo has no open status-page incident"
        tied = session.exec(
            select(PagerDutyIncident).where(PagerDutyIncident.statuspage_incident_id == synced.id)
        ).all()
        for page in tied:
            page.statuspage_incident_id = None
        page = composer.open_pages(session=session)[0]
        page.status, page.acknowledged_at = "triggered", None
        session.add_all([*tied, page])
        session.commit()
        session.refresh(synced)
        session.refresh(page)
    return synced, page


def test_a_page_attached_after_a_takeover_can_be_acknowledged(app):
    synced, page = unlinked_synced_and_triggered_page()
    at_time(app, T0)
    app.selectbox(key="composer_incident").set_value(Choice(ChoiceKind.SYNCED, synced.id)).run()
    app.button(key="composer_adopt").click().run()
    assert not app.exception
    incident_id = working_id()
    assert app.selectbox(key="composer_incident").value == Choice(ChoiceKind.WORKING, incident_id)

    app.button(key="composer_step_acknowledge_page").click().run()
    assert "under “Incident facts”" in errors(app)
    assert sandbox_of(app).writes("pagerduty") == []

    save_facts(app, incident_id, page=page.id, channel="#incident-17221")
    assert not app.exception
    shown = texts(app)
    assert f"Set the PagerDuty page to #{page.incident_number} (was not set)" in shown
    assert "Set the Slack channel to #incident-17221 (was not set)" in shown
    assert app.selectbox(key="composer_incident").value == Choice(ChoiceKind.WORKING, incident_id)

    app.button(key="composer_step_acknowledge_page").click().run()
    writes = sandbox_of(app).writes("pagerduty")
    assert len(writes) == 1 and page.id in writes[0].path
    assert writes[0].body["incident"]["status"] == "acknowledged"
    with Session(engine()) as session:
        assert "acknowledge_page" in session.get(WorkingIncident, incident_id).steps


def test_the_takeover_summary_shows_the_last_update_before_the_button(app):
    synced, _ = unlinked_synced_and_triggered_page()
    with Session(engine()) as session:
        last = session.exec(
            select(StatusPageMessage)
            .where(StatusPageMessage.incident_id == synced.id)
            .order_by(col(StatusPageMessage.posted_at).desc())
        ).first()
    assert last is not None
    at_time(app, last.posted_at + timedelta(hours=3))
    app.selectbox(key="composer_incident").set_value(Choice(ChoiceKind.SYNCED, synced.id)).run()
    shown = texts(app)
    assert last.details in shown
    assert f"Last update: {last.posted_at:%d-%m-%Y %H:%M} UTC" in shown
    assert "Next update due: " in shown and "(overdue " in shown
    assert f"State: {state_name(last.state)}" in shown and "Severity: " in shown
    with Session(engine()) as session:
        tied = session.exec(
            select(PagerDutyIncident).where(PagerDutyIncident.statuspage_incident_id == synced.id)
        ).first()
    expected = f"PagerDuty page: #{tied.incident_number} " if tied else "PagerDuty page: —"
    assert expected in shown
    assert any(b.key == "composer_adopt" for b in app.button)
    with Session(engine()) as session:
        assert session.exec(select(WorkingIncident)).all() == []


def test_the_page_opens_on_the_overdue_real_incident_not_a_newer_drill_or_a_resolved_one(app):
    start_incident(app, severity=2, title="Real errors")
    real = working_id()
    choose_component(app, real)
    publish(app, "create")  # S2 investigating: due at T0 + 15 min
    with session_scope(engine()) as session:
        composer.start_incident(
            session=session,
            facts=IncidentFacts(title="Drill errors", practice=True, severity=1),
            statuspage_id="practice",
            now=T0 + timedelta(minutes=20),
        )
        done = composer.start_incident(
            session=session,
            facts=IncidentFacts(title="Done errors", severity=1),
            statuspage_id="public",
            now=T0 + timedelta(minutes=25),
        )
        done.resolved_at = T0 + timedelta(minutes=30)
        session.add(done)

    fresh = AppTest.from_file(app._script_path, default_timeout=60)
    at_time(fresh, T0 + timedelta(minutes=40))
    picker = fresh.selectbox(key="composer_incident")
    assert picker.value == Choice(ChoiceKind.WORKING, real)
    labels = picker.options
    assert labels[0] == "Real errors · S2 · Investigating · overdue 25 min"
    drill_label = next(label for label in labels if "Drill errors" in label)
    assert drill_label == "PRACTICE · Drill errors · S1 · not yet on the status page"
    assert labels[-2] == "Done errors · S1 · Resolved"
    assert labels[-1] == "➕ Start a new incident"
    assert metric(fresh, "Next update") == "OVERDUE"
