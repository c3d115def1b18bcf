"""The composer's message forms: fields, templates, checks, preview and publishing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import streamlit as st

from cmoc_core import channels, composer, drafts, handbook
from cmoc_core.clients import ApiError
from cmoc_core.composer import Message
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.outbox import OutcomeStatus
from cmoc_core.ui import deps, meter, widgets
from cmoc_core.ui.deps import AppContext

NEW = "➕ Start a new incident"
STATUS_CHOICES = [int(s) for s in handbook.INCIDENT_STATUSES]
STATE_CHOICES = [int(s) for s in IncidentState]


@dataclass(frozen=True)
class Pending:
    """A message previewed and waiting for the CMOC's one confirmation."""

    form: str
    incident_id: int
    revision: int  # the incident's published revision when the preview was opened
    message: Message
    components: tuple[str, ...]
    all_infrastructure: bool
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Superseded:
    """A preview another session overtook: what it said, and the CMOC's draft kept to send."""

    pending: Pending
    message: str


def message_form(context: AppContext, incident: WorkingIncident, form: str) -> None:
    """Create, update or resolve: fields, templates, live length checks, preview to publish."""
    settings = context.settings
    key = composer.draft_key(incident.id, form)
    with deps.session(context) as db:
        draft = drafts.load(session=db, key=key)
    fields = {
        "details": f"composer_{form}_details_{incident.id}",
        "state": f"composer_{form}_state_{incident.id}",
        "status": f"composer_{form}_status_{incident.id}",
    }
    revision = f"composer_{form}_revision_{incident.id}"
    if st.session_state.get(revision) != incident.draft_revision:
        # Published meanwhile (from another tab, or before a reload): don't offer it again.
        if st.session_state.get(fields["details"]) == incident.last_text:
            st.session_state.pop(fields["details"], None)
        st.session_state[revision] = incident.draft_revision
    default_details = _default_details(incident, form)
    st.session_state.setdefault(fields["details"], draft.get("details", default_details))
    st.session_state.setdefault(
        fields["state"], int(draft.get("state", _default_state(incident, form)))
    )
    st.session_state.setdefault(fields["status"], int(draft.get("status", incident.status)))
    save = partial(_save_draft, context, key, fields)

    if form == "update":
        _templates(incident, fields["details"], save)
    if form != "resolve":
        states = STATE_CHOICES if form == "update" else STATE_CHOICES[:2]
        st.radio(
            "Current state",
            states,
            format_func=handbook.state_name,
            horizontal=True,
            key=fields["state"],
            on_change=save,
        )
        st.selectbox(
            "Incident status",
            STATUS_CHOICES,
            format_func=handbook.status_name,
            key=fields["status"],
            on_change=save,
            help="Keep it unless the scope widened or narrowed.",
        )
    details = st.text_area("Details", key=fields["details"], on_change=save, height=140)
    typed = meter.live_meter(label="Details", key=f"composer_{form}_live_meter_{incident.id}")
    if typed is not None and typed != details:
        save(details=typed)
    meter.length_meter(details)

    components: list[str] = []
    all_infrastructure = False
    if form == "create":
        choices = _components(context, incident.statuspage_id)
        chosen = st.multiselect(
            "Affected infrastructure", list(choices), key=f"composer_components_{incident.id}"
        )
        components = [choices[label] for label in chosen]
        all_infrastructure = st.checkbox(
            "All infrastructure",
            key=f"composer_all_infra_{incident.id}",
            help="Applies the incident status to every component.",
        )
        if all_infrastructure:
            st.warning("All infrastructure applies this status to EVERY component.")
    announce = None
    if form == "update" and st.checkbox(
        "Announce the next update", key=f"composer_announce_{incident.id}"
    ):
        announce = st.number_input(
            "Next update in (minutes)",
            5,
            240,
            30,
            step=5,
            key=f"composer_announce_minutes_{incident.id}",
        )
    all_clear = form != "resolve" or _all_clear(context, incident)
    broadcast = {}
    with st.expander("Broadcast (all channels by default)"):
        for channel in handbook.BROADCAST_CHANNELS:
            broadcast[channel] = st.checkbox(
                channels.channel_name(channel),
                value=True,
                key=f"composer_{form}_broadcast_{channel}_{incident.id}",
            )

    text = details + (handbook.NEXT_UPDATE_SUFFIX.format(minutes=int(announce)) if announce else "")
    state = IncidentState.MONITORING if form == "resolve" else st.session_state[fields["state"]]
    message = Message(text, int(state), int(st.session_state[fields["status"]]), broadcast)
    blocked = composer.problems(
        message=message,
        require_link=form != "update",
        project=settings.gitlab_production_project,
        title=incident.title if form == "create" else None,
        components=components if form == "create" else None,
        all_infrastructure=all_infrastructure,
        all_clear=all_clear,
    )
    label = {
        "create": "Preview and create",
        "update": "Preview and publish",
        "resolve": "Preview and resolve",
    }[form]
    if st.button(label, key=f"composer_preview_{form}", type="primary"):
        if blocked:
            for problem in blocked:
                st.error(widgets.escape_markdown(problem))
        else:
            st.session_state.pop("composer_superseded", None)
            st.session_state["composer_pending"] = Pending(
                form=form,
                incident_id=incident.id or 0,
                revision=incident.draft_revision,
                message=message,
                components=tuple(components),
                all_infrastructure=all_infrastructure,
                fields=tuple(fields.values()),
            )
    pending: Pending | None = st.session_state.get("composer_pending")
    if pending and pending.form == form and pending.incident_id == incident.id:
        _confirm(context, incident)
    overtaken: Superseded | None = st.session_state.get("composer_superseded")
    if (
        overtaken
        and overtaken.pending.form == form
        and overtaken.pending.incident_id == incident.id
    ):
        _superseded(context, incident, overtaken)


