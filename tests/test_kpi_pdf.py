"""The dashboard's PDF report, opened and read back: its pages, tiles, charts and people."""

from __future__ import annotations

import asyncio
import io
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlmodel import Session

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.kpi_report import (
    Selection,
    ack_figures,
    cadence_figures,
    per_person,
    selected_grid,
    selected_rows,
)
from cmoc_core.kpi_results import rounded_rows
from cmoc_core.kpis import compute_kpis
from cmoc_core.sync import run_sync
from cmoc_core.ui import charts, widgets
from cmoc_core.ui.kpi_data import ReportScope, Tile
from cmoc_core.ui.kpi_pdf import (
    FONTS,
    MISSING_CHROMIUM,
    ReportNotDrawn,
    report_pdf,
)
from tests.support.system import unavailable

CHROMIUM = Path("/usr/bin/chromium")
QUARTER = ReportScope(
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 4, 1, tzinfo=UTC),
    ("Person: Everyone", "Region: All regions", "Severity: all"),
)
DRAWN_AT = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def dejavu() -> None:
    if not any(path.is_file() for path in FONTS):
        unavailable("DejaVu Sans (apt-get install -y fonts-dejavu-core)")


@pytest.fixture
def chromium() -> None:
    if not CHROMIUM.exists():
        unavailable("Chromium (apt-get install -y chromium)")


@pytest.fixture
def quarter(sqlite_engine, sandbox, org_end):
    """The demo organisation's first quarter of 2026: its tiles, charts and per-person table."""
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    assert run_sync(engine=sqlite_engine, settings=settings, clients=clients, now=org_end).ok
    with Session(sqlite_engine) as session:
        report = compute_kpis(
            session=session, settings=settings, since=QUARTER.since, until=QUARTER.until
        )
    rows = selected_rows(report, Selection())
    pages, gaps, shifts, firsts = (
        rows[name] for name in ("pages", "gaps", "shifts", "first_updates")
    )
    target = report.first_public_update.target_minutes
    ack, cadence = ack_figures(pages), cadence_figures(gaps)
    tiles = [
        Tile(
            "Acknowledged ≤ 15 min",
            widgets.percent(ack.within_target_pct),
            "+2.5 pts",
            f"{ack.within_target} of {ack.pages} pages; target 100%",
        ),
        Tile("Updates on time", widgets.percent(cadence.on_time_pct), "no change", "Target 100%"),
        Tile("Contact requests completed", widgets.ratio(None), "", "Whole rotation"),
    ]
    figures = [
        charts.ack_distribution(pages),
        charts.ack_trend(pages),
        charts.first_update_distribution(firsts, target),
        charts.first_update_trend(firsts, target),
        charts.cadence_matrix(gaps),
        charts.overdue_over_time(gaps),
        charts.announced_kept(gaps),
        charts.handover_by_person(shifts),
        charts.training_grid(selected_grid(report, Selection())),
        charts.contact_requests(report.contact_requests.by_assignee),
    ]
    people = rounded_rows(pd.DataFrame(per_person(pages, gaps, shifts, firsts)))
    return tiles, figures, people


def flat(text: str) -> str:
    """Text with every run of spaces and line breaks as one space, as a table cell wraps it."""
    return " ".join(text.split())


def test_the_report_holds_the_period_tiles_charts_and_people(chromium, quarter):
    tiles, figures, people = quarter
    pdf = report_pdf(QUARTER, tiles, figures, people, drawn_at=DRAWN_AT)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    # A page of tiles, the charts three to a page, then the per-person table.
    assert len(reader.pages) == 1 + math.ceil(10 / 3) + 1 == 6
    text = flat("\n".join(page.extract_text() for page in reader.pages))
    assert "Period: 01-01-2026 to 31-03-2026" in text
    assert "Severity: all" in text and "Drawn 02-04-2026 09:30 UTC" in text
    for tile in tiles:
        assert flat(f"{tile.label} {tile.value} {tile.change} {tile.note}") in text
    assert len(people) > 3
    for person in people["person"]:
        assert person in text
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == len(figures) == 10
    assert all(image.image.size == (1800, 680) for image in images)
    # Every chart has its own picture, drawn: dark lines and words on a light ground.
    assert len({image.data for image in images}) == len(figures)
    for image in images:
        darkest, lightest = image.image.convert("L").getextrema()
        assert darkest < 128 < lightest


def test_a_period_without_charts_or_people_needs_no_browser(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nowhere/chromium")
    tile = Tile("Updates on time", "–", "", "0 of 0 gaps; target 100%")
    pdf = report_pdf(QUARTER, [tile], [], pd.DataFrame(), drawn_at=DRAWN_AT)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    text = flat("\n".join(page.extract_text() for page in reader.pages))
    assert "Updates on time –" in text
    assert "No one had pages, updates or shifts in this period." in text


def test_without_chromium_the_report_says_what_to_do(monkeypatch, quarter):
    monkeypatch.setenv("BROWSER_PATH", "/nowhere/chromium")
    tiles, figures, people = quarter
    with pytest.raises(ReportNotDrawn) as refused:
        report_pdf(QUARTER, tiles, figures, people, drawn_at=DRAWN_AT)
    assert str(refused.value) == MISSING_CHROMIUM
    assert "apt-get install chromium" in MISSING_CHROMIUM


def test_charts_are_drawn_when_the_caller_already_runs_an_event_loop(chromium, quarter):
    # As when a browser test's event loop runs in the same thread: the charts' own loop must
    # not collide with it.
    tiles, figures, people = quarter

    async def within_a_loop() -> bytes:
        return report_pdf(QUARTER, tiles, figures[:2], people, drawn_at=DRAWN_AT)

    # The loop in a thread of its own too: this one may run a browser test's loop already.
    with ThreadPoolExecutor(max_workers=1) as thread:
        pdf = thread.submit(asyncio.run, within_a_loop()).result()
    images = [image for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images]
    assert len(images) == 2
