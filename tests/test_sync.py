"""Sync: complete, idempotent, incremental, and resumable without duplicates, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.kpi_facts import history_revision
from cmoc_core.linking import fold_name
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    Identity,
    IssueKind,
    OnCallEntry,
    PagerDutyIncident,
    Person,
    ScheduleKind,
    StatusPageIncident,
    StatusPageMessage,
    SyncState,
    UtcDateTime,
)
from cmoc_core.people import add_mapping
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.storage import MIGRATIONS, make_engine, migrate, session_scope
from cmoc_core.sync import STREAM_NAMES, run_sync
from cmoc_core.synclock import sync_lock

# Bookkeeping, not history: when syncs ran, how many writes the history saw, the KPI copy.
VOLATILE = {"syncstate", "historyrevision", "kpifacts"}
SURROGATE_TABLES = {"person", "identity", "oncallentry", "personmapping", "stakeholderthread"}
SURROGATE_KEYS = {"id", "person_id"}


def sync(engine: Engine, sandbox: Sandbox, now, **kwargs):
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    try:
        return run_sync(engine=engine, settings=settings, clients=clients, now=now, **kwargs)
    finally:
        clients.close()


def dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every data table in a stable order; people compared by key, not by id."""
    tables = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in VOLATILE:
                continue
            surrogate = table.name in SURROGATE_TABLES
            columns = [c for c in table.columns if not (surrogate and c.name in SURROGATE_KEYS)]
            rows = connection.execute(table.select().with_only_columns(*columns)).all()
            tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
        tables["identity->person"] = sorted(
            connection.execute(
                text(
                    "SELECT i.system, i.external_id, p.key "
                    "FROM identity i JOIN person p ON p.id = i.person_id"
                )
            ).all()
        )
    return tables


def count(engine: Engine, model) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_first_sync_stores_the_whole_organisation(engine, sandbox, org_end):
    report = sync(engine, sandbox, org_end)
    assert report.ok, report.summary()
    org = sandbox.org
    assert count(engine, StatusPageIncident) == len(org.statusio_incidents)
    assert count(engine, StatusPageMessage) == sum(
        len(i["messages"]) for i in org.statusio_incidents
    )
    assert count(engine, PagerDutyIncident) >= 100
    assert count(engine, OnCallEntry) > 0
    assert count(engine, GitLabLabelEvent) > 0
    with Session(engine) as session:
        kinds = set(session.exec(select(GitLabIssue.kind)).all())
        assert kinds == set(IssueKind)
        linked = session.exec(
            select(func.count())
            .select_from(StatusPageIncident)
            .where(StatusPageIncident.production_issue_iid.is_not(None))
        ).one()
        assert linked >= 55
        acked = session.exec(
            select(func.count())
            .select_from(PagerDutyIncident)
            .where(PagerDutyIncident.acknowledged_at.is_not(None))
        ).one()
        assert 0 < acked < count(engine, PagerDutyIncident)
        regions = dict(
            session.exec(
                select(
                    OnCallEntry.schedule_kind, func.count(func.distinct(OnCallEntry.region))
                ).group_by(OnCallEntry.schedule_kind)
            ).all()
        )
        assert regions == {ScheduleKind.CMOC: 3, ScheduleKind.SHADOW: 0}
        paged = session.exec(
            select(func.count())
            .select_from(PagerDutyIncident)
            .where(PagerDutyIncident.statuspage_incident_id.is_not(None))
        ).one()
        assert paged >= 50


@pytest.mark.parametrize("first_page", [0, 1])
def test_every_status_page_incident_is_stored_whatever_number_the_lists_start_at(
    engine, sandbox, org_end, first_page
):
    """Status.io does not document whether `?page=` counts from 0 or 1: either way, none is lost."""
    sandbox.statusio.first_page = first_page
    assert sync(engine, sandbox, org_end).ok
    with Session(engine) as session:
        stored = dict(
            session.exec(select(StatusPageIncident.id, StatusPageIncident.resolved)).all()
        )
    org = sandbox.org
    assert stored == {i["_id"]: False for i in org.statusio_active_incidents()} | {
        i["_id"]: True for i in org.statusio_resolved_incidents()
    }


def test_second_sync_adds_nothing_and_asks_little(engine, sandbox, org_end):
    assert sync(engine, sandbox, org_end).ok
    before = dump(engine)
    sandbox.reset_requests()
    report = sync(engine, sandbox, org_end + timedelta(hours=1))
    assert report.ok, report.summary()
    assert dump(engine) == before
    assert sum(report.requests.values()) <= 10, report.summary()


def test_a_sync_that_finds_nothing_new_leaves_the_kpi_copy_in_use(engine, sandbox, org_end):
    assert sync(engine, sandbox, org_end).ok
    revision = history_revision(engine)
    report = sync(engine, sandbox, org_end + timedelta(hours=1))
    assert report.ok, report.summary()
    assert history_revision(engine) == revision  # nothing written: the copy is not made again


