"""The composer's incident picker and incident facts: choose, take over or start an incident."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import streamlit as st

from cmoc_core import composer, handbook
from cmoc_core.access import Permission, Refused
from cmoc_core.composer import (
    NEW_INCIDENT,
    Choice,
    ChoiceKind,
    EditableFacts,
    FactsOutcome,
    IncidentFacts,
    PickerEntry,
)
from cmoc_core.models import PagerDutyIncident, StatusPageIncident, WorkingIncident
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.deps import AppContext

NEW = "➕ Start a new incident"
NEW_PAGES = "composer_new_pages"  # CMOC pages noticed in this session, offered until handled
NO_PAGE = "No page chosen"
NOT_SET = "Severity not set"


def pick_incident(context: AppContext, now: datetime) -> WorkingIncident | None:
    """Choose an open incident (the most urgent one first), take over a synced one, or start one."""
    settings = context.settings
    pages = [
        p for p in (settings.statusio_statuspage_id, settings.statusio_practice_statuspage_id) if p
    ]
    with deps.session(context) as db:
        offered = composer.picker(
            session=db,
            now=now,
            statuspage_ids=pages,
            practice_statuspage_id=settings.statusio_practice_statuspage_id,
            project=settings.gitlab_production_project,
        )
    labels: dict[Choice, str] = {}
    for entry in offered.entries:
        label = _label(entry, now)
        if label in labels.values():  # the same words would select the first of them
            label = f"{label} (opened {widgets.moment(entry.opened_at)})"
        labels[entry.choice] = label
    labels[NEW_INCIDENT] = NEW
    options = list(labels)
    # The browser answers with the label it showed; labels tell the time left, so one drawn a
    # minute ago may match no option now: then the incident worked on stays chosen, never the
    # default.
    kept = st.session_state.get("composer_chosen")
    index = options.index(kept if kept in labels else offered.default)
    chosen_next = st.session_state.pop("composer_select_next", None)
    if chosen_next in labels:
        st.session_state["composer_incident"] = chosen_next
        index = 0  # the value set just now is the one shown
    choice = st.selectbox(
        "Incident",
        options,
        index=index,
        key="composer_incident",
        # A label as the value (as a test may set it) stands for itself.
        format_func=lambda option: labels.get(option, str(option)),
    )
    st.session_state["composer_chosen"] = choice
    if not isinstance(choice, Choice):
        return None
    if choice.kind == ChoiceKind.WORKING:
        with deps.session(context) as db:
            return db.get(WorkingIncident, choice.ident)
    if choice.kind == ChoiceKind.SYNCED:
        _take_over(context, str(choice.ident), now)
        return None
    _start_form(context, now)
    return None


def notice_page(page: PagerDutyIncident) -> None:
    """Offer a CMOC page that arrived while the composer was open, above the incidents."""
    st.session_state[NEW_PAGES] = [*st.session_state.get(NEW_PAGES, []), page.id]


def offer_new_pages(context: AppContext) -> None:
    """Each page noticed here and not yet handled: what it is, and one click to start on it."""
    noticed: list[str] = st.session_state.get(NEW_PAGES, [])
    if not noticed:
        return
    with deps.session(context) as db:
        waiting = composer.pages_waiting(session=db, ids=noticed)
    st.session_state[NEW_PAGES] = [page.id for page in waiting]
    for page in waiting:
        with st.container(border=True):
            st.warning(
                widgets.escape_markdown(f"New CMOC page {_page_label(page)}"),
                icon=":material/notifications_active:",
            )
            if st.button("Start an incident for this page", key=f"composer_offer_{page.id}"):
                st.session_state["composer_select_next"] = NEW_INCIDENT
                st.session_state["composer_new_page"] = page.id
                st.session_state["composer_new_title"] = page.title
                st.rerun()


def _label(entry: PickerEntry, now: datetime) -> str:
    """`PRACTICE · title · S1 · Investigating · overdue 8 h 51 min`."""
    severity = f"S{entry.severity}" if entry.severity else NOT_SET
    if entry.resolved:
        state, timing = "Resolved", ""
    elif not entry.on_status_page:
        state, timing = "not yet on the status page", ""
    else:
        state, timing = handbook.state_name(entry.state), _timing(entry, now)
    parts = [entry.title, severity, state, timing]
    if entry.choice.kind == ChoiceKind.SYNCED:
        parts[0] = f"On the status page: {entry.title}"
    if entry.practice:
        parts.insert(0, "PRACTICE")
    return " · ".join(part for part in parts if part)


def _timing(entry: PickerEntry, now: datetime) -> str:
    overdue = entry.overdue_by(now)
    if overdue is not None:
        return f"overdue {_span(overdue)}"
    return f"due in {_span(entry.due - now)}" if entry.due is not None else ""


def _span(delta: timedelta) -> str:
    """`8 h 51 min`, `6 min`, `2 d 3 h`: whole minutes, for a label that needs no seconds."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min" if mins else "under 1 min"


