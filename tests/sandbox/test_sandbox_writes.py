"""The sandbox's write side: Status.io, PagerDuty, GitLab, Slack webhooks and Zendesk search."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import GitLabLabelEvent, PagerDutyIncident, StatusPageIncident
from cmoc_core.sandbox import Fault, Organisation, Sandbox
from cmoc_core.sandbox.catalogue import STATUS_PAGE_LABEL
from cmoc_core.sandbox.organisation import Json, parse_time
from cmoc_core.sandbox.zendesk import generate_tickets, production_issue_iid
from cmoc_core.sync import run_sync

END = datetime(2026, 11, 1, tzinfo=UTC)
HEX24 = re.compile(r"[0-9a-f]{24}")
FLAGS = ("notify_email", "notify_sms", "notify_webhook", "social", "irc", "hipchat", "msteams")


class StepClock:
    """A clock standing still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        """Move on by `timedelta(**delta)` and return the new time."""
        self.moment += timedelta(**delta)
        return self.moment


@pytest.fixture
def clock() -> StepClock:
    return StepClock(END + timedelta(minutes=10))


@pytest.fixture
def box(organisation: Organisation, clock: StepClock) -> Sandbox:
    return Sandbox(organisation, clock=clock)


def statusio(sandbox: Sandbox) -> httpx.Client:
    settings = sandbox.settings()
    return httpx.Client(
        transport=sandbox.transport,
        base_url=settings["STATUSIO_API_URL"],
        headers={
            "x-api-id": settings["STATUSIO_API_ID"],
            "x-api-key": settings["STATUSIO_API_KEY"],
        },
    )


def pagerduty(sandbox: Sandbox, sender: str | None = "settings") -> httpx.Client:
    settings = sandbox.settings()
    headers = {"Authorization": f"Token token={settings['PAGERDUTY_API_TOKEN']}"}
    if sender is not None:
        headers["From"] = settings["PAGERDUTY_FROM_EMAIL"] if sender == "settings" else sender
    return httpx.Client(
        transport=sandbox.transport, base_url=settings["PAGERDUTY_API_URL"], headers=headers
    )


def gitlab(sandbox: Sandbox) -> httpx.Client:
    settings = sandbox.settings()
    return httpx.Client(
        transport=sandbox.transport,
        base_url=f"{settings['GITLAB_URL']}/api/v4",
        headers={"PRIVATE-TOKEN": settings["GITLAB_TOKEN"]},
    )


def zendesk(sandbox: Sandbox, token: str | None = None) -> httpx.Client:
    settings = sandbox.settings()
    user = f"{settings['ZENDESK_EMAIL']}/token"
    return httpx.Client(
        transport=sandbox.transport,
        base_url=f"{settings['ZENDESK_URL']}/api/v2",
        auth=(user, token or settings["ZENDESK_API_TOKEN"]),
    )


def infrastructure(component: Json) -> str:
    return f"{component['_id']}-{component['containers'][0]['_id']}"


