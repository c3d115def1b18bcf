"""The composer's side tabs: stakeholder notice, Zendesk, post-mortem and the audit log."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from cmoc_core import auditlog, composer, handbook, linking, notifier
from cmoc_core.clients import ApiError
from cmoc_core.commands import SlackNotice
from cmoc_core.models import WorkingIncident
from cmoc_core.notifier import Destination
from cmoc_core.ui import audit_view, deps, widgets
from cmoc_core.ui.deps import AppContext


def stakeholders(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """The Incident Notifier form: posts to the webhooks, or copyable text recorded by hand."""
    settings = context.settings
    page_url = composer.status_page_url(incident)
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
    places = notifier.destinations(settings)
    for notice in publisher.unsettled_notices(incident_id=incident.id or 0):
        _unsettled(context, notice, places, now)
    posted = notifier.posted_at(incident)
    if posted is not None:
        st.caption(f"Stakeholders were notified {widgets.moment(posted)}.")
    refused = notifier.refusal(summary=summary, channel=channel)
    if refused:
        st.error(refused, icon=":material/block:")
    if places:
        label = notifier.post_label(places)
        clicked = st.button(
            widgets.escape_markdown(label),
            key="composer_notify",
            type="primary",
            disabled=refused is not None,
        )
        if clicked and refused is None:
            st.session_state["composer_outcomes"] = publisher.notify(
                incident_id=incident.id or 0, text=text, now=now
            )
            st.rerun()
    else:
        st.caption(
            "No Incident Notifier webhook is configured: copy the text above into the "
            "Incident Notifier workflow, then record it here."
        )
        clicked = st.button(
            "I posted it by hand", key="composer_notify_manual", disabled=refused is not None
        )
        if clicked and refused is None:
            st.session_state["composer_outcomes"] = [
                publisher.record_manual_notification(
                    incident_id=incident.id or 0, text=text, now=now
                )
            ]
            st.rerun()


def _unsettled(
    context: AppContext, notice: SlackNotice, places: tuple[Destination, ...], now: datetime
) -> None:
    """A notice that may not have arrived: Slack cannot be asked, so the CMOC looks and decides."""
    where = widgets.escape_markdown(notifier.label_of(notice, places))
    st.warning(
        f"The notice to {where} may or may not have arrived, and Slack cannot be asked. Look in "
        "the channel for this text, then say what you found.",
        icon=":material/help:",
    )
    st.text(notice.text)
    publisher, key = deps.publisher(context), notice.key()
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
    st.caption(f"New tickets since the incident began ({widgets.moment(incident.opened_at)}):")
    st.code(handbook.zendesk_query(now - incident.opened_at), language=None)


def post_mortem(context: AppContext, incident: WorkingIncident, now: datetime) -> None:
    """After resolving: the post-mortem link, kept with the incident."""
    url = st.text_input(
        "Post-mortem link",
        value=incident.post_mortem_url or incident.issue_url or "",
        key=f"composer_post_mortem_{incident.id}",
    )
    resolved = widgets.moment(incident.resolved_at)
    st.caption(
        f"Resolved {resolved}. Add the link in Status.io: Incidents → this incident → "
        "Add Post-Mortem."
    )
    if st.button("Save post-mortem link", key="composer_post_mortem_save"):
        with deps.session(context) as db:
            composer.save_post_mortem(session=db, incident_id=incident.id or 0, url=url, now=now)
        st.rerun()


def audit_log(context: AppContext, incident: WorkingIncident) -> None:
    """Everything done for this incident: when, who, what, where and how it ended."""
    with deps.session(context) as db:
        entries = composer.audit_entries(session=db, incident_id=incident.id or 0)
        lines = auditlog.lines(session=db, entries=entries)
    audit_view.audit_table(lines, when=widgets.moment, key="composer_audit")
