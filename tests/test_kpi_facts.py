"""The KPI report's columnar copy: made once per change to the history, kept in the database,
never used once the history or the settings it was made under have moved on."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from cmoc_core import kpi_facts
from cmoc_core.kpis import build_facts, compute_kpis
from cmoc_core.storage import make_engine, session_scope
from tests.kpi_worlds import (
    CMOC_SERVICE,
    CMOC_SERVICE_2,
    FEBRUARY,
    ISSUE_URL,
    LIVE_PAGE,
    SETTINGS,
    World,
    utc,
)

# The tables the report reads: a write to any of them must make the copy stale.
SOURCES = (
    "person",
    "identity",
    "oncallentry",
    "pagerdutyincident",
    "statuspageincident",
    "statuspagemessage",
    "gitlabissue",
    "gitlablabelevent",
    "stakeholderthread",
    "practicedrill",
    "severitychange",
    "workingincident",
)


def pages(engine: Engine, settings=SETTINGS) -> int:
    with session_scope(engine) as session:
        report = compute_kpis(
            session=session, settings=settings, since=FEBRUARY[0], until=FEBRUARY[1]
        )
    return report.ack_time.pages


def world_with_a_page(engine: Engine) -> World:
    world = World(engine)
    alice = world.person("Alice Adams", pd_id="PALICE", gitlab_id="101")
    world.page(utc(2026, 2, 3, 9), acked_after=4, by=alice)
    return world


def made_again() -> kpi_facts.Facts:
    raise AssertionError("the stored copy was made again")


def test_a_page_stored_after_a_report_is_in_the_next_one(engine):
    world = world_with_a_page(engine)
    assert pages(engine) == 1
    world.page(utc(2026, 2, 4, 9))
    assert pages(engine) == 2  # the copy held for this engine is stale, and is not used


def test_a_new_process_reads_the_stored_copy_instead_of_the_history(engine):
    world_with_a_page(engine)
    assert pages(engine) == 1
    again = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        facts = kpi_facts.current(again, SETTINGS, made_again)
        assert len(facts.pages) == 1
    finally:
        again.dispose()


def test_a_copy_is_kept_in_parts_and_read_back_whole(engine, monkeypatch):
    world = world_with_a_page(engine)
    world.page(utc(2026, 2, 4, 9))
    monkeypatch.setattr(kpi_facts, "PART_BYTES", 512)
    assert pages(engine) == 2
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT name, part, length(data) FROM kpifacts")).all()
    assert max(part for _, part, _ in stored) > 0
    assert max(size for _, _, size in stored) == 512
    again = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        read = kpi_facts.current(again, SETTINGS, made_again)
    finally:
        again.dispose()
    with session_scope(engine) as session:
        made = build_facts(session, SETTINGS)
    for field in fields(made):
        made_frame, read_frame = getattr(made, field.name), getattr(read, field.name)
        assert read_frame.astype(str).equals(made_frame.astype(str)), field.name


def test_sessions_asking_at_once_share_one_made_copy(sqlite_engine):
    world_with_a_page(sqlite_engine)
    made, start = [], threading.Barrier(3)

    def make() -> kpi_facts.Facts:
        with session_scope(sqlite_engine) as session:
            facts = build_facts(session, SETTINGS)
        made.append(facts)
        time.sleep(0.3)  # long enough for the others to ask meanwhile
        return facts

    def ask() -> kpi_facts.Facts:
        start.wait()
        return kpi_facts.current(sqlite_engine, SETTINGS, make)

    with ThreadPoolExecutor(3) as pool:
        copies = list(pool.map(lambda _: ask(), range(3)))
    assert len(made) == 1
    assert all(copy is made[0] for copy in copies)


def test_a_copy_made_under_other_settings_is_not_used(engine):
    world = world_with_a_page(engine)
    world.page(utc(2026, 2, 4, 9), service=CMOC_SERVICE_2)
    only_first = SETTINGS.model_copy(update={"pagerduty_cmoc_service_ids": [CMOC_SERVICE]})
    assert pages(engine) == 2
    assert pages(engine, only_first) == 1
    assert pages(engine) == 2


def test_every_table_the_report_reads_moves_the_revision_on(engine):
    if engine.dialect.name == "sqlite":
        query = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = (
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal"
        )
    with engine.connect() as connection:
        triggers = connection.execute(text(query)).all()
    per_table: dict[str, set[str]] = {}
    for table, name in triggers:
        per_table.setdefault(table, set()).add(name)
    events = 3 if engine.dialect.name == "sqlite" else 4  # and on PostgreSQL, truncate
    assert {table for table, names in per_table.items() if len(names) == events} >= set(SOURCES)


def test_inserts_updates_and_deletes_from_outside_the_app_move_the_revision_on(engine):
    world = world_with_a_page(engine)
    pages(engine)
    seen = kpi_facts.history_revision(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE pagerdutyincident SET title = 'renamed'"))
    updated = kpi_facts.history_revision(engine)
    world.page(utc(2026, 2, 4, 9))
    inserted = kpi_facts.history_revision(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM pagerdutylogentry"))
        connection.execute(text("DELETE FROM pagerdutyincident"))
    deleted = kpi_facts.history_revision(engine)
    assert seen < updated < inserted < deleted
    assert pages(engine) == 0


def test_uncommitted_writes_do_not_label_a_copy(sqlite_engine, tmp_path):
    """A copy is labelled with the committed revision: a write still open elsewhere can not
    give an older copy a newer revision's name."""
    world_with_a_page(sqlite_engine)
    path = sqlite_engine.url.database
    writer = sqlite3.connect(path)
    writer.execute("BEGIN")
    writer.execute("UPDATE pagerdutyincident SET created_at = '2026-02-04 09:00:00.000000'")
    assert pages(sqlite_engine) == 1
    writer.commit()
    writer.close()
    assert pages(sqlite_engine) == 1  # moved within February: made again from the history
    with session_scope(sqlite_engine) as session:
        stored = kpi_facts.current(sqlite_engine, SETTINGS, lambda: build_facts(session, SETTINGS))
    assert stored.pages["triggered"].iloc[0] == utc(2026, 2, 4, 9)


