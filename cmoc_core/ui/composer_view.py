"""The composer's message forms: fields, templates, checks, preview and publishing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import streamlit as st

from cmoc_core import channels, composer, drafts, handbook, publiccheck, templates
from cmoc_core.access import Refused
from cmoc_core.clients import ApiError
from cmoc_core.commands import Action
from cmoc_core.composer import Message, Publisher
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.publiccheck import DraftKind, PublishWarning
from cmoc_core.templates import Subject, Template
from cmoc_core.textlimits import URL_WEIGHT, X_LIMIT, X_TRUNCATION
from cmoc_core.ui import deps, meter, widgets
from cmoc_core.ui.deps import AppContext

NEW = "➕ Start a new incident"
STATUS_CHOICES = [int(s) for s in handbook.INCIDENT_STATUSES]
STATE_CHOICES = [int(s) for s in IncidentState]
# What each form does, as its confirmation names it: the action, and its button.
ACTIONS = {
    DraftKind.CREATE: ("Create", "Create incident"),
    DraftKind.UPDATE: ("Update", "Publish update"),
    DraftKind.RESOLVE: ("Resolve", "Resolve incident"),
}
ACTIONS_OF = {
    DraftKind.CREATE: Action.CREATE_INCIDENT,
    DraftKind.UPDATE: Action.UPDATE_INCIDENT,
    DraftKind.RESOLVE: Action.RESOLVE_INCIDENT,
}
# What the CMOC can do while Status.io's components cannot be loaded (a rerun asks again).
_NAMES_ONLY = (
    "You can still publish: this form does not change the incident's components, it only "
    "names them. Reload the page to try again."
)
COMPONENTS_NEXT = {
    DraftKind.CREATE: (
        "Reload the page to try again: creating the incident needs its affected components, "
        "or All infrastructure ticked knowingly."
    ),
    DraftKind.UPDATE: _NAMES_ONLY,
    DraftKind.RESOLVE: _NAMES_ONLY,
}
PREVIEW_LABELS = {
    DraftKind.CREATE: "Preview and create",
    DraftKind.UPDATE: "Preview and publish",
    DraftKind.RESOLVE: "Preview and resolve",
}


@dataclass(frozen=True)
class ComponentChoice:
    """A Status.io component in one container, as the CMOC chooses it."""

    ident: str  # `component-container`, as Status.io takes it
    name: str
    container: str

    @property
    def label(self) -> str:
        """`Website (Google Compute Engine)`."""
        return f"{self.name} ({self.container})"


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
    warnings: tuple[PublishWarning, ...] = ()


@dataclass(frozen=True)
class Superseded:
    """A preview another session overtook: what it said, and the CMOC's draft kept to send."""

    pending: Pending
    message: str


