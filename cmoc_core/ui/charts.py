"""Plotly figures for the KPI dashboard; readable in light and dark themes."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from cmoc_core import handbook
from cmoc_core.kpi_results import AssigneeRequests

ON_TIME, LATE = "#2e7d32", "#d32f2f"
STATES = [state.name.title() for state in handbook.IncidentState]
SEVERITIES = ["S1", "S2", "S3", "S4"]
ACK_BINS = 30


def plotly_text(text: object) -> str:
    """Outside text for a Plotly label (axis, hover, legend, title): shown, never read as HTML."""
    return html.escape(str(text), quote=False)


def _shown(values: Iterable[Any]) -> list[str]:
    return [plotly_text(value) for value in values]


def _layout(figure: go.Figure, title: str) -> go.Figure:
    figure.update_layout(
        title=title, margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=340, legend_title_text=""
    )
    return figure


def ack_bins(pages: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """The edges of the ack-time histogram's bins, and the bin of each acknowledged page."""
    minutes = pages["ack_minutes"].dropna()
    edges = np.histogram_bin_edges(minutes, bins=ACK_BINS) if len(minutes) else np.zeros(1)
    found = np.searchsorted(edges, minutes.to_numpy(), side="right") - 1
    return edges, pd.Series(found.clip(0, ACK_BINS - 1), index=minutes.index)  # last bin closed


def ack_distribution(pages: pd.DataFrame) -> go.Figure:
    """Minutes to acknowledge (binned here, so years of pages stay light), with the target line."""
    edges, found = ack_bins(pages)
    counts = np.bincount(found, minlength=len(edges) - 1)
    bins = pd.DataFrame({"minutes": edges[:-1], "pages": counts, "width": np.diff(edges)})
    figure = px.bar(bins, x="minutes", y="pages", labels={"minutes": "minutes to acknowledge"})
    figure.update_traces(width=bins["width"], offset=0)
    target = handbook.ACK_TARGET.total_seconds() / 60
    figure.add_vline(
        x=target, line_dash="dash", line_color=LATE, annotation_text=f"{target:.0f} min target"
    )
    return _layout(figure, "Time to acknowledge pages")


def ack_trend(pages: pd.DataFrame) -> go.Figure:
    """Median minutes to acknowledge by month."""
    acked = pages.dropna(subset=["ack_minutes"]).copy()
    acked["month"] = acked["triggered"].dt.strftime("%Y-%m")
    monthly = acked.groupby("month", as_index=False)["ack_minutes"].median()
    figure = px.line(
        monthly,
        x="month",
        y="ack_minutes",
        markers=True,
        labels={"ack_minutes": "median minutes", "month": ""},
    )
    return _layout(figure, "Acknowledgement trend (median by month)")


def cadence_matrix(gaps: pd.DataFrame) -> go.Figure:
    """Share of gaps on time by severity and state, drawn as squares so that each can be
    clicked (Streamlit reports no clicks on heatmap cells)."""
    cells = (
        gaps.assign(on_time=gaps["on_time"].astype(float))
        .groupby(["severity", "state"], observed=True)["on_time"]
        .agg(["mean", "size"])
        .reset_index()
    )
    cells = cells[cells["state"].isin(STATES)]
    percent = 100 * cells["mean"]
    figure = go.Figure(
        go.Scatter(
            x=cells["state"].astype(str),
            y="S" + cells["severity"].astype(str),
            mode="markers+text",
            text=percent.map("{:.0f}".format),
            customdata=cells["size"],
            marker={
                "symbol": "square",
                "size": 56,
                "color": percent,
                "cmin": 0,
                "cmax": 100,
                "colorscale": "RdYlGn",
                "colorbar": {"title": {"text": "% on time"}},
            },
            hovertemplate="%{y} while %{x}: %{text}% of %{customdata} on time<extra></extra>",
        )
    )
    figure.update_xaxes(
        title="state", categoryorder="array", categoryarray=STATES, range=[-0.5, len(STATES) - 0.5]
    )
    figure.update_yaxes(
        title="severity",
        categoryorder="array",
        categoryarray=SEVERITIES[::-1],
        range=[-0.5, len(SEVERITIES) - 0.5],
    )
    return _layout(figure, "Updates on time (%) by severity and state")


def overdue_over_time(gaps: pd.DataFrame) -> go.Figure:
    """Overdue updates per month, with the median minutes late in the hover."""
    late = gaps[~gaps["on_time"].astype(bool)]
    monthly = (
        late.assign(month=late["end"].dt.strftime("%Y-%m"))
        .groupby("month", as_index=False)["overdue_minutes"]
        .agg(overdue="size", median_minutes="median")
    )
    figure = px.bar(
        monthly,
        x="month",
        y="overdue",
        color_discrete_sequence=[LATE],
        hover_data={"median_minutes": ":.1f"},
        labels={"month": "", "overdue": "overdue updates", "median_minutes": "median minutes late"},
    )
    return _layout(figure, "Overdue updates over time")


