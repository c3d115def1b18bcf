"""Sending a command at most once: an outbox row is written before the call, every end audited.

A double click, a rerun, a reload or a restart finds the row by the command's key: a sent action
is not sent again and one in flight is left alone. One whose outcome is unclear is settled as
its command says: read back from the service, repeated where repeating is harmless, or left to
the person, who checks and then sends it again on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cmoc_core.access import Permission, Viewer
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiError, ApiOutcomeUnclear
from cmoc_core.commands import SENDER, Command, Result, Settle
from cmoc_core.models import AuditEntry, OutboxEntry, PublishStatus
from cmoc_core.storage import session_scope

LEASE = timedelta(minutes=2)

# How an audit entry says that an action was settled other than by its first answer.
CONFIRMED_NOTE = "confirmed with the service after an unclear outcome"
SENT_AGAIN_NOTE = "sent again by {actor} after checking it had not arrived"
ARRIVED_NOTE = "seen at its destination by {actor}"

OnSent = Callable[[Session, Result], None]
# Who acts: a person, refused what they may not do, or the name of the app's own sender.
Actor = Viewer | str


class OutcomeStatus(StrEnum):
    """How a publish ended."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SUPERSEDED = "superseded"


class _Claim(StrEnum):
    NEW = "new"
    RETRY = "retry"
    SENT = "sent"
    IN_PROGRESS = "in_progress"
    UNCLEAR = "unclear"
    TAKEN = "taken"


@dataclass(frozen=True)
class Outcome:
    """How a publish ended, in words; `key` names the outbox row, `cause` a service's refusal.

    `earlier` is the different action that already holds the same key (superseded outcomes).
    """

    status: OutcomeStatus
    message: str
    result: Result | None = None
    key: str | None = None
    cause: ApiError | None = None
    ask_user: bool = False
    earlier: Command | None = None

    @property
    def ok(self) -> bool:
        """The action is known to have taken effect."""
        return self.status in (OutcomeStatus.SENT, OutcomeStatus.ALREADY_SENT)


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


def acting(actor: Actor, needs: Permission) -> str:
    """How rows name whoever acts; a person without the permission the action needs is refused."""
    if isinstance(actor, Viewer):
        actor.require(needs)
        return actor.actor
    return actor


