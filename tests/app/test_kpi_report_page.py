"""The KPI dashboard's report: prepared on request, offered as one PDF of the period chosen."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.app.conftest import texts
from tests.support.system import unavailable

CHROMIUM = Path("/usr/bin/chromium")


def open_last_365_days(app):
    app.run()
    app.switch_page("app_pages/kpis.py").run()
    app.segmented_control(key="kpis_period").set_value("Last 365 days").run()
    assert not app.exception
    return app


def report_buttons(app) -> list:
    return [b for b in app.get("download_button") if b.proto.label == "Download report"]


def test_the_report_is_prepared_on_request_and_carries_the_period(app):
    if not CHROMIUM.exists():
        unavailable("Chromium (apt-get install -y chromium)")
    open_last_365_days(app)
    assert report_buttons(app) == []  # nothing is drawn until asked for
    app.button(key="kpis_report_prepare").click().run()
    assert not app.exception
    assert not [w for w in texts(app, "warning") if "report" in w]
    today = datetime.now(UTC).date()
    first = today - timedelta(days=364)
    (download,) = report_buttons(app)
    name = f"cmoc-kpis-report-{first:%Y-%m-%d}-to-{today:%Y-%m-%d}.pdf"
    assert name in download.proto.help
    pdf = next(iter(app.session_state["kpis_report_pdf"].values()))
    assert pdf.startswith(b"%PDF")
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert f"Period: {first:%d-%m-%Y} to {today:%d-%m-%Y}" in text
    assert "Acknowledged ≤ 15 min" in text and "Region: All regions" in text
    # Another choice is another report: the one prepared is no longer offered for it.
    app.selectbox(key="kpis_region").set_value("EMEA").run()
    assert report_buttons(app) == []


def test_without_a_browser_the_page_says_the_report_could_not_be_drawn(
    app, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BROWSER_PATH", "/nowhere/chromium")
    open_last_365_days(app)
    app.button(key="kpis_report_prepare").click().run()
    assert not app.exception
    (warning,) = [w for w in texts(app, "warning") if "report" in w]
    assert warning.startswith("The report could not be drawn")
    assert "apt-get install chromium" in warning
    assert report_buttons(app) == []
