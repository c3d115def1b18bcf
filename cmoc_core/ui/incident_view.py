"""The composer's incident picker: choose an open incident, take over a synced one, start one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from cmoc_core import composer
from cmoc_core.composer import IncidentFacts
from cmoc_core.models import WorkingIncident
from cmoc_core.ui import deps
from cmoc_core.ui.deps import AppContext

NEW = "➕ Start a new incident"


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