@dataclass(frozen=True)
class Outbox:
    """The one way any command reaches a service: at most once, settled when unclear."""

    # Every command is taken for someone: a person who may not take it is refused (`Refused`)
    # before anything is written or sent, and the rows name whoever took it.

    engine: Engine
    clients: Clients

    def publish(
        self, command: Command, *, actor: Actor, now: datetime, on_sent: OnSent | None = None
    ) -> Outcome:
        """Send the command at most once; `on_sent` runs in the transaction that records it."""
        name = acting(actor, command.needs)
        key = command.key()
        claim = self._claim(command, key, now, name)
        if claim == _Claim.TAKEN:
            return Outcome(
                OutcomeStatus.SUPERSEDED,
                f"Nothing was sent: another action already holds the place to "
                f"{command.words().intent}",
                key=key,
                earlier=Command.restore(self._entry(key).payload),
            )
        if claim == _Claim.SENT:
            done = self._entry(key)
            return Outcome(
                OutcomeStatus.ALREADY_SENT,
                command.words(done.result).already(done.finished_at),
                done.result,
                key,
            )
        if claim == _Claim.IN_PROGRESS:
            return _in_progress(command, key)
        if claim == _Claim.UNCLEAR:
            entry = self._entry(key)
            if command.settle == Settle.ASK_USER:
                if entry.status == PublishStatus.PENDING:  # its sender stopped before the answer
                    error = entry.error or "the app stopped before the answer came"
                    self._finish(key, PublishStatus.UNKNOWN, now=now, actor=name, error=error)
                return _ask_user(command, key, entry.error)
            if command.settle == Settle.READ_BACK:
                # Look for what the unclear attempt sent, which may be older words than these.
                sent = Command.restore(entry.payload) or command
                try:
                    found = sent.confirm(self.clients, since=entry.created_at)
                except ApiError as exc:
                    return Outcome(
                        OutcomeStatus.UNKNOWN,
                        f"The last attempt to {command.words().intent} may have gone through, "
                        f"and checking failed ({command.plain(str(exc))}). Nothing was sent "
                        "again; try again in a moment.",
                        key=key,
                    )
                if found is not None:
                    self._finish(
                        key,
                        PublishStatus.SENT,
                        now=now,
                        actor=name,
                        result=found,
                        on_sent=on_sent,
                        note=CONFIRMED_NOTE,
                    )
                    return Outcome(
                        OutcomeStatus.SENT,
                        f"{command.words(found).what}: it had gone through; confirmed with "
                        "the service",
                        found,
                        key,
                    )
            if not self._reclaim(key, entry, now, by=name):
                return _in_progress(command, key)
        return self._send(command, key, actor=name, now=now, on_sent=on_sent)

    def send_again(
        self, command: Command, *, actor: Actor, now: datetime, on_sent: OnSent | None = None
    ) -> Outcome:
        """Send an action the service cannot confirm again, because the person saw it missing."""
        name = acting(actor, command.needs)
        key = command.key()
        entry = self._unsettled(key, now)
        if entry is None:
            return self.publish(command, actor=actor, now=now, on_sent=on_sent)
        if not self._reclaim(key, entry, now, by=name):
            return _in_progress(command, key)
        note = SENT_AGAIN_NOTE.format(actor=name)
        return self._send(command, key, actor=name, now=now, on_sent=on_sent, note=note)

    def mark_arrived(
        self, command: Command, *, actor: Actor, now: datetime, on_sent: OnSent | None = None
    ) -> Outcome:
        """Record that an action the service cannot confirm did arrive: the person saw it."""
        name = acting(actor, command.needs)
        key = command.key()
        if self._unsettled(key, now) is None:
            return self.publish(command, actor=actor, now=now, on_sent=on_sent)
        note = ARRIVED_NOTE.format(actor=name)
        self._finish(key, PublishStatus.SENT, now=now, actor=name, on_sent=on_sent, note=note)
        return Outcome(OutcomeStatus.SENT, f"{command.words().what}: recorded as arrived", key=key)

    def _unsettled(self, key: str, now: datetime) -> OutboxEntry | None:
        """The row of an action whose outcome is unknown, or whose sender stopped mid-way."""
        with session_scope(self.engine) as session:
            entry = session.get(OutboxEntry, key)
        if entry is None:
            return None
        stopped = (
            entry.status == PublishStatus.PENDING
            and entry.claimed_at is not None
            and now - entry.claimed_at >= LEASE
        )
        return entry if entry.status == PublishStatus.UNKNOWN or stopped else None

    def holds(self, command: Command) -> bool:
        """Whether the outbox has a row for this very action (sent, in flight or unclear)."""
        with session_scope(self.engine) as session:
            entry = session.get(OutboxEntry, command.key())
        return entry is not None and entry.status != PublishStatus.FAILED

    def unsettled(self, *, incident_id: int) -> list[Command]:
        """An incident's actions whose outcome only the person can settle, oldest first."""
        with session_scope(self.engine) as session:
            entries = session.exec(
                select(OutboxEntry)
                .where(
                    OutboxEntry.incident_id == incident_id,
                    OutboxEntry.status == PublishStatus.UNKNOWN,
                )
                .order_by(col(OutboxEntry.created_at))
            ).all()
            commands = [Command.restore(entry.payload) for entry in entries]
        return [c for c in commands if c is not None and c.settle == Settle.ASK_USER]

    def _send(
        self,
        command: Command,
        key: str,
        *,
        actor: str,
        now: datetime,
        on_sent: OnSent | None,
        note: str = "",
    ) -> Outcome:
        try:
            result = command.send(self.clients)
        except ApiOutcomeUnclear as exc:
            self._finish(key, PublishStatus.UNKNOWN, now=now, actor=actor, error=str(exc))
            if command.settle == Settle.ASK_USER:
                return _ask_user(command, key, str(exc))
            then = {
                Settle.READ_BACK: "sending again first checks whether it went out",
                Settle.REPEAT: "sending again is safe: it cannot take effect twice",
            }[command.settle]
            return Outcome(
                OutcomeStatus.UNKNOWN,
                f"{command.plain(str(exc))}. Your draft is kept; {then}.",
                key=key,
            )
        except ApiError as exc:
            self._finish(key, PublishStatus.FAILED, now=now, actor=actor, error=str(exc))
            return Outcome(
                OutcomeStatus.FAILED,
                f"Could not {command.words().intent}: {command.plain(str(exc))}. Nothing was "
                "sent; your draft is kept.",
                key=key,
                cause=exc,
            )
        self._finish(
            key, PublishStatus.SENT, now=now, actor=actor, result=result, on_sent=on_sent, note=note
        )
        return Outcome(OutcomeStatus.SENT, command.words(result).what, result, key)

    def _entry(self, key: str) -> OutboxEntry:
        with session_scope(self.engine) as session:
            entry = session.get(OutboxEntry, key)
        if entry is None:
            raise LookupError(f"no outbox entry {key}")
        return entry

    def _claim(self, command: Command, key: str, now: datetime, actor: str) -> _Claim:
        """Own the key (new or retry) for `actor`, or say it is sent, in progress or unclear."""
        try:
            with session_scope(self.engine) as session:
                entry = session.get(OutboxEntry, key)
                if entry is None:
                    session.add(
                        OutboxEntry(
                            key=key,
                            incident_id=command.incident_id,
                            action=command.action.value,
                            target=command.target,
                            payload=command.stored(actor),
                            attempts=1,
                            created_at=now,
                            claimed_at=now,
                        )
                    )
                    session.flush()
                    return _Claim.NEW
        except IntegrityError:
            return _Claim.IN_PROGRESS
        if entry.status == PublishStatus.FAILED:
            # A failed attempt sent nothing: its place is free for this command, whatever it holds.
            retry = self._reclaim(key, entry, now, by=actor, command=command)
            return _Claim.RETRY if retry else _Claim.IN_PROGRESS
        # Rivals are told apart by what they would send, never by who sends it.
        held = {name: value for name, value in entry.payload.items() if name != SENDER}
        if command.rivals and held != command.stored():
            return _Claim.TAKEN
        if entry.status == PublishStatus.SENT:
            return _Claim.SENT
        if (
            entry.status == PublishStatus.PENDING
            and entry.claimed_at
            and now - entry.claimed_at < LEASE
        ):
            return _Claim.IN_PROGRESS
        return _Claim.UNCLEAR

    def _reclaim(
        self,
        key: str,
        entry: OutboxEntry,
        now: datetime,
        *,
        by: str,
        command: Command | None = None,
    ) -> bool:
        """Take the key for another attempt (of `command`, if given) by `by`, unless taken."""
        values: dict[str, object] = {
            "status": PublishStatus.PENDING,
            "attempts": entry.attempts + 1,
            "claimed_at": now,
            "payload": {**entry.payload, SENDER: by},
        }
        if command is not None:
            payload = command.stored(by)
            values |= {"payload": payload, "target": command.target, "created_at": now}
        with session_scope(self.engine) as session:
            taken = session.execute(
                update(OutboxEntry)
                .where(
                    col(OutboxEntry.key) == key,
                    col(OutboxEntry.status) == entry.status,
                    col(OutboxEntry.attempts) == entry.attempts,
                )
                .values(**values)
            )
            return bool(getattr(taken, "rowcount", 0) == 1)

    def _finish(
        self,
        key: str,
        status: PublishStatus,
        *,
        now: datetime,
        actor: str,
        result: Result | None = None,
        error: str | None = None,
        on_sent: OnSent | None = None,
        note: str = "",
    ) -> None:
        with session_scope(self.engine) as session:
            entry = session.get(OutboxEntry, key)
            if entry is None:
                raise LookupError(f"no outbox entry {key}")
            entry.status, entry.finished_at, entry.error = status, now, error
            if result is not None:
                entry.result = result
            session.add(entry)
            if status == PublishStatus.SENT and on_sent is not None:
                on_sent(session, result or {})
            command = Command.restore(entry.payload)
            audit(
                session,
                at=now,
                actor=actor,
                action=entry.action,
                target=entry.target,
                result=status.value,
                incident_id=entry.incident_id,
                detail=(note or error or (command.describe() if command else ""))[:2000],
            )


def _in_progress(command: Command, key: str) -> Outcome:
    return Outcome(
        OutcomeStatus.IN_PROGRESS,
        f"Still trying to {command.words().intent}: not sent a second time",
        key=key,
    )


def _ask_user(command: Command, key: str, error: str | None) -> Outcome:
    return Outcome(
        OutcomeStatus.UNKNOWN,
        f"The attempt to {command.words().intent} may or may not have arrived "
        f"({error or 'no answer'}), and Slack cannot be asked. Look in the channel; if the "
        "notice is not there, send it again.",
        key=key,
        ask_user=True,
    )
