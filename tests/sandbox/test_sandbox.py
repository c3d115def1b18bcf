"""The sandbox: a deterministic organisation served by fake PagerDuty, Status.io and GitLab."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cmoc_core.sandbox import BASE_URL, Fault, Organisation, Sandbox, generate
from cmoc_core.sandbox.catalogue import CADENCE_MINUTES, STATUS_PAGE_LABEL
from cmoc_core.sandbox.organisation import parse_time

END = datetime(2026, 11, 1, tzinfo=UTC)
ISSUE_LINK = re.compile(r"https?://[^\s/]+/gitlab-com/gl-infra/production/-/issues/(\d+)")
ANNOUNCED = re.compile(r"next update|another update", re.IGNORECASE)


@pytest.fixture
def org(organisation: Organisation) -> Organisation:
    return organisation


def pagerduty_client(sandbox: Sandbox, token: str | None = None) -> httpx.Client:
    settings = sandbox.settings()
    token = token or settings["PAGERDUTY_API_TOKEN"]
    return httpx.Client(
        transport=sandbox.transport,
        base_url=settings["PAGERDUTY_API_URL"],
        headers={"Authorization": f"Token token={token}"},
    )


def statusio_client(sandbox: Sandbox, key: str | None = None) -> httpx.Client:
    settings = sandbox.settings()
    return httpx.Client(
        transport=sandbox.transport,
        base_url=settings["STATUSIO_API_URL"],
        headers={
            "x-api-id": settings["STATUSIO_API_ID"],
            "x-api-key": key or settings["STATUSIO_API_KEY"],
        },
    )


def gitlab_client(sandbox: Sandbox, token: str | None = None) -> httpx.Client:
    settings = sandbox.settings()
    return httpx.Client(
        transport=sandbox.transport,
        base_url=f"{settings['GITLAB_URL']}/api/v4",
        headers={"PRIVATE-TOKEN": token or settings["GITLAB_TOKEN"]},
    )


def cmoc_pages(org: Organisation) -> list[dict]:
    return [i for i in org.pd_incidents if i["service"]["id"] in org.cmoc_service_ids]


def test_same_seed_and_end_give_the_same_organisation(org: Organisation) -> None:
    assert generate(seed=7, end=END) == org


def test_another_seed_gives_another_organisation(org: Organisation) -> None:
    other = generate(seed=8, end=END)
    assert other.pd_incidents != org.pd_incidents
    assert other.statuspage_id != org.statuspage_id


def test_generate_refuses_a_naive_end() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(end=datetime(2026, 11, 1))


def test_history_lies_within_the_requested_window(org: Organisation) -> None:
    start = END - timedelta(days=365)
    created = [parse_time(i["created_at"]) for i in org.pd_incidents]
    assert start <= min(created) and max(created) < END
    opened = [parse_time(i["datetime_open"]) for i in org.statusio_incidents]
    assert start <= min(opened) and max(opened) < END
    for issues in org.gitlab_issues.values():
        assert all(start <= parse_time(i["created_at"]) < END for i in issues)


def test_there_are_over_100_cmoc_pages_and_a_service_that_does_not_count(
    org: Organisation,
) -> None:
    pages = cmoc_pages(org)
    assert len(pages) >= 100
    others = [i for i in org.pd_incidents if i["service"]["id"] not in org.cmoc_service_ids]
    assert len(others) >= 5


def test_pages_override_sets_the_number_of_cmoc_pages() -> None:
    assert len(cmoc_pages(generate(end=END, pages=300))) == 300
    assert len(cmoc_pages(generate(end=END, pages=10))) == 10


def test_ten_thousand_pages_generate_quickly() -> None:
    started = time.perf_counter()
    big = generate(end=END, pages=10_000)
    assert time.perf_counter() - started < 10
    assert len(cmoc_pages(big)) == 10_000
    assert len(big.pd_log_entries) > 40_000


def test_acknowledgement_times_vary_including_slow_double_and_missing(org: Organisation) -> None:
    acks: dict[str, list[datetime]] = {}
    for entry in org.pd_log_entries:
        if entry["type"] == "acknowledge_log_entry":
            assert entry["agent"]["type"] == "user_reference"
            acks.setdefault(entry["incident"]["id"], []).append(parse_time(entry["created_at"]))
    minutes = [
        (min(acks[p["id"]]) - parse_time(p["created_at"])).total_seconds() / 60
        for p in cmoc_pages(org)
        if p["id"] in acks
    ]
    assert sum(m <= 10 for m in minutes) > len(minutes) / 2
    assert any(15 < m <= 40 for m in minutes)
    assert len(minutes) < len(cmoc_pages(org))
    assert any(len(times) >= 2 for times in acks.values())


def test_every_page_has_trigger_notify_and_resolve_entries_in_order(org: Organisation) -> None:
    kinds: dict[str, set[str]] = {}
    for entry in org.pd_log_entries:
        kinds.setdefault(entry["incident"]["id"], set()).add(entry["type"])
    resolved = [i for i in org.pd_incidents if i["status"] == "resolved"]
    assert all({"trigger_log_entry", "resolve_log_entry"} <= kinds[i["id"]] for i in resolved)
    times = [entry["created_at"] for entry in org.pd_log_entries]
    assert times == sorted(times, reverse=True)


def test_incident_fields_follow_status(org: Organisation) -> None:
    statuses = Counter(i["status"] for i in cmoc_pages(org))
    assert statuses["acknowledged"] >= 1 and statuses["triggered"] >= 1
    for incident in org.pd_incidents:
        if incident["status"] == "resolved":
            assert incident["resolved_at"] and incident["assignments"] == []
            assert incident["acknowledgements"] == []
        elif incident["status"] == "acknowledged":
            assert incident["acknowledgements"] and incident["resolved_at"] is None


def test_page_titles_often_name_the_production_issue_and_body_details_more(
    org: Organisation,
) -> None:
    titled = [p for p in cmoc_pages(org) if re.search(r"#\d{5}", p["title"])]
    details = [p for p in cmoc_pages(org) if ISSUE_LINK.search(org.pd_incident_details[p["id"]])]
    assert len(titled) > len(cmoc_pages(org)) / 2
    assert len(details) > len(titled)
    assert not any("description" in p for p in org.pd_incidents)


def test_there_are_eight_cmocs_in_three_regions_and_two_shadows(org: Organisation) -> None:
    cmocs = org.people_with_role("cmoc")
    assert len(cmocs) == 8
    assert {p.region for p in cmocs} == {"AMER", "EMEA", "APAC"}
    assert len(org.people_with_role("shadow")) == 2
    assert all(re.fullmatch(r"P[A-Z0-9]{6}", str(p.pagerduty_user_id)) for p in cmocs)


def test_gitlab_identities_match_by_email_by_name_or_only_by_mapping(org: Organisation) -> None:
    cmocs = org.people_with_role("cmoc")
    by_email = [p for p in cmocs if (p.gitlab_public_email or "").lower() == p.email]
    by_name = [p for p in cmocs if not p.gitlab_public_email and p.gitlab_name == p.name]
    unmatched = [p for p in cmocs if not p.gitlab_public_email and p.gitlab_name != p.name]
    assert len(by_email) >= 5 and len(by_name) >= 1 and len(unmatched) == 1


def test_cmoc_schedules_have_weekday_shifts_per_region(org: Organisation) -> None:
    oncalls = [o for o in org.pd_oncalls if o["schedule"]["id"] in org.cmoc_schedule_ids]
    assert Counter(o["schedule"]["summary"] for o in oncalls).keys() == {
        "CMOC - AMER",
        "CMOC - EMEA",
        "CMOC - APAC",
    }
    assert all(parse_time(o["start"]).weekday() < 5 for o in oncalls)
    shadow = [o for o in org.pd_oncalls if o["schedule"]["id"] in org.shadow_schedule_ids]
    assert 4 <= len(shadow) <= 40


def test_most_shifts_are_handed_over_and_some_are_missing_or_late(org: Organisation) -> None:
    username = {p.pagerduty_user_id: p.gitlab_username for p in org.people}
    created: dict[str, list[datetime]] = {}
    for issue in org.gitlab_issues[org.handover_project]:
        assert issue["confidential"] and issue["title"].startswith("CMOC Handover ")
        created.setdefault(issue["author"]["username"], []).append(parse_time(issue["created_at"]))
    outcomes = Counter()
    for oncall in org.pd_oncalls:
        end = parse_time(oncall["end"])
        if oncall["schedule"]["id"] not in org.cmoc_schedule_ids or end > END:
            continue
        offsets = [t - end for t in created.get(username[oncall["user"]["id"]], [])]
        if any(abs(o) <= timedelta(hours=2) for o in offsets):
            outcomes["on time"] += 1
        elif any(timedelta(hours=3) <= o <= timedelta(hours=5) for o in offsets):
            outcomes["late"] += 1
        else:
            outcomes["missing"] += 1
    total = sum(outcomes.values())
    assert 0.75 < outcomes["on time"] / total < 0.95
    assert outcomes["late"] > 0 and outcomes["missing"] > 0


def test_there_are_60_status_incidents_and_two_recent_active_ones(org: Organisation) -> None:
    assert len(org.statusio_incidents) >= 60
    assert len(org.statusio_active_incidents()) == 2
    for incident in org.statusio_active_incidents():
        last = parse_time(incident["messages"][-1]["datetime"])
        assert timedelta(0) < END - last <= timedelta(minutes=40)
        assert incident["messages"][-1]["status"] != 100
    for incident in org.statusio_resolved_incidents():
        final = incident["messages"][-1]
        assert (final["state"], final["status"]) == (300, 100)
        assert re.fullmatch(r"[0-9a-f]{24}", incident["_id"])


def test_status_updates_are_mostly_on_time_with_some_late_gaps(org: Organisation) -> None:
    issues = {i["iid"]: i for i in org.gitlab_issues[org.production_project]}
    on_time = late = 0
    for incident in org.statusio_incidents:
        texts = [m["details"] for m in incident["messages"]]
        iid = next((int(m.group(1)) for t in texts if (m := ISSUE_LINK.search(t))), None)
        labels = issues[iid]["labels"] if iid in issues else []
        severity = next((int(x[-1]) for x in labels if x.startswith("severity::")), 3)
        for a, b in zip(incident["messages"], incident["messages"][1:], strict=False):
            if ANNOUNCED.search(a["details"]):
                continue
            gap = parse_time(b["datetime"]) - parse_time(a["datetime"])
            due = timedelta(minutes=CADENCE_MINUTES[severity][a["state"]], seconds=60)
            late += gap > due + timedelta(minutes=1)
            on_time += gap <= due
    assert on_time > 3 * late > 0


def test_incidents_cover_every_severity_and_messy_links(org: Organisation) -> None:
    production = org.gitlab_issues[org.production_project]
    severities = Counter(
        label for issue in production for label in issue["labels"] if label.startswith("severity")
    )
    assert set(severities) == {f"severity::{n}" for n in range(1, 5)}
    assert any(not any(x.startswith("severity") for x in i["labels"]) for i in production)
    texts = [" ".join(m["details"] for m in i["messages"]) for i in org.statusio_incidents]
    assert any("gitlab.example.com/gitlab-com/gl-infra/production/-/issues/" in t for t in texts)
    assert any(not ISSUE_LINK.search(t) for t in texts)
    assert any("Next update in" in t for t in texts)
    assert any(re.search(r"update (at|by) \d\d:\d\d UTC", t) for t in texts)


def test_some_severities_change_mid_incident_through_label_events(org: Organisation) -> None:
    events = org.gitlab_label_events[org.production_project]
    changed = [
        iid
        for iid, items in events.items()
        if any(e["action"] == "remove" and "severity::" in e["label"]["name"] for e in items)
    ]
    assert len(changed) >= 3
    issues = {i["iid"]: i for i in org.gitlab_issues[org.production_project]}
    for iid, items in events.items():
        if items:
            assert issues[iid]["updated_at"] >= max(e["created_at"] for e in items)


def test_most_status_page_incidents_get_the_status_page_label(org: Organisation) -> None:
    labelled = sum(
        STATUS_PAGE_LABEL in i["labels"] for i in org.gitlab_issues[org.production_project]
    )
    total = len(org.statusio_incidents)
    assert total * 0.6 < labelled < total


def test_contact_requests_practice_events_and_maintenances_exist(org: Organisation) -> None:
    requests = org.gitlab_issues[org.contact_request_project]
    assert 30 <= len(requests) <= 50
    assert all(org.contact_request_label in r["labels"] and r["assignees"] for r in requests)
    assert Counter(r["state"] for r in requests)["opened"] > 0
    events = org.gitlab_issues[org.training_project]
    assert all(org.practice_event_label in e["labels"] for e in events)
    assert len(events) >= 12
    attendance = Counter(a["username"] for e in events for a in e["assignees"])
    assert min(attendance[p.gitlab_username] for p in org.people_with_role("cmoc")) < 5
    maintenances = org.statusio_maintenances
    assert (len(maintenances["active"]), len(maintenances["upcoming"])) == (1, 2)
    assert len(maintenances["resolved"]) >= 5


def test_settings_name_every_configuration_value(sandbox: Sandbox) -> None:
    settings = sandbox.settings("http://127.0.0.1:9999")
    assert settings["PAGERDUTY_API_URL"] == "http://127.0.0.1:9999/pagerduty"
    assert settings["STATUSIO_API_URL"] == "http://127.0.0.1:9999/statusio/v2"
    assert settings["GITLAB_URL"] == "http://127.0.0.1:9999/gitlab"
    assert settings["GITLAB_PRODUCTION_PROJECT"] == "gitlab-com/gl-infra/production"
    assert settings["PAGERDUTY_CMOC_SCHEDULE_IDS"].count(",") == 2
    assert all(settings.values())
    assert sandbox.settings()["PAGERDUTY_API_URL"] == f"{BASE_URL}/pagerduty"


def test_pagerduty_rejects_a_wrong_token(sandbox: Sandbox) -> None:
    response = pagerduty_client(sandbox, token="nope").get("/incidents")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 2006


def test_pagerduty_pages_incidents_with_more_and_total(sandbox: Sandbox, org: Organisation) -> None:
    client = pagerduty_client(sandbox)
    params = {"since": "2026-05-01T00:00:00Z", "until": "2026-11-01T00:00:00Z", "total": "true"}
    first = client.get("/incidents", params={**params, "limit": 10}).json()
    assert (first["limit"], first["offset"], first["more"]) == (10, 0, True)
    total = first["total"]
    last = client.get("/incidents", params={**params, "limit": 10, "offset": total - 5}).json()
    assert len(last["incidents"]) == 5 and last["more"] is False
    assert client.get("/incidents", params={"date_range": "all"}).json()["total"] is None


def test_pagerduty_offset_over_10000_is_rejected(sandbox: Sandbox) -> None:
    response = pagerduty_client(sandbox).get(
        "/incidents", params={"date_range": "all", "offset": 9950, "limit": 100}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2001
    assert "10000" in response.json()["error"]["message"]


def test_pagerduty_range_over_six_months_is_rejected(sandbox: Sandbox) -> None:
    response = pagerduty_client(sandbox).get(
        "/incidents", params={"since": "2026-01-01", "until": "2026-07-02"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2004


def test_pagerduty_filters_incidents_by_service_status_and_time(
    sandbox: Sandbox, org: Organisation
) -> None:
    client = pagerduty_client(sandbox)
    params = [
        ("date_range", "all"),
        ("service_ids[]", org.cmoc_service_ids[0]),
        ("statuses[]", "triggered"),
        ("statuses[]", "acknowledged"),
        ("limit", "100"),
    ]
    open_pages = client.get("/incidents", params=params).json()["incidents"]
    assert {i["status"] for i in open_pages} == {"triggered", "acknowledged"}
    window = {"since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z", "limit": 100}
    march = client.get("/incidents", params=window).json()["incidents"]
    assert march and all(i["created_at"].startswith("2026-03") for i in march)
    newest = client.get("/incidents", params={**window, "sort_by": "created_at:desc"}).json()
    assert newest["incidents"][0]["created_at"] == march[-1]["created_at"]


def test_pagerduty_log_entries_are_newest_first_with_overview_and_includes(
    sandbox: Sandbox,
) -> None:
    client = pagerduty_client(sandbox)
    window = {"since": "2026-10-01T00:00:00Z", "until": "2026-11-01T00:00:00Z", "limit": 100}
    entries = client.get("/log_entries", params=window).json()["log_entries"]
    times = [e["created_at"] for e in entries]
    assert times == sorted(times, reverse=True) and times[0] < "2026-11-01"
    overview = client.get("/log_entries", params={**window, "is_overview": "true"}).json()
    assert all(e["type"] != "notify_log_entry" for e in overview["log_entries"])
    included = client.get("/log_entries", params={**window, "include[]": "incidents"}).json()
    assert included["log_entries"][0]["incident"]["type"] == "incident"
    assert entries[0]["incident"]["type"] == "incident_reference"


def test_pagerduty_oncalls_overlap_the_asked_range(sandbox: Sandbox, org: Organisation) -> None:
    client = pagerduty_client(sandbox)
    params = [("schedule_ids[]", s) for s in org.cmoc_schedule_ids] + [
        ("since", "2026-10-28T06:00:00Z"),
        ("until", "2026-10-28T10:00:00Z"),
    ]
    oncalls = client.get("/oncalls", params=params).json()["oncalls"]
    assert {o["schedule"]["summary"] for o in oncalls} == {"CMOC - APAC", "CMOC - EMEA"}
    users = client.get("/users", params={"limit": 5, "total": "true"}).json()
    assert len(users["users"]) == 5 and users["more"] and users["total"] == len(org.pd_users)


def test_statusio_rejects_wrong_keys(sandbox: Sandbox, org: Organisation) -> None:
    response = statusio_client(sandbox, key="wrong").get(f"/incident/list/{org.statuspage_id}")
    assert response.status_code == 401
    assert response.json()["status"]["error"] == "yes"


def test_statusio_wraps_results_in_its_envelope(sandbox: Sandbox, org: Organisation) -> None:
    client = statusio_client(sandbox)
    body = client.get(f"/incident/list/{org.statuspage_id}").json()
    assert body["status"] == {"error": "no", "message": "OK"}
    assert len(body["result"]["active_incidents"]) == 2
    components = client.get(f"/component/list/{org.statuspage_id}").json()["result"]
    assert "Container Registry" in {c["name"] for c in components}
    assert all(c["containers"] for c in components)
    unknown = client.get("/incident/list/000000000000000000000000")
    assert unknown.status_code == 200
    assert unknown.json()["status"] == {"error": "yes", "message": "Statuspage not found"}


def test_statusio_pages_resolved_incidents_in_a_fixed_order_that_is_not_by_date(
    sandbox: Sandbox, org: Organisation
) -> None:
    client = statusio_client(sandbox)
    path = f"/incident/list/resolved/{org.statuspage_id}"
    pages = [client.get(path, params={"page": n}).json()["result"] for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [25, 25, 14, 0]
    opened = [i["datetime_open"] for page in pages for i in page]
    assert opened not in (sorted(opened), sorted(opened, reverse=True))
    again = statusio_client(Sandbox(org=org, end=END)).get(path, params={"page": 1})
    assert again.json()["result"] == pages[0]
    one = client.get(f"/incident/{org.statuspage_id}/{pages[0][0]['_id']}").json()["result"]
    assert one == [pages[0][0]]


def test_statusio_practice_page_exists_without_incidents(
    sandbox: Sandbox, org: Organisation
) -> None:
    client = statusio_client(sandbox)
    body = client.get(f"/incident/list/{org.practice_statuspage_id}").json()
    assert body["result"] == {"active_incidents": [], "resolved_incidents": []}
    maintenances = client.get(f"/maintenance/list/{org.statuspage_id}").json()["result"]
    assert set(maintenances) == {
        "active_maintenances",
        "upcoming_maintenances",
        "resolved_maintenances",
    }


def test_gitlab_rejects_a_missing_token(sandbox: Sandbox) -> None:
    client = httpx.Client(transport=sandbox.transport, base_url=f"{BASE_URL}/gitlab/api/v4")
    response = client.get("/projects/gitlab-com%2Fgl-infra%2Fproduction/issues")
    assert response.status_code == 401
    assert response.json() == {"message": "401 Unauthorized"}


def test_gitlab_unknown_project_is_not_found(sandbox: Sandbox) -> None:
    response = gitlab_client(sandbox).get("/projects/nobody%2Fnothing/issues")
    assert response.status_code == 404
    assert response.json() == {"message": "404 Project Not Found"}


def test_gitlab_issue_pages_carry_pagination_headers(sandbox: Sandbox, org: Organisation) -> None:
    client = gitlab_client(sandbox)
    path = "/projects/gitlab-com%2Fsupport%2Fdotcom%2Fcmoc-handover/issues"
    first = client.get(path, params={"per_page": 100})
    total = len(org.gitlab_issues[org.handover_project])
    assert first.headers["x-total"] == str(total)
    assert first.headers["x-next-page"] == "2" and first.headers["x-prev-page"] == ""
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    pages = int(first.headers["x-total-pages"])
    last = client.get(path, params={"per_page": 100, "page": pages})
    assert last.headers["x-next-page"] == "" and 'rel="next"' not in last.headers["link"]
    assert len(first.json()) + (pages - 2) * 100 + len(last.json()) == total
    created = [i["created_at"] for i in first.json()]
    assert created == sorted(created, reverse=True)


def test_gitlab_filters_issues_by_labels_state_and_time(
    sandbox: Sandbox, org: Organisation
) -> None:
    client = gitlab_client(sandbox)
    path = f"/projects/{org.gitlab_projects[0]['id']}/issues"
    params = {
        "labels": f"incident,{STATUS_PAGE_LABEL}",
        "created_after": "2026-06-01T00:00:00Z",
        "order_by": "created_at",
        "sort": "asc",
        "per_page": 100,
    }
    issues = client.get(path, params=params).json()
    assert issues and all(STATUS_PAGE_LABEL in i["labels"] for i in issues)
    assert issues[0]["created_at"] >= "2026-06-01" and issues[0]["web_url"].startswith(
        "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/"
    )
    closed = client.get(path, params={"state": "closed", "per_page": 100}).json()
    assert {i["state"] for i in closed} == {"closed"}


def test_gitlab_serves_resource_label_events(sandbox: Sandbox, org: Organisation) -> None:
    issue = next(
        i for i in org.gitlab_issues[org.production_project] if STATUS_PAGE_LABEL in i["labels"]
    )
    response = gitlab_client(sandbox).get(
        f"/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/{issue['iid']}/resource_label_events"
    )
    events = response.json()
    assert response.headers["x-page"] == "1"
    assert any(e["action"] == "add" and e["label"]["name"] == STATUS_PAGE_LABEL for e in events)
    assert {"id", "user", "created_at", "resource_type", "label", "action"} <= set(events[0])


def test_requests_are_recorded_and_counted(sandbox: Sandbox, org: Organisation) -> None:
    pagerduty_client(sandbox).get("/incidents", params=[("statuses[]", "resolved")])
    statusio_client(sandbox).get(f"/component/list/{org.statuspage_id}")
    assert (sandbox.count(), sandbox.count("pagerduty"), sandbox.count("gitlab")) == (2, 1, 0)
    recorded = sandbox.requests[0]
    assert (recorded.method, recorded.service, recorded.path) == ("GET", "pagerduty", "/incidents")
    assert recorded.params == [("statuses[]", "resolved")]
    sandbox.reset_requests()
    assert sandbox.count() == 0


def test_status_fault_answers_after_letting_requests_through(sandbox: Sandbox) -> None:
    fault = sandbox.add_fault(
        Fault(
            service="pagerduty",
            kind="status",
            status=429,
            headers={"Retry-After": "2"},
            after=1,
            times=1,
        )
    )
    client = pagerduty_client(sandbox)
    codes = [client.get("/users").status_code for _ in range(3)]
    assert codes == [200, 429, 200]
    assert fault.fired == 1 and sandbox.count("pagerduty") == 3


def test_status_fault_returns_its_headers_and_body(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("gitlab", status=503, headers={"Retry-After": "1"}, body="down"))
    response = gitlab_client(sandbox).get("/projects/7444821/issues")
    assert (response.status_code, response.headers["retry-after"], response.text) == (
        503,
        "1",
        "down",
    )


def test_timeout_fault_raises_read_timeout_in_process(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(service=None, kind="timeout", path_contains="/log_entries"))
    client = pagerduty_client(sandbox)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/log_entries")
    assert client.get("/log_entries").status_code == 200


def test_malformed_fault_sends_truncated_json(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(service="pagerduty", kind="malformed", times=None))
    response = pagerduty_client(sandbox).get("/incidents")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_statusio_error_fault_sends_an_error_envelope(sandbox: Sandbox, org: Organisation) -> None:
    sandbox.add_fault(Fault(service="statusio", kind="statusio_error", message="Try later"))
    response = statusio_client(sandbox).get(f"/incident/list/{org.statuspage_id}")
    assert response.status_code == 200
    assert response.json() == {"status": {"error": "yes", "message": "Try later"}}
    sandbox.clear_faults()
    assert statusio_client(sandbox).get(f"/incident/list/{org.statuspage_id}").json()["result"]


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="fault kind"):
        Fault(kind="explode")


def test_statusio_minimum_interval_is_enforced_when_asked(org: Organisation) -> None:
    strict = Sandbox(org, min_interval_ok=False)
    client = statusio_client(strict)
    codes = [client.get(f"/component/list/{org.statuspage_id}").status_code for _ in range(2)]
    assert codes == [200, 429]


def test_sandbox_serves_the_same_answers_over_http(sandbox: Sandbox, org: Organisation) -> None:
    server, thread = sandbox.serve(port=0)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        settings = sandbox.settings(base)
        response = httpx.get(
            f"{settings['GITLAB_URL']}/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues",
            params={"per_page": 3},
            headers={"PRIVATE-TOKEN": settings["GITLAB_TOKEN"]},
            timeout=5,
        )
        assert response.status_code == 200 and len(response.json()) == 3
        assert response.headers["x-next-page"] == "2"
        assert response.headers["link"].startswith(f"<{base}/gitlab/api/v4/projects/")
        assert sandbox.requests[-1].path == "/projects/gitlab-com%2Fgl-infra%2Fproduction/issues"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_timeout_fault_over_http_delays_the_answer(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(service="pagerduty", kind="timeout", delay=0.2))
    server, thread = sandbox.serve()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pagerduty/users"
        headers = {"Authorization": "Token token=sandbox-pagerduty-token"}
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url, headers=headers, timeout=0.05)
        assert httpx.get(url, headers=headers, timeout=5).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_sandbox_only_listens_on_loopback(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        sandbox.serve(host="0.0.0.0")


def test_unknown_prefix_is_not_found(sandbox: Sandbox) -> None:
    client = httpx.Client(transport=sandbox.transport, base_url=BASE_URL)
    assert client.get("/twitter/2/tweets").status_code == 404
    assert sandbox.requests[-1].service == "unknown"


@pytest.mark.parametrize("day", [1, 8, 15, 22, 29])
def test_every_announced_next_update_lies_shortly_after_its_message(day):
    from cmoc_core.cadence import announced_due

    org = generate(seed=7, end=datetime(2026, 10, day, tzinfo=UTC), days=60)
    for incident in org.statusio_incidents:
        for message in incident["messages"]:
            posted = parse_time(message["datetime"])
            due = announced_due(message["details"], posted)
            if due is not None:
                assert timedelta(0) < due - posted <= timedelta(hours=3), message["details"]
