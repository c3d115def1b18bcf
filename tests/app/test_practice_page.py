"""The practice page in demo mode: a drill on an injected clock, planning, the library."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from cmoc_core.models import Person, PracticeDrill, PracticeEvent
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.widgets import escape_markdown
from tests.app.conftest import table_with, texts

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at_time(app: AppTest, minutes: float) -> AppTest:
    app.session_state["clock_now"] = T0 + timedelta(minutes=minutes)
    return app.run()


def open_practice(app: AppTest) -> AppTest:
    at_time(app, 0)
    app.switch_page("app_pages/practice.py").run()
    assert not app.exception
    return app


def database() -> Session:
    return Session(make_engine(os.environ["CMOC_DATABASE_URL"]))


def person_ids() -> list[int]:
    with database() as session:
        people = session.exec(select(Person).order_by(Person.name))
        return [p.id for p in people if p.id is not None]


def running_drill() -> PracticeDrill:
    with database() as session:
        return session.exec(select(PracticeDrill)).one()


def sandbox_of(app: AppTest):
    return deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox


def prompts(app: AppTest) -> str:
    return " ".join(texts(app, "info")).replace("\\", "")


def errors(app: AppTest) -> str:
    return " ".join(texts(app, "error")).replace("\\", "")


def metric(app: AppTest, label: str) -> str:
    return next(str(m.value) for m in app.metric if m.label == label)


def publish(app: AppTest, form: str, minutes: float) -> None:
    app.session_state["clock_now"] = T0 + timedelta(minutes=minutes)
    app.button(key=f"composer_preview_{form}").click().run()
    blocking = [e.value for e in app.error if "overdue" not in e.value]
    assert not blocking, blocking
    app.button(key="composer_publish").click().run()
    assert not app.exception
    assert "on the practice status page" in " ".join(texts(app, "success")).replace("\\", "")


def tick(app: AppTest, step: str, minutes: float) -> None:
    at_time(app, minutes)
    app.button(key=f"practice_step_{step}").click().run()
    assert not app.exception


def start_drill(app: AppTest, scenario: str = "database-failover") -> int:
    open_practice(app)
    app.selectbox(key="practice_start_scenario").set_value(scenario)
    cmoc = person_ids()[0]
    app.selectbox(key="practice_start_cmoc").set_value(cmoc).run()
    app.button(key="practice_start").click().run()
    assert not app.exception
    return cmoc


def test_a_drill_plays_on_the_clock_publishes_to_the_practice_page_and_is_scored(app):
    start_drill(app)
    incident_id = running_drill().working_incident_id
    assert "PagerDuty page: elevated 5xx error rates" in prompts(app)
    assert "We believe it's the database" not in prompts(app)
    assert metric(app, "Severity") == "S2"

    tick(app, "acknowledge_page", 2)
    at_time(app, 3)
    assert "We believe it's the database" in prompts(app)
    tick(app, "join_channel", 3.5)
    components = app.multiselect(key=f"composer_components_{incident_id}")
    components.select(components.options[0])
    publish(app, "create", 4)

    at_time(app, 11)
    assert "Severity raised to S1" not in prompts(app)
    at_time(app, 12)
    assert "Severity raised to S1" in prompts(app)
    assert metric(app, "Severity") == "S1"
    details = app.text_area(key=f"composer_update_details_{incident_id}")
    details.input(("We are still investigating elevated error rates on the website. " * 3).strip())
    publish(app, "update", 13)

    at_time(app, 19)
    assert "we've identified the cause" in prompts(app)
    app.radio(key=f"composer_update_state_{incident_id}").set_value(200)
    app.text_area(key=f"composer_update_details_{incident_id}").input(
        "We have identified a saturated database primary and are failing over."
    )
    publish(app, "update", 19)

    at_time(app, 35)
    app.radio(key=f"composer_update_state_{incident_id}").set_value(300)
    app.text_area(key=f"composer_update_details_{incident_id}").input(
        "The fix is deployed and error rates are back to normal. We are monitoring."
    )
    publish(app, "update", 35)

    tick(app, "im_all_clear", 40)
    assert "all clear" in prompts(app)
    # The checklist's tick is the resolve form's all-clear: the form asks for it no more.
    assert f"composer_all_clear_{incident_id}" not in [c.key for c in app.checkbox]
    assert any("gave the all-clear" in c.value for c in app.caption)
    publish(app, "resolve", 41)

    at_time(app, 42)
    app.text_input(key="practice_note").input("Took a while to find the components")
    app.button(key="practice_add_note").click().run()
    assert "Took a while" in table_with(app, "note")["note"].iloc[0]

    at_time(app, 45)
    app.button(key="practice_end").click().run()
    assert not app.exception
    assert metric(app, "Time to acknowledge") == "2 min 00 s"
    assert metric(app, "Cadence kept") == "3 of 4 gaps"  # 16 min in Identified at S1: late
    assert metric(app, "Length violations") == "0"  # the composer publishes none
    assert metric(app, "Checklist steps") == "6 of 13"
    assert metric(app, "States followed") == "4 of 4"

    sandbox = sandbox_of(app)
    writes = sandbox.writes("statusio")
    assert [w.path for w in writes] == [
        "/incident/create",
        "/incident/update",
        "/incident/update",
        "/incident/update",
        "/incident/resolve",
    ]
    assert {w.body["statuspage_id"] for w in writes} == {sandbox.org.practice_statuspage_id}
    assert sandbox.writes("gitlab") == [] and sandbox.slack.posts == []
    with database() as session:
        ended = session.get(PracticeDrill, running_drill().id)
        assert ended is not None
        assert ended.finished_at == T0 + timedelta(minutes=45)

    app.selectbox(key="practice_retro_person").set_value(ended.cmoc_id).run()
    past = table_with(app, "CMOC", "scenario", "cadence kept")
    assert list(past["cadence kept"]) == ["3/4"]
    assert list(past["acknowledged in"]) == ["2 min 00 s"]
    assert list(past["within 15 min"]) == [True]
    assert list(past["ended"]) == ["22-11-2026 10:45 UTC"]


def test_the_drill_checklist_says_which_steps_tick_themselves_and_times_the_others(app):
    start_drill(app)
    buttons = [b.key for b in app.button]
    assert "practice_step_join_channel" in buttons
    assert "practice_step_create_incident" not in buttons  # the drill ticks it on publishing
    assert "ticked when you create the incident" in texts(app, "caption")

    tick(app, "join_channel", 3.5)
    assert "done 22-11-2026 10:03 UTC (+3 min 30 s)" in texts(app, "caption")
    assert "practice_step_join_channel" not in [b.key for b in app.button]


def test_the_note_takers_log_survives_a_reload(app):
    start_drill(app)
    at_time(app, 1)
    app.text_input(key="practice_note").input("CMOC asked which page to use")
    app.button(key="practice_add_note").click().run()
    at_time(app, 2)
    app.text_input(key="practice_note").input("Acknowledged quickly")
    app.button(key="practice_add_note").click().run()

    fresh = AppTest.from_file(app._script_path, default_timeout=120)
    fresh.session_state["clock_now"] = T0 + timedelta(minutes=3)
    fresh.run()
    fresh.switch_page("app_pages/practice.py").run()
    assert "PagerDuty page" in prompts(fresh)
    notes = table_with(fresh, "at", "into the drill", "note")
    assert list(notes["note"]) == ["CMOC asked which page to use", "Acknowledged quickly"]
    assert list(notes["at"]) == ["22-11-2026 10:01 UTC", "22-11-2026 10:02 UTC"]
    assert list(notes["into the drill"]) == ["1 min 00 s", "2 min 00 s"]


def test_planning_hides_the_date_from_the_cmoc_and_creates_the_issue_once(app):
    open_practice(app)
    assert "2026-Q4: no practice event yet for AMER, EMEA, APAC." in texts(app, "warning")
    # Without sign-in the configured user is everyone, a manager too: the facilitator's view.
    app.selectbox(key="practice_plan_region").set_value("EMEA").run()
    app.date_input(key="practice_plan_date").set_value(date(2026, 12, 3))
    app.time_input(key="practice_plan_time").set_value(time(14, 30))
    app.selectbox(key="practice_plan_scenario").set_value("registry-outage")
    cmoc = app.selectbox(key="practice_plan_cmoc")
    with database() as session:
        everyone = list(session.exec(select(Person)))
    names = {p.id: p.name for p in everyone}
    assert 0 < len(cmoc.options) < len(everyone)  # the EMEA rotation only
    cmoc_id = next(i for i, name in names.items() if name == cmoc.options[0])
    others = [i for i in names if i != cmoc_id]
    app.selectbox(key="practice_plan_facilitator").set_value(others[0])
    app.selectbox(key="practice_plan_note_taker").set_value(others[1])
    cmoc.set_value(cmoc_id)
    app.button(key="practice_plan").click().run()
    assert not app.exception
    assert any("Created the practice event issue" in s.value for s in app.success)
    assert "2026-Q4: no practice event yet for AMER, APAC." in texts(app, "warning")
    app.button(key="practice_plan").click().run()  # a second click plans nothing more
    assert "EMEA already has a practice event in 2026-Q4." in errors(app)

    planned = table_with(app, "region", "CMOC", "date")
    assert list(planned["date"]) == ["03-12-2026 14:30 UTC"]
    assert list(planned["scenario"]) == ["Container registry unavailable"]
    assert list(planned["CMOC"]) == [names[cmoc_id]]

    writes = sandbox_of(app).writes("gitlab")
    assert len(writes) == 1
    assert writes[0].body["labels"] == "CMOC Practice Event"
    assert "14:30" not in writes[0].body["description"]
    with database() as session:
        event = session.exec(select(PracticeEvent)).one()
        assert event.issue_url and event.issue_url == planned["issue"].iloc[0]
        assert event.scheduled_at == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)

    app.selectbox(key="practice_start_event").set_value(
        next(o for o in app.selectbox(key="practice_start_event").options if "EMEA" in o)
    ).run()
    app.button(key="practice_start").click().run()
    assert "container registry returns 503" in prompts(app)
    assert running_drill().event_id == event.id


def test_the_library_lists_the_scenarios_and_shows_scripts_to_the_facilitator_only(app):
    open_practice(app)
    assert not app.error
    titles = [e.label.replace("\\", "") for e in app.expander]  # titles are escaped
    assert any("Elevated 5xx errors on GitLab.com" in t for t in titles)
    # Without sign-in the configured user is everyone, a manager too: the scripts are shown.
    assert "The script is for the facilitator." not in texts(app, "caption")
    script = table_with(app, "minute", "prompt", "expected state")
    assert list(script["minute"]) == [0, 6, 16, 35, 66]  # apac-connectivity.toml, first by name


HOSTILE = "**b** <img src=http://127.0.0.1:9/x.png> [x](javascript:alert(1)) :red[x] $x$"


def _drill_of_a_hostile_scenario(title: str) -> None:
    from cmoc_core import practice
    from cmoc_core.practice import DrillStart
    from cmoc_core.scenarios import Library, Prompt, Scenario
    from cmoc_core.ui import deps, practice_view

    context = deps.app_context()
    prompts = (Prompt(0, title, page=True),)
    scenario = Scenario(name="hostile", title=title, severity=2, prompts=prompts, summary=title)
    library = Library({"hostile": scenario}, [])
    now = deps.now()
    with deps.session(context) as db:
        if not practice.running_drills(session=db):
            cmoc = next(p.id for p in practice.people(session=db))
            start = DrillStart("hostile", cmoc)
            practice.begin_drill(
                session=db,
                settings=context.settings,
                library=library,
                start=start,
                viewer=deps.viewer(context),
                now=now,
            )
    practice_view.drill(context, library, now)
    practice_view.library_view(library, facilitator=True)


def test_scenario_titles_are_shown_as_text_in_the_drill_and_the_library(app):
    open_practice(app)  # loads the demo organisation
    drill = AppTest.from_function(_drill_of_a_hostile_scenario, args=(HOSTILE,), default_timeout=60)
    drill.session_state["clock_now"] = T0
    drill.run()
    assert not drill.exception
    shown = escape_markdown(HOSTILE)
    assert drill.subheader[0].value == shown
    assert any(e.label == f"{shown} · S2 · hostile\\.toml" for e in drill.expander)
    assert shown in texts(drill, "caption")  # the summary
    assert any(shown in i for i in texts(drill, "info"))  # the prompt


def test_a_drill_from_a_past_incident_at_10x_is_scored_on_what_played_beside_the_real_one(app):
    from cmoc_core import practice
    from cmoc_core.models import WorkingIncident
    from cmoc_core.scenarios import STATES
    from cmoc_core.ui.practice_view import FROM_PAST

    open_practice(app)
    app.radio(key="practice_start_source").set_value(FROM_PAST).run()
    choice = app.selectbox(key="practice_start_incident")
    settings = deps.app_context().settings
    with database() as session:
        offered = practice.past_incidents(session=session, settings=settings)
        assert offered and all(i.resolved for i in offered)
        assert [i.datetime_open for i in offered] == sorted(
            (i.datetime_open for i in offered), reverse=True
        )
        assert all(i.statuspage_id != settings.statusio_practice_statuspage_id for i in offered)
        replays = {
            i.id: practice.replay(session=session, settings=settings, incident_id=i.id, speed=10)
            for i in offered
        }
    assert choice.options[0] == f"{offered[0].name} · {widgets.moment(offered[0].datetime_open)}"
    source = next(i for i in offered if len(replays[i.id].prompts) >= 3)
    scenario = replays[source.id]
    choice.set_value(source.id)
    app.radio(key="practice_start_speed").set_value(10)
    app.selectbox(key="practice_start_cmoc").set_value(person_ids()[0]).run()
    app.button(key="practice_start").click().run()
    assert not app.exception
    drill = running_drill()
    assert drill.source_incident_id == source.id
    assert "PagerDuty page" in prompts(app)

    incident_id = drill.working_incident_id
    components = app.multiselect(key=f"composer_components_{incident_id}")
    components.select(components.options[0])
    first_state = STATES.index(scenario.prompts[0].state)
    app.radio(key=f"composer_create_state_{incident_id}").set_value(100 * (first_state + 1))
    publish(app, "create", 1)
    # End between the second and the third prompt: the later ones never played.
    ended = scenario.prompts[1].minute + 0.5
    at_time(app, ended)
    app.button(key="practice_end").click().run()
    assert not app.exception

    played = [p for p in scenario.prompts if p.minute <= ended]
    assert len(played) == 2 < len(scenario.prompts)
    assert metric(app, "States followed") == f"1 of {len(played)}"
    beside = table_with(app, "real incident", "real, on the drill clock", "yours")
    assert len(beside) == len(played)
    real = scenario.reference[1]
    assert beside["real incident"].iloc[1] == "+" + widgets.duration(
        timedelta(minutes=real.real_minutes)
    )
    assert beside["real, on the drill clock"].iloc[1] == f"+{real.minute} min 00 s"
    assert list(beside["yours"]) == ["+1 min 00 s", "not sent"]
    assert beside["real length"].iloc[0] == str(scenario.reference[0].length)
    assert "leaves the active incidents" not in " ".join(texts(app, "success"))
    writes = sandbox_of(app).writes("statusio")
    assert [w.path for w in writes] == ["/incident/create", "/incident/resolve"]
    with database() as session:
        assert session.get(WorkingIncident, incident_id).resolved_at == T0 + timedelta(
            minutes=ended
        )
    app.switch_page("app_pages/composer.py").run()
    offered_now = app.selectbox(key="composer_incident").options
    ours = [o for o in offered_now if scenario.title in o]
    assert ours and all(" · Resolved" in o for o in ours), offered_now


def test_the_page_writes_every_moment_in_the_apps_one_format(app):
    start_drill(app)
    started = "started 22-11-2026 10:00 UTC"
    captions = [c.replace("\\", "") for c in texts(app, "caption")]
    assert any(started in c for c in captions), captions
    drill = app.selectbox(key="practice_drill")
    assert any(o.endswith(f"· {started}") for o in drill.options), drill.options
    shown = " ".join([*captions, *drill.options])
    assert "10:00:00" not in shown and "22-11 10:00" not in shown


def test_an_empty_retrospective_says_how_to_get_a_score_card(app):
    open_practice(app)
    said = " ".join(texts(app, "info")).replace("\\", "")
    assert "No drill has ended yet: start one in the Drill tab" in said
    someone = person_ids()[0]
    app.selectbox(key="practice_retro_person").set_value(someone).run()
    said = " ".join(texts(app, "info")).replace("\\", "")
    assert "choose Everyone" in said and "Drill tab" in said
