"""Freshness on every page: the server's one refresher, "synced N s ago", new pages, reminders."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import streamlit as st
from streamlit import config as streamlit_config

from cmoc_core import refresher as refreshing
from cmoc_core.models import PagerDutyIncident
from cmoc_core.refresher import Refresher
from cmoc_core.reminders import browser_alert
from cmoc_core.storage import session_scope
from cmoc_core.timeutil import utc_now
from cmoc_core.ui import deps, widgets
from cmoc_core.ui.deps import AppContext

NEW_PAGE_EVERY = timedelta(seconds=5)
SEEN_PAGES = "freshness_seen_pages"
ASK_LABEL = "Turn on update reminders in this browser (notification and sound)"


def _say(line: str) -> None:
    """The refresher's news in the server's log."""
    print(f"refresher: {line}", file=sys.stderr, flush=True)


def _release(refresher: Refresher) -> None:
    refresher.stop(timeout=5)


@st.cache_resource(show_spinner=False, on_release=_release)
def _refresher_for(database_url: str, _context: AppContext) -> Refresher:
    """The one refresher of this server process for a database, started on first use."""
    context = _context
    refresher = Refresher(
        engine=context.engine,
        settings=context.settings,
        clients=context.sources.clients,
        holder=f"the app's background refresher, process {os.getpid()} on {socket.gethostname()}",
        say=_say,
        # The app synced at its first start, or is being set up: the first sync waits a turn.
        sync_at_start=False,
        reminder_transport=context.sources.sandbox.transport if context.demo else None,
    )
    # AppTest runs the pages without a server, so nothing runs in the background there. It
    # patches the config module's `get_option`, which `st.get_option` bound at import.
    return refresher if streamlit_config.get_option("global.appTest") else refresher.start()


def start_refresher(context: AppContext) -> Refresher:
    """This server's background refresher (one per process, whatever the sessions)."""
    return _refresher_for(context.settings.cmoc_database_url, context)


@st.cache_data(ttl=2, show_spinner=False, max_entries=64)
def _last_sync(database_url: str, source: str | None) -> datetime | None:
    """When the last complete sync started, read at most every two seconds per server."""
    engine = deps.engine_for(database_url)
    sources = refreshing.SOURCES if source is None else (source,)
    with session_scope(engine) as db:
        return refreshing.last_complete_sync(session=db, sources=sources)


def synced_badge(context: AppContext, *, source: str | None = None) -> None:
    """`Synced 35 s ago` (or, for one source, `Last complete sync: 35 s ago`), kept true."""
    _synced_line(context.settings.cmoc_database_url, source)


@st.fragment(run_every=timedelta(seconds=1))
def _synced_line(database_url: str, source: str | None) -> None:
    last = _last_sync(database_url, source)
    now = utc_now()
    if source is None:
        st.caption(
            refreshing.synced_words(last, now),
            help=f"Last complete sync started {widgets.moment(last)}.",
        )
    else:
        st.caption(f"Last complete sync: {refreshing.ago(last, now)}")


def refresher_status(context: AppContext) -> None:
    """The background refresher of this server in words: interval, last and next run, lock."""
    _status_lines(start_refresher(context))


@st.fragment(run_every=timedelta(seconds=5))
def _status_lines(refresher: Refresher) -> None:
    for sentence in refresher.status().sentences(utc_now()):
        st.caption(widgets.escape_markdown(sentence))


@st.fragment(run_every=NEW_PAGE_EVERY)
def watch_new_pages(
    context: AppContext,
    on_new: Callable[[PagerDutyIncident], None] | None = None,
    offers: Callable[[AppContext], None] | None = None,
) -> None:
    """Notice a CMOC page stored since this session last looked: a toast, and `offers` drawn
    here, at once and at every look.

    `on_new` gets each new page first, so `offers` can offer it. Nothing else is drawn again:
    a whole rerun started here could swallow a click the CMOC makes at that moment.
    """
    for page in _new_pages(context):
        st.toast(
            widgets.escape_markdown(refreshing.new_page_words(page)),
            icon=":material/notifications_active:",
            duration="long",
        )
        if on_new is not None:
            on_new(page)
    if offers is not None:
        offers(context)


def _new_pages(context: AppContext) -> list[PagerDutyIncident]:
    """The CMOC pages open now that this session has not seen open before, oldest first."""
    with deps.session(context) as db:
        open_ids = refreshing.open_page_ids(session=db)
    seen: set[str] | None = st.session_state.get(SEEN_PAGES)
    if seen is None:
        # What is open when the session starts is not news.
        st.session_state[SEEN_PAGES] = set(open_ids)
        return []
    new = [page_id for page_id in open_ids if page_id not in seen]
    if not new:
        return []
    st.session_state[SEEN_PAGES] = seen | set(new)
    with deps.session(context) as db:
        return refreshing.pages_by_id(session=db, ids=new)


@cache
def _script(name: str) -> str:
    return (Path(__file__).parent / name).read_text()


_CSS = (
    ".reminder-button{font-size:.8rem;margin:.2rem 0;padding:.2rem .6rem;border-radius:.4rem;"
    "border:1px solid var(--st-border-color, #ccc);background:transparent;"
    "color:var(--st-text-color);cursor:pointer}"
    ".reminder-line{font-size:.8rem;color:var(--st-text-color);opacity:.7}"
)
_REMINDER_ALERTS = st.components.v2.component(
    "cmoc_reminder_alerts", js=_script("reminder_alerts.js"), css=_CSS
)
RELOADED_WORDS = (
    "This page went blank in the browser and was reloaded. Drafts are kept: check yours before "
    "you publish."
)
_PAGE_WATCHDOG = st.components.v2.component("cmoc_page_watchdog", js=_script("page_watchdog.js"))


def page_watchdog() -> None:
    """Reload the page in the browser if Streamlit's drawing of it crashed blank, and say so."""
    with st.sidebar:
        watched = _PAGE_WATCHDOG(key="page_watchdog", on_reloaded_change=lambda: None)
    if getattr(watched, "reloaded", None):
        st.toast(RELOADED_WORDS, icon=":material/refresh:", duration="long")


def reminder_alerts(
    due_at: datetime | None,
    overdue: bool,
    *,
    incident: str,
    title: str,
    severity: int | None = None,
    gap_start: datetime | None = None,
    key: str = "reminder_alerts",
) -> None:
    """A browser notification and a beep 2 min before `due_at` and once overdue, once per gap.

    A button asks for the browser's permission once; the browser keeps time even while the tab
    is in the background. `overdue` is the server's word that the update is late now.
    """
    if due_at is None:
        return
    alert = browser_alert(
        incident=incident, title=title, severity=severity, due=due_at, gap_start=gap_start
    )
    data = {
        "key": alert.key,
        "soon_at_ms": int(alert.soon_at.timestamp() * 1000),
        "due_at_ms": int(alert.due_at.timestamp() * 1000),
        "overdue": overdue,
        "soon_title": alert.soon_title,
        "soon_body": alert.soon_body,
        "overdue_title": alert.overdue_title,
        "overdue_body": alert.overdue_body,
        "ask_label": ASK_LABEL,
    }
    _REMINDER_ALERTS(data=data, key=key)
