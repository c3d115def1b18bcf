"""Test connection: each source's cheap reads against the sandbox, faults in one line each.

The sandbox is the other side of the wire; its new endpoints are checked against the documented
fields here too (PagerDuty getCurrentUser, GitLab personal_access_tokens/self and projects/:id,
Zendesk users/me).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import httpx
import pytest

from cmoc_core import notifier
from cmoc_core.config import settings_from_mapping
from cmoc_core.connection import (
    ConnectionReport,
    Service,
    Verdict,
    check_connection,
)
from cmoc_core.sandbox import Fault, Organisation, Sandbox
from cmoc_core.sandbox import gitlab as fake_gitlab
from cmoc_core.sandbox import pagerduty as fake_pagerduty
from cmoc_core.sandbox.organisation import parse_time

# doc/api/personal_access_tokens.md example plus `last_used_ips`
# (lib/api/entities/personal_access_token_with_last_used_ips.rb).
GITLAB_TOKEN_FIELDS = {
    "id",
    "name",
    "revoked",
    "created_at",
    "description",
    "scopes",
    "user_id",
    "last_used_at",
    "active",
    "expires_at",
    "last_used_ips",
}


def check(sandbox: Sandbox, service: Service, **overrides: str) -> ConnectionReport:
    """Test one source of the sandbox; an override of "" unsets that setting."""
    settings = settings_from_mapping({**sandbox.settings(), **overrides})
    return check_connection(
        service,
        settings=settings,
        transport=sandbox.transport,
        now=sandbox.now(),
        sleep=lambda _: None,
    )


def lines(report: ConnectionReport, verdict: Verdict | None = None) -> list[str]:
    return [f.text for f in report.findings if verdict is None or f.verdict == verdict]


def one(report: ConnectionReport, verdict: Verdict, words: str) -> str:
    found = [text for text in lines(report, verdict) if words in text]
    assert len(found) == 1, (words, report.findings)
    return found[0]


def api(sandbox: Sandbox, service: str, token_header: dict[str, str]) -> httpx.Client:
    prefix = {"pagerduty": "/pagerduty", "gitlab": "/gitlab/api/v4", "zendesk": "/zendesk/api/v2"}
    return httpx.Client(
        transport=sandbox.transport,
        base_url=f"{sandbox.BASE_URL}{prefix[service]}",
        headers=token_header,
    )


# PagerDuty ----------------------------------------------------------------------------------


def test_pagerduty_account_key_counts_pages_names_schedules_and_finds_the_from_user(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    report = check(sandbox, Service.PAGERDUTY)

    assert report.ok and report.verdict == Verdict.NOTE
    one(report, Verdict.NOTE, "An account-level API key: PagerDuty cannot say which user")
    now = sandbox.now()
    expected = sum(
        1
        for i in organisation.pd_incidents
        if i["service"]["id"] in organisation.cmoc_service_ids
        and now - timedelta(days=30) <= parse_time(i["created_at"]) < now
    )
    assert expected > 0
    counted = one(report, Verdict.OK, "Can read incidents:")
    assert f"{expected:,} page" in counted and "on the 1 CMOC service" in counted
    schedules = one(report, Verdict.OK, "Can read 4 schedules:")
    for schedule in organisation.pd_schedules:
        assert schedule["name"] in schedules
    cmoc = organisation.people_with_role("cmoc")[0]
    from_user = one(report, Verdict.OK, "PAGERDUTY_FROM_EMAIL is")
    assert cmoc.name in from_user and cmoc.email in from_user
    # users/me, incidents, 4 schedules, users?query=
    assert report.requests == 7
    assert sandbox.writes() == []


def test_pagerduty_user_key_names_its_user(sandbox: Sandbox, organisation: Organisation) -> None:
    cmoc = organisation.people_with_role("cmoc")[1]
    assert cmoc.pagerduty_user_id
    sandbox.pagerduty.user_tokens["user-level-key"] = cmoc.pagerduty_user_id

    report = check(sandbox, Service.PAGERDUTY, PAGERDUTY_API_TOKEN="user-level-key")

    line = one(report, Verdict.OK, "A user-level API key of")
    assert cmoc.name in line and cmoc.email in line and "Manager" in line
    assert not lines(report, Verdict.NOTE)


def test_sandbox_users_me_answers_the_user_for_a_user_key_and_400_for_an_account_key(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    cmoc = organisation.people_with_role("cmoc")[0]
    assert cmoc.pagerduty_user_id
    sandbox.pagerduty.user_tokens["user-level-key"] = cmoc.pagerduty_user_id
    mine = api(sandbox, "pagerduty", {"Authorization": "Token token=user-level-key"})
    account = api(sandbox, "pagerduty", {"Authorization": f"Token token={fake_pagerduty.TOKEN}"})

    me = mine.get("/users/me").json()["user"]
    refused = account.get("/users/me")

    assert me == mine.get(f"/users/{cmoc.pagerduty_user_id}").json()["user"]
    assert refused.status_code == 400
    assert "account-level access token" in refused.json()["error"]["message"]


def test_pagerduty_users_query_finds_a_user_by_email(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    cmoc = organisation.people_with_role("cmoc")[0]
    account = api(sandbox, "pagerduty", {"Authorization": f"Token token={fake_pagerduty.TOKEN}"})

    users = account.get("/users", params={"query": cmoc.email.upper()}).json()["users"]

    assert [u["email"] for u in users] == [cmoc.email]


def test_pagerduty_from_email_unknown_or_read_only_is_said_with_what_to_do(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    unknown = check(sandbox, Service.PAGERDUTY, PAGERDUTY_FROM_EMAIL="nobody@example.com")
    cmoc = organisation.people_with_role("cmoc")[0]
    readonly = [
        {**u, "role": "read_only_user"} if u["email"] == cmoc.email else u
        for u in organisation.pd_users
    ]
    sandbox.pagerduty.org = dataclasses.replace(organisation, pd_users=readonly)
    stakeholder = check(sandbox, Service.PAGERDUTY)
    unset = check(sandbox, Service.PAGERDUTY, PAGERDUTY_FROM_EMAIL="")

    assert not unknown.ok
    one(unknown, Verdict.FAIL, "nobody@example.com is not a PagerDuty user")
    line = one(stakeholder, Verdict.WARN, "who may not act on incidents")
    assert "Full Stakeholder" in line and "Responder role" in line
    one(unset, Verdict.WARN, "PAGERDUTY_FROM_EMAIL is not set")


def test_pagerduty_settings_that_sync_nothing_are_named(sandbox: Sandbox) -> None:
    no_services = check(sandbox, Service.PAGERDUTY, PAGERDUTY_CMOC_SERVICE_IDS="")
    no_schedules = check(
        sandbox,
        Service.PAGERDUTY,
        PAGERDUTY_CMOC_SCHEDULE_IDS="",
        PAGERDUTY_SHADOW_SCHEDULE_IDS="",
    )
    wrong_schedule = check(sandbox, Service.PAGERDUTY, PAGERDUTY_SHADOW_SCHEDULE_IDS="PNOSUCH")

    one(no_services, Verdict.WARN, "PAGERDUTY_CMOC_SERVICE_IDS is not set: no page will be")
    one(no_schedules, Verdict.WARN, "PAGERDUTY_CMOC_SCHEDULE_IDS is not set")
    one(wrong_schedule, Verdict.WARN, "Schedule PNOSUCH of PAGERDUTY_SHADOW_SCHEDULE_IDS was not")
    one(wrong_schedule, Verdict.OK, "Can read 3 schedules:")


def test_pagerduty_refused_key_is_one_line_and_ends_the_test(sandbox: Sandbox) -> None:
    report = check(sandbox, Service.PAGERDUTY, PAGERDUTY_API_TOKEN="wrong-key")

    assert lines(report) == [
        "PagerDuty refused the credentials (HTTP 401: Authentication failed): check "
        "PAGERDUTY_API_TOKEN; they may be mistyped, expired or revoked."
    ]
    assert report.requests == 1
    assert report.headline() == "PagerDuty does not work (1 read, nothing written)."


@pytest.mark.parametrize(
    ("fault", "expected", "requests"),
    [
        (
            Fault(service="pagerduty", kind="refused", times=None),
            "Could not connect to PagerDuty at sandbox.invalid: check PAGERDUTY_API_URL and "
            "that this machine can reach it.",
            2,
        ),
        (
            Fault(service="pagerduty", kind="timeout", times=None),
            "PagerDuty at sandbox.invalid did not answer in time (no answer within 10 s; 2 "
            "attempts made): test again later; if it goes on, check PAGERDUTY_API_URL.",
            2,
        ),
        (
            Fault(service="pagerduty", status=503, times=None),
            "PagerDuty failed with HTTP 503 when asked to read the token's user: the service is "
            "having trouble, not this set-up; test again later.",
            2,
        ),
        (
            Fault(service="pagerduty", status=429, times=None),
            "PagerDuty is limiting requests (HTTP 429): wait a minute, then test again.",
            2,
        ),
    ],
)
def test_pagerduty_unreachable_or_failing_is_one_line(
    sandbox: Sandbox, fault: Fault, expected: str, requests: int
) -> None:
    sandbox.add_fault(fault)

    report = check(sandbox, Service.PAGERDUTY)

    assert lines(report) == [expected]
    assert report.requests == requests


def test_pagerduty_forbidden_schedules_are_one_line_and_the_from_user_is_still_checked(
    sandbox: Sandbox,
) -> None:
    body = json.dumps({"error": {"message": "Access Denied", "code": 2010}})
    sandbox.add_fault(
        Fault(service="pagerduty", path_contains="/schedules", status=403, body=body, times=None)
    )

    report = check(sandbox, Service.PAGERDUTY)

    failed = one(report, Verdict.FAIL, "HTTP 403: Access Denied")
    assert failed.startswith("PagerDuty would not let this credential read schedule ")
    one(report, Verdict.OK, "PAGERDUTY_FROM_EMAIL is")


# Status.io ----------------------------------------------------------------------------------


def test_statusio_lists_each_pages_components(sandbox: Sandbox, organisation: Organisation) -> None:
    report = check(sandbox, Service.STATUSIO)

    page = one(report, Verdict.OK, f"Status page {organisation.statuspage_id}:")
    assert f"{len(organisation.statusio_components)} components" in page
    assert organisation.statusio_components[0]["name"] in page
    one(report, Verdict.OK, f"Practice status page {organisation.practice_statuspage_id}:")
    one(report, Verdict.NOTE, "says neither a page's name")
    assert report.requests == 2


def test_statusio_unknown_page_and_refused_key_say_which_setting(sandbox: Sandbox) -> None:
    unknown = check(sandbox, Service.STATUSIO, STATUSIO_STATUSPAGE_ID="000000000000000000000000")
    refused = check(sandbox, Service.STATUSIO, STATUSIO_API_KEY="wrong-key")

    line = one(unknown, Verdict.FAIL, "status page 000000000000000000000000")
    assert "Statuspage not found" in line and "check STATUSIO_STATUSPAGE_ID" in line
    assert lines(refused, Verdict.FAIL) == [
        "Status.io refused the credentials (HTTP 401: Authentication failed): check "
        "STATUSIO_API_ID and STATUSIO_API_KEY; they may be mistyped, expired or revoked."
    ]
    assert refused.requests == 1


# GitLab -------------------------------------------------------------------------------------


def test_gitlab_admin_token_with_sudo_names_user_scopes_sudo_and_projects(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    report = check(sandbox, Service.GITLAB)

    assert report.verdict == Verdict.OK
    assert lines(report) == [
        "The token belongs to @cmoc-cockpit-bot (CMOC Cockpit), an administrator.",
        "Scopes api, sudo: it can read, label the incident issue and create handovers.",
        "It may act for a CMOC (sudo): handover issues are created in the CMOC's name, and "
        "people's primary e-mails help match them.",
        f"The production project {organisation.production_project}: as an administrator it "
        "sees confidential incident issues and may label them.",
        f"The handover project {organisation.handover_project}: as an administrator it may "
        "create confidential handover issues with labels.",
    ]
    assert report.requests == 4


def test_gitlab_without_sudo_scope_or_admin_says_how_handovers_are_created(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    sandbox.gitlab.sudo_scope = False
    no_scope = check(sandbox, Service.GITLAB)
    sandbox.gitlab.admin = False
    sandbox.gitlab.memberships = {organisation.production_project: 20}
    member = check(sandbox, Service.GITLAB)

    one(no_scope, Verdict.NOTE, "An administrator's token without the sudo scope")
    one(member, Verdict.NOTE, "Not an administrator, so it cannot act for a CMOC (sudo)")
    one(member, Verdict.OK, "The token belongs to @cmoc-cockpit-bot (CMOC Cockpit).")
    one(member, Verdict.OK, f"The production project {organisation.production_project}: a Reporter")
    handover = one(member, Verdict.WARN, f"The handover project {organisation.handover_project}")
    assert "not a member" in handover and "make it a Reporter" in handover


def test_gitlab_read_only_or_expiring_token_is_a_warning(sandbox: Sandbox) -> None:
    sandbox.gitlab.token_scopes = ["read_api"]
    sandbox.gitlab.token_expires_at = sandbox.now().date() + timedelta(days=5)

    report = check(sandbox, Service.GITLAB)

    one(report, Verdict.WARN, "Scopes read_api: syncing works, but labelling")
    expires = sandbox.now().date() + timedelta(days=5)
    one(report, Verdict.WARN, f"The token expires on {expires:%d-%m-%Y}")
    one(report, Verdict.NOTE, "without the sudo scope")


def test_gitlab_token_that_is_no_personal_access_token_still_names_its_user(
    sandbox: Sandbox,
) -> None:
    body = json.dumps(
        {
            "message": "400 Bad request - This endpoint requires token type to be a personal "
            "access token"
        }
    )
    sandbox.add_fault(
        Fault(service="gitlab", path_contains="/personal_access_tokens/", status=400, body=body)
    )

    report = check(sandbox, Service.GITLAB)

    one(report, Verdict.OK, "The token belongs to @cmoc-cockpit-bot")
    line = one(report, Verdict.NOTE, "GitLab did not say the token's scopes")
    assert "requires token type to be a personal access token" in line
    assert not any("sudo" in text and "may act" in text for text in lines(report))


def test_gitlab_unknown_project_and_refused_token(sandbox: Sandbox) -> None:
    missing = check(sandbox, Service.GITLAB, GITLAB_HANDOVER_PROJECT="no/such-project")
    refused = check(sandbox, Service.GITLAB, GITLAB_TOKEN="wrong-token")

    one(missing, Verdict.FAIL, "Cannot see the handover project no/such-project: check GITLAB_")
    assert lines(refused) == [
        "GitLab refused the credentials (HTTP 401: 401 Unauthorized): check GITLAB_TOKEN; they "
        "may be mistyped, expired or revoked."
    ]


def test_a_service_echoing_a_secret_never_shows_it(sandbox: Sandbox) -> None:
    body = json.dumps({"message": f"401 Unauthorized for token {fake_gitlab.TOKEN}"})
    sandbox.add_fault(Fault(service="gitlab", status=401, body=body))

    report = check(sandbox, Service.GITLAB)

    assert fake_gitlab.TOKEN not in " ".join(lines(report))
    one(report, Verdict.FAIL, "[redacted]")


def test_sandbox_gitlab_reads_answer_the_documented_fields(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    gitlab = api(sandbox, "gitlab", {"PRIVATE-TOKEN": fake_gitlab.TOKEN})
    cmoc = organisation.people_with_role("cmoc")[0]

    token = gitlab.get("/personal_access_tokens/self").json()
    me = gitlab.get("/user").json()
    as_cmoc = gitlab.get("/user", headers={"Sudo": cmoc.gitlab_username}).json()
    project = gitlab.get(f"/projects/{organisation.production_project.replace('/', '%2F')}")

    assert set(token) == GITLAB_TOKEN_FIELDS and token["scopes"] == ["api", "sudo"]
    assert me["is_admin"] is True and "is_admin" not in as_cmoc
    assert project.json()["permissions"] == {"project_access": None, "group_access": None}


def test_sandbox_gitlab_refuses_what_the_token_scopes_do_not_cover(
    sandbox: Sandbox, organisation: Organisation
) -> None:
    gitlab = api(sandbox, "gitlab", {"PRIVATE-TOKEN": fake_gitlab.TOKEN})
    sandbox.gitlab.token_scopes = ["read_user"]
    issues = f"/projects/{organisation.production_project.replace('/', '%2F')}/issues"

    read = gitlab.get(issues)
    me = gitlab.get("/user")

    assert read.status_code == 403 and read.json()["scope"] == "api read_api"
    assert me.status_code == 200


# Zendesk ------------------------------------------------------------------------------------


def test_zendesk_names_the_agent_or_says_an_end_user_cannot_search(sandbox: Sandbox) -> None:
    agent = check(sandbox, Service.ZENDESK)
    sandbox.zendesk.agent_role = "end-user"
    end_user = check(sandbox, Service.ZENDESK)
    refused = check(sandbox, Service.ZENDESK, ZENDESK_API_TOKEN="wrong-token")

    line = one(agent, Verdict.OK, "Signed in as")
    assert sandbox.zendesk_email in line and "an agent: ticket counts will work" in line
    one(end_user, Verdict.FAIL, "an end user: searching tickets needs an agent")
    assert lines(refused) == [
        "Zendesk refused the credentials (HTTP 401: Couldn't authenticate you): check "
        "ZENDESK_EMAIL and ZENDESK_API_TOKEN; they may be mistyped, expired or revoked."
    ]


def test_sandbox_zendesk_users_me_has_the_documented_fields(sandbox: Sandbox) -> None:
    settings = sandbox.settings()
    desk = httpx.Client(
        transport=sandbox.transport,
        base_url=f"{settings['ZENDESK_URL']}/api/v2",
        auth=(f"{settings['ZENDESK_EMAIL']}/token", settings["ZENDESK_API_TOKEN"]),
    )

    user = desk.get("/users/me").json()["user"]

    assert {"id", "name", "email", "role", "active", "suspended"} <= set(user)
    assert user["email"] == settings["ZENDESK_EMAIL"] and user["role"] == "agent"


def test_an_unconfigured_source_says_what_to_set_and_sends_nothing(sandbox: Sandbox) -> None:
    report = check(sandbox, Service.ZENDESK, ZENDESK_URL="", ZENDESK_API_TOKEN="")

    assert not report.configured and report.requests == 0
    assert lines(report) == ["Not configured: set ZENDESK_URL and ZENDESK_API_TOKEN to use it."]
    assert sandbox.count("zendesk") == 0


# Slack --------------------------------------------------------------------------------------

TRIGGER = "https://hooks.slack.com/triggers/T0123456789/3141592653589/c6e6c0d8a1b2c3d4e5f60718"
INCOMING = "https://hooks.slack.com/services/T0123456789/B0123456789/abcdefghijklmnopqrstuvwx"


def test_slack_says_each_hooks_kind_and_channel_never_its_address(sandbox: Sandbox) -> None:
    report = check(
        sandbox,
        Service.SLACK,
        SLACK_NOTIFIER_WEBHOOK_URLS=f"{INCOMING}#developer-relations,{TRIGGER}",
        CMOC_REMINDER_WEBHOOK_URL="https://example.com/hook/abcdefghijklmnop",
    )

    assert lines(report) == [
        "webhook 1 (#developer-relations): an incoming webhook; the notice is posted as a message.",
        "webhook 2: a Workflow Builder trigger; the workflow must declare the variables "
        "summary, severity, production_issue, incident_slack_channel and status_page.",
        "CMOC_REMINDER_WEBHOOK_URL: neither an incoming webhook (…/services/…) nor a Workflow "
        "Builder trigger (…/triggers/…): posting will probably fail; copy it again from Slack. "
        "Its address is not https://hooks.slack.com: check it is the one Slack gave.",
        "Nothing was posted: Slack has no read for a webhook, so only a real post tests one.",
        notifier.NAMING_HINT,  # webhook 2 has no name: the composer calls it by its address
    ]
    shown = " ".join(lines(report)) + report.headline()
    settings = settings_from_mapping(
        {
            "SLACK_NOTIFIER_WEBHOOK_URLS": f"{INCOMING},{TRIGGER}",
            "CMOC_REMINDER_WEBHOOK_URL": "https://example.com/hook/abcdefghijklmnop",
        }
    )
    for secret in settings.secret_values():
        assert secret not in shown
    assert report.requests == 0 and sandbox.count("slack") == 0


def test_an_answer_that_is_not_the_apis_is_one_line(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(service="zendesk", kind="malformed"))
    odd = {"status": {"error": "no", "message": "OK"}, "result": [{"_id": "c1", "containers": 5}]}
    sandbox.add_fault(
        Fault(service="statusio", status=200, body=json.dumps(odd), path_contains="/component/")
    )

    broken = check(sandbox, Service.ZENDESK)
    shaped = check(sandbox, Service.STATUSIO)

    assert lines(broken) == [
        "Zendesk at sandbox.invalid did not answer like its API when asked to read the "
        "signed-in user: check ZENDESK_URL points at the API."
    ]
    one(
        shaped,
        Verdict.FAIL,
        "Status.io at sandbox.invalid answered in a shape this app does not know (TypeError): "
        "check STATUSIO_API_URL points at the API.",
    )
