"""The Incident Notifier: where it posts, in words, and what it needs before anything is posted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cmoc_core.clients.slack import notifier_hooks
from cmoc_core.commands import SlackNotice
from cmoc_core.config import Settings
from cmoc_core.handbook import StepKey
from cmoc_core.models import WorkingIncident
from cmoc_core.timeutil import parse_time

NO_CHANNEL = (
    "Fill in the incident's Slack channel (e.g. #incident-12345): the Incident Notifier "
    "needs it, so nothing is posted without it."
)
NO_SUMMARY = "Fill in the summary: the Incident Notifier needs it, so nothing is posted without it."


NAMING_HINT = (
    "To name a webhook's channel for people, end its item in SLACK_NOTIFIER_WEBHOOK_URLS with "
    "the channel's name, as in https://hooks.slack.com/services/T…/B…/…#developer-relations "
    "(Slack never receives that part)."
)


@dataclass(frozen=True)
class Destination:
    """One configured Incident Notifier webhook: its name in the app and for people."""

    webhook: str
    name: str = ""
    hook: str = ""  # what the address tells, when the setting gives no name

    @property
    def known_as(self) -> str:
        """`#developer-relations` or `Slack incoming webhook …X7QZ`; empty when nothing tells."""
        return self.name or self.hook

    @property
    def label(self) -> str:
        """`#developer-relations`, `Slack incoming webhook …X7QZ`, else `Slack (webhook 1)`."""
        return self.known_as or f"Slack ({self.webhook})"


def destinations(settings: Settings) -> tuple[Destination, ...]:
    """The configured webhooks in order, each named as the Slack client names it for people."""
    return tuple(
        Destination(hook.key, hook.name, "" if hook.name else hook.known_as)
        for hook in notifier_hooks(settings)
    )


def naming_hint(places: Sequence[Destination]) -> str | None:
    """How to name the webhooks for people, while one of them has no name."""
    return NAMING_HINT if any(not place.name for place in places) else None


def joined(words: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def post_label(places: Sequence[Destination]) -> str:
    """The post button: `Post to #developer-relations and #customer-success`."""
    return f"Post to {joined([p.label for p in places])}"


def label_of(notice: SlackNotice, places: Sequence[Destination]) -> str:
    """Where a notice went, by the name the notice or the configuration gives it."""
    if notice.channel:
        return notice.channel
    return next((p.label for p in places if p.webhook == notice.webhook), notice.destination)


def refusal(*, summary: str, channel: str) -> str | None:
    """Why the notice may not be posted yet (a field the Incident Notifier requires is empty)."""
    if not channel.strip():
        return NO_CHANNEL
    if not summary.strip():
        return NO_SUMMARY
    return None


def posted_at(incident: WorkingIncident) -> datetime | None:
    """When the incident's stakeholders were first notified, if they were."""
    return parse_time(incident.steps.get(StepKey.NOTIFY_STAKEHOLDERS))
