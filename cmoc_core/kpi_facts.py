"""The KPI report's columnar copy of the history: the rows behind every figure, for all time.

Nothing in these rows depends on the period asked for, so a report only selects the period's
rows and counts them. The copy is made once per history revision (moved on by triggers at
every change to the tables the report reads) and per `key` (the settings it was made under and
the code that made it), kept in the database as Arrow IPC bytes, and held in this process
for each engine that used it. Whoever finds it stale makes it afresh, the sync first.

A process that only reports (`python -m cmoc_core kpis`) reads a fresh copy from a SQLite file
with the standard library alone (`stored_copy`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from cmoc_core.config import Settings

if TYPE_CHECKING:  # SQLAlchemy only where an engine is at hand: `stored_copy` needs none
    from sqlalchemy.engine import Engine

# The modules whose code decides what the rows hold: a change to them makes older copies stale.
_MAKERS = (
    "kpi_facts",
    "kpis",
    "kpi_report",
    "kinds",
    "rota",
    "severity",
    "linking",
    "cadence",
    "handbook",
    "columns",
)


@dataclass(frozen=True)
class Facts:
    """The history's rows as the report reads them, each table for all time."""

    # CMOC pages: page, title, triggered, ack_minutes, person, incident.
    pages: pd.DataFrame
    # Counted status-page incidents: id, name, production_issue_iid, first_message_at, and
    # threads, first_thread_minutes, linked, labelled, label_minutes.
    incidents: pd.DataFrame
    # Gaps between updates (kpis.md 2), with `row`: their incident's row in `incidents`.
    gaps: pd.DataFrame
    # Incidents' first public updates (kpis.md 8), with `row` as for gaps.
    firsts: pd.DataFrame
    # Merged CMOC shifts: person, start, end, handed_over.
    shifts: pd.DataFrame
    # Handover issues: person (their author), created.
    handovers: pd.DataFrame
    # Contact requests, a row per assignee: issue, created, closed, person.
    contacts: pd.DataFrame
    # Training activities: person, at.
    activities: pd.DataFrame
    # The CMOC and shadow schedules' entries: schedule_kind, user_id, region, start, end.
    entries: pd.DataFrame
    # Every known account's person: system, account, name.
    names: pd.DataFrame


def key(settings: Settings) -> str:
    """What a copy depends on besides the history: the settings that choose rows, and the code."""
    chosen = {
        name: getattr(settings, name)
        for name in (
            "pagerduty_cmoc_service_ids",
            "pagerduty_cmoc_schedule_ids",
            "pagerduty_shadow_schedule_ids",
            "statusio_statuspage_id",
            "statusio_practice_statuspage_id",
            "gitlab_production_project",
            "gitlab_contact_request_label",
        )
    }
    digest = hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode())
    digest.update(_CODE)
    return digest.hexdigest()[:32]


def _code_digest() -> bytes:
    folder = Path(__file__).parent
    return hashlib.sha256(b"".join((folder / f"{m}.py").read_bytes() for m in _MAKERS)).digest()


_CODE = _code_digest()
# How long storing a copy waits for the database's write lock, in milliseconds.
STORE_WAIT_MS = 200


# The largest part of a table's bytes kept in one row. A client library receives a row whole
# into a buffer that it grows as the bytes come: over PostgreSQL's wire, parts of a mebibyte
# arrive 2.5 times faster than whole tables of up to 14 MB.
PART_BYTES = 1 << 20

# The revision, and the copy's tables made at a revision under a key, in parts.
REVISION = "SELECT revision FROM historyrevision WHERE id = 1"
TABLES = (
    "SELECT name, data FROM kpifacts WHERE key = :key AND revision = :revision ORDER BY name, part"
)
STORE = (
    "INSERT INTO kpifacts (key, name, part, revision, data)"
    " VALUES (:key, :name, :part, :revision, :data)"
)


