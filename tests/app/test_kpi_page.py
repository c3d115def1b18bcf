"""KPI dashboard on the demo organisation: tiles, charts, filters and drill-down."""

from __future__ import annotations

import json
import os

import streamlit as st
from sqlmodel import Session, select

from cmoc_core.models import Person
from cmoc_core.storage import make_engine
from tests.app.conftest import table_with


def open_dashboard(app):
    app.run()
    app.switch_page("app_pages/kpis.py").run()
    assert not app.exception
    app.segmented_control(key="kpis_period").set_value("Last 365 days").run()
    assert not app.exception
    return app


def test_tiles_and_charts_show_the_indicators(app):
    open_dashboard(app)
    labels = {m.label for m in app.metric}
    assert {"Acknowledged ≤ 15 min", "Updates on time", "Shifts handed over"} <= labels
    assert all(
        m.value != "–" for m in app.metric if m.label in ("Updates on time", "Shifts handed over")
    )
    charts = app.get("plotly_chart")
    assert len(charts) >= 6
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts]
    assert "Time to acknowledge pages" in titles
    ack = next(
        json.loads(c.proto.spec)
        for c in charts
        if "Time to acknowledge" in json.dumps(json.loads(c.proto.spec)["layout"])
    )
    assert any(shape.get("x0") == 15 for shape in ack["layout"].get("shapes", []))


def test_the_person_filter_narrows_the_rows_behind_the_figures(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("Shifts without a handover issue").run()
    everyone = table_with(app, "person", "start", "end", "handed_over")
    person = everyone["person"].iloc[0]
    app.selectbox(key="kpis_person").set_value(person).run()
    narrowed = table_with(app, "person", "start", "end", "handed_over")
    assert 0 < len(narrowed) < len(everyone)
    assert set(narrowed["person"]) == {person}


def test_drill_down_lists_overdue_updates_and_offers_them_as_csv(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("Overdue updates").run()
    overdue = table_with(app, "incident", "due", "overdue_minutes")
    assert len(overdue) > 0 and (overdue["overdue_minutes"] > 0).all()
    assert not overdue["on_time"].any()
    download = app.get("download_button")
    assert download and download[0].proto.label == "Download CSV"


def handed_over_help(app) -> str:
    return next(m for m in app.metric if m.label == "Shifts handed over").proto.help


def test_the_region_filter_narrows_the_figures_and_the_rows_to_that_region(app):
    open_dashboard(app)
    everyone = handed_over_help(app)
    app.selectbox(key="kpis_drill").set_value("All shifts").run()
    all_shifts = table_with(app, "person", "region", "start", "end", "handed_over")
    assert set(all_shifts["region"]) == {"AMER", "EMEA", "APAC"}
    app.selectbox(key="kpis_region").set_value("EMEA").run()
    emea = table_with(app, "person", "region", "start", "end", "handed_over")
    assert 0 < len(emea) < len(all_shifts)
    assert set(emea["region"]) == {"EMEA"}
    assert handed_over_help(app) != everyone
    assert handed_over_help(app).split(";")[0].endswith(f"of {len(emea)}")


def test_the_severity_filter_narrows_the_updates_behind_the_cadence_tile(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("All status updates").run()
    gaps = table_with(app, "incident", "severity", "on_time")
    app.multiselect(key="kpis_severity").set_value(["S1"]).run()
    severe = table_with(app, "incident", "severity", "on_time")
    assert 0 < len(severe) < len(gaps)
    assert set(severe["severity"]) == {1}
    cadence = next(m for m in app.metric if m.label == "Updates on time")
    assert cadence.proto.help.startswith(f"{int(severe['on_time'].sum())} of {len(severe)} gaps")


def test_tiles_show_the_change_since_the_previous_period(app):
    open_dashboard(app)
    app.segmented_control(key="kpis_period").set_value("Last quarter").run()
    cadence = next(m for m in app.metric if m.label == "Updates on time")
    assert cadence.proto.delta.endswith(" pts")


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
    grid = table_with(app, "person", "quarter", "trained")
    assert len(grid) > 0 and set(grid["trained"]) == {True, False}
    app.selectbox(key="kpis_drill").set_value("Contact requests by assignee").run()
    requests = table_with(app, "person", "opened", "completed")
    assert len(requests) > 0 and (requests["completed"] <= requests["opened"]).all()
    assert app.get("download_button")[0].proto.label == "Download CSV"


HOSTILE_NAME = "Eve <a href='http://127.0.0.1:9/a'>a</a> <img src=http://127.0.0.1:9/x.png> **b**"


def test_person_names_reach_the_charts_escaped_for_plotly(app):
    open_dashboard(app)
    app.selectbox(key="kpis_drill").set_value("All shifts").run()
    someone = table_with(app, "person", "start", "end", "handed_over")["person"].iloc[0]
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
