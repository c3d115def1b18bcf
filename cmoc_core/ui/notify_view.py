"""The composer's side tabs: stakeholder notice, Zendesk, post-mortem and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import streamlit as st

from cmoc_core import auditlog, composer, handbook, linking, notifier
from cmoc_core.access import Refused
from cmoc_core.clients import ApiError
from cmoc_core.commands import Action, SlackNotice
from cmoc_core.handbook import StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.notifier import Destination
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.ui import audit_view, deps, widgets
from cmoc_core.ui.deps import AppContext
from cmoc_core.ui.widgets import refusal_help, refused_note

OUTCOMES = "composer_outcomes"

# "It can take up to a few minutes for new tickets, users, and other resources to be indexed
# for search": developer.zendesk.com/api-reference/ticketing/ticket-management/search/
ZENDESK_LAG = (
    "Zendesk's search can take a few minutes to include a new ticket or tag: count again in a "
    "few minutes before reporting a number."
)


def _outcomes(act: Callable[[], list[Outcome]]) -> None:
    """Keep what an action did for the page to show; a refusal is one line, like a failure."""
    try:
        st.session_state[OUTCOMES] = act()
    except Refused as exc:
        st.session_state[OUTCOMES] = [Outcome(OutcomeStatus.FAILED, str(exc))]


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
    not_yours = publisher.refusal(Action.NOTIFY_STAKEHOLDERS, practice=incident.practice)
    places = notifier.destinations(settings)
    for notice in publisher.unsettled_notices(incident_id=incident.id or 0):
        _unsettled(context, notice, places, now, not_yours)
    posted = notifier.posted_at(incident)
    if posted is not None:
        st.caption(f"Stakeholders were notified {widgets.moment(posted)}.")
    refused = notifier.refusal(summary=summary, channel=channel)
    if refused:
        st.error(refused, icon=":material/block:")
    blocked = refused is not None or not_yours is not None
    if places:
        label = notifier.post_label(places)
        clicked = st.button(
            widgets.escape_markdown(label),
            key="composer_notify",
            type="primary",
            disabled=blocked,
            help=refusal_help(not_yours),
        )
        refused_note(not_yours)
        if clicked and not blocked:
            _outcomes(lambda: publisher.notify(incident_id=incident.id or 0, text=text, now=now))
            st.rerun()
    else:
        st.caption(
            "No Incident Notifier webhook is configured: copy the text above into the "
            "Incident Notifier workflow, then record it here."
        )
        clicked = st.button(
            "I posted it by hand",
            key="composer_notify_manual",
            disabled=blocked,
            help=refusal_help(not_yours),
        )
        refused_note(not_yours)
        if clicked and not blocked:
            _outcomes(
                lambda: [
                    publisher.record_manual_notification(
                        incident_id=incident.id or 0, text=text, now=now
                    )
                ]
            )
            st.rerun()


def _unsettled(
    context: AppContext,
    notice: SlackNotice,
    places: tuple[Destination, ...],
    now: datetime,
    not_yours: str | None,
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
    blocked = not_yours is not None
    if there.button(
        f"It is in {where}",
        key=f"composer_arrived_{key}",
        disabled=blocked,
        help=refusal_help(not_yours),
    ):
        _outcomes(lambda: [publisher.notice_arrived(notice=notice, now=now)])
        st.rerun()
    if missing.button(
        f"Not in {where}: send it again",
        key=f"composer_resend_{key}",
        disabled=blocked,
        help=refusal_help(not_yours),
    ):
        _outcomes(lambda: [publisher.notify_again(notice=notice, now=now)])
        st.rerun()
    refused_note(not_yours)


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
        if context.sources.clients.zendesk is not None:
            publisher = deps.publisher(context)
            not_yours = publisher.refusal(StepKey.ZENDESK_TAG)
            clicked = widgets.refusable_button(
                "Count tagged tickets",
                key="composer_zendesk_count",
                refused=not_yours,
            )
            if clicked:
                try:
                    count = publisher.zendesk_count(tag)
                    st.metric("Tickets with this tag", count, help=ZENDESK_LAG)
                except (ApiError, Refused) as exc:
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
    publisher = deps.publisher(context)
    not_yours = publisher.refusal(StepKey.POST_MORTEM, practice=incident.practice)
    clicked = widgets.refusable_button(
        "Save post-mortem link",
        key="composer_post_mortem_save",
        refused=not_yours,
    )
    if clicked:
        try:
            with deps.session(context) as db:
                composer.save_post_mortem(
                    session=db,
                    incident_id=incident.id or 0,
                    url=url,
                    now=now,
                    actor=publisher.viewer,
                )
        except Refused as exc:
            st.error(widgets.escape_markdown(str(exc)))
            return
        st.rerun()


def audit_log(context: AppContext, incident: WorkingIncident) -> None:
    """Everything done for this incident: when, who, what, where and how it ended."""
    with deps.session(context) as db:
        entries = composer.audit_entries(session=db, incident_id=incident.id or 0)
        lines = auditlog.lines(session=db, entries=entries)
    audit_view.audit_table(lines, when=widgets.moment, key="composer_audit")
