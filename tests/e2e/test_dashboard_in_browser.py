"""The KPI dashboard renders its charts in Chromium."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlmodel import col, select

from cmoc_core.kpi_report import GAP_COLUMNS
from cmoc_core.models import PagerDutyIncident
from cmoc_core.storage import make_engine, session_scope
from cmoc_core.timeutil import utc_now
from cmoc_core.ui.kpi_data import ROW_HEADINGS
from tests.e2e.conftest import settle

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
        ("Time to acknowledge pages", ".bars path", "Pages acknowledged within 5 minutes"),
        ("Time to first public update", ".bars path", "Incidents first published "),
        ("First public update trend", ".points path", "First public updates of 20"),
        ("Announced next updates kept", ".bars path", "Announced updates (kept|broken) in 20"),
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
    # The per-person figures, and the rows picked (no second table from the list).
    expect(page.get_by_test_id("stDataFrame").filter(visible=True)).to_have_count(2)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_the_csv_download_holds_every_row_and_column_of_the_table_shown(page: Page, running_app):
    # Tall enough for the whole page: the list of tables opens below it.
    page.set_viewport_size({"width": 1400, "height": 3600})
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
    assert list(rows[0]) == [ROW_HEADINGS[name] for name in GAP_COLUMNS if ROW_HEADINGS[name]]
    assert all(row["On time"] == "No" and float(row["Minutes overdue"]) > 0 for row in rows)
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d", row["Due (UTC)"]) for row in rows)


def add_slow_page(database: Path) -> int:
    """A CMOC page of three days ago acknowledged after 75.123 minutes, like the ones the
    recent demo history lacks: the copy of a stored page, so that it counts as the rest do."""
    engine = make_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        model = session.exec(
            select(PagerDutyIncident).where(col(PagerDutyIncident.acknowledged_by).is_not(None))
        ).first()
        assert model is not None, "the demo history has acknowledged pages"
        number = 990_001
        triggered = utc_now() - timedelta(days=3)
        session.add(
            PagerDutyIncident(
                id="PSLOWPAGE",
                incident_number=number,
                title="Slow page",
                service_id=model.service_id,
                status="resolved",
                created_at=triggered,
                acknowledged_at=triggered + timedelta(minutes=75, seconds=7.38),
                acknowledged_by=model.acknowledged_by,
            )
        )
    engine.dispose()
    return number


def test_the_over_60_minutes_bar_lists_exactly_the_pages_it_counts(page: Page, running_app):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{running_app.url}/kpis")
    expect(page.get_by_text("Last 30 days", exact=True)).to_be_visible(timeout=60_000)
    number = add_slow_page(running_app.log.parent / "cmoc.db")
    page.get_by_text("Last 30 days", exact=True).click()  # a period not computed before
    chart = page.locator(".js-plotly-plot").filter(has_text="Time to acknowledge pages")
    expect(chart.get_by_text("over 60 min").first).to_be_visible(timeout=60_000)
    expect(chart.get_by_text("> 60", exact=True)).to_be_visible()  # its tick on the axis
    settle(page, "CMOC performance indicators")  # the period's rerun redraws the chart
    bars = chart.locator(".bars path")
    over = bars.nth(bars.count() - 1)  # the catch-all bar comes last
    over.click(force=True)
    expect(
        page.get_by_text("Picked on a chart: Pages acknowledged after more than 60 minutes")
    ).to_be_visible(timeout=30_000)
    caption = page.get_by_text(re.compile(r"Pages acknowledged after more than 60 minutes: \d+"))
    counted = int(re.search(r": ([\d,]+) rows", caption.inner_text()).group(1).replace(",", ""))
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    assert re.fullmatch(
        r"cmoc-pages-acknowledged-after-more-than-60-minutes-\d{4}-\d\d-\d\d-to-\d{4}-\d\d-\d\d\.csv",
        download.value.suggested_filename,
    )
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == counted >= 1
    assert all(float(row["Minutes to acknowledge"]) > 60 for row in rows)
    slow = next(row for row in rows if row["Page"] == str(number))
    assert slow["Minutes to acknowledge"] == "75.12"  # rounded as on screen


def test_the_pdf_report_holds_the_period_tiles_and_charts_shown(page: Page, running_app):
    page.set_viewport_size({"width": 1400, "height": 3600})
    page.goto(f"{running_app.url}/kpis")
    page.get_by_text("Last 365 days", exact=True).click()
    expect(page.locator(".js-plotly-plot .main-svg").nth(5)).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_000)  # let the page settle after the period's rerun
    page.get_by_role("button", name="Prepare report").click()
    download_button = page.get_by_role("button", name="Download report")
    expect(download_button).to_be_visible(timeout=120_000)
    today = utc_now().date()
    first = today - timedelta(days=364)
    period = f"{first:%d-%m-%Y} to {today:%d-%m-%Y}"
    name = f"cmoc-kpis-report-{first:%Y-%m-%d}-to-{today:%Y-%m-%d}.pdf"
    download_button.hover()
    expect(page.get_by_test_id("stTooltipContent")).to_have_text(
        f"Saves the report for {period} as {name}."
    )
    charts = page.get_by_test_id("stPlotlyChart").count()
    expect(page.locator(".js-plotly-plot")).to_have_count(charts)
    tiles = [
        (
            tile.get_by_test_id("stMetricLabel").inner_text(),
            tile.get_by_test_id("stMetricValue").inner_text(),
        )
        for tile in page.get_by_test_id("stMetric").all()
    ]
    with page.expect_download(timeout=30_000) as download:
        download_button.click()
    assert download.value.suggested_filename == name

    pdf = PdfReader(download.value.path())
    assert len(pdf.pages) > 2
    text = " ".join(" ".join(sheet.extract_text() for sheet in pdf.pages).split())
    assert f"Period: {period}" in text
    assert len(tiles) >= 8 and "Acknowledged ≤ 15 min" in dict(tiles)
    for label, value in tiles:
        assert f"{label} {value}" in text
    assert sum(len(sheet.images) for sheet in pdf.pages) == charts >= 6

    # Another choice is another report: the one prepared is not offered for it.
    page.get_by_role("combobox", name="Region").click()
    page.get_by_role("option").filter(has_not_text="All regions").first.click()
    expect(download_button).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("button", name="Prepare report")).to_be_visible()