def test_the_copy_is_the_same_history_the_tables_hold(sqlite_engine):
    world = world_with_a_page(sqlite_engine)
    world.page(utc(2026, 2, 3, 10) + timedelta(minutes=3))
    with session_scope(sqlite_engine) as session:
        made = build_facts(session, SETTINGS)
    pages(sqlite_engine)
    stored = kpi_facts.current(sqlite_engine, SETTINGS, made_again)
    for name in ("pages", "incidents", "gaps", "shifts", "entries", "names"):
        made_frame, stored_frame = getattr(made, name), getattr(stored, name)
        assert list(stored_frame.columns) == list(made_frame.columns), name
        assert stored_frame.astype(str).equals(made_frame.astype(str)), name


def test_the_kpis_command_reports_from_a_made_copy_without_the_orm(sqlite_engine):
    world_with_a_page(sqlite_engine)
    env = {
        **os.environ,
        "CMOC_DATABASE_URL": str(sqlite_engine.url),
        "PAGERDUTY_CMOC_SERVICE_IDS": CMOC_SERVICE,
        "STATUSIO_STATUSPAGE_ID": LIVE_PAGE,
        "GITLAB_TOKEN": "not-a-real-token",  # configured, so not the demo organisation
    }
    # The command, then whether SQLAlchemy was loaded to run it.
    script = (
        "import sys; from cmoc_core.cli import main;"
        " code = main(['kpis', '--since', '2026-02-01', '--until', '2026-03-01']);"
        " print('sqlalchemy' in sys.modules, file=sys.stderr); sys.exit(code)"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert [run.stderr.split()[-1] for run in runs] == ["True", "False"]  # made, then read
    assert json.loads(runs[0].stdout)["ack_time"]["pages"] == 1
    assert runs[1].stdout == runs[0].stdout


def test_a_bulk_write_moves_the_revision_on_once_per_transaction(engine):
    """Sent row by row, as the driver's executemany does, a write of many rows costs one
    revision update on PostgreSQL (each update of the row leaves a version behind)."""
    world = world_with_a_page(engine)
    before = kpi_facts.history_revision(engine)
    world.page(utc(2026, 2, 4, 9))  # one unit of work: an incident and its log entries
    after_one = kpi_facts.history_revision(engine)
    rows = [{"n": n, "title": f"page {n}"} for n in range(2_000)]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO pagerdutyincident (id, incident_number, title, service_id, status,"
                " urgency, created_at) VALUES ('P' || :n, :n + 100000, :title, 'S', 'resolved',"
                " 'high', '2026-02-05 09:00:00')"
            ),
            rows,
        )
    moved = kpi_facts.history_revision(engine) - after_one
    assert after_one > before
    assert moved == (1 if engine.dialect.name == "postgresql" else len(rows))


def test_the_composer_saving_an_incident_leaves_the_copy_in_use_until_its_issue_changes(engine):
    """The report reads a working incident's issue link and whether it is practice (severities
    set in the cockpit): nothing else the composer saves through an incident."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workingincident (id, title, statuspage_id, practice, status, state,"
                " components, opened_at, steps, draft_revision) VALUES (1, 'Database down',"
                " 'page-live', false, 300, 100, '[]', '2026-02-03 09:00:00', '{}', 0)"
            )
        )
    seen = kpi_facts.history_revision(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE workingincident SET state = 200, draft_revision = 3, steps = '{}'")
        )
    assert kpi_facts.history_revision(engine) == seen
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE workingincident SET issue_url = '{ISSUE_URL.format(iid=4101)}'")
        )
    assert kpi_facts.history_revision(engine) > seen
