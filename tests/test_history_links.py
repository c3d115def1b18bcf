"""Where a link into the incident history leads: `?incident=<id>` and `?issue=<number>`."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlmodel import Session

from cmoc_core.history import (
    Found,
    LinkedIncident,
    NoLink,
    NotFound,
    Several,
    Unknown,
    follow_link,
    incident_labels,
    issue_number,
)
from tests.kpi_worlds import PRODUCTION, T0, World, minutes

INVESTIGATING, RESOLVED_STATE = 100, 300
UPDATES = [(0, INVESTIGATING, "We are investigating."), (30, RESOLVED_STATE, "Resolved.")]
NOT_IN_HISTORY = (
    "No incident with that link is in the history: it may be older than the history kept, "
    "or the link is mistyped. Choose one below."
)


def follow(engine, *, incident=None, issue=None):
    with Session(engine) as session:
        return follow_link(session=session, incident=incident, issue=issue, project=PRODUCTION)


@pytest.fixture
def world(sqlite_engine) -> World:
    return World(sqlite_engine)


def test_an_address_without_a_link_names_no_incident(world):
    world.incident(T0, UPDATES)
    link = follow(world.engine)
    assert link == NoLink()
    assert link.shown is None and link.notice is None and link.linked == ()


def test_an_incident_id_opens_that_incident_and_nothing_is_said(world):
    opened = world.incident(T0, UPDATES)
    world.incident(T0 + minutes(600), UPDATES)
    link = follow(world.engine, incident=f" {opened.id} ")
    assert isinstance(link, Found)
    assert link.shown == LinkedIncident(opened.id, T0, "Incident 1", True)
    assert link.linked == (link.shown,)
    assert link.notice is None


def test_an_unknown_incident_id_is_not_found_and_says_so_without_showing_another(world):
    world.incident(T0, UPDATES)
    link = follow(world.engine, incident="doesnotexist")
    assert link == NotFound(Unknown.INCIDENT)
    assert link.shown is None and link.linked == ()
    assert link.notice == NOT_IN_HISTORY


def test_an_empty_incident_id_is_not_found(world):
    world.incident(T0, UPDATES)
    assert follow(world.engine, incident="") == NotFound(Unknown.INCIDENT)


@pytest.mark.parametrize(
    "asked",
    [
        "17999",
        "#17999",
        " # 17999 ",
        "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17999",
        "https://gitlab.example.com/gitlab-com/gl-infra/production/issues/17999#note_1",
    ],
)
def test_a_production_issue_number_opens_the_incident_linked_to_it(world, asked):
    issue = world.production_issue(17999)
    world.incident(T0 - minutes(600), UPDATES, issue=world.production_issue(17998))
    linked = world.incident(T0, UPDATES, issue=issue)
    link = follow(world.engine, issue=asked)
    assert link == Found(LinkedIncident(linked.id, T0, "Incident 2", True), 17999)
    assert link.notice == "Opened from production issue #17999."


def test_several_incidents_of_one_issue_are_listed_newest_first_and_the_newest_opens(world):
    issue = world.production_issue(17999)
    first = world.incident(T0, UPDATES, issue=issue)
    latest = world.incident(T0 + minutes(2000), UPDATES, issue=issue, resolved=False)
    middle = world.incident(T0 + minutes(1000), UPDATES, issue=issue)
    world.incident(T0 + minutes(3000), UPDATES, issue=world.production_issue(18000))
    link = follow(world.engine, issue="17999")
    assert isinstance(link, Several)
    assert [i.id for i in link.incidents] == [latest.id, middle.id, first.id]
    assert link.shown.id == latest.id and not link.shown.resolved
    assert link.linked == link.incidents
    assert link.notice == (
        "3 incidents are linked to production issue #17999. "
        "The most recent one is shown; choose another below."
    )


def test_an_issue_no_incident_is_linked_to_is_not_found_and_says_so(world):
    world.production_issue(17999)  # synced, yet no incident's updates name it
    world.incident(T0, UPDATES, issue=world.production_issue(18000))
    link = follow(world.engine, issue="17999")
    assert link == NotFound(Unknown.ISSUE, 17999)
    assert link.shown is None
    assert link.notice == (
        "No incident linked to production issue #17999 is in the history: it may be older than "
        "the history kept, or the number is mistyped. Choose one below."
    )


@pytest.mark.parametrize(
    "asked",
    ["", "abc", "17999x", "https://gitlab.com/gitlab-org/gitlab/-/issues/17999"],
)
def test_an_issue_link_that_names_no_production_issue_number_says_what_to_fix(world, asked):
    world.incident(T0, UPDATES, issue=world.production_issue(17999))
    link = follow(world.engine, issue=asked)
    assert link == NotFound(Unknown.NOT_A_NUMBER)
    assert link.notice == (
        "That link does not name a production issue number: a link to issue 17999 ends in "
        "?issue=17999. Choose an incident below."
    )


def test_an_incident_tied_to_the_issue_only_by_its_page_opens_and_the_page_is_named(world):
    # The page names the issue; the incident's updates do not, and the page is linked to the
    # incident opened 10 minutes after it (linking.link_page).
    page = world.page(T0 - minutes(10), title="Errors on web, see #17999")
    incident = world.incident(T0, UPDATES)
    world.incident(T0 + minutes(300), UPDATES)
    world.link_pages()
    link = follow(world.engine, issue="17999")
    assert isinstance(link, Found)
    number = int(page.removeprefix("PPAGE"))
    assert link.shown == LinkedIncident(incident.id, T0, "Incident 2", True, page=number)
    assert link.notice == (
        f"Opened from production issue #17999: its PagerDuty page #{number} led to this "
        "incident, whose updates do not name the issue."
    )


def test_an_incident_both_naming_the_issue_and_paged_for_it_is_listed_once(world):
    issue = world.production_issue(17999)
    world.page(T0 - minutes(10), title="Errors on web, see #17999")
    incident = world.incident(T0, UPDATES, issue=issue)
    world.link_pages()
    link = follow(world.engine, issue="#17999")
    assert link == Found(LinkedIncident(incident.id, T0, "Incident 2", True), 17999)


def test_an_incident_id_wins_over_an_issue_number(world):
    issue = world.production_issue(17999)
    world.incident(T0, UPDATES, issue=issue)
    other = world.incident(T0 + minutes(600), UPDATES)
    link = follow(world.engine, incident=other.id, issue="17999")
    assert isinstance(link, Found) and link.shown.id == other.id and link.issue is None
    assert follow(world.engine, incident="doesnotexist", issue="17999") == NotFound(
        Unknown.INCIDENT
    )


def test_issue_numbers_are_read_as_a_person_writes_them():
    assert issue_number("17999", PRODUCTION) == 17999
    assert issue_number("#17999", PRODUCTION) == 17999
    assert issue_number(f"https://gitlab.com/{PRODUCTION}/-/work_items/42", PRODUCTION) == 42
    assert issue_number("seventeen", PRODUCTION) is None
    assert issue_number("-5", PRODUCTION) is None


def test_the_picker_offers_a_linked_incident_the_filters_leave_out_in_date_order():
    frame = pd.DataFrame(
        {
            "id": ["new", "mid"],
            "opened": [T0 + minutes(2000), T0 + minutes(1000)],
            "title": ["Newest", "Middle"],
        }
    )
    old = LinkedIncident("old", T0, "Oldest", True)
    again = LinkedIncident("mid", T0 + minutes(1000), "Middle", True)
    labels = incident_labels(frame, [old, again])
    assert list(labels.values()) == ["new", "mid", "old"]
    assert list(labels)[2] == "02-02-2026 10:00 — Oldest"
    assert incident_labels(frame) == {
        "03-02-2026 19:20 — Newest": "new",
        "03-02-2026 02:40 — Middle": "mid",
    }
