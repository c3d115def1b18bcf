from functools import partial

import streamlit as st

from cmoc_core import history, linking
from cmoc_core.timeutil import moment
from cmoc_core.ui import charts, deps, widgets

context = deps.app_context()
settings = context.settings
production_link = partial(
    linking.gitlab_link,
    gitlab_url=settings.gitlab_url,
    project=settings.gitlab_production_project,
)


def write_link(labels: dict[str, str]) -> None:
    """Write the chosen incident into the address, so that it reopens exactly that incident."""
    chosen = st.session_state.get("history_incident")
    if chosen in labels:
        st.query_params.from_dict({"incident": labels[chosen]})


st.title("Incident history")

search_col, state_col, severity_col, period_col = st.columns([3, 2, 2, 3])
text = search_col.text_input("Search title or incident id", key="history_search")
state = state_col.selectbox("State", ["all", "active", "resolved"], key="history_state")
severities = severity_col.multiselect(
    "Severity", [1, 2, 3, 4], format_func=lambda s: f"S{s}", key="history_severity"
)
with period_col:
    since, until = widgets.period_picker(key="history_period")

asked = (st.query_params.get("incident"), st.query_params.get("issue"))
with deps.session(context) as db:
    link = history.follow_link(
        session=db, incident=asked[0], issue=asked[1], project=settings.gitlab_production_project
    )
    frame = history.incident_table(
        session=db, since=since, until=until, text=text, state=state, severities=severities
    )
if isinstance(link, history.NotFound):
    st.warning(link.notice)
elif isinstance(link, history.Several):
    st.info(link.notice)
    st.markdown(
        "\n".join(
            f"- {moment(i.opened)} — {widgets.escape_markdown(i.title)} · "
            + ("Resolved" if i.resolved else "Active")
            for i in link.incidents
        )
    )
if frame.empty:
    st.info(
        "No status-page incidents match these filters: widen the period, or clear the search, "
        "state or severity filter."
    )
    if not link.linked:
        st.stop()
else:
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
            "last_update": st.column_config.DatetimeColumn(
                "Last update", format="DD-MM-YYYY HH:mm"
            ),
            "issue_url": st.column_config.LinkColumn("Issue", display_text=r".*/issues/(\d+)$"),
            "page": st.column_config.NumberColumn("Page #", format="%d"),
        },
    )

labels = history.incident_labels(frame, link.linked)
label_of = {incident_id: label for label, incident_id in labels.items()}
if asked != st.session_state.get("history_link") or "history_incident" not in st.session_state:
    # A newly followed address (also back and forward in the browser) opens what it leads to.
    st.session_state["history_link"] = asked
    first = None if isinstance(link, history.NotFound) else next(iter(labels))
    st.session_state["history_incident"] = label_of[link.shown.id] if link.shown else first
chosen = st.selectbox(
    "Incident",
    list(labels),
    # A link that leads nowhere opens nothing until the person chooses.
    index=None if isinstance(link, history.NotFound) else 0,
    placeholder="Choose an incident",
    key="history_incident",
    on_change=write_link,
    args=(labels,),
)
if chosen is None:
    st.stop()
if isinstance(link, history.Found) and link.notice:
    st.caption(link.notice)
if labels[chosen] not in set(frame["id"]):
    st.caption("This incident is outside the period or filters above.")
with deps.session(context) as db:
    record = history.incident_record(session=db, incident_id=labels[chosen])
if record is None:
    st.warning("This incident is no longer stored: choose another one in the list above.")
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
