"""The sandbox's GitLab acts for another user with `sudo`, as GitLab lets administrators do."""

from __future__ import annotations

import httpx
import pytest

from cmoc_core.sandbox import Organisation, Sandbox

HANDOVER_ISSUES = "/projects/gitlab-com%2Fsupport%2Fdotcom%2Fcmoc-handover/issues"
BODY = {"title": "CMOC Handover 2026-11-01 APAC", "labels": "Handover", "confidential": True}


@pytest.fixture
def gitlab(sandbox: Sandbox) -> httpx.Client:
    settings = sandbox.settings()
    return httpx.Client(
        transport=sandbox.transport,
        base_url=f"{settings['GITLAB_URL']}/api/v4",
        headers={"PRIVATE-TOKEN": settings["GITLAB_TOKEN"]},
    )


def handover_count(sandbox: Sandbox, organisation: Organisation) -> int:
    return len(sandbox.gitlab.issues[organisation.handover_project])


def test_sudo_by_username_makes_that_user_the_author_of_a_confidential_issue(
    gitlab, sandbox, organisation
):
    cmoc = organisation.people_with_role("cmoc")[0]
    response = gitlab.post(HANDOVER_ISSUES, json={**BODY, "sudo": cmoc.gitlab_username})
    assert response.status_code == 201
    issue = response.json()
    assert (issue["author"]["id"], issue["author"]["username"]) == (
        cmoc.gitlab_user_id,
        cmoc.gitlab_username,
    )
    assert issue["confidential"] is True
    events = gitlab.get(f"{HANDOVER_ISSUES}/{issue['iid']}/resource_label_events").json()
    assert [e["user"]["username"] for e in events] == [cmoc.gitlab_username]


def test_the_sudo_header_takes_a_user_id_and_applies_to_reads(gitlab, organisation):
    cmoc = organisation.people_with_role("cmoc")[1]
    me = gitlab.get("/user", headers={"Sudo": str(cmoc.gitlab_user_id)}).json()
    assert (me["id"], me["username"]) == (cmoc.gitlab_user_id, cmoc.gitlab_username)
    assert gitlab.get("/user").json()["username"] == "cmoc-cockpit-bot"


def test_sudo_to_an_unknown_user_is_404_and_creates_nothing(gitlab, sandbox, organisation):
    before = handover_count(sandbox, organisation)
    response = gitlab.post(HANDOVER_ISSUES, json={**BODY, "sudo": "nobody-by-that-name"})
    assert (response.status_code, response.json()) == (404, {"message": "404 User Not Found"})
    assert handover_count(sandbox, organisation) == before


def test_a_token_that_is_not_an_administrators_may_not_use_sudo(gitlab, sandbox, organisation):
    sandbox.gitlab.admin = False
    cmoc = organisation.people_with_role("cmoc")[0]
    before = handover_count(sandbox, organisation)
    response = gitlab.post(HANDOVER_ISSUES, params={"sudo": cmoc.gitlab_username}, json=BODY)
    assert (response.status_code, response.json()) == (
        403,
        {"message": "403 Forbidden - Must be admin to use sudo"},
    )
    assert handover_count(sandbox, organisation) == before
    assert gitlab.post(HANDOVER_ISSUES, json=BODY).status_code == 201
