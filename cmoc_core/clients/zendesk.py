"""Zendesk search: how many tickets carry an incident's tag."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx

from cmoc_core.clients.http import ApiBadResponse, JsonApi

API = "Zendesk"


class ZendeskClient:
    """Zendesk Support API v2 with an API token (HTTP Basic `email/token:token`)."""

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        basic = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.http = JsonApi(
            api=API,
            base_url=base_url.rstrip("/") + "/api/v2",
            headers={"Authorization": f"Basic {basic}"},
            secrets=[token, basic, *secrets],
            transport=transport,
            **options,
        )

    def count(self, query: str) -> int:
        """How many results a search finds (Zendesk reports the true total)."""
        call = "search tickets"
        body = self.http.json(
            "GET", "search.json", call=call, params={"query": query, "per_page": 1}
        )
        if not isinstance(body, dict) or not isinstance(body.get("count"), int):
            raise ApiBadResponse(API, call, "the answer has no count")
        return body["count"]

    def current_user(self) -> dict[str, Any]:
        """The user the credentials sign in as (`GET /api/v2/users/me`, "Show Self").

        Zendesk answers this read for anonymous visitors too, with a user whose `id` is null
        (developer.zendesk.com api-reference/ticketing/users/users).
        """
        call = "read the signed-in user"
        body = self.http.json("GET", "users/me", call=call)
        if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
            raise ApiBadResponse(API, call, "the answer has no user")
        return body["user"]