# A change in the form reruns the form alone, not the page around it: the CMOC types here
# while the rest of the page stays as it is (the header keeps its own one-second clock).
@st.fragment
def message_form(context: AppContext, incident: WorkingIncident, form: str) -> None:
    """Create, update or resolve: fields, templates, live length, handbook check, preview."""
    settings = context.settings
    kind = DraftKind(form)
    key = composer.draft_key(incident.id, form)
    with deps.session(context) as db:
        # Read again: on the form's own reruns `incident` is as the page last drew it.
        incident = db.get(WorkingIncident, incident.id) or incident
        draft = drafts.load(session=db, key=key)
    fields = {"details": f"composer_{form}_details_{incident.id}"}
    if kind is not DraftKind.RESOLVE:
        fields["state"] = f"composer_{form}_state_{incident.id}"
        fields["status"] = f"composer_{form}_status_{incident.id}"
    if kind is DraftKind.CREATE:
        fields["components"] = f"composer_components_{incident.id}"
        fields["all_infrastructure"] = f"composer_all_infra_{incident.id}"
    revision = f"composer_{form}_revision_{incident.id}"
    if st.session_state.get(revision) != incident.draft_revision:
        # Published meanwhile (from another tab, or before a reload): don't offer it again.
        if st.session_state.get(fields["details"]) == incident.last_text:
            st.session_state.pop(fields["details"], None)
        st.session_state[revision] = incident.draft_revision
    save = partial(_save_draft, context, key, fields)
    choices = _components(context, incident.statuspage_id, kind)

    if kind is DraftKind.CREATE:
        components, all_infrastructure, names = _affected_fields(choices, fields, draft, save)
    else:
        components, all_infrastructure = [], False
        names = tuple(c.name for c in choices.values() if c.ident in (incident.components or ()))
    subject = Subject(title=incident.title, components=names, issue_url=incident.issue_url or "")

    start = templates.default(kind, subject)
    st.session_state.setdefault(
        fields["details"], draft.get("details", start.text if start else "")
    )
    if kind is not DraftKind.RESOLVE:
        state = start.state if start and start.state else incident.state
        st.session_state.setdefault(fields["state"], int(draft.get("state", state)))
        st.session_state.setdefault(fields["status"], int(draft.get("status", incident.status)))
        _templates(incident, kind, subject, fields, save)
        states = STATE_CHOICES if kind is DraftKind.UPDATE else STATE_CHOICES[:2]
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
    typed = meter.live_meter(
        label="Details", key=f"composer_{form}_live_meter_{incident.id}", text=details
    )
    if typed is not None and typed != details:
        save(details=typed)

    announce = None
    if kind is DraftKind.UPDATE and st.checkbox(
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
    all_clear = kind is DraftKind.RESOLVE and StepKey.IM_ALL_CLEAR in incident.steps
    broadcast = {}
    with st.expander("Broadcast (all channels by default)"):
        for channel in handbook.BROADCAST_CHANNELS:
            broadcast[channel] = st.checkbox(
                channels.channel_name(channel),
                value=True,
                key=f"composer_{form}_broadcast_{channel}_{incident.id}",
            )

    text = details
    if announce and details.strip():
        text += handbook.NEXT_UPDATE_SUFFIX.format(minutes=int(announce))
    if kind is DraftKind.RESOLVE:
        # Status.io has no resolved state: resolving closes the incident from Monitoring.
        state, status = int(IncidentState.MONITORING), int(ComponentStatus.OPERATIONAL)
    else:
        state, status = st.session_state[fields["state"]], st.session_state[fields["status"]]
    message = Message(text, int(state), int(status), broadcast)
    warnings = publiccheck.check(
        publiccheck.Draft(
            kind=kind,
            details=text,
            project=settings.gitlab_production_project,
            gitlab_url=settings.gitlab_url,
            title=incident.title,
            state=message.state,
            status=message.status,
            next_update_announced=bool(announce),
            components=tuple(components),
            all_infrastructure=all_infrastructure,
            all_clear=all_clear,
        )
    )
    _handbook_check(warnings)
    refused = deps.publisher(context).refusal(ACTIONS_OF[kind], practice=incident.practice)
    if st.button(
        PREVIEW_LABELS[kind],
        key=f"composer_preview_{form}",
        type="primary",
        disabled=refused is not None,
        help=widgets.refusal_help(refused),
    ):
        blocked = publiccheck.blocking(warnings)
        if blocked:
            for warning in blocked:
                st.error(widgets.escape_markdown(warning.text), icon=":material/block:")
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
                warnings=tuple(warnings),
            )
    widgets.refused_note(refused)
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


def _affected_fields(
    choices: dict[str, ComponentChoice],
    fields: dict[str, str],
    draft: dict[str, Any],
    save: Callable[[], None],
) -> tuple[list[str], bool, tuple[str, ...]]:
    """The affected components, kept with the draft: their ids, all infrastructure, names."""
    restored = [label for label in draft.get("components", []) if label in choices]
    st.session_state.setdefault(fields["components"], restored)
    st.session_state.setdefault(
        fields["all_infrastructure"], bool(draft.get("all_infrastructure", False))
    )
    chosen = [
        choices[label]
        for label in st.multiselect(
            "Affected infrastructure", list(choices), key=fields["components"], on_change=save
        )
        if label in choices
    ]
    everything = st.checkbox(
        "All infrastructure",
        key=fields["all_infrastructure"],
        on_change=save,
        help="Applies the incident status to every component.",
    )
    if everything:
        st.warning("All infrastructure applies this status to EVERY component.")
    return [c.ident for c in chosen], everything, tuple(c.name for c in chosen)


