"""Migrations, timestamps and upserts on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel, select

from cmoc_core.models import StatusPageIncident
from cmoc_core.storage import MIGRATIONS, current_revision, session_scope, upsert


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