def create_body(page_id: str, components: list[Json], **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "statuspage_id": page_id,
        "incident_name": "Elevated error rates on GitLab.com",
        "incident_details": "We're investigating elevated error rates.",
        "infrastructure_affected": [infrastructure(c) for c in components],
        "all_infrastructure_affected": "0",
        "current_status": 300,
        "current_state": 100,
        **dict.fromkeys(FLAGS, "0"),
        "slack": "0",
        "message_subject": "GitLab.com incident",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def create_incident(sandbox: Sandbox, org: Organisation) -> str:
    body = create_body(org.statuspage_id, org.statusio_components[:2])
    response = statusio(sandbox).post("/incident/create", json=body)
    return response.json()["result"]


def active(sandbox: Sandbox, page_id: str) -> list[Json]:
    return statusio(sandbox).get(f"/incident/list/active/{page_id}").json()["result"]


def triggered_cmoc_page(org: Organisation) -> Json:
    return next(
        i
        for i in org.pd_incidents
        if i["status"] == "triggered" and i["service"]["id"] in org.cmoc_service_ids
    )


def open_production_issue(org: Organisation) -> Json:
    return next(
        i
        for i in org.gitlab_issues[org.production_project]
        if "Incident::Active" in i["labels"] and STATUS_PAGE_LABEL not in i["labels"]
    )


def issue_path(org: Organisation, iid: int) -> str:
    return f"/projects/{org.gitlab_projects[0]['id']}/issues/{iid}"


def tag_of(incident: Json) -> str:
    return f"gitlab-com_gl-infra_production_issues_{production_issue_iid(incident)}"


# Status.io


def test_statusio_create_answers_an_id_and_lists_the_incident_as_active(
    box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    components = organisation.statusio_components[:2]
    body = create_body(organisation.statuspage_id, components)
    response = statusio(box).post("/incident/create", json=body)
    assert response.status_code == 200
    assert response.json()["status"] == {"error": "no", "message": "OK"}
    incident_id = response.json()["result"]
    assert HEX24.fullmatch(incident_id)
    listed = active(box, organisation.statuspage_id)
    assert len(listed) == 3 and listed[0]["_id"] == incident_id
    incident = listed[0]
    assert incident["name"] == body["incident_name"]
    assert incident["datetime_open"] == "2026-11-01T00:10:00.000Z"
    assert [c["_id"] for c in incident["components_affected"]] == [c["_id"] for c in components]
    assert {c["_id"] for c in incident["containers_affected"]} == {
        components[0]["containers"][0]["_id"],
        components[1]["containers"][0]["_id"],
    }
    (message,) = incident["messages"]
    assert (message["state"], message["status"]) == (100, 300)
    assert message["details"] == body["incident_details"]
    assert message["datetime"] == incident["datetime_open"]
    assert message["incident"] == incident_id and HEX24.fullmatch(message["_id"])
    one = statusio(box).get(f"/incident/{organisation.statuspage_id}/{incident_id}").json()
    assert one["result"] == [incident]


@pytest.mark.parametrize("field", ["incident_name", "incident_details"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_statusio_create_without_name_or_details_is_an_envelope_error(
    box: Sandbox, organisation: Organisation, field: str, value: str | None
) -> None:
    body = create_body(
        organisation.statuspage_id, organisation.statusio_components[:1], **{field: value}
    )
    response = statusio(box).post("/incident/create", json=body)
    assert response.status_code == 200
    assert response.json()["status"]["error"] == "yes"
    assert field in response.json()["status"]["message"]
    assert "result" not in response.json()
    assert len(active(box, organisation.statuspage_id)) == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"current_status": 700},
        {"current_status": "300"},
        {"current_state": 400},
        {"current_state": None},
        {"notify_email": True},
        {"slack": "yes"},
        {"all_infrastructure_affected": 1},
        {"infrastructure_affected": "abc-def"},
        {"infrastructure_affected": []},
        {"statuspage_id": "0" * 24},
    ],
)
def test_statusio_create_refuses_invalid_codes_flags_and_pages(
    box: Sandbox, organisation: Organisation, changes: dict[str, object]
) -> None:
    body = create_body(organisation.statuspage_id, organisation.statusio_components[:1], **changes)
    response = statusio(box).post("/incident/create", json=body).json()
    assert response["status"]["error"] == "yes"
    assert len(active(box, organisation.statuspage_id)) == 2


def test_statusio_create_refuses_infrastructure_from_another_page(
    box: Sandbox, organisation: Organisation
) -> None:
    practice = organisation.statusio_practice_components[0]
    body = create_body(organisation.statuspage_id, [practice])
    response = statusio(box).post("/incident/create", json=body).json()
    assert response["status"] == {
        "error": "yes",
        "message": f"Invalid infrastructure_affected: {infrastructure(practice)}",
    }


def test_statusio_all_infrastructure_affected_names_every_component(
    box: Sandbox, organisation: Organisation
) -> None:
    body = create_body(
        organisation.statuspage_id,
        [],
        infrastructure_affected=[],
        all_infrastructure_affected="1",
    )
    assert statusio(box).post("/incident/create", json=body).json()["status"]["error"] == "no"
    incident = active(box, organisation.statuspage_id)[0]
    assert len(incident["components_affected"]) == len(organisation.statusio_components)


def test_statusio_update_appends_a_message_stamped_by_the_clock(
    box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    incident_id = create_incident(box, organisation)
    clock.advance(minutes=14, seconds=30, milliseconds=250)
    body = {
        "statuspage_id": organisation.statuspage_id,
        "incident_id": incident_id,
        "incident_details": "We've identified the cause.",
        "current_status": 400,
        "current_state": 200,
        **dict.fromkeys(FLAGS, "1"),
        "message_subject": "Update",
    }
    response = statusio(box).post("/incident/update", json=body)
    assert response.json() == {"status": {"error": "no", "message": "OK"}, "result": True}
    incident = active(box, organisation.statuspage_id)[0]
    assert [(m["state"], m["status"]) for m in incident["messages"]] == [(100, 300), (200, 400)]
    assert incident["messages"][-1]["datetime"] == "2026-11-01T00:24:30.250Z"
    assert incident["messages"][-1]["details"] == "We've identified the cause."


def test_statusio_update_of_an_unknown_incident_is_an_envelope_error(
    box: Sandbox, organisation: Organisation
) -> None:
    body = {
        "statuspage_id": organisation.statuspage_id,
        "incident_id": "f" * 24,
        "incident_details": "Still looking.",
        "current_status": 300,
        "current_state": 100,
    }
    for action in ("update", "resolve"):
        response = statusio(box).post(f"/incident/{action}", json=body)
        assert response.status_code == 200
        assert response.json() == {"status": {"error": "yes", "message": "Incident not found"}}


def test_statusio_resolve_moves_the_incident_to_resolved_with_an_operational_message(
    box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    incident_id = create_incident(box, organisation)
    clock.advance(minutes=40)
    body = {
        "statuspage_id": organisation.statuspage_id,
        "incident_id": incident_id,
        "incident_details": "This incident is now resolved.",
        "current_status": 100,
        "current_state": 300,
        **dict.fromkeys(FLAGS, "0"),
        "message_subject": "Resolved",
    }
    assert statusio(box).post("/incident/resolve", json=body).json()["result"] is True
    assert incident_id not in {i["_id"] for i in active(box, organisation.statuspage_id)}
    path = f"/incident/list/resolved/{organisation.statuspage_id}"
    resolved = statusio(box).get(path).json()["result"]
    assert resolved[0]["_id"] == incident_id
    final = resolved[0]["messages"][-1]
    assert (final["state"], final["status"], final["datetime"]) == (
        300,
        100,
        "2026-11-01T00:50:00.000Z",
    )
    ids = statusio(box).get(f"/incidents/{organisation.statuspage_id}").json()["result"]
    assert incident_id in ids["resolved_incidents"]
    again = statusio(box).post("/incident/update", json={**body, "current_status": 300}).json()
    assert again["status"] == {"error": "yes", "message": "Incident is already resolved"}


def test_statusio_resolving_a_generated_incident_leaves_one_active(
    box: Sandbox, organisation: Organisation
) -> None:
    first = organisation.statusio_active_incidents()[0]
    body = {
        "statuspage_id": organisation.statuspage_id,
        "incident_id": first["_id"],
        "incident_details": "Resolved.",
        "current_state": 300,
    }
    assert statusio(box).post("/incident/resolve", json=body).json()["result"] is True
    listing = statusio(box).get(f"/incident/list/{organisation.statuspage_id}").json()["result"]
    assert len(listing["active_incidents"]) == 1
    assert len(listing["resolved_incidents"]) == len(organisation.statusio_incidents) - 1
    assert len(listing["resolved_incidents"][0]["messages"]) == len(first["messages"]) + 1


def test_statusio_writes_work_on_the_practice_page(
    box: Sandbox, organisation: Organisation
) -> None:
    page_id = organisation.practice_statuspage_id
    body = create_body(page_id, organisation.statusio_practice_components[3:4])
    incident_id = statusio(box).post("/incident/create", json=body).json()["result"]
    assert [i["_id"] for i in active(box, page_id)] == [incident_id]
    assert len(active(box, organisation.statuspage_id)) == 2
    resolve = {
        "statuspage_id": page_id,
        "incident_id": incident_id,
        "incident_details": "Practice over.",
        "current_state": 300,
    }
    assert statusio(box).post("/incident/resolve", json=resolve).json()["result"] is True
    listing = statusio(box).get(f"/incident/list/{page_id}").json()["result"]
    assert listing["active_incidents"] == []
    assert [i["_id"] for i in listing["resolved_incidents"]] == [incident_id]


def test_statusio_writes_need_the_api_keys_and_a_json_object(
    box: Sandbox, organisation: Organisation
) -> None:
    body = create_body(organisation.statuspage_id, organisation.statusio_components[:1])
    anonymous = httpx.Client(transport=box.transport, base_url=box.settings()["STATUSIO_API_URL"])
    assert anonymous.post("/incident/create", json=body).status_code == 401
    response = statusio(box).post("/incident/create", content=b"[1, 2]")
    assert response.json()["status"]["error"] == "yes"


# PagerDuty


def test_pagerduty_write_without_a_known_from_address_is_refused(
    box: Sandbox, organisation: Organisation
) -> None:
    page = triggered_cmoc_page(organisation)
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    for client in (pagerduty(box, sender=None), pagerduty(box, sender="nobody@example.com")):
        response = client.put(f"/incidents/{page['id']}", json=body)
        assert response.status_code == 400
        assert response.json() == {
            "error": {
                "message": 'You must specify a user\'s email address in the "From" header '
                "to perform this action",
                "code": 2001,
            }
        }
    assert pagerduty(box).get(f"/incidents/{page['id']}").json()["incident"]["status"] == (
        "triggered"
    )


def test_pagerduty_acknowledge_answers_the_incident_and_logs_the_from_user(
    box: Sandbox, organisation: Organisation
) -> None:
    page = triggered_cmoc_page(organisation)
    sender = organisation.people_with_role("cmoc")[0]
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    response = pagerduty(box).put(f"/incidents/{page['id']}", json=body)
    assert response.status_code == 200
    incident = response.json()["incident"]
    assert incident["id"] == page["id"] and incident["type"] == "incident"
    assert incident["status"] == "acknowledged"
    assert incident["last_status_change_at"] == "2026-11-01T00:10:00Z"
    assert incident["last_status_change_by"]["id"] == sender.pagerduty_user_id
    assert incident["acknowledgements"] == [
        {"at": "2026-11-01T00:10:00Z", "acknowledger": incident["last_status_change_by"]}
    ]
    assert set(page) == set(incident)
    entries = pagerduty(box).get(f"/incidents/{page['id']}/log_entries").json()["log_entries"]
    newest = entries[0]
    assert newest["type"] == "acknowledge_log_entry"
    assert newest["agent"]["type"] == "user_reference"
    assert newest["agent"]["id"] == sender.pagerduty_user_id
    assert newest["created_at"] == "2026-11-01T00:10:00Z"
    assert newest["incident"]["id"] == page["id"]
    assert pagerduty(box).get(f"/incidents/{page['id']}").json()["incident"] == incident


def test_pagerduty_resolve_sets_resolved_at_and_clears_assignments(
    box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    page = triggered_cmoc_page(organisation)
    client = pagerduty(box)
    ack = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    client.put(f"/incidents/{page['id']}", json=ack)
    clock.advance(minutes=30)
    resolve = {"incident": {"type": "incident_reference", "status": "resolved"}}
    incident = client.put(f"/incidents/{page['id']}", json=resolve).json()["incident"]
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] == incident["last_status_change_at"] == "2026-11-01T00:40:00Z"
    assert incident["assignments"] == [] and incident["acknowledgements"] == []
    assert incident["alert_counts"]["triggered"] == 0
    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T01:00:00Z"}
    entries = client.get("/log_entries", params=window).json()["log_entries"]
    assert [e["type"] for e in entries] == ["resolve_log_entry", "acknowledge_log_entry"]
    resolved = client.get(
        "/incidents", params={"statuses[]": "resolved", "date_range": "all", "limit": 100}
    ).json()
    assert resolved["incidents"] and all(i["status"] == "resolved" for i in resolved["incidents"])


def test_pagerduty_unknown_incident_is_not_found(box: Sandbox) -> None:
    body = {"incident": {"type": "incident_reference", "status": "resolved"}}
    response = pagerduty(box).put("/incidents/QNOPE", json=body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 5001


@pytest.mark.parametrize(
    "body",
    [
        {"incident": {"type": "incident_reference", "status": "triggered"}},
        {"incident": {"type": "incident_reference"}},
        {"incident": {"type": "user_reference", "status": "resolved"}},
        {"status": "resolved"},
    ],
)
def test_pagerduty_refuses_bodies_it_cannot_apply(
    box: Sandbox, organisation: Organisation, body: Json
) -> None:
    page = triggered_cmoc_page(organisation)
    response = pagerduty(box).put(f"/incidents/{page['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2001


def test_pagerduty_refuses_to_change_a_resolved_incident(
    box: Sandbox, organisation: Organisation
) -> None:
    page = next(i for i in organisation.pd_incidents if i["status"] == "resolved")
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    response = pagerduty(box).put(f"/incidents/{page['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["errors"] == ["Incident Already Resolved"]


# GitLab


def test_gitlab_add_labels_updates_the_issue_and_its_label_events(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    path = issue_path(organisation, issue["iid"])
    response = gitlab(box).put(path, json={"add_labels": STATUS_PAGE_LABEL})
    assert response.status_code == 200
    updated = response.json()
    assert STATUS_PAGE_LABEL in updated["labels"]
    assert updated["updated_at"] == "2026-11-01T00:10:00Z"
    assert {k: v for k, v in updated.items() if k not in ("labels", "updated_at")} == {
        k: v for k, v in issue.items() if k not in ("labels", "updated_at")
    }
    assert gitlab(box).get(path).json() == updated
    events = gitlab(box).get(f"{path}/resource_label_events", params={"per_page": 100}).json()
    last = events[-1]
    assert last["action"] == "add" and last["created_at"] == "2026-11-01T00:10:00Z"
    assert last["label"] == {
        "id": last["label"]["id"],
        "name": STATUS_PAGE_LABEL,
        "color": "#428bca",
        "description": "The status page was used to communicate this incident",
    }
    assert last["user"]["username"] == "cmoc-cockpit-bot"
    assert last["resource_id"] == issue["id"] and last["resource_type"] == "Issue"
    assert last["id"] > max(e["id"] for e in events[:-1])


def test_gitlab_scoped_label_replaces_its_sibling_with_a_paired_remove_event(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    path = issue_path(organisation, issue["iid"])
    updated = gitlab(box).put(path, json={"add_labels": "Incident::Mitigated"}).json()
    assert "Incident::Mitigated" in updated["labels"]
    assert "Incident::Active" not in updated["labels"]
    events = gitlab(box).get(f"{path}/resource_label_events", params={"per_page": 100}).json()
    assert [(e["action"], e["label"]["name"]) for e in events[-2:]] == [
        ("remove", "Incident::Active"),
        ("add", "Incident::Mitigated"),
    ]
    assert events[-1]["created_at"] == events[-2]["created_at"]


def test_gitlab_labels_can_be_sent_as_a_form_or_in_the_query(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    path = issue_path(organisation, issue["iid"])
    client = gitlab(box)
    added = client.put(path, data={"add_labels": f"{STATUS_PAGE_LABEL},customer-impact"}).json()
    assert {STATUS_PAGE_LABEL, "customer-impact"} <= set(added["labels"])
    removed = client.put(path, params={"remove_labels": "customer-impact"}).json()
    assert "customer-impact" not in removed["labels"]
    events = client.get(f"{path}/resource_label_events", params={"per_page": 100}).json()
    created_label = [e["label"] for e in events if e["label"]["name"] == "customer-impact"]
    assert [e["action"] for e in events[-3:]] == ["add", "add", "remove"]
    assert created_label[0] == created_label[1] and created_label[0]["color"] == "#6699cc"


def test_gitlab_edit_needs_a_parameter_and_an_existing_issue(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    client = gitlab(box)
    nothing = client.put(issue_path(organisation, issue["iid"]), json={})
    assert nothing.status_code == 400 and "at least one parameter" in nothing.json()["error"]
    missing = client.put(issue_path(organisation, 999_999), json={"add_labels": "x"})
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Not found"})
    project = client.put("/projects/nobody%2Fnothing/issues/1", json={"add_labels": "x"})
    assert project.json() == {"message": "404 Project Not Found"}


def test_gitlab_edit_without_a_label_change_keeps_updated_at(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    response = gitlab(box).put(
        issue_path(organisation, issue["iid"]), json={"add_labels": "incident"}
    )
    assert response.json()["updated_at"] == issue["updated_at"]


def test_gitlab_updated_issue_is_found_by_updated_after(
    box: Sandbox, organisation: Organisation
) -> None:
    issue = open_production_issue(organisation)
    client = gitlab(box)
    project = f"/projects/{organisation.gitlab_projects[0]['id']}/issues"
    after = {"updated_after": "2026-11-01T00:05:00Z"}
    assert client.get(project, params=after).json() == []
    client.put(issue_path(organisation, issue["iid"]), json={"add_labels": STATUS_PAGE_LABEL})
    assert [i["iid"] for i in client.get(project, params=after).json()] == [issue["iid"]]


def test_gitlab_create_issue_answers_201_and_lists_it(
    box: Sandbox, organisation: Organisation
) -> None:
    cmoc = organisation.people_with_role("cmoc")[0]
    project = "/projects/gitlab-com%2Fsupport%2Fdotcom%2Fcmoc-handover/issues"
    body = {
        "title": "CMOC Handover 2026-11-01 APAC",
        "description": "## Incidents\n\nNone.",
        "labels": "Handover",
        "confidential": True,
        "issue_type": "issue",
        "assignee_ids": [cmoc.gitlab_user_id],
    }
    response = gitlab(box).post(project, json=body)
    assert response.status_code == 201
    issue = response.json()
    existing = organisation.gitlab_issues[organisation.handover_project]
    assert issue["iid"] == max(i["iid"] for i in existing) + 1
    assert (issue["title"], issue["labels"], issue["confidential"]) == (
        body["title"],
        ["Handover"],
        True,
    )
    assert issue["state"] == "opened" and issue["created_at"] == "2026-11-01T00:10:00Z"
    assert [a["username"] for a in issue["assignees"]] == [cmoc.gitlab_username]
    assert issue["author"]["username"] == "cmoc-cockpit-bot"
    assert issue["web_url"].endswith(f"/cmoc-handover/-/issues/{issue['iid']}")
    assert set(issue) == set(existing[0])
    newest = gitlab(box).get(project, params={"per_page": 1}).json()
    assert newest == [issue]
    events = (
        gitlab(box)
        .get(f"{project}/{issue['iid']}/resource_label_events", params={"per_page": 100})
        .json()
    )
    assert [(e["action"], e["label"]["name"]) for e in events] == [("add", "Handover")]


def test_gitlab_create_issue_without_a_title_is_400(
    box: Sandbox, organisation: Organisation
) -> None:
    project = f"/projects/{organisation.gitlab_projects[0]['id']}/issues"
    for body in ({"description": "no title"}, {"title": "  "}):
        response = gitlab(box).post(project, json=body)
        assert response.status_code == 400
        assert response.json() == {"message": {"title": ["can't be blank"]}}
    assert (
        box.gitlab.issues[organisation.production_project]
        is (organisation.gitlab_issues[organisation.production_project])
    )


def test_gitlab_create_keeps_one_label_per_scope(box: Sandbox, organisation: Organisation) -> None:
    project = f"/projects/{organisation.gitlab_projects[0]['id']}/issues"
    body = {
        "title": "Incident",
        "labels": "severity::3,severity::2,incident",
        "issue_type": "incident",
    }
    issue = gitlab(box).post(project, data=body).json()
    assert issue["labels"] == ["incident", "severity::2"]
    assert issue["severity"] == "HIGH" and issue["type"] == "INCIDENT"


# Slack


def test_settings_name_two_slack_webhooks_and_zendesk(
    box: Sandbox, organisation: Organisation
) -> None:
    settings = box.settings("http://127.0.0.1:9999")
    hooks = settings["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")
    assert len(hooks) == 2
    assert all(
        re.fullmatch(r"http://127\.0\.0\.1:9999/slack/services/T\w+/B\w+/\w{24}", h) for h in hooks
    )
    assert settings["ZENDESK_URL"] == "http://127.0.0.1:9999/zendesk"
    assert settings["ZENDESK_EMAIL"] == organisation.people_with_role("cmoc")[0].email
    assert settings["ZENDESK_API_TOKEN"]
    assert list(box.slack.hooks.values()) == ["#developer-relations", "#customer-success"]


def test_slack_webhook_answers_ok_and_records_posts_in_order(
    box: Sandbox, clock: StepClock
) -> None:
    first, second = box.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")
    client = httpx.Client(transport=box.transport)
    response = client.post(second, json={"text": "Heads up: *incident*", "blocks": []})
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["content-type"].startswith("text/plain")
    clock.advance(minutes=1)
    client.post(first, data={"payload": '{"text": "second"}'})
    posts = box.slack.messages()
    assert [(p.channel, p.text) for p in posts] == [
        ("#customer-success", "Heads up: *incident*"),
        ("#developer-relations", "second"),
    ]
    assert posts[1].at - posts[0].at == timedelta(minutes=1)
    assert [p.text for p in box.slack.messages("#developer-relations")] == ["second"]
    assert [w.body for w in box.writes("slack")][0] == {
        "text": "Heads up: *incident*",
        "blocks": [],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"blocks": []}', "no_text"),
        (b'{"text": ""}', "no_text"),
        (b'{"text": 5}', "invalid_payload"),
        (b"{not json", "invalid_payload"),
        (b'["text"]', "invalid_payload"),
    ],
)
def test_slack_webhook_refuses_a_payload_without_text(
    box: Sandbox, content: bytes, expected: str
) -> None:
    url = box.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")[0]
    response = httpx.Client(transport=box.transport).post(
        url, content=content, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == (400, expected)
    assert box.slack.posts == []


def test_slack_unknown_webhook_is_no_service(box: Sandbox) -> None:
    url = box.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")[0]
    client = httpx.Client(transport=box.transport)
    for wrong in (url[:-1] + "x", f"{box.BASE_URL}/slack/services/T0/B0/secret"):
        response = client.post(wrong, json={"text": "hello"})
        assert (response.status_code, response.text) == (404, "no_service")
    assert box.slack.posts == []


# Zendesk


def test_zendesk_needs_basic_auth_with_the_api_token(box: Sandbox) -> None:
    settings = box.settings()
    url = f"{settings['ZENDESK_URL']}/api/v2/search.json"
    client = httpx.Client(transport=box.transport)
    email = settings["ZENDESK_EMAIL"]
    for auth in (None, (f"{email}/token", "wrong"), (email, settings["ZENDESK_API_TOKEN"])):
        response = client.get(url, params={"query": "type:ticket"}, auth=auth)
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}
    ok = zendesk(box).get("/search.json", params={"query": "type:ticket"})
    assert ok.status_code == 200


def test_zendesk_tag_search_counts_the_tickets_about_each_active_incident(
    box: Sandbox, organisation: Organisation
) -> None:
    for incident in organisation.statusio_active_incidents():
        query = f"type:ticket tags:{tag_of(incident)}"
        body = zendesk(box).get("/search.json", params={"query": query}).json()
        assert set(body) == {"results", "count", "next_page", "previous_page", "facets"}
        assert 3 <= body["count"] == len(body["results"]) <= 6
        assert body["next_page"] is None and body["previous_page"] is None
        opened = parse_time(incident["datetime_open"])
        for ticket in body["results"]:
            assert tag_of(incident) in ticket["tags"] and ticket["result_type"] == "ticket"
            assert opened < parse_time(ticket["created_at"]) <= END + timedelta(minutes=10)
            assert ticket["url"].endswith(f"/zendesk/api/v2/tickets/{ticket['id']}.json")
            assert {"id", "subject", "status", "created_at", "updated_at"} <= set(ticket)


def test_zendesk_query_terms_filter_by_tags_time_and_status(
    box: Sandbox, organisation: Organisation
) -> None:
    first, second = (tag_of(i) for i in organisation.statusio_active_incidents())

    def count(query: str) -> int:
        return zendesk(box).get("/search.json", params={"query": query}).json()["count"]

    both = count(f"type:ticket tags:{first} tags:{second}")
    assert both == count(f"tags:{first}") + count(f"tags:{second}")
    assert count(f"tags:{first} created>3hours") == count(f"tags:{first}")
    assert count(f"tags:{first} created>1minutes") == 0
    recent = count("type:ticket created>4hours")
    assert 0 < recent < count("type:ticket created>2days")
    handbook = 'created>4hours order_by:created_at sort:desc group:none group:"support" -form:x'
    assert count(handbook) == recent
    open_tickets = zendesk(box).get("/search.json", params={"query": "status<solved"}).json()
    assert {t["status"] for t in open_tickets["results"]} <= {"new", "open", "pending", "hold"}
    assert count("status<solved") + count("status>=solved") == count("type:ticket")
    assert count("type:user") == 0
    assert count(f"-tags:{first} type:ticket") == count("type:ticket") - count(f"tags:{first}")


def test_zendesk_pages_results_and_refuses_past_1000(box: Sandbox) -> None:
    client = zendesk(box)
    first = client.get("/search.json", params={"query": "type:ticket", "per_page": 250}).json()
    assert first["count"] > 1000 and len(first["results"]) == 100
    created = [t["created_at"] for t in first["results"]]
    assert created == sorted(created, reverse=True)
    page_ten = client.get("/search.json", params={"query": "type:ticket", "page": 10}).json()
    assert "page=11" in page_ten["next_page"] and "page=9" in page_ten["previous_page"]
    too_far = client.get("/search.json", params={"query": "type:ticket", "page": 11})
    assert too_far.status_code == 422
    assert too_far.json()["error"] == "invalid"
    small = client.get("/search.json", params={"query": "type:ticket", "per_page": 50, "page": 21})
    assert small.status_code == 422
    oldest = client.get(
        "/search.json",
        params={
            "query": "type:ticket",
            "sort_by": "created_at",
            "sort_order": "asc",
            "per_page": 5,
        },
    ).json()["results"]
    assert [t["created_at"] for t in oldest] == sorted(t["created_at"] for t in oldest)
    assert oldest[0]["created_at"] < created[-1]


def test_zendesk_tickets_keep_arriving_as_the_clock_moves(
    box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    query = {"query": f"tags:{tag_of(organisation.statusio_active_incidents()[0])}"}
    before = zendesk(box).get("/search.json", params=query).json()["count"]
    clock.advance(hours=4)
    assert zendesk(box).get("/search.json", params=query).json()["count"] > before


def test_zendesk_tickets_are_deterministic(organisation: Organisation) -> None:
    assert [t.data for t in generate_tickets(organisation)] == [
        t.data for t in generate_tickets(copy.deepcopy(organisation))
    ]


# The sandbox as a whole


def test_two_sandboxes_over_one_organisation_do_not_share_writes(
    organisation: Organisation, clock: StepClock
) -> None:
    pristine = copy.deepcopy(organisation)
    writer, reader = Sandbox(organisation, clock=clock), Sandbox(organisation, clock=clock)
    create_incident(writer, organisation)
    first = organisation.statusio_active_incidents()[0]
    update = {
        "statuspage_id": organisation.statuspage_id,
        "incident_id": first["_id"],
        "incident_details": "Update.",
        "current_status": 300,
        "current_state": 200,
    }
    statusio(writer).post("/incident/update", json=update)
    page = triggered_cmoc_page(organisation)
    ack = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    pagerduty(writer).put(f"/incidents/{page['id']}", json=ack)
    issue = open_production_issue(organisation)
    gitlab(writer).put(issue_path(organisation, issue["iid"]), json={"add_labels": "X::Y"})
    assert len(active(writer, organisation.statuspage_id)) == 3
    assert len(active(reader, organisation.statuspage_id)) == 2
    reader_first = statusio(reader).get(f"/incident/{organisation.statuspage_id}/{first['_id']}")
    assert reader_first.json()["result"][0]["messages"] == first["messages"]
    assert pagerduty(reader).get(f"/incidents/{page['id']}").json()["incident"]["status"] == (
        "triggered"
    )
    assert "X::Y" not in gitlab(reader).get(issue_path(organisation, issue["iid"])).json()["labels"]
    assert organisation == pristine


def test_writes_lists_non_get_requests_in_order_with_parsed_bodies(
    box: Sandbox, organisation: Organisation
) -> None:
    create_incident(box, organisation)
    statusio(box).get(f"/incident/list/{organisation.statuspage_id}")
    issue = open_production_issue(organisation)
    gitlab(box).put(issue_path(organisation, issue["iid"]), data={"add_labels": "a,b"})
    writes = box.writes()
    assert [(w.method, w.service, w.path) for w in writes] == [
        ("POST", "statusio", "/incident/create"),
        ("PUT", "gitlab", f"/projects/7444821/issues/{issue['iid']}"),
    ]
    assert writes[0].body["incident_name"] == "Elevated error rates on GitLab.com"
    assert writes[1].body == {"add_labels": "a,b"}
    assert box.writes("gitlab") == writes[1:]
    assert box.count() == 3


def test_faults_apply_to_slack_and_zendesk(box: Sandbox) -> None:
    box.add_fault(Fault(service="slack", status=500, body="rollup_error"))
    box.add_fault(Fault(service="zendesk", status=429, headers={"Retry-After": "7"}))
    url = box.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")[0]
    failed = httpx.Client(transport=box.transport).post(url, json={"text": "hi"})
    assert (failed.status_code, failed.text) == (500, "rollup_error")
    limited = zendesk(box).get("/search.json", params={"query": "type:ticket"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert box.slack.posts == [] and len(box.writes("slack")) == 1


def test_default_clock_starts_at_the_end_and_keeps_moving(organisation: Organisation) -> None:
    sandbox = Sandbox(organisation)
    first = sandbox.now()
    assert first.tzinfo is not None and timedelta(0) <= first - organisation.end < timedelta(
        seconds=5
    )
    assert sandbox.now() >= first


def test_a_naive_clock_is_refused(organisation: Organisation) -> None:
    sandbox = Sandbox(organisation, clock=lambda: datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        sandbox.now()


def test_writes_work_over_http(box: Sandbox, organisation: Organisation) -> None:
    server, thread = box.serve()
    try:
        settings = box.settings(f"http://127.0.0.1:{server.server_address[1]}")
        body = create_body(organisation.statuspage_id, organisation.statusio_components[:1])
        headers = {
            "x-api-id": settings["STATUSIO_API_ID"],
            "x-api-key": settings["STATUSIO_API_KEY"],
        }
        created = httpx.post(
            f"{settings['STATUSIO_API_URL']}/incident/create", json=body, headers=headers, timeout=5
        )
        assert HEX24.fullmatch(created.json()["result"])
        hook = settings["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")[1]
        posted = httpx.post(hook, json={"text": "over http"}, timeout=5)
        assert (posted.status_code, posted.text) == (200, "ok")
        assert box.slack.messages("#customer-success")[0].text == "over http"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_later_sync_sees_what_was_written(
    sqlite_engine: Engine, box: Sandbox, organisation: Organisation, clock: StepClock
) -> None:
    def sync(now: datetime) -> None:
        settings = settings_from_mapping(box.settings())
        clients = build_clients(
            settings, transport=box.transport, sleep=lambda _s: None, statusio_min_interval=0
        )
        try:
            assert run_sync(engine=sqlite_engine, settings=settings, clients=clients, now=now).ok
        finally:
            clients.close()

    sync(END)
    incident_id = create_incident(box, organisation)
    page = triggered_cmoc_page(organisation)
    ack = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    pagerduty(box).put(f"/incidents/{page['id']}", json=ack)
    linked = production_issue_iid(organisation.statusio_active_incidents()[0])
    assert linked is not None
    gitlab(box).put(issue_path(organisation, linked), json={"add_labels": "Incident::Mitigated"})
    sync(clock.advance(minutes=50))
    with Session(sqlite_engine) as session:
        stored = session.get(StatusPageIncident, incident_id)
        assert stored is not None and not stored.resolved
        acknowledged = session.get(PagerDutyIncident, page["id"])
        assert acknowledged is not None and acknowledged.status == "acknowledged"
        assert acknowledged.acknowledged_at is not None
        labels = session.exec(
            select(GitLabLabelEvent.label_name, GitLabLabelEvent.action).where(
                GitLabLabelEvent.created_at >= END
            )
        ).all()
    assert ("Incident::Mitigated", "add") in labels and ("Incident::Active", "remove") in labels
