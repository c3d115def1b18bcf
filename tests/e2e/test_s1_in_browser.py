"""An S1 in Chromium from the page to the resolve, as a CMOC works it in their worst hour.

The severity is unknown at first and raised to S1 mid-way, an overdue incident is taken over in
between, and every page is read at the end for internal names.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from cmoc_core import composer, publiccheck, textlimits
from cmoc_core.composer import IncidentFacts
from cmoc_core.models import StatusPageIncident
from cmoc_core.publiccheck import Draft, DraftKind, Rule
from cmoc_core.storage import make_engine
from cmoc_core.timeutil import utc_now
from tests.app.conftest import build_demo_database
from tests.e2e.conftest import started_app
from tests.e2e.test_composer_in_browser import choose_first_option, click, start, write_details

pytestmark = pytest.mark.browser
PROJECT = "gitlab-com/gl-infra/production"
ISSUE = f"https://gitlab.com/{PROJECT}/-/issues/18123"
SHORT_TITLE = "Elevated error rates on GitLab.com"
LONG_TITLE = (
    "Elevated error rates and slow responses on GitLab.com web, API and Git over HTTPS for "
    "some users"
)
# Every internal detail and wording hazard of the handbook check, in one crafted draft.
CRAFTED = (
    "We are monitoring the errors on db-main-01.gitlab.internal at 10.0.0.5 now. Ask "
    "ops-oncall@gitlab.com or #incident-18123 for more. "
    + "Users may see errors when they load pages or push code to their projects. "
    * 2
)
WORDING = f"We're investigating elevated error rates on GitLab.com. Follow along in: {ISSUE}"
# What no page may show: internal names, Python's None, raw ids.
INTERNAL = re.compile(
    r"notify_|_incident|\bNone\b|\b[0-9a-f]{24}\b|hipchat|msteams|\birc\b|\bsocial\b"
)
OPTION = "Incident"


@pytest.fixture(scope="module")
def worked_app(tmp_path_factory):
    """The demo app; an incident on the status page long overdue, a newer drill, a new page."""
    folder = tmp_path_factory.mktemp("s1")
    build_demo_database(folder / "cmoc.db")
    engine = make_engine(f"sqlite:///{folder / 'cmoc.db'}")
    now = utc_now()
    with Session(engine) as session:
        overdue = session.exec(
            select(StatusPageIncident)
            .where(col(StatusPageIncident.resolved).is_(False))
            .order_by(col(StatusPageIncident.datetime_open))
        ).first()
        assert overdue is not None, "the demo has no open status-page incident"
        drill = composer.start_incident(
            session=session,
            facts=IncidentFacts(title="Practice: slow merge requests", practice=True),
            statuspage_id="practice",
            now=now,
        )
        # The oldest open page: a newer one may come again in the app's sync and undo this.
        page = composer.open_pages(session=session)[-1]
        page.created_at, page.status, page.acknowledged_at = (
            now - timedelta(minutes=3),
            "triggered",
            None,
        )
        session.add_all([drill, page])
        session.commit()
        names = {"overdue": overdue.name, "page": page.id, "number": str(page.incident_number)}
    engine.dispose()
    with started_app(folder) as app:
        yield app, names


def pick(page: Page, label: str, name: str | re.Pattern) -> None:
    """Choose an option of the select box labelled exactly `label`, again if a rerun hid it."""
    for _ in range(8):
        box = page.get_by_role("combobox", name=label, exact=True).filter(visible=True)
        expect(box).to_have_count(1, timeout=15_000)
        box.click()
        option = page.get_by_role("option", name=name).first
        try:
            expect(option).to_be_visible(timeout=3_000)
            text = shown(option.inner_text(timeout=3_000)).strip()
            option.click(timeout=3_000)
        except (AssertionError, PlaywrightError):
            page.keyboard.press("Escape")
            continue
        page.wait_for_timeout(700)
        if text in shown(box.input_value()):
            return
    raise AssertionError(f"could not choose {name} in {label}")


def chosen(page: Page) -> str:
    """The incident the picker shows as chosen."""
    box = page.get_by_role("combobox", name=OPTION, exact=True).filter(visible=True)
    return shown(box.input_value())


def tile(page: Page, label: str) -> str:
    """A header tile's value (and note), as shown."""
    found = page.get_by_test_id("stMetric").filter(has_text=label).filter(visible=True)
    expect(found).to_have_count(1, timeout=15_000)
    return shown(found.inner_text())