def handover_by_person(shifts: pd.DataFrame) -> go.Figure:
    """Shifts handed over or not, per person."""
    counts = (
        shifts.assign(outcome=shifts["handed_over"].map({True: "handed over", False: "missing"}))
        .groupby(["person", "outcome"], as_index=False)
        .size()
    )
    counts["person"] = _shown(counts["person"])
    figure = px.bar(
        counts,
        x="person",
        y="size",
        color="outcome",
        barmode="stack",
        color_discrete_map={"handed over": ON_TIME, "missing": LATE},
        labels={"size": "shifts", "person": ""},
    )
    return _layout(figure, "Handover issue after each shift")


def training_grid(grid: pd.DataFrame) -> go.Figure:
    """Who trained in which quarter."""
    table = grid.assign(trained=grid["trained"].astype(int)).pivot_table(
        index="person", columns="quarter", values="trained", aggfunc="max"
    )
    table.index = pd.Index(_shown(table.index), name=table.index.name)
    table.columns = pd.Index(_shown(table.columns), name=table.columns.name)
    figure = px.imshow(
        table,
        zmin=0,
        zmax=1,
        color_continuous_scale=[LATE, ON_TIME],
        aspect="auto",
        labels={"color": "trained"},
    )
    figure.update_coloraxes(showscale=False)
    return _layout(figure, "Training per quarter")


def contact_requests(by_assignee: Sequence[AssigneeRequests]) -> go.Figure:
    """Contact requests opened and completed per assignee."""
    table = pd.DataFrame(by_assignee, columns=["person", "opened", "completed"])
    table["person"] = _shown(table["person"])
    long = table.melt(
        id_vars="person", value_vars=["opened", "completed"], var_name="figure", value_name="count"
    )
    figure = px.bar(
        long, x="person", y="count", color="figure", barmode="group", labels={"person": ""}
    )
    return _layout(figure, "Contact requests")


STATE_COLOURS = {"Investigating": "#f57c00", "Identified": "#fbc02d", "Monitoring": "#1976d2"}


def incident_timeline(timeline: Any) -> go.Figure:
    """State phases as bars, updates as markers, due windows shaded, overdue stretches red."""
    figure = go.Figure()
    for state, start, end in timeline.phases:
        name = plotly_text(state)
        figure.add_trace(
            go.Scatter(
                x=[start, end],
                y=["state", "state"],
                mode="lines",
                name=name,
                line={"width": 18, "color": STATE_COLOURS.get(state, "#888")},
                legendgroup=name,
                showlegend=name not in {t.name for t in figure.data},
            )
        )
    for gap in timeline.gaps:
        figure.add_vrect(x0=gap.start, x1=gap.due, fillcolor=ON_TIME, opacity=0.08, line_width=0)
        if not gap.on_time:
            figure.add_trace(
                go.Scatter(
                    x=[gap.due, gap.end],
                    y=["updates", "updates"],
                    mode="lines",
                    name="overdue",
                    line={"width": 6, "color": LATE},
                    showlegend=False,
                )
            )
    figure.add_trace(
        go.Scatter(
            x=[at for at, _ in timeline.updates],
            y=["updates"] * len(timeline.updates),
            mode="markers",
            name="update",
            marker={"size": 11, "symbol": "diamond", "color": "#455a64"},
            text=_shown(state for _, state in timeline.updates),
        )
    )
    if timeline.events:
        figure.add_trace(
            go.Scatter(
                x=[at for _, at in timeline.events],
                y=["events"] * len(timeline.events),
                mode="markers",
                name="page and label",
                marker={"size": 10, "color": "#6a1b9a"},
                hovertext=_shown(label for label, _ in timeline.events),
                hoverinfo="text+x",
            )
        )
    figure.update_yaxes(categoryorder="array", categoryarray=["events", "updates", "state"])
    return _layout(figure, "Timeline (due windows shaded, overdue in red)")


def picked(chart: str, points: list[dict[str, Any]], rows: dict[str, pd.DataFrame]) -> Any:
    """The (title, rows) behind the point clicked on a chart, or None when nothing is picked."""
    if not points:
        return None
    point = points[0]
    pages, gaps, shifts = rows["pages"], rows["gaps"], rows["shifts"]
    if chart == "ack":  # one bar per bin, in order
        edges, found = ack_bins(pages)
        chosen = int(point["point_index"])
        low, high = edges[chosen], edges[chosen + 1]
        title = f"Pages acknowledged in {low:.1f} to {high:.1f} minutes"
        return title, pages.loc[found.index[found == chosen]]
    if chart == "ack_trend":
        month = str(point["x"])[:7]
        return f"Pages of {month}", pages[pages["triggered"].dt.strftime("%Y-%m") == month]
    if chart == "cadence":
        severity, state = str(point["y"]), str(point["x"])
        cell = (gaps["severity"] == int(severity[1:])) & (gaps["state"] == state)
        return f"{severity} updates while {state}", gaps[cell]
    if chart == "handover":  # the axis shows names escaped for Plotly
        person = html.unescape(str(point["x"]))
        return f"Shifts of {person}", shifts[shifts["person"] == person]
    if chart == "overdue":
        month = str(point["x"])[:7]
        late = gaps[~gaps["on_time"].astype(bool)]
        return f"Overdue updates in {month}", late[late["end"].dt.strftime("%Y-%m") == month]
    return None
