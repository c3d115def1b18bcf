"""API clients, built from settings for the sources that are configured."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypedDict

import httpx

from cmoc_core.clients.gitlab import GitLabClient
from cmoc_core.clients.http import ApiError, ApiOutcomeUnclear, JsonApi
from cmoc_core.clients.pagerduty import PagerDutyClient
from cmoc_core.clients.slack import SlackWebhook, notifier_hooks
from cmoc_core.clients.statusio import StatusIoClient
from cmoc_core.clients.zendesk import ZendeskClient
from cmoc_core.config import Settings

__all__ = [
    "ApiError",
    "ApiOutcomeUnclear",
    "Clients",
    "GitLabClient",
    "PagerDutyClient",
    "StatusIoClient",
    "build_clients",
]


class _Client(Protocol):
    http: JsonApi


@dataclass
class Clients:
    """One client per configured source; None where a source is not configured."""

    pagerduty: PagerDutyClient | None = None
    statusio: StatusIoClient | None = None
    gitlab: GitLabClient | None = None
    slack: list[SlackWebhook] = field(default_factory=list)
    zendesk: ZendeskClient | None = None

    def _by_source(self) -> dict[str, list[_Client]]:
        sources: dict[str, _Client | None] = {
            "pagerduty": self.pagerduty,
            "statusio": self.statusio,
            "gitlab": self.gitlab,
        }
        found = {name: [c] for name, c in sources.items() if c is not None}
        if self.slack:
            found["slack"] = list(self.slack)
        if self.zendesk is not None:
            found["zendesk"] = [self.zendesk]
        return found

    def requests_made(self) -> dict[str, int]:
        """Requests each source's clients have sent so far."""
        return {
            name: sum(c.http.requests_made for c in cs) for name, cs in self._by_source().items()
        }

    def close(self) -> None:
        """Release every client's connections."""
        for clients in self._by_source().values():
            for client in clients:
                client.http.close()


class _Options(TypedDict):
    transport: httpx.BaseTransport | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    secrets: list[str]


def build_clients(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    statusio_min_interval: float = 1.0,
) -> Clients:
    """Clients for every configured source, sharing an optional transport (the sandbox's).

    `sleep` and `clock` (monotonic seconds) pace retries and Status.io's spacing; a test passes
    its own so that nothing waits for real. Every client redacts every configured secret from
    its errors, not only its own, so that no service's error text can carry any of them.
    """
    options = _Options(
        transport=transport,
        sleep=time.sleep if sleep is None else sleep,
        clock=time.monotonic if clock is None else clock,
        secrets=settings.secret_values(),
    )
    clients = Clients()
    if settings.pagerduty_api_token is not None:
        clients.pagerduty = PagerDutyClient(
            base_url=settings.pagerduty_api_url,
            token=settings.pagerduty_api_token.get_secret_value(),
            from_email=settings.pagerduty_from_email,
            **options,
        )
    if settings.statusio_configured:
        assert settings.statusio_api_id and settings.statusio_api_key
        clients.statusio = StatusIoClient(
            base_url=settings.statusio_api_url,
            api_id=settings.statusio_api_id.get_secret_value(),
            api_key=settings.statusio_api_key.get_secret_value(),
            statuspage_id=settings.statusio_statuspage_id or "",
            min_interval=statusio_min_interval,
            **options,
        )
    if settings.gitlab_token is not None:
        clients.gitlab = GitLabClient(
            base_url=settings.gitlab_url, token=settings.gitlab_token.get_secret_value(), **options
        )
    clients.slack = [
        SlackWebhook(hook.url, name=hook.key, channel=hook.known_as, **options)
        for hook in notifier_hooks(settings)
    ]
    if settings.zendesk_url and settings.zendesk_email and settings.zendesk_api_token:
        clients.zendesk = ZendeskClient(
            base_url=settings.zendesk_url,
            email=settings.zendesk_email,
            token=settings.zendesk_api_token.get_secret_value(),
            **options,
        )
    return clients
