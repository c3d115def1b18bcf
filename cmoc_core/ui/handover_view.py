"""The handover page's parts: reminders, the shift picker, the draft, preview and creation."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from cmoc_core import handover, linking
from cmoc_core.access import Refused
from cmoc_core.handover import HandoverDraft, Shift, Window
from cmoc_core.outbox import Outcome, OutcomeStatus
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.deps import AppContext

BODY = "handover_body"
CONFIDENTIAL = "handover_confidential"
LOADED = "handover_loaded"
PREVIEW = "handover_preview"
CREATION = "handover_creation"


def recent_shifts(context: AppContext, now: datetime) -> list[Shift]:
    """The recent CMOC shifts; when there are none, says why and stops the page."""
    with deps.session(context) as db:
        shifts = handover.recent_shifts(session=db, settings=context.settings, now=now)
    if not shifts:
        st.info(
            f"No CMOC shift in the last {handover.RECENT.days} days. Sync PagerDuty on the "
            "Sync & settings page (the CMOC schedules must be configured)."
        )
        st.stop()
    return shifts


def reminders(shifts: list[Shift], now: datetime) -> None:
    """A reminder for each shift ending within the hour, or ended, without a handover."""
    for shift in shifts:
        text = handover.reminder(shift=shift, now=now)
        if text:
            st.warning(widgets.escape_markdown(text), icon=":material/alarm:")


def pick_shift(shifts: list[Shift], now: datetime) -> Shift:
    """Choose a shift, the one on call now first; an unknown one stops the page with an error."""
    current = handover.current_shift(shifts, now)
    keys = [s.key for s in shifts]
    labels = {s.key: f"{s.describe()} · {handover.shift_status(s, now)}" for s in shifts}
    chosen = st.selectbox(
        "Shift",
        keys,
        index=keys.index(current.key) if current else 0,
        format_func=lambda key: labels.get(key, key),
        key="handover_shift",
    )
    try:
        return handover.find_shift(shifts, chosen)
    except LookupError as exc:
        st.error(widgets.escape_markdown(str(exc)))
        st.stop()


def show_creation(context: AppContext, shift: Shift, now: datetime) -> None:
    """How the last creation for this shift ended; after a refusal, the offer to retry."""
    found = st.session_state.get(CREATION)
    if not found or found[0] != shift.key:
        return
    creation: handover.Creation = found[1]
    text = widgets.escape_markdown(creation.outcome.message)
    if creation.outcome.ok:
        st.success(text, icon=":material/check_circle:")
        return
    if creation.outcome.status == "in_progress":
        st.info(text, icon=":material/hourglass_top:")
        return
    st.error(text, icon=":material/error:")
    if creation.fallback_author:
        author = widgets.escape_markdown(creation.fallback_author)
        st.warning(
            f"You can create it as @{author} instead, but then it does not count as "
            f"{widgets.escape_markdown(shift.person)}'s handover for this shift.",
            icon=":material/warning:",
        )
        refused = _refusal(context, shift)
        clicked = widgets.refusable_button(
            f"Create it as @{author}",
            key="handover_as_token_user",
            refused=refused,
        )
        if clicked:
            _create(context, shift, now, as_token_user=True)


def handed_over(context: AppContext, shift: Shift) -> None:
    """The shift's handover issue, linked when its address leads to GitLab."""
    if shift.counted:
        st.success("This shift is handed over.", icon=":material/assignment_turned_in:")
    else:
        person = widgets.escape_markdown(shift.person)
        deadline = shift.counts_until
        then = (
            f"For the shift to count, {person} can create their own handover issue in GitLab "
            f"by {widgets.moment(deadline)}."
            if deps.now() <= deadline
            else "Nothing more is needed."
        )
        st.warning(
            f"This shift has a handover issue, but it is not authored by {person}, so it does "
            f"not count for the shift. The next CMOC can still read it. {then}",
            icon=":material/warning:",
        )
    settings = context.settings
    link = linking.gitlab_link(
        shift.handover_url,
        gitlab_url=settings.gitlab_url,
        project=settings.gitlab_handover_project,
    )
    if link:
        st.link_button("Open the handover issue", link, key="handover_link")
    elif shift.handover_url:
        st.caption("Handover issue: " + widgets.escape_markdown(shift.handover_url))


