"""Hostile outside text on every page in Chromium: nothing fetched, linked, run or formatted."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.linking import first_issue_iid
from cmoc_core.sandbox import Organisation, Sandbox
from cmoc_core.sandbox.organisation import generate
from cmoc_core.sources import demo_end
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from cmoc_core.timeutil import utc_now
from tests.e2e.conftest import RunningApp, settle, started_app
from tests.e2e.test_composer_in_browser import click, write_details

pytestmark = pytest.mark.browser


class CountingServer:
    """An HTTP server on 127.0.0.1 that answers 404 to everything and counts what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.paths.append(self.path)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


def payloads(port: int, host: str = "127.0.0.1") -> list[str]:
    """The strings fed through every page."""
    here = f"http://{host}:{port}"
    return [
        f"<img src={here}/x.png onerror=alert(1)>",
        f"<a href='{here}/a'>a</a>",
        f"![]({here}/x.png)",
        "[x](javascript:alert(1))",
        "**b**",
        ":red[x]",
        "$x$",
        f"{here}/bare",
    ]


def _replaced(value: Any, names: dict[str, str], exact: dict[str, str]) -> Any:
    """`value` (the APIs' JSON) with each name replaced inside strings and each exact string."""
    if isinstance(value, str):
        if value in exact:
            return exact[value]
        for old, new in names.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replaced(item, names, exact) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, names, exact) for key, item in value.items()}
    return value


def hostile_organisation(port: int) -> tuple[Organisation, dict[str, str]]:
    """A month of history where names, titles, messages and issues carry the payloads."""
    org = generate(seed=7, end=demo_end(utc_now()), days=30)
    text = " ".join(payloads(port))
    names: dict[str, str] = {}
    for person in org.people_with_role("cmoc"):
        names[person.name] = f"{person.name} {text}"
        names[person.gitlab_name] = f"{person.gitlab_name} {text}"
    exact = {org.statusio_components[0]["name"]: f"{org.statusio_components[0]['name']} {text}"}
    for field in dataclasses.fields(org):
        value = getattr(org, field.name)
        if isinstance(value, list | dict) and field.name != "people":
            setattr(org, field.name, _replaced(value, names, exact))
    org.people = [
        dataclasses.replace(
            p, name=names.get(p.name, p.name), gitlab_name=names.get(p.gitlab_name, p.gitlab_name)
        )
        for p in org.people
    ]

    project = org.production_project
    issues = {issue["iid"]: issue for issue in org.gitlab_issues[project]}
    active = set(org.statusio_active_incident_ids)
    chosen: dict[str, str] = {}
    for incident in org.statusio_incidents:
        details = [m["details"] for m in incident["messages"]]
        iid = first_issue_iid(details, project)
        kind = "active" if incident["_id"] in active else "resolved"
        if iid not in issues or kind in chosen:
            continue
        chosen[kind] = incident["_id"]
        incident["name"] = f"Incident {text}"
        incident["messages"][-1]["details"] += f" {text}"
        issue = issues[iid]
        issue["title"] = f"Issue {text}"
        issue["web_url"] = (
            "javascript:alert(1)" if kind == "active" else f"http://127.0.0.1:{port}/x/-/issues/1"
        )
    assert set(chosen) == {"active", "resolved"}
    for phase in ("active", "upcoming"):
        window = org.statusio_maintenances[phase][0]
        window["name"] = f"Maintenance {text}"
        window["messages"][0]["details"] += f" {text}"
    return org, chosen


@pytest.fixture(scope="module")
def counter() -> Iterator[CountingServer]:
    """The server every payload points at."""
    server = CountingServer()
    yield server
    server.server.shutdown()
    server.thread.join(timeout=5)


@pytest.fixture(scope="module")
def hostile(counter, tmp_path_factory) -> Iterator[tuple[RunningApp, dict[str, str]]]:
    """The app on a database synced from the hostile sandbox, talking to it over HTTP."""
    org, chosen = hostile_organisation(counter.port)
    box = Sandbox(org=org, clock=utc_now)
    server, thread = box.serve(port=0)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    folder = tmp_path_factory.mktemp("outside")
    url = f"sqlite:///{folder / 'cmoc.db'}"
    engine = make_engine(url)
    migrate(engine)
    settings = settings_from_mapping({**box.settings(base_url), "CMOC_DATABASE_URL": url})
    clients = build_clients(settings, transport=box.transport, statusio_min_interval=0.0)
    try:
        report = run_sync(engine=engine, settings=settings, clients=clients)
    finally:
        clients.close()
        engine.dispose()
    assert report.ok, report.summary()
    try:
        with started_app(folder, box.settings(base_url)) as app:
            yield app, chosen
    finally:
        server.shutdown()
        thread.join(timeout=5)


