"""Slack incoming webhooks: the Incident Notifier's destinations."""

from __future__ import annotations

from typing import Any

import httpx

from cmoc_core.clients.http import ApiBadResponse, JsonApi

API = "Slack"


class SlackWebhook:
    """One incoming webhook; its URL is a secret and never shows in errors."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        self.name = name or "webhook"
        base, _, self._last = url.rstrip("/").rpartition("/")
        self.http = JsonApi(
            api=API,
            base_url=base,
            headers={},
            secrets=[url, url.split("/services/")[-1]],
            transport=transport,
            **options,
        )

    def post(self, text: str) -> None:
        """Post a message to the webhook's exact URL; Slack answers the plain text `ok`."""
        call = f"post to {self.name}"
        response = self.http.request("POST", self._last, call=call, body={"text": text})
        if response.text.strip() != "ok":
            cause = f"unexpected answer {self.http.redact(response.text.strip())[:60]!r}"
            raise self.http.error(ApiBadResponse, call, cause)