def test_interrupted_sync_rerun_ends_with_the_same_rows_as_an_uninterrupted_one(
    engine, sandbox, org_end, tmp_path
):
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    migrate(reference)
    assert sync(reference, Sandbox(org=sandbox.org, end=org_end), org_end).ok
    expected = dump(reference)

    sandbox.add_fault(
        Fault(
            service="pagerduty",
            path_contains="/log_entries",
            after=2,
            kind="status",
            status=500,
            times=None,
        )
    )
    broken = sync(engine, sandbox, org_end)
    assert not broken.ok
    assert "PagerDuty" in broken.first_error and "500" in broken.first_error
    assert count(engine, PagerDutyIncident) > 0  # what was stored before the fault is kept
    sandbox.clear_faults()
    assert sync(engine, sandbox, org_end).ok
    assert dump(engine) == expected


def test_people_are_matched_across_systems_and_by_explicit_mapping(engine, sandbox, org_end):
    assert sync(engine, sandbox, org_end).ok
    with Session(engine) as session:
        people = session.exec(select(Person)).all()
        spans = {
            p.key: {
                i.system for i in session.exec(select(Identity).where(Identity.person_id == p.id))
            }
            for p in people
        }
    both = [k for k, systems in spans.items() if len(systems) == 2]
    lonely_gitlab = [k for k, systems in spans.items() if systems == {"gitlab"}]
    assert len(both) >= 6
    assert lonely_gitlab, "one GitLab user needs an explicit mapping"
    with session_scope(engine) as session:
        identity = session.exec(
            select(Identity).join(Person).where(Person.key == lonely_gitlab[0])
        ).first()
        pd_name = next(
            p.name
            for p in sandbox.org.people
            if fold_name(p.gitlab_name) != fold_name(p.name) and not p.gitlab_public_email
        )
        add_mapping(
            session=session, system="gitlab", external_id=identity.external_id, person_key=pd_name
        )
    with Session(engine) as session:
        person = session.exec(select(Person).where(Person.key == pd_name)).one()
        systems = {
            i.system for i in session.exec(select(Identity).where(Identity.person_id == person.id))
        }
    assert systems == {"pagerduty", "gitlab"}


def test_sqlite_database_runs_in_wal_mode(sqlite_engine):
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_an_answer_of_an_unexpected_shape_is_a_clear_error_not_a_crash(
    sqlite_engine, sandbox, org_end
):
    def without_ids(request: httpx.Request) -> httpx.Response:
        response = sandbox.transport.handle_request(request)
        body = json.loads(response.read())
        if "incident/list/resolved" in request.url.path:
            for incident in body["result"]:
                incident.pop("_id", None)
        return httpx.Response(response.status_code, json=body)

    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=httpx.MockTransport(without_ids), statusio_min_interval=0
    )
    report = run_sync(
        engine=sqlite_engine, settings=settings, clients=clients, now=org_end, sources=["statusio"]
    )
    assert not report.ok
    assert report.first_error.startswith(
        "Status.io: statusio.incidents got an answer of an unexpected shape"
    )


def test_a_sync_while_another_holds_the_lock_pulls_nothing_and_says_since_when(
    engine, sandbox, org_end
):
    with sync_lock(engine, holder="another sync") as held:
        report = sync(engine, sandbox, org_end)
    assert report.busy == held.message
    assert not report.ok and report.first_error == held.message
    assert report.summary() == held.message
    assert sandbox.count() == 0 and count(engine, SyncState) == 0
    assert sync(engine, sandbox, org_end).ok  # the lock is free again


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on a database without any table yet, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    server.drop_database(url)


def migrate_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


ONCALL_0002 = sa.table(
    "oncallentry",
    sa.column("schedule_id", sa.String()),
    sa.column("schedule_kind", sa.String()),
    sa.column("user_id", sa.String()),
    sa.column("start", UtcDateTime()),
    sa.column("end", UtcDateTime()),
)
SYNCSTATE_0002 = sa.table(
    "syncstate",
    sa.column("stream", sa.String()),
    sa.column("cursor", UtcDateTime()),
    sa.column("last_success_at", UtcDateTime()),
    sa.column("items", sa.Integer()),
)


