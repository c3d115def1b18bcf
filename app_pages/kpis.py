from typing import Any

import pandas as pd
import streamlit as st

from cmoc_core.kpi_report import (
    Selection,
    ack_figures,
    announced_figures,
    cadence_figures,
    first_update_figures,
    handover_figures,
    per_person,
    selected_grid,
)
from cmoc_core.kpi_report import selected_rows as rows_for
from cmoc_core.kpi_results import rounded
from cmoc_core.timeutil import utc_now
from cmoc_core.ui import charts, deps, widgets
from cmoc_core.ui.kpi_data import (
    PERSON_HEADINGS,
    ROW_HEADINGS,
    ReportScope,
    Shown,
    csv_name,
    csv_text,
    draw_rows,
    minutes_tile,
    percent_tile,
    readable,
    report_for,
    unmatched_notice,
)

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
firsts = rows["first_updates"]
grid, grid_before = selected_grid(report, selection), selected_grid(previous, selection)
target = report.first_public_update.target_minutes

ack, cadence, handover = ack_figures(pages), cadence_figures(gaps), handover_figures(shifts)
ack_before = ack_figures(before["pages"])
first, first_before = (
    first_update_figures(firsts, target),
    first_update_figures(before["first_updates"], target),
)
announced = announced_figures(gaps)
shown = Shown()  # the tiles and charts as drawn, for the report
row = shown.kept(widgets.tiles())  # one row that wraps, each tile as wide as its words
percent_tile(
    row,
    "Acknowledged ≤ 15 min",
    ack.within_target_pct,
    ack_before.within_target_pct,
    help=f"{ack.within_target} of {ack.pages} pages; target 100%",
)
minutes_tile(
    row,
    "Median time to acknowledge",
    ack.median_minutes,
    ack_before.median_minutes,
    help=f"Over {ack.acknowledged} acknowledged pages; target 15 min at most",
)
percent_tile(
    row,
    "Updates on time",
    cadence.on_time_pct,
    cadence_figures(before["gaps"]).on_time_pct,
    help=f"{cadence.on_time} of {cadence.gaps} gaps; target 100%",
)
percent_tile(
    row,
    "Announced updates kept",
    announced.kept_pct,
    announced_figures(before["gaps"]).kept_pct,
    help=(
        f"{announced.kept} of {announced.announced} updates that announced the next one "
        "were followed by it in time; target 100%"
    ),
)
percent_tile(
    row,
    f"First public update ≤ {target} min",
    first.within_target_pct,
    first_before.within_target_pct,
    help=(
        f"{first.within_target} of {first.incidents} incidents with a CMOC page were on the "
        "status page within the target after the page; target 100%"
    ),
)
minutes_tile(
    row,
    "Median time to first public update",
    first.median_minutes,
    first_before.median_minutes,
    help=f"From the page to the first status-page message, over {first.incidents} incidents",
)
# The whole-rotation tiles show the figures as the report prints them (2 decimals).
percent_tile(
    row,
    "Incidents with a stakeholder thread",
    rounded(report.stakeholder_threads.with_thread_pct),
    rounded(previous.stakeholder_threads.with_thread_pct),
    help="Whole rotation; target 100%",
)
percent_tile(
    row,
    "Shifts handed over",
    handover.handed_over_pct,
    handover_figures(before["shifts"]).handed_over_pct,
    help=f"{handover.handed_over} of {handover.shifts}; target 100%",
)
row.metric(
    "Contact requests completed",
    widgets.ratio(rounded(report.contact_requests.completed_per_opened)),
    help="Completed per opened, whole rotation",
    width="content",
)
percent_tile(
    row,
    "Trained each quarter",
    100 * grid["trained"].mean() if len(grid) else None,
    100 * grid_before["trained"].mean() if len(grid_before) else None,
    help="CMOCs with a training activity in each quarter of the period; target 100%",
)

left, right = (shown.kept(column) for column in st.columns(2))
clickable: dict[str, Any] = {"on_select": "rerun", "selection_mode": "points"}
picks = []
if pages["ack_minutes"].notna().any():
    chart = charts.ack_distribution(pages)
    picks.append(("ack", left.plotly_chart(chart, key="kpis_ack_chart", **clickable)))
    chart = charts.ack_trend(pages)
    picks.append(("ack_trend", right.plotly_chart(chart, key="kpis_ack_trend", **clickable)))
if not firsts.empty:
    chart = charts.first_update_distribution(firsts, target)
    picks.append(("first_update", left.plotly_chart(chart, key="kpis_first_chart", **clickable)))
    chart = charts.first_update_trend(firsts, target)
    picks.append(
        ("first_update_trend", right.plotly_chart(chart, key="kpis_first_trend", **clickable))
    )
if not gaps.empty:
    chart = charts.cadence_matrix(gaps)
    picks.append(("cadence", left.plotly_chart(chart, key="kpis_cadence_chart", **clickable)))
    chart = charts.overdue_over_time(gaps)
    picks.append(("overdue", right.plotly_chart(chart, key="kpis_overdue_chart", **clickable)))
