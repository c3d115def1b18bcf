from functools import partial

import streamlit as st

from cmoc_core import history, linking
from cmoc_core.ui import charts, deps, widgets

context = deps.app_context()
settings = context.settings
production_link = partial(
    linking.gitlab_link,
    gitlab_url=settings.gitlab_url,
    project=settings.gitlab_production_project,
)
st.title("Incident history")

search_col, state_col, severity_col, period_col = st.columns([3, 2, 2, 3])
text = search_col.text_input("Search title or incident id", key="history_search")
state = state_col.selectbox("State", ["all", "active", "resolved"], key="history_state")
severities = severity_col.multiselect(
    "Severity", [1, 2, 3, 4], format_func=lambda s: f"S{s}", key="history_severity"
)
with period_col:
    since, until = widgets.period_picker(key="history_period")

with deps.session(context) as db:
    frame = history.incident_table(
        session=db, since=since, until=until, text=text, state=state, severities=severities
    )
if frame.empty:
    st.info("No status-page incidents match these filters.")
    st.stop()

st.caption(f"{len(frame)} incidents, newest first")
st.dataframe(
    frame.drop(columns=["id", "issue_iid"]).assign(
        issue_url=frame["issue_url"].map(production_link)
    ),
    hide_index=True,
    column_config={
        "opened": st.column_config.DatetimeColumn("Opened (UTC)", format="DD-MM-YYYY HH:mm"),
        "title": st.column_config.TextColumn("Title"),
        "state": st.column_config.TextColumn("State"),
        "status": st.column_config.TextColumn("Status"),
        "severity": st.column_config.TextColumn("Severity"),
        "updates": st.column_config.NumberColumn("Updates"),
        "last_update": st.column_config.DatetimeColumn("Last update", format="DD-MM-YYYY HH:mm"),
        "issue_url": st.column_config.LinkColumn("Issue", display_text=r".*/issues/(\d+)$"),
        "page": st.column_config.NumberColumn("Page #", format="%d"),
    },
)

labels = history.incident_labels(frame)
linked = st.query_params.get("incident")
if linked in labels.values() and "history_incident" not in st.session_state:
    st.session_state["history_incident"] = next(k for k, v in labels.items() if v == linked)
chosen = st.selectbox("Incident", list(labels), key="history_incident")
st.query_params["incident"] = labels[chosen]
with deps.session(context) as db:
    record = history.incident_record(session=db, incident_id=labels[chosen])
if record is None:
    st.warning("This incident is no longer stored.")
    st.stop()

incident = record.incident
st.subheader(widgets.escape_markdown(incident.name))
facts = st.columns(4)
facts[0].metric("State", "Resolved" if incident.resolved else "Active")
facts[1].metric("Updates", len(record.messages))
facts[2].metric(
    "Severity", f"S{record.issue.severity}" if record.issue and record.issue.severity else "unknown"
)
facts[3].metric("Components", len(incident.components))
if incident.components:
    st.caption("Affected: " + widgets.escape_markdown(", ".join(incident.components)))
if record.issue:
    link = production_link(record.issue.web_url)
    st.markdown(
        "Production issue: "
        + widgets.markdown_link(f"#{record.issue.iid}", link)
        + " — "
        + widgets.escape_markdown(record.issue.title)
    )
    if link is None and record.issue.web_url:
        st.caption(
            "Its address does not lead to GitLab, so it is not a link: "
            + widgets.escape_markdown(record.issue.web_url)
        )
elif incident.production_issue_iid:
    st.caption(f"Production issue #{incident.production_issue_iid} (not synced)")
else:
    st.caption("No production issue link found in the messages.")
for page in record.pages:
    if page.acknowledged_at:
        minutes = (page.acknowledged_at - page.created_at).total_seconds() / 60
        acknowledged = f"acknowledged after {minutes:.0f} min"
    else:
        acknowledged = "never acknowledged"
    st.caption(f"PagerDuty page #{page.incident_number}: {acknowledged}")

with deps.session(context) as db:
    timeline = history.incident_timeline(
        session=db,
        record=record,
        project=settings.gitlab_production_project,
        now=deps.now(),
    )
for flag in timeline.flags:
    st.warning(widgets.escape_markdown(flag), icon=":material/flag:")
st.plotly_chart(charts.incident_timeline(timeline), key="history_timeline")

st.markdown("**Messages**")
for message in record.messages.itertuples():
    with st.container(border=True):
        st.caption(
            f"{message.posted:%d-%m-%Y %H:%M} UTC · "
            + widgets.escape_markdown(f"{message.state} · {message.status}")
        )
        st.text(message.details)
