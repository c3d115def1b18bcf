"""The composer's forms: templates, the handbook check before the preview, the confirmation."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from cmoc_core.handbook import StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.storage import make_engine
from cmoc_core.templates import EXAMPLE_NOTE
from cmoc_core.textlimits import check_length
from tests.app.conftest import open_tab, texts
from tests.app.test_composer_page import (
    ISSUE,
    T0,
    at_time,
    choose_component,
    publish,
    sandbox_of,
    start_incident,
    working_id,
)

CI_TITLE = "Delays in CI/CD job processing"


def plain(values: list[str]) -> str:
    """Shown text without the Markdown escapes and word joiners that keep it literal."""
    return " ".join(values).replace("\\", "").replace("\u2060", "")


def check_lines(app: AppTest, form: str, lead: str) -> str:
    """The handbook check's lines starting with `lead` under one form (its tab)."""
    tab = next(t for t in app.tabs if t.label == form.title())
    return plain([str(m.value) for m in tab.markdown if lead in str(m.value)])


def must_fix(app: AppTest, form: str) -> str:
    """What the handbook check says must be fixed under the form."""
    return check_lines(app, form, "Must fix:")


def to_consider(app: AppTest, form: str) -> str:
    """What the handbook check suggests to consider under the form."""
    return check_lines(app, form, "Consider:")


def stored(incident_id: int) -> WorkingIncident:
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        incident = session.get(WorkingIncident, incident_id)
        assert incident is not None
        return incident


def created(app: AppTest, title: str = CI_TITLE) -> int:
    """An incident on the status page, with one component chosen; its working id."""
    start_incident(app, title=title)
    incident_id = working_id()
    choose_component(app, incident_id)
    publish(app, "create")
    at_time(app, T0 + timedelta(minutes=1))
    return incident_id


def in_front(app: AppTest, form: str) -> None:
    """The form's tab in front: the others are not drawn."""
    tab = form.capitalize()
    if "composer_tab" not in app.session_state or app.session_state["composer_tab"] != tab:
        open_tab(app, tab)


def preview(app: AppTest, form: str) -> AppTest:
    in_front(app, form)
    app.button(key=f"composer_preview_{form}").click().run()
    assert not app.exception
    return app


def cancel(app: AppTest) -> None:
    app.button(key="composer_cancel").click().run()
    assert "composer_pending" not in app.session_state


def write(app: AppTest, form: str, incident_id: int, text: str) -> None:
    in_front(app, form)
    app.text_area(key=f"composer_{form}_details_{incident_id}").input(text).run()


def use_template(app: AppTest, incident_id: int, label: str) -> None:
    app.selectbox(key=f"composer_template_{incident_id}").set_value(label).run()
    app.button(key=f"composer_use_template_{incident_id}").click().run()
    assert not app.exception


# Templates ------------------------------------------------------------------------------------


def test_the_create_form_starts_from_this_incident_never_another_ones_words(app):
    start_incident(app, title=CI_TITLE)
    incident_id = working_id()
    details = app.text_area(key=f"composer_create_details_{incident_id}").value
    assert details.startswith(f"{CI_TITLE}: we're investigating") and details.endswith(ISSUE)
    assert "elevated error rates" not in details
    options = app.selectbox(key=f"composer_template_{incident_id}").options
    assert options[0].startswith("Investigating") and "Monitoring (with duration)" not in options
    assert [o for o in options if o.startswith("Handbook example")]

    choose_component(app, incident_id)
    use_template(app, incident_id, options[0])
    details = app.text_area(key=f"composer_create_details_{incident_id}").value
    assert "Affected: Website" in details  # the components just chosen are filled in
    identified = next(o for o in options if o.startswith("Identified"))
    use_template(app, incident_id, identified)
    assert app.radio(key=f"composer_create_state_{incident_id}").value == 200


def test_the_monitoring_template_sets_monitoring_fits_and_carries_the_link(app):
    incident_id = created(app)
    status = app.selectbox(key=f"composer_update_status_{incident_id}")
    status.set_value(400).run()
    use_template(app, incident_id, "Monitoring (with duration)")
    details = app.text_area(key=f"composer_update_details_{incident_id}").value
    report = check_length(details)
    assert details.startswith(CI_TITLE) and details.endswith(ISSUE)
    assert report.body_weighted <= 220 and "in the next 30 minutes" in details
    assert app.radio(key=f"composer_update_state_{incident_id}").value == 300
    # The handbook: the status stays as it was set until the incident is resolved.
    assert app.selectbox(key=f"composer_update_status_{incident_id}").value == 400
    assert "Handbook check: nothing to fix or consider." in plain(texts(app, "caption"))

    publish(app, "update")
    writes = sandbox_of(app).writes("statusio")
    assert writes[-1].path == "/incident/update"
    assert (
        writes[-1].body["current_state"] == 300 and writes[-1].body["incident_details"] == details
    )


