"""The write side of the clients against the sandbox: exact requests, plain errors."""

from __future__ import annotations

import pytest

from cmoc_core.clients import build_clients
from cmoc_core.clients.http import ApiAuthError, ApiRejected
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox.zendesk import production_issue_iid


def test_slack_posts_to_the_exact_webhook_url_and_gets_ok(clients, sandbox):
    clients.slack[0].post("*Summary*: errors")
    post = sandbox.slack.posts[0]
    assert post.text == "*Summary*: errors"
    assert sandbox.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(",")[0].endswith(post.path)


def test_an_unknown_webhook_is_rejected_without_showing_its_secret(sandbox):
    values = {
        **sandbox.settings(),
        "SLACK_NOTIFIER_WEBHOOK_URLS": "http://sandbox.invalid/slack/services/T1/B1/s3cretpart",
    }
    webhook = build_clients(settings_from_mapping(values), transport=sandbox.transport).slack[0]
    with pytest.raises(ApiRejected) as caught:
        webhook.post("hello")
    assert "no_service" in str(caught.value) and "s3cretpart" not in str(caught.value)


def test_zendesk_counts_the_tickets_of_an_active_incidents_tag(clients, sandbox):
    iid = production_issue_iid(sandbox.org.statusio_active_incidents()[0])
    count = clients.zendesk.count(f"type:ticket tags:gitlab-com_gl-infra_production_issues_{iid}")
    assert count >= 1
    assert clients.zendesk.count("type:ticket tags:no_such_tag") == 0


def test_zendesk_with_a_wrong_token_is_an_auth_error(sandbox):
    values = {**sandbox.settings(), "ZENDESK_API_TOKEN": "wrong"}
    zendesk = build_clients(settings_from_mapping(values), transport=sandbox.transport).zendesk
    with pytest.raises(ApiAuthError):
        zendesk.count("type:ticket")


def test_pagerduty_writes_need_the_from_address(sandbox):
    values = {**sandbox.settings(), "PAGERDUTY_FROM_EMAIL": ""}
    pagerduty = build_clients(settings_from_mapping(values), transport=sandbox.transport).pagerduty
    with pytest.raises(ApiRejected) as caught:
        pagerduty.acknowledge("PANY")
    assert "PAGERDUTY_FROM_EMAIL" in str(caught.value)
    assert sandbox.writes("pagerduty") == []


def test_gitlab_creates_a_confidential_issue(clients, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    issue = clients.gitlab.create_issue(
        settings.gitlab_handover_project,
        title="CMOC Handover",
        description="Nothing happened.",
        labels=["handover"],
        confidential=True,
    )
    assert issue["confidential"] is True and issue["title"] == "CMOC Handover"
    assert sandbox.writes("gitlab")[0].body["confidential"] is True
