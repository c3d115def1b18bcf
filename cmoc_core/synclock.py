"""One sync at a time per database, whoever starts it: the command line, the app or a worker.

    with sync_lock(engine, holder="sync command") as held:
        if not held:
            print(held.message)  # "A sync is already running since 09:41 UTC; ..."
            return
        ...  # the sync

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection kept for the
sync's duration; it dies with that connection, so a killed process frees it at once. The
`synclock` row only tells a refused caller since when the running sync holds the lock.

SQLite: the `synclock` row is the lock. One atomic upsert takes it when there is no row or the
row's heartbeat is older than EXPIRES_AFTER, so of two processes only one can win; a thread of
the holder refreshes the heartbeat every HEARTBEAT, and the row is deleted on release. A process
that was killed leaves its row behind, which expires after EXPIRES_AFTER.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from cmoc_core.models import SyncLock
from cmoc_core.timeutil import utc_now

LOCK_NAME = "sync"
HEARTBEAT = timedelta(seconds=20)
EXPIRES_AFTER = timedelta(minutes=2)
# The advisory lock's key: "CMOCSYNC" read as a 64-bit number. Advisory locks are per database.
ADVISORY_KEY = int.from_bytes(b"CMOCSYNC", "big")
# A refused caller reads the holder's row again this often, this far apart, while it is written.
HOLDER_READS = 5
HOLDER_READ_PAUSE = 0.1
BUSY = "A sync is already running since {since:%H:%M} UTC; try again when it has finished."

Clock = Callable[[], datetime]


@dataclass
class Held:
    """The outcome of asking for the lock: true when this caller holds it."""

    acquired: bool
    holder: str
    started_at: datetime
    lost: bool = False

    def __bool__(self) -> bool:
        return self.acquired

    @property
    def message(self) -> str:
        """The one line a refused caller shows."""
        return BUSY.format(since=self.started_at)


@contextmanager
def sync_lock(
    engine: Engine, *, holder: str, clock: Clock = utc_now, heartbeat: timedelta = HEARTBEAT
) -> Iterator[Held]:
    """Try to take the database's sync lock without waiting; yields whether it was taken.

    `holder` says who runs the sync (stored for whoever inspects the database); `clock` is the
    wall clock and `heartbeat` how often SQLite's row is refreshed (keep it well under
    EXPIRES_AFTER).
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _advisory_lock(engine, holder, clock) as held:
            yield held
    elif dialect == "sqlite":
        with _row_lock(engine, holder, clock, heartbeat) as held:
            yield held
    else:
        raise ValueError(f"a sync lock is not supported on {dialect}")


def current_holder(engine: Engine) -> SyncLock | None:
    """The lock row as stored now (on SQLite it may have expired), or None."""
    with Session(engine) as session:
        return session.get(SyncLock, LOCK_NAME)


def _table() -> Any:
    return SyncLock.__table__  # type: ignore[attr-defined]


def _row(holder: str, token: str, now: datetime) -> dict[str, Any]:
    return {
        "name": LOCK_NAME,
        "holder": holder,
        "token": token,
        "started_at": now,
        "heartbeat_at": now,
    }


def _stored(connection: Connection) -> Any:
    table = _table()
    return connection.execute(select(table).where(table.c.name == LOCK_NAME)).first()


@contextmanager
def _row_lock(engine: Engine, holder: str, clock: Clock, heartbeat: timedelta) -> Iterator[Held]:
    table = _table()
    token = uuid.uuid4().hex
    now = clock()
    statement = sqlite.insert(table).values(_row(holder, token, now))
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={c: statement.excluded[c] for c in ("holder", "token", "started_at", "heartbeat_at")},
        where=table.c.heartbeat_at < now - EXPIRES_AFTER,
    )
    # One statement, under SQLite's single writer lock: either it inserted or replaced an
    # expired row (and the row now carries our token), or another live holder keeps it.
    with engine.begin() as connection:
        connection.execute(statement)
        stored = _stored(connection)
    if stored is None or stored.token != token:
        started = stored.started_at if stored is not None else now
        yield Held(False, stored.holder if stored is not None else "", started)
        return
    held = Held(True, holder, now)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(engine, token, clock, heartbeat, stop, held), daemon=True
    )
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        with engine.begin() as connection:
            connection.execute(delete(table).where(table.c.token == token))


def _heartbeat(
    engine: Engine, token: str, clock: Clock, every: timedelta, stop: threading.Event, held: Held
) -> None:
    """Refresh the row's heartbeat until stopped; notes it when another holder took the row."""
    table = _table()
    while not stop.wait(every.total_seconds()):
        try:
            with engine.begin() as connection:
                result = connection.execute(
                    update(table).where(table.c.token == token).values(heartbeat_at=clock())
                )
        except SQLAlchemyError:
            # A busy moment of the database: the next beat tries again, well before expiry.
            continue
        if result.rowcount == 0:
            held.lost = True
            return


@contextmanager
def _advisory_lock(engine: Engine, holder: str, clock: Clock) -> Iterator[Held]:
    table = _table()
    token = uuid.uuid4().hex
    connection = engine.connect()
    released = False
    try:
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
        ).scalar()
        connection.commit()
        now = clock()
        if not taken:
            stored = _stored(connection)
            for _ in range(HOLDER_READS):
                if stored is not None:
                    break
                # Taken a moment ago: its holder's row is being written.
                time.sleep(HOLDER_READ_PAUSE)
                connection.commit()
                stored = _stored(connection)
            connection.commit()
            released = True
            started = stored.started_at if stored is not None else now
            yield Held(False, stored.holder if stored is not None else "", started)
            return
        statement = postgresql.insert(table).values(_row(holder, token, now))
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                c: statement.excluded[c] for c in ("holder", "token", "started_at", "heartbeat_at")
            },
        )
        connection.execute(statement)
        connection.commit()
        try:
            yield Held(True, holder, now)
        finally:
            connection.rollback()
            # Unlocked first, so that no one is refused while this row is already gone; the
            # token spares the row of whoever takes the lock next.
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.execute(delete(table).where(table.c.token == token))
            connection.commit()
            released = True
    finally:
        if not released:
            # The lock must not stay behind on a pooled connection: dropping it frees the lock.
            connection.invalidate()
        connection.close()
