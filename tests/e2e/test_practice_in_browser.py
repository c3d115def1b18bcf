"""A short drill in Chromium against the sandbox over HTTP: practice page only, then scored."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from cmoc_core.models import (
    Person,
    PracticeDrill,
    StatusPageIncident,
    StatusPageMessage,
    WorkingIncident,
)
from cmoc_core.storage import make_engine, migrate, session_scope
from tests.e2e.conftest import started_app
from tests.e2e.test_composer_in_browser import (
    choose_first_option,
    click,
    preview_and_publish,
    wait_for,
    write_details,
)

pytestmark = pytest.mark.browser
CMOC = "Grace Hopper"
PAST_OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PAST = "Slow merge requests on GitLab.com"


@pytest.fixture(scope="module")
def practice_app(sandbox, tmp_path_factory):
    """The app talking to the sandbox, with one person known to it."""
    folder = tmp_path_factory.mktemp("practice")
    engine = make_engine(f"sqlite:///{folder / 'cmoc.db'}")
    migrate(engine)
    with session_scope(engine) as session:
        session.add(Person(key="grace", name=CMOC))
        session.add(
            StatusPageIncident(
                id="past1",
                statuspage_id=sandbox.org.statuspage_id,
                name=PAST,
                datetime_open=PAST_OPENED,
                resolved=True,
            )
        )
        for n, (after, state, status, text) in enumerate(
            [
                (0, 100, 300, "We are investigating slow merge requests on GitLab.com."),
                (40, 200, 300, "We have identified a misbehaving Gitaly node."),
                (90, 300, 100, "Merge requests are back to normal."),
            ]
        ):
            session.add(
                StatusPageMessage(
                    id=f"past1-m{n}",
                    incident_id="past1",
                    details=text,
                    state=state,
                    status=status,
                    posted_at=PAST_OPENED + timedelta(minutes=after),
                )
            )
    with started_app(folder, sandbox.settings(base_url=sandbox.base_url)) as app:
        app.engine = engine
        yield app
    engine.dispose()


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a select box, again if a rerun closed the list meanwhile.

    No Escape after choosing: it would clear a clearable select box.
    """
    for _ in range(5):
        field = page.get_by_label(label, exact=True).filter(visible=True)
        expect(field).to_have_count(1, timeout=15_000)
        field.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=3_000)
            break
        except PlaywrightError:
            page.keyboard.press("Escape")
    expect(page.get_by_label(label, exact=True).filter(visible=True)).to_have_value(
        option, timeout=15_000
    )


def pick(page: Page, option: str) -> None:
    """Choose a radio button's option and wait until the page shows it chosen."""
    click(page.get_by_text(option, exact=True))
    expect(page.get_by_role("radio", name=option)).to_be_checked(timeout=15_000)


def stored_drill(engine) -> PracticeDrill:
    with Session(engine) as session:
        return session.exec(select(PracticeDrill).order_by(PracticeDrill.id.desc())).first()


def test_a_short_drill_from_start_to_score_card(page: Page, practice_app, sandbox):
    page.goto(f"{practice_app.url}/practice")
    choose(page, "Scenario", "Elevated 5xx errors on GitLab.com")
    choose(page, "CMOC", CMOC)
    click(page.get_by_role("button", name="Start the drill"))
    expect(page.get_by_text(re.compile("PagerDuty page: elevated 5xx error rates"))).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_text("PRACTICE: this incident publishes")).to_be_visible()
    issue = re.escape(f"{sandbox.base_url}/gitlab-com/gl-infra/production/-/issues/18110")
    suggested = page.get_by_label("Details").filter(visible=True)
    expect(suggested).to_have_value(re.compile(f"Follow along in: {issue}$"))

    click(page.get_by_role("button", name="Acknowledge page"))
    expect(page.get_by_text(re.compile(r"^done \d\d-\d\d-\d{4} \d\d:\d\d UTC"))).to_be_visible(
        timeout=15_000
    )
    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    preview_and_publish(page, "Preview and create")
    wait_for(lambda: len(sandbox.writes("statusio")) == 1)
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)

    write_details(page, "We're still investigating elevated error rates on GitLab.com.")
    preview_and_publish(page, "Preview and publish")
    wait_for(lambda: len(sandbox.writes("statusio")) == 2)

    note = page.get_by_label("Note").filter(visible=True)
    note.fill("The CMOC found the practice page at once")
    click(page.get_by_role("button", name="Add note"))
    wait_for(lambda: stored_drill(practice_app.engine).notes != [])

    click(page.get_by_role("button", name="End the drill and score it"))
    expect(page.get_by_text("Score card of the drill just ended")).to_be_visible(timeout=30_000)
    # Only the page had played when the drill ended: one state asked for, not four.
    for figure in ("Time to acknowledge", "1 of 1 gaps", "3 of 13", "1 of 1"):
        expect(page.get_by_text(figure, exact=True).filter(visible=True)).to_have_count(1)
    expect(page.get_by_text("Traceback")).to_have_count(0)

    writes = sandbox.writes("statusio")
    # Ending the drill resolves its incident on the practice page.
    assert [w.path for w in writes] == ["/incident/create", "/incident/update", "/incident/resolve"]
    assert {w.body["statuspage_id"] for w in writes} == {sandbox.org.practice_statuspage_id}
    assert sandbox.writes("gitlab") == [] and sandbox.slack.posts == []
    drill = stored_drill(practice_app.engine)
    assert drill.finished_at is not None
    assert [n["text"] for n in drill.notes] == ["The CMOC found the practice page at once"]
    assert drill.score["ack_seconds"] >= 0


def test_a_drill_from_a_past_incident_at_10x_is_set_beside_the_real_one(
    page: Page, practice_app, sandbox
):
    page.goto(f"{practice_app.url}/practice")
    pick(page, "From a past incident")
    choose(page, "Past incident", f"{PAST} · 02-03-2026 09:00 UTC")
    pick(page, "10×")
    choose(page, "CMOC", CMOC)
    click(page.get_by_role("button", name="Start the drill"))
    expect(page.get_by_text(re.compile(f"PagerDuty page: {PAST}"))).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Next prompt in")).to_be_visible()
    expect(page.get_by_text("misbehaving Gitaly")).to_have_count(0)
    drill = stored_drill(practice_app.engine)
    assert drill.source_incident_id == "past1"

    click(page.get_by_role("button", name="End the drill and score it"))
    expect(page.get_by_text("Score card of the drill just ended")).to_be_visible(timeout=30_000)
    drill_tab = page.get_by_role("tabpanel", name="Drill")
    expect(drill_tab.get_by_text("Beside the real incident")).to_be_visible()
    expect(page.get_by_text("0 of 1", exact=True).filter(visible=True)).to_have_count(1)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    with Session(practice_app.engine) as session:
        incident = session.get(WorkingIncident, drill.working_incident_id)
        assert incident.resolved_at is not None and incident.statuspage_incident_id is None
