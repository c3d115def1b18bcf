"""Dashboard charts: each mark a manager can click picks exactly the rows it stands for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.kpi_results import AssigneeRequests
from cmoc_core.kpis import compute_kpis
from cmoc_core.sandbox import Sandbox
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from cmoc_core.ui import charts


@pytest.fixture(scope="module")
def rows(organisation, org_end, tmp_path_factory):
    """The rows behind a year of the demo organisation's figures."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('charts') / 'cmoc.db'}")
    migrate(engine)
    sandbox = Sandbox(org=organisation, end=org_end)
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    assert run_sync(engine=engine, settings=settings, clients=clients, now=org_end).ok
    with Session(engine) as session:
        report = compute_kpis(
            session=session,
            settings=settings,
            since=datetime(2025, 11, 1, tzinfo=UTC),
            until=datetime(2026, 11, 1, tzinfo=UTC),
        )
    engine.dispose()
    return report.rows


def clicks(figure, trace: int = 0) -> list[dict]:
    """The points Streamlit reports for a click on each mark of a trace."""
    data = figure.data[trace]
    custom = data.customdata if data.customdata is not None else [None] * len(data.x)
    return [
        {"x": x, "y": y, "customdata": c, "point_index": i}
        for i, (x, y, c) in enumerate(zip(data.x, data.y, custom, strict=True))
    ]


def test_each_bar_of_the_ack_histogram_picks_the_pages_it_counts(rows):
    figure = charts.ack_distribution(rows["pages"])
    bars = clicks(figure)
    assert len(bars) == 30
    picked = [charts.picked("ack", [bar], rows) for bar in bars]
    assert [len(pages) for _, pages in picked] == list(figure.data[0].y)
    assert sum(len(pages) for _, pages in picked) == rows["pages"]["ack_minutes"].notna().sum()
    title, pages = picked[0]
    assert title.startswith("Pages acknowledged in 0.") and (pages["ack_minutes"] < 2).all()


def test_each_month_of_the_ack_trend_picks_the_pages_triggered_then(rows):
    figure = charts.ack_trend(rows["pages"])
    months = clicks(figure)
    assert len(months) >= 12
    for month in months:
        title, pages = charts.picked("ack_trend", [month], rows)
        assert title == f"Pages of {month['x']}"
        assert len(pages) > 0
        assert set(pages["triggered"].dt.strftime("%Y-%m")) == {month["x"]}
        assert pages["ack_minutes"].median() == pytest.approx(month["y"])


def test_each_square_of_the_cadence_matrix_picks_its_updates(rows):
    figure = charts.cadence_matrix(rows["gaps"])
    squares = clicks(figure)
    assert {square["y"] for square in squares} >= {"S1", "S2", "S3", "S4"}
    assert {square["x"] for square in squares} == {"Investigating", "Identified", "Monitoring"}
    for square in squares:
        title, gaps = charts.picked("cadence", [square], rows)
        assert title == f"{square['y']} updates while {square['x']}"
        assert len(gaps) == int(square["customdata"])
        assert set(gaps["severity"]) == {int(square["y"][1])}
        assert set(gaps["state"]) == {square["x"]}
        shown = figure.data[0].text[square["point_index"]]
        assert f"{100 * gaps['on_time'].mean():.0f}" == shown
    assert sum(int(square["customdata"]) for square in squares) == len(rows["gaps"])


def test_each_month_of_overdue_updates_picks_them(rows):
    figure = charts.overdue_over_time(rows["gaps"])
    for month in clicks(figure):
        title, gaps = charts.picked("overdue", [month], rows)
        assert title == f"Overdue updates in {month['x']}"
        assert len(gaps) == month["y"] and not gaps["on_time"].any()


def test_each_person_of_the_handover_chart_picks_their_shifts(rows):
    figure = charts.handover_by_person(rows["shifts"])
    heights: dict[str, int] = {}
    for trace in range(len(figure.data)):
        for bar in clicks(figure, trace):
            heights[bar["x"]] = heights.get(bar["x"], 0) + bar["y"]
    for person, height in heights.items():
        title, shifts = charts.picked("handover", [{"x": person, "y": height}], rows)
        assert title == f"Shifts of {person}"
        assert len(shifts) == height and set(shifts["person"]) == {person}


def test_no_click_picks_nothing(rows):
    assert charts.picked("cadence", [], rows) is None


def test_the_contact_request_chart_draws_each_assignees_opened_and_completed():
    figure = charts.contact_requests(
        (
            AssigneeRequests("Ada Lovelace", opened=3, completed=2),
            AssigneeRequests("unassigned", 1, 0),
        )
    )
    bars = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in figure.data}
    assert bars == {
        "opened": {"Ada Lovelace": 3, "unassigned": 1},
        "completed": {"Ada Lovelace": 2, "unassigned": 0},
    }
