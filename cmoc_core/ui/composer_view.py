"""The composer's parts: incident picker, header with countdown, checklist, forms, publishing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import streamlit as st

from cmoc_core import channels, composer, drafts, handbook, linking
from cmoc_core.checklist import checklist as stage_checklist
from cmoc_core.clients import ApiError
from cmoc_core.commands import SlackNotice
from cmoc_core.composer import IncidentFacts, Message
from cmoc_core.handbook import ComponentStatus, IncidentState, StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.ui import deps, widgets
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


def pick_incident(context: AppContext, now: datetime) -> WorkingIncident | None:
    """Choose an open incident, take over a synced one, or start a new one."""
    settings = context.settings
    pages = [
        p for p in (settings.statusio_statuspage_id, settings.statusio_practice_statuspage_id) if p
    ]
    with deps.session(context) as db:
        working = composer.open_incidents(session=db, now=now)
        synced = composer.unadopted_active(session=db, statuspage_ids=pages)
    options: dict[str, tuple[str, Any]] = {_label(i): ("working", i.id) for i in working}
    for incident in synced:
        options[f"On the status page: {incident.name} ({incident.datetime_open:%d-%m %H:%M})"] = (
            "synced",
            incident.id,
        )
    options[NEW] = ("new", None)
    chosen_next = st.session_state.pop("composer_select_next", None)
    if chosen_next in options:
        st.session_state["composer_incident"] = chosen_next
    choice = st.selectbox("Incident", list(options), key="composer_incident")
    kind, ident = options[choice]
    if kind == "working":
        with deps.session(context) as db:
            return db.get(WorkingIncident, ident)
    if kind == "synced":
        if st.button("Take over this incident", key="composer_adopt", type="primary"):
            with deps.session(context) as db:
                synced_incident = next(i for i in synced if i.id == ident)
                adopted = composer.adopt(
                    session=db, synced=synced_incident, project=settings.gitlab_production_project
                )
            st.session_state["composer_select_next"] = _label(adopted)
            st.rerun()
        return None
    _start_form(context, now)
    return None


def _label(incident: WorkingIncident) -> str:
    mark = ("PRACTICE · " if incident.practice else "") + (
        "resolved · " if incident.resolved_at else ""
    )
    return f"{mark}{incident.title} (opened {incident.opened_at:%d-%m %H:%M} UTC)"


def _start_form(context: AppContext, now: datetime) -> None:
    settings = context.settings
    with deps.session(context) as db:
        open_pages = composer.open_pages(session=db)
    pages = {"(no page)": None} | {
        f"#{p.incident_number} {p.title} ({p.created_at:%d-%m %H:%M})": p.id for p in open_pages
    }
    with st.form("composer_start_form"):
        title = st.text_input(
            "Title: in simple terms, what is the issue?", key="composer_new_title"
        )
        targets = {"The public status page": False}
        if settings.statusio_practice_statuspage_id:
            targets["The practice status page (drill)"] = True
        target = st.radio("Publish to", list(targets), key="composer_new_target")
        issue_url = st.text_input("Production issue link", key="composer_new_issue")
        severity = st.selectbox(
            "Severity",
            [1, 2, 3, 4],
            index=None,
            key="composer_new_severity",
            format_func=lambda s: f"S{s}",
            placeholder="unknown yet",
        )
        page = st.selectbox("PagerDuty page", list(pages), key="composer_new_page")
        channel = st.text_input(
            "Incident Slack channel (e.g. #incident-12345)", key="composer_new_channel"
        )
        zoom = st.text_input("Zoom link", key="composer_new_zoom")
        if st.form_submit_button("Start", type="primary"):
            if not title.strip():
                st.error("The title is empty: say in simple terms what the issue is.")
                return
            facts = IncidentFacts(
                title=title,
                practice=targets[target],
                severity=severity,
                issue_url=issue_url,
                page_id=pages[page],
                slack_channel=channel,
                zoom_url=zoom,
            )
            with deps.session(context) as db:
                incident = composer.start_incident(
                    session=db,
                    facts=facts,
                    statuspage_id=composer.statuspage_for(settings, practice=facts.practice),
                    now=now,
                )
            st.session_state["composer_select_next"] = _label(incident)
            st.rerun()


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
    typed = widgets.live_meter(label="Details", key=f"composer_{form}_live_meter_{incident.id}")
    if typed is not None and typed != details:
        save(details=typed)
    widgets.length_meter(details)

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
    widgets.length_meter(message.details)
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
        status_page_url=_status_page_url(incident),
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


def _status_page_url(incident: WorkingIncident) -> str:
    """The incident's public address on the status page."""
    return f"https://status.gitlab.com/pages/incident/{incident.statuspage_id}/" + (
        incident.statuspage_incident_id or ""
    )


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
        _tick(context, incident.id or 0, StepKey.IM_ALL_CLEAR, deps.now())
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