def current(engine: Engine, settings: Settings, make: Callable[[], Facts]) -> Facts:
    """The copy for the history as committed now: held, else stored, else made by `make` and
    stored (when the database takes the write; the copy is used either way)."""
    wanted = key(settings)
    revision = history_revision(engine)
    # One session of this process reads or makes a copy at a time: a dashboard opened while the
    # refresher makes it waits for that copy, not makes another beside it.
    with _maker(engine):
        held = _held.get(engine)
        if held is not None and held[:2] == (wanted, revision):
            return held[2]
        facts = _stored(engine, wanted, revision)
        if facts is None:
            facts = make()
            _store(engine, wanted, revision, facts)
        with _lock:
            _held[engine] = (wanted, revision, facts)
    return facts


def history_revision(engine: Engine) -> int:
    """How many changes the tables the report reads have seen, as committed now."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return int(connection.execute(text(REVISION)).scalar() or 0)


def stored_copy(url: str, settings: Settings) -> Facts | None:
    """The stored copy for the history as committed now in the SQLite file of `url`, read with
    the standard library; None for another database, or when the copy is stale or missing."""
    path = _sqlite_file(url)
    if path is None:
        return None
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        connection.execute("BEGIN")  # both reads see one moment
        revision = connection.execute(REVISION).fetchone()
        found = connection.execute(TABLES, {"key": key(settings), "revision": revision[0]})
        return _facts(found)
    except (sqlite3.Error, TypeError):  # no such table yet, or no revision row
        return None
    finally:
        connection.close()


def _sqlite_file(url: str) -> Path | None:
    """The file a `sqlite:///path` URL names, or None for any other URL."""
    prefix = "sqlite:///"
    path = url.split("?", 1)[0].removeprefix(prefix)
    if not url.startswith(prefix) or path in ("", ":memory:"):
        return None
    return Path(path).absolute()


_held: weakref.WeakKeyDictionary[Engine, tuple[str, int, Facts]] = weakref.WeakKeyDictionary()
_makers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _maker(engine: Engine) -> threading.Lock:
    """The lock of whoever reads or makes the copy for `engine` in this process."""
    with _lock:
        return _makers.setdefault(engine, threading.Lock())


def _stored(engine: Engine, wanted: str, revision: int) -> Facts | None:
    from sqlalchemy import text

    asked = {"key": wanted, "revision": revision}
    with engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            return _facts(connection.execute(text(TABLES), asked))
        # In binary, bytes come over as they are: as text they would be hex to decode. Row by
        # row (psycopg's `stream`), libpq holds one part at a time, and a table is read into
        # frames while the server sends the next: gathering all 25 MB of ten years first takes
        # 1.5 times as long. https://www.psycopg.org/psycopg3/docs/api/cursors.html
        driver = connection.connection.driver_connection
        assert driver is not None  # an open connection's
        cursor = driver.cursor(binary=True)
        return _facts(cursor.stream(str(text(TABLES).compile(dialect=engine.dialect)), asked))


def _facts(parts: Iterable[Sequence[Any]]) -> Facts | None:
    """The copy from its tables' parts (name, bytes) in order, or None unless all are there."""
    tables = {
        name: _frame(b"".join(data for _, data in rows))
        for name, rows in groupby(parts, key=itemgetter(0))
    }
    if sorted(tables) != sorted(field.name for field in fields(Facts)):
        return None
    return Facts(**tables)


def _store(engine: Engine, wanted: str, revision: int, facts: Facts) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from cmoc_core.storage import BUSY_TIMEOUT

    rows = [
        {"key": wanted, "name": name, "part": part, "revision": revision, "data": data}
        for name in (field.name for field in fields(facts))
        for part, data in enumerate(_parts(_bytes(getattr(facts, name))))
    ]
    sqlite_file = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # A report does not wait on a writer (a sync) to let go: it has its copy already.
        if sqlite_file:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {STORE_WAIT_MS}")
            connection.commit()
        try:
            with connection.begin():
                if not sqlite_file:
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{STORE_WAIT_MS}ms'")
                # The newest copy only. A store racing another fails on the key: parts never mix.
                connection.execute(text("DELETE FROM kpifacts"))
                connection.execute(text(STORE), rows)
        except DBAPIError:  # busy or read-only: a later report stores it
            pass
        finally:
            if sqlite_file:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT * 1000}")
                connection.commit()


def _parts(data: bytes) -> list[bytes]:
    return [data[start : start + PART_BYTES] for start in range(0, len(data), PART_BYTES)]


def _bytes(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _frame(data: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all().to_pandas()