# Every element attribute that makes the browser fetch or navigate.
FOUND = """(port) => {
  const here = `127.0.0.1:${port}`;
  const urls = ['src', 'href', 'xlink:href', 'srcset', 'action', 'formaction', 'poster', 'data'];
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const name of urls) {
      const value = (el.getAttribute(name) || '').trim().toLowerCase();
      const leads = value.includes(here) || value.startsWith('javascript:');
      if (leads) bad.push(el.outerHTML.slice(0, 200));
    }
    const style = el.getAttribute('style') || '';
    if (style.includes(here)) bad.push(el.outerHTML.slice(0, 200));
  }
  const exactly = (selector, text) =>
    [...document.querySelectorAll(selector)].filter(e => e.textContent.trim() === text)
      .map(e => e.outerHTML.slice(0, 200));
  return {
    links: bad,
    bold: exactly('strong, b', 'b'),
    coloured: exactly('.stMarkdownColoredText, .stMarkdownBadge', 'x'),
    math: [...document.querySelectorAll('.katex, math')].map(e => e.outerHTML.slice(0, 200)),
    text: document.body.innerText,
  };
}"""


def check(page: Page, counter: CountingServer, dialogs: list[str], *, shown: bool = True) -> str:
    """Nothing reached the counting server, linked to it, ran or was formatted; the text."""
    found = page.evaluate(FOUND, counter.port)
    assert counter.paths == []
    assert dialogs == []
    assert found["links"] == []
    assert found["bold"] == [] and found["coloured"] == [] and found["math"] == []
    expect(page.get_by_text("Traceback")).to_have_count(0)
    text = found["text"].replace("\u2060", "")
    if shown:
        for literal in ("**b**", ":red[x]", "$x$", "[x](javascript:alert(1))", "![](http"):
            assert literal in text
    return text


def test_outside_text_is_shown_as_text_on_every_page(page: Page, hostile, counter):
    app, chosen = hostile
    dialogs: list[str] = []

    def dismiss(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    elsewhere: list[str] = []  # what the browser asked of any server but the app's
    page.on("request", lambda r: None if r.url.startswith(app.url) else elsewhere.append(r.url))
    page.set_viewport_size({"width": 1400, "height": 2400})

    page.goto(app.url)
    settle(page, "Live composer")
    field = page.get_by_label("Incident", exact=True).filter(visible=True)
    field.click()
    page.get_by_role("option", name=re.compile(r"^On the status page: Incident ")).first.click()
    click(page.get_by_role("button", name="Take over this incident"))
    expect(page.get_by_text("Since last update")).to_be_visible(timeout=30_000)
    settle(page, "Live composer")
    # Typed by the CMOC: the check before publishing refuses a network address, not a name.
    typed = payloads(counter.port, host="localhost")
    write_details(page, "Still investigating " + " ".join(typed))
    click(page.get_by_role("button", name="Preview and publish"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=15_000)
    check(page, counter, dialogs)
    click(dialog.get_by_role("button", name="Cancel"))
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=15_000)

    page.goto(f"{app.url}/maintenance")
    settle(page, "Maintenance")
    click(page.get_by_role("tab", name="Schedule new"))
    page.wait_for_timeout(500)
    check(page, counter, dialogs)

    page.goto(f"{app.url}/handover")
    settle(page, "Handover")
    preview = page.get_by_role("button", name="Preview", exact=True)
    if preview.count():  # the preview names the shift's CMOC; a handed-over shift has none
        click(preview)
        expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=30_000)
        settle(page, "Handover")
    check(page, counter, dialogs, shown=bool(preview.count()))

    page.goto(f"{app.url}/practice")
    settle(page, "Practice events")
    check(page, counter, dialogs, shown=False)

    page.goto(f"{app.url}/kpis")
    settle(page, "CMOC performance indicators")
    page.get_by_text("Last 30 days", exact=True).click()
    settle(page, "CMOC performance indicators")
    chart = page.locator(".js-plotly-plot").filter(has_text="Handover issue after each shift")
    bar = chart.locator(".bars path").first
    expect(bar).to_be_visible(timeout=60_000)
    bar.click(force=True)
    expect(page.get_by_text(re.compile("Picked on a chart: Shifts of "))).to_be_visible(
        timeout=30_000
    )
    settle(page, "CMOC performance indicators")
    text = check(page, counter, dialogs)
    assert re.search(r"Shifts of .+: [1-9]\d* rows\.", text)

    for kind in ("active", "resolved"):
        page.goto(f"{app.url}/history?incident={chosen[kind]}")
        settle(page, "Incident history")
        expect(page.get_by_text("Production issue: #")).to_be_visible(timeout=30_000)
        text = check(page, counter, dialogs)
        assert "Its address does not lead to GitLab, so it is not a link" in text

    page.goto(f"{app.url}/sync")
    settle(page, "Sync & settings")
    check(page, counter, dialogs, shown=False)
    assert counter.paths == [] and dialogs == []
    assert [url for url in elsewhere if not url.startswith(("data:", "blob:"))] == []


def test_the_counting_server_counts(counter):
    """The check above means something: a request to the counting server is seen."""
    before = len(counter.paths)
    assert httpx.get(f"http://127.0.0.1:{counter.port}/probe", timeout=5).status_code == 404
    assert len(counter.paths) == before + 1
    counter.paths.remove("/probe")