def _superseded(context: AppContext, incident: WorkingIncident, overtaken: Superseded) -> None:
    """Another session published first: say who and what; sending anyway is a choice."""
    st.warning(widgets.escape_markdown(overtaken.message), icon=":material/group:")
    left, right = st.columns(2)
    if right.button("Keep my draft, do not publish", key="composer_superseded_drop"):
        st.session_state.pop("composer_superseded", None)
        st.rerun()
    if left.button("Publish mine anyway", key="composer_publish_anyway"):
        st.session_state.pop("composer_superseded", None)
        again = replace(overtaken.pending, revision=incident.draft_revision)
        _publish(context, incident, again)


@st.dialog("Publish to the status page?", width="large")
def _confirm(context: AppContext, incident: WorkingIncident) -> None:
    pending: Pending | None = st.session_state.get("composer_pending")
    if not pending:
        st.info("This message was already handled.")
        return
    message = pending.message
    target = "the PRACTICE status page" if incident.practice else "the PUBLIC status page"
    st.markdown(f"**{widgets.escape_markdown(incident.title)}** → {target}")
    status = ComponentStatus.OPERATIONAL if pending.form == "resolve" else message.status
    ticked = [channels.channel_name(c) for c, on in message.broadcast.items() if on]
    st.caption(
        f"{handbook.state_name(message.state)} · {handbook.status_name(status)}"
        f" · broadcast: {', '.join(ticked) or 'none'}"
    )
    st.text(message.details)
    meter.length_meter(message.details)
    _channel_previews(context, incident, pending)
    left, right = st.columns(2)
    if right.button("Cancel", key="composer_cancel"):
        st.session_state.pop("composer_pending", None)
        st.rerun()
    if left.button("Publish", key="composer_publish", type="primary"):
        pending = st.session_state.pop("composer_pending", None)
        if pending is not None:
            _publish(context, incident, pending)


def _channel_previews(context: AppContext, incident: WorkingIncident, pending: Pending) -> None:
    """The message as each ticked channel will show it."""
    affected = pending.components or tuple(incident.components or ())
    names = _components(context, incident.statuspage_id)
    shown = channels.previews(
        title=incident.title,
        details=pending.message.details,
        components=[label for label, ident in names.items() if ident in affected],
        broadcast=pending.message.broadcast,
        status_page_url=composer.status_page_url(incident),
    )
    with st.expander("See it as each channel will"):
        for preview in shown:
            if not preview.rendered:
                continue
            st.markdown(f"**{widgets.escape_markdown(preview.name)}**")
            if preview.heading:
                st.caption(widgets.escape_markdown(preview.heading))
            if preview.x is not None:
                st.text(preview.x.shown + (" …" if preview.x.cut_at is not None else ""))
                lost = " — the final link is cut off" if preview.x.link_lost else ""
                st.caption(f"{preview.x.length.weighted}/280 weighted characters{lost}")
            elif preview.sms is not None:
                st.text(preview.text)
                st.caption(f"{preview.sms.segments} SMS segment(s), {preview.sms.encoding}")
            else:
                st.text(preview.text)
        names_only = [p.name for p in shown if not p.rendered]
        if names_only:
            st.caption("Also sent to: " + widgets.escape_markdown(", ".join(names_only)))


