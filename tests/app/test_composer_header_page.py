"""The composer's header and checklist: the page's ack timer, unknown severity, stages in view."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import streamlit as st
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from cmoc_core import composer
from cmoc_core.handbook import STEPS, StepKey
from cmoc_core.models import PagerDutyIncident, WorkingIncident
from cmoc_core.sandbox import Fault
from cmoc_core.storage import make_engine
from tests.app.conftest import open_tab, texts
from tests.app.test_composer_page import (
    ISSUE,
    T0,
    at_time,
    choose_component,
    metric,
    publish,
    sandbox_of,
    start_incident,
    working_id,
)
from tests.app.test_practice_page import at_time as at_drill_minute
from tests.app.test_practice_page import running_drill, start_drill, tick

NEW = "➕ Start a new incident"
TEXT = {step.key: step.text for step in STEPS}


def database() -> Session:
    return Session(make_engine(os.environ["CMOC_DATABASE_URL"]))


def ringing_page() -> PagerDutyIncident:
    """A synced CMOC page nobody has acknowledged yet."""
    with database() as session:
        return next(p for p in composer.open_pages(session=session) if p.acknowledged_at is None)


def tile(app: AppTest, label: str):
    return next(m for m in app.metric if m.label == label)


def start(app: AppTest, at: datetime, *, page: PagerDutyIncident | None = None) -> int:
    """Start an incident with no severity, from the page `page` if given, at `at`."""
    at_time(app, at)
    app.selectbox(key="composer_incident").set_value(NEW).run()
    app.text_input(key="composer_new_title").input("Delays in CI/CD job processing")
    app.text_input(key="composer_new_issue").input(ISSUE)
    app.text_input(key="composer_new_channel").input("#incident-17999")
    if page is not None:
        app.selectbox(key="composer_new_page").set_value(page.id)
    next(b for b in app.button if b.label == "Start").click()
    at_time(app, at)
    assert not app.exception
    return working_id()


def stage_expanders(app: AppTest) -> list:
    return [e for e in app.expander if e.label.startswith("Stage ")]


def open_stages(app: AppTest) -> list[str]:
    return [e.label for e in stage_expanders(app) if e.proto.expanded]


def layout(app: AppTest) -> list[str]:
    """The checklist as the CMOC sees it, top to bottom: each stage, the steps of open ones."""
    seen = []
    for expander in stage_expanders(app):
        seen.append(expander.label)
        if expander.proto.expanded:
            rows = [m.value for m in expander.markdown if m.value.startswith(":material/check_box")]
            seen += [row.split(" ", 1)[1] for row in rows]
    return seen


def ticked(incident_id: int) -> set[str]:
    with database() as session:
        incident = session.get(WorkingIncident, incident_id)
        assert incident is not None
        return set(incident.steps)


def test_the_ack_timer_counts_from_the_pages_trigger_and_stops_at_the_acknowledgement(app):
    at_time(app, T0)
    page = ringing_page()
    trigger = page.created_at
    start(app, trigger + timedelta(minutes=4), page=page)  # the CMOC starts 4 minutes after

    at_time(app, trigger + timedelta(minutes=6))
    assert tile(app, "Page ack").value == "6 min 00 s"  # not the 2 minutes since the start
    assert tile(app, "Page ack").delta == "waiting, target 15 min"
    at_time(app, trigger + timedelta(minutes=6, seconds=20))
    assert tile(app, "Page ack").value == "6 min 20 s"

    at_time(app, trigger + timedelta(minutes=16))
    assert tile(app, "Page ack").value == ":red[16 min 00 s]"
    assert tile(app, "Page ack").delta == "over the 15 min target"

    app.session_state["clock_now"] = trigger + timedelta(minutes=17)
    app.button(key="composer_step_acknowledge_page").click().run()
    assert not app.exception
    at_time(app, trigger + timedelta(minutes=40))
    assert tile(app, "Page ack").value == ":red[17 min 00 s]"  # stopped when acknowledged
    assert tile(app, "Page ack").delta == "acknowledged late"


def test_an_incident_without_a_page_shows_a_dash_for_the_ack_timer(app):
    start(app, T0)
    assert tile(app, "Page ack").value == "—"
    assert "No PagerDuty page" in tile(app, "Page ack").help


def test_an_unknown_severity_is_shown_loudly_and_counted_as_s1(app):
    start(app, T0)
    assert tile(app, "Severity").value == ":red[Not set]"
    assert tile(app, "Severity").delta == "counted as S1 until set"
    choose_component(app, working_id())
    publish(app, "create")
    at_time(app, T0)
    assert metric(app, "Next update due in") == "10 min 00 s"  # S1 investigating: 10 minutes

    start_incident(app, severity=2)
    assert metric(app, "Severity") == "S2"
    assert not tile(app, "Severity").delta


def test_earlier_stages_with_steps_left_stay_open_and_a_closed_one_stays_closed(app):
    start_incident(app)
    incident_id = working_id()
    assert open_stages(app) == ["Stage 1 Engage"]
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0 + timedelta(minutes=5))
    app.radio(key=f"composer_update_state_{incident_id}").set_value(300)
    app.text_area(key=f"composer_update_details_{incident_id}").input(
        "The fix is deployed and error rates are back to normal. We'll monitor for the next "
        f"30 minutes before resolving. {ISSUE}"
    )
    publish(app, "update")
    at_time(app, T0 + timedelta(minutes=6))
    assert metric(app, "Stage") == "3 Monitor"
    # Stage 1 and 2 still have steps to do (the page, the label, Zendesk): they stay in view.
    assert open_stages(app) == ["Stage 1 Engage", "Stage 2 Manage", "Stage 3 Monitor"]

    fresh = AppTest.from_file(app._script_path, default_timeout=120)
    at_time(fresh, T0 + timedelta(minutes=6))
    assert open_stages(fresh) == ["Stage 1 Engage", "Stage 2 Manage", "Stage 3 Monitor"]

    at_time(fresh, T0 + timedelta(minutes=7))
    fresh.button(key="composer_step_join_channel").click().run()
    fresh.session_state[f"composer_stages_{incident_id}_engage"] = False  # the CMOC closes it
    at_time(fresh, T0 + timedelta(minutes=8))
    assert StepKey.JOIN_CHANNEL in ticked(incident_id)
    assert open_stages(fresh) == ["Stage 2 Manage", "Stage 3 Monitor"]

    fresh.button(key="composer_step_zendesk_tag").click().run()
    later = AppTest.from_file(app._script_path, default_timeout=120)
    at_time(later, T0 + timedelta(minutes=9))
    # Updating on the cadence goes on to the end: it alone keeps Stage 2 open no more.
    assert open_stages(later) == ["Stage 1 Engage", "Stage 3 Monitor"]


def test_the_all_clear_ticked_in_the_resolve_form_shows_in_the_checklist_at_once(app):
    start_incident(app)
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0 + timedelta(minutes=5))
    open_tab(app, "Resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check().run()
    assert metric(app, "Stage") == "4 Resolve"
    all_clear = f":material/check_box: {TEXT[StepKey.IM_ALL_CLEAR]}"
    assert all_clear in [m.value for m in app.markdown]
    assert "composer_step_im_all_clear" not in [b.key for b in app.button]
    assert "Stage 4 Resolve" in open_stages(app)


def test_done_buttons_clicked_in_a_row_tick_the_step_aimed_at_and_nothing_moves(app):
    start_drill(app)
    incident_id = running_drill().working_incident_id
    tick(app, StepKey.ACKNOWLEDGE_PAGE, 1)
    components = app.multiselect(key=f"composer_components_{incident_id}")
    components.select(components.options[0])
    at_drill_minute(app, 2)
    publish(app, "create")
    at_drill_minute(app, 3)
    assert open_stages(app) == ["Stage 1 Engage"]
    before = layout(app)

    # Four "Done" in a row down Stage 1; the third moves the incident on to Stage 2.
    for key in (
        StepKey.JOIN_CHANNEL,
        StepKey.NOTIFY_STAKEHOLDERS,
        StepKey.LABEL_ISSUE,
        StepKey.RESOLVE_PAGE,
    ):
        under_pointer = before.index(TEXT[key])
        assert layout(app)[: under_pointer + 1] == before[: under_pointer + 1]
        done = ticked(incident_id)
        app.button(key=f"practice_step_{key}").click().run()
        assert not app.exception
        assert ticked(incident_id) - done == {key}

    assert metric(app, "Stage") == "2 Manage"
    # Stage 1 stays where it was, done; Stage 2 opened below it.
    assert open_stages(app) == ["Stage 1 Engage", "Stage 2 Manage"]
    kept = before.index("Stage 2 Manage") + 1
    assert layout(app)[:kept] == before[:kept]

    fresh = AppTest.from_file(app._script_path, default_timeout=120)
    fresh.session_state["clock_now"] = app.session_state["clock_now"]
    fresh.run()
    fresh.switch_page("app_pages/practice.py").run()
    assert open_stages(fresh) == ["Stage 2 Manage"]  # nothing left in Stage 1: closed at first


# Messages that say what to do next ----------------------------------------------------------


def shown(app: AppTest, kind: str) -> str:
    return " ".join(texts(app, kind)).replace("\\", "").replace("\u2060", "")


def test_the_latest_update_says_plainly_when_its_author_is_not_recorded(app):
    incident_id = start(app, T0)
    with database() as session:
        incident = session.get(WorkingIncident, incident_id)
        incident.last_posted_at = T0 - timedelta(minutes=9)
        incident.last_text = "Investigating elevated error rates."
        session.add(incident)
        session.commit()
    at_time(app, T0)
    captions = [c.replace("\\", "").replace("\u2060", "") for c in texts(app, "caption")]
    assert (
        "Latest update 22-11-2026 09:51 UTC, author not recorded: "
        "Investigating elevated error rates."
    ) in captions
    assert "someone" not in shown(app, "caption")


def test_components_that_cannot_be_loaded_say_what_the_cmoc_can_do(app):
    st.cache_data.clear()  # the components of the demo page are kept for minutes
    at_time(app, T0)
    sandbox_of(app).add_fault(
        Fault(
            service="statusio",
            path_contains="component/list",
            kind="statusio_error",
            message="Database unavailable",
            times=None,
        )
    )
    start(app, T0)
    said = shown(app, "error")
    assert "Components could not be loaded" in said and "Database unavailable" in said
    assert "Reload the page to try again" in said
    assert "All infrastructure" in said  # how the incident can still be created
    st.cache_data.clear()


def _composer_confirmation_with_nothing_pending() -> None:
    from cmoc_core.ui import composer_view, deps

    composer_view._confirm(deps.app_context(), None)


def test_a_confirmation_left_with_nothing_to_publish_says_what_to_do(app):
    at_time(app, T0)
    dialog = AppTest.from_function(_composer_confirmation_with_nothing_pending, default_timeout=60)
    dialog.run()
    assert not dialog.exception
    said = shown(dialog, "info")
    assert "already published or cancelled" in said
    assert "close this window" in said and "header shows the latest update" in said
