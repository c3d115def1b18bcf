"""Slack Workflow Builder triggers: flat variables in, `{"ok": true}` out, each notice once.

The sandbox's Incident Notifier trigger answers as slackapi/node-slack-sdk's WebhookTrigger
documents it; incoming webhooks answer the plain text `ok`. What counts is what reached the
fake Slack: the trigger requests it handled and the messages its workflow posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy.engine import Engine

from cmoc_core import handbook
from cmoc_core.clients import build_clients
from cmoc_core.clients.http import ApiAuthError, ApiOutcomeUnclear, ApiRejected
from cmoc_core.clients.slack import HookKind, SlackWebhook, notifier_variables
from cmoc_core.config import settings_from_mapping
from cmoc_core.outbox import Outcome
from cmoc_core.sandbox import BASE_URL, Fault, Sandbox
from cmoc_core.sandbox.organisation import Organisation
from cmoc_core.sandbox.slack import CHANNELS
from tests.test_fault_matrix import (
    FAULTS,
    FOLLOW_UPS,
    RETRY_AFTER,
    Killed,
    WireFault,
    World,
    slug,
    small_organisation,
    working_incident,
)

FIELDS = {
    "summary": "Fault matrix: elevated error rates on GitLab.com",
    "severity": "S2",
    "production_issue": "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/21001",
    "incident_slack_channel": "#incident-21001",
    "status_page": "https://status.gitlab.com/pages/incident/5b36dc6502d06804c08349f7/1",
}
NOTICE = handbook.notifier_text(
    summary=FIELDS["summary"],
    severity=2,
    issue_url=FIELDS["production_issue"],
    channel=FIELDS["incident_slack_channel"],
    status_page_url=FIELDS["status_page"],
)


def trigger_url(sandbox: Sandbox) -> str:
    return f"{BASE_URL}/slack{sandbox.slack.trigger_path()}"


def trigger(sandbox: Sandbox, url: str | None = None) -> SlackWebhook:
    values = {**sandbox.settings(), "SLACK_NOTIFIER_WEBHOOK_URLS": url or trigger_url(sandbox)}
    built = build_clients(settings_from_mapping(values), transport=sandbox.transport)
    return built.slack[0]


def webhook(sandbox: Sandbox) -> SlackWebhook:
    built = build_clients(settings_from_mapping(sandbox.settings()), transport=sandbox.transport)
    return built.slack[0]


def raw_post(sandbox: Sandbox, path: str, **kwargs: object) -> httpx.Response:
    return httpx.Client(transport=sandbox.transport).post(f"{BASE_URL}/slack{path}", **kwargs)


# The sandbox answers as the documented shapes -----------------------------------------------


def test_the_sandbox_trigger_answers_json_ok_true_and_its_workflow_posts_to_both_channels(
    sandbox,
):
    response = raw_post(sandbox, sandbox.slack.trigger_path(), json=FIELDS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"ok": True}
    assert [p.channel for p in sandbox.slack.posts] == list(CHANNELS)
    assert all(
        p.payload == FIELDS and p.workflow == "Incident Notifier" for p in sandbox.slack.posts
    )
    assert sandbox.slack.posts[0].text == NOTICE


def test_the_sandbox_refuses_an_unknown_trigger_as_slacks_sdk_shows_a_refusal(sandbox):
    unknown = sandbox.slack.trigger_path().rsplit("/", 1)[0] + "/0123456789abcdef0123456789abcde"
    response = raw_post(sandbox, unknown, json=FIELDS)
    assert (response.status_code, response.json()) == (401, {"ok": False, "error": "invalid_auth"})
    assert sandbox.slack.posts == []


@pytest.mark.parametrize(
    "body",
    [{"summary": {"nested": "x"}}, {"severity": 2}, ["summary"]],
    ids=["nested", "number", "list"],
)
def test_the_sandbox_trigger_refuses_variables_that_are_not_flat_strings(sandbox, body):
    response = raw_post(sandbox, sandbox.slack.trigger_path(), json=body)
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": "invalid_payload"},
    )
    assert sandbox.slack.posts == []


# The client, by the kind of URL -------------------------------------------------------------


def test_a_trigger_gets_the_notifiers_fields_as_flat_string_variables(sandbox):
    hook = trigger(sandbox)
    assert hook.kind == HookKind.WORKFLOW_TRIGGER
    hook.post(NOTICE)
    [request] = sandbox.writes("slack")
    assert request.body == FIELDS
    assert request.headers["content-type"] == "application/json"
    assert [(p.channel, p.payload["summary"]) for p in sandbox.slack.posts] == [
        (channel, FIELDS["summary"]) for channel in CHANNELS
    ]


def test_text_that_names_no_field_is_kept_in_the_summary():
    assert notifier_variables("Heads up\n*Severity*: S1") == {
        "summary": "Heads up",
        "severity": "S1",
        "production_issue": "",
        "incident_slack_channel": "",
        "status_page": "",
    }


def test_a_trigger_answering_plain_ok_is_unclear_not_posted(sandbox):
    sandbox.add_fault(Fault(service="slack", kind="status_after", status=200, body="ok"))
    with pytest.raises(ApiOutcomeUnclear) as caught:
        trigger(sandbox).post(NOTICE)
    assert "workflow trigger" in str(caught.value)
    assert trigger_url(sandbox) not in str(caught.value)


def test_an_incoming_webhook_answering_json_ok_is_unclear_not_posted(sandbox):
    fault = Fault(service="slack", kind="status_after", status=200, body='{"ok": true}')
    sandbox.add_fault(fault)
    with pytest.raises(ApiOutcomeUnclear) as caught:
        webhook(sandbox).post("*Summary*: down")
    assert "incoming webhook" in str(caught.value)


def test_a_trigger_answering_ok_false_did_not_start_and_says_why(sandbox):
    body = '{"ok": false, "error": "invalid_auth"}'  # WebhookTriggerResult: ok, error
    sandbox.add_fault(Fault(service="slack", kind="status", status=200, body=body))
    with pytest.raises(ApiRejected) as caught:
        trigger(sandbox).post(NOTICE)
    assert "the workflow was not started (invalid_auth)" in str(caught.value)
    assert sandbox.slack.posts == []


def test_an_unknown_trigger_is_refused_without_showing_its_secret(sandbox):
    url = f"{BASE_URL}/slack/triggers/T1/2/s3cretpart0123456789"
    with pytest.raises(ApiAuthError) as caught:
        trigger(sandbox, url).post(NOTICE)
    assert "invalid_auth" in str(caught.value) and "s3cretpart" not in str(caught.value)


# Exactly once under damaged traffic ---------------------------------------------------------


class TriggerWorld(World):
    """The fault matrix's world with the Incident Notifier started by its trigger."""

    def __init__(self, organisation: Organisation, engine: Engine) -> None:
        super().__init__(organisation, engine)
        self.settings = settings_from_mapping(
            {**self.sandbox.settings(), "SLACK_NOTIFIER_WEBHOOK_URLS": trigger_url(self.sandbox)}
        )
        self.restart()


