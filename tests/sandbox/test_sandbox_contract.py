"""Contract: each sandbox endpoint the sync reads answers the documented shape, no kinder.

Every answer must carry the fields the sync reads and nothing outside the documented entity:
GitLab's `lib/api/entities/*.rb`, PagerDuty's `PagerDuty/api-schema` openapiv3.json, and
Status.io's own clients (statusio-go `*_types.go`).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from cmoc_core.sandbox import Organisation, Sandbox
from cmoc_core.sandbox.organisation import parse_time

# gitlabhq lib/api/entities/user_safe.rb + user_basic.rb (avatar_path and custom_attributes only
# on request): an issue's author, assignees and closer.
USER_BASIC = {"id", "username", "name", "state", "avatar_url", "web_url"}
# lib/api/entities/user.rb on top of UserBasic (created_at and follower counts conditional).
USER = USER_BASIC | {
    "created_at",
    "bio",
    "location",
    "public_email",
    "skype",
    "linkedin",
    "twitter",
    "website_url",
    "organization",
    "job_title",
    "pronouns",
    "bot",
    "work_information",
    "followers",
    "following",
    "bio_html",
}
# UserDetailsWithAdmin adds, among others, the primary e-mail and whether the user is an admin.
USER_ADMIN_EXTRA = {"email", "is_admin"}
# The issue fields the sync reads (cmoc_core.sync.gitlab_issue_row).
ISSUE_READ = {
    "id",
    "iid",
    "title",
    "description",
    "state",
    "confidential",
    "created_at",
    "updated_at",
    "closed_at",
    "labels",
    "author",
    "assignees",
    "web_url",
}
# PagerDuty Incident (openapiv3.json components.schemas.Incident): no `description`; `body` only
# from getIncident with include[]=body.
PD_INCIDENT = {
    "id",
    "type",
    "summary",
    "self",
    "html_url",
    "incident_number",
    "title",
    "created_at",
    "updated_at",
    "status",
    "incident_key",
    "service",
    "assignments",
    "assigned_via",
    "acknowledgements",
    "last_status_change_at",
    "last_status_change_by",
    "resolved_at",
    "first_trigger_log_entry",
    "escalation_policy",
    "teams",
    "priority",
    "urgency",
    "alert_counts",
    "pending_actions",
    "conference_bridge",
    "resolve_reason",
    "incident_type",
}
PD_INCIDENT_READ = {
    "id",
    "incident_number",
    "title",
    "service",
    "status",
    "urgency",
    "created_at",
    "resolved_at",
    "last_status_change_at",
    "html_url",
    "acknowledgements",
}
# PagerDuty LogEntry: the schema's fields; the examples omit `service`.
PD_LOG_ENTRY = {
    "id",
    "type",
    "summary",
    "self",
    "html_url",
    "created_at",
    "agent",
    "channel",
    "service",
    "incident",
    "teams",
    "contexts",
    "event_details",
    "user",
    "note",
}
PD_LOG_ENTRY_READ = {"id", "type", "created_at", "agent", "incident"}
PD_ONCALL = {"user", "schedule", "escalation_policy", "escalation_level", "start", "end"}
# statusio-go incidents_types.go IncidentResponse (plus post_mortem_url, which the sync reads
# when present) and maintenance_types.go MaintenanceResponse.
STATUSIO_INCIDENT = {
    "__v",
    "_id",
    "components_affected",
    "containers_affected",
    "datetime_open",
    "kind",
    "messages",
    "name",
    "statuspage",
    "post_mortem_url",
}
STATUSIO_INCIDENT_READ = {"_id", "name", "datetime_open", "messages", "components_affected"}
STATUSIO_MAINTENANCE = STATUSIO_INCIDENT - {"post_mortem_url"} | {
    "datetime_planned_start",
    "datetime_planned_end",
}
STATUSIO_MAINTENANCE_READ = {
    "_id",
    "name",
    "datetime_planned_start",
    "datetime_planned_end",
    "components_affected",
    "containers_affected",
    "messages",
}


def client(sandbox: Sandbox, service: str) -> httpx.Client:
    settings = sandbox.settings()
    if service == "gitlab":
        return httpx.Client(
            transport=sandbox.transport,
            base_url=f"{settings['GITLAB_URL']}/api/v4",
            headers={"PRIVATE-TOKEN": settings["GITLAB_TOKEN"]},
        )
    if service == "pagerduty":
        return httpx.Client(
            transport=sandbox.transport,
            base_url=settings["PAGERDUTY_API_URL"],
            headers={"Authorization": f"Token token={settings['PAGERDUTY_API_TOKEN']}"},
        )
    return httpx.Client(
        transport=sandbox.transport,
        base_url=settings["STATUSIO_API_URL"],
        headers={
            "x-api-id": settings["STATUSIO_API_ID"],
            "x-api-key": settings["STATUSIO_API_KEY"],
        },
    )


def within(keys: set[str], documented: set[str], read: set[str]) -> None:
    assert read <= keys, f"missing fields the sync reads: {sorted(read - keys)}"
    assert keys <= documented, f"undocumented fields: {sorted(keys - documented)}"


def issues_path(project: str) -> str:
    return f"/projects/{project.replace('/', '%2F')}/issues"


# GitLab --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "project", ["production_project", "handover_project", "contact_request_project"]
)
def test_gitlab_issue_people_are_user_basic_without_email(
    sandbox: Sandbox, organisation: Organisation, project: str
) -> None:
    path = issues_path(getattr(organisation, project))
    issues = client(sandbox, "gitlab").get(path, params={"per_page": 100, "state": "all"}).json()
    assert issues
    people = [i["author"] for i in issues] + [a for i in issues for a in i["assignees"]]
    people += [i["assignee"] for i in issues if i["assignee"]]
    people += [i["closed_by"] for i in issues if i["closed_by"]]
    for issue in issues:
        assert set(issue) >= ISSUE_READ
    assert {frozenset(user) for user in people} == {frozenset(USER_BASIC)}


def test_gitlab_issue_created_through_the_api_names_its_author_as_user_basic(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    cmoc = organisation.people_with_role("cmoc")[0]
    response = client(sandbox, "gitlab").post(
        issues_path(organisation.handover_project),
        json={"title": "CMOC Handover", "sudo": cmoc.gitlab_username},
    )
    assert response.status_code == 201
    assert set(response.json()["author"]) == USER_BASIC


def test_gitlab_user_by_id_shows_public_email_often_empty_and_email_only_to_an_admin(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    gitlab = client(sandbox, "gitlab")
    answers = [gitlab.get(f"/users/{p.gitlab_user_id}").json() for p in organisation.people]
    for answer in answers:
        within(set(answer), USER | USER_ADMIN_EXTRA, {"id", "username", "name", "public_email"})
    public = [a["public_email"] for a in answers]
    assert any(public) and any(not email for email in public)
    assert all(a["email"] for a in answers)
    sandbox.gitlab.admin = False
    plain = gitlab.get(f"/users/{organisation.people[0].gitlab_user_id}").json()
    within(set(plain), USER, {"id", "username", "name", "public_email"})
    assert gitlab.get("/users/999").status_code == 404


def test_gitlab_issues_page_by_keyset_with_a_cursor_link_and_no_offset_headers(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    gitlab = client(sandbox, "gitlab")
    params = {"pagination": "keyset", "order_by": "id", "sort": "asc", "per_page": 100}
    url: str | None = issues_path(organisation.handover_project)
    ids: list[int] = []
    while url:
        response = gitlab.get(url, params=params if not ids else None)
        assert not {h for h in response.headers if h.startswith("x-")}
        ids += [issue["id"] for issue in response.json()]
        url = response.links.get("next", {}).get("url")
        if url:
            assert "cursor=" in url and "page=" not in url.replace("per_page=", "")
    everything = organisation.gitlab_issues[organisation.handover_project]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == len(everything)
    forged = gitlab.get(
        issues_path(organisation.handover_project), params={**params, "cursor": "not-a-cursor"}
    )
    assert forged.status_code == 400


def test_gitlab_offset_pages_past_the_limit_answer_405_as_for_keyset_capable_types(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    response = client(sandbox, "gitlab").get(
        issues_path(organisation.production_project), params={"page": 501, "per_page": 100}
    )
    assert response.status_code == 405
    assert "maximum allowed offset of 50000" in response.json()["error"]


def test_gitlab_sudo_with_a_token_without_the_sudo_scope_is_403_insufficient_scope(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    sandbox.gitlab.sudo_scope = False
    cmoc = organisation.people_with_role("cmoc")[0]
    response = client(sandbox, "gitlab").get("/user", headers={"Sudo": cmoc.gitlab_username})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.json()["scope"] == "sudo"


# PagerDuty -----------------------------------------------------------------------------------


def test_pagerduty_incident_list_has_no_description_and_the_fields_the_sync_reads(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    window = {
        "since": (organisation.end - timedelta(days=90)).isoformat(),
        "until": organisation.end.isoformat(),
        "limit": 100,
    }
    incidents = client(sandbox, "pagerduty").get("/incidents", params=window).json()["incidents"]
    assert incidents
    for incident in incidents:
        within(set(incident), PD_INCIDENT, PD_INCIDENT_READ)


def test_pagerduty_single_incident_has_a_body_only_with_include_body(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    pagerduty = client(sandbox, "pagerduty")
    page = organisation.pd_incidents[0]["id"]
    plain = pagerduty.get(f"/incidents/{page}").json()["incident"]
    within(set(plain), PD_INCIDENT, PD_INCIDENT_READ)
    full = pagerduty.get(f"/incidents/{page}", params={"include[]": "body"}).json()["incident"]
    assert set(full) - set(plain) == {"body"}
    assert set(full["body"]) == {"type", "details"}
    assert full["body"]["details"] == organisation.pd_incident_details[page]


def test_pagerduty_log_entries_often_lack_service_and_carry_what_the_sync_reads(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    window = {
        "since": (organisation.end - timedelta(days=30)).isoformat(),
        "until": organisation.end.isoformat(),
        "limit": 100,
        "is_overview": "true",
    }
    entries = client(sandbox, "pagerduty").get("/log_entries", params=window).json()
    for entry in entries["log_entries"]:
        within(set(entry), PD_LOG_ENTRY, PD_LOG_ENTRY_READ)
    without = [e for e in entries["log_entries"] if "service" not in e]
    assert without and {e["type"] for e in without} >= {"acknowledge_log_entry"}


def test_pagerduty_users_list_stops_at_the_offset_ceiling_and_one_user_is_readable(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    pagerduty = client(sandbox, "pagerduty")
    refused = pagerduty.get("/users", params={"offset": 9_950, "limit": 100})
    assert refused.status_code == 400
    user = organisation.pd_users[0]
    answer = pagerduty.get(f"/users/{user['id']}").json()["user"]
    assert {"id", "name", "email"} <= set(answer)


def test_pagerduty_oncalls_reach_fourteen_days_ahead(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    end = organisation.end
    window = {
        "since": end.isoformat(),
        "until": (end + timedelta(days=14)).isoformat(),
        "limit": 100,
        "schedule_ids[]": organisation.cmoc_schedule_ids[0],
    }
    oncalls = client(sandbox, "pagerduty").get("/oncalls", params=window).json()["oncalls"]
    assert {frozenset(o) for o in oncalls} == {frozenset(PD_ONCALL)}
    assert max(parse_time(o["start"]) for o in oncalls) > end + timedelta(days=10)


# Status.io -----------------------------------------------------------------------------------


def test_statusio_resolved_list_is_in_an_order_neither_newest_nor_oldest_first(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    statusio = client(sandbox, "statusio")
    path = f"/incident/list/resolved/{organisation.statuspage_id}"
    listed = []
    for number in range(1, 10):
        page = statusio.get(path, params={"page": number}).json()["result"]
        if not page:
            break
        listed += page
    for incident in listed:
        within(set(incident), STATUSIO_INCIDENT, STATUSIO_INCIDENT_READ)
    opened = [incident["datetime_open"] for incident in listed]
    assert opened not in (sorted(opened), sorted(opened, reverse=True))
    assert {i["_id"] for i in listed} == {
        i["_id"] for i in organisation.statusio_resolved_incidents()
    }


def test_statusio_incident_ids_list_every_active_and_resolved_incident(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    result = (
        client(sandbox, "statusio").get(f"/incidents/{organisation.statuspage_id}").json()["result"]
    )
    assert set(result) == {"active_incidents", "resolved_incidents"}
    assert set(result["active_incidents"]) == set(organisation.statusio_active_incident_ids)
    assert set(result["resolved_incidents"]) == {
        i["_id"] for i in organisation.statusio_resolved_incidents()
    }


def test_statusio_single_incident_is_a_list_of_one(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    incident = organisation.statusio_resolved_incidents()[0]
    path = f"/incident/{organisation.statuspage_id}/{incident['_id']}"
    [found] = client(sandbox, "statusio").get(path).json()["result"]
    within(set(found), STATUSIO_INCIDENT, STATUSIO_INCIDENT_READ)


def test_statusio_maintenance_lists_carry_components_and_containers_affected(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    path = f"/maintenance/list/{organisation.statuspage_id}"
    result = client(sandbox, "statusio").get(path).json()["result"]
    windows = [m for phase in result.values() for m in phase]
    assert windows
    for window in windows:
        within(set(window), STATUSIO_MAINTENANCE, STATUSIO_MAINTENANCE_READ)
        # Each listed item as statusio-go's MaintenanceResponse declares it.
        assert window["containers_affected"] and all(
            set(c) == {"__v", "_id", "name", "location"} for c in window["containers_affected"]
        )
        assert window["components_affected"] and all(
            set(c) == {"__v", "_id", "position", "statuspage", "containers", "name"}
            and all(isinstance(box, str) for box in c["containers"])
            for c in window["components_affected"]
        )
