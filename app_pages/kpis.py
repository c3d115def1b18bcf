import pandas as pd
import streamlit as st

from cmoc_core.ui import charts, deps, widgets
from cmoc_core.ui.kpi_data import report_for

context = deps.app_context()
st.title("CMOC performance indicators")

since, until = widgets.period_preset(key="kpis_period")
report = report_for(context, since, until)
people = sorted({row["person"] for row in report.per_person})
person_col, severity_col = st.columns(2)
person = person_col.selectbox("Person", ["Everyone", *people], key="kpis_person")
severities = severity_col.multiselect(
    "Severity", [1, 2, 3, 4], format_func=lambda s: f"S{s}", key="kpis_severity"
)

pages = pd.DataFrame(
    report.rows.get("pages", []),
    columns=["page", "title", "triggered", "ack_minutes", "person", "statuspage_incident"],
)
gaps = pd.DataFrame(
    report.rows.get("gaps", []),
    columns=[
        "incident",
        "title",
        "start",
        "end",
        "due",
        "severity",
        "state",
        "on_time",
        "overdue_minutes",
        "announced",
        "person",
    ],
)
shifts = pd.DataFrame(
    report.rows.get("shifts", []), columns=["person", "start", "end", "handed_over"]
)
if person != "Everyone":
    pages, gaps, shifts = (f[f["person"] == person] for f in (pages, gaps, shifts))
if severities:
    gaps = gaps[gaps["severity"].isin(severities)]

data = report.as_dict()
tiles = st.columns(6)
ack, cadence = data["ack_time"], data["update_cadence"]
tiles[0].metric(
    "Acknowledged ≤ 15 min",
    widgets.percent(ack["within_target_pct"]),
    help=f"{ack['within_target']} of {ack['pages']} pages; target 100%",
)
tiles[1].metric(
    "Updates on time",
    widgets.percent(cadence["on_time_pct"]),
    help=f"{cadence['on_time']} of {cadence['gaps']} gaps",
)
tiles[2].metric(
    "Incidents with a stakeholder thread",
    widgets.percent(data["stakeholder_threads"]["with_thread_pct"]),
)
tiles[3].metric(
    "Shifts handed over",
    widgets.percent(data["handover"]["handed_over_pct"]),
    help=f"{data['handover']['handed_over']} of {data['handover']['shifts']}",
)
tiles[4].metric(
    "Contact requests completed", widgets.ratio(data["contact_requests"]["completed_per_opened"])
)
tiles[5].metric(
    "Trained this quarter",
    widgets.percent(data["training"]["trained_pct"]),
    help="CMOCs with a training activity in each quarter of the period",
)

left, right = st.columns(2)
if not pages.empty:
    left.plotly_chart(charts.ack_distribution(pages), key="kpis_ack_chart")
    right.plotly_chart(charts.ack_trend(pages), key="kpis_ack_trend")
if not gaps.empty:
    left.plotly_chart(charts.cadence_heatmap(gaps), key="kpis_cadence_chart")
    right.plotly_chart(charts.overdue_over_time(gaps), key="kpis_overdue_chart")
if not shifts.empty:
    left.plotly_chart(charts.handover_by_person(shifts), key="kpis_handover_chart")
if data["training"]["grid"]:
    right.plotly_chart(
        charts.training_grid(pd.DataFrame(data["training"]["grid"])), key="kpis_training_chart"
    )
if data["contact_requests"]["by_assignee"]:
    left.plotly_chart(
        charts.contact_requests(pd.DataFrame(data["contact_requests"]["by_assignee"])),
        key="kpis_contact_chart",
    )

st.subheader("Behind the figures")
drill = {
    "Pages not acknowledged within 15 minutes": pages[~(pages["ack_minutes"] <= 15)],
    "Overdue updates": gaps[~gaps["on_time"].astype(bool)],
    "Shifts without a handover issue": shifts[~shifts["handed_over"].astype(bool)],
    "Per person": pd.DataFrame(data["per_person"]),
}
shown = st.selectbox("Show", list(drill), key="kpis_drill")
table = drill[shown]
st.dataframe(table, hide_index=True)
st.download_button(
    "Download CSV",
    table.to_csv(index=False).encode(),
    file_name="cmoc-kpis.csv",
    mime="text/csv",
    key="kpis_csv",
)
