"""Update reminders in Chromium: a notification and a beep 2 min before due and once overdue.

The browser keeps the time, so Playwright's clock moves it forward. What the page asks of the
browser is observed where it leaves the page: `Notification` and `OscillatorNode.start` are
wrapped to record each call, then do what they always do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from cmoc_core.models import WorkingIncident
from cmoc_core.storage import make_engine
from cmoc_core.timeutil import moment
from tests.e2e.conftest import RunningApp, started_app
from tests.e2e.test_composer_in_browser import (
    ISSUE,
    choose_first_option,
    preview_and_publish,
    start,
    write_details,
)
from tests.e2e.test_s1_in_browser import OPTION, pick

pytestmark = pytest.mark.browser
TITLE = "Slow merge requests on GitLab.com"
ASK = "Turn on update reminders in this browser (notification and sound)"
# Runs in every frame before the page's own scripts: records, then calls the browser's own API.
RECORDER = """
(() => {
  window.__notifications = [];
  window.__beeps = 0;
  const Real = window.Notification;
  if (Real) {
    window.Notification = new Proxy(Real, {
      construct(target, args) {
        const [title, options] = args;
        window.__notifications.push({
          title: String(title),
          body: String((options && options.body) || ""),
          at: Date.now(),
        });
        return Reflect.construct(target, args);
      },
      get(target, name) {
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
  // One beep is the tones started in one go; a later task starts the next beep.
  let sounding = false;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    if (!sounding) {
      sounding = true;
      window.__beeps += 1;
      setTimeout(() => { sounding = false; }, 0);
    }
    return start.apply(this, args);
  };
})();
"""
SECOND = 1000
# Unset, the severity counts as S1: the first update is due 10 min after the create.
WORDS = "severity not set, counted as S1"


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory) -> Iterator[tuple[RunningApp, str]]:
    """The app in demo mode, with the database's address to read the incident's due time."""
    folder = tmp_path_factory.mktemp("reminders")
    with started_app(folder) as app:
        yield app, f"sqlite:///{folder / 'cmoc.db'}"


def due_of(database_url: str) -> datetime:
    """When the incident's next update is due, as the app stores it."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as db:
            incident = db.exec(select(WorkingIncident).where(WorkingIncident.title == TITLE)).one()
            due = incident.next_due()
            assert due is not None, "the incident was not created on the status page"
            assert incident.severity is None, "the severity was meant to stay unset"
            return due
    finally:
        engine.dispose()


def seen(page: Page) -> tuple[list[dict], int]:
    """The notifications shown and beeps played in this page so far."""
    return page.evaluate("window.__notifications"), page.evaluate("window.__beeps")


def browser_now(page: Page) -> int:
    """The browser's time, in ms since the epoch, as its scripts read it."""
    return page.evaluate("Date.now()")


def move_to(page: Page, at_ms: int) -> None:
    """Move the browser's clock forward to `at_ms`, firing the timers due meanwhile."""
    ahead = at_ms - browser_now(page)
    assert ahead > 0, "the browser is already past that time"
    page.clock.fast_forward(ahead)


def test_reminders_notify_and_beep_once_per_gap(page: Page, demo_app):
    app, database_url = demo_app
    context = page.context
    context.add_init_script(RECORDER)
    page.clock.install()
    page.goto(app.url)

    # The demo's own incidents are offered first; this one is new.
    pick(page, OPTION, "➕ Start a new incident")
    page.get_by_label("Title: in simple terms, what is the issue?").fill(TITLE)
    page.get_by_label("Production issue link").fill(ISSUE)
    start(page)
    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    write_details(page, f"We're investigating slow merge requests on GitLab.com. See {ISSUE}")
    preview_and_publish(page, "Preview and create")
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    due = due_of(database_url)
    due_ms = int(due.timestamp() * SECOND)
    soon_ms = due_ms - 120 * SECOND

    # The browser asks first; once allowed, the button goes.
    ask = page.get_by_role("button", name=ASK)
    expect(ask).to_be_visible(timeout=15_000)
    context.grant_permissions(["notifications"], origin=app.url)
    ask.click()
    expect(ask).to_be_hidden(timeout=10_000)
    assert page.evaluate("Notification.permission") == "granted"

    # Nothing before due - 2 min, with the page's own checks run meanwhile.
    page.wait_for_timeout(6_000)
    move_to(page, soon_ms - 10 * SECOND)
    page.wait_for_timeout(6_000)
    assert seen(page) == ([], 0)

    move_to(page, soon_ms + 5 * SECOND)
    page.wait_for_function("window.__notifications.length >= 1", timeout=10_000)
    page.wait_for_timeout(6_000)
    notes, beeps = seen(page)
    assert [(n["title"], n["body"]) for n in notes] == [
        (f"Update due in 2 min: {TITLE}", f"{WORDS} · due at {moment(due)}")
    ]
    assert beeps == 1

    move_to(page, due_ms + 5 * SECOND)
    page.wait_for_function("window.__notifications.length >= 2", timeout=10_000)
    page.wait_for_timeout(6_000)
    notes, beeps = seen(page)
    assert [(n["title"], n["body"]) for n in notes] == [
        (f"Update due in 2 min: {TITLE}", f"{WORDS} · due at {moment(due)}"),
        (f"Update overdue: {TITLE}", f"{WORDS} · was due at {moment(due)}; post an update now"),
    ]
    assert beeps == 2

    # A reload, still past due, remembers both for this gap.
    page.reload()
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(TITLE).first).to_be_visible()
    assert browser_now(page) > due_ms
    page.wait_for_timeout(7_000)
    assert seen(page) == ([], 0)
    expect(page.locator(".reminder-button")).to_have_count(1)
    remembered = page.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('cmoc-reminder:')).sort()"
    )
    assert [key.rsplit(":", 1)[1] for key in remembered] == ["overdue", "soon"], remembered

    # What held it back is that memory: forgotten, the overdue alert comes again, once.
    page.evaluate(f"{json.dumps(remembered)}.forEach((k) => localStorage.removeItem(k))")
    page.wait_for_function("window.__notifications.length >= 1", timeout=10_000)
    page.wait_for_timeout(6_000)
    notes, beeps = seen(page)
    assert [n["title"] for n in notes] == [f"Update overdue: {TITLE}"] and beeps == 1
