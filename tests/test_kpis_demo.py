"""The KPI report on the synced demo organisation: stable across databases, and from the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from cmoc_core.cli import main
from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.kpis import compute_kpis
from cmoc_core.sync import run_sync
from tests.test_kpis import TOP_KEYS

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 10, 1, tzinfo=UTC)


def synced_report(engine, sandbox, org_end) -> dict:
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    assert run_sync(engine=engine, settings=settings, clients=clients, now=org_end).ok
    with Session(engine) as session:
        return compute_kpis(session=session, settings=settings, since=SINCE, until=UNTIL).as_dict()


@pytest.mark.postgres
def test_the_demo_report_is_the_same_on_sqlite_and_postgresql(
    sqlite_engine, postgres_engine, sandbox, org_end
):
    on_sqlite = synced_report(sqlite_engine, sandbox, org_end)
    on_postgres = synced_report(postgres_engine, sandbox, org_end)
    assert on_sqlite == on_postgres
    assert set(on_sqlite) == TOP_KEYS
    assert on_sqlite["ack_time"]["pages"] > 50
    assert 0 < on_sqlite["update_cadence"]["overdue"] < on_sqlite["update_cadence"]["gaps"]
    assert 0 < on_sqlite["handover"]["handed_over"] < on_sqlite["handover"]["shifts"]


@pytest.fixture
def demo_database(tmp_path, monkeypatch):
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{tmp_path / 'kpis.db'}")
    assert main(["demo"]) == 0


def test_kpis_command_prints_the_json_of_the_spec(demo_database, capsys):
    capsys.readouterr()
    assert main(["kpis", "--since", "2026-01-01", "--until", "2026-04-01"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == TOP_KEYS
    assert data["period"] == {"since": "2026-01-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
    assert {
        "pages",
        "acknowledged",
        "median_minutes",
        "p90_minutes",
        "within_target",
        "within_target_pct",
        "target_minutes",
    } <= set(data["ack_time"])
    assert data["ack_time"]["target_minutes"] == 15


def test_kpis_csv_has_one_row_per_kpi_and_figure(demo_database, capsys):
    capsys.readouterr()
    assert main(["kpis", "--since", "2026-01-01", "--until", "2026-04-01", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0].keys() == {"kpi", "figure", "value"}
    assert ("handover", "handed_over_pct") in {(r["kpi"], r["figure"]) for r in rows}


def test_kpis_with_an_empty_period_is_refused(demo_database, capsys):
    assert main(["kpis", "--since", "2026-04-01", "--until", "2026-04-01"]) == 2
    assert "--until must be after --since" in capsys.readouterr().err
