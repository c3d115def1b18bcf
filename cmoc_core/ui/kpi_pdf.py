"""The KPI dashboard as one PDF for a quarterly review: the period's tiles, its charts (drawn as
images by Chromium through kaleido) and the per-person table.

Imported only when a report is asked for: its libraries take half a second to load."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import kaleido
import pandas as pd
import plotly.graph_objects as go
from choreographer.errors import ChromeNotFoundError
from fpdf import FPDF
from fpdf.fonts import FontFace

from cmoc_core.timeutil import moment
from cmoc_core.ui.kpi_data import ReportScope, Tile

_log = logging.getLogger(__name__)
TITLE = "CMOC performance indicators"
FONT = "Sans"
# A Unicode sans font (names and `≤` are not Latin-1), as Debian installs it along with Chromium.
FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)
BOLD = {
    "DejaVuSans.ttf": "DejaVuSans-Bold.ttf",
    "LiberationSans-Regular.ttf": "LiberationSans-Bold.ttf",
}
# Charts as the dashboard draws them (900 by 340 pixels), at twice the resolution for print.
CHART = {"format": "png", "width": 900, "height": 340, "scale": 2}
# On paper no app makes room for the axes' labels: the margins must.
CHART_MARGIN = {"l": 70, "r": 20, "t": 50, "b": 60}
CHARTS_PER_PAGE = 3
CHART_SECONDS = 60
HEADING = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
MISSING_CHROMIUM = (
    "The report could not be drawn: its charts need Chromium, which was not found. Install it "
    "(apt-get install chromium) or set BROWSER_PATH to it, then prepare the report again."
)
FAILED_CHROMIUM = (
    "The report could not be drawn: Chromium stopped before its charts were drawn. Prepare the "
    "report again; if it fails again, check that Chromium starts on this server "
    "(chromium --headless --version) or download the CSV files instead."
)
MISSING_FONT = (
    "The report could not be drawn: it needs the DejaVu or Liberation fonts. Install them "
    "(apt-get install fonts-dejavu-core), then prepare the report again."
)


class ReportNotDrawn(Exception):
    """The report could not be drawn; the message says why and what to do."""


def chart_images(figures: Sequence[go.Figure]) -> list[bytes]:
    """Each figure as a PNG, all drawn in one start of Chromium."""
    if not figures:
        return []

    async def draw() -> list[bytes]:
        async with kaleido.Kaleido(mathjax=False, timeout=CHART_SECONDS) as browser:
            return [
                await browser.calc_fig(go.Figure(figure).update_layout(margin=CHART_MARGIN), CHART)
                for figure in figures
            ]

    try:
        # In a thread of its own: the caller's thread may already run an event loop.
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, draw()).result()
    except ChromeNotFoundError as error:
        raise ReportNotDrawn(MISSING_CHROMIUM) from error
    except Exception as error:  # a browser is another process: any way it fails says the same
        _log.warning("Chromium failed to draw the report's charts: %r", error)
        raise ReportNotDrawn(FAILED_CHROMIUM) from error


class _Report(FPDF):
    """A4 pages with the title on top and the page number at the foot."""

    def __init__(self, scope: ReportScope, drawn_at: datetime) -> None:
        super().__init__(format="A4")
        font = next((path for path in FONTS if path.is_file()), None)
        if font is None:
            raise ReportNotDrawn(MISSING_FONT)
        self.add_font(FONT, "", font)
        self.add_font(FONT, "B", font.with_name(BOLD[font.name]))
        self.set_title(f"{TITLE}, {scope.period}")
        self.set_creation_date(drawn_at)
        self.scope, self.drawn_at = scope, drawn_at
        self.set_auto_page_break(auto=True, margin=15)

    def header(self) -> None:
        """The title and period on every page after the first."""
        if self.page_no() == 1:
            return
        self.set_font(FONT, "B", 9)
        self.cell(0, 6, f"{TITLE}, {self.scope.period}", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        """When the report was drawn, and the page number."""
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.cell(0, 6, f"Drawn {moment(self.drawn_at)}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="R")

    def heading(self, text: str) -> None:
        """A section heading."""
        self.set_font(FONT, "B", 13)
        self.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)

    def grid(self, rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        """A table whose first row is its headings."""
        with self.table(
            col_widths=tuple(widths),
            headings_style=HEADING,
            line_height=5,
            text_align="LEFT",
            padding=1,
        ) as table:
            for row in rows:
                table.row(row)


def report_pdf(
    scope: ReportScope,
    tiles: Sequence[Tile],
    figures: Sequence[go.Figure],
    people: pd.DataFrame,
    *,
    drawn_at: datetime,
) -> bytes:
    """The report as PDF bytes: a page of tiles, the charts three to a page, then the per-person
    table; raises ReportNotDrawn, saying what to do, when the charts or fonts are missing."""
    pdf = _Report(scope, drawn_at)
    images = chart_images(figures)
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(0, 11, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    for line in (f"Period: {scope.period}", *scope.filters):
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.heading("Indicators")
    tile_rows = [(tile.label, tile.value, tile.change, tile.note) for tile in tiles]
    pdf.grid(
        [("Indicator", "Value", "Change vs previous period", "About"), *tile_rows], (5, 2, 2, 7)
    )
    for index, image in enumerate(images):
        if index % CHARTS_PER_PAGE == 0:
            pdf.add_page()
            pdf.heading("Charts" if index == 0 else "Charts (continued)")
        pdf.image(io.BytesIO(image), w=pdf.epw)
        pdf.ln(3)
    pdf.add_page(orientation="landscape")
    pdf.heading("Per person")
    if people.empty:
        pdf.cell(0, 6, "No one had pages, updates or shifts in this period.")
    else:
        headings = [str(name) for name in people.columns]
        widths = [3] + [1.5] * (len(headings) - 1)  # the names wider than the counts
        pdf.grid([headings, *people.astype(str).to_numpy().tolist()], widths)
    return bytes(pdf.output())