def _take_over(context: AppContext, synced_id: str, now: datetime) -> None:
    """What the incident looks like on the status page, then the button to take it over."""
    settings = context.settings
    project = settings.gitlab_production_project
    with deps.session(context) as db:
        synced = db.get(StatusPageIncident, synced_id)
        if synced is None:
            return
        summary = composer.takeover_summary(session=db, synced=synced, project=project, now=now)
    with st.container(border=True):
        st.markdown("**Before you take it over**")
        severity = f"S{summary.severity}" if summary.severity else f"{NOT_SET} (counts as S1)"
        st.markdown(f"Severity: {severity}")
        state = handbook.state_name(summary.state) if summary.state else widgets.MISSING
        st.markdown(f"State: {widgets.escape_markdown(state)}")
        st.markdown(f"Last update: {widgets.moment(summary.last_at)}")
        st.text(summary.last_text or widgets.MISSING)
        due = widgets.moment(summary.due)
        if summary.due is not None and summary.due < now:
            due += f" (overdue {_span(now - summary.due)})"
        st.markdown(f"Next update due: {due}")
        page = _page_label(summary.page) if summary.page else widgets.MISSING
        st.markdown(f"PagerDuty page: {widgets.escape_markdown(page)}")
        issue = widgets.markdown_link(summary.issue_url or widgets.MISSING, summary.issue_url)
        st.markdown(f"Production issue: {issue}")
    if st.button("Take over this incident", key="composer_adopt", type="primary"):
        with deps.session(context) as db:
            synced = db.get(StatusPageIncident, synced_id)
            if synced is None:
                return
            adopted = composer.adopt(session=db, synced=synced, project=project)
            st.session_state["composer_select_next"] = Choice(ChoiceKind.WORKING, adopted.id)
        st.rerun()


def _severity_and_page(
    pages: Sequence[PagerDutyIncident],
    *,
    severity: int | None,
    page_id: str | None,
    keys: tuple[str, str],
) -> tuple[int | None, str | None]:
    """The severity and PagerDuty page choices of the start form and of the facts panel."""
    by_id = {page.id: page for page in pages}
    page_ids: list[str | None] = [None, *by_id]
    chosen_severity = st.selectbox(
        "Severity",
        composer.SEVERITIES,
        index=composer.SEVERITIES.index(severity) if severity else None,
        format_func=lambda level: f"S{level}",
        placeholder=f"{NOT_SET} (counts as S1)",
        key=keys[0],
    )
    chosen_page = st.selectbox(
        "PagerDuty page",
        page_ids,
        index=page_ids.index(page_id) if page_id in page_ids else 0,
        format_func=lambda ident: _page_label(by_id[ident]) if ident in by_id else NO_PAGE,
        key=keys[1],
    )
    return chosen_severity, chosen_page


def _page_label(page: PagerDutyIncident) -> str:
    """`#182679 Delays in CI/CD job processing (triggered 28-11-2026 23:57 UTC)`."""
    triggered = f"(triggered {widgets.moment(page.created_at)})"
    closed = " · resolved" if page.status == "resolved" else ""
    return f"#{page.incident_number} {page.title} {triggered}{closed}"


