"""A person opens the freshly started app and sees the demo organisation's incidents."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_history_lists_the_demo_incidents_within_60_seconds_of_start(
    page: Page, running_app, tmp_path
):
    page.goto(f"{running_app.url}/history")
    remaining_ms = max(1_000, int((60 - (time.monotonic() - running_app.started)) * 1000))
    caption = page.get_by_text(re.compile(r"^\d+ incidents, newest first$"))
    expect(caption).to_be_visible(timeout=remaining_ms)
    assert time.monotonic() - running_app.started <= 60
    assert int(caption.inner_text().split()[0]) >= 60
    expect(page.get_by_text("Demo mode", exact=False)).to_be_visible()
    expect(page.get_by_text("Messages", exact=True)).to_be_visible()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)


def test_sync_page_shows_the_sources_and_syncs_on_demand(page: Page, running_app):
    page.goto(f"{running_app.url}/sync")
    expect(page.get_by_role("heading", name="Sync & settings")).to_be_visible(timeout=30_000)
    for source in ("PagerDuty", "Status.io", "GitLab"):
        expect(page.get_by_role("heading", name=source)).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_text(re.compile(r"Sync complete: \d+ items"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
