"""The live composer through a whole incident, at fixed clock times (no sleeping)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, func, select

from cmoc_core.models import WorkingIncident
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps
from tests.app.conftest import open_tab
from tests.support.viewers import configured

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17999"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at_time(app, moment: datetime):
    app.session_state["clock_now"] = moment
    return app.run()


def sandbox_of(app):
    return deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox


def working_id() -> int:
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        return session.exec(select(func.max(WorkingIncident.id))).one()


def errors(app) -> str:
    return " ".join(e.value for e in app.error).replace("\\", "")


def metric(app, label: str) -> str:
    return next(str(m.value) for m in app.metric if m.label == label)


def start_incident(app, *, severity: int = 2, title: str = "Elevated error rates on GitLab.com"):
    at_time(app, T0)
    app.selectbox(key="composer_incident").set_value("➕ Start a new incident")
    app.run()
    app.text_input(key="composer_new_title").input(title)
    app.text_input(key="composer_new_issue").input(ISSUE)
    app.selectbox(key="composer_new_severity").set_value(severity)
    app.text_input(key="composer_new_channel").input("#incident-17999")
    next(b for b in app.button if b.label == "Start").click()
    return at_time(app, T0)


def choose_component(app, incident_id: int) -> None:
    components = app.multiselect(key=f"composer_components_{incident_id}")
    components.select(next(o for o in components.options if o.endswith(")")))


def publish(app, form: str):
    app.button(key=f"composer_preview_{form}").click()
    app.run()
    blocking = [e.value for e in app.error if "overdue" not in e.value]
    assert not blocking, blocking
    app.button(key="composer_publish").click()
    app.run()
    assert not app.exception
    return app


def test_a_whole_incident_from_create_to_resolve_with_the_countdown(app):
    start_incident(app)
    assert not app.exception
    assert metric(app, "Next update") == "create the incident"
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    assert any("Created the incident on the public status page" in s.value for s in app.success)
    at_time(app, T0)
    assert metric(app, "Next update due in") == "15 min 00 s"  # S2 investigating: 15 minutes

    at_time(app, T0 + timedelta(minutes=16))
    assert metric(app, "Next update") == "OVERDUE"
    assert "Update overdue by 1 min 00 s" in errors(app)
    assert any("Update overdue" in e.value for e in app.error)

    app.radio(key=f"composer_update_state_{incident_id}").set_value(200)
    app.text_area(key=f"composer_update_details_{incident_id}").input(
        f"We have identified a faulty deploy and are rolling it back. Details: {ISSUE}"
    )
    publish(app, "update")
    at_time(app, T0 + timedelta(minutes=16))
    assert metric(app, "State") == "Identified"
    assert metric(app, "Next update due in") == "30 min 00 s"  # S2 identified: 30 minutes

    app.selectbox(key=f"composer_template_{incident_id}").set_value("Monitoring (with duration)")
    app.button(key=f"composer_use_template_{incident_id}").click().run()
    app.radio(key=f"composer_update_state_{incident_id}").set_value(300)
    publish(app, "update")
    at_time(app, T0 + timedelta(minutes=30))
    assert metric(app, "State") == "Monitoring"

    open_tab(app, "Resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check()
    publish(app, "resolve")
    at_time(app, T0 + timedelta(minutes=31))
    assert metric(app, "State") == "Resolved"

    writes = list(sandbox_of(app).writes("statusio"))
    assert [w.path for w in writes] == [
        "/incident/create",
        "/incident/update",
        "/incident/update",
        "/incident/resolve",
    ]
    create = writes[0].body
    assert create["incident_name"] == "Elevated error rates on GitLab.com"
    assert create["current_state"] == 100 and ISSUE in create["incident_details"]
    assert all(create[c] == "1" for c in ("notify_email", "notify_sms", "notify_webhook", "social"))
    assert writes[3].body["current_status"] == 100


def test_resolve_waits_for_the_incident_managers_all_clear(app):
    start_incident(app)
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    open_tab(app, "Resolve")
    at_time(app, T0)
    app.button(key="composer_preview_resolve").click().run()
    assert "all-clear" in errors(app)
    assert "composer_pending" not in app.session_state


def test_bad_input_gets_clear_messages_and_the_draft_is_kept(app):
    start_incident(app)
    incident_id = working_id()
    details = app.text_area(key=f"composer_create_details_{incident_id}")
    details.input("Something is broken. " * 20).run()  # 420 characters, no issue link
    app.button(key="composer_preview_create").click().run()
    shown = errors(app)
    assert "link to the incident issue" in shown
    assert "of 280 characters on X" in shown
    assert "affected components" in shown
    assert app.text_area(key=f"composer_create_details_{incident_id}").value.startswith("Something")
    assert sandbox_of(app).writes("statusio") == []


def test_drafts_survive_a_new_session(app, tmp_path):
    start_incident(app)
    incident_id = working_id()
    app.text_area(key=f"composer_create_details_{incident_id}").input(f"Draft words {ISSUE}").run()
    from streamlit.testing.v1 import AppTest

    fresh = AppTest.from_file(app._script_path, default_timeout=60)
    fresh.session_state["clock_now"] = T0
    fresh.run()
    assert (
        fresh.text_area(key=f"composer_create_details_{incident_id}").value
        == f"Draft words {ISSUE}"
    )


def test_an_unreachable_status_page_keeps_the_draft_and_says_what_happened(app):
    start_incident(app)
    incident_id = working_id()
    from cmoc_core.sandbox import Fault

    sandbox_of(app).add_fault(
        Fault(service="statusio", path_contains="incident/create", kind="timeout", times=None)
    )
    choose_component(app, incident_id)
    app.button(key="composer_preview_create").click().run()
    app.button(key="composer_publish").click().run()
    assert not app.exception
    messages = errors(app)
    assert "Status.io" in messages and "may or may not have taken effect" in messages
    assert "draft is kept" in messages
    assert app.text_area(key=f"composer_create_details_{incident_id}").value
    assert metric(app, "Next update") == "create the incident"


def test_a_message_published_from_another_session_is_not_offered_again(app):
    from streamlit.testing.v1 import AppTest

    start_incident(app)
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0)
    text = f"Rolling back the deploy. {ISSUE}"
    app.text_area(key=f"composer_update_details_{incident_id}").input(text).run()

    other = AppTest.from_file(app._script_path, default_timeout=60)
    other.session_state["clock_now"] = T0
    other.run()
    assert other.text_area(key=f"composer_update_details_{incident_id}").value == text

    publish(app, "update")
    other.run()
    assert other.text_area(key=f"composer_update_details_{incident_id}").value == ""


def test_an_incident_without_a_title_is_not_started(app):
    at_time(app, T0)
    app.selectbox(key="composer_incident").set_value("➕ Start a new incident")
    app.run()
    app.text_input(key="composer_new_issue").input(ISSUE)
    next(b for b in app.button if b.label == "Start").click()
    at_time(app, T0)
    assert "The title is empty" in errors(app)
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        assert session.exec(select(func.count()).select_from(WorkingIncident)).one() == 0


def test_a_preview_overtaken_by_another_session_warns_with_their_words_and_may_go_anyway(app):
    from cmoc_core.composer import Message, Publisher

    start_incident(app)
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0 + timedelta(minutes=5))
    mine = f"Rolling back the faulty deploy now. Details: {ISSUE}"
    app.text_area(key=f"composer_update_details_{incident_id}").input(mine)
    app.button(key="composer_preview_update").click()
    app.run()

    context = deps.app_context()
    settings = context.settings
    project = settings.gitlab_production_project
    other = Publisher(
        context.engine, context.sources.clients, project, configured("other@example.com")
    )
    theirs = f"Failing over to the replica while we investigate. {ISSUE}"
    sent = other.update(
        incident_id=incident_id, message=Message(theirs, 200, 300), now=T0 + timedelta(minutes=6)
    )
    assert sent.ok, sent.message

    app.button(key="composer_publish").click()
    app.run()
    warning = " ".join(w.value for w in app.warning).replace("\\", "").replace("\u2060", "")
    assert "Failing over to the replica" in warning and "other@example.com" in warning
    assert len([w for w in sandbox_of(app).writes("statusio") if "update" in w.path]) == 1

    app.button(key="composer_publish_anyway").click()
    app.run()
    assert not app.exception
    updates = [
        w.body["incident_details"]
        for w in sandbox_of(app).writes("statusio")
        if w.path == "/incident/update"
    ]
    assert updates == [theirs, mine]


def test_the_preview_names_the_channels_and_shows_the_message_as_each_will(app):
    start_incident(app)
    incident_id = working_id()
    choose_component(app, incident_id)
    labels = [c.label for c in app.checkbox if "broadcast" in (c.key or "")]
    assert labels[:4] == ["Email", "SMS", "Webhook", "X"] and "notify_email" not in labels
    app.button(key="composer_preview_create").click()
    app.run()
    captions = " ".join(c.value for c in app.caption).replace("\\", "").replace("\u2060", "")
    assert "broadcast: Email, SMS, Webhook, X, IRC, HipChat, Microsoft Teams, Slack" in captions
    assert "/280 weighted characters" in captions and "SMS segment(s), GSM-7" in captions
    assert "Also sent to: Webhook, IRC, HipChat, Microsoft Teams, Slack" in captions
    assert "notify_" not in " ".join(m.value for m in app.markdown)


def test_a_ticket_count_warns_that_zendesk_may_not_have_indexed_the_newest_tickets(app):
    start_incident(app)
    open_tab(app, "Zendesk")
    app.button(key="composer_zendesk_count").click().run()
    count = next(m for m in app.metric if m.label == "Tickets with this tag")
    assert "take a few minutes to include a new ticket" in count.proto.help
