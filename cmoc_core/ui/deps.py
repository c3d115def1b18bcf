"""What every page needs: settings, the migrated engine, the sources, the demo data."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from cmoc_core.composer import Publisher
from cmoc_core.config import SECRETS_PATH, ConfigError, Settings, load_settings
from cmoc_core.sources import Sources, has_synced, open_sources
from cmoc_core.storage import DatabaseUnavailable, open_database, session_scope
from cmoc_core.sync import SOURCES, Progress, SyncReport, run_sync
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
        _stop(f"The database cannot be opened: {type(exc).__name__}")
    context = AppContext(sources.settings, engine, sources)
    if context.demo:
        st.info(
            "Demo mode: no service is configured, so a built-in sandbox serves a synthetic "
            "organisation. Nothing leaves this machine.",
            icon=":material/science:",
        )
        _ensure_demo_data(context)
    return context


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


def publisher(context: AppContext) -> Publisher:
    """The composer's publisher for this app's clients."""
    settings = context.settings
    return Publisher(
        context.engine, context.sources.clients, settings.gitlab_production_project, settings.actor
    )


@contextmanager
def session(context: AppContext) -> Iterator[Session]:
    """A database session for one page render."""
    with session_scope(context.engine) as db:
        yield db
