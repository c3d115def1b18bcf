"""The KPI report on the synced demo organisation: stable across databases, and from the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from cmoc_core.cli import main
from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.kpis import compute_kpis
from cmoc_core.sandbox import Sandbox
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from tests.test_kpis import TOP_KEYS

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 10, 1, tzinfo=UTC)
# The JSON printed for the demo organisation's first quarter of 2026, recorded once and checked
# by hand: other tools read this output, so no key may be renamed or moved and no number change.
QUARTER_JSON = Path(__file__).parent / "data" / "kpis_demo_2026-Q1.json"
QUARTER = {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 4, 1, tzinfo=UTC)}


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
    assert data["first_public_update"]["target_minutes"] == 30
    assert data["first_public_update"]["incidents"] > 0
    assert 0 < data["announced_updates"]["kept"] <= data["announced_updates"]["announced"]


def test_kpis_csv_has_one_row_per_kpi_and_figure(demo_database, capsys):
    capsys.readouterr()
    assert main(["kpis", "--since", "2026-01-01", "--until", "2026-04-01", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0].keys() == {"kpi", "figure", "value"}
    figures = {(r["kpi"], r["figure"]) for r in rows}
    assert ("handover", "handed_over_pct") in figures
    assert {
        ("first_public_update", "incidents"),
        ("first_public_update", "median_minutes"),
        ("first_public_update", "within_target_pct"),
        ("first_public_update", "target_minutes"),
        ("announced_updates", "announced"),
        ("announced_updates", "kept_pct"),
    } <= figures


def test_kpis_with_an_empty_period_is_refused(demo_database, capsys):
    assert main(["kpis", "--since", "2026-04-01", "--until", "2026-04-01"]) == 2
    assert "--until must be after --since" in capsys.readouterr().err


@pytest.fixture(scope="module")
def synced_demo(organisation, org_end, tmp_path_factory):
    """A database synced from the demo organisation, and the sandbox it was synced from."""
    database = tmp_path_factory.mktemp("kpis_demo") / "cmoc.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    sandbox = Sandbox(org=organisation, end=org_end)
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    assert run_sync(engine=engine, settings=settings, clients=clients, now=org_end).ok
    engine.dispose()
    return database, sandbox


def test_kpis_prints_the_demo_quarter_byte_for_byte_as_recorded(synced_demo, monkeypatch, capsys):
    database, sandbox = synced_demo
    for name, value in sandbox.settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{database}")
    capsys.readouterr()
    assert main(["kpis", "--since", "2026-01-01", "--until", "2026-04-01"]) == 0
    assert capsys.readouterr().out == QUARTER_JSON.read_text()


def test_the_report_holds_the_printed_figures_unrounded(synced_demo):
    database, sandbox = synced_demo
    settings = settings_from_mapping(sandbox.settings())
    engine = make_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        report = compute_kpis(session=session, settings=settings, **QUARTER)
    engine.dispose()
    printed = json.loads(QUARTER_JSON.read_text())
    ack, cadence = report.ack_time, report.update_cadence
    assert ack.within_target_pct == 100 * ack.within_target / ack.pages
    assert ack.within_target_pct != round(ack.within_target_pct, 2)
    assert round(ack.within_target_pct, 2) == printed["ack_time"]["within_target_pct"]
    expected = printed["update_cadence"]
    assert (cadence.incidents, cadence.gaps, cadence.overdue) == (
        expected["incidents"],
        expected["gaps"],
        expected["overdue"],
    )
    assert cadence.by_severity[1].as_dict() == expected["by_severity"]["1"]
    assert cadence.by_state["Identified"].as_dict() == expected["by_state"]["Identified"]
    assert report.contact_requests.completed_per_opened == 0.75
    assert [row.as_dict() for row in report.handover.by_person] == printed["handover"]["by_person"]
    assert [cell.as_dict() for cell in report.training.grid] == printed["training"]["grid"]
    assert [row.as_dict() for row in report.per_person] == printed["per_person"]
    first = report.first_public_update
    assert first.as_dict() == printed["first_public_update"]
    assert first.within_target_pct == 100 * first.within_target / first.incidents
    assert len(report.rows["first_updates"]) == first.incidents
    announced = report.announced_updates
    assert announced.as_dict() == printed["announced_updates"]
    gaps = report.rows["gaps"]
    assert (int(gaps["announced"].sum()), int((gaps["announced"] & gaps["on_time"]).sum())) == (
        announced.announced,
        announced.kept,
    )