def shown(text: str) -> str:
    """Text as read: outside text carries invisible word joiners that stop autolinks."""
    return text.replace("\u2060", "")


def minutes_left(page: Page) -> int:
    """The countdown's whole minutes."""
    value = tile(page, "Next update due in")
    found = re.search(r"(\d+) min", value)
    assert found, value
    return int(found.group(1))


def wait_countdown(page: Page, lower: int, upper: int) -> None:
    """The countdown within [lower, upper] minutes (the live header reads again each second)."""
    for _ in range(30):
        due = page.get_by_test_id("stMetric").filter(has_text="Next update due in")
        if due.count() and lower <= minutes_left(page) <= upper:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"countdown not within {lower}..{upper} min: {tile(page, 'Next update')}")


def set_facts(page: Page, **values: str) -> None:
    """Open "Incident facts", change the fields named, save."""
    facts = page.get_by_test_id("stExpander").filter(has_text="Incident facts").first
    if not facts.get_by_role("button", name="Save incident facts").is_visible():
        facts.get_by_text("Incident facts").first.click()
    if "title" in values:
        field = facts.get_by_label("Title", exact=True)
        field.fill(values["title"])
    if "issue" in values:
        facts.get_by_label("Production issue link", exact=True).fill(values["issue"])
    if "severity" in values:
        pick(page, "Severity", values["severity"])
    click(facts.get_by_role("button", name="Save incident facts"))
    page.wait_for_timeout(1_500)


def publish(page: Page, preview: str, confirm: str) -> None:
    """Open the preview and press the confirmation's button, named after the action."""
    click(page.get_by_role("button", name=preview))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=15_000)
    click(dialog.get_by_role("button", name=confirm, exact=True))
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)


def warnings_shown(page: Page) -> str:
    """The handbook check under the form, as read."""
    page.wait_for_timeout(1_200)
    return shown(page.locator("section.main, [data-testid='stMain']").first.inner_text())


