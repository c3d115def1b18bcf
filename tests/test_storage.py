"""Migrations, timestamps and upserts on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from cmoc_core.models import StatusPageIncident, StatusPageMessage
from cmoc_core.storage import (
    MIGRATIONS,
    DatabaseUnavailable,
    current_revision,
    make_engine,
    migrate,
    newest_revision,
    open_database,
    session_scope,
    upsert,
)
from tests.support.postgres import free_port
from tests.support.processes import ROOT


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_an_empty_database_is_migrated_to_head(engine):
    assert current_revision(engine) == head()


def test_the_newest_revision_by_file_name_is_alembics_head():
    # Opening a database at this revision skips reading the migration scripts.
    assert newest_revision() == head()


def test_migrations_create_exactly_the_models_schema(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def incident(opened: datetime, name: str = "Elevated error rates") -> dict:
    return {
        "id": "5f1a",
        "statuspage_id": "sp",
        "name": name,
        "datetime_open": opened,
        "resolved": False,
        "components": ["API"],
    }


def test_timestamps_come_back_aware_and_in_utc(engine):
    opened = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        upsert(session, StatusPageIncident, [incident(opened)], keys=("id",))
    with Session(engine) as session:
        stored = session.exec(select(StatusPageIncident)).one()
    assert stored.datetime_open == opened
    assert stored.datetime_open.tzinfo == UTC
    assert stored.datetime_open.hour == 10


def test_a_naive_timestamp_is_refused(engine):
    with pytest.raises(Exception, match="naive datetime"), session_scope(engine) as session:
        upsert(session, StatusPageIncident, [incident(datetime(2026, 3, 1))], keys=("id",))


def test_upsert_updates_in_place_and_keeps_columns_it_is_told_to_keep(engine):
    opened = datetime(2026, 3, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        upsert(session, StatusPageIncident, [incident(opened)], keys=("id",))
    with session_scope(engine) as session:
        session.get(StatusPageIncident, "5f1a").production_issue_iid = 42
    renamed = {**incident(opened, "Renamed"), "production_issue_iid": None}
    with session_scope(engine) as session:
        sent = upsert(
            session,
            StatusPageIncident,
            [renamed, renamed],
            keys=("id",),
            keep=("production_issue_iid",),
        )
    with Session(engine) as session:
        rows = session.exec(select(StatusPageIncident)).all()
    assert sent == 1
    assert [(r.name, r.production_issue_iid) for r in rows] == [("Renamed", 42)]


def test_upgrading_reads_the_announced_next_update_of_messages_already_stored(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        connection.execute(
            text(
                "INSERT INTO statuspageincident (id, statuspage_id, name, datetime_open, resolved,"
                " components) VALUES ('i1', 'sp', 'Outage', '2026-03-01 10:00:00.000000', 0, '[]')"
            )
        )
        for number, details in enumerate(
            ("Investigating. Next update in 45 minutes.", "Next update at 00:00 UTC.", "Fixed.")
        ):
            connection.execute(
                text(
                    "INSERT INTO statuspagemessage (id, incident_id, details, state, status,"
                    " posted_at) VALUES (:id, 'i1', :details, 100, 300, :at)"
                ),
                {"id": f"m{number}", "details": details, "at": f"2026-03-01 10:0{number}:00"},
            )
    migrate(engine)
    with Session(engine) as session:
        stored = session.exec(select(StatusPageMessage).order_by(StatusPageMessage.id)).all()
    assert [(m.announced_minutes, m.announced_clock) for m in stored] == [
        (45.0, None),
        (None, 0),
        (None, None),
    ]


def test_a_message_written_through_the_models_stores_what_it_announces(engine):
    with session_scope(engine) as session:
        upsert(
            session, StatusPageIncident, [incident(datetime(2026, 3, 1, tzinfo=UTC))], keys=("id",)
        )
        session.add(
            StatusPageMessage(
                id="m1",
                incident_id="5f1a",
                details="Identified. We will post an update within the next 2 hours.",
                state=200,
                status=300,
                posted_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
            )
        )
    with Session(engine) as session:
        message = session.get(StatusPageMessage, "m1")
        assert (message.announced_minutes, message.announced_clock) == (120.0, None)
        message.details = "Next update by 14:30 UTC."
        session.add(message)
        session.commit()
        session.refresh(message)
        assert (message.announced_minutes, message.announced_clock) == (None, 14 * 60 + 30)


def test_a_database_at_a_revision_newer_than_the_code_is_refused_in_one_line(engine):
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(DatabaseUnavailable) as refused:
        migrate(engine)
    message = str(refused.value)
    assert "\n" not in message
    assert (
        f"schema revision 0099, newer than this version of CMOC Cockpit knows (up to {head()})"
        in (message)
    )
    assert message.startswith("CMOC_DATABASE_URL: ")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> Iterator[str]:
    """The URL of a database without any table, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


MIGRATE_AT = (
    "import sys, time\n"
    "from cmoc_core.storage import make_engine, migrate\n"
    "engine = make_engine(sys.argv[1])\n"
    "while time.time() < float(sys.argv[2]):\n"
    "    pass\n"
    "migrate(engine)\n"
)


def test_two_processes_migrating_a_new_database_at_once_take_turns(empty_url):
    # Without turns, the second died with "table component already exists" (SQLite) or a
    # duplicate key in pg_type (PostgreSQL).
    start_at = str(time.time() + 3)  # both interpreters are up by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_AT, empty_url, start_at],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [e[-2000:] for e in errors]
    engine = make_engine(empty_url)
    assert current_revision(engine) == head()
    engine.dispose()


def test_open_database_hides_the_password_of_an_unreachable_server():
    url = f"postgresql+psycopg://cmoc:pw-hidden@127.0.0.1:{free_port()}/cmoc"
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(url)
    message = str(refused.value)
    assert "pw-hidden" not in message and "\n" not in message
    assert message.startswith("CMOC_DATABASE_URL: cannot open postgresql+psycopg://cmoc:***@")


def test_sqlite_timestamps_are_written_as_sqlalchemy_writes_them(tmp_path):
    """The fast SQLite writer keeps the stored text, so old and new rows compare as text."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from cmoc_core.models import UtcDateTime

    dialect = sqlite_dialect.dialect()
    ours = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = sqlite_dialect.DATETIME().bind_processor(dialect)
    plus_two = timezone(timedelta(hours=2))
    for moment in (
        datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 29, 12, 0, 5, tzinfo=plus_two),
    ):
        assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 11, 29, 10, 0))
