"""Listings cross many pages and the PagerDuty offset ceiling without losing or doubling items."""

from __future__ import annotations

from datetime import timedelta

from cmoc_core.clients import build_clients
from cmoc_core.clients.pagerduty import OFFSET_CEILING
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import generate
from cmoc_core.timeutil import parse_time


def test_pagerduty_incidents_cross_pages_and_match_the_organisation(clients, sandbox, org_end):
    settings = settings_from_mapping(sandbox.settings())
    pages = list(
        clients.pagerduty.incidents(
            since=org_end - timedelta(days=365),
            until=org_end,
            service_ids=settings.pagerduty_cmoc_service_ids,
        )
    )
    ids = [i["id"] for page in pages for i in page]
    assert len(pages) >= 2
    assert len(ids) == len(set(ids)) >= 100
    assert {i["service"]["id"] for page in pages for i in page} <= set(
        settings.pagerduty_cmoc_service_ids
    )


def test_pagerduty_windows_never_exceed_six_months(clients, sandbox, org_end):
    list(clients.pagerduty.log_entries(since=org_end - timedelta(days=365), until=org_end))
    windows = [dict(r.params) for r in sandbox.requests if r.path.endswith("/log_entries")]
    assert len({(w["since"], w["until"]) for w in windows}) >= 3
    for w in windows:
        assert w["since"] < w["until"]


def test_gitlab_issues_follow_next_page_headers_to_the_end(clients, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    pages = list(clients.gitlab.issues(settings.gitlab_handover_project))
    iids = [issue["iid"] for page in pages for issue in page]
    assert len(pages) >= 2
    assert len(iids) == len(set(iids))
    assert sandbox.count("gitlab") == len(pages)


def test_statusio_resolved_incidents_are_paged_until_an_empty_page(clients, sandbox):
    pages = list(clients.statusio.incident_pages("resolved"))
    ids = [i["_id"] for page in pages for i in page]
    assert len(pages) >= 2
    assert len(ids) == len(set(ids)) >= 58
    assert sandbox.count("statusio") == len(pages) + 1


def test_pagerduty_offset_ceiling_is_passed_by_splitting_the_window(org_end):
    """A month holding more than 10,000 log entries is read whole, below the ceiling."""
    org = generate(seed=11, end=org_end, days=30, pages=3500)
    box = Sandbox(org=org, end=org_end)
    client = build_clients(settings_from_mapping(box.settings()), transport=box.transport).pagerduty
    entries = [
        e
        for page in client.log_entries(since=org_end - timedelta(days=30), until=org_end)
        for e in page
    ]
    since = org_end - timedelta(days=30)
    expected = sum(
        1
        for e in org.pd_log_entries
        if e["type"] != "notify_log_entry" and since <= parse_time(e["created_at"]) < org_end
    )
    assert expected > OFFSET_CEILING
    assert len({e["id"] for e in entries}) == expected
    offsets = [int(dict(r.params)["offset"]) for r in box.requests]
    assert max(offsets) + 100 <= OFFSET_CEILING