def test_an_s1_from_page_to_resolve(page: Page, worked_app):
    app, names = worked_app
    page.set_viewport_size({"width": 1440, "height": 1800})
    page.goto(app.url)

    # Opens on the overdue real incident, not the newer drill; a summary before taking it over.
    expect(page.get_by_text("Before you take it over")).to_be_visible(timeout=60_000)
    picker = chosen(page)
    assert f"On the status page: {names['overdue']}" in picker, picker
    assert "overdue" in picker and "PRACTICE" not in picker
    summary = warnings_shown(page)
    assert "Last update:" in summary and "(overdue" in summary and "PagerDuty page:" in summary

    # The S1: started from the new page, severity not known yet.
    pick(page, OPTION, "➕ Start a new incident")
    page.get_by_label("Title: in simple terms, what is the issue?").fill(LONG_TITLE)
    pick(page, "PagerDuty page", re.compile(f"^#{names['number']} "))
    page.get_by_label("Incident Slack channel (e.g. #incident-12345)").fill("#incident-18123")
    start(page)
    severity = tile(page, "Severity")
    assert "Not set" in severity and "counted as S1 until set" in severity

    # The acknowledgement timer counts from the page's trigger, 3 minutes ago, and ticks.
    first = tile(page, "Page ack")
    assert re.search(r"\b3 min \d\d s", first), first
    page.wait_for_timeout(2_500)
    assert tile(page, "Page ack") != first

    # Every warning of the handbook check appears for a crafted draft...
    write_details(page, CRAFTED)
    expected = publiccheck.check(
        Draft(kind=DraftKind.CREATE, details=CRAFTED, project=PROJECT, title=LONG_TITLE)
    )
    rules = {w.rule for w in expected}
    assert {
        Rule.TITLE_LENGTH,
        Rule.ISSUE_LINK,
        Rule.BODY_LENGTH,
        Rule.MONITORING_WITHOUT_STATE,
        Rule.INTERNAL_HOST,
        Rule.INTERNAL_ADDRESS,
        Rule.EMAIL_ADDRESS,
        Rule.SLACK_CHANNEL,
        Rule.COMPONENTS_MISSING,
    } <= rules
    text = warnings_shown(page)
    for warning in expected:
        assert shown(warning.text) in text, warning.text
    # ... and goes when fixed: a shorter title, the issue, public words with its link, a component.
    set_facts(page, title=SHORT_TITLE, issue=ISSUE)
    write_details(page, WORDING)
    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    expect(page.get_by_text("Handbook check: nothing to fix or consider.")).to_be_visible(
        timeout=15_000
    )
    text = warnings_shown(page)
    for warning in expected:
        assert shown(warning.text) not in text, warning.text

    # The channel previews count as textlimits does.
    click(page.get_by_role("button", name="Preview and create"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=15_000)
    report = textlimits.check_length(WORDING)
    expect(
        dialog.get_by_text(
            f"{report.weighted}/{textlimits.X_LIMIT} weighted characters", exact=False
        )
    ).to_be_visible()
    expect(dialog.get_by_text(f"{report.sms_segments} SMS segment(s)", exact=False)).to_be_visible()
    click(dialog.get_by_role("button", name="Create incident", exact=True))
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)

    # Unknown severity counts as S1: 10 minutes in Investigating.
    wait_countdown(page, 9, 10)
    set_facts(page, severity="S2")
    wait_countdown(page, 14, 15)

    # In between, the overdue incident on the status page is taken over...
    pick(page, OPTION, re.compile(f"^On the status page: {re.escape(names['overdue'])}"))
    click(page.get_by_role("button", name="Take over this incident"))
    expect(page.get_by_text("Update overdue by")).to_be_visible(timeout=30_000)
    # ... and a fresh page opens on it: overdue first, before the S1 due in 15 minutes.
    page.goto(app.url)
    expect(page.get_by_text("Update overdue by")).to_be_visible(timeout=60_000)
    picker = chosen(page)
    assert names["overdue"] in picker and "overdue" in picker, picker

    # Back on the S1: an Identified update at S2 is due in 30 minutes...
    pick(page, OPTION, re.compile(f"^{re.escape(SHORT_TITLE)}"))
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)
    write_details(page, f"We identified a faulty deploy and are rolling it back. See {ISSUE}")
    click(page.get_by_role("radiogroup").get_by_text("Identified", exact=True))
    publish(page, "Preview and publish", "Publish update")
    wait_countdown(page, 29, 30)
    # ... and 10 once the severity is raised to S1.
    set_facts(page, severity="S1")
    wait_countdown(page, 9, 10)
    assert tile(page, "Severity").split() == ["Severity", "S1"]

    # The page is acknowledged: the timer stops.
    click(page.get_by_role("button", name="Acknowledge page"))
    expect(page.get_by_test_id("stMetric").filter(has_text="acknowledged")).to_have_count(
        1, timeout=15_000
    )

    # Monitoring without saying for how long is flagged, then fixed.
    write_details(page, f"A fix is deployed and error rates are back to normal. See {ISSUE}")
    click(page.get_by_role("radiogroup").get_by_text("Monitoring", exact=True))
    period = publiccheck.check(
        Draft(
            kind=DraftKind.UPDATE,
            details=f"A fix is deployed and error rates are back to normal. See {ISSUE}",
            project=PROJECT,
            state=300,
        )
    )
    [missing] = [w for w in period if w.rule == Rule.MONITORING_PERIOD]
    assert shown(missing.text) in warnings_shown(page)
    monitoring = (
        "A fix is deployed and error rates are back to normal. We're monitoring for the next "
        f"30 minutes to ensure it does not recur. See {ISSUE}"
    )
    write_details(page, monitoring)
    assert shown(missing.text) not in warnings_shown(page)
    publish(page, "Preview and publish", "Publish update")
    wait_countdown(page, 29, 30)  # S1 in Monitoring

    # Resolve after the all-clear: the confirmation names what it does.
    click(page.get_by_role("tab", name="Resolve"))
    click(page.get_by_text("The Incident Manager has given the all-clear"))
    click(page.get_by_role("button", name="Preview and resolve"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=15_000)
    expect(dialog.get_by_text("Resolve · Resolved · Operational", exact=False)).to_be_visible()
    click(dialog.get_by_role("button", name="Resolve incident", exact=True))
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Resolved")).to_have_count(
        1, timeout=30_000
    )

    # No internal name on any page.
    click(page.get_by_role("tab", name="Audit log"))
    page.wait_for_timeout(1_000)
    seen = {"composer": shown(page.locator("body").inner_text())}
    for path in ("maintenance", "handover", "practice", "history", "kpis", "sync"):
        page.goto(f"{app.url}/{path}")
        page.wait_for_timeout(4_000)
        seen[path] = shown(page.locator("body").inner_text())
    for where, text in seen.items():
        found = INTERNAL.findall(text) + re.findall(re.escape(names["page"]), text)
        assert not found, f"{where}: {found}"
