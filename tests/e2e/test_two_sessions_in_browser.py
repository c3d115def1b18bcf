"""Two CMOCs on one incident in Chromium: a stale preview never sends the same words twice.

Two browser contexts are two sessions. On SQLite they share one app server; on PostgreSQL
each has its own server (two `make run` processes on one database), as two people on two
replicas would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from cmoc_core.sandbox import Sandbox
from tests.e2e.conftest import started_app
from tests.e2e.test_composer_in_browser import (
    ISSUE,
    choose_first_option,
    click,
    start,
    wait_for,
    write_details,
)

pytestmark = pytest.mark.browser

HEADER = re.compile(r"Latest update \d{2}-\d{2}-\d{4} \d{2}:\d{2} UTC by ")
NOT_AGAIN = re.compile(
    r"at \d{2}-\d{2}-\d{4} \d{2}:\d{2} UTC: not sent again|already the latest update"
)
# The confirmation names the action it takes.
PUBLISH = re.compile(r"^(Create incident|Publish update|Resolve incident)$")


@dataclass(frozen=True)
class Servers:
    """Where each session opens the app, and whom each session's actions are recorded for."""

    backend: str
    url_a: str
    url_b: str
    actor_a: str
    actor_b: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def servers(request, sandbox: Sandbox, tmp_path_factory) -> Iterator[Servers]:
    """One app on SQLite for both sessions, or two apps on one PostgreSQL database."""
    # Code edited on disk while the test runs must not be reloaded into the running servers.
    settings = sandbox.settings(base_url=sandbox.base_url) | {
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"
    }
    actor_a = settings["PAGERDUTY_FROM_EMAIL"]
    with ExitStack() as stack:
        if request.param == "sqlite":
            app = stack.enter_context(started_app(tmp_path_factory.mktemp("two-sqlite"), settings))
            yield Servers("sqlite", app.url, app.url, actor_a, actor_a)
            return
        engine = request.getfixturevalue("postgres_engine")
        database = engine.url.render_as_string(hide_password=False)
        actor_b = sandbox.org.people_with_role("cmoc")[1].email
        first = stack.enter_context(
            started_app(tmp_path_factory.mktemp("two-pg-1"), settings, database)
        )
        second = stack.enter_context(
            started_app(
                tmp_path_factory.mktemp("two-pg-2"),
                settings | {"PAGERDUTY_FROM_EMAIL": actor_b},
                database,
            )
        )
        yield Servers("postgres", first.url, second.url, actor_a, actor_b)


@pytest.fixture
def two_pages(browser: Browser) -> Iterator[tuple[Page, Page]]:
    """Two browser contexts: two sessions that share nothing but the app's database."""
    contexts = [browser.new_context(), browser.new_context()]
    try:
        yield contexts[0].new_page(), contexts[1].new_page()
    finally:
        for context in contexts:
            context.close()


def updates(sandbox: Sandbox) -> int:
    """How many incident updates reached the status page."""
    return sum(1 for w in sandbox.writes("statusio") if w.path == "/incident/update")


def created(sandbox: Sandbox) -> int:
    """How many incidents were created on the status page."""
    return sum(1 for w in sandbox.writes("statusio") if w.path == "/incident/create")


def start_and_create(page: Page, url: str, title: str, sandbox: Sandbox) -> None:
    """Start a new incident and create it on the status page."""
    creates = created(sandbox)
    page.goto(url)
    page.get_by_label("Title: in simple terms, what is the issue?").fill(title)
    page.get_by_label("Production issue link").fill(ISSUE)
    start(page)
    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    open_preview(page, "Preview and create")
    confirm(page)
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    wait_for(lambda: created(sandbox) == creates + 1)


def open_preview(page: Page, label: str = "Preview and publish") -> None:
    click(page.get_by_role("button", name=label))
    expect(page.get_by_role("dialog")).to_be_visible(timeout=15_000)


def confirm(page: Page) -> None:
    """Press Publish in the open preview; the dialog closes once the outcome is known."""
    page.get_by_role("dialog").get_by_role("button", name=PUBLISH).click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)


def shown(text: str) -> re.Pattern:
    """`text` as the page shows it: outside text may carry invisible word joiners."""
    return re.compile("\u2060?".join(map(re.escape, text)))


def header(page: Page):
    """The header's line with the latest update, re-read from the database every second."""
    return page.get_by_text(HEADER).first


def settled(sandbox: Sandbox, expected: int, quiet: float = 2.0) -> None:
    """Exactly `expected` updates arrived, and no more arrive for `quiet` seconds."""
    wait_for(lambda: updates(sandbox) >= expected)
    time.sleep(quiet)
    assert updates(sandbox) == expected


def no_errors(*pages: Page) -> None:
    for page in pages:
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)


def test_two_sessions_never_publish_the_same_words_twice(
    servers: Servers, two_pages: tuple[Page, Page], sandbox: Sandbox
) -> None:
    a, b = two_pages
    b.goto(servers.url_b)  # B's server warms up while A starts the incident
    start_and_create(a, servers.url_a, f"Slow merge requests ({servers.backend})", sandbox)
    b.reload()
    expect(b.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    before = updates(sandbox)

    # (a) The same words in two previews opened at the same revision: sent once.
    same = f"We found the cause and are rolling back the change on {servers.backend}"
    write_details(a, same)
    write_details(b, same)
    open_preview(a)
    open_preview(b)
    confirm(a)
    settled(sandbox, before + 1, quiet=0)
    expect(header(b)).to_contain_text(shown(f"by {servers.actor_a}: {same}"), timeout=5_000)
    confirm(b)
    expect(b.get_by_text(NOT_AGAIN).first).to_be_visible(timeout=15_000)
    expect(b.get_by_text("Since you opened this preview")).to_have_count(0)
    settled(sandbox, before + 1)
    no_errors(a, b)

    # (b) Different words: B's stale preview is held back until B chooses to send it.
    before = updates(sandbox)
    mine_a = f"The rollback is halfway done on {servers.backend}; error rates are falling"
    mine_b = f"Merge requests on {servers.backend} load normally again for most users"
    write_details(a, mine_a)
    write_details(b, mine_b)
    open_preview(a)
    open_preview(b)
    confirm(a)
    settled(sandbox, before + 1, quiet=0)
    expect(header(b)).to_contain_text(shown(f"by {servers.actor_a}: {mine_a}"), timeout=5_000)
    confirm(b)
    warning = b.get_by_text("Since you opened this preview").first
    expect(warning).to_be_visible(timeout=15_000)
    expect(warning).to_contain_text(f"“{mine_a}” was published")
    expect(warning).to_contain_text(shown(f"by {servers.actor_a}"))
    settled(sandbox, before + 1)

    click(b.get_by_role("button", name="Publish mine anyway"))
    settled(sandbox, before + 2, quiet=0)
    expect(header(a)).to_contain_text(shown(f"by {servers.actor_b}: {mine_b}"), timeout=5_000)
    expect(b.get_by_text("Since you opened this preview")).to_have_count(0)
    settled(sandbox, before + 2)
    no_errors(a, b)

    sent = [w.body["incident_details"] for w in sandbox.writes("statusio")]
    assert sent[-3:] == [same, mine_a, mine_b]
