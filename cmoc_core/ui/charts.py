"""Plotly figures for the KPI dashboard; readable in light and dark themes."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cmoc_core import handbook
from cmoc_core.kpi_results import AssigneeRequests

ON_TIME, LATE = "#2e7d32", "#d32f2f"
STATES = [state.name.title() for state in handbook.IncidentState]
SEVERITIES = ["S1", "S2", "S3", "S4"]
# Steps a histogram may take, in minutes: the widest that divides the target into whole bars
# and still draws at least MIN_BARS bars up to TOP_TARGETS times the target.
STEPS = (60, 30, 20, 15, 10, 5, 3, 2, 1)
MIN_BARS = 12
TOP_TARGETS = 4


def plotly_text(text: object) -> str:
    """Outside text for a Plotly label (axis, hover, legend, title): shown, never read as HTML."""
    return html.escape(str(text), quote=False)


def _shown(values: Iterable[Any]) -> list[str]:
    return [plotly_text(value) for value in values]


def _figure(traces: Any, title: str, **layout: Any) -> go.Figure:
    """A chart of `traces` titled `title`, `layout` given as Plotly's dict of it: made in one go,
    as each later update costs Plotly a pass over the whole figure (5 ms a chart)."""
    frame = {"margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "height": 340}
    legend = {"legend": {"title": {"text": ""}}}
    return go.Figure(traces, layout={"title": {"text": title}, **frame, **legend, **layout})


def _axis(title: str | None = None, **more: Any) -> dict[str, Any]:
    """An axis of `_figure`'s layout, titled `title`."""
    return ({"title": {"text": title}} if title else {}) | more