def test_a_handbook_example_is_labelled_and_never_the_default(app):
    incident_id = created(app)
    assert app.text_area(key=f"composer_update_details_{incident_id}").value == ""
    template = app.selectbox(key=f"composer_template_{incident_id}")
    gitaly = next(o for o in template.options if "Gitaly" in o)
    assert gitaly == (
        "Handbook example (no material updates): We tried starting the Gitaly servers but we're…"
    )
    assert EXAMPLE_NOTE not in texts(app, "caption")
    use_template(app, incident_id, gitaly)
    assert EXAMPLE_NOTE in texts(app, "caption")
    assert "Gitaly" in app.text_area(key=f"composer_update_details_{incident_id}").value


def test_the_resolve_form_starts_from_the_resolving_template(app):
    incident_id = created(app)
    in_front(app, "resolve")
    details = app.text_area(key=f"composer_resolve_details_{incident_id}").value
    assert details.startswith(f"{CI_TITLE}: this incident has been resolved")
    assert details.endswith(ISSUE) and check_length(details).body_weighted <= 220


# The handbook check before the preview ----------------------------------------------------------

BLOCKED_WHEN_CREATING = [
    ("", "The details are empty"),
    ("We are investigating delays in CI jobs.", "no link to the incident issue"),
    (f"{'Jobs are delayed. ' * 16}{ISSUE}", "of 280 characters on X"),
    (f"{'Jobs wait long. ' * 14}{ISSUE}", "before the final link is"),
    (f"Runners on ci-03.gprd.gitlab.net are slow. {ISSUE}", "internal host name"),
    (f"The database at 10.220.4.17 is overloaded. {ISSUE}", "internal network address"),
    (f"Ask alice.smith@example.com for details. {ISSUE}", "e-mail address"),
    (f"Join https://gitlab.zoom.us/j/123456789 to follow. {ISSUE}", "link to the incident call"),
]


def test_each_blocking_rule_stops_the_preview_until_it_is_fixed(app):
    start_incident(app, title=CI_TITLE)
    incident_id = working_id()
    fixed = f"{CI_TITLE}: we're investigating. {ISSUE}"

    preview(app, "create")  # no component chosen yet
    assert "No affected components are chosen" in plain(texts(app, "error"))
    assert "composer_pending" not in app.session_state
    choose_component(app, incident_id)
    app.run()

    for text, said in BLOCKED_WHEN_CREATING:
        write(app, "create", incident_id, text)
        assert said in must_fix(app, "create"), said
        preview(app, "create")
        assert said in plain(texts(app, "error")), said
        assert "composer_pending" not in app.session_state, said
        write(app, "create", incident_id, fixed)
        assert not must_fix(app, "create"), said
        preview(app, "create")
        assert not [e for e in texts(app, "error") if "overdue" not in e], said
        assert "composer_pending" in app.session_state, said
        cancel(app)
    assert sandbox_of(app).writes("statusio") == []


