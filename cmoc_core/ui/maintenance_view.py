"""The maintenance page's parts: the list by phase, the schedule form, actions with confirmation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from cmoc_core import auditlog, channels, linking, maintenance
from cmoc_core.access import Refused
from cmoc_core.clients import ApiError
from cmoc_core.handbook import BROADCAST_CHANNELS
from cmoc_core.maintenance import Action, Notice, Pending, PendingNotice, PendingPlan, Plan, Window
from cmoc_core.models import Component
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.ui import audit_view, deps, widgets
from cmoc_core.ui.deps import AppContext
from cmoc_core.ui.widgets import refusal_help, refused_note

NEW = "maintenance_new"
PENDING = "maintenance_pending"
# The fields of the form that led to the pending action, forgotten once it is sent.
PENDING_FIELDS = "maintenance_pending_fields"
TIME_STEP = timedelta(minutes=5)


def publisher(context: AppContext) -> maintenance.Publisher:
    """The maintenance publisher for the public status page, acting for this session's person."""
    settings = context.settings
    return maintenance.Publisher(
        context.engine,
        context.sources.clients.statusio,
        settings.statusio_statuspage_id or "",
        settings.gitlab_production_project,
        deps.viewer(context),
    )


def refusal(context: AppContext, action: Action) -> str | None:
    """Why this session's person may not take a maintenance action, or None."""
    return publisher(context).refusal(action)


def load_board(context: AppContext, now: datetime) -> maintenance.Board:
    """The maintenance list, refreshed from Status.io on opening and on request."""
    client = context.sources.clients.statusio
    settings = context.settings
    asked = st.button("Refresh from Status.io", key="maintenance_refresh", disabled=client is None)
    if client is None:
        st.info("Status.io is not configured: showing the last synced maintenance.")
    elif asked or "maintenance_refreshed_at" not in st.session_state:
        try:
            maintenance.refresh(
                engine=context.engine,
                client=client,
                statuspage_id=settings.statusio_statuspage_id or "",
            )
            st.session_state["maintenance_refreshed_at"] = now
        except ApiError as exc:
            st.warning(
                f"Could not refresh from Status.io, showing the last synced list: "
                f"{widgets.escape_markdown(str(exc))}"
            )
    refreshed = st.session_state.get("maintenance_refreshed_at")
    if refreshed is not None:
        st.caption(f"From Status.io at {maintenance.when(refreshed)}. Dates are DD-MM-YYYY, UTC.")
    with deps.session(context) as db:
        return maintenance.board(
            session=db,
            statuspage_id=settings.statusio_statuspage_id or "",
            project=settings.gitlab_production_project,
            now=now,
        )


def windows(context: AppContext, listed: list[Window], now: datetime, *, empty: str) -> None:
    """One card per window, with its actions when it has any."""
    if not listed:
        st.caption(empty)
    for window in listed:
        with st.container(border=True):
            _card(context, window, now)
            if window.actions:
                _actions(context, window, now)


def _card(context: AppContext, window: Window, now: datetime) -> None:
    st.markdown(f"**{widgets.escape_markdown(window.name)}**")
    if window.overrun is not None:
        st.error(window.overrun.message, icon=":material/schedule:")
    st.caption(maintenance.span(window.planned_start, window.planned_end))
    st.caption(
        f"{maintenance.automation_words(window)} · {maintenance.reminder_words(window, now=now)}"
    )
    if window.components:
        st.caption(
            "Components: " + widgets.escape_markdown(", ".join(sorted(set(window.components))))
        )
    unlisted = maintenance.unlisted_note(window)
    if unlisted:
        st.caption(unlisted)
    link = linking.gitlab_link(
        window.issue_url,
        gitlab_url=context.settings.gitlab_url,
        project=context.settings.gitlab_production_project,
    )
    if link:
        st.link_button("Scheduled Maintenance issue", link)
    elif window.issue_url:
        st.caption("Scheduled Maintenance issue: " + widgets.escape_markdown(window.issue_url))
    with st.expander(f"Messages ({len(window.messages)})"):
        for note in reversed(window.messages):
            st.caption(maintenance.when(note.posted_at))
            st.text(note.details)