def _target(*, x: float | None = None, y: float | None = None) -> dict[str, Any]:
    """A dashed target line across the chart at `x` (upright) or `y`, named in its corner."""
    text = f"{x if y is None else y:g} min target"
    if y is None:
        line = {"xref": "x", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1}
        label = {"x": x, "xref": "x", "xanchor": "left", "y": 1, "yref": "paper", "yanchor": "top"}
    else:
        line = {"xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y}
        label = {
            "x": 1,
            "xref": "paper",
            "xanchor": "right",
            "y": y,
            "yref": "y",
            "yanchor": "bottom",
        }
    return {
        "shapes": [{"type": "line", "line": {"dash": "dash", "color": LATE}, **line}],
        "annotations": [{"text": text, "showarrow": False, **label}],
    }


@dataclass(frozen=True)
class MinuteBins:
    """Histogram bins around a target: equal steps from 0 with an edge on the target, up to
    `top`, then one bar for everything over it, so that no outlier stretches the scale."""

    target: float
    step: float
    top: float

    @classmethod
    def around(cls, target: float) -> MinuteBins:
        """Bins for a target: 15 min gives 0-60 in steps of 5, 30 min 0-120 in steps of 10."""
        top = TOP_TARGETS * target
        step = next(
            (s for s in STEPS if target % s == 0 and top / s >= MIN_BARS), target / MIN_BARS
        )
        return cls(target=target, step=step, top=top)

    @property
    def edges(self) -> np.ndarray:
        """The edges of the regular bars, from 0 to `top`."""
        return np.linspace(0, self.top, round(self.top / self.step) + 1)

    @property
    def over(self) -> int:
        """The index of the "over `top`" bar, after the regular ones."""
        return len(self.edges) - 1

    def of(self, minutes: pd.Series) -> pd.Series:
        """The bar of each value: (low, high] like the target's `<=`, anything up to the first
        edge in the first bar and anything over `top` in the last one."""
        found = np.searchsorted(self.edges, minutes.to_numpy(dtype=float), side="left") - 1
        return pd.Series(found.clip(0, self.over), index=minutes.index)

    def label(self, index: int) -> str:
        """A bar's range in words: `up to 5 min`, `10–15 min`, `over 60 min`."""
        if index >= self.over:
            return f"over {self.top:g} min"
        if index == 0:
            return f"up to {self.edges[1]:g} min"
        return f"{self.edges[index]:g}–{self.edges[index + 1]:g} min"

    def picked_words(self, index: int) -> str:
        """A bar's range as a phrase ending a title: `in 10 to 15 minutes`."""
        if index >= self.over:
            return f"after more than {self.top:g} minutes"
        if index == 0:
            return f"within {self.edges[1]:g} minutes"
        return f"in more than {self.edges[index]:g} and up to {self.edges[index + 1]:g} minutes"


def ack_bins(pages: pd.DataFrame) -> tuple[MinuteBins, pd.Series]:
    """The ack-time histogram's bins, and the bar of each acknowledged page."""
    bins = MinuteBins.around(handbook.ACK_TARGET.total_seconds() / 60)
    return bins, bins.of(pages["ack_minutes"].dropna())


def first_update_bins(firsts: pd.DataFrame, target: float) -> tuple[MinuteBins, pd.Series]:
    """The first-public-update histogram's bins, and the bar of each incident."""
    bins = MinuteBins.around(target)
    return bins, bins.of(firsts["minutes"].dropna())


def _histogram(
    bins: MinuteBins, found: pd.Series, *, title: str, axis: str, counted: str
) -> go.Figure:
    """Bars of `found` per bin: within the target green, over it red, the last one hatched and
    labelled as the catch-all it is; a dashed line on the target."""
    counts = np.bincount(found.to_numpy(dtype=np.int64), minlength=bins.over + 1)
    edges, step = bins.edges, bins.step
    centres = [*(edges[:-1] + step / 2), bins.top + step]  # a half-step gap before the last
    labels = [bins.label(index) for index in range(bins.over + 1)]
    colours = [ON_TIME if high <= bins.target else LATE for high in edges[1:]] + [LATE]
    # The last edge goes unlabelled: the "over" bar's own tick sits right beside it.
    ticks = [*edges[:-1][:: max(1, len(edges) // 6)], centres[-1]]
    return _figure(
        go.Bar(
            x=centres,
            y=counts,
            width=[step * 0.95] * len(centres),
            customdata=labels,
            marker={
                "color": colours,
                "pattern": {"shape": [""] * bins.over + ["/"]},
            },
            text=[""] * bins.over + [labels[-1]],
            textposition="outside",
            textangle=0,
            constraintext="none",
            textfont={"size": 12},
            cliponaxis=False,
            hovertemplate=f"%{{customdata}}: %{{y}} {counted}<extra></extra>",
        ),
        title,
        xaxis=_axis(
            axis,
            tickvals=ticks,
            ticktext=[f"{tick:g}" for tick in ticks[:-1]] + [f"> {bins.top:g}"],
            range=[0, bins.top + 2 * step],
        ),
        yaxis=_axis(counted),
        **_target(x=bins.target),
    )


def ack_distribution(pages: pd.DataFrame) -> go.Figure:
    """Minutes to acknowledge (binned here, so years of pages stay light), with the target line."""
    bins, found = ack_bins(pages)
    return _histogram(
        bins,
        found,
        title="Time to acknowledge pages",
        axis="minutes to acknowledge",
        counted="pages",
    )


def first_update_distribution(firsts: pd.DataFrame, target: float) -> go.Figure:
    """Minutes from the page to the first status-page message, with the target line."""
    bins, found = first_update_bins(firsts, target)
    return _histogram(
        bins,
        found,
        title="Time to first public update",
        axis="minutes from the page to the first status-page message",
        counted="incidents",
    )


def first_update_trend(firsts: pd.DataFrame, target: float) -> go.Figure:
    """Median minutes to the first public update by month, with the target line."""
    monthly = (
        firsts.assign(month=firsts["first_update"].dt.strftime("%Y-%m"))
        .groupby("month", as_index=False)["minutes"]
        .agg(median="median", incidents="size")
    )
    return _figure(
        go.Scatter(
            x=monthly["month"],
            y=monthly["median"],
            mode="lines+markers",
            customdata=monthly["incidents"],
            hovertemplate="%{x}: median %{y:.1f} min over %{customdata} incidents<extra></extra>",
        ),
        "First public update trend (median by month)",
        yaxis=_axis("median minutes"),
        **_target(y=target),
    )


def announced_kept(gaps: pd.DataFrame) -> go.Figure:
    """Updates that announced their next one, per month: promise kept or broken."""
    announced = gaps[gaps["announced"].astype(bool)]
    monthly = (
        announced.assign(
            month=announced["end"].dt.strftime("%Y-%m"),
            outcome=announced["on_time"].astype(bool).map({True: "kept", False: "broken"}),
        )
        .groupby(["month", "outcome"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=["kept", "broken"], fill_value=0)
    )
    return _figure(
        [
            go.Bar(
                x=list(monthly.index),
                y=monthly[outcome],
                name=f"promise {outcome}",
                customdata=[outcome] * len(monthly),
                marker_color=colour,
                hovertemplate=f"%{{x}}: %{{y}} {outcome}<extra></extra>",
            )
            for outcome, colour in (("kept", ON_TIME), ("broken", LATE))
        ],
        "Announced next updates kept",
        barmode="stack",
        yaxis=_axis("announced updates"),
    )


def ack_trend(pages: pd.DataFrame) -> go.Figure:
    """Median minutes to acknowledge by month."""
    acked = pages.dropna(subset=["ack_minutes"]).copy()
    acked["month"] = acked["triggered"].dt.strftime("%Y-%m")
    monthly = acked.groupby("month", as_index=False)["ack_minutes"].median()
    return _figure(
        go.Scatter(
            x=monthly["month"],
            y=monthly["ack_minutes"],
            mode="lines+markers",
            hovertemplate="%{x}: median %{y:.1f} min<extra></extra>",
        ),
        "Acknowledgement trend (median by month)",
        yaxis=_axis("median minutes"),
    )


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
    return _figure(
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
        ),
        "Updates on time (%) by severity and state",
        xaxis=_axis(
            "state",
            categoryorder="array",
            categoryarray=STATES,
            range=[-0.5, len(STATES) - 0.5],
        ),
        yaxis=_axis(
            "severity",
            categoryorder="array",
            categoryarray=SEVERITIES[::-1],
            range=[-0.5, len(SEVERITIES) - 0.5],
        ),
    )


def overdue_over_time(gaps: pd.DataFrame) -> go.Figure:
    """Overdue updates per month, with the median minutes late in the hover."""
    late = gaps[~gaps["on_time"].astype(bool)]
    monthly = (
        late.assign(month=late["end"].dt.strftime("%Y-%m"))
        .groupby("month", as_index=False)["overdue_minutes"]
        .agg(overdue="size", median_minutes="median")
    )
    return _figure(
        go.Bar(
            x=monthly["month"],
            y=monthly["overdue"],
            marker_color=LATE,
            customdata=monthly["median_minutes"],
            hovertemplate=(
                "%{x}: %{y} overdue updates, median %{customdata:.1f} minutes late<extra></extra>"
            ),
        ),
        "Overdue updates over time",
        yaxis=_axis("overdue updates"),
    )


def handover_by_person(shifts: pd.DataFrame) -> go.Figure:
    """Shifts handed over or not, per person."""
    done = shifts["handed_over"].astype(bool)
    counts = (
        shifts.assign(done=done, missing=~done)
        .groupby("person", observed=True)[["done", "missing"]]
        .sum()
    )
    names = _shown(counts.index)
    return _figure(
        [
            go.Bar(
                x=names,
                y=counts[column],
                name=outcome,
                marker_color=colour,
                hovertemplate=f"%{{x}}: %{{y}} shifts {outcome}<extra></extra>",
            )
            for column, outcome, colour in (
                ("done", "handed over", ON_TIME),
                ("missing", "missing", LATE),
            )
        ],
        "Handover issue after each shift",
        barmode="stack",
        yaxis=_axis("shifts"),
    )


def training_grid(grid: pd.DataFrame) -> go.Figure:
    """Who trained in which quarter."""
    table = grid.assign(trained=grid["trained"].astype(int)).pivot_table(
        index="person", columns="quarter", values="trained", aggfunc="max"
    )
    table.index = pd.Index(_shown(table.index), name=table.index.name)
    table.columns = pd.Index(_shown(table.columns), name=table.columns.name)
    trained = table.to_numpy()
    return _figure(
        go.Heatmap(
            z=trained,
            x=list(table.columns),
            y=list(table.index),
            zmin=0,
            zmax=1,
            colorscale=[LATE, ON_TIME],
            showscale=False,
            hoverongaps=False,  # a quarter the person was not on the rota
            customdata=np.where(trained == 1, "trained", "not trained"),
            hovertemplate="%{y}, %{x}: %{customdata}<extra></extra>",
        ),
        "Training per quarter",
        yaxis=_axis(autorange="reversed"),
    )


def contact_requests(by_assignee: Sequence[AssigneeRequests]) -> go.Figure:
    """Contact requests opened and completed per assignee."""
    table = pd.DataFrame(by_assignee, columns=["person", "opened", "completed"])
    table["person"] = _shown(table["person"])
    return _figure(
        [
            go.Bar(x=list(table["person"]), y=list(table[column]), name=column)
            for column in ("opened", "completed")
        ],
        "Contact requests",
        barmode="group",
        yaxis=_axis("count"),
    )


STATE_COLOURS = {"Investigating": "#f57c00", "Identified": "#fbc02d", "Monitoring": "#1976d2"}


def incident_timeline(timeline: Any) -> go.Figure:
    """State phases as bars, updates as markers, due windows shaded, overdue stretches red."""
    traces, named = [], set()
    for state, start, end in timeline.phases:
        name = plotly_text(state)
        traces.append(
            go.Scatter(
                x=[start, end],
                y=["state", "state"],
                mode="lines",
                name=name,
                line={"width": 18, "color": STATE_COLOURS.get(state, "#888")},
                legendgroup=name,
                showlegend=name not in named,
            )
        )
        named.add(name)
    traces += [
        go.Scatter(
            x=[gap.due, gap.end],
            y=["updates", "updates"],
            mode="lines",
            name="overdue",
            line={"width": 6, "color": LATE},
            showlegend=False,
        )
        for gap in timeline.gaps
        if not gap.on_time
    ]
    traces.append(
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
        traces.append(
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
    due_windows = [
        {
            "type": "rect",
            "xref": "x",
            "x0": gap.start,
            "x1": gap.due,
            "yref": "paper",
            "y0": 0,
            "y1": 1,
            "fillcolor": ON_TIME,
            "opacity": 0.08,
            "line": {"width": 0},
            "layer": "below",
        }
        for gap in timeline.gaps
    ]
    return _figure(
        traces,
        "Timeline (due windows shaded, overdue in red)",
        shapes=due_windows,
        # The page's one date format, to the minute, not Plotly's own ("Nov 29, 2026").
        xaxis=_axis("UTC", tickformat="%H:%M<br>%d-%m-%Y", hoverformat="%d-%m-%Y %H:%M"),
        yaxis=_axis(categoryorder="array", categoryarray=["events", "updates", "state"]),
    )


def picked(
    chart: str,
    points: list[dict[str, Any]],
    rows: dict[str, pd.DataFrame],
    *,
    target: float = 30,
) -> Any:
    """The (title, rows) behind the point clicked on a chart, or None when nothing is picked;
    `target` is the first-public-update target its histogram was binned around."""
    if not points:
        return None
    point = points[0]
    pages, gaps, shifts = rows["pages"], rows["gaps"], rows["shifts"]
    if chart == "ack":  # one bar per bin, in order
        bins, found = ack_bins(pages)
        chosen = int(point["point_index"])
        title = f"Pages acknowledged {bins.picked_words(chosen)}"
        return title, pages.loc[found.index[found == chosen]]
    if chart == "first_update":
        firsts = rows["first_updates"]
        bins, found = first_update_bins(firsts, target)
        chosen = int(point["point_index"])
        title = f"Incidents first published {bins.picked_words(chosen)} after the page"
        return title, firsts.loc[found.index[found == chosen]]
    if chart == "first_update_trend":
        month = str(point["x"])[:7]
        firsts = rows["first_updates"]
        chosen_rows = firsts[firsts["first_update"].dt.strftime("%Y-%m") == month]
        return f"First public updates of {month}", chosen_rows
    if chart == "announced":
        month = str(point["x"])[:7]
        outcome = point.get("customdata")
        outcome = outcome[0] if isinstance(outcome, list) else outcome
        announced = gaps[gaps["announced"].astype(bool)]
        chosen_rows = announced[announced["end"].dt.strftime("%Y-%m") == month]
        if outcome in ("kept", "broken"):
            chosen_rows = chosen_rows[chosen_rows["on_time"].astype(bool) == (outcome == "kept")]
            return f"Announced updates {outcome} in {month}", chosen_rows
        return f"Announced updates in {month}", chosen_rows
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