def test_resolving_is_blocked_until_the_all_clear(app):
    incident_id = created(app)
    preview(app, "resolve")
    assert "all-clear is not recorded" in plain(texts(app, "error"))
    assert "composer_pending" not in app.session_state
    in_front(app, "resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check().run()
    preview(app, "resolve")
    assert "composer_pending" in app.session_state


SUGGESTED_IN_UPDATES = [
    (200, "We are still working on the runners.", "no link to the incident issue"),
    (
        200,
        f"A fix is out and we're monitoring job queues closely. {ISSUE}",
        "says we are monitoring",
    ),
    (300, f"A fix is out. Next update in 30 minutes. {ISSUE}", "the text does not say so"),
    (300, f"A fix is deployed and we are monitoring. {ISSUE}", "gives no monitoring period"),
    (200, f"The issue has been resolved. {ISSUE}", "says the issue is resolved"),
    (200, f"Jobs from 203.0.114.9 are rate limited. {ISSUE}", "an IP address"),
    (200, f"Follow along in #incident-18123. {ISSUE}", "a Slack channel"),
]


def test_each_suggestion_shows_before_and_in_the_preview_and_goes_once_fixed(app):
    incident_id = created(app)
    fixed = f"We have found the cause of the delays and are rolling out a fix. {ISSUE}"
    for state, text, said in SUGGESTED_IN_UPDATES:
        app.radio(key=f"composer_update_state_{incident_id}").set_value(state)
        write(app, "update", incident_id, text)
        assert said in to_consider(app, "update") and not must_fix(app, "update"), said
        preview(app, "update")  # a suggestion does not stop the preview
        assert "composer_pending" in app.session_state, said
        assert said in plain(texts(app, "warning")), said
        assert "Handbook, " in plain(texts(app, "caption")) or (
            "Public-communication hazard, " in plain(texts(app, "caption"))
        ), said  # each warning names its source
        cancel(app)
        app.radio(key=f"composer_update_state_{incident_id}").set_value(200)
        write(app, "update", incident_id, fixed)
        assert not to_consider(app, "update"), said
    assert "Handbook check: nothing to fix or consider." in plain(texts(app, "caption"))


def test_a_resolving_text_that_does_not_say_resolved_is_questioned(app):
    incident_id = created(app)
    in_front(app, "resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check().run()
    write(app, "resolve", incident_id, f"Thanks for your patience. {ISSUE}")
    assert "does not say the issue is resolved" in to_consider(app, "resolve")
    preview(app, "resolve")
    assert "does not say the issue is resolved" in plain(texts(app, "warning"))


def test_a_title_over_90_characters_is_questioned_when_creating(app):
    start_incident(app, title=("Delays in job processing " * 5).strip())
    assert "The title is 124 characters" in to_consider(app, "create")


# The confirmation -------------------------------------------------------------------------------


def test_each_confirmation_names_its_action_and_lists_the_components(app):
    start_incident(app, title=CI_TITLE)
    incident_id = working_id()
    choose_component(app, incident_id)
    preview(app, "create")
    captions = plain(texts(app, "caption"))
    assert "Create · Investigating · Degraded Performance" in captions
    assert "Affected components: Website (Google Compute Engine)" in captions
    assert "composer_publish" in [b.key for b in app.button]
    assert app.button(key="composer_publish").label == "Create incident"
    app.button(key="composer_publish").click().run()
    at_time(app, T0 + timedelta(minutes=1))

    write(app, "update", incident_id, f"We have found the cause and are fixing it. {ISSUE}")
    app.radio(key=f"composer_update_state_{incident_id}").set_value(200)
    preview(app, "update")
    assert app.button(key="composer_publish").label == "Publish update"
    captions = plain(texts(app, "caption"))
    assert "Update · Identified · Degraded Performance" in captions
    # The status page keeps showing the components chosen when creating.
    assert captions.count("Affected components: Website (Google Compute Engine)") >= 2
    cancel(app)

    in_front(app, "resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check().run()
    preview(app, "resolve")
    captions = plain(texts(app, "caption"))
    assert "Resolve · Resolved · Operational" in captions
    assert "Monitoring · Operational" not in captions
    assert "Affected components: Website (Google Compute Engine)" in captions
    assert app.button(key="composer_publish").label == "Resolve incident"
    assert any(m.startswith("**Resolve: ") for m in texts(app, "markdown"))
    app.button(key="composer_publish").click().run()
    resolve = sandbox_of(app).writes("statusio")[-1]
    assert resolve.path == "/incident/resolve" and resolve.body["current_status"] == 100


def test_the_x_preview_counts_links_as_23_and_shows_where_the_cut_falls(app):
    incident_id = created(app)
    text = f"{'Jobs wait. ' * 16}Runners are being added. Details: {ISSUE}"
    write(app, "update", incident_id, text)
    preview(app, "update")
    report = check_length(text)
    assert report.body_weighted <= 220 < 230 < report.weighted
    captions = plain(texts(app, "caption"))
    assert f"{report.weighted}/280 weighted characters, each link counted as 23" in captions
    assert "X may cut the post at about 230" in captions
    assert f"{report.sms_segments} SMS segment(s), GSM-7" in captions
    assert "Subject: Delays in CI/CD job processing status update" in captions


# What survives, and what is one thing ------------------------------------------------------------


def test_the_component_choice_survives_a_reload(app):
    start_incident(app, title=CI_TITLE)
    incident_id = working_id()
    choose_component(app, incident_id)
    app.run()
    chosen = app.multiselect(key=f"composer_components_{incident_id}").value
    assert chosen

    fresh = AppTest.from_file(app._script_path, default_timeout=120)
    fresh.session_state["clock_now"] = T0
    fresh.run()
    assert fresh.multiselect(key=f"composer_components_{incident_id}").value == chosen
    fresh.checkbox(key=f"composer_all_infra_{incident_id}").check().run()

    again = AppTest.from_file(app._script_path, default_timeout=120)
    again.session_state["clock_now"] = T0
    again.run()
    assert again.checkbox(key=f"composer_all_infra_{incident_id}").value is True
    assert again.multiselect(key=f"composer_components_{incident_id}").value == chosen


def test_the_all_clear_tick_is_the_checklist_step_on_the_same_run(app):
    incident_id = created(app)
    step = ":material/check_box: The Incident Manager has given the all-clear"
    assert step not in texts(app, "markdown")
    in_front(app, "resolve")
    app.checkbox(key=f"composer_all_clear_{incident_id}").check().run()
    assert step in texts(app, "markdown")  # the checklist, drawn before the form
    assert StepKey.IM_ALL_CLEAR in stored(incident_id).steps
    # Given once, it is a fact: the form says so and offers no box to untick.
    assert f"composer_all_clear_{incident_id}" not in [c.key for c in app.checkbox]
    assert "The Incident Manager gave the all-clear at 22-11-2026 10:01 UTC." in texts(
        app, "caption"
    )
