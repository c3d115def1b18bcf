"""KPI dashboard on the demo organisation: tiles, charts, filters and drill-down."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st
from sqlmodel import Session, delete, select
from streamlit.proto.Metric_pb2 import Metric

from cmoc_core import people
from cmoc_core.models import Person, StakeholderThread, System
from cmoc_core.storage import make_engine
from cmoc_core.ui.kpi_data import ROW_HEADINGS, csv_text, readable
from tests.app.conftest import table_with


def open_dashboard(app):
    app.run()
    app.switch_page("app_pages/kpis.py").run()
    assert not app.exception
    app.segmented_control(key="kpis_period").set_value("Last 365 days").run()
    assert not app.exception
    return app


SHIFT_COLUMNS = ("Person", "From (UTC)", "To (UTC)", "Handed over")
NEW_TILES = (
    "Announced updates kept",
    "First public update ≤ 30 min",
    "Median time to first public update",
)


def tile(app, label: str):
    return next(m for m in app.metric if m.label == label)


def test_tiles_and_charts_show_the_indicators(app):
    open_dashboard(app)
    labels = {m.label for m in app.metric}
    assert {"Acknowledged ≤ 15 min", "Updates on time", "Shifts handed over", *NEW_TILES} <= labels
    assert all(
        m.value != "–"
        for m in app.metric
        if m.label in ("Updates on time", "Shifts handed over", *NEW_TILES)
    )
    assert tile(app, "Median time to first public update").value.endswith(" min")
    charts = app.get("plotly_chart")
    assert len(charts) >= 9
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts]
    assert {
        "Time to acknowledge pages",
        "Time to first public update",
        "First public update trend (median by month)",
        "Announced next updates kept",
    } <= set(titles)
    ack = next(
        json.loads(c.proto.spec)
        for c in charts
        if "Time to acknowledge" in json.dumps(json.loads(c.proto.spec)["layout"])
    )
    assert any(shape.get("x0") == 15 for shape in ack["layout"].get("shapes", []))


def test_the_person_filter_narrows_the_rows_behind_the_figures(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("Shifts without a handover issue").run()
    everyone = table_with(app, *SHIFT_COLUMNS)
    person = everyone["Person"].iloc[0]
    app.selectbox(key="kpis_person").set_value(person).run()
    narrowed = table_with(app, *SHIFT_COLUMNS)
    assert 0 < len(narrowed) < len(everyone)
    assert set(narrowed["Person"]) == {person}


def test_drill_down_lists_overdue_updates_and_offers_them_as_csv(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("Overdue updates").run()
    overdue = table_with(app, "Title", "Due (UTC)", "Minutes overdue")
    assert len(overdue) > 0 and (overdue["Minutes overdue"] > 0).all()
    assert set(overdue["On time"]) == {"No"}
    download = csv_button(app)
    assert download.proto.label == "Download CSV"
    assert f"Saves all {len(overdue):,} rows as cmoc-overdue-updates-" in download.proto.help


def csv_button(app):
    return next(b for b in app.get("download_button") if b.proto.id.endswith("kpis_csv"))


def last_365_days() -> str:
    today = datetime.now(UTC).date()
    return f"{today - timedelta(days=364):%Y-%m-%d}-to-{today:%Y-%m-%d}"


def test_csv_files_are_named_after_the_table_and_period_with_numbers_as_shown(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("All pages").run()
    pages = table_with(app, "Page", "Minutes to acknowledge")
    assert f"cmoc-ack-times-{last_365_days()}.csv" in csv_button(app).proto.help
    minutes = pages["Minutes to acknowledge"].dropna()
    assert len(minutes) and (minutes.round(2) == minutes).all()  # as in the CSV
    app.selectbox(key="kpis_drill").set_value("All first public updates").run()
    firsts = table_with(app, "Title", "Page", "Minutes to first update", "Within target")
    spent = firsts["Minutes to first update"]
    assert len(firsts) > 0 and (spent.round(2) == spent).all()
    name = f"cmoc-first-public-updates-{last_365_days()}.csv"
    assert name in csv_button(app).proto.help
    people_csv = next(b for b in app.get("download_button") if b.proto.id.endswith("people_csv"))
    assert f"cmoc-per-person-{last_365_days()}.csv" in people_csv.proto.help


def handed_over_help(app) -> str:
    return next(m for m in app.metric if m.label == "Shifts handed over").proto.help


def test_the_region_filter_narrows_the_figures_and_the_rows_to_that_region(app):
    open_dashboard(app)
    everyone = handed_over_help(app)
    app.selectbox(key="kpis_drill").set_value("All shifts").run()
    all_shifts = table_with(app, *SHIFT_COLUMNS, "Region")
    assert set(all_shifts["Region"]) == {"AMER", "EMEA", "APAC"}
    app.selectbox(key="kpis_region").set_value("EMEA").run()
    emea = table_with(app, *SHIFT_COLUMNS, "Region")
    assert 0 < len(emea) < len(all_shifts)
    assert set(emea["Region"]) == {"EMEA"}
    assert handed_over_help(app) != everyone
    assert handed_over_help(app).split(";")[0].endswith(f"of {len(emea)}")


def test_the_severity_filter_narrows_the_updates_behind_the_cadence_tile(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("All status updates").run()
    gaps = table_with(app, "Title", "Severity", "On time")
    app.multiselect(key="kpis_severity").set_value(["S1"]).run()
    severe = table_with(app, "Title", "Severity", "On time")
    assert 0 < len(severe) < len(gaps)
    assert set(severe["Severity"]) == {"S1"}
    cadence = next(m for m in app.metric if m.label == "Updates on time")
    on_time = int((severe["On time"] == "Yes").sum())
    assert cadence.proto.help.startswith(f"{on_time} of {len(severe)} gaps")


def test_tiles_show_the_change_since_the_previous_period(app):
    open_dashboard(app)
    app.segmented_control(key="kpis_period").set_value("Last quarter").run()
    cadence = next(m for m in app.metric if m.label == "Updates on time")
    assert cadence.proto.delta.endswith(" pts") or cadence.proto.delta == "no change"
    for label in ("Announced updates kept", "First public update ≤ 30 min"):
        assert tile(app, label).proto.delta, label


def colour_of(metric) -> str:
    return Metric.MetricColor.Name(metric.proto.color)


def test_a_change_is_green_when_good_for_that_figure_and_red_when_bad(app):
    open_dashboard(app)
    seen = set()
    for period in ("Last quarter", "Last 30 days", "This quarter"):
        app.segmented_control(key="kpis_period").set_value(period).run()
        for metric in app.metric:
            delta = metric.proto.delta
            if not delta or delta == "no change":
                continue
            waiting = delta.endswith(" min")  # minutes waited: down is good
            good = delta.startswith("-") if waiting else delta.startswith("+")
            assert colour_of(metric) == ("GREEN" if good else "RED"), (metric.label, delta)
            seen.add(waiting)
    assert seen == {True, False}, "both kinds of figure moved in the demo's periods"


def test_no_change_shows_neither_arrow_nor_colour(app):
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        session.exec(delete(StakeholderThread))  # 0.0% in this period and the one before
        session.commit()
    st.cache_data.clear()
    open_dashboard(app)
    app.segmented_control(key="kpis_period").set_value("Last quarter").run()  # both have incidents
    threads = tile(app, "Incidents with a stakeholder thread")
    assert threads.value == "0.0%"
    assert threads.proto.delta == "no change"
    assert Metric.MetricDirection.Name(threads.proto.direction) == "NONE"
    assert colour_of(threads) == "GRAY"


def test_people_known_to_one_system_only_are_named_above_the_per_person_figures(app):
    open_dashboard(app)
    warning = next(w for w in app.warning if "not matched to a person" in w.value)
    assert "Siobhán O'Connor (PagerDuty only)" in warning.value.replace("\\", "")
    assert "Siobhan OConnor (GitLab only)" in warning.value.replace("\\", "")
    link = app.get("page_link")[0]
    assert link.proto.label == "Map people on Sync & settings"
    assert link.proto.page.endswith("sync")  # the people mapping lives there
    table = table_with(app, "Person", "Pages", "Update gaps", "Shifts", "First public updates")
    assert "Siobhán O'Connor" in set(table["Person"])
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        choices = people.identity_choices(session=session)
        system, external_id = next(
            key for label, key in choices.items() if label.startswith("Siobhan OConnor (GitLab")
        )
        assert system == System.GITLAB
        people.add_mapping(
            session=session, system=system, external_id=external_id, person_key="Siobhán O'Connor"
        )
        session.commit()
    st.cache_data.clear()
    open_dashboard(app)
    shown = " ".join(w.value for w in app.warning).replace("\\", "")
    assert "Siobhan OConnor" not in shown and "Siobhán O'Connor" not in shown


def test_charts_leave_background_and_text_colours_to_the_light_or_dark_theme(app):
    open_dashboard(app)
    charts = app.get("plotly_chart")
    assert len(charts) >= 6
    for chart in charts:
        assert chart.proto.theme == "streamlit"  # Streamlit restyles it for light and dark
        layout = json.loads(chart.proto.spec)["layout"]
        assert not {"paper_bgcolor", "plot_bgcolor"} & set(layout)
        assert "color" not in layout.get("font", {})


def test_the_training_grid_and_contact_requests_are_tables_to_download_too(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("Training per quarter").run()
    grid = table_with(app, "Person", "Quarter", "Trained")
    assert len(grid) > 0 and set(grid["Trained"]) == {"Yes", "No"}
    app.selectbox(key="kpis_drill").set_value("Contact requests by assignee").run()
    requests = table_with(app, "Person", "Opened", "Completed")
    assert len(requests) > 0 and (requests["Completed"] <= requests["Opened"]).all()
    assert "cmoc-contact-requests-" in csv_button(app).proto.help


HOSTILE_NAME = "Eve <a href='http://127.0.0.1:9/a'>a</a> <img src=http://127.0.0.1:9/x.png> **b**"


def test_person_names_reach_the_charts_escaped_for_plotly(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("All shifts").run()
    someone = table_with(app, *SHIFT_COLUMNS)["Person"].iloc[0]
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        person = session.exec(select(Person).where(Person.name == someone)).one()
        person.name = HOSTILE_NAME
        session.add(person)
        session.commit()
    st.cache_data.clear()  # the report of this database and period is cached for minutes
    open_dashboard(app)
    assert HOSTILE_NAME in app.selectbox(key="kpis_person").options  # plain text there
    specs = [
        json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in app.get("plotly_chart")
    ]
    handover = next(s for s in specs if "Handover issue after each shift" in s)
    assert "Eve &lt;a href='http://127.0.0.1:9/a'&gt;a&lt;/a&gt; &lt;img" in handover
    assert not [s for s in specs if "<a href" in s or "<img" in s]


def test_the_rows_behind_the_figures_read_as_words_with_the_pages_dates(app):
    open_dashboard(app)
    for shown in app.selectbox(key="kpis_drill").options:
        app.selectbox(key="kpis_drill").set_value(shown).run()
        frame = app.dataframe[-1]
        rows = frame.value
        assert all(re.fullmatch(r"[A-Z][a-z]*( [a-z0-9≤]+)*( \(UTC\))?", str(c)) for c in rows)
        cells = (str(cell) for cell in rows.to_numpy().ravel())
        assert not [cell for cell in cells if re.fullmatch("[0-9a-f]{24}", cell)]  # no ids
        if "Severity" in rows:
            assert all(re.fullmatch("S[1-4]", level) for level in rows["Severity"].dropna())
        for heading in ("On time", "Announced", "Within target", "Handed over", "Trained"):
            if heading in rows:
                assert set(rows[heading].dropna()) <= {"Yes", "No"}, shown
        assert frame.proto.placeholder == "—"  # where nobody acknowledged, or nobody was on call
        configs = json.loads(frame.proto.columns).items()
        formats = {name: c["type_config"]["format"] for name, c in configs if "type_config" in c}
        dates = rows.select_dtypes("datetimetz").columns
        assert formats == dict.fromkeys(dates, "DD-MM-YYYY HH:mm")
    people_rows = table_with(app, "Person", "Acknowledged ≤ 15 min", "Announced updates kept")
    assert not [c for c in people_rows.columns if "_" in str(c)]


def test_a_downloaded_table_has_the_screens_headings_and_dates():
    at = datetime(2026, 3, 5, 9, 7, tzinfo=UTC)
    rows = pd.DataFrame(
        {
            "incident": ["6911c609401be5441c5c7c5d"],
            "title": ["Errors"],
            "due": [pd.Timestamp(at)],
            "severity": [3],
            "on_time": [False],
            "overdue_minutes": [4.116666666666666],
            "person": [None],
        }
    )
    assert csv_text(readable(rows, ROW_HEADINGS)).splitlines() == [
        "Title,Due (UTC),Severity,On time,Minutes overdue,Person",
        "Errors,05-03-2026 09:07,S3,No,4.12,",
    ]