def facts_form(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """Severity, PagerDuty page, issue, Slack channel and Zoom link: changed at any time."""
    incident_id = incident.id or 0
    said: FactsOutcome | None = st.session_state.pop(f"composer_facts_said_{incident_id}", None)
    keys = {
        name: f"composer_facts_{name}_{incident_id}"
        for name in ("title", "severity", "page", "issue", "channel", "zoom")
    }
    shown, stored = f"composer_facts_shown_{incident_id}", composer.facts_of(incident)
    if st.session_state.get(shown) != stored:
        # Changed here or elsewhere: the fields start again from what is stored.
        for key in keys.values():
            st.session_state.pop(key, None)
        st.session_state[shown] = stored
    # Open while the severity is unknown: the countdown counts it as S1 until it is set.
    panel = st.expander(
        "Incident facts",
        expanded=incident.severity is None,
        key=f"composer_facts_{incident_id}",
        on_change="rerun",
    )
    if panel.open:  # its fields are drawn only while it is open
        viewer = deps.viewer(context)
        with deps.session(context) as db:
            pages = composer.page_choices(session=db, incident=incident)
        with panel, st.form(f"composer_facts_form_{incident_id}"):
            title = st.text_input(
                "Title",
                value=incident.title,
                key=keys["title"],
                disabled=incident.statuspage_incident_id is not None,
                help="Set until the incident is on the status page, which keeps it then.",
            )
            severity, page_id = _severity_and_page(
                pages,
                severity=incident.severity,
                page_id=incident.pagerduty_incident_id,
                keys=(keys["severity"], keys["page"]),
            )
            issue_url = st.text_input(
                "Production issue link", value=incident.issue_url or "", key=keys["issue"]
            )
            channel = st.text_input(
                "Incident Slack channel (e.g. #incident-12345)",
                value=incident.slack_channel or "",
                key=keys["channel"],
            )
            zoom = st.text_input("Zoom link", value=incident.zoom_url or "", key=keys["zoom"])
            refused = viewer.refusal(Permission.DRAFT)
            widgets.refused_note(refused)
            if st.form_submit_button(
                "Save incident facts",
                key=f"composer_facts_save_{incident_id}",
                disabled=refused is not None,
                help=widgets.refusal_help(refused),
            ):
                facts = EditableFacts(
                    title=title,
                    severity=severity,
                    page_id=page_id,
                    issue_url=issue_url,
                    slack_channel=channel,
                    zoom_url=zoom,
                )
                try:
                    with deps.session(context) as db:
                        outcome = composer.change_facts(
                            session=db,
                            incident_id=incident_id,
                            facts=facts,
                            actor=viewer,
                            now=now,
                            project=context.settings.gitlab_production_project,
                            seen=stored,
                        )
                except Refused as exc:
                    st.error(widgets.escape_markdown(str(exc)), icon=":material/block:")
                    return
                if outcome.problems:
                    for problem in outcome.problems:
                        st.error(widgets.escape_markdown(problem), icon=":material/error:")
                else:
                    st.session_state[f"composer_facts_said_{incident_id}"] = outcome
                    st.rerun()  # the whole page as changed
    if said is not None:
        for sentence in said.changed or ("Nothing changed.",):
            st.success(widgets.escape_markdown(sentence), icon=":material/check_circle:")


def _start_form(context: AppContext, now: datetime) -> None:
    settings = context.settings
    with deps.session(context) as db:
        open_pages = composer.open_pages(session=db)
    with st.form("composer_start_form"):
        title = st.text_input(
            "Title: in simple terms, what is the issue?", key="composer_new_title"
        )
        targets = {"The public status page": False}
        if settings.statusio_practice_statuspage_id:
            targets["The practice status page (drill)"] = True
        target = st.radio("Publish to", list(targets), key="composer_new_target")
        issue_url = st.text_input("Production issue link", key="composer_new_issue")
        severity, page_id = _severity_and_page(
            open_pages,
            severity=None,
            page_id=None,
            keys=("composer_new_severity", "composer_new_page"),
        )
        channel = st.text_input(
            "Incident Slack channel (e.g. #incident-12345)", key="composer_new_channel"
        )
        zoom = st.text_input("Zoom link", key="composer_new_zoom")
        viewer = deps.viewer(context)
        refused = viewer.refusal(Permission.DRAFT)
        widgets.refused_note(refused)
        if st.form_submit_button(
            "Start",
            type="primary",
            disabled=refused is not None,
            help=widgets.refusal_help(refused),
        ):
            if not title.strip():
                st.error("The title is empty: say in simple terms what the issue is.")
                return
            facts = IncidentFacts(
                title=title,
                practice=targets[target],
                severity=severity,
                issue_url=issue_url,
                page_id=page_id,
                slack_channel=channel,
                zoom_url=zoom,
            )
            try:
                with deps.session(context) as db:
                    incident = composer.start_incident(
                        session=db,
                        facts=facts,
                        statuspage_id=composer.statuspage_for(settings, practice=facts.practice),
                        now=now,
                        actor=viewer,
                    )
                    chosen = Choice(ChoiceKind.WORKING, incident.id)
            except Refused as exc:
                st.error(widgets.escape_markdown(str(exc)), icon=":material/block:")
                return
            st.session_state["composer_select_next"] = chosen
            st.rerun()
