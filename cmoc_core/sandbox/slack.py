"""Fake Slack hooks: an incoming webhook per channel, and the Incident Notifier's trigger.

Incoming webhooks answer in plain text: `ok`, or an error word with its HTTP status
(api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks). A Workflow
Builder webhook trigger starts a workflow with the flat string variables it declares and
answers JSON: `{"ok": true}`, or `{"ok": false, "error": …}` (slackapi/node-slack-sdk
packages/webhook/src/WebhookTrigger.ts and WebhookTrigger.test.ts).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cmoc_core.sandbox.body import FORM_TYPE, form_dict
from cmoc_core.sandbox.organisation import Organisation

CHANNELS = ("#developer-relations", "#customer-success")
# Where the cockpit's "update due" reminders go (CMOC_REMINDER_WEBHOOK_URL): not a notifier channel.
REMINDER_CHANNEL = "#cmoc-reminders"
_UPPER = string.ascii_uppercase + string.digits
_SECRET = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Workflow:
    """A Workflow Builder workflow started by a webhook trigger, and the message it posts.

    `variables` are the names the workflow declares with the labels its message shows; the
    Incident Notifier's are the handbook's form fields, and it posts to every stakeholder
    channel.
    """

    name: str
    variables: tuple[tuple[str, str], ...]
    channels: tuple[str, ...]

    def message(self, values: dict[str, str]) -> str:
        """The message the workflow posts: one declared variable a line, as its label shows it."""
        return "\n".join(f"*{label}*: {values.get(name, '')}" for name, label in self.variables)


INCIDENT_NOTIFIER = Workflow(
    name="Incident Notifier",
    variables=(
        ("summary", "Summary"),
        ("severity", "Severity"),
        ("production_issue", "Production issue"),
        ("incident_slack_channel", "Incident Slack channel"),
        ("status_page", "Status page"),
    ),
    channels=CHANNELS,
)


@dataclass(frozen=True)
class SlackPost:
    """One message that reached a channel, in the order it arrived.

    `payload` is what the hook received: a webhook's message, or a trigger's variables, which
    the workflow lays out as `text`; `workflow` names the workflow that posted it, if any.
    """

    channel: str
    path: str
    payload: dict[str, Any]
    at: datetime
    text: str
    workflow: str | None = None


def _plain(status: int, text: str) -> httpx.Response:
    return httpx.Response(
        status, headers={"content-type": "text/plain; charset=utf-8"}, content=text.encode()
    )


def _answer(status: int, *, error: str | None = None) -> httpx.Response:
    """A trigger's JSON answer (WebhookTriggerResult: `ok`, and `error` when it is false)."""
    body: dict[str, Any] = {"ok": True} if error is None else {"ok": False, "error": error}
    return httpx.Response(status, json=body)


def _payload(request: httpx.Request) -> Any:
    """The JSON payload, sent as the body or as the `payload` field of a form."""
    text = request.content.decode("utf-8", errors="replace")
    if FORM_TYPE in request.headers.get("content-type", "").lower():
        text = str(form_dict(text).get("payload", ""))
    try:
        return json.loads(text)
    except ValueError:
        return None


class SlackServer:
    """Incoming webhooks for the stakeholder channels, and the Incident Notifier's trigger."""

    def __init__(self, org: Organisation, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: org.end)
        rng = random.Random(f"slack-{org.seed}")
        team = "T" + "".join(rng.choices(_UPPER, k=10))
        self.hooks: dict[str, str] = {}
        for channel in CHANNELS:
            bot = "B" + "".join(rng.choices(_UPPER, k=10))
            secret = "".join(rng.choices(_SECRET, k=24))
            self.hooks[f"/services/{team}/{bot}/{secret}"] = channel
        # Shaped as docs.slack.dev shows one: /triggers/T0123456789/3141592653589/c6e6c0d8…
        trigger = "".join(rng.choices(string.digits, k=13))
        secret = "".join(rng.choices(_HEX, k=31))
        self.triggers: dict[str, Workflow] = {
            f"/triggers/{team}/{trigger}/{secret}": INCIDENT_NOTIFIER
        }
        # Made after the others, so that their paths stay as they were.
        bot = "B" + "".join(rng.choices(_UPPER, k=10))
        secret = "".join(rng.choices(_SECRET, k=24))
        self.reminder_path = f"/services/{team}/{bot}/{secret}"
        self.posts: list[SlackPost] = []

    def path_for(self, channel: str) -> str:
        """The webhook path (after the `/slack` prefix) that posts to `channel`."""
        return next(path for path, name in self.hooks.items() if name == channel)

    def trigger_path(self, workflow: str = INCIDENT_NOTIFIER.name) -> str:
        """The trigger path (after the `/slack` prefix) that starts the named workflow."""
        return next(path for path, flow in self.triggers.items() if flow.name == workflow)

    def messages(self, channel: str | None = None) -> list[SlackPost]:
        """The posts in arrival order, for one channel or all."""
        return [post for post in self.posts if channel is None or post.channel == channel]

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Slack's answer to `request`; `path` is the part after the `/slack` prefix."""
        if path.startswith("/triggers/"):
            return self._trigger(request, path)
        channel = REMINDER_CHANNEL if path == self.reminder_path else self.hooks.get(path)
        if channel is None:
            return _plain(404, "no_service")
        if request.method != "POST":
            return _plain(400, "invalid_payload")
        payload = _payload(request)
        if not isinstance(payload, dict):
            return _plain(400, "invalid_payload")
        text = payload.get("text")
        if text is None or text == "":
            return _plain(400, "no_text")
        if not isinstance(text, str):
            return _plain(400, "invalid_payload")
        self.posts.append(
            SlackPost(channel=channel, path=path, payload=payload, at=self.clock(), text=text)
        )
        return _plain(200, "ok")

    def _trigger(self, request: httpx.Request, path: str) -> httpx.Response:
        """Start the workflow with the request's variables; it posts to each of its channels.

        An unknown trigger is refused as WebhookTrigger.test.ts shows a refusal (401,
        `invalid_auth`). Slack asks for a flat object of string values; what it answers to
        anything else is not documented, so the sandbox refuses it (400, `invalid_payload`)
        rather than let a wrong body pass. Variables the workflow does not declare are ignored.
        """
        workflow = self.triggers.get(path)
        if workflow is None:
            return _answer(401, error="invalid_auth")
        try:
            payload = json.loads(request.content.decode("utf-8")) if request.content else {}
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or request.method != "POST":
            return _answer(400, error="invalid_payload")
        if not all(isinstance(value, str) for value in payload.values()):
            return _answer(400, error="invalid_payload")
        declared = {name: payload.get(name, "") for name, _ in workflow.variables}
        at = self.clock()
        for channel in workflow.channels:
            self.posts.append(
                SlackPost(
                    channel=channel,
                    path=path,
                    payload=declared,
                    at=at,
                    text=workflow.message(declared),
                    workflow=workflow.name,
                )
            )
        return _answer(200)
