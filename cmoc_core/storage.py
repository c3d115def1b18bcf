"""Engine, sessions, idempotent upserts and schema migrations."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ColumnElement, Table, Text, cast, event, inspect, or_, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
UPSERT_CHUNK = 1000
BUSY_TIMEOUT = 30  # seconds a SQLite connection waits for another's write lock
WAL_SWITCH_WAIT = BUSY_TIMEOUT


# Held while migrating a PostgreSQL database, so that two processes starting at once take turns.
MIGRATION_LOCK_KEY = int.from_bytes(b"CMOCMIGR", "big")


class DatabaseUnavailable(Exception):
    """The database of CMOC_DATABASE_URL cannot be used: a one-line reason naming what to fix."""


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder, WAL journaling and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        _journal_in_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _journal_in_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL journaling; SQLite does not wait its busy timeout for the switch, so a
    new file that another process is switching at the same moment is waited for here."""
    deadline = time.monotonic() + WAL_SWITCH_WAIT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_database(url: str) -> Engine:
    """The engine for `url`, migrated to the newest schema; DatabaseUnavailable if it cannot be."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise DatabaseUnavailable(
            "CMOC_DATABASE_URL is not a database URL: use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host:port/database"
        ) from None
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError):
        raise DatabaseUnavailable(
            f"CMOC_DATABASE_URL names a database this app cannot use ({shown}): "
            "use sqlite:/// or postgresql+psycopg://"
        ) from None
    except OSError as exc:
        in_the_way = isinstance(exc, FileExistsError | NotADirectoryError)
        reason = "a file is where a folder should be" if in_the_way else exc.strerror
        raise DatabaseUnavailable(
            f"CMOC_DATABASE_URL: cannot create the folder of {shown}: "
            f"{reason or type(exc).__name__}"
        ) from None
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = failure_reason(exc, url)
        raise DatabaseUnavailable(f"CMOC_DATABASE_URL: cannot open {shown}: {reason}") from None
    except DatabaseUnavailable:
        engine.dispose()
        raise
    return engine


def failure_reason(exc: SQLAlchemyError, url: str) -> str:
    """What the database driver said, in one line and without the password of `url`."""
    said = str(getattr(exc, "orig", None) or "")
    reason = next((line.strip() for line in said.splitlines() if line.strip()), "no reason given")
    password = make_url(url).password
    return reason.replace(str(password), "***") if password else reason


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def newest_revision() -> str:
    """The newest migration's revision, which is its file's four-digit number."""
    return max(
        path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest migration, one process at a time.

    Raises DatabaseUnavailable when the database is at a revision this code does not know,
    as after a newer version of the app has upgraded it. A database already at the newest
    revision costs one query: the migration scripts are read only when there is work.
    """
    found = _revisions(engine)
    if found == {newest_revision()}:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _config()
    scripts = ScriptDirectory.from_config(config)
    newest = scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    unknown = sorted(found - known)
    if unknown:
        raise DatabaseUnavailable(
            f"CMOC_DATABASE_URL: the database is at schema revision {', '.join(unknown)}, "
            f"newer than this version of CMOC Cockpit knows (up to {newest}); "
            "run the newer version or point CMOC_DATABASE_URL at another database"
        )
    with engine.begin() as connection:
        # Take the database's write lock before looking at its revision: a second process
        # starting at the same moment waits, then finds the schema new and does nothing.
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revisions(engine: Engine) -> set[str]:
    if not inspect(engine).has_table("alembic_version"):
        return set()
    with engine.connect() as connection:
        return set(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upsert(
    session: Session,
    model: type[SQLModel],
    rows: Iterable[dict[str, Any]],
    *,
    keys: Sequence[str],
    keep: Sequence[str] = (),
) -> int:
    """Insert rows or update them in place when `keys` match and a value differs; `keep` columns
    are never overwritten.

    Returns the number of rows sent. Duplicate keys within `rows` keep the last one. Rows with
    the same columns share one statement, compiled once per process and handed to the driver's
    executemany a chunk at a time, with each column's values converted by its type in one pass:
    per-row parameter handling would cost more than the database's own work.
    """
    key_of = itemgetter(*keys)
    unique = {key_of(row): row for row in rows}
    if not unique:
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in unique.values():
        by_columns.setdefault(tuple(row), []).append(row)
    for columns, same in by_columns.items():
        prepared = _prepared_upsert(connection.dialect, table, columns, tuple(keys), tuple(keep))
        for start in range(0, len(same), UPSERT_CHUNK):
            connection.exec_driver_sql(
                prepared.sql, prepared.parameters(same[start : start + UPSERT_CHUNK])
            )
    return len(unique)


@dataclass(frozen=True)
class _PreparedUpsert:
    """An upsert's SQL in the driver's own terms and how to turn rows into its parameters."""

    sql: str
    names: tuple[str, ...]
    convert: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The rows as the driver's parameter sets, each column converted by its type."""
        getter = itemgetter(*self.names)
        sets = list(map(getter, rows)) if len(self.names) > 1 else [(getter(r),) for r in rows]
        if any(self.convert):
            columns = list(zip(*sets, strict=True))
            for index, convert in enumerate(self.convert):
                if convert is not None:
                    columns[index] = tuple(map(convert, columns[index]))
            sets = list(zip(*columns, strict=True))
        if self.positional:
            return sets
        return [dict(zip(self.names, values, strict=True)) for values in sets]


@lru_cache(maxsize=256)
def _prepared_upsert(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    keep: tuple[str, ...],
) -> _PreparedUpsert:
    """The upsert of `columns`, compiled once for the dialect."""
    compiled = _upsert_statement(dialect.name, table, columns, keys, keep).compile(
        dialect=dialect, column_keys=list(columns)
    )
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup or compiled.binds)
    convert = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    return _PreparedUpsert(str(compiled), names, convert, positional)


@lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    keep: tuple[str, ...],
) -> sqlite.Insert | postgresql.Insert:
    """The INSERT of `columns` that updates the others than `keys` and `keep` on a key conflict,
    when one of them differs: a row read again as it is stored is not written (nor its triggers
    run, which would make the KPI copy stale)."""
    statement = _insert(dialect, table)
    updated = [c for c in columns if c not in keys and c not in keep]
    if not updated:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    differs = or_(
        *(
            _comparable(table.c[c]).is_distinct_from(_comparable(statement.excluded[c]))
            for c in updated
        )
    )
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in updated}, where=differs
    )


def _comparable(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as SQL can compare it: PostgreSQL's `json` has no equality, its text has."""
    return cast(column, Text) if isinstance(column.type, JSON) else column


def _insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT of the dialect that can say what to do on a key conflict."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"upserts are not supported on {dialect}")
