"""Links into the incident history, followed in Chromium on the real app in demo mode."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, func, select

from cmoc_core.models import StatusPageIncident
from cmoc_core.storage import make_engine
from tests.e2e.conftest import settle

pytestmark = pytest.mark.browser

NOT_IN_HISTORY = (
    "No incident with that link is in the history: it may be older than the history kept, "
    "or the link is mistyped. Choose one below."
)


def address(page: Page) -> str:
    """The path and query the address bar shows."""
    parts = urlsplit(page.url)
    return f"{parts.path}?{parts.query}"


def incidents_with_their_own_issue(running_app) -> list[StatusPageIncident]:
    """The demo incidents, newest first, whose production issue no other incident names."""
    engine = make_engine(f"sqlite:///{running_app.log.parent / 'cmoc.db'}")
    with Session(engine) as session:
        single = (
            select(StatusPageIncident.production_issue_iid)
            .group_by(col(StatusPageIncident.production_issue_iid))
            .having(func.count() == 1)
        )
        found = session.exec(
            select(StatusPageIncident)
            .where(col(StatusPageIncident.production_issue_iid).in_(single))
            .order_by(col(StatusPageIncident.datetime_open).desc())
        ).all()
    engine.dispose()
    return list(found)


def test_history_links_say_what_they_lead_to_and_a_pick_is_a_link(page: Page, running_app):
    page.goto(f"{running_app.url}/history?incident=doesnotexist")
    expect(page.get_by_text(NOT_IN_HISTORY)).to_be_visible(timeout=90_000)
    settle(page, "Incident history")
    expect(page.get_by_text(re.compile(r"^\d+ incidents, newest first$"))).to_be_visible()
    expect(page.get_by_text("Messages", exact=True)).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Production issue"))).to_have_count(0)
    assert address(page) == "/history?incident=doesnotexist"

    newest, older = incidents_with_their_own_issue(running_app)[:2]
    page.goto(f"{running_app.url}/history?issue={newest.production_issue_iid}")
    settle(page, "Incident history")
    expect(page.get_by_role("heading", name=newest.name).first).to_be_visible()
    expect(
        page.get_by_text(f"Opened from production issue #{newest.production_issue_iid}.")
    ).to_be_visible()
    expect(page.get_by_text(f"Production issue: #{newest.production_issue_iid}")).to_be_visible()
    expect(page.get_by_text(NOT_IN_HISTORY)).to_have_count(0)
    assert address(page) == f"/history?issue={newest.production_issue_iid}"

    label = f"{older.datetime_open:%d-%m-%Y %H:%M} — {older.name}"
    box = page.get_by_role("combobox", name="Incident", exact=True)
    box.click()
    page.keyboard.type(label)
    page.get_by_role("option", name=label).first.click()
    expect(page).to_have_url(re.compile(rf"/history\?incident={older.id}$"), timeout=30_000)
    settle(page, "Incident history")
    expect(page.get_by_role("heading", name=older.name).first).to_be_visible()
    expect(page.get_by_text("Opened from production issue", exact=False)).to_have_count(0)

    page.goto(f"{running_app.url}/history?incident={older.id}")  # the link, shared and reopened
    settle(page, "Incident history")
    expect(page.get_by_text(f"Production issue: #{older.production_issue_iid}")).to_be_visible()
    assert address(page) == f"/history?incident={older.id}"
    expect(page.get_by_text("Traceback")).to_have_count(0)
