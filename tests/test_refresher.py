"""The background refresher over HTTP: new pages, the sync interval, the lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cmoc_core import kpi_facts
from cmoc_core.clients import Clients, build_clients
from cmoc_core.composer import open_pages
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.models import PagerDutyIncident
from cmoc_core.refresher import (
    PAGE_CHECK_EVERY,
    Refresher,
    RefresherStatus,
    SyncOutcome,
    last_complete_sync,
    synced_words,
)
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import generate
from cmoc_core.synclock import sync_lock
from cmoc_core.timeutil import utc_now
from tests.conftest import END


class FakeClock:
    """A wall clock that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Served:
    """The sandbox served on 127.0.0.1, and the app's settings and clients for it."""

    box: Sandbox
    settings: Settings
    clients: Clients


@pytest.fixture(scope="module")
def month_organisation():
    """A month of history: quick to sync over HTTP."""
    return generate(seed=7, end=END, days=30)


@pytest.fixture
def served(month_organisation, sqlite_engine: Engine) -> Iterator[Served]:
    box = Sandbox(org=month_organisation)
    server, thread = box.serve(port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    url = sqlite_engine.url.render_as_string(hide_password=False)
    settings = settings_from_mapping(
        {
            **box.settings(base),
            "CMOC_DATABASE_URL": url,
            "CMOC_REMINDER_WEBHOOK_URL": box.reminder_webhook_url(base),
        }
    )
    clients = build_clients(settings, sleep=lambda _s: None, statusio_min_interval=0.0)
    try:
        yield Served(box, settings, clients)
    finally:
        clients.close()
        server.shutdown()
        thread.join(timeout=5)


def refresher_for(served: Served, engine: Engine, clock=utc_now, **options) -> Refresher:
    return Refresher(
        engine=engine,
        settings=served.settings,
        clients=served.clients,
        holder="the refresher under test",
        clock=clock,
        **options,
    )


def test_a_page_added_to_pagerduty_is_stored_after_one_check_of_one_request(
    served: Served, sqlite_engine: Engine
):
    clock = FakeClock(served.box.now())
    refresher = refresher_for(served, sqlite_engine, clock)
    first = refresher.run_pass()
    assert first.check is not None and first.check.error is None

    page = served.box.add_page("Incident #4321: Web requests fail for some users")
    clock.advance(PAGE_CHECK_EVERY)
    before = served.box.count("pagerduty")
    report = refresher.run_pass()

    assert report.sync is None
    assert report.check is not None and report.check.new_pages == (page["id"],)
    assert served.box.count("pagerduty") - before == 1
    asked = served.box.requests[-1] if served.box.requests else None
    assert asked is not None and asked.path == "/incidents"
    assert ("statuses[]", "triggered") in asked.params
    assert ("statuses[]", "acknowledged") in asked.params
    with Session(sqlite_engine) as db:
        stored = db.get(PagerDutyIncident, page["id"])
        assert stored is not None and stored.status == "triggered"
        assert stored.production_issue_iid == 4321
        assert page["id"] in [p.id for p in open_pages(session=db)]


def test_checks_for_new_pages_come_every_30_seconds_not_every_tick(
    served: Served, sqlite_engine: Engine
):
    clock = FakeClock(served.box.now())
    refresher = refresher_for(served, sqlite_engine, clock, sync_at_start=False)
    assert refresher.run_pass().check is not None
    clock.advance(timedelta(seconds=10))
    before = served.box.count("pagerduty")
    assert refresher.run_pass().check is None
    assert served.box.count("pagerduty") == before
    clock.advance(PAGE_CHECK_EVERY)
    assert refresher.run_pass().check is not None


def test_the_sync_runs_once_per_interval_on_a_fake_clock(served: Served, sqlite_engine: Engine):
    clock = FakeClock(utc_now())
    refresher = refresher_for(served, sqlite_engine, clock)
    assert refresher.every == timedelta(minutes=5)

    first = refresher.run_pass()
    assert first.sync is not None and first.sync.outcome is SyncOutcome.SYNCED, first.sync
    with Session(sqlite_engine) as db:
        assert last_complete_sync(session=db) == clock.now
        assert synced_words(last_complete_sync(session=db), clock.now + timedelta(seconds=35)) == (
            "Synced 35 s ago"
        )

    gitlab = served.box.count("gitlab")
    for _ in range(4):
        clock.advance(timedelta(minutes=1))
        assert refresher.run_pass().sync is None
    assert served.box.count("gitlab") == gitlab

    clock.advance(timedelta(minutes=1))
    again = refresher.run_pass()
    assert again.sync is not None and again.sync.outcome is SyncOutcome.SYNCED
    assert served.box.count("gitlab") > gitlab


def test_a_sync_leaves_the_kpi_copy_made_for_the_next_dashboard(served: Served, sqlite_engine):
    refresher_for(served, sqlite_engine).run_pass(everything=True)
    stored = kpi_facts.stored_copy(str(sqlite_engine.url), served.settings)
    assert stored is not None and len(stored.pages) > 0


def test_the_app_refresher_waits_an_interval_after_it_starts(served: Served, sqlite_engine):
    clock = FakeClock(utc_now())
    refresher = refresher_for(served, sqlite_engine, clock, sync_at_start=False)
    assert refresher.run_pass().sync is None
    assert served.box.count("gitlab") == 0
    clock.advance(timedelta(minutes=5))
    assert refresher.run_pass().sync is not None


def test_a_sync_held_by_another_process_is_skipped_and_named(served: Served, sqlite_engine):
    refresher = refresher_for(served, sqlite_engine)
    with sync_lock(sqlite_engine, holder="the app, process 7 on web-2") as held:
        assert held
        report = refresher.run_pass(everything=True)
        status = refresher.status()
    assert report.sync is not None and report.sync.outcome is SyncOutcome.SKIPPED
    assert "the app, process 7 on web-2 holds the sync lock since" in report.sync.detail
    assert served.box.count("gitlab") == 0 and served.box.count("statusio") == 0
    assert status.lock is not None and status.lock.holder == "the app, process 7 on web-2"
    words = " ".join(status.sentences(utc_now()))
    assert "A sync is running now" in words and "the app, process 7 on web-2" in words
    assert "every 5 min" in words

    # The lock is free again: the next pass syncs, and says nothing of the skip.
    after = refresher.run_pass()
    assert after.sync is not None and after.sync.outcome is SyncOutcome.SYNCED


def test_a_skip_for_the_same_holder_is_told_once(served: Served, sqlite_engine):
    refresher = refresher_for(served, sqlite_engine)
    with sync_lock(sqlite_engine, holder="worker, process 9 on box") as held:
        assert held
        told = [refresher.run_pass().sync for _ in range(3)]
    assert told[0] is not None and told[0].outcome is SyncOutcome.SKIPPED
    assert told[1:] == [None, None]


def test_the_thread_starts_once_and_stops_cleanly(served: Served, sqlite_engine):
    said: list[str] = []
    refresher = refresher_for(
        served, sqlite_engine, tick=timedelta(milliseconds=50), say=said.append
    )
    assert refresher.start() is refresher.start()
    deadline = utc_now() + timedelta(seconds=60)
    while not any("Synced" in line for line in said) and utc_now() < deadline:
        time.sleep(0.05)
    refresher.stop(timeout=30)
    assert any("Synced" in line for line in said), said
    assert not refresher.status().running


def test_sync_off_with_zero_still_looks_for_pages(served: Served, sqlite_engine):
    settings = served.settings.model_copy(update={"cmoc_sync_every": timedelta(0)})
    refresher = Refresher(
        engine=sqlite_engine, settings=settings, clients=served.clients, holder="test"
    )
    report = refresher.run_pass()
    assert report.sync is None and report.check is not None
    words = " ".join(refresher.status().sentences(utc_now()))
    assert "Background sync is off" in words and "every 30 s" in words


def stopped_or_running(running: bool, now: datetime) -> RefresherStatus:
    return RefresherStatus(
        every=timedelta(minutes=5),
        running=running,
        last_sync=None,
        next_sync_at=now + timedelta(minutes=3),
        last_check=None,
        next_check_at=None,
        page_checks=True,
        lock=None,
    )


def test_a_refresher_not_running_says_what_to_do_and_promises_no_next_sync():
    now = utc_now()
    stopped = stopped_or_running(False, now).sentences(now)
    assert stopped[0] == (
        "The background refresher of this server is not running, so nothing is synced or "
        "looked for without a click: restart the app server to start it again, and meanwhile "
        "use Sync now."
    )
    assert not [s for s in stopped if s.startswith("Next background sync")], stopped
    running = stopped_or_running(True, now).sentences(now)
    assert any(s.startswith("Next background sync: ") for s in running), running
    assert not [s for s in running if "not running" in s], running
