"""The composer's header: severity, state, stage, live countdown, and the handbook checklist."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from cmoc_core import composer, handbook, linking
from cmoc_core.checklist import checklist as stage_checklist
from cmoc_core.handbook import StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.outbox import Outcome
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.deps import AppContext


def header(context: AppContext, incident: WorkingIncident) -> None:
    """Severity, state, stage, the latest update and the live countdown."""
    if incident.practice:
        st.warning(
            "PRACTICE: this incident publishes to the practice status page only.",
            icon=":material/school:",
        )
    _live_header(context, incident.id or 0)


@st.fragment(run_every=timedelta(seconds=1))
def _live_header(context: AppContext, incident_id: int) -> None:
    """Read again every second, so an update from another session or server shows at once."""
    with deps.session(context) as db:
        incident = db.get(WorkingIncident, incident_id)
        if incident is None:
            return
        last = composer.last_publication(session=db, incident=incident)
    now = deps.now()
    columns = st.columns(5)
    columns[0].metric("Severity", f"S{incident.severity}" if incident.severity else "unknown")
    columns[1].metric(
        "State", "Resolved" if incident.resolved_at else handbook.state_name(incident.state)
    )
    columns[2].metric("Stage", composer.stage(incident).value)
    columns[3].metric(
        "Since last update",
        widgets.duration(now - incident.last_posted_at) if incident.last_posted_at else "none yet",
    )
    due = incident.next_due()
    with columns[4]:
        if incident.resolved_at is not None:
            st.metric("Next update", "not needed")
        elif due is None:
            st.metric("Next update", "create the incident")
        elif (left := due - now) >= timedelta(0):
            st.metric("Next update due in", widgets.duration(left), help=f"due {due:%H:%M} UTC")
        else:
            st.metric("Next update", "OVERDUE", help=f"was due {due:%H:%M} UTC")
    if due is not None and incident.resolved_at is None and due < now:
        st.error(f"Update overdue by {widgets.duration(due - now)}", icon=":material/alarm:")
    if last is not None:
        st.caption(
            f"Latest update {last.at:%d-%m-%Y %H:%M} UTC by {widgets.escape_markdown(last.by)}: "
            + widgets.escape_markdown(last.text)
        )


def checklist(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """The handbook's stages as checklists with the time each step was done."""
    steps = stage_checklist(incident, actions=composer.STEP_ACTIONS)
    for stage, rows in steps.stages:
        with st.expander(f"Stage {stage.value}", expanded=stage == steps.current):
            widgets.stage_steps(
                rows, key_prefix="composer_step", on_click=_do_step, args=(context, incident, now)
            )
            if stage == handbook.Stage.ENGAGE:
                _engage_links(incident, now)


def _do_step(context: AppContext, incident: WorkingIncident, now: datetime, key: StepKey) -> None:
    """A checklist button: the action with the service, or a tick for what is done elsewhere."""
    publisher, incident_id = deps.publisher(context), incident.id or 0
    if key in (StepKey.ACKNOWLEDGE_PAGE, StepKey.RESOLVE_PAGE):
        resolve = key == StepKey.RESOLVE_PAGE
        outcomes = [publisher.page(incident_id=incident_id, resolve=resolve, now=now)]
    elif key == StepKey.LABEL_ISSUE:
        outcomes = [publisher.label_issue(incident_id=incident_id, now=now)]
    else:
        outcomes = _tick(context, incident_id, key, now)
    st.session_state["composer_outcomes"] = outcomes


def _tick(context: AppContext, incident_id: int, key: StepKey, now: datetime) -> list[Outcome]:
    with deps.session(context) as db:
        composer.tick_step(session=db, incident_id=incident_id, key=key, now=now)
    return []


def _engage_links(incident: WorkingIncident, now: datetime) -> None:
    if incident.slack_channel:
        st.caption(f"Slack channel: {widgets.escape_markdown(incident.slack_channel)}")
    if incident.zoom_url:
        zoom = linking.safe_link(incident.zoom_url, allowed_hosts=None)
        if zoom:
            st.link_button("Join the Zoom call", zoom)
        else:
            st.caption("Zoom: " + widgets.escape_markdown(incident.zoom_url))
    if incident.pagerduty_incident_id and StepKey.ACKNOWLEDGE_PAGE not in incident.steps:
        elapsed = now - incident.opened_at
        colour = "red" if elapsed > handbook.ACK_TARGET else "orange"
        st.caption(f":{colour}[Page open for {widgets.duration(elapsed)} (target 15 min)]")