def _handbook_check(warnings: list[PublishWarning]) -> None:
    """The handbook check of the draft as it stands: what must be fixed, what to consider."""
    if not warnings:
        st.caption(":green[Handbook check: nothing to fix or consider.]")
        return
    for warning in warnings:
        lead = ":red[**Must fix:**]" if warning.blocks else ":orange[**Consider:**]"
        st.markdown(
            f"{lead} {widgets.escape_markdown(warning.text)}",
            help=widgets.escape_markdown(warning.source),
        )


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
        st.info(
            "This message was already published or cancelled: close this window. The page "
            "header shows the latest update."
        )
        return
    kind = DraftKind(pending.form)
    action, button = ACTIONS[kind]
    message = pending.message
    target = "the PRACTICE status page" if incident.practice else "the PUBLIC status page"
    st.markdown(f"**{action}: {widgets.escape_markdown(incident.title)}** → {target}")
    state = "Resolved" if kind is DraftKind.RESOLVE else handbook.state_name(message.state)
    st.caption(
        f"{action} · {state} · {handbook.status_name(message.status)}"
        f" · broadcast: {channels.broadcast_words(message.broadcast)}"
    )
    affected = _affected(context, incident, pending)
    named = ", ".join(affected) or widgets.MISSING
    st.caption(widgets.escape_markdown(f"Affected components: {named}"))
    for warning in pending.warnings:
        st.warning(widgets.escape_markdown(warning.text), icon=":material/lightbulb:")
        st.caption(widgets.escape_markdown(warning.source))
    st.text(message.details)
    _channel_previews(incident, pending, affected)
    left, right = st.columns(2)
    if right.button("Cancel", key="composer_cancel"):
        st.session_state.pop("composer_pending", None)
        st.rerun()
    if left.button(button, key="composer_publish", type="primary"):
        pending = st.session_state.pop("composer_pending", None)
        if pending is not None:
            _publish(context, incident, pending)


def _affected(context: AppContext, incident: WorkingIncident, pending: Pending) -> list[str]:
    """The components the message is about, by the labels the CMOC chose them by."""
    if pending.all_infrastructure:
        return ["All infrastructure"]
    chosen = pending.components or tuple(incident.components or ())
    found = _components(context, incident.statuspage_id, DraftKind(pending.form))
    labels = {c.ident: c.label for c in found.values()}
    return [labels[ident] for ident in chosen if ident in labels]


def _channel_previews(incident: WorkingIncident, pending: Pending, affected: list[str]) -> None:
    """The message as each ticked channel will show it."""
    shown = channels.previews(
        title=incident.title,
        details=pending.message.details,
        components=affected,
        broadcast=pending.message.broadcast,
        status_page_url=composer.status_page_url(incident),
    )
    with st.expander("See it as each channel will", expanded=True):
        for preview in shown:
            if not preview.rendered:
                continue
            st.markdown(f"**{widgets.escape_markdown(preview.name)}**")
            if preview.channel == channels.EMAIL:
                st.caption("Subject: " + widgets.escape_markdown(preview.heading))
            elif preview.heading:
                st.caption(widgets.escape_markdown(preview.heading))
            if preview.x is not None:
                post = preview.x
                st.text(post.shown + (" …" if post.cut_at is not None else ""))
                lost = " — the final link is cut off" if post.link_lost else ""
                st.caption(
                    f"{post.length.weighted}/{X_LIMIT} weighted characters, each link counted "
                    f"as {URL_WEIGHT}{lost}"
                )
                if post.cut_at is not None:
                    st.caption(
                        f"X may cut the post at about {X_TRUNCATION}: readers may not see “"
                        + widgets.escape_markdown(post.hidden.strip())
                        + "”"
                    )
            elif preview.sms is not None:
                st.text(preview.text)
                st.caption(f"{preview.sms.segments} SMS segment(s), {preview.sms.encoding}")
            else:
                st.text(preview.text)
                if preview.channel == channels.STATUS_PAGE:
                    named = ", ".join(preview.components) or widgets.MISSING
                    st.caption(widgets.escape_markdown(f"Affected components: {named}"))
        names_only = [p.name for p in shown if not p.rendered]
        if names_only:
            st.caption("Also sent to: " + widgets.escape_markdown(", ".join(names_only)))


def _publish(context: AppContext, incident: WorkingIncident, pending: Pending) -> None:
    """Send a confirmed preview; a preview another session overtook waits for the CMOC."""
    publisher, now = deps.publisher(context), deps.now()
    try:
        outcome = _send(publisher, incident, pending, now)
    except Refused as exc:
        outcome = Outcome(OutcomeStatus.FAILED, str(exc))
    if outcome.status == OutcomeStatus.SUPERSEDED:
        st.session_state["composer_superseded"] = Superseded(pending, outcome.message)
    else:
        if outcome.ok:
            st.session_state["composer_clear"] = list(pending.fields)
        st.session_state["composer_outcomes"] = [outcome]
    st.rerun()


