"""A team's set-up: PostgreSQL, two app servers and one worker, against the sandbox over HTTP.

One sync at a time (the lock seen held by one holder while the others skip and pull nothing),
a page added to the fake PagerDuty offered in an open Live composer in Chromium within 40 s
(above the incident picker, with a button to start an incident for it), and one Slack reminder
per overdue gap, counted at the fake Slack.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cmoc_core import composer
from cmoc_core.composer import IncidentFacts
from cmoc_core.handbook import IncidentState
from cmoc_core.models import PagerDutyIncident
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.slack import REMINDER_CHANNEL
from cmoc_core.storage import session_scope
from cmoc_core.synclock import current_holder, sync_lock
from cmoc_core.timeutil import utc_now
from tests.e2e.conftest import started_app
from tests.e2e.test_composer_in_browser import wait_for
from tests.support.processes import environment, start_cli

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

TITLE = "Team set-up: repository pages fail to load"
PAGE_TITLE = "Incident #98765: Merge requests time out for some users"
OPERATOR = "the sync command, run by an operator"
SKIPPED = re.compile(r"Sync skipped: (?P<holder>.+) holds the sync lock since \d\d:\d\d:\d\d UTC")


class LockWatch:
    """Reads the sync lock's row ten times a second and keeps every holder seen."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.seen = engine, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            row = current_holder(self.engine)
            if row is not None and row.holder not in self.seen:
                self.seen.append(row.holder)

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def operator_holds_the_lock(engine: Engine, timeout: float = 60) -> Iterator[None]:
    """The sync lock taken as an operator's sync would, once whoever holds it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sync_lock(engine, holder=OPERATOR) as held:
            if held:
                yield
                return
        time.sleep(0.2)
    raise AssertionError("the sync lock stayed taken")


def overdue_incident(engine: Engine, statuspage_id: str) -> None:
    """A real S2 incident on the status page whose update has been due for five minutes."""
    posted = utc_now() - timedelta(minutes=20)
    with session_scope(engine) as db:
        incident = composer.start_incident(
            session=db,
            facts=IncidentFacts(title=TITLE, severity=2),
            statuspage_id=statuspage_id,
            now=posted - timedelta(minutes=5),
        )
        incident.statuspage_incident_id = "team-setup-incident"
        incident.state = IncidentState.INVESTIGATING
        incident.last_posted_at = posted
        incident.last_text = "We are investigating pages that fail to load."
        db.add(incident)


def syncs_pulled(sandbox: Sandbox) -> int:
    """Requests only a sync makes: GitLab and Status.io (page checks ask PagerDuty alone)."""
    return sandbox.count("gitlab") + sandbox.count("statusio")


def reminders(sandbox: Sandbox) -> list[str]:
    return [post.text for post in sandbox.slack.messages(REMINDER_CHANNEL)]


def top(locator: Locator) -> float:
    """Where an element starts on the page, from the top."""
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not shown"
    return box["y"]


def read_lines(process: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    """Collect a process's output lines as they come."""

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            into.append(line.rstrip("\n"))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_two_servers_and_a_worker_share_one_database(
    sandbox: Sandbox, postgres_engine: Engine, browser: Browser, tmp_path: Path
):
    database = postgres_engine.url.render_as_string(hide_password=False)
    settings = sandbox.settings(base_url=sandbox.base_url) | {
        "CMOC_SYNC_EVERY": "10s",
        "CMOC_REMINDER_WEBHOOK_URL": sandbox.reminder_webhook_url(sandbox.base_url),
    }
    overdue_incident(postgres_engine, sandbox.org.statuspage_id)
    worker_lines: list[str] = []
    with ExitStack() as stack, LockWatch(postgres_engine) as watch:
        worker = start_cli(
            "worker",
            folder=tmp_path,
            env=environment(tmp_path, **settings, CMOC_DATABASE_URL=database),
        )
        stack.callback(lambda: (worker.terminate(), worker.wait(timeout=30)))
        read_lines(worker, worker_lines)

        # The worker's first sync holds the lock, as the database's only holder.
        wait_for(lambda: any(h.startswith("worker, process") for h in watch.seen), timeout=60)
        folders = [tmp_path / "one", tmp_path / "two"]
        for folder in folders:
            folder.mkdir()
        first = stack.enter_context(started_app(folders[0], settings, database))
        second = stack.enter_context(started_app(folders[1], settings, database))
        wait_for(lambda: any(" UTC Synced: " in line for line in worker_lines), timeout=90)

        # One Slack reminder for the overdue gap, whoever of the three sends it.
        wait_for(lambda: any(TITLE in text for text in reminders(sandbox)), timeout=30)

        # An open composer on each server starts its refresher and watches for new pages.
        pages = [browser.new_page(), browser.new_page()]
        for page, app in zip(pages, (first, second), strict=True):
            page.goto(app.url)
            # The picker is drawn after the watch's first look: what is open now is not news.
            incident = page.get_by_role("combobox", name="Incident", exact=True)
            expect(incident).to_be_visible(timeout=60_000)

        # An operator's sync holds the lock: the worker and both servers skip and pull nothing.
        with operator_holds_the_lock(postgres_engine):
            pulled = syncs_pulled(sandbox)
            started = time.monotonic()
            added = sandbox.add_page(PAGE_TITLE)
            offered = f"New CMOC page #{added['incident_number']} {PAGE_TITLE} (triggered "
            offers = [
                page.get_by_test_id("stAlertContentWarning").filter(has_text=offered)
                for page in pages
            ]
            for offer in offers:
                left = max(0.0, 40 - (time.monotonic() - started))
                expect(offer).to_be_visible(timeout=left * 1000)
            shown_after = time.monotonic() - started
            for page, offer in zip(pages, offers, strict=True):
                # Above the incident picker, where the CMOC looks first, with one click to start.
                start = page.get_by_role("button", name="Start an incident for this page")
                expect(start).to_have_count(1)
                picker = page.get_by_role("combobox", name="Incident", exact=True)
                assert top(offer) < top(start) < top(picker)

            def all_skipped() -> bool:
                logs = [first.log.read_text(), second.log.read_text(), "\n".join(worker_lines)]
                return all(f"Sync skipped: {OPERATOR} holds" in log for log in logs)

            wait_for(all_skipped, timeout=40)
            assert syncs_pulled(sandbox) == pulled
        assert shown_after < 40

        # The lock is free again: one of the three syncs, and the others keep out of its way.
        wait_for(lambda: syncs_pulled(sandbox) > pulled, timeout=40)
        time.sleep(8)  # more passes of all three: no reminder is sent twice

    holders = {h for h in watch.seen if h != OPERATOR}
    assert holders and all(
        h.startswith(("worker, process", "the app's background refresher, process"))
        for h in holders
    ), watch.seen
    logs = [first.log.read_text(), second.log.read_text(), "\n".join(worker_lines)]
    assert not any("Traceback" in log for log in logs)
    for log in logs:
        for found in SKIPPED.finditer(log):
            assert found["holder"] == OPERATOR or found["holder"] in holders, found[0]

    with Session(postgres_engine) as db:
        stored = db.get(PagerDutyIncident, added["id"])
        assert stored is not None and stored.status == "triggered"
        assert added["id"] in [p.id for p in composer.open_pages(session=db)]

    texts = reminders(sandbox)
    assert sum(TITLE in text for text in texts) == 1, texts
    assert len(texts) == len(set(texts)), texts  # one message per gap of every incident