def stakeholders(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """The Incident Notifier form: posts to the webhooks, or copyable text recorded by hand."""
    settings = context.settings
    page_url = _status_page_url(incident)
    summary = st.text_input(
        "Summary", value=incident.title, key=f"composer_notify_summary_{incident.id}"
    )
    channel = st.text_input(
        "Incident Slack channel",
        value=incident.slack_channel or "",
        key=f"composer_notify_channel_{incident.id}",
    )
    text = handbook.notifier_text(
        summary=summary,
        severity=incident.severity,
        issue_url=incident.issue_url or "",
        channel=channel,
        status_page_url=page_url,
    )
    st.code(text, language=None)
    publisher = deps.publisher(context)
    for notice in publisher.unsettled_notices(incident_id=incident.id or 0):
        _unsettled(context, notice, now)
    if settings.slack_notifier_webhook_urls:
        label = f"Post to {len(settings.slack_notifier_webhook_urls)} Slack channel(s)"
        if st.button(label, key="composer_notify", type="primary"):
            st.session_state["composer_outcomes"] = publisher.notify(
                incident_id=incident.id or 0, text=text, now=now
            )
            st.rerun()
    else:
        st.caption(
            "No Incident Notifier webhook is configured: copy the text above into the "
            "Incident Notifier workflow, then record it here."
        )
        if st.button("I posted it by hand", key="composer_notify_manual"):
            st.session_state["composer_outcomes"] = [
                publisher.record_manual_notification(
                    incident_id=incident.id or 0, text=text, now=now
                )
            ]
            st.rerun()


def _unsettled(context: AppContext, notice: SlackNotice, now: datetime) -> None:
    """A notice that may not have arrived: Slack cannot be asked, so the CMOC looks and decides."""
    st.warning(
        f"The notice to {widgets.escape_markdown(notice.webhook)} may or may not have arrived, "
        "and Slack cannot be "
        "asked. Look in the channel for this text, then say what you found.",
        icon=":material/help:",
    )
    st.text(notice.text)
    publisher, key = deps.publisher(context), notice.key()
    where = widgets.escape_markdown(notice.webhook)
    there, missing = st.columns(2)
    if there.button(f"It is in {where}", key=f"composer_arrived_{key}"):
        st.session_state["composer_outcomes"] = [publisher.notice_arrived(notice=notice, now=now)]
        st.rerun()
    if missing.button(f"Not in {where}: send it again", key=f"composer_resend_{key}"):
        st.session_state["composer_outcomes"] = [publisher.notify_again(notice=notice, now=now)]
        st.rerun()


def zendesk(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """The incident's Zendesk tag and the new-tickets search, ready to copy."""
    iid = linking.first_issue_iid(
        [incident.issue_url or ""], context.settings.gitlab_production_project
    )
    if iid is None:
        st.caption("Set the production issue link to get the Zendesk tag.")
    else:
        tag = handbook.zendesk_tag(iid=iid)
        st.code(tag, language=None)
        if context.sources.clients.zendesk is not None and st.button(
            "Count tagged tickets", key="composer_zendesk_count"
        ):
            try:
                count = composer.zendesk_count(context.sources.clients, tag)
                st.metric("Tickets with this tag", count)
            except ApiError as exc:
                st.error(widgets.escape_markdown(str(exc)))
    st.caption("New tickets since the incident began:")
    st.code(handbook.zendesk_query(now - incident.opened_at), language=None)


def post_mortem(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """After resolving: the post-mortem link, kept with the incident."""
    url = st.text_input(
        "Post-mortem link",
        value=incident.post_mortem_url or incident.issue_url or "",
        key=f"composer_post_mortem_{incident.id}",
    )
    st.caption("Add it in Status.io: Incidents → this incident → Add Post-Mortem.")
    if st.button("Save post-mortem link", key="composer_post_mortem_save"):
        with deps.session(context) as db:
            composer.save_post_mortem(session=db, incident_id=incident.id or 0, url=url, now=now)
        st.rerun()


def audit_log(context: AppContext, incident: WorkingIncident) -> None:
    """Everything done for this incident: who, when, what, target, result."""
    with deps.session(context) as db:
        entries = composer.audit_entries(session=db, incident_id=incident.id or 0)
    widgets.audit_table(entries)
