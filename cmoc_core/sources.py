"""The services a run talks to: the configured ones, or the built-in sandbox in demo mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from cmoc_core.clients import Clients, build_clients, gitlab, pagerduty, slack, statusio, zendesk
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.models import (
    Component,
    GitLabIssue,
    GitLabLabelEvent,
    Maintenance,
    OnCallEntry,
    PagerDutyIncident,
    PagerDutyLogEntry,
    StatusPageIncident,
    StatusPageMessage,
    SyncState,
)
from cmoc_core.timeutil import utc_now

# Each client names its service in its errors; the pages and reports use the same spelling.
SOURCE_NAMES = {
    "pagerduty": pagerduty.API,
    "statusio": statusio.API,
    "gitlab": gitlab.API,
    "slack": slack.API,
    "zendesk": zendesk.API,
}


@dataclass
class Sources:
    """Effective settings and clients; `demo` says the sandbox stands in for every service."""

    settings: Settings
    clients: Clients
    demo: bool
    sandbox: Any = None


def demo_end(now: datetime) -> datetime:
    """The end of the demo organisation's history: the start of the current UTC day."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def open_sources(
    settings: Settings,
    *,
    sandbox: object | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Sources:
    """Clients for the configured services, or for the in-process sandbox when there are none.

    `sleep` replaces real waiting (retry back-off, Status.io's spacing), as in tests.
    """
    if not settings.demo_mode:
        return Sources(settings, build_clients(settings, sleep=sleep), demo=False)
    from cmoc_core.sandbox import Sandbox

    if not isinstance(sandbox, Sandbox):
        sandbox = Sandbox(end=demo_end(utc_now()), clock=utc_now)
    box = sandbox
    # The sandbox stands in for the services; the other settings (roles, intervals) stay.
    sandboxed = settings_from_mapping(box.settings())
    effective = settings.model_copy(
        update={name: getattr(sandboxed, name) for name in sandboxed.model_fields_set}
    )
    clients = build_clients(
        effective, transport=box.transport, sleep=sleep, statusio_min_interval=0.0
    )
    return Sources(effective, clients, demo=True, sandbox=box)


@dataclass
class SourceStatus:
    """What the Sync page shows for one source."""

    name: str
    configured: bool
    credentials: dict[str, str]
    last_sync: datetime | None
    last_error: str | None
    counts: dict[str, int]


SOURCE_CREDENTIALS = {
    "pagerduty": ("PAGERDUTY_API_TOKEN", "PAGERDUTY_FROM_EMAIL"),
    "statusio": ("STATUSIO_API_ID", "STATUSIO_API_KEY", "STATUSIO_STATUSPAGE_ID"),
    "gitlab": ("GITLAB_TOKEN",),
}
SOURCE_TABLES = {
    "pagerduty": {
        "CMOC pages": PagerDutyIncident,
        "log entries": PagerDutyLogEntry,
        "on-call entries": OnCallEntry,
    },
    "statusio": {
        "incidents": StatusPageIncident,
        "messages": StatusPageMessage,
        "components": Component,
        "maintenance": Maintenance,
    },
    "gitlab": {"issues": GitLabIssue, "label events": GitLabLabelEvent},
}


def redacted(value: object) -> str:
    """How a credential is shown: whether it is set, never its value."""
    return "set (hidden)" if value else "not set"


def source_overview(*, session: Session, settings: Settings, demo: bool) -> list[SourceStatus]:
    """Per source: configured or not, redacted credentials, last sync, last error, row counts."""
    states = list(session.exec(select(SyncState)))
    overview = []
    for name, credential_names in SOURCE_CREDENTIALS.items():
        mine = [s for s in states if s.stream.startswith(f"{name}.")]
        successes = [s.last_success_at for s in mine if s.last_success_at]
        errors = [s for s in mine if s.last_error]
        overview.append(
            SourceStatus(
                name=name,
                configured=demo or getattr(settings, f"{name}_configured"),
                credentials={
                    c: "sandbox" if demo else redacted(getattr(settings, c.lower()))
                    for c in credential_names
                },
                last_sync=min(successes) if len(successes) == len(mine) and mine else None,
                last_error=errors[0].last_error if errors else None,
                counts={
                    label: session.exec(select(func.count()).select_from(model)).one()
                    for label, model in SOURCE_TABLES[name].items()
                },
            )
        )
    return overview


def has_synced(*, session: Session) -> bool:
    """Whether any stream has ever finished a sync."""
    query = select(SyncState).where(col(SyncState.last_success_at).is_not(None))
    return session.exec(query).first() is not None
