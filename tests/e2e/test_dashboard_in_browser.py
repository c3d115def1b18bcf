"""The KPI dashboard renders its charts in Chromium."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from cmoc_core.kpis import GAP_COLUMNS

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


@pytest.mark.parametrize(
    ("chart_title", "mark", "picked"),
    [
        ("Handover issue after each shift", ".bars path", "Shifts of "),
        ("Overdue updates over time", ".bars path", "Overdue updates in 20"),
        ("Time to acknowledge pages", ".bars path", "Pages acknowledged in "),
        ("Acknowledgement trend", ".points path", "Pages of 20"),
        ("Updates on time (%) by severity and state", ".points path", r"S\d updates while "),
    ],
)
def test_clicking_a_mark_shows_the_rows_behind_it(
    page: Page, running_app, chart_title, mark, picked
):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    page.get_by_text("Last 365 days", exact=True).click()
    chart = page.locator(".js-plotly-plot").filter(has_text=chart_title)
    first = chart.locator(mark).first
    expect(first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_000)  # let the chart settle after the period's rerun
    first.click(force=True)
    expect(page.get_by_text(re.compile(f"Picked on a chart: {picked}"))).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_role("combobox", name="Show")).to_have_count(0)  # the pick decides
    expect(page.get_by_test_id("stDataFrame").filter(visible=True)).to_have_count(1)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_the_csv_download_holds_every_row_and_column_of_the_table_shown(page: Page, running_app):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    page.get_by_text("Last 365 days", exact=True).click()
    show = page.get_by_role("combobox", name="Show")
    expect(show).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_000)
    counts = page.get_by_text(re.compile(r"\d+ of \d+ gaps"))  # the tile's help: on time of all
    page.get_by_test_id("stMetric").filter(has_text="Updates on time").get_by_test_id(
        "stTooltipIcon"
    ).hover()
    on_time, gaps = (int(n) for n in re.findall(r"\d+", counts.inner_text(timeout=10_000))[:2])
    show.click()
    page.get_by_role("option", name="Overdue updates", exact=True).click()
    expect(page.get_by_text(f"Overdue updates: {gaps - on_time:,} rows.")).to_be_visible(
        timeout=30_000
    )
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == gaps - on_time
    assert list(rows[0]) == GAP_COLUMNS
    assert all(row["on_time"] == "False" and float(row["overdue_minutes"]) > 0 for row in rows)
