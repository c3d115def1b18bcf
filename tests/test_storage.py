"""Migrations, timestamps and upserts on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

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
    current_revision,
    make_engine,
    migrate,
    session_scope,
    upsert,
)


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_an_empty_database_is_migrated_to_head(engine):
    assert current_revision(engine) == head()


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
