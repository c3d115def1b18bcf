"""Engine, sessions, idempotent upserts and schema migrations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
UPSERT_CHUNK = 500


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder, WAL journaling and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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
    """Insert rows or update them in place when `keys` match; `keep` columns are never overwritten.

    Returns the number of rows sent. Duplicate keys within `rows` keep the last one.
    """
    unique = {tuple(row[k] for k in keys): row for row in rows}
    if not unique:
        return 0
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    values = list(unique.values())
    for start in range(0, len(values), UPSERT_CHUNK):
        chunk = values[start : start + UPSERT_CHUNK]
        statement = _insert(dialect, table).values(chunk)
        updated = [c for c in chunk[0] if c not in keys and c not in keep]
        if updated:
            statement = statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: statement.excluded[c] for c in updated},
            )
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(keys))
        session.execute(statement)
    return len(values)


def _insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT of the dialect that can say what to do on a key conflict."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"upserts are not supported on {dialect}")
