"""Sending an action at most once: an outbox row is written before the call, every end audited.

A double click, a rerun, a reload or a restart finds the row by its idempotency key: a sent
action is not sent again, one in flight is left alone, and one whose outcome is unknown is
first checked against the service (where the service can tell) before it is sent again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from cmoc_core.clients.http import ApiError, ApiUnavailable
from cmoc_core.models import AuditEntry, OutboxEntry, PublishStatus
from cmoc_core.storage import session_scope

LEASE = timedelta(minutes=2)

Result = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How a publish ended: sent, already_sent, in_progress, failed or unknown."""

    status: str
    message: str
    result: Result | None = None

    @property
    def ok(self) -> bool:
        """The action is known to have taken effect."""
        return self.status in ("sent", "already_sent")


def idempotency_key(*parts: Any) -> str:
    """A stable key for one intended action (incident, action, draft revision, payload)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    result: str,
    detail: str = "",
    incident_id: int | None = None,
) -> None:
    """Record one action in the audit log."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            action=action,
            target=target,
            result=result,
            detail=detail,
            incident_id=incident_id,
        )
    )


def publish(
    *,
    engine: Engine,
    key: str,
    action: str,
    target: str,
    payload: Result,
    send: Callable[[], Result],
    actor: str,
    now: datetime,
    incident_id: int | None = None,
    confirm_sent: Callable[[OutboxEntry], Result | None] | None = None,
    on_sent: Callable[[Session, Result], None] | None = None,
    force: bool = False,
) -> Outcome:
    """Send an action at most once per key; `on_sent` runs in the transaction that records it."""
    claim = _claim(
        engine,
        key=key,
        action=action,
        target=target,
        payload=payload,
        incident_id=incident_id,
        now=now,
    )
    if claim == "sent":
        with session_scope(engine) as session:
            entry = session.get(OutboxEntry, key)
            assert entry is not None
            return Outcome("already_sent", f"{target}: already done, not sent again", entry.result)
    if claim == "in_progress":
        return Outcome("in_progress", f"{target}: still being sent; not sent a second time")
    if claim == "uncertain":
        with session_scope(engine) as session:
            entry = session.get(OutboxEntry, key)
            assert entry is not None
        found = confirm_sent(entry) if confirm_sent else None
        if found is not None:
            _finish(
                engine,
                key,
                PublishStatus.SENT,
                now=now,
                result=found,
                on_sent=on_sent,
                actor=actor,
                note="confirmed with the service after an unclear outcome",
            )
            return Outcome("sent", f"{target}: it had gone out; confirmed with the service", found)
        if confirm_sent is None and not force:
            return Outcome(
                "unknown",
                f"{target}: the last attempt may or may not have gone out "
                f"({entry.error or 'no answer'}); check, then send again to confirm",
            )
        if not _reclaim(engine, key, entry, now):
            return Outcome("in_progress", f"{target}: still being sent; not sent a second time")
    try:
        result = send()
    except ApiUnavailable as exc:
        _finish(engine, key, PublishStatus.UNKNOWN, now=now, error=str(exc), actor=actor)
        return Outcome("unknown", f"{exc}. Your draft is kept; sending again checks first.")
    except ApiError as exc:
        _finish(engine, key, PublishStatus.FAILED, now=now, error=str(exc), actor=actor)
        return Outcome("failed", f"{exc}. Nothing was published; your draft is kept.")
    _finish(engine, key, PublishStatus.SENT, now=now, result=result, on_sent=on_sent, actor=actor)
    return Outcome("sent", f"{target}: done", result)


def _claim(
    engine: Engine,
    *,
    key: str,
    action: str,
    target: str,
    payload: Result,
    incident_id: int | None,
    now: datetime,
) -> str:
    """Own the key (`new`/`retry`), or say it is `sent`, `in_progress` or `uncertain`."""
    try:
        with session_scope(engine) as session:
            entry = session.get(OutboxEntry, key)
            if entry is None:
                session.add(
                    OutboxEntry(
                        key=key,
                        incident_id=incident_id,
                        action=action,
                        target=target,
                        payload=payload,
                        attempts=1,
                        created_at=now,
                        claimed_at=now,
                    )
                )
                session.flush()
                return "new"
    except IntegrityError:
        return "in_progress"
    if entry.status == PublishStatus.SENT:
        return "sent"
    if (
        entry.status == PublishStatus.PENDING
        and entry.claimed_at
        and now - entry.claimed_at < LEASE
    ):
        return "in_progress"
    if entry.status in (PublishStatus.PENDING, PublishStatus.UNKNOWN):
        return "uncertain"
    return "retry" if _reclaim(engine, key, entry, now) else "in_progress"


def _reclaim(engine: Engine, key: str, entry: OutboxEntry, now: datetime) -> bool:
    """Take the key for another attempt unless someone else took it first."""
    with session_scope(engine) as session:
        taken = session.execute(
            update(OutboxEntry)
            .where(
                col(OutboxEntry.key) == key,
                col(OutboxEntry.status) == entry.status,
                col(OutboxEntry.attempts) == entry.attempts,
            )
            .values(status=PublishStatus.PENDING, attempts=entry.attempts + 1, claimed_at=now)
        )
        return taken.rowcount == 1  # type: ignore[attr-defined]


def _finish(
    engine: Engine,
    key: str,
    status: PublishStatus,
    *,
    now: datetime,
    actor: str,
    result: Result | None = None,
    error: str | None = None,
    on_sent: Callable[[Session, Result], None] | None = None,
    note: str = "",
) -> None:
    with session_scope(engine) as session:
        entry = session.get(OutboxEntry, key)
        assert entry is not None
        entry.status, entry.finished_at, entry.error = status, now, error
        if result is not None:
            entry.result = result
        session.add(entry)
        if status == PublishStatus.SENT and on_sent is not None:
            on_sent(session, result or {})
        audit(
            session,
            at=now,
            actor=actor,
            action=entry.action,
            target=entry.target,
            result=status.value,
            incident_id=entry.incident_id,
            detail=note or error or json.dumps(entry.payload, sort_keys=True)[:2000],
        )
