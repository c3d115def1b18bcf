from typing import Any

import pandas as pd
import streamlit as st

from cmoc_core.kpi_results import rounded
from cmoc_core.kpis import (
    Selection,
    ack_figures,
    cadence_figures,
    handover_figures,
    per_person,
    selected_grid,
)
from cmoc_core.kpis import selected_rows as rows_for
from cmoc_core.ui import charts, deps, widgets
from cmoc_core.ui.kpi_data import report_for

SHOWN_ROWS = 1_000

context = deps.app_context()
st.title("CMOC performance indicators")

since, until = widgets.period_preset(key="kpis_period")
report = report_for(context, since, until)
previous = report_for(context, since - (until - since), since)
people = sorted({row.person for row in report.per_person})
person_col, region_col, severity_col = st.columns(3)
person = person_col.selectbox("Person", ["Everyone", *people], key="kpis_person")
region = region_col.selectbox(
    "Region", ["All regions", *sorted(set(report.regions.values()))], key="kpis_region"
)
severities = severity_col.multiselect("Severity", ["S1", "S2", "S3", "S4"], key="kpis_severity")
selection = Selection(
    person=None if person == "Everyone" else person,
    region=None if region == "All regions" else region,
    severities=tuple(int(label[1]) for label in severities),
)
rows, before = rows_for(report, selection), rows_for(previous, selection)
pages, gaps, shifts = rows["pages"], rows["gaps"], rows["shifts"]
grid = selected_grid(report, selection)

ack, cadence, handover = ack_figures(pages), cadence_figures(gaps), handover_figures(shifts)
tiles = st.columns(6)
widgets.trend_tile(
    tiles[0],
    "Acknowledged ≤ 15 min",
    ack.within_target_pct,
    ack_figures(before["pages"]).within_target_pct,
    help=f"{ack.within_target} of {ack.pages} pages; target 100%",
)
widgets.trend_tile(
    tiles[1],
    "Updates on time",
    cadence.on_time_pct,
    cadence_figures(before["gaps"]).on_time_pct,
    help=f"{cadence.on_time} of {cadence.gaps} gaps; target 100%",
)
# The whole-rotation tiles show the figures as the report prints them (2 decimals).
widgets.trend_tile(
    tiles[2],
    "Incidents with a stakeholder thread",
    rounded(report.stakeholder_threads.with_thread_pct),
    rounded(previous.stakeholder_threads.with_thread_pct),
    help="Whole rotation; target 100%",
)
widgets.trend_tile(
    tiles[3],
    "Shifts handed over",
    handover.handed_over_pct,
    handover_figures(before["shifts"]).handed_over_pct,
    help=f"{handover.handed_over} of {handover.shifts}; target 100%",
)
tiles[4].metric(
    "Contact requests completed",
    widgets.ratio(rounded(report.contact_requests.completed_per_opened)),
    help="Completed per opened, whole rotation",
)
widgets.trend_tile(
    tiles[5],
    "Trained each quarter",
    100 * grid["trained"].mean() if len(grid) else None,
    None,
    help="CMOCs with a training activity in each quarter of the period; target 100%",
)

left, right = st.columns(2)
clickable: dict[str, Any] = {"on_select": "rerun", "selection_mode": "points"}
picks = []
if pages["ack_minutes"].notna().any():
    chart = charts.ack_distribution(pages)
    picks.append(("ack", left.plotly_chart(chart, key="kpis_ack_chart", **clickable)))
    chart = charts.ack_trend(pages)
    picks.append(("ack_trend", right.plotly_chart(chart, key="kpis_ack_trend", **clickable)))
if not gaps.empty:
    chart = charts.cadence_matrix(gaps)
    picks.append(("cadence", left.plotly_chart(chart, key="kpis_cadence_chart", **clickable)))
    chart = charts.overdue_over_time(gaps)
    picks.append(("overdue", right.plotly_chart(chart, key="kpis_overdue_chart", **clickable)))
if not shifts.empty:
    chart = charts.handover_by_person(shifts)
    picks.append(("handover", left.plotly_chart(chart, key="kpis_handover_chart", **clickable)))
if len(grid):
    right.plotly_chart(charts.training_grid(grid), key="kpis_training_chart")
by_assignee = report.contact_requests.by_assignee
if by_assignee:
    left.plotly_chart(charts.contact_requests(by_assignee), key="kpis_contact_chart")

st.subheader("Behind the figures")
drill = {
    "Pages not acknowledged within 15 minutes": pages[~(pages["ack_minutes"] <= 15)],
    "Overdue updates": gaps[~gaps["on_time"].astype(bool)],
    "Shifts without a handover issue": shifts[~shifts["handed_over"].astype(bool)],
    "All pages": pages,
    "All status updates": gaps,
    "All shifts": shifts,
    "Per person": pd.DataFrame(per_person(pages, gaps, shifts)),
    "Training per quarter": grid,
    "Contact requests by assignee": pd.DataFrame(
        by_assignee, columns=["person", "opened", "completed"]
    ),
}
chosen = [
    found for name, event in picks if (found := charts.picked(name, event.selection.points, rows))
]
if chosen:
    shown, table = chosen[0]
    picked = widgets.escape_markdown(shown)
    st.caption(f"Picked on a chart: **{picked}**. Click the chart again to clear it.")
else:
    shown = st.selectbox("Show", list(drill), key="kpis_drill")
    table = drill[shown]
st.dataframe(table.head(SHOWN_ROWS), hide_index=True)
count = f"{widgets.escape_markdown(shown)}: {len(table):,} rows"
if len(table) > SHOWN_ROWS:
    count += f", the first {SHOWN_ROWS:,} shown here; the CSV has them all"
st.caption(count + ".")
st.download_button(
    "Download CSV",
    lambda: table.to_csv(index=False),
    file_name="cmoc-kpis.csv",
    mime="text/csv",
    key="kpis_csv",
)
