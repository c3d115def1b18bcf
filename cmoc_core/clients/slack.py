"""Slack hooks for the Incident Notifier: incoming webhooks and Workflow Builder triggers.

An incoming webhook (`hooks.slack.com/services/…`) takes a message `{"text": …}` and answers
the plain text `ok`. A Workflow Builder webhook trigger (`hooks.slack.com/triggers/…`) starts a
workflow: it takes a flat JSON object of string variables the workflow declares and answers the
JSON `{"ok": true}`, or `{"ok": false, "error": …}` (slackapi/node-slack-sdk
packages/webhook/src/WebhookTrigger.ts, `WebhookTriggerSendArguments` and
`WebhookTriggerResult`; docs.slack.dev "Sending data via a webhook to start a Slack workflow").
Each kind's own success answer is the only one that counts as posted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from cmoc_core.clients.http import UNCLEAR, ApiError, ApiOutcomeUnclear, ApiRejected, JsonApi
from cmoc_core.config import WEBHOOK_KEY, Settings
from cmoc_core.handbook import NOTIFIER_FIELDS
from cmoc_core.redaction import webhook_parts

API = "Slack"
INCOMING_OK = "ok"
# One line of the Incident Notifier text as handbook.notifier_text lays it out: `*Field*: value`.
_FIELD_LINE = re.compile(r"^\*(?P<field>[^*]+)\*:\s?(?P<value>.*)$")


class HookKind(StrEnum):
    """What a Slack hook URL is, from its path."""

    INCOMING_WEBHOOK = "incoming webhook"
    WORKFLOW_TRIGGER = "workflow trigger"


def hook_kind(url: str) -> HookKind:
    """A trigger when its path runs through `/triggers/`; otherwise an incoming webhook."""
    segments = httpx.URL(url).path.split("/")
    return HookKind.WORKFLOW_TRIGGER if "triggers" in segments else HookKind.INCOMING_WEBHOOK


# A hook's address runs `/services/<team>/<id>/<secret>` or `/triggers/<team>/<id>/<secret>`:
# the end of its id tells hooks apart; the secret, and the rest of the path, stay unsaid.
_MARKERS = {HookKind.INCOMING_WEBHOOK: "services", HookKind.WORKFLOW_TRIGGER: "triggers"}
ID_TAIL = 4


@dataclass(frozen=True)
class NotifierHook:
    """One item of SLACK_NOTIFIER_WEBHOOK_URLS: its key, the name it gives, its name for people."""

    key: str
    name: str
    known_as: str  # the name, else what the address tells; empty when nothing tells
    url: str = field(repr=False)  # a secret


def notifier_hooks(settings: Settings) -> list[NotifierHook]:
    """The Incident Notifier hooks in order; one without a name is called by what its address
    tells, and two that would read alike also by their place in the setting."""
    hooks = [
        (WEBHOOK_KEY.format(n=n), str(getattr(url, "name", "") or ""), url.get_secret_value())
        for n, url in enumerate(settings.slack_notifier_webhook_urls, start=1)
    ]
    told = [name or described(url) for _, name, url in hooks]
    alike = Counter(told)
    return [
        NotifierHook(
            key, name, f"{known} ({key})" if known and not name and alike[known] > 1 else known, url
        )
        for (key, name, url), known in zip(hooks, told, strict=True)
    ]


def described(url: str) -> str:
    """`Slack workflow trigger …3589`: the hook's kind and the end of its id, or empty."""
    try:
        segments = [part for part in httpx.URL(url).path.split("/") if part]
    except httpx.InvalidURL:
        return ""
    kind = hook_kind(url)
    marker = _MARKERS[kind]
    if marker not in segments:
        return ""
    after = segments[segments.index(marker) + 1 :]
    if len(after) != 3:
        return ""
    return f"Slack {kind} …{after[1][-ID_TAIL:]}"


def variable_name(field: str) -> str:
    """`Production issue` -> `production_issue`: a notifier field as a workflow variable."""
    return re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


# The variables sent to an Incident Notifier trigger: the handbook's form fields (Summary,
# Severity, Production issue, Incident Slack channel, Status page) in snake case. A workflow's
# author names its variables and no public source names these, so the workflow must declare
# exactly these names.
NOTIFIER_VARIABLES = tuple(variable_name(field) for field in NOTIFIER_FIELDS)


def notifier_variables(text: str) -> dict[str, str]:
    """The Incident Notifier text as the workflow's flat string variables, one per field.

    Each `*Field*: value` line fills its variable; a line that names no field joins the
    summary, so no words are dropped. A field the text lacks is sent empty.
    """
    by_field = {field.lower(): variable_name(field) for field in NOTIFIER_FIELDS}
    values: dict[str, list[str]] = {name: [] for name in NOTIFIER_VARIABLES}
    for line in text.strip().splitlines():
        found = _FIELD_LINE.match(line.strip())
        name = by_field.get(found.group("field").strip().lower()) if found else None
        if found and name is not None:
            values[name].append(found.group("value").strip())
        else:
            values[NOTIFIER_VARIABLES[0]].append(line.strip())
    return {name: "\n".join(part for part in parts if part) for name, parts in values.items()}


class SlackWebhook:
    """One Slack hook, an incoming webhook or a workflow trigger; its URL is a secret."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        channel: str = "",
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.name = name or "webhook"
        self.channel = channel  # the destination's name for people (`#developer-relations`)
        self.kind = hook_kind(url)
        base, _, self._last = url.rstrip("/").rpartition("/")
        self.http = JsonApi(
            api=API,
            base_url=base,
            headers={},
            secrets=[*webhook_parts(url), *secrets],
            transport=transport,
            **options,
        )

    def post(self, text: str, *, variables: Mapping[str, str] | None = None) -> None:
        """Post the notice: as a message to a webhook, as flat variables to a trigger.

        A trigger gets `variables` when given, else the notice's fields read from `text`.
        An answer other than the kind's own success answer cannot be read, so whether the post
        went out is unclear; a trigger's `{"ok": false}` says it did not start.
        """
        call = f"post to {self.name}"
        if self.kind == HookKind.INCOMING_WEBHOOK:
            response = self.http.request("POST", self._last, call=call, body={"text": text})
            if response.text.strip() == INCOMING_OK:
                return
            raise self._unreadable(call, response)
        flat = dict(variables) if variables is not None else notifier_variables(text)
        response = self.http.request("POST", self._last, call=call, body=flat)
        answer = _json_object(response)
        if answer is not None and answer.get("ok") is True:
            return
        if answer is not None and answer.get("ok") is False:
            error = self.http.redact(str(answer.get("error") or "no reason given"))
            cause = f"the workflow was not started ({error})"
            raise self.http.error(ApiRejected, call, cause, status=response.status_code)
        raise self._unreadable(call, response)

    def _unreadable(self, call: str, response: httpx.Response) -> ApiError:
        """A success status whose body is not this kind's success answer: unclear."""
        answer = self.http.redact(response.text.strip())[:60]
        cause = f"unreadable answer for a {self.kind} {answer!r}; {UNCLEAR}"
        return self.http.error(ApiOutcomeUnclear, call, cause, status=response.status_code)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        answer = json.loads(response.text)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
