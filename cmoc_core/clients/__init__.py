"""API clients, built from settings for the sources that are configured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from cmoc_core.clients.gitlab import GitLabClient
from cmoc_core.clients.http import ApiError
from cmoc_core.clients.pagerduty import PagerDutyClient
from cmoc_core.clients.slack import SlackWebhook
from cmoc_core.clients.statusio import StatusIoClient
from cmoc_core.clients.zendesk import ZendeskClient
from cmoc_core.config import Settings

__all__ = [
    "ApiError",
    "Clients",
    "GitLabClient",
    "PagerDutyClient",
    "StatusIoClient",
    "build_clients",
]


@dataclass
class Clients:
    """One client per configured source; None where a source is not configured."""

    pagerduty: PagerDutyClient | None = None
    statusio: StatusIoClient | None = None
    gitlab: GitLabClient | None = None
    slack: list[SlackWebhook] = field(default_factory=list)
    zendesk: ZendeskClient | None = None

    def _by_source(self) -> dict[str, list]:
        sources = {"pagerduty": self.pagerduty, "statusio": self.statusio, "gitlab": self.gitlab}
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


def build_clients(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    statusio_min_interval: float = 1.0,
) -> Clients:
    """Clients for every configured source, sharing an optional transport (the sandbox's)."""
    options: dict[str, object] = {"transport": transport}
    if sleep is not None:
        options["sleep"] = sleep
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
        SlackWebhook(url.get_secret_value(), name=f"webhook {n}", **options)
        for n, url in enumerate(settings.slack_notifier_webhook_urls, start=1)
    ]
    if settings.zendesk_url and settings.zendesk_email and settings.zendesk_api_token:
        clients.zendesk = ZendeskClient(
            base_url=settings.zendesk_url,
            email=settings.zendesk_email,
            token=settings.zendesk_api_token.get_secret_value(),
            **options,
        )
    return clients
