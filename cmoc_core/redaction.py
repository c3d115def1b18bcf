"""Keeping secrets out of any text that leaves the process: one redaction for every path.

`Settings.secret_values()` lists what to hide for a configuration, and every API client gets that
list: an ApiError's text is redacted when it is made, so what the outbox, the audit log, the sync
state, the pages and the command line show of it is redacted already.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[redacted]"
# Slack incoming webhooks and workflow triggers: everything after these is the secret.
WEBHOOK_MARKERS = ("/services/", "/triggers/")
# A last path segment shorter than this could be an ordinary word; the whole path still counts.
MIN_SEGMENT = 8


def webhook_parts(url: str) -> list[str]:
    """A webhook URL, its path after the marker and that path's last segment: each is secret."""
    parts = [url]
    for marker in WEBHOOK_MARKERS:
        if marker in url:
            path = url.split(marker, 1)[1].strip("/")
            last = path.rsplit("/", 1)[-1]
            parts += [path, *([last] if len(last) >= MIN_SEGMENT else [])]
    return [part for part in parts if part]


def echoed_forms(secret: str) -> list[str]:
    """A secret as a service may echo it: as sent, percent-encoded, or with JSON's escaped `/`."""
    forms = [secret, quote(secret, safe=""), quote(secret), secret.replace("/", "\\/")]
    return list(dict.fromkeys(form for form in forms if form))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every form a service may echo it in, replaced by REDACTED."""
    forms = {form for secret in secrets if secret for form in echoed_forms(secret)}
    # Longest first, so that a secret holding another (a webhook URL and its path) goes whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text
