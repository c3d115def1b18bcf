"""The handover page on the demo organisation, at fixed clock times (no sleeping)."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from cmoc_core import handover
from cmoc_core.handbook import IncidentState
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps
from tests.kpi_worlds import World

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def demo(app):
    """The demo organisation loaded; its sources and a shift of its CMOC not yet handed over."""
    app.run()
    sources = deps.sources_for(os.environ["CMOC_DATABASE_URL"])
    end = sources.sandbox.org.end
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        shifts = handover.recent_shifts(
            session=session, settings=sources.settings, now=end, within=timedelta(days=365)
        )
    shift = next(s for s in shifts if not s.handed_over and s.gitlab_username and s.end <= end)
    return sources, shift


def open_handover(app, sources, moment):
    app.session_state["clock_now"] = moment
    sources.sandbox.gitlab.clock = lambda: moment
    app.switch_page("app_pages/handover.py").run()
    assert not app.exception
    return app


def reminders(app) -> list[str]:
    return [w.value.replace("\\", "") for w in app.warning if "handover issue" in w.value]


def test_the_reminder_starts_an_hour_before_the_end_and_a_created_handover_ends_it(app):
    sources, shift = demo(app)
    engine = make_engine(os.environ["CMOC_DATABASE_URL"])
    world = World(engine)
    incident = world.incident(
        shift.end - timedelta(hours=3),
        [
            (0, IncidentState.INVESTIGATING, "Investigating failing CI jobs."),
            (50, IncidentState.IDENTIFIED, "A faulty runner image is being rolled back."),
        ],
        resolved=False,
        statuspage_id=sources.settings.statusio_statuspage_id,
    )
    ends = f"{shift.person}'s shift ends at {shift.end:%d-%m-%Y %H:%M} UTC"

    open_handover(app, sources, shift.end - timedelta(minutes=61))
    assert app.selectbox(key="handover_shift").value == shift.key
    assert not any(ends in r for r in reminders(app))

    open_handover(app, sources, shift.end - timedelta(minutes=30))
    assert any(ends in r for r in reminders(app))
    body = app.text_area(key="handover_body").value
    identified_at = incident.opened + timedelta(minutes=50)
    assert (
        f"- **Still open**: Incident {incident.id[2:]} (severity unknown, Identified), "
        f"last update {identified_at:%d-%m-%Y %H:%M} UTC; next update due "
        f"{identified_at + timedelta(minutes=30):%d-%m-%Y %H:%M} UTC." in body
    )

    app.button(key="handover_preview_button").click().run()
    app.button(key="handover_create").click().run()
    assert not app.exception
    assert any("Handover issue created" in s.value for s in app.success)
    assert not any(ends in r for r in reminders(app))
    posts = sources.sandbox.writes("gitlab")
    assert [(p.body["sudo"], p.body["confidential"]) for p in posts] == [
        (shift.gitlab_username, True)
    ]
    created = sources.sandbox.gitlab.issues[sources.settings.gitlab_handover_project][-1]
    assert created["author"]["username"] == shift.gitlab_username
    assert app.link_button(key="handover_link").proto.url == created["web_url"]
    label = next(
        o
        for o in app.selectbox(key="handover_shift").options
        if shift.key in o or o.startswith(shift.describe())
    )
    assert label.endswith("· handed over")


def test_the_draft_survives_a_new_session_and_nothing_happened_replaces_it(app):
    sources, shift = demo(app)
    moment = shift.end - timedelta(minutes=20)
    open_handover(app, sources, moment)
    app.text_area(key="handover_body").input("Watch the Redis failover tonight.").run()

    again = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=120)
    again.run()
    open_handover(again, sources, moment)
    assert again.text_area(key="handover_body").value == "Watch the Redis failover tonight."

    again.button(key="handover_nothing").click().run()
    body = again.text_area(key="handover_body").value or ""
    assert handover.NOTHING_HAPPENED in body
    assert handover.NOTHING_HAPPENED in again.code[0].value


def test_a_handover_that_does_not_count_says_how_the_shift_can_still_count(app):
    sources, shift = demo(app)
    sources.sandbox.gitlab.admin = False  # the token may not create issues as the CMOC
    moment = shift.end - timedelta(minutes=30)
    open_handover(app, sources, moment)
    app.button(key="handover_preview_button").click().run()
    app.button(key="handover_create").click().run()
    app.button(key="handover_as_token_user").click().run()
    assert not app.exception
    said = " ".join(w.value for w in app.warning).replace("\\", "")
    assert "so it does not count for the shift" in said
    deadline = shift.end + timedelta(hours=2)
    assert (
        f"The next CMOC can still read it. For the shift to count, {shift.person} can create "
        f"their own handover issue in GitLab by {deadline:%d-%m-%Y %H:%M} UTC."
    ) in said


def test_a_handover_saying_nothing_happened_against_the_data_says_what_to_do(app):
    sources, shift = demo(app)
    World(make_engine(os.environ["CMOC_DATABASE_URL"])).incident(
        shift.end - timedelta(hours=3),
        [(0, IncidentState.INVESTIGATING, "Investigating failing CI jobs.")],
        resolved=False,
        statuspage_id=sources.settings.statusio_statuspage_id,
    )
    open_handover(app, sources, shift.end - timedelta(minutes=20))
    app.button(key="handover_nothing").click().run()
    said = " ".join(w.value for w in app.warning).replace("\\", "")
    assert "that this text leaves out" in said
    assert "Rebuild from the latest data, or add them to the text" in said
