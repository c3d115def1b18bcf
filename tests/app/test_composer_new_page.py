"""A CMOC page that arrives while the composer is open is offered at once, above the incidents."""

from __future__ import annotations

import os

from streamlit.testing.v1 import AppTest

from cmoc_core.refresher import Refresher
from cmoc_core.storage import make_engine
from cmoc_core.timeutil import utc_now
from cmoc_core.ui import deps


def warnings(app: AppTest) -> str:
    return " ".join(str(w.value) for w in app.warning).replace("\\", "")


def check_pages_once() -> None:
    """One pass of the refresher's new-page check, as the background thread makes it."""
    sources = deps.sources_for(os.environ["CMOC_DATABASE_URL"])
    refresher = Refresher(
        engine=make_engine(os.environ["CMOC_DATABASE_URL"]),
        settings=sources.settings,
        clients=sources.clients,
        holder="the refresher under test",
    )
    assert refresher.run_pass().check is not None


def test_a_new_page_is_offered_and_one_click_starts_an_incident_for_it(app: AppTest):
    app.run()
    assert not app.exception
    assert "New CMOC page" not in warnings(app)
    sandbox = deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox
    page = sandbox.add_page("Web latency above SLO on GitLab.com", at=utc_now())

    check_pages_once()
    app.run()  # the watcher notices the page and redraws the page with it offered
    assert not app.exception
    offered = warnings(app)
    assert f"New CMOC page #{page['incident_number']} Web latency above SLO" in offered
    assert any("Web latency above SLO" in toast.value for toast in app.toast)

    app.button(key=f"composer_offer_{page['id']}").click().run()
    assert app.text_input(key="composer_new_title").value == "Web latency above SLO on GitLab.com"
    assert app.selectbox(key="composer_new_page").value == page["id"]

    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception
    assert "New CMOC page" not in warnings(app)  # taken: no longer offered


def test_a_click_made_as_a_new_page_arrives_is_not_lost(app: AppTest):
    app.run()
    app.selectbox(key="composer_incident").set_value("➕ Start a new incident").run()
    app.text_input(key="composer_new_title").input("Elevated error rates on GitLab.com")
    sandbox = deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox
    page = sandbox.add_page("Web latency above SLO on GitLab.com", at=utc_now())
    check_pages_once()

    # The run of the press is also the one in which the watch notices the page.
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception
    assert next(m.value for m in app.metric if m.label == "Next update") == "create the incident"
    assert f"New CMOC page #{page['incident_number']}" in warnings(app)  # offered all the same
