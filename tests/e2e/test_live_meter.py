"""The length meter follows every keystroke and agrees with the rules used before publishing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from cmoc_core.models import Draft
from cmoc_core.storage import make_engine
from cmoc_core.textlimits import weighted_length

pytestmark = pytest.mark.browser
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18001"
SAMPLES = [
    "Investigating elevated error rates.",
    f"We're seeing elevated error rates on GitLab.com, investigation is underway in: {ISSUE}",
    f"Rolling back, see {ISSUE}. Next update in 30 minutes.",
    "CI ジョブの遅延を調査しています",
    "Fixed 🎉 thanks for your patience 👩🏽‍💻",
    "Two links: https://status.gitlab.com and https://about.gitlab.com/handbook/ done",
]


def test_the_live_meter_counts_while_typing_as_the_publishing_check_does(page: Page, running_app):
    page.goto(running_app.url)
    page.get_by_role("button", name="Take over this incident").click()
    box = page.get_by_label("Details").filter(visible=True)
    expect(box).to_have_count(1, timeout=30_000)
    meter = page.locator(".live-meter").filter(visible=True)
    for text in SAMPLES:
        box.fill("")
        box.press_sequentially(text[:-1])
        box.type(text[-1])
        expected = weighted_length(text)
        expect(meter.first).to_have_attribute("data-weighted", str(expected), timeout=5_000)
        assert box.input_value() == text  # still uncommitted: nothing was sent to the server


def wait_for_draft(database: Path, text: str, timeout: float = 30.0) -> None:
    """Until the app has saved a draft holding `text` (the save follows a pause in typing)."""
    engine = make_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if any(d.values.get("details") == text for d in session.exec(select(Draft))):
                return
        time.sleep(0.2)
    raise AssertionError("the typed words were never saved as a draft")


def test_words_typed_but_not_yet_committed_survive_a_reload(page: Page, running_app):
    page.goto(running_app.url)
    take_over = page.get_by_role("button", name="Take over this incident")
    form = page.get_by_label("Details").filter(visible=True)
    expect(take_over.or_(form).first).to_be_visible(timeout=60_000)
    if take_over.count():
        take_over.click()
    box = page.get_by_label("Details").filter(visible=True)
    expect(box).to_have_count(1, timeout=30_000)
    text = f"Still rolling back; half the fleet is done. {ISSUE}"
    box.fill("")
    box.press_sequentially(text)
    wait_for_draft(running_app.log.parent / "cmoc.db", text)  # a pause, no blur, no Ctrl+Enter
    page.reload()
    restored = page.get_by_label("Details").filter(visible=True)
    expect(restored).to_have_value(text, timeout=30_000)
