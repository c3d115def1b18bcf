"""The maintenance page in Chromium against the sandbox over HTTP: overruns said, drafts kept."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from cmoc_core.sandbox.statusio import format_time_ms
from cmoc_core.timeutil import utc_now
from tests.e2e.conftest import settle, started_app
from tests.e2e.test_composer_in_browser import click

pytestmark = pytest.mark.browser
OVERRUN = re.compile(r"^Overrunning by 9 h 0\d min: finish it or post an update$")
NAME = "PostgreSQL upgrade"
DETAILS = "GitLab.com will be read-only for 30 minutes."


@pytest.fixture(scope="module")
def maintenance_app(sandbox, tmp_path_factory):
    """The app talking to the sandbox, whose window in progress was due to end 9 hours ago."""
    page = sandbox.statusio.pages[sandbox.org.statuspage_id]
    lists = copy.deepcopy(page.maintenances)
    now = utc_now()
    for window in lists["active"]:
        window["datetime_planned_start"] = format_time_ms(now - timedelta(hours=11))
        window["datetime_planned_end"] = format_time_ms(now - timedelta(hours=9, minutes=1))
    page.maintenances = lists
    settings = sandbox.settings(base_url=sandbox.base_url)
    with started_app(tmp_path_factory.mktemp("maintenance"), settings) as app:
        yield app


def open_schedule_form(page: Page) -> None:
    click(page.get_by_role("tab", name="Schedule new"))
    expect(page.get_by_label("Name: what is being maintained").filter(visible=True)).to_have_count(
        1, timeout=15_000
    )


def test_an_overrun_is_flagged_and_a_reload_keeps_the_schedule_form(page: Page, maintenance_app):
    page.goto(f"{maintenance_app.url}/maintenance")
    settle(page, "Maintenance")
    expect(page.get_by_text(OVERRUN)).to_be_visible(timeout=30_000)

    open_schedule_form(page)
    name = page.get_by_label("Name: what is being maintained").filter(visible=True)
    name.fill(NAME)
    name.press("Enter")
    settle(page, "Maintenance")
    details = page.get_by_label("Details: what users will notice").filter(visible=True)
    details.fill(DETAILS)
    details.blur()
    settle(page, "Maintenance")
    notify_now = page.get_by_label("Notify subscribers now").filter(visible=True)
    notify_now.uncheck(force=True)
    settle(page, "Maintenance")

    page.reload()
    settle(page, "Maintenance")
    open_schedule_form(page)
    expect(page.get_by_label("Name: what is being maintained").filter(visible=True)).to_have_value(
        NAME
    )
    expect(page.get_by_label("Details: what users will notice").filter(visible=True)).to_have_value(
        DETAILS
    )
    expect(page.get_by_label("Notify subscribers now").filter(visible=True)).not_to_be_checked()
