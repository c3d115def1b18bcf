"""A whole incident in Chromium against the sandbox over HTTP: exact requests, none twice."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from cmoc_core.sandbox import Fault, Sandbox
from tests.e2e.conftest import started_app

pytestmark = pytest.mark.browser
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18001"
TITLE = "Elevated error rates on GitLab.com"
# The confirmation names the action it takes.
PUBLISH = re.compile(r"^(Create incident|Publish update|Resolve incident)$")


@pytest.fixture(scope="module")
def configured_app(sandbox, tmp_path_factory):
    """The app talking to the sandbox as if it were the real services."""
    settings = sandbox.settings(base_url=sandbox.base_url)
    with started_app(tmp_path_factory.mktemp("composer"), settings) as app:
        yield app


def status_writes(sandbox: Sandbox) -> list:
    return sandbox.writes("statusio")


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def preview_and_publish(page: Page, preview: str, *, double: bool = False) -> None:
    click(page.get_by_role("button", name=preview))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=15_000)
    publish = dialog.get_by_role("button", name=PUBLISH)
    if double:
        publish.dblclick()
    else:
        publish.click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)


def click(locator) -> None:
    """Click the one visible copy of an element once the page has settled."""
    visible = locator.filter(visible=True)
    expect(visible).to_have_count(1, timeout=15_000)
    # A rerun starting just now may show the old copy beside the new one for a moment.
    visible.first.click()


def start(page: Page) -> None:
    """Press Start (not a new page's "Start an incident for this page"), once: a new page's
    notice arriving meanwhile must not swallow the press."""
    click(page.get_by_role("button", name="Start", exact=True))
    expect(page.get_by_text("create the incident", exact=True)).to_be_visible(timeout=15_000)


def choose_first_option(page: Page, label: str, name: str | re.Pattern | None = None) -> None:
    """Open a select box and pick an option, again if a rerun replaced the list meanwhile."""
    for _ in range(8):
        field = page.get_by_label(label).filter(visible=True)
        expect(field).to_have_count(1, timeout=10_000)
        field.click()
        options = page.get_by_role("option", name=name) if name else page.get_by_role("option")
        try:
            expect(options.first).to_be_visible(timeout=3_000)
            chosen = options.first.inner_text(timeout=3_000)
            options.first.click(timeout=3_000)
        except (AssertionError, PlaywrightError):
            page.keyboard.press("Escape")
            continue
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
        if chosen.strip() in (
            page.get_by_label(label).filter(visible=True).input_value() or ""
        ) or (page.get_by_text(chosen.strip(), exact=True).filter(visible=True).count()):
            return
    raise AssertionError(f"could not choose an option of {label}")


def write_details(page: Page, text: str) -> None:
    """Type a message and commit it (Tab), once the page has settled on one text area."""
    for _ in range(3):
        box = page.get_by_label("Details").filter(visible=True)
        expect(box).to_have_count(1, timeout=15_000)
        box.fill(text)
        box.press("Tab")
        page.wait_for_timeout(1_000)
        settled = page.get_by_label("Details").filter(visible=True)
        if settled.count() == 1 and settled.input_value() == text:
            return
    raise AssertionError("the details did not stick")


def test_a_whole_incident_is_published_once_per_action(page: Page, configured_app, sandbox):
    page.goto(configured_app.url)
    page.get_by_label("Title: in simple terms, what is the issue?").fill(TITLE)
    page.get_by_label("Production issue link").fill(ISSUE)
    page.get_by_label("Incident Slack channel (e.g. #incident-12345)").fill("#incident-18001")
    start(page)

    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    preview_and_publish(page, "Preview and create", double=True)
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    assert [w.path for w in status_writes(sandbox)] == ["/incident/create"]

    write_details(page, f"We have identified a faulty deploy and are rolling it back. See {ISSUE}")
    click(page.get_by_role("radiogroup").get_by_text("Identified", exact=True))
    preview_and_publish(page, "Preview and publish")
    wait_for(lambda: len(status_writes(sandbox)) == 2)

    sandbox.add_fault(
        Fault(service="statusio", path_contains="incident/update", kind="timeout", delay=3.0)
    )
    write_details(page, f"The rollback is halfway done; error rates are falling. See {ISSUE}")
    click(page.get_by_role("button", name="Preview and publish"))
    page.get_by_role("dialog").get_by_role("button", name=PUBLISH).click()
    page.wait_for_timeout(800)
    page.reload()
    wait_for(lambda: len(status_writes(sandbox)) == 3)
    page.wait_for_timeout(4000)
    assert len(status_writes(sandbox)) == 3

    click(page.get_by_role("tab", name="Notify stakeholders"))
    click(page.get_by_role("button", name=re.compile(r"^Post to ")))
    wait_for(lambda: len(sandbox.slack.posts) == 2)
    click(page.get_by_role("button", name="Add label"))
    wait_for(lambda: len(sandbox.writes("gitlab")) == 1)

    click(page.get_by_role("tab", name="Update"))
    choose_first_option(page, "Template", name="Monitoring (with duration)")
    click(page.get_by_role("button", name="Use template"))
    expect(page.get_by_label("Details").filter(visible=True)).to_have_value(
        re.compile("If there are no recurrences"), timeout=15_000
    )
    click(page.get_by_role("radiogroup").get_by_text("Monitoring", exact=True))
    page.wait_for_timeout(600)
    preview_and_publish(page, "Preview and publish")
    wait_for(lambda: len(status_writes(sandbox)) == 4)

    click(page.get_by_role("tab", name="Resolve"))
    click(page.get_by_text("The Incident Manager has given the all-clear"))
    preview_and_publish(page, "Preview and resolve")
    wait_for(lambda: len(status_writes(sandbox)) == 5)
    expect(page.get_by_text("Traceback")).to_have_count(0)

    writes = status_writes(sandbox)
    assert [w.path for w in writes] == [
        "/incident/create",
        "/incident/update",
        "/incident/update",
        "/incident/update",
        "/incident/resolve",
    ]
    create = writes[0].body
    assert create["incident_name"] == TITLE
    assert create["current_state"] == 100 and create["current_status"] == 300
    assert ISSUE in create["incident_details"]
    assert len(create["infrastructure_affected"]) == 1
    assert create["all_infrastructure_affected"] == "0"
    flags = (
        "notify_email",
        "notify_sms",
        "notify_webhook",
        "social",
        "irc",
        "hipchat",
        "msteams",
        "slack",
    )
    assert all(w.body[flag] == "1" for w in writes for flag in flags)
    assert [w.body["current_state"] for w in writes[1:]] == [200, 200, 300, 300]
    assert writes[4].body["current_status"] == 100
    assert (
        "If there are no recurrences in the next 30 minutes" in writes[3].body["incident_details"]
    )
    label = sandbox.writes("gitlab")[0]
    assert label.method == "PUT" and label.path.endswith("/issues/18001")
    assert label.body["add_labels"] == "Incident-Comms::Status-Page"
    notifier = sandbox.slack.posts[0].text
    for field in (
        "*Summary*: " + TITLE,
        "*Severity*:",
        f"*Production issue*: {ISSUE}",
        "*Incident Slack channel*: #incident-18001",
        "*Status page*:",
    ):
        assert field in notifier
