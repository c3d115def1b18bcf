"""Dashboard charts: each mark a manager can click picks exactly the rows it stands for, bins
sit on the target, trends are coloured by whether they are good, and CSV files say what they
hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlmodel import Session

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.history import Timeline, TimelineGap
from cmoc_core.kpi_results import AssigneeRequests, Better, change, rounded_rows
from cmoc_core.kpis import compute_kpis
from cmoc_core.sandbox import Sandbox
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from cmoc_core.ui import charts
from cmoc_core.ui.kpi_data import csv_name


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
    assert len(bars) == 13  # 0-60 in steps of 5, then "over 60 min"
    picked = [charts.picked("ack", [bar], rows) for bar in bars]
    assert [len(pages) for _, pages in picked] == list(figure.data[0].y)
    assert sum(len(pages) for _, pages in picked) == rows["pages"]["ack_minutes"].notna().sum()
    title, pages = picked[0]
    assert title == "Pages acknowledged within 5 minutes" and (pages["ack_minutes"] <= 5).all()
    title, pages = picked[3]
    assert title == "Pages acknowledged in more than 15 and up to 20 minutes"
    assert ((pages["ack_minutes"] > 15) & (pages["ack_minutes"] <= 20)).all()


def ack_pages(*minutes: float | None) -> dict[str, pd.DataFrame]:
    """Rows of pages acknowledged after these minutes (None: never)."""
    pages = pd.DataFrame({"page": range(1, len(minutes) + 1), "ack_minutes": minutes})
    return {"pages": pages, "gaps": pd.DataFrame(), "shifts": pd.DataFrame()}


def test_the_ack_histogram_has_an_edge_on_the_target_and_one_bar_over_60_minutes():
    rows = ack_pages(0.0, 4.9, 15.0, 15.01, 60.0, 61.0, 550.0, None)
    figure = charts.ack_distribution(rows["pages"])
    bars = clicks(figure)
    labels = list(figure.data[0].customdata)
    assert labels[:4] == ["up to 5 min", "5–10 min", "10–15 min", "15–20 min"]
    assert labels[-1] == "over 60 min" and figure.data[0].text[-1] == "over 60 min"
    assert figure.data[0].marker.pattern.shape[-1] == "/"  # the catch-all bar looks different
    heights = dict(zip(labels, figure.data[0].y, strict=True))
    assert heights == {
        **dict.fromkeys(labels, 0),
        "up to 5 min": 2,
        "10–15 min": 1,
        "15–20 min": 1,
        "55–60 min": 1,
        "over 60 min": 2,
    }
    # The target line sits on a bar edge: every bar left of it is within the target.
    assert [shape["x0"] for shape in figure.layout.shapes] == [15]
    edges = charts.MinuteBins.around(15).edges
    assert 15 in edges and edges[0] == 0 and edges[-1] == 60
    assert max(figure.layout.xaxis.range) < 100  # the 550-minute outlier stretches nothing
    title, pages = charts.picked("ack", [bars[-1]], rows)
    assert title == "Pages acknowledged after more than 60 minutes"
    assert list(pages["page"]) == [6, 7]
    title, pages = charts.picked("ack", [bars[2]], rows)
    assert list(pages["page"]) == [3]  # exactly 15 minutes is within the target's bar


@pytest.mark.parametrize(
    ("target", "step", "top"), [(15, 5, 60), (30, 10, 120), (45, 15, 180), (7, 1, 28)]
)
def test_histogram_bins_step_through_the_target(target, step, top):
    bins = charts.MinuteBins.around(target)
    assert (bins.step, bins.top) == (step, top)
    assert target in bins.edges


def test_the_first_update_charts_pick_the_incidents_behind_each_mark():
    firsts = pd.DataFrame(
        {
            "incident": ["a", "b", "c", "d"],
            "first_update": pd.to_datetime(
                ["2026-01-05 10:00", "2026-01-20 10:00", "2026-02-03 10:00", "2026-02-04 10:00"],
                utc=True,
            ),
            "minutes": [12.0, 30.0, 31.0, 200.0],
            "within_target": [True, True, False, False],
        }
    )
    rows = {
        "first_updates": firsts,
        "pages": pd.DataFrame(),
        "gaps": pd.DataFrame(),
        "shifts": pd.DataFrame(),
    }
    figure = charts.first_update_distribution(firsts, 30)
    bars = clicks(figure)
    assert len(bars) == 13 and figure.data[0].customdata[-1] == "over 120 min"
    assert [shape["x0"] for shape in figure.layout.shapes] == [30]
    picked = [charts.picked("first_update", [bar], rows, target=30) for bar in bars]
    assert {title: list(found["incident"]) for title, found in picked if len(found)} == {
        "Incidents first published in more than 10 and up to 20 minutes after the page": ["a"],
        "Incidents first published in more than 20 and up to 30 minutes after the page": ["b"],
        "Incidents first published in more than 30 and up to 40 minutes after the page": ["c"],
        "Incidents first published after more than 120 minutes after the page": ["d"],
    }
    trend = charts.first_update_trend(firsts, 30)
    months = clicks(trend)
    assert [month["y"] for month in months] == [21.0, 115.5]
    title, found = charts.picked("first_update_trend", [months[1]], rows, target=30)
    assert title == "First public updates of 2026-02" and list(found["incident"]) == ["c", "d"]


def test_the_announced_updates_chart_picks_promises_kept_or_broken():
    gaps = pd.DataFrame(
        {
            "incident": ["a", "a", "b", "c"],
            "end": pd.to_datetime(
                ["2026-01-05", "2026-01-06", "2026-01-07", "2026-02-01"], utc=True
            ),
            "announced": [True, True, True, False],
            "on_time": [True, False, True, False],
        }
    )
    rows = {"gaps": gaps, "pages": pd.DataFrame(), "shifts": pd.DataFrame()}
    figure = charts.announced_kept(gaps)
    kept, broken = (clicks(figure, trace) for trace in (0, 1))
    assert [(bar["x"], bar["y"]) for bar in kept] == [("2026-01", 2)]
    assert [(bar["x"], bar["y"]) for bar in broken] == [("2026-01", 1)]
    title, found = charts.picked("announced", kept, rows)
    assert title == "Announced updates kept in 2026-01" and len(found) == 2
    title, found = charts.picked("announced", broken, rows)
    assert title == "Announced updates broken in 2026-01" and list(found["on_time"]) == [False]


@pytest.mark.parametrize(
    ("value", "before", "better", "amount", "good"),
    [
        (80.0, 70.0, Better.HIGHER, 10.0, True),  # share up: good
        (60.0, 70.0, Better.HIGHER, -10.0, False),
        (4.0, 6.5, Better.LOWER, -2.5, True),  # waiting down: good
        (8.0, 6.5, Better.LOWER, 1.5, False),
        (0.0, 0.0, Better.HIGHER, 0.0, None),  # 0.0% before and after: nothing moved
        (66.66, 66.69, Better.HIGHER, 0.0, None),  # the same once shown with one decimal
        (None, 50.0, Better.HIGHER, None, None),
    ],
)
def test_a_change_is_good_or_bad_by_the_figure_and_nothing_when_unmoved(
    value, before, better, amount, good
):
    moved = change(value, before, better=better)
    assert (moved.amount, moved.good, moved.moved) == (amount, good, good is not None)


def test_csv_files_are_named_after_the_table_and_the_period():
    since, until = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    assert csv_name("ack times", since, until) == "cmoc-ack-times-2026-07-01-to-2026-09-30.csv"
    assert (
        csv_name("Pages acknowledged after more than 60 minutes", since, until)
        == "cmoc-pages-acknowledged-after-more-than-60-minutes-2026-07-01-to-2026-09-30.csv"
    )


def test_tables_are_rounded_as_shown():
    table = rounded_rows(pd.DataFrame({"ack_minutes": [4.116666666666666], "page": [3]}))
    assert table.to_csv(index=False) == "ack_minutes,page\n4.12,3\n"


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


def test_the_incident_timeline_writes_times_in_the_pages_format_to_the_minute():
    start = datetime(2026, 11, 29, 23, 51, 7, 123456, tzinfo=UTC)
    end = datetime(2026, 11, 30, 0, 40, 59, 987654, tzinfo=UTC)  # "now", to the microsecond
    gap = TimelineGap(start=start, due=start + (end - start) / 2, end=end, on_time=False, state="")
    timeline = Timeline(
        phases=[("Investigating", start, end)],
        updates=[(start, "Investigating"), (end, "Monitoring")],
        gaps=[gap],
        events=[("Page acknowledged", start)],
        flags=[],
    )
    axis = charts.incident_timeline(timeline).to_plotly_json()["layout"]["xaxis"]
    assert (axis["tickformat"], axis["hoverformat"]) == ("%H:%M<br>%d-%m-%Y", "%d-%m-%Y %H:%M")
    assert axis["title"]["text"] == "UTC"
