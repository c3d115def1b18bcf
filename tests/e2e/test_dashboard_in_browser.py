"""The KPI dashboard renders its charts in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_the_dashboard_draws_its_charts(page: Page, running_app, tmp_path):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    navigation = page.get_by_test_id("stSidebarNav")
    expect(navigation.get_by_text("KPI dashboard")).to_be_visible(timeout=60_000)
    expect(navigation.get_by_text("kpis", exact=True)).to_have_count(0)  # the router ran
    page.get_by_text("Last 365 days", exact=True).click()
    plots = page.locator(".js-plotly-plot .main-svg")
    expect(plots.nth(5)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Time to acknowledge pages")).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)
    bars = page.locator(".js-plotly-plot .bars path, .js-plotly-plot .heatmaplayer image")
    assert bars.count() > 0
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_clicking_a_bar_shows_the_rows_behind_it(page: Page, running_app):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    page.get_by_text("Last 365 days", exact=True).click()
    chart = page.locator(".js-plotly-plot").filter(has_text="Handover issue after each shift")
    bar = chart.locator(".bars path").first
    expect(bar).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_000)  # let the chart settle after the period's rerun
    bar.click(force=True)
    picked = page.get_by_text("Picked on a chart: Shifts of ")
    expect(picked).to_be_visible(timeout=30_000)
    expect(page.get_by_role("combobox", name="Show")).to_have_count(0)  # the pick decides
    expect(page.get_by_test_id("stDataFrame").filter(visible=True)).to_have_count(1)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_clicking_a_month_of_overdue_updates_lists_them(page: Page, running_app):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    page.get_by_text("Last 365 days", exact=True).click()
    chart = page.locator(".js-plotly-plot").filter(has_text="Overdue updates over time")
    bar = chart.locator(".bars path").first
    expect(bar).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_000)
    bar.click(force=True)
    expect(page.get_by_text("Picked on a chart: Overdue updates in 20")).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_role("combobox", name="Show")).to_have_count(0)