def compose(context: AppContext, shift: Shift, now: datetime) -> None:
    """The draft from the shift's window, kept as it is typed; preview and create."""
    with deps.session(context) as db:
        written = handover.writing(session=db, settings=context.settings, shift=shift)
    window, fresh = written.window, written.fresh
    if st.session_state.get(LOADED) != shift.key:
        st.session_state[BODY] = written.kept.body
        st.session_state[CONFIDENTIAL] = written.kept.confidential
        st.session_state[LOADED] = shift.key
        st.session_state.pop(PREVIEW, None)
    _summary(window)
    _who_creates(context, shift)
    st.markdown(f"**Title:** {widgets.escape_markdown(fresh.title)}")
    st.text_area(
        "Handover issue (Markdown): edit it, the notes especially",
        key=BODY,
        height=360,
        on_change=_save,
        args=(context, shift, now),
    )
    st.checkbox("Confidential", key=CONFIDENTIAL, on_change=_save, args=(context, shift, now))
    st.caption(handover.CONFIDENTIAL_REASON)
    left, middle, right = st.columns(3)
    left.button("Preview", key="handover_preview_button", on_click=_show_preview, type="primary")
    middle.button(
        "Nothing happened",
        key="handover_nothing",
        on_click=_replace,
        args=(context, shift, now, handover.nothing_happened(shift).body),
        help="A quiet shift is worth a handover too: it tells the next CMOC all is well.",
    )
    right.button(
        "Rebuild from the latest data",
        key="handover_rebuild",
        on_click=_replace,
        args=(context, shift, now, fresh.body),
        help="Replaces the text (your edits too) with a fresh draft from the synced data.",
    )
    if st.session_state.get(PREVIEW):
        _preview(context, shift, window, now)


def _summary(window: Window) -> None:
    if window.quiet:
        st.info(
            "Nothing is recorded in this shift's window: no status-page incidents, no "
            "maintenance in progress or coming up, no contact requests. The draft says "
            "nothing happened; add anything else worth knowing.",
            icon=":material/done_all:",
        )
        return
    st.caption(
        f"In this shift: {len(window.incidents)} incident(s), "
        f"{handover.still_open(window)} still open; "
        f"{len(window.maintenance)} maintenance in progress or coming up; "
        f"{len(window.contact_requests)} contact request(s) opened."
    )


def _save(context: AppContext, shift: Shift, now: datetime) -> None:
    with deps.session(context) as db:
        handover.save_draft(
            session=db,
            shift=shift,
            body=st.session_state.get(BODY, ""),
            confidential=bool(st.session_state.get(CONFIDENTIAL, True)),
            now=now,
        )


def _show_preview() -> None:
    st.session_state[PREVIEW] = True


def _replace(context: AppContext, shift: Shift, now: datetime, body: str) -> None:
    st.session_state[BODY] = body
    st.session_state[PREVIEW] = True
    _save(context, shift, now)


def _current(shift: Shift) -> HandoverDraft:
    return HandoverDraft(
        handover.title(shift),
        st.session_state.get(BODY, ""),
        bool(st.session_state.get(CONFIDENTIAL, True)),
    )


def _preview(context: AppContext, shift: Shift, window: Window, now: datetime) -> None:
    issue = _current(shift)
    st.subheader("Preview")
    author = (
        f"@{shift.gitlab_username}" if shift.gitlab_username else "GitLab account not known yet"
    )
    st.markdown(
        f"**{widgets.escape_markdown(issue.title)}** in "
        f"{widgets.escape_markdown(context.settings.gitlab_handover_project)} · "
        f"{'confidential' if issue.confidential else 'public'} · author "
        f"{widgets.escape_markdown(shift.person)} ({widgets.escape_markdown(author)})"
    )
    checked = handover.review(window=window, handover=issue)
    if checked.empty:
        st.error("The handover is empty: say what happened, or that nothing did.")
        return
    if checked.public:
        st.warning(
            "Public: anyone can read it. Make sure it names no customer and no confidential "
            "incident.",
            icon=":material/public:",
        )
    if checked.leaves_out_activity:
        st.warning(
            "The synced data shows incidents, maintenance or contact requests in this shift "
            "that this text leaves out. Rebuild from the latest data, or add them to the text.",
            icon=":material/warning:",
        )
    st.code(issue.body, language="markdown", wrap_lines=True)
    refused = _refusal(context, shift)
    clicked = widgets.refusable_button(
        "Create the handover issue",
        key="handover_create",
        type="primary",
        refused=refused,
    )
    if clicked:
        _create(context, shift, now)


def _who_creates(context: AppContext, shift: Shift) -> None:
    """Before writing: whether this person may create the shift's handover, and as whom."""
    viewer = deps.viewer(context)
    refused = handover.creation_refusal(viewer=viewer, shift=shift)
    if refused is not None:
        st.info(widgets.escape_markdown(refused), icon=":material/block:")
        return
    person = handover.manager_for(viewer=viewer, shift=shift)
    if person is not None:
        st.caption(
            widgets.escape_markdown(
                f"You create this handover for {person}'s shift, as manager: the audit log says so."
            )
        )


def _refusal(context: AppContext, shift: Shift) -> str | None:
    return handover.creation_refusal(viewer=deps.viewer(context), shift=shift)


def _create(
    context: AppContext, shift: Shift, now: datetime, *, as_token_user: bool = False
) -> None:
    try:
        creation = handover.create(
            engine=context.engine,
            gitlab=context.sources.clients.gitlab,
            project=context.settings.gitlab_handover_project,
            shift=shift,
            handover=_current(shift),
            viewer=deps.viewer(context),
            now=now,
            as_token_user=as_token_user,
        )
    except Refused as exc:
        creation = handover.Creation(Outcome(OutcomeStatus.FAILED, str(exc)))
    st.session_state[CREATION] = (shift.key, creation)
    if creation.outcome.ok:
        st.session_state.pop(PREVIEW, None)
    st.rerun()