def _send(
    publisher: Publisher, incident: WorkingIncident, pending: Pending, now: datetime
) -> Outcome:
    """Create, update or resolve on the status page, as the preview said."""
    if pending.form == "create":
        return publisher.create(
            incident_id=incident.id or 0,
            message=pending.message,
            components=list(pending.components),
            all_infrastructure=pending.all_infrastructure,
            now=now,
        )
    return publisher.update(
        incident_id=incident.id or 0,
        message=pending.message,
        now=now,
        resolve=pending.form == "resolve",
        seen_revision=pending.revision,
    )


def resolve_section(context: AppContext, incident: WorkingIncident) -> None:
    """The all-clear, then the resolving update."""
    all_clear_box(context, incident)
    message_form(context, incident, "resolve")


def all_clear_box(context: AppContext, incident: WorkingIncident) -> None:
    """The all-clear tick, one step with the checklist's; outside the form, so it redraws both."""
    given = incident.steps.get(StepKey.IM_ALL_CLEAR)
    if given:
        at = widgets.moment(datetime.fromisoformat(given))
        st.caption(f"The Incident Manager gave the all-clear at {at}.")
        return
    key = f"composer_all_clear_{incident.id}"
    st.checkbox(
        "The Incident Manager has given the all-clear",
        key=key,
        on_change=_give_all_clear,
        args=(context, incident.id or 0, key),
    )


def _give_all_clear(context: AppContext, incident_id: int, key: str) -> None:
    """Tick the checklist step before the page is drawn, so the checklist shows it at once."""
    if st.session_state.get(key):
        with deps.session(context) as db:
            composer.tick_step(
                session=db, incident_id=incident_id, key=StepKey.IM_ALL_CLEAR, now=deps.now()
            )


def _save_draft(
    context: AppContext, key: str, fields: dict[str, str], details: str | None = None
) -> None:
    """Keep the form's values, so that a reload or a restart loses nothing."""
    values = {name: st.session_state.get(widget) for name, widget in fields.items()}
    if details is not None:
        values["details"] = details
    with deps.session(context) as db:
        drafts.save(session=db, key=key, values=values, now=deps.now())


def _templates(
    incident: WorkingIncident,
    kind: DraftKind,
    subject: Subject,
    fields: dict[str, str],
    save: Callable[[], None],
) -> None:
    """Pick a template: its text, state and status are set together."""
    offered = {template.label: template for template in templates.for_form(kind, subject)}
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Template", list(offered), key=f"composer_template_{incident.id}")
    right.button(
        "Use template",
        key=f"composer_use_template_{incident.id}",
        on_click=_use_template,
        args=(offered[chosen], fields, save),
    )
    if offered[chosen].example:
        st.caption(templates.EXAMPLE_NOTE)


def _use_template(template: Template, fields: dict[str, str], save: Callable[[], None]) -> None:
    st.session_state[fields["details"]] = template.text
    if template.state is not None and "state" in fields:
        st.session_state[fields["state"]] = int(template.state)
    if template.status is not None and int(template.status) in STATUS_CHOICES:
        st.session_state[fields["status"]] = int(template.status)
    save()


@st.cache_data(ttl=600, show_spinner=False)
def _component_choices(statuspage_id: str, _context: AppContext) -> dict[str, ComponentChoice]:
    """The status page's components in each of their containers, by label."""
    statusio = _context.sources.clients.statusio
    if statusio is None:
        return {}
    found = (
        ComponentChoice(
            ident=f"{c['_id']}-{k['_id']}", name=c.get("name", ""), container=k.get("name", "")
        )
        for c in statusio.components(statuspage_id=statuspage_id)
        for k in c.get("containers") or []
    )
    return {choice.label: choice for choice in found}


def _components(
    context: AppContext, statuspage_id: str, kind: DraftKind
) -> dict[str, ComponentChoice]:
    try:
        return _component_choices(statuspage_id, context)
    except ApiError as exc:
        st.error(
            f"Components could not be loaded: {widgets.escape_markdown(str(exc).rstrip('.'))}. "
            + COMPONENTS_NEXT[kind]
        )
        return {}
