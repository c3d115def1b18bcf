"""Sync & settings page: sources, Sync now, people mapping, faults shown in plain words."""

from __future__ import annotations

import os

from cmoc_core.coverage import earliest_since
from cmoc_core.storage import make_engine
from cmoc_core.synclock import sync_lock
from cmoc_core.timeutil import utc_now
from tests.app.conftest import table_with, texts


def open_sync_page(app):
    app.run()
    app.switch_page("app_pages/sync.py").run()
    assert not app.exception
    return app


def test_each_source_shows_its_state_counts_and_hidden_credentials(app):
    open_sync_page(app)
    subheaders = [s.value for s in app.subheader]
    assert {"PagerDuty", "Status.io", "GitLab"} <= set(subheaders)
    captions = texts(app, "caption")
    assert any(c.startswith("PAGERDUTY_API_TOKEN: sandbox") for c in captions)
    assert not any("sandbox-" in c for c in captions)
    assert any(c.startswith("Last complete sync:") and "never" not in c for c in captions)
    counts = [dict(zip(f.value["table"], f.value["rows"], strict=True)) for f in app.dataframe[:3]]
    statusio = next(c for c in counts if "incidents" in c)
    assert statusio["incidents"] >= 60 and statusio["messages"] > statusio["incidents"]


def test_sync_now_runs_and_reports_success(app):
    open_sync_page(app)
    app.button(key="sync_now").click().run()
    assert not app.exception
    assert any("Sync complete" in s.label for s in app.get("status"))
    assert any("requests:" in t for t in texts(app, "text"))


def test_people_table_lists_identities_and_a_mapping_merges_them(app):
    open_sync_page(app)
    people = table_with(app, "person", "system", "external_id")
    lonely = people[(people["systems"] < 2) & (people["system"] == "gitlab")]
    assert not lonely.empty
    row = lonely.iloc[0]
    target = people[people["system"] == "pagerduty"].iloc[0]["person"]
    app.selectbox(key="sync_mapping_identity").set_value(
        f"{row['name']} (gitlab {row['external_id']})"
    )
    app.selectbox(key="sync_mapping_person").set_value(target)
    submit = next(b for b in app.button if b.label == "Save mapping")
    submit.click().run()
    assert not app.exception
    people = table_with(app, "person", "system", "external_id")
    mapped = people[(people["system"] == "gitlab") & (people["external_id"] == row["external_id"])]
    assert mapped.iloc[0]["person"] == target and bool(mapped.iloc[0]["mapped"])


def test_an_unreachable_service_gives_a_plain_error_and_never_shows_the_token(app, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "pd-token-that-must-not-show")
    monkeypatch.setenv("PAGERDUTY_CMOC_SERVICE_IDS", "PSVC1")
    open_sync_page(app)
    app.button(key="sync_now").click().run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert any("PagerDuty" in e and "could not connect" in e for e in errors)
    everything = " ".join(
        texts(app, "caption") + errors + texts(app, "text") + texts(app, "markdown")
    )
    assert "pd-token-that-must-not-show" not in everything
    assert "PAGERDUTY_API_TOKEN: set (hidden)" in everything


def test_sync_now_while_another_sync_runs_says_since_when_and_pulls_nothing(app):
    open_sync_page(app)
    engine = make_engine(os.environ["CMOC_DATABASE_URL"])
    with sync_lock(engine, holder="the sync command") as held:
        assert held
        app.button(key="sync_now").click().run()
    engine.dispose()
    assert not app.exception
    warnings = [w.value.replace("\\", "") for w in app.warning]
    assert held.message in warnings
    assert not app.error
    assert any("another sync is running" in s.label for s in app.get("status"))
    assert not any("requests:" in t for t in texts(app, "text"))


def test_the_re_pull_date_stays_within_ten_years_and_not_in_the_future(app):
    open_sync_page(app)
    picker = app.date_input(key="sync_since")
    today = utc_now().date()
    assert picker.max == today
    assert picker.min == earliest_since(today)
