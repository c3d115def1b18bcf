"""Ties the systems together: status-page incident, production issue, page and people."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

PAGE_TO_INCIDENT_WINDOW = timedelta(minutes=60)
SEVERITY_LABEL = re.compile(r"^(?:severity::\s*|S)([1-4])$", re.IGNORECASE)
LINK_SCHEMES = {"http": 80, "https": 443}
# Only characters a URL may hold unencoded: no blanks or controls (which browsers drop, so
# `java\tscript:` would run), no backslash (read as `/`), no quotes or angle brackets.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def safe_link(
    url: str | None, *, allowed_hosts: Iterable[str] | None, project: str | None = None
) -> str | None:
    """`url` if it may become a link: http(s), on an allowed host (None: any) or into `project`."""
    # An allowed host means its scheme's usual port unless it names one (`host:8080`); `project`
    # allows its pages on any host, as production-issue links are recognised on any host.
    text = url.strip() if isinstance(url, str) else ""  # a table's gap is NaN, not None
    if not _URL_CHARACTERS.fullmatch(text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port that is not a number
        return None
    usual = LINK_SCHEMES.get(parts.scheme.lower())
    host = (parts.hostname or "").rstrip(".").lower()
    if usual is None or not host or "@" in parts.netloc:
        return None
    if allowed_hosts is None or (host, port or usual) in {_origin(h, usual) for h in allowed_hosts}:
        return text
    if project and parts.path.lower().startswith(f"/{project.strip('/').lower()}/"):
        return text
    return None


def _origin(host: str, usual: int) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{host.strip()}")
        return (parts.hostname or "").rstrip(".").lower(), parts.port or usual
    except ValueError:
        return None


def gitlab_link(url: str | None, *, gitlab_url: str, project: str | None = None) -> str | None:
    """`url` if it leads to the configured GitLab host, or into `project` on any host, else None."""
    parts = urlsplit(gitlab_url)
    host = parts.netloc.rpartition("@")[2]
    try:
        if parts.port is None:
            host = f"{host}:{LINK_SCHEMES.get(parts.scheme.lower(), 443)}"
    except ValueError:
        host = ""
    return safe_link(url, allowed_hosts=[host], project=project)


def issue_url_pattern(project_path: str) -> re.Pattern[str]:
    """Matches links to an issue of `project_path` on any host; group 1 is the iid."""
    path = re.escape(project_path.strip("/"))
    return re.compile(rf"https?://[^\s/]+/{path}/(?:-/)?(?:issues|work_items)/(\d+)", re.IGNORECASE)


def first_issue_iid(texts: Iterable[str], project_path: str) -> int | None:
    """The iid of the first production-issue link in texts given oldest first."""
    pattern = issue_url_pattern(project_path)
    for text in texts:
        match = pattern.search(text or "")
        if match:
            return int(match.group(1))
    return None


def iid_in_page_text(text: str, project_path: str) -> int | None:
    """The production issue a page's title or description names, by link or `#12345`."""
    found = first_issue_iid([text], project_path)
    if found is not None:
        return found
    match = re.search(r"(?:#|issues/)(\d{2,})\b", text or "")
    return int(match.group(1)) if match else None


def severity_from_labels(labels: Iterable[str]) -> int | None:
    """The severity a label set names (`severity::2` or `S2`), or None."""
    for label in labels:
        match = SEVERITY_LABEL.match(label.strip())
        if match:
            return int(match.group(1))
    return None


@dataclass(frozen=True)
class OpenedIncident:
    """What page linking needs of a status-page incident."""

    id: str
    opened_at: datetime
    issue_iid: int | None


def link_page(
    *, triggered_at: datetime, issue_iid: int | None, incidents: Sequence[OpenedIncident]
) -> str | None:
    """The status-page incident of a page: same issue, else the one opened within 60 min after."""
    if issue_iid is not None:
        for incident in incidents:
            if incident.issue_iid == issue_iid:
                return incident.id
    candidates = [
        i
        for i in incidents
        if timedelta(0) <= i.opened_at - triggered_at <= PAGE_TO_INCIDENT_WINDOW
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda i: i.opened_at - triggered_at).id


@dataclass(frozen=True)
class IdentityRecord:
    """An account to be matched to a person."""

    system: str
    external_id: str
    name: str
    email: str | None


def fold_name(name: str) -> str:
    """A display name compared case-insensitively with whitespace folded."""
    return " ".join(name.split()).casefold()


def match_people(
    identities: Sequence[IdentityRecord], mappings: dict[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """Person key per identity: explicit mapping, then equal email, then equal folded name.

    A mapped identity always gets its mapping's key; the others take the key of their group
    (a mapped member's key, else the name of the member PagerDuty knows, else the first one).
    """
    parent = list(range(len(identities)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def mapped(identity: IdentityRecord) -> str | None:
        return mappings.get((identity.system, identity.external_id))

    for key_of in (
        mapped,
        lambda i: (i.email or "").strip().casefold(),
        lambda i: fold_name(i.name),
    ):
        first: dict[str, int] = {}
        for n, identity in enumerate(identities):
            key = key_of(identity)
            if key:
                parent[root(n)] = root(first.setdefault(key, n))

    group_key: dict[int, str] = {}
    for n in sorted(range(len(identities)), key=lambda n: _rank(identities[n], mapped)):
        group_key.setdefault(root(n), mapped(identities[n]) or " ".join(identities[n].name.split()))
    return {
        (i.system, i.external_id): mapped(i) or group_key[root(n)] for n, i in enumerate(identities)
    }


def _rank(
    identity: IdentityRecord, mapped: Callable[[IdentityRecord], str | None]
) -> tuple[int, int, str]:
    """Mapped identities name their group first, then PagerDuty's roster names."""
    return (
        0 if mapped(identity) else 1,
        0 if identity.system == "pagerduty" else 1,
        identity.external_id,
    )
