"""Fake Slack incoming webhooks: one URL per channel, answering in plain text."""

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
_UPPER = string.ascii_uppercase + string.digits
_SECRET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SlackPost:
    """One message a webhook accepted, in the order it arrived."""

    channel: str
    path: str
    payload: dict[str, Any]
    at: datetime

    @property
    def text(self) -> str:
        """The message's `text` (its notification fallback)."""
        return str(self.payload["text"])


def _plain(status: int, text: str) -> httpx.Response:
    return httpx.Response(
        status, headers={"content-type": "text/plain; charset=utf-8"}, content=text.encode()
    )


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
    """Incoming webhooks for the organisation's stakeholder channels."""

    def __init__(self, org: Organisation, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: org.end)
        rng = random.Random(f"slack-{org.seed}")
        team = "T" + "".join(rng.choices(_UPPER, k=10))
        self.hooks: dict[str, str] = {}
        for channel in CHANNELS:
            bot = "B" + "".join(rng.choices(_UPPER, k=10))
            secret = "".join(rng.choices(_SECRET, k=24))
            self.hooks[f"/services/{team}/{bot}/{secret}"] = channel
        self.posts: list[SlackPost] = []

    def path_for(self, channel: str) -> str:
        """The webhook path (after the `/slack` prefix) that posts to `channel`."""
        return next(path for path, name in self.hooks.items() if name == channel)

    def messages(self, channel: str | None = None) -> list[SlackPost]:
        """The accepted posts in arrival order, for one channel or all."""
        return [post for post in self.posts if channel is None or post.channel == channel]

    def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Slack's answer to `request`; `path` is the part after the `/slack` prefix."""
        channel = self.hooks.get(path)
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
        self.posts.append(SlackPost(channel=channel, path=path, payload=payload, at=self.clock()))
        return _plain(200, "ok")
