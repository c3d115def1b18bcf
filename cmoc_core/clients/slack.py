"""Slack incoming webhooks: the Incident Notifier's destinations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from cmoc_core.clients.http import UNCLEAR, ApiOutcomeUnclear, JsonApi
from cmoc_core.redaction import webhook_parts

API = "Slack"


class SlackWebhook:
    """One incoming webhook; its URL is a secret and never shows in errors."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        self.name = name or "webhook"
        base, _, self._last = url.rstrip("/").rpartition("/")
        self.http = JsonApi(
            api=API,
            base_url=base,
            headers={},
            secrets=[*webhook_parts(url), *secrets],
            transport=transport,
            **options,
        )

    def post(self, text: str) -> None:
        """Post a message to the webhook's exact URL.

        An incoming webhook answers the plain text `ok`, a Workflow Builder trigger the JSON
        `{"ok": true}` (slackapi/node-slack-sdk packages/webhook). Any other success answer
        cannot be read, so whether the post went out is unclear.
        """
        call = f"post to {self.name}"
        response = self.http.request("POST", self._last, call=call, body={"text": text})
        answer = response.text.strip()
        if answer == "ok" or _json_ok(answer):
            return
        cause = f"unreadable answer {self.http.redact(answer)[:60]!r}; {UNCLEAR}"
        raise self.http.error(ApiOutcomeUnclear, call, cause)


def _json_ok(answer: str) -> bool:
    try:
        return json.loads(answer).get("ok") is True
    except (ValueError, AttributeError):
        return False
