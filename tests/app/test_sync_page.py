"""Sync & settings page: sources, Sync now, people mapping, faults shown in plain words."""

from __future__ import annotations

import os

from sqlmodel import Session, delete, select

from cmoc_core.coverage import earliest_since
from cmoc_core.models import Identity, System
from cmoc_core.storage import make_engine
from cmoc_core.synclock import sync_lock
from cmoc_core.timeutil import utc_now
from tests.app.conftest import table_with, texts
from tests.test_sync import unreadable_issues

# Internal spellings people must never read: stream names, exception classes, lowercase services.
INTERNAL_WORDS = ("statusio.", "gitlab.", "pagerduty.", "_", "Error", "gitlab ")


def open_sync_page(app):
    app.run()
    app.switch_page("app_pages/sync.py").run()
    assert not app.exception
    return app


def shown(app, kind: str) -> list[str]:
    """What people read in elements of one kind: Markdown escapes and word joiners removed."""
    return [t.replace("\\", "").replace("\u2060", "") for t in texts(app, kind)]


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
    assert any("Requests made: " in t for t in texts(app, "text"))


def test_sync_now_names_each_stream_and_service_in_words(app):
    open_sync_page(app)
    app.button(key="sync_now").click().run()
    assert not app.exception
    progress = shown(app, "markdown")
    assert "Syncing Status.io components" in progress
    assert "Syncing GitLab label events" in progress
    summary = "\n".join(texts(app, "text"))
    assert "GitLab label events: " in summary and "PagerDuty CMOC pages: " in summary
    assert "Requests made: " in summary
    read = "\n".join([*progress, summary, *shown(app, "info")])
    assert not [word for word in INTERNAL_WORDS if word in read], read


def test_a_failed_sync_says_what_happened_and_what_to_do_in_words(app, served, monkeypatch):
    sandbox, base = served
    for name, value in sandbox.settings(base_url=base).items():
        monkeypatch.setenv(name, value)
    sandbox.add_fault(unreadable_issues())
    open_sync_page(app)
    app.selectbox(key="sync_source").set_value("gitlab")
    app.button(key="sync_now").click().run()
    assert not app.exception
    assert any("Sync failed" in s.label for s in app.get("status"))
    errors = shown(app, "error")
    assert any(
        e.startswith("GitLab production issues could not be synced: GitLab sent an answer")
        and "try Sync now again" in e
        for e in errors
    ), errors
    read = "\n".join([*errors, *shown(app, "markdown"), *texts(app, "text")])
    app.switch_page("app_pages/sync.py").run()  # the source's last error, as stored
    stored = shown(app, "error")
    assert any(e.startswith("GitLab production issues could not be synced") for e in stored)
    read += "\n".join(stored)
    assert not [word for word in INTERNAL_WORDS if word in read], read
    assert "unknown error" not in read


def test_a_background_refresher_not_running_says_what_to_do_and_no_next_sync(app):
    open_sync_page(app)  # pages run without a server here: the refresher is not started
    captions = shown(app, "caption")
    assert any(
        "not running" in c and "restart the app server" in c and "use Sync now" in c
        for c in captions
    ), captions
    assert not [c for c in captions if c.startswith("Next background sync")], captions


def test_people_table_lists_identities_and_a_mapping_merges_them(app):
    open_sync_page(app)
    people = table_with(app, "Person", "Service", "Name", "Known to")
    lonely = people[(people["Known to"] == "GitLab only") & (people["Service"] == "GitLab")]
    assert not lonely.empty
    row = lonely.iloc[0]
    target = people[people["Service"] == "PagerDuty"].iloc[0]["Person"]
    app.selectbox(key="sync_mapping_identity").set_value(f"{row['Name']} (GitLab)")
    app.selectbox(key="sync_mapping_person").set_value(target)
    submit = next(b for b in app.button if b.label == "Save mapping")
    submit.click().run()
    assert not app.exception
    people = table_with(app, "Person", "Service", "Name", "Known to")
    mapped = people[(people["Service"] == "GitLab") & (people["Name"] == row["Name"])]
    assert mapped.iloc[0]["Person"] == target and bool(mapped.iloc[0]["Mapped by hand"])


def test_people_are_shown_with_headings_and_services_in_words(app):
    open_sync_page(app)
    people = table_with(app, "Person", "Service")
    assert list(people.columns) == [
        "Person",
        "Service",
        "Name",
        "Username",
        "Email",
        "Known to",
        "Mapped by hand",
    ]
    assert set(people["Service"]) == {"GitLab", "PagerDuty"}
    assert {"GitLab only", "GitLab and PagerDuty"} <= set(people["Known to"])
    assert not people.isna().any().any()  # nothing reads "None"
    options = app.selectbox(key="sync_mapping_identity").options
    assert options and all(o.endswith(("(GitLab)", "(PagerDuty)")) for o in options), options


def test_an_identity_shows_its_id_only_to_tell_two_of_one_name_apart(app):
    database = make_engine(os.environ["CMOC_DATABASE_URL"])
    with Session(database) as session:
        first = session.exec(select(Identity).where(Identity.system == System.GITLAB)).first()
        assert first is not None
        name, first_id = first.name, first.external_id
        session.add(Identity(system=System.GITLAB, external_id="4242424", name=name))
        session.commit()
    database.dispose()
    open_sync_page(app)
    options = app.selectbox(key="sync_mapping_identity").options
    assert f"{name} (GitLab user {first_id})" in options
    assert f"{name} (GitLab user 4242424)" in options
    assert f"{name} (GitLab)" not in options
    others = [o for o in options if not o.startswith(name)]
    assert others and not [o for o in others if " user " in o], others


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
    assert not any("Requests made: " in t for t in texts(app, "text"))


def test_the_re_pull_date_stays_within_ten_years_and_not_in_the_future(app):
    open_sync_page(app)
    picker = app.date_input(key="sync_since")
    today = utc_now().date()
    assert picker.max == today
    assert picker.min == earliest_since(today)


def test_a_database_without_people_shows_an_empty_people_table(app):
    database = make_engine(os.environ["CMOC_DATABASE_URL"])
    with database.begin() as connection:
        connection.execute(delete(Identity))
    database.dispose()
    open_sync_page(app)
    assert table_with(app, "Person", "Service", "Known to").empty
    assert not [w for w in shown(app, "warning") if "one service only" in w]