def test_an_upgraded_database_gets_the_region_of_every_stored_shift_on_the_next_sync(
    bare_engine, sandbox, org_end, tmp_path
):
    # What a full sync stored before regions were kept: the same spans, without a region.
    synced_at = org_end - timedelta(days=2)
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    migrate(reference)
    assert sync(reference, Sandbox(org=sandbox.org, end=org_end), synced_at).ok
    with Session(reference) as session:
        spans = session.exec(select(OnCallEntry)).all()
        states = session.exec(select(SyncState)).all()
    reference.dispose()
    assert len(spans) > 100
    migrate_to(bare_engine, "0002")
    with bare_engine.begin() as connection:
        connection.execute(
            ONCALL_0002.insert(),
            [
                {
                    "schedule_id": s.schedule_id,
                    "schedule_kind": s.schedule_kind,
                    "user_id": s.user_id,
                    "start": s.start,
                    "end": s.end,
                }
                for s in spans
            ],
        )
        connection.execute(
            SYNCSTATE_0002.insert(),
            [
                {
                    "stream": s.stream,
                    "cursor": s.cursor,
                    "last_success_at": s.last_success_at,
                    "items": s.items,
                }
                for s in states
            ],
        )

    migrate(bare_engine)
    with Session(bare_engine) as session:
        regions = session.exec(select(OnCallEntry.region)).all()
    assert len(regions) == len(spans) and set(regions) == {None}

    # The next (incremental) sync reads a day of shifts: every schedule's name, with its region.
    report = sync(bare_engine, sandbox, synced_at + timedelta(days=1), sources=["pagerduty"])
    assert report.ok, report.summary()
    with Session(bare_engine) as session:
        stored = session.exec(select(OnCallEntry)).all()
    empty = [s for s in stored if s.schedule_kind == ScheduleKind.CMOC and s.region is None]
    assert not empty, f"{len(empty)} of {len(stored)} CMOC shifts have no region"
    before = synced_at - timedelta(days=7)
    expected = {(s.schedule_id, s.user_id, s.start, s.end, s.region) for s in spans}
    assert {
        (s.schedule_id, s.user_id, s.start, s.end, s.region) for s in stored if s.start < before
    } == {span for span in expected if span[2] < before}


# Internal spellings people must never read: stream names, exception classes, lowercase services.
INTERNAL_WORDS = ("statusio.", "gitlab.", "pagerduty.", "_", "Error", "gitlab ")


def test_every_stream_and_service_is_named_in_words_for_people(sqlite_engine, sandbox, org_end):
    progress: list[str] = []
    report = sync(sqlite_engine, sandbox, org_end, progress=progress.append)
    assert report.ok, report.summary()
    assert {s.stream for s in report.streams} == set(STREAM_NAMES)
    assert "Syncing Status.io components" in progress
    assert "Syncing GitLab label events" in progress
    lines = report.outcome_lines()
    assert "GitLab label events: " in "\n".join(lines)
    assert lines[-1].startswith("Requests made: ") and "GitLab" in lines[-1]
    shown = "\n".join([*progress, *lines])
    assert not [word for word in INTERNAL_WORDS if word in shown], shown
    assert "statusio.components" in report.summary()  # the command's summary keeps its names


def unreadable_issues() -> Fault:
    """GitLab answering every issue list with issues of no known field, from now on."""
    return Fault(
        service="gitlab",
        path_contains="/issues",
        status=200,
        headers={"content-type": "application/json"},
        body="[{}]",
        times=None,
    )


def test_an_unexpected_answer_says_what_happened_and_what_to_do_in_words(
    sqlite_engine, sandbox, org_end
):
    sandbox.add_fault(unreadable_issues())
    progress: list[str] = []
    report = sync(sqlite_engine, sandbox, org_end, sources=["gitlab"], progress=progress.append)
    assert not report.ok
    assert report.first_error.startswith("GitLab: gitlab.production got an answer")  # command
    said = report.first_failure
    assert said is not None and said.startswith("GitLab production issues could not be synced")
    assert "GitLab sent an answer" in said and "try Sync now again" in said
    with Session(sqlite_engine) as session:
        stored = session.get(SyncState, "gitlab.production")
    assert stored is not None and stored.last_error == said  # as the Sync page shows it
    lines = report.outcome_lines()
    assert "GitLab production issues: failed" in lines
    assert "GitLab label events: not synced after an earlier GitLab failure" in lines
    shown = "\n".join([said, *progress, *lines])
    assert not [word for word in INTERNAL_WORDS if word in shown], shown


def test_a_database_failure_says_what_happened_and_what_to_do_in_words(
    sqlite_engine, sandbox, org_end
):
    with sqlite_engine.begin() as connection:
        connection.execute(text("DROP TABLE component"))
    report = sync(sqlite_engine, sandbox, org_end, sources=["statusio"])
    assert not report.ok
    assert (report.first_error or "").startswith("database: statusio.components could not be")
    said = report.first_failure or ""
    assert said.startswith("Status.io components could not be synced: ")
    assert "database" in said and "try Sync now again" in said
    assert not [word for word in INTERNAL_WORDS if word in said], said


def test_a_refused_credential_says_to_check_the_services_settings(sqlite_engine, sandbox, org_end):
    sandbox.add_fault(Fault(service="pagerduty", status=401, times=None))
    report = sync(sqlite_engine, sandbox, org_end, sources=["pagerduty"])
    said = report.first_failure or ""
    assert said.startswith("PagerDuty CMOC pages could not be synced (PagerDuty: HTTP 401")
    assert "Check PagerDuty's credentials with Test connection on the Sync & settings page" in said


def test_a_source_without_settings_is_named_in_words(sqlite_engine, sandbox, org_end):
    unset = {k: v for k, v in sandbox.settings().items() if not k.startswith("GITLAB_")}
    settings = settings_from_mapping(unset)
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    try:
        report = run_sync(
            engine=sqlite_engine,
            settings=settings,
            clients=clients,
            now=org_end,
            sources=["gitlab"],
        )
    finally:
        clients.close()
    assert "GitLab users: not synced, as GitLab is not configured" in report.outcome_lines()
