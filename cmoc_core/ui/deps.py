"""What every page needs: settings, the migrated engine, the sources, the demo data."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, cast

import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from cmoc_core.access import Viewer, configured_viewer, signed_in_viewer
from cmoc_core.composer import Publisher
from cmoc_core.config import SECRETS_PATH, ConfigError, Settings, load_settings
from cmoc_core.coverage import SOURCES
from cmoc_core.sources import Sources, has_synced, open_sources
from cmoc_core.storage import DatabaseUnavailable, failure_reason, open_database, session_scope
from cmoc_core.sync import Progress, SyncReport, run_sync
from cmoc_core.timeutil import utc_now
from cmoc_core.ui.widgets import escape_markdown


@dataclass
class AppContext:
    """The effective settings, the database and the sources of this app."""

    settings: Settings
    engine: Engine
    sources: Sources

    @property
    def demo(self) -> bool:
        """The sandbox stands in for every service."""
        return self.sources.demo


@st.cache_resource(show_spinner=False)
def engine_for(database_url: str) -> Engine:
    """The engine for a database URL, migrated to the newest schema once per process."""
    return open_database(database_url)


@st.cache_resource(show_spinner=False)
def sources_for(database_url: str) -> Sources:
    """The configured services, or the in-process sandbox in demo mode."""
    return open_sources(load_settings())


def current_settings() -> Settings:
    """The settings, read again only when the environment or the secrets file changed."""
    try:
        stat = SECRETS_PATH.stat()
        secrets: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        secrets = None
    return _settings_for(tuple(sorted(os.environ.items())), secrets)


@functools.lru_cache(maxsize=8)
def _settings_for(
    _environment: tuple[tuple[str, str], ...], _secrets: tuple[int, int] | None
) -> Settings:
    """The settings for one environment and one version of the secrets file."""
    return load_settings()


def app_context() -> AppContext:
    """The app's context, with a banner saying who acts in this mode; stops on a failure."""
    context = loaded_context()
    if context.demo:
        st.info(_demo_banner(), icon=":material/science:")
        _ensure_demo_data(context)
    elif not auth_configured():
        # Served on this machine only (the sign-in gate stops it otherwise).
        actor = escape_markdown(context.settings.actor)
        st.info(
            f"All actions are taken as {actor}: nobody signs in. To have people sign in as "
            "themselves, set up [auth] in .streamlit/secrets.toml.",
            icon=":material/person:",
        )
    # Whatever page is opened first starts this server's one background refresher.
    from cmoc_core.ui import freshness  # it builds on this module

    freshness.start_refresher(context)
    freshness.page_watchdog()
    return context


def _demo_banner() -> str:
    sandbox = (
        "Demo mode: no service is configured, so a built-in sandbox serves a synthetic "
        "organisation."
    )
    if auth_configured():
        return f"{sandbox} Actions go nowhere: nothing leaves this machine."
    return f"{sandbox} Nobody signs in, and actions go nowhere: nothing leaves this machine."


def loaded_context() -> AppContext:
    """Settings, engine and sources; on failure one line saying what to fix, and the page stops."""
    try:
        settings = current_settings()
        engine = engine_for(settings.cmoc_database_url)
        sources = sources_for(settings.cmoc_database_url)
    except ConfigError as exc:
        _stop("The configuration is not valid: " + " ".join("; ".join(exc.problems).split()))
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]).upper() for e in exc.errors() if e.get("loc")})
        _stop(f"The configuration is not valid: check {', '.join(names) or 'the settings'}")
    except DatabaseUnavailable as exc:
        _stop(f"The database cannot be used: {exc}")
    except SQLAlchemyError as exc:
        reason = failure_reason(exc, current_settings().cmoc_database_url)
        _stop(
            f"The database did not answer ({reason}). Check that it is running and reachable "
            "at CMOC_DATABASE_URL, then reload this page."
        )
    return AppContext(sources.settings, engine, sources)


def _stop(message: str) -> NoReturn:
    st.error(escape_markdown(message))
    st.stop()


def _ensure_demo_data(context: AppContext) -> None:
    with session_scope(context.engine) as db:
        if has_synced(session=db):
            return
    with st.spinner("Loading the demo organisation from the sandbox…"):
        report = sync_now(context, unless_synced=True)
    if report is not None and report.busy:
        st.info(escape_markdown(report.busy))


def sync_now(
    context: AppContext,
    *,
    sources: tuple[str, ...] | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
    unless_synced: bool = False,
) -> SyncReport | None:
    """Run a sync from the app; None if skipped as already synced.

    One sync at a time per database, shared with the command line: while another runs, the
    report's `busy` says so and nothing is pulled.
    """
    if unless_synced:
        with session_scope(context.engine) as db:
            if has_synced(session=db):
                return None
    return run_sync(
        engine=context.engine,
        settings=context.settings,
        clients=context.sources.clients,
        since=since,
        progress=progress,
        sources=sources or SOURCES,
        holder=f"the app, process {os.getpid()} on {socket.gethostname()}",
    )


def now() -> datetime:
    """The current time; a test may fix it in `st.session_state["clock_now"]`."""
    fixed = st.session_state.get("clock_now")
    return fixed if isinstance(fixed, datetime) else utc_now()


def auth_configured() -> bool:
    """Sign-in is set up: the secrets file has Streamlit's `[auth]` section."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


VIEWER_KEY = "signed_in_viewer"
VIEWER_FRESH_FOR = timedelta(minutes=1)


def viewer(context: AppContext) -> Viewer:
    """The person using this session: the signed-in user, or the configured user for everyone."""
    if not auth_configured() or not st.user.get("is_logged_in"):
        return configured_viewer(context.settings)
    email = str(st.user.get("email") or "")
    name = st.user.get("name")
    asked = (email, name, id(context.settings))
    kept = st.session_state.get(VIEWER_KEY)
    at = utc_now()
    # Roles come from the rotation, which changes by the day: read once a minute, not per draw.
    if kept is not None and kept[0] == asked and at - kept[1] < VIEWER_FRESH_FOR:
        return cast(Viewer, kept[2])
    with session(context) as db:
        found = signed_in_viewer(
            db, context.settings, email=email, name=str(name) if name else None, now=now()
        )
    st.session_state[VIEWER_KEY] = (asked, at, found)
    return found


def publisher(context: AppContext) -> Publisher:
    """The composer's publisher for this app's clients, acting for this session's person."""
    return Publisher(
        context.engine,
        context.sources.clients,
        context.settings.gitlab_production_project,
        viewer(context),
    )


@contextmanager
def session(context: AppContext) -> Iterator[Session]:
    """A database session for one page render."""
    with session_scope(context.engine) as db:
        yield db