def _actions(context: AppContext, window: Window, now: datetime) -> None:
    action = st.radio(
        "Action",
        list(window.actions),
        index=None,
        horizontal=True,
        format_func=lambda a: maintenance.action_label(window, a),
        key=f"maintenance_action_{window.id}",
    )
    if action == Action.RESCHEDULE:
        st.caption(
            "Status.io has no reschedule call: the new window is scheduled first, and the "
            "original is deleted only once the new one exists."
        )
        plan_form(context, f"maintenance_reschedule_{window.id}", now, original=window)
    elif action is not None:
        _notice_form(window, Action(action), refusal(context, Action(action)), now)


def _notice_form(window: Window, action: Action, refused: str | None, now: datetime) -> None:
    prefix = f"{action.value}_{window.id}"
    suggested = maintenance.default_notice(window, action)
    for warning in maintenance.warnings(window, action, now=now):
        st.warning(widgets.escape_markdown(warning), icon=":material/warning:")
    _refusal_note(window, action)
    fields = [
        f"{prefix}_details",
        f"{prefix}_automation_disabled",
        f"{prefix}_early_reason",
        f"maintenance_action_{window.id}",
        *(f"{prefix}_{c}" for c in BROADCAST_CHANNELS),
    ]
    early_reason = ""
    if maintenance.early_start(window, action, now=now) is not None:
        early_reason = st.text_input(maintenance.EARLY_REASON_LABEL, key=f"{prefix}_early_reason")
    st.session_state.setdefault(fields[0], suggested.details)
    details = st.text_area("Message", key=fields[0], height=120)
    broadcast = {}
    with st.expander("Broadcast"):
        for channel in BROADCAST_CHANNELS:
            st.session_state.setdefault(f"{prefix}_{channel}", suggested.broadcast[channel])
            broadcast[channel] = st.checkbox(
                channels.channel_name(channel), key=f"{prefix}_{channel}"
            )
    disabled = False
    if maintenance.needs_automation_disabled(window, action):
        disabled = st.checkbox(maintenance.AUTOMATION_ACK, key=f"{prefix}_automation_disabled")
    label = maintenance.action_label(window, action)
    clicked = widgets.refusable_button(
        f"Preview: {label}",
        key=f"{prefix}_preview",
        type="primary",
        refused=refused,
    )
    if clicked:
        notice = Notice(details, broadcast, automation_disabled=disabled, early_reason=early_reason)
        problems = maintenance.notice_problems(window, action, notice, now=now)
        for problem in problems:
            st.error(widgets.escape_markdown(problem))
        if not problems:
            _await_confirmation(PendingNotice(window, action, notice), fields)


def _refusal_note(window: Window, action: Action) -> None:
    """What happens if Status.io refuses the action, where no source says it accepts it."""
    note = maintenance.refusal_note(window, action)
    if note:
        st.info(widgets.escape_markdown(note), icon=":material/info:")


