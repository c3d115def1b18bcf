"""The KPI report for the dashboard (cached per database, period and minute), its tiles (kept as
drawn, with its charts, for the PDF report), its warning about people split in two, and the names
of its CSV files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cmoc_core.kpi_results import Better, Change, KpiReport, Unmatched, change, rounded_rows
from cmoc_core.kpis import compute_kpis
from cmoc_core.timeutil import MISSING, MOMENT
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.deps import AppContext

PEOPLE_PAGE = "app_pages/sync.py"
# The headings of the rows behind the figures, on screen, in CSV files and in the report. A
# column without one (a status-page id) is left out: its incident's title stands for it.
ROW_HEADINGS = {
    "page": "Page",
    "incident": "",
    "title": "Title",
    "triggered": "Paged (UTC)",
    "ack_minutes": "Minutes to acknowledge",
    "start": "From (UTC)",
    "end": "To (UTC)",
    "due": "Due (UTC)",
    "severity": "Severity",
    "state": "State",
    "on_time": "On time",
    "overdue_minutes": "Minutes overdue",
    "announced": "Announced",
    "first_update": "First public update (UTC)",
    "minutes": "Minutes to first update",
    "within_target": "Within target",
    "handed_over": "Handed over",
    "person": "Person",
    "region": "Region",
    "quarter": "Quarter",
    "trained": "Trained",
    "opened": "Opened",
    "completed": "Completed",
}
PERSON_HEADINGS = {
    "person": "Person",
    "pages": "Pages",
    "within_target": "Acknowledged ≤ 15 min",
    "gaps": "Update gaps",
    "on_time": "Updates on time",
    "shifts": "Shifts",
    "handed_over": "Shifts handed over",
    "first_updates": "First public updates",
    "first_updates_within_target": "First public updates within target",
    "announced": "Updates announcing the next",
    "kept": "Announced updates kept",
}
CHANGE_NOTE = "Change vs the previous period of the same length."


@st.cache_data(ttl=300, max_entries=32, show_spinner="Computing the indicators…")
def _cached(database_url: str, since: datetime, until: datetime, _context: AppContext) -> KpiReport:
    with deps.session(_context) as db:
        return compute_kpis(session=db, settings=_context.settings, since=since, until=until)


def report_for(context: AppContext, since: datetime, until: datetime) -> KpiReport:
    """The report for a period, from cache when it was computed in the last five minutes."""
    return _cached(context.settings.cmoc_database_url, since, until, context)


def change_tile(
    column: Any, label: str, shown: str, moved: Change, *, unit: str, help: str
) -> None:
    """A tile with its change since the previous period: green when the change is good for
    this figure, red when bad, and neither colour nor arrow when nothing changed."""
    help = f"{help}. {CHANGE_NOTE}"
    whole: dict[str, Any] = {"help": help, "width": "content"}  # labels never cut short
    if moved.amount is None:
        column.metric(label, shown, **whole)
    elif not moved.moved:
        column.metric(
            label, shown, delta="no change", delta_color="off", delta_arrow="off", **whole
        )
    else:
        colour = "normal" if moved.better is Better.HIGHER else "inverse"
        delta = f"{moved.amount:+.1f} {unit}"
        column.metric(label, shown, delta=delta, delta_color=colour, **whole)


def percent_tile(
    column: Any, label: str, value: float | None, before: float | None, *, help: str
) -> None:
    """A percentage tile: a rise is good."""
    moved = change(value, before, better=Better.HIGHER)
    change_tile(column, label, widgets.percent(value), moved, unit="pts", help=help)


def minutes_tile(
    column: Any, label: str, value: float | None, before: float | None, *, help: str
) -> None:
    """A tile of minutes waited: a fall is good."""
    shown = "–" if value is None else f"{value:.1f} min"
    moved = change(value, before, better=Better.LOWER)
    change_tile(column, label, shown, moved, unit="min", help=help)


@dataclass(frozen=True)
class Tile:
    """A tile as the dashboard shows it: its figure, its change (blank when none) and its note."""

    label: str
    value: str
    change: str
    note: str


@dataclass
class Shown:
    """The tiles and charts the dashboard drew, in order, so that its report shows the same."""

    tiles: list[Tile] = field(default_factory=list)
    figures: list[go.Figure] = field(default_factory=list)

    def kept(self, container: Any) -> Keeping:
        """`container`, keeping here every tile and chart drawn in it."""
        return Keeping(container, self)


@dataclass(frozen=True)
class Keeping:
    """A Streamlit container whose tiles and charts are kept in `shown` as they are drawn."""

    container: Any
    shown: Shown

    def metric(
        self, label: str, value: str, *, help: str, delta: str | None = None, **options: Any
    ) -> Any:
        """Draw a tile and keep it."""
        note = help.removesuffix(f". {CHANGE_NOTE}")
        self.shown.tiles.append(Tile(label, value, delta or "", note))
        return self.container.metric(label, value, help=help, delta=delta, **options)

    def plotly_chart(self, figure: go.Figure, **options: Any) -> Any:
        """Draw a chart and keep it."""
        self.shown.figures.append(figure)
        return self.container.plotly_chart(figure, **options)


def unmatched_notice(unmatched: Sequence[Unmatched]) -> None:
    """Who may be one person split in two, named, with the way to map them."""
    if not unmatched:
        return
    names = "; ".join(f"{person.person} ({person.known})" for person in unmatched)
    count = len(unmatched)
    st.warning(
        f"{count} {'identity is' if count == 1 else 'identities are'} not matched to a person "
        f"in both PagerDuty and GitLab: {widgets.escape_markdown(names)}. Their figures may be "
        "split between two names (for example shifts under one, handover issues under the "
        "other). Map them to the right person, then reload this page.",
        icon=":material/person_alert:",
    )
    st.page_link(PEOPLE_PAGE, label="Map people on Sync & settings", icon=":material/group:")


def readable(rows: pd.DataFrame, headings: dict[str, str]) -> pd.DataFrame:
    """`rows` headed in words, measures rounded as shown, yes/no and severities spelled out.

    Dates stay dates, so that the table sorts them; `draw_rows` and `csv_text` write them.
    """
    kept = [name for name in rows.columns if headings[name]]  # a new column needs a heading
    shown = rows[kept].copy()
    for name in kept:
        column = shown[name]
        if name == "severity":
            shown[name] = "S" + column.astype("Int64").astype("string")
        elif pd.api.types.infer_dtype(column, skipna=True) == "boolean":  # yes/no, or missing
            shown[name] = column.map({True: "Yes", False: "No"})
    return rounded_rows(shown).rename(columns=headings)


def draw_rows(rows: pd.DataFrame, **options: Any) -> None:
    """A readable table, dates in the page's format and a dash where a value is not known."""
    dates = {
        name: st.column_config.DatetimeColumn(format="DD-MM-YYYY HH:mm")
        for name in rows.select_dtypes("datetimetz").columns
    }
    st.dataframe(rows, hide_index=True, column_config=dates, placeholder=MISSING, **options)


def csv_text(rows: pd.DataFrame) -> str:
    """A readable table as a CSV file, dates as the page writes them."""
    dates = rows.select_dtypes("datetimetz").columns
    return rows.assign(**{name: rows[name].dt.strftime(MOMENT) for name in dates}).to_csv(
        index=False
    )


def csv_name(table: str, since: datetime, until: datetime, *, extension: str = "csv") -> str:
    """`cmoc-<table>-<first day>-to-<last day>.csv`, the table's words as a file-name slug."""
    slug = re.sub(r"[^a-z0-9]+", "-", table.lower()).strip("-") or "table"
    last = until - timedelta(days=1)
    return f"cmoc-{slug}-{since:%Y-%m-%d}-to-{last:%Y-%m-%d}.{extension}"


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: the period [since, until) and the filters chosen, in words."""

    since: datetime
    until: datetime
    filters: tuple[str, ...]

    @property
    def period(self) -> str:
        """`01-01-2026 to 31-03-2026`: the first and the last day."""
        return f"{self.since:%d-%m-%Y} to {self.until - timedelta(days=1):%d-%m-%Y}"