def _publish(context: AppContext, incident: WorkingIncident, pending: Pending) -> None:
    """Send a confirmed preview; a preview another session overtook waits for the CMOC."""
    publisher, now = deps.publisher(context), deps.now()
    if pending.form == "create":
        outcome = publisher.create(
            incident_id=incident.id or 0,
            message=pending.message,
            components=list(pending.components),
            all_infrastructure=pending.all_infrastructure,
            now=now,
        )
    else:
        outcome = publisher.update(
            incident_id=incident.id or 0,
            message=pending.message,
            now=now,
            resolve=pending.form == "resolve",
            seen_revision=pending.revision,
        )
    if outcome.status == OutcomeStatus.SUPERSEDED:
        st.session_state["composer_superseded"] = Superseded(pending, outcome.message)
    else:
        if outcome.ok:
            st.session_state["composer_clear"] = list(pending.fields)
        st.session_state["composer_outcomes"] = [outcome]
    st.rerun()


def _all_clear(context: AppContext, incident: WorkingIncident) -> bool:
    """The all-clear tick here and in the checklist are one step; whether it is given."""
    given = incident.steps.get(StepKey.IM_ALL_CLEAR)
    if given:
        at = datetime.fromisoformat(given)
        st.caption(f"The Incident Manager gave the all-clear at {at:%H:%M} UTC.")
        return True
    ticked = st.checkbox(
        "The Incident Manager has given the all-clear", key=f"composer_all_clear_{incident.id}"
    )
    if ticked:
        with deps.session(context) as db:
            composer.tick_step(
                session=db, incident_id=incident.id or 0, key=StepKey.IM_ALL_CLEAR, now=deps.now()
            )
    return ticked


def _save_draft(
    context: AppContext, key: str, fields: dict[str, str], details: str | None = None
) -> None:
    values = {name: st.session_state.get(widget) for name, widget in fields.items()}
    if details is not None:
        values["details"] = details
    with deps.session(context) as db:
        drafts.save(session=db, key=key, values=values, now=deps.now())


def _default_details(incident: WorkingIncident, form: str) -> str:
    link = incident.issue_url or ""
    if form == "create":
        return handbook.GENERIC_UPDATES[0].format(issue_url=link) if link else ""
    if form == "resolve":
        return handbook.resolved_update(link)
    return ""


def _default_state(incident: WorkingIncident, form: str) -> int:
    return IncidentState.INVESTIGATING if form == "create" else incident.state


def _templates(incident: WorkingIncident, details_key: str, save: Any) -> None:
    link = incident.issue_url or ""
    templates = {
        **{f"Generic: {t[:45]}…": t.format(issue_url=link) for t in handbook.GENERIC_UPDATES},
        **{
            f"No material updates: {t[28:70]}…": t.format(link=link)
            for t in handbook.NO_MATERIAL_UPDATES
        },
        "Monitoring (with duration)": handbook.monitoring_update(),
        "Resolved (with issue link)": handbook.resolved_update(link),
    }
    left, right = st.columns([4, 1])
    chosen = left.selectbox("Template", list(templates), key=f"composer_template_{incident.id}")

    def use() -> None:
        st.session_state[details_key] = templates[chosen]
        save()

    right.button("Use template", key=f"composer_use_template_{incident.id}", on_click=use)


@st.cache_data(ttl=600, show_spinner=False)
def _component_choices(statuspage_id: str, _context: AppContext) -> dict[str, str]:
    """Component labels mapped to Status.io's `component-container` ids."""
    statusio = _context.sources.clients.statusio
    if statusio is None:
        return {}
    return {
        f"{c.get('name', '')} ({k.get('name', '')})": f"{c['_id']}-{k['_id']}"
        for c in statusio.components(statuspage_id=statuspage_id)
        for k in c.get("containers") or []
    }


def _components(context: AppContext, statuspage_id: str) -> dict[str, str]:
    try:
        return _component_choices(statuspage_id, context)
    except ApiError as exc:
        st.error(f"Components could not be loaded: {widgets.escape_markdown(str(exc))}")
        return {}
