"""Listings cross many pages and the PagerDuty offset ceiling without losing or doubling items."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

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


def test_gitlab_follows_link_headers_when_a_server_sends_no_page_headers(sandbox):
    """Some proxies drop the x-* headers; the Link header alone must be enough."""

    def link_only(request: httpx.Request) -> httpx.Response:
        response = sandbox.transport.handle_request(request)
        response.read()
        headers = {k: v for k, v in response.headers.items() if not k.lower().startswith("x-")}
        return httpx.Response(response.status_code, headers=headers, content=response.content)

    settings = settings_from_mapping(sandbox.settings())
    client = build_clients(settings, transport=httpx.MockTransport(link_only)).gitlab
    iids = [i["iid"] for page in client.issues(settings.gitlab_handover_project) for i in page]
    assert (
        len(iids)
        == len(set(iids))
        == len(sandbox.org.gitlab_issues[settings.gitlab_handover_project])
    )
    assert sandbox.count("gitlab") >= 2


def test_pagerduty_ceiling_without_a_reported_total_halves_the_window(org_end):
    """A server that ignores total=true still never gets an offset past 10,000."""
    org = generate(seed=11, end=org_end, days=30, pages=3500)
    box = Sandbox(org=org, end=org_end)

    def no_total(request: httpx.Request) -> httpx.Response:
        response = box.transport.handle_request(request)
        body = json.loads(response.read())
        body["total"] = None
        return httpx.Response(response.status_code, json=body)

    settings = settings_from_mapping(box.settings())
    client = build_clients(settings, transport=httpx.MockTransport(no_total)).pagerduty
    since = org_end - timedelta(days=30)
    ids = {e["id"] for page in client.log_entries(since=since, until=org_end) for e in page}
    expected = {
        e["id"]
        for e in org.pd_log_entries
        if e["type"] != "notify_log_entry" and since <= parse_time(e["created_at"]) < org_end
    }
    assert ids == expected
    assert max(int(dict(r.params)["offset"]) for r in box.requests) + 100 <= OFFSET_CEILING