@dataclass
class Followed:
    """What one notice under one fault ended with."""

    requests: int
    posts: dict[str, int]
    settled: bool
    story: list[str] = field(default_factory=list)


def arrived(world: World, channel: str) -> int:
    """Messages in `channel` carrying this notice's fields."""
    return sum(p.payload == FIELDS for p in world.sandbox.slack.messages(channel))


def notify_under(fault: WireFault, world: TriggerWorld) -> Followed:
    """Post the notice once under the fault, then follow up as the CMOC would (fault matrix)."""
    incident_id = working_incident(world)
    path = world.sandbox.slack.trigger_path()
    world.later()
    world.wire.handled.clear()
    damaged = fault.inject(world, "slack", f"/slack{path}")
    story: list[str] = []

    def press(act) -> list[Outcome] | None:
        try:
            outcomes = act()
        except Killed:
            story.append("killed before any answer came; the app starts again")
            world.restart()
            return None
        story.extend(f"{o.status.value}: {o.message}" for o in outcomes)
        return outcomes

    def notify() -> list[Outcome]:
        return world.composer().notify(incident_id=incident_id, text=NOTICE, now=world.now())

    def look_then_decide() -> list[Outcome]:
        """Slack cannot be asked: look in the channels, then record it or send it again."""
        publisher = world.composer()
        found = [publisher.unsettled_notices(incident_id=incident_id)[0]]
        if all(arrived(world, channel) for channel in CHANNELS):
            story.append("looked in the channels: the notice is there")
            return [publisher.notice_arrived(notice=n, now=world.now()) for n in found]
        story.append("looked in the channels: the notice is missing; sending it again")
        return [publisher.notify_again(notice=n, now=world.now()) for n in found]

    outcomes, tries = press(notify), 1
    settled = outcomes is not None and all(o.ok for o in outcomes)
    while not settled and tries <= FOLLOW_UPS:
        world.later()
        tries += 1
        unclear = outcomes is not None and any(o.ask_user for o in outcomes)
        outcomes = press(look_then_decide if unclear else notify)
        settled = outcomes is not None and all(o.ok for o in outcomes)
    assert damaged(), "the fault never met the trigger post"
    if fault.kind == "status" and fault.status == 429 and fault.headers:
        assert float(RETRY_AFTER) in world.sleeps, world.sleeps
    return Followed(
        requests=sum(path in handled for handled in world.wire.handled),
        posts={channel: arrived(world, channel) for channel in CHANNELS},
        settled=settled,
        story=story,
    )


@pytest.fixture(scope="module")
def trigger_organisation():
    return small_organisation()


@pytest.mark.parametrize("fault", FAULTS, ids=[slug(f.name) for f in FAULTS])
def test_a_trigger_post_reaches_slack_once_whatever_the_wire_does(
    fault, trigger_organisation, sqlite_engine
):
    world = TriggerWorld(trigger_organisation, sqlite_engine)
    try:
        followed = notify_under(fault, world)
    finally:
        world.close()
    detail = "\n  ".join(followed.story)
    assert followed.requests == 1, detail
    assert followed.posts == dict.fromkeys(CHANNELS, 1), detail
    assert followed.settled, detail