if gaps["announced"].astype(bool).any():
    chart = charts.announced_kept(gaps)
    picks.append(("announced", left.plotly_chart(chart, key="kpis_announced_chart", **clickable)))
if not shifts.empty:
    chart = charts.handover_by_person(shifts)
    picks.append(("handover", right.plotly_chart(chart, key="kpis_handover_chart", **clickable)))
if len(grid):
    left.plotly_chart(charts.training_grid(grid), key="kpis_training_chart")
by_assignee = report.contact_requests.by_assignee
if by_assignee:
    right.plotly_chart(charts.contact_requests(by_assignee), key="kpis_contact_chart")

st.subheader("Per person")
unmatched_notice(report.unmatched)
people_table = readable(pd.DataFrame(per_person(pages, gaps, shifts, firsts)), PERSON_HEADINGS)
draw_rows(people_table, key="kpis_people")
people_file = csv_name("per person", since, until)
st.download_button(
    "Download per-person CSV",
    csv_text(people_table),
    file_name=people_file,
    mime="text/csv",
    help=f"Saves this table as {people_file}, numbers rounded as shown.",
    key="kpis_people_csv",
)

st.subheader("Report")
scope = ReportScope(
    since,
    until,
    (f"Person: {person}", f"Region: {region}", f"Severity: {', '.join(severities) or 'all'}"),
)
report_file = csv_name("kpis report", since, until, extension="pdf")
if st.button(
    "Prepare report",
    help="Draws the tiles, charts and per-person table above as one PDF, for a review.",
    key="kpis_report_prepare",
):
    from cmoc_core.ui.kpi_pdf import ReportNotDrawn, report_pdf  # on demand: see its module

    try:
        with st.spinner("Drawing the charts…"):
            pdf = report_pdf(scope, shown.tiles, shown.figures, people_table, drawn_at=utc_now())
    except ReportNotDrawn as problem:
        st.warning(str(problem), icon=":material/picture_as_pdf:")
    else:
        st.session_state["kpis_report_pdf"] = {scope: pdf}  # only the latest, for this choice
if pdf := st.session_state.get("kpis_report_pdf", {}).get(scope):
    st.download_button(
        "Download report",
        pdf,
        file_name=report_file,
        mime="application/pdf",
        on_click="ignore",
        help=f"Saves the report for {scope.period} as {report_file}.",
        key="kpis_report",
    )

st.subheader("Behind the figures")
announced_rows = gaps[gaps["announced"].astype(bool)]
drill = {  # what the list shows: (file name words, rows)
    "Pages not acknowledged within 15 minutes": ("late acks", pages[~(pages["ack_minutes"] <= 15)]),
    "Overdue updates": ("overdue updates", gaps[~gaps["on_time"].astype(bool)]),
    "Announced updates not kept": (
        "announced updates not kept",
        announced_rows[~announced_rows["on_time"].astype(bool)],
    ),
    "First public updates over the target": (
        "late first public updates",
        firsts[~firsts["within_target"].astype(bool)],
    ),
    "Shifts without a handover issue": (
        "shifts without handover",
        shifts[~shifts["handed_over"].astype(bool)],
    ),
    "All pages": ("ack times", pages),
    "All status updates": ("update gaps", gaps),
    "All announced updates": ("announced updates", announced_rows),
    "All first public updates": ("first public updates", firsts),
    "All shifts": ("shifts", shifts),
    "Training per quarter": ("training", grid),
    "Contact requests by assignee": (
        "contact requests",
        pd.DataFrame(by_assignee, columns=["person", "opened", "completed"]),
    ),
}
chosen = [
    found
    for name, event in picks
    if (found := charts.picked(name, event.selection.points, rows, target=target))
]
if chosen:
    shown, table = chosen[0]
    file_words = shown
    picked = widgets.escape_markdown(shown)
    st.caption(f"Picked on a chart: **{picked}**. Click the chart again to clear it.")
else:
    shown = st.selectbox("Show", list(drill), key="kpis_drill")
    file_words, table = drill[shown]
# Only the rows shown are put in words here; the CSV's, when it is asked for.
draw_rows(readable(table.head(SHOWN_ROWS), ROW_HEADINGS))
count = f"{widgets.escape_markdown(shown)}: {len(table):,} rows"
if len(table) > SHOWN_ROWS:
    count += f", the first {SHOWN_ROWS:,} shown here; the CSV has them all"
st.caption(count + ".")
file_name = csv_name(file_words, since, until)
st.download_button(
    "Download CSV",
    lambda: csv_text(readable(table, ROW_HEADINGS)),
    file_name=file_name,
    mime="text/csv",
    help=f"Saves all {len(table):,} rows as {file_name}, numbers rounded as shown.",
    key="kpis_csv",
)
