"""The composer at 800 and 1440 px in Chromium: no tile cut short, the alarm on one line."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from cmoc_core import composer
from cmoc_core.models import StatusPageIncident
from cmoc_core.storage import make_engine
from cmoc_core.timeutil import utc_now
from tests.app.conftest import build_demo_database
from tests.e2e.conftest import started_app

pytestmark = pytest.mark.browser
OVERDUE = timedelta(hours=8, minutes=51)

# Every text box of every tile, with how wide its text is and how wide it is shown.
TILE_BOXES = """
() => [...document.querySelectorAll('[data-testid="stMetric"]')].flatMap((tile) =>
  [...tile.querySelectorAll(
      '[data-testid="stMetricLabel"], [data-testid="stMetricValue"], [data-testid="stMetricDelta"]'
  )].flatMap((part) =>
    [part, ...part.querySelectorAll('*')]
      .filter((box) => box.clientWidth > 0)
      .map((box) => ({
        text: part.innerText.trim(),
        scroll: box.scrollWidth,
        client: box.clientWidth,
      }))
  )
)
"""
# The overdue alarm's text: its height and the height of one of its lines.
ALARM_LINES = """
() => {
  const alert = [...document.querySelectorAll('[data-testid="stAlert"]')]
    .find((a) => a.innerText.includes('overdue by'));
  const text = alert.querySelector('[data-testid="stMarkdownContainer"] p');
  const style = getComputedStyle(text);
  return {
    text: text.innerText,
    height: text.getBoundingClientRect().height,
    line: parseFloat(style.lineHeight),
  };
}
"""


@pytest.fixture(scope="module")
def overdue_app(tmp_path_factory):
    """The demo app with one incident taken over from the status page, its update long overdue."""
    folder = tmp_path_factory.mktemp("widths")
    build_demo_database(folder / "cmoc.db")  # what the app's first start loads
    take_over_an_overdue_incident(f"sqlite:///{folder / 'cmoc.db'}")
    with started_app(folder) as app:
        yield app


def take_over_an_overdue_incident(database_url: str) -> None:
    """The synced incident a CMOC would take over, last updated 8 h 51 min ago, a page attached."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        synced = session.exec(
            select(StatusPageIncident)
            .where(col(StatusPageIncident.resolved).is_(False))
            .order_by(col(StatusPageIncident.datetime_open))
        ).first()
        assert synced is not None, "the demo has no open status-page incident"
        incident = composer.adopt(session=session, synced=synced, project="gitlab-com/production")
        pages = composer.open_pages(session=session)
        incident.pagerduty_incident_id = pages[0].id if pages else None
        incident.severity = None
        incident.last_posted_at = utc_now() - OVERDUE
        session.add(incident)
        session.commit()
    engine.dispose()


@pytest.mark.parametrize("width", [800, 1440])
def test_the_header_tiles_are_whole_and_the_overdue_alarm_is_one_line(
    page: Page, overdue_app, width: int, tmp_path
):
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(overdue_app.url)
    expect(page.get_by_text("overdue by", exact=False).first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1_500)  # a tick of the live header, so the tiles are drawn afresh
    page.get_by_test_id("stMetric").first.evaluate("tile => tile.scrollIntoView({block: 'center'})")

    shot = tmp_path / f"composer-{width}px.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot at {width} px: {shot}")

    boxes = page.evaluate(TILE_BOXES)
    assert len({b["text"] for b in boxes}) >= 8, boxes
    for box in boxes:
        print(f"{width} px · {box['text']!r}: text {box['scroll']} px in {box['client']} px")
    cut = [b for b in boxes if b["scroll"] > b["client"]]
    assert not cut, f"cut tile text at {width} px: {cut}"

    alarm = page.evaluate(ALARM_LINES)
    print(f"{width} px · alarm {alarm['text']!r}: {alarm['height']} px, line {alarm['line']} px")
    assert "overdue by 8 h" in alarm["text"]
    assert alarm["height"] <= alarm["line"] * 1.5, alarm


def test_a_step_ticked_leaves_the_buttons_below_it_in_place(page: Page, overdue_app):
    page.set_viewport_size({"width": 1440, "height": 2400})  # one line a step: no slack
    page.goto(overdue_app.url)
    above = page.get_by_role("button", name="Acknowledge page")
    below = page.get_by_role("button", name="Add label")
    expect(below).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_500)

    def gap() -> float:
        """How far below the button above the step the button below it is."""
        top, bottom = above.bounding_box(), below.bounding_box()
        assert top is not None and bottom is not None
        return bottom["y"] - top["y"]

    before = gap()
    page.get_by_role("button", name="Joined").click()
    expect(page.get_by_role("button", name="Joined")).to_have_count(0, timeout=15_000)
    expect(
        page.get_by_text(re.compile(r"^done \d\d-\d\d-\d{4} \d\d:\d\d UTC")).first
    ).to_be_visible()
    page.wait_for_timeout(1_500)
    after = gap()
    print(f"'Add label' {before} px below 'Acknowledge page' before the tick, {after} px after")
    assert after == before
