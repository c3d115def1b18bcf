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
