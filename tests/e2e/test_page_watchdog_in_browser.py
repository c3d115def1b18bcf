"""A page whose drawing crashed blank reloads itself in Chromium, but never in a loop."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page, expect

from cmoc_core.ui.freshness import RELOADED_WORDS
from tests.e2e.conftest import settle

pytestmark = pytest.mark.browser

# What a crash of Streamlit's drawing leaves: its whole tree unmounted, an empty root.
BLANK = "document.getElementById('root').replaceChildren()"


def loads(page: Page) -> list[float]:
    """The times at which the page (re)loaded from now on."""
    seen: list[float] = []
    page.on("load", lambda _page: seen.append(time.monotonic()))
    return seen


def test_a_page_gone_blank_reloads_itself(page: Page, running_app) -> None:
    page.goto(f"{running_app.url}/handover")
    settle(page, "Handover")
    reloaded = loads(page)
    # Waiting for the blank page itself would race the reload, which may come first.
    with page.expect_event("load", timeout=30_000):
        page.evaluate(BLANK)
    settle(page, "Handover")
    assert len(reloaded) == 1
    notice = page.get_by_test_id("stToast").filter(has_text=RELOADED_WORDS)
    expect(notice).to_be_visible()
    page.reload()  # a reload of the CMOC's own is not news
    settle(page, "Handover")
    page.wait_for_timeout(2_000)  # twice the watch's interval, for a notice that should not come
    expect(notice).to_have_count(0)


def test_a_page_that_keeps_going_blank_is_left_for_someone_to_see(page: Page, running_app) -> None:
    page.goto(f"{running_app.url}/handover")
    settle(page, "Handover")
    now = page.evaluate("Date.now()")
    recent = json.dumps([now - 30_000, now - 20_000, now - 10_000])  # three in the last minute
    page.evaluate(f"window.sessionStorage.setItem('cmoc-page-reloads', {json.dumps(recent)})")
    reloaded = loads(page)
    page.evaluate(BLANK)
    page.wait_for_timeout(5_000)  # five times the watch's interval
    assert reloaded == []
    expect(page.get_by_test_id("stApp")).to_have_count(0)