def plan_form(
    context: AppContext, prefix: str, now: datetime, *, original: Window | None = None
) -> None:
    """The schedule form (or, with `original`, the reschedule form) leading to a preview.

    The new-window form is kept as a draft while it is typed, so a reload loses nothing.
    """
    settings = context.settings
    keeps_draft = original is None
    with deps.session(context) as db:
        choices = maintenance.components(
            session=db, statuspage_id=settings.statusio_statuspage_id or ""
        )
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    fresh = Plan(name="", details="", start=start, end=start + timedelta(hours=2))
    if original is not None:
        defaults = maintenance.plan_for(original, now=now)
    else:
        with deps.session(context) as db:
            defaults = maintenance.load_draft(session=db, default=fresh)
    values = _form_values(defaults, choices)
    for name, value in values.items():
        st.session_state.setdefault(f"{prefix}_{name}", value)
    for warning in maintenance.reschedule_warnings(original) if original is not None else []:
        st.warning(widgets.escape_markdown(warning), icon=":material/warning:")
    refused = refusal(context, Action.SCHEDULE if original is None else Action.RESCHEDULE)
    # No st.form: the reminders offered follow the start as it is typed, and every change
    # reaches the draft at once.
    st.text_input("Name: what is being maintained", key=f"{prefix}_name")
    st.text_input(
        "Scheduled Maintenance issue link (gl-infra/production)", key=f"{prefix}_issue_url"
    )
    st.text_area("Details: what users will notice", key=f"{prefix}_details", height=120)
    left, right = st.columns(2)
    left.date_input("Start date (UTC)", format="DD-MM-YYYY", key=f"{prefix}_start_date")
    left.time_input("Start time (UTC)", step=TIME_STEP, key=f"{prefix}_start_time")
    right.date_input("End date (UTC)", format="DD-MM-YYYY", key=f"{prefix}_end_date")
    right.time_input("End time (UTC)", step=TIME_STEP, key=f"{prefix}_end_time")
    st.markdown("**Affected infrastructure**")
    columns = st.columns(3)
    for position, component in enumerate(choices):
        columns[position % 3].checkbox(
            widgets.escape_markdown(f"{component.name} ({component.container_name})"),
            key=f"{prefix}_component_{component.id}",
        )
    st.checkbox(
        "All infrastructure",
        key=f"{prefix}_all_infrastructure",
        help=maintenance.ALL_INFRASTRUCTURE_WARNING,
    )
    st.checkbox(
        "Automation: start and finish at the planned times",
        key=f"{prefix}_automation",
        help="The handbook's default. To post updates or finish by hand later, automation "
        "must be disabled in Status.io, and that cannot be undone.",
    )
    offers = maintenance.reminder_offers(_start(prefix), now=now)
    _notice_boxes(prefix, offers)
    plan = _typed_plan(prefix, choices, offers)
    if keeps_draft:
        with deps.session(context) as db:
            maintenance.keep_draft(session=db, plan=plan, default=fresh, now=now)
    submitted = widgets.refusable_button(
        "Preview",
        type="primary",
        key=f"{prefix}_preview",
        refused=refused,
    )
    if not submitted:
        return
    problems = maintenance.plan_problems(plan, now=now, project=settings.gitlab_production_project)
    for problem in problems:
        st.error(widgets.escape_markdown(problem))
    if not problems:
        labels = {c.id: f"{c.name} ({c.container_name})" for c in choices}
        pending = PendingPlan(
            plan,
            tuple(labels[i] for i in plan.components),
            original,
            draft=maintenance.SCHEDULE_DRAFT if keeps_draft else None,
        )
        _await_confirmation(pending, [f"{prefix}_{name}" for name in values])


def _form_values(plan: Plan, choices: list[Component]) -> dict[str, Any]:
    """The form's fields, by name, holding `plan`."""
    return {
        "name": plan.name,
        "issue_url": plan.issue_url,
        "details": plan.details,
        "start_date": plan.start.astimezone(UTC).date(),
        "start_time": plan.start.astimezone(UTC).time(),
        "end_date": plan.end.astimezone(UTC).date(),
        "end_time": plan.end.astimezone(UTC).time(),
        "all_infrastructure": plan.all_infrastructure,
        "automation": plan.automation,
        **{f"notify_{k}": on for k, on in plan.notify.items()},
        **{f"component_{c.id}": c.id in plan.components for c in choices},
    }


def _start(prefix: str) -> datetime:
    state = st.session_state
    return _utc(state.get(f"{prefix}_start_date"), state.get(f"{prefix}_start_time"))


def _notice_boxes(prefix: str, offers: list[maintenance.ReminderOffer]) -> None:
    """Notify now, and each reminder that can still go out; why any other is missing."""
    possible = [o for o in offers if o.possible]
    columns = st.columns(1 + len(possible))
    columns[0].checkbox(maintenance.NOTICE_LABELS["now"], key=f"{prefix}_notify_now")
    for column, offer in zip(columns[1:], possible, strict=True):
        column.checkbox(offer.label, key=f"{prefix}_notify_{offer.key}")
    for offer in offers:
        if offer.missing is not None:
            st.caption(offer.missing)


