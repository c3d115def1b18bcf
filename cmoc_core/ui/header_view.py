"""The composer's header: severity, state, stage, live countdown, and the handbook checklist."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from cmoc_core import composer, handbook, linking, pagetimer
from cmoc_core.access import Refused
from cmoc_core.checklist import checklist as stage_checklist
from cmoc_core.handbook import StepKey
from cmoc_core.models import UNKNOWN_SEVERITY_COUNTS_AS, WorkingIncident
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.pagetimer import PageTimer
from cmoc_core.ui import deps, freshness, widgets
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
        timer = pagetimer.page_timer(session=db, incident=incident)
    now = deps.now()
    due = incident.next_due()
    with widgets.tiles():
        _severity_tile(incident)
        widgets.tile(
            "State", "Resolved" if incident.resolved_at else handbook.state_name(incident.state)
        )
        widgets.tile("Stage", composer.stage(incident).value)
        widgets.tile(
            "Since last update",
            widgets.duration(now - incident.last_posted_at)
            if incident.last_posted_at
            else "none yet",
        )
        _due_tile(incident, due, now)
        _ack_tile(incident, timer, now)
    _due_line(incident, due, now)
    if incident.resolved_at is None:
        # The browser keeps this time, so the CMOC hears of it with the tab in the background.
        freshness.reminder_alerts(
            due,
            due is not None and due < now,
            incident=f"cockpit {incident.id}",
            title=incident.title,
            severity=incident.severity,
            gap_start=incident.last_posted_at,
            key=f"composer_reminders_{incident.id}",
        )
    if last is not None:
        st.caption(widgets.escape_markdown(f"Latest update {last.when_and_who}: {last.text}"))


def _severity_tile(incident: WorkingIncident) -> None:
    if incident.severity:
        widgets.tile("Severity", f"S{incident.severity}")
    else:
        widgets.tile(
            "Severity",
            widgets.red("Not set"),
            note=f"counted as S{UNKNOWN_SEVERITY_COUNTS_AS} until set",
            alarm=True,
            help=f"Until it is set, updates are due on the S{UNKNOWN_SEVERITY_COUNTS_AS} cadence.",
        )


def _due_tile(incident: WorkingIncident, due: datetime | None, now: datetime) -> None:
    if incident.resolved_at is not None:
        widgets.tile("Next update", "not needed")
    elif due is None:
        widgets.tile("Next update", "create the incident")
    elif due >= now:
        widgets.tile(
            "Next update due in", widgets.duration(due - now), help=f"due {widgets.moment(due)}"
        )
    else:
        widgets.tile("Next update", "OVERDUE", help=f"was due {widgets.moment(due)}")


def _ack_tile(incident: WorkingIncident, timer: PageTimer | None, now: datetime) -> None:
    """From the page's trigger, ticking until it is acknowledged; red past the 15 min target."""
    if timer is None:
        attached = bool(incident.pagerduty_incident_id)
        why = "The PagerDuty page is not synced yet" if attached else "No PagerDuty page attached"
        widgets.tile("Page ack", widgets.MISSING, help=f"{why}.")
        return
    late, elapsed = timer.late(now), widgets.duration(timer.elapsed(now))
    target = f"{handbook.ACK_TARGET.total_seconds() / 60:.0f} min"
    if timer.running:
        note = f"over the {target} target" if late else f"waiting, target {target}"
    else:
        note = "acknowledged late" if late else "acknowledged"
    widgets.tile(
        "Page ack",
        widgets.red(elapsed) if late else elapsed,
        note=note,
        alarm=late,
        help=f"Page #{timer.number} triggered {widgets.moment(timer.triggered_at)}.",
    )


def _due_line(incident: WorkingIncident, due: datetime | None, now: datetime) -> None:
    """One line in the same place whether on time or late, so nothing below jumps when late."""
    if due is None or incident.resolved_at is not None:
        return
    if due < now:
        st.error(f"Update overdue by {widgets.duration(now - due)}", icon=":material/alarm:")
    else:
        st.info(f"Next update due by {widgets.moment(due)}", icon=":material/schedule:")


def checklist(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """The handbook's stages as checklists with the time each step was done."""
    # Read after this run's callbacks (a step or the all-clear ticked): it is as stored now.
    steps = stage_checklist(incident, actions=composer.STEP_ACTIONS)
    publisher = deps.publisher(context)
    refusals: dict[str, str] = {
        key: why
        for key in composer.STEP_ACTIONS
        if (why := publisher.refusal(key, practice=incident.practice)) is not None
    }
    for stage, rows, expander in widgets.stage_expanders(
        steps, key=f"composer_stages_{incident.id}"
    ):
        if not expander.open:
            continue  # a closed stage's steps are drawn when it is opened
        with expander:
            widgets.stage_steps(
                rows,
                key_prefix="composer_step",
                on_click=_do_step,
                args=(context, incident.id or 0),
                refusals=refusals,
            )
            if stage == handbook.Stage.ENGAGE:
                _engage_links(incident)


def _do_step(context: AppContext, incident_id: int, key: StepKey) -> None:
    """A checklist button: the action with the service, or a tick for what is done elsewhere."""
    publisher, now = deps.publisher(context), deps.now()
    try:
        if key in (StepKey.ACKNOWLEDGE_PAGE, StepKey.RESOLVE_PAGE):
            resolve = key == StepKey.RESOLVE_PAGE
            outcomes = [publisher.page(incident_id=incident_id, resolve=resolve, now=now)]
        elif key == StepKey.LABEL_ISSUE:
            outcomes = [publisher.label_issue(incident_id=incident_id, now=now)]
        else:
            outcomes = _tick(context, incident_id, key, now)
    except Refused as exc:
        outcomes = [Outcome(OutcomeStatus.FAILED, str(exc))]
    st.session_state["composer_outcomes"] = outcomes


def _tick(context: AppContext, incident_id: int, key: StepKey, now: datetime) -> list[Outcome]:
    with deps.session(context) as db:
        composer.tick_step(session=db, incident_id=incident_id, key=key, now=now)
    return []


def _engage_links(incident: WorkingIncident) -> None:
    if incident.slack_channel:
        st.caption(f"Slack channel: {widgets.escape_markdown(incident.slack_channel)}")
    if incident.zoom_url:
        zoom = linking.safe_link(incident.zoom_url, allowed_hosts=None)
        if zoom:
            st.link_button("Join the Zoom call", zoom)
        else:
            st.caption("Zoom: " + widgets.escape_markdown(incident.zoom_url))