def _typed_plan(
    prefix: str, choices: list[Component], offers: list[maintenance.ReminderOffer]
) -> Plan:
    """The plan the form holds now; a reminder that is not offered is off."""
    state = st.session_state
    possible = {o.key for o in offers if o.possible}
    return Plan(
        name=state[f"{prefix}_name"],
        details=state[f"{prefix}_details"],
        start=_start(prefix),
        end=_utc(state.get(f"{prefix}_end_date"), state.get(f"{prefix}_end_time")),
        components=[c.id for c in choices if state.get(f"{prefix}_component_{c.id}")],
        all_infrastructure=state[f"{prefix}_all_infrastructure"],
        automation=state[f"{prefix}_automation"],
        notify={
            k: bool(state.get(f"{prefix}_notify_{k}")) and (k == "now" or k in possible)
            for k in maintenance.NOTICE_LABELS
        },
        issue_url=state[f"{prefix}_issue_url"].strip(),
    )


def _await_confirmation(pending: Pending, fields: list[str]) -> None:
    st.session_state[PENDING] = pending
    st.session_state[PENDING_FIELDS] = fields


def _utc(day: date | None, moment: time | None) -> datetime:
    return datetime.combine(day or date.min, moment or time.min, tzinfo=UTC)


def confirm_if_pending(context: AppContext) -> None:
    """Open the confirmation for the action waiting to be sent, if any."""
    if st.session_state.get(PENDING):
        _confirm(context)


@st.dialog("Send to the public status page?", width="large")
def _confirm(context: AppContext) -> None:
    pending: Pending | None = st.session_state.get(PENDING)
    if not pending:
        st.info(
            "This was already sent or cancelled: close this window. Anything sent is in the "
            "Audit log tab."
        )
        return
    if isinstance(pending, PendingNotice):
        window, action, notice = pending.window, pending.action, pending.notice
        label = maintenance.action_label(window, action)
        st.markdown(f"**{label}** · {widgets.escape_markdown(window.name)}")
        for warning in maintenance.warnings(window, action, now=deps.now()):
            st.warning(widgets.escape_markdown(warning), icon=":material/warning:")
        _refusal_note(window, action)
        if notice.early_reason.strip():
            st.caption("Reason for starting early: " + widgets.escape_markdown(notice.early_reason))
        st.caption(f"Broadcast: {channels.broadcast_words(notice.broadcast)}")
        st.text(notice.details)
    else:
        plan = pending.announced
        st.markdown(f"**{widgets.escape_markdown(plan.name)}**")
        st.caption(
            f"{maintenance.span(plan.start, plan.end)}"
            f" · automation: {'on' if plan.automation else 'off'}"
        )
        if plan.all_infrastructure:
            st.warning(maintenance.ALL_INFRASTRUCTURE_WARNING, icon=":material/warning:")
        else:
            names = ", ".join(pending.component_names)
            st.caption("Components: " + widgets.escape_markdown(names))
        st.info(
            widgets.escape_markdown(
                maintenance.subscriber_sentence(plan, replacing=pending.original)
            ),
            icon=":material/mail:",
        )
        st.text(plan.text)
    refused = refusal(context, pending.action)
    left, right = st.columns(2)
    if right.button("Cancel", key="maintenance_cancel"):
        st.session_state.pop(PENDING, None)
        st.session_state.pop(PENDING_FIELDS, None)
        st.rerun()
    sent = left.button(
        "Send",
        key="maintenance_confirm",
        type="primary",
        disabled=refused is not None,
        help=refusal_help(refused),
    )
    refused_note(refused)
    if sent:
        _send(
            context,
            st.session_state.pop(PENDING, None),
            st.session_state.pop(PENDING_FIELDS, []),
        )


def _send(context: AppContext, pending: Pending | None, fields: list[str]) -> None:
    if pending is None:
        return
    try:
        outcome = maintenance.send(publisher=publisher(context), pending=pending, now=deps.now())
    except Refused as exc:
        outcome = Outcome(OutcomeStatus.FAILED, str(exc))
    if outcome.ok:
        st.session_state["maintenance_clear"] = fields
    st.session_state["maintenance_outcomes"] = [outcome]
    st.rerun()


def audit_log(context: AppContext) -> None:
    """Every maintenance action sent from here: when, who, what, where and how it ended."""
    with deps.session(context) as db:
        lines = auditlog.lines(session=db, entries=maintenance.audit_log(session=db))
    audit_view.audit_table(lines, when=maintenance.when, key="maintenance_audit")
