"""Test connection: a few cheap reads per source saying who a credential is and what it may do.

Nothing is written and nothing is posted. Each finding is one line for people: what was found
and, when something is wrong, what to do. A fault every later read would meet too (refused
credentials, no answer, a server error) ends that source's test with one line saying so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from cmoc_core.clients import gitlab, pagerduty, slack, statusio, zendesk
from cmoc_core.clients.gitlab import GitLabClient
from cmoc_core.clients.http import (
    ApiAuthError,
    ApiBadResponse,
    ApiError,
    ApiRejected,
    ApiUnavailable,
)
from cmoc_core.clients.pagerduty import PagerDutyClient
from cmoc_core.clients.slack import NOTIFIER_VARIABLES, HookKind, hook_kind
from cmoc_core.clients.statusio import StatusIoClient
from cmoc_core.clients.zendesk import ZendeskClient
from cmoc_core.config import WEBHOOK_KEY, Settings
from cmoc_core.notifier import destinations, naming_hint
from cmoc_core.timeutil import utc_now


class Service(StrEnum):
    """A source whose connection can be tested."""

    PAGERDUTY = "pagerduty"
    STATUSIO = "statusio"
    GITLAB = "gitlab"
    ZENDESK = "zendesk"
    SLACK = "slack"


class Verdict(StrEnum):
    """How a finding reads: fine, worth knowing, something will not work, or nothing works."""

    OK = "ok"
    NOTE = "note"
    WARN = "warn"
    FAIL = "fail"


_RANK = {Verdict.OK: 0, Verdict.NOTE: 1, Verdict.WARN: 2, Verdict.FAIL: 3}

SERVICE_NAMES = {
    Service.PAGERDUTY: pagerduty.API,
    Service.STATUSIO: statusio.API,
    Service.GITLAB: gitlab.API,
    Service.ZENDESK: zendesk.API,
    Service.SLACK: slack.API,
}
REQUIRED = {
    Service.PAGERDUTY: ("PAGERDUTY_API_TOKEN",),
    Service.STATUSIO: ("STATUSIO_API_ID", "STATUSIO_API_KEY", "STATUSIO_STATUSPAGE_ID"),
    Service.GITLAB: ("GITLAB_TOKEN",),
    Service.ZENDESK: ("ZENDESK_URL", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN"),
    Service.SLACK: ("SLACK_NOTIFIER_WEBHOOK_URLS",),
}
URL_SETTINGS = {
    Service.PAGERDUTY: "PAGERDUTY_API_URL",
    Service.STATUSIO: "STATUSIO_API_URL",
    Service.GITLAB: "GITLAB_URL",
    Service.ZENDESK: "ZENDESK_URL",
}
CREDENTIALS = {
    Service.PAGERDUTY: "PAGERDUTY_API_TOKEN",
    Service.STATUSIO: "STATUSIO_API_ID and STATUSIO_API_KEY",
    Service.GITLAB: "GITLAB_TOKEN",
    Service.ZENDESK: "ZENDESK_EMAIL and ZENDESK_API_TOKEN",
}
FORBIDDEN_FIX = {
    Service.PAGERDUTY: (
        "use a key whose user may see the CMOC services and schedules, or a general access key"
    ),
    Service.STATUSIO: "check that the API ID and key belong to the account of the status page",
    Service.GITLAB: "give the token the read_api scope (api to write) and its user the project",
    Service.ZENDESK: "sign in as an agent; end users cannot search tickets",
}

DEMO_LINE = "Demo mode: this reads the built-in sandbox, not a real service."
PAGE_WINDOW = timedelta(days=30)
EXPIRY_WARNING = timedelta(days=14)
# A short budget: a test says quickly that a service is unreachable instead of retrying long.
PROBE_RETRIES = 1
PROBE_TIMEOUT = 10.0
PROBE_MAX_WAIT = 5.0
MAX_NAMES = 6

# PagerDuty's role values (openapiv3.json User.role) as the web app names them.
PAGERDUTY_ROLES = {
    "owner": "Account Owner",
    "admin": "Global Admin",
    "user": "Manager",
    "limited_user": "Responder",
    "observer": "Observer",
    "restricted_access": "Restricted Access",
    "read_only_user": "Full Stakeholder",
    "read_only_limited_user": "Limited Stakeholder",
}
PAGERDUTY_READ_ONLY = frozenset({"observer", "read_only_user", "read_only_limited_user"})
# `Gitlab::Access` levels (doc/api/members.md "Roles").
GITLAB_ROLES = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
REPORTER = 20
PLANNER = 15


@dataclass(frozen=True)
class Finding:
    """One line of a connection test: what was found and, if needed, what to do."""

    verdict: Verdict
    text: str


@dataclass(frozen=True)
class ConnectionReport:
    """What testing one source's connection found."""

    service: Service
    findings: tuple[Finding, ...]
    requests: int
    at: datetime
    configured: bool = True

    @property
    def name(self) -> str:
        """The service's name as people know it."""
        return SERVICE_NAMES[self.service]

    @property
    def verdict(self) -> Verdict:
        """The worst finding's verdict."""
        return max((f.verdict for f in self.findings), key=_RANK.__getitem__, default=Verdict.OK)

    @property
    def ok(self) -> bool:
        """Nothing failed."""
        return self.verdict != Verdict.FAIL

    def headline(self) -> str:
        """One line for the whole test: works, works with something to fix, or does not work."""
        if not self.configured:
            return f"{self.name} is not configured."
        state = {
            Verdict.OK: "works",
            Verdict.NOTE: "works",
            Verdict.WARN: "works, with something to fix",
            Verdict.FAIL: "does not work",
        }[self.verdict]
        if not self.requests:
            return f"{self.name} {state} (nothing was sent)."
        reads = f"{self.requests} read{'s' if self.requests != 1 else ''}"
        return f"{self.name} {state} ({reads}, nothing written)."


def missing_settings(service: Service, settings: Settings) -> tuple[str, ...]:
    """The settings a source still needs before it can be tested."""
    if service == Service.SLACK:
        has_hook = settings.slack_notifier_webhook_urls or settings.cmoc_reminder_webhook_url
        return () if has_hook else REQUIRED[service]
    return tuple(name for name in REQUIRED[service] if not getattr(settings, name.lower()))


def fault_line(service: Service, exc: ApiError, *, host: str) -> str:
    """One line for a failed read: what happened, in words, and what to do."""
    name = SERVICE_NAMES[service]
    status = exc.status
    if isinstance(exc, ApiUnavailable):
        if status == 429:
            return f"{name} is limiting requests (HTTP 429): wait a minute, then test again."
        if status is not None:
            return (
                f"{name} failed with HTTP {status} when asked to {exc.call}: the service is "
                "having trouble, not this set-up; test again later."
            )
        url = URL_SETTINGS.get(service, "the address")
        if exc.cause.startswith("could not connect"):
            return (
                f"Could not connect to {name} at {host}: check {url} and that this machine "
                "can reach it."
            )
        if exc.cause.startswith("no answer within"):
            waited, _, tries = exc.cause.partition(" (after ")
            tried = f"; {tries.rstrip(')')} made" if tries else ""
            return (
                f"{name} at {host} did not answer in time ({waited}{tried}): test again later; "
                f"if it goes on, check {url}."
            )
        return f"The connection to {name} at {host} broke before it answered: test again later."
    said = _said(exc)
    if isinstance(exc, ApiAuthError) and status == 401:
        return (
            f"{name} refused the credentials (HTTP 401: {said}): check "
            f"{CREDENTIALS.get(service, 'the credentials')}; they may be mistyped, expired or "
            "revoked."
        )
    if status == 403:
        fix = FORBIDDEN_FIX.get(service, "check the credential's permissions")
        return f"{name} would not let this credential {exc.call} (HTTP 403: {said}): {fix}."
    if isinstance(exc, ApiBadResponse):
        return (
            f"{name} at {host} did not answer like its API when asked to {exc.call}: check "
            f"{URL_SETTINGS.get(service, 'the address')} points at the API."
        )
    code = f"HTTP {status}: " if status else ""
    return f"{name} refused to {exc.call} ({code}{said})."


def check_connection(
    service: Service | str,
    *,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    demo: bool = False,
    now: datetime | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ConnectionReport:
    """Test one source with a few cheap reads; never writes, never posts, never shows a secret.

    `transport` is the sandbox's in demo mode (where `settings` are the sandbox's) or a test's;
    `sleep` replaces real waiting between retries.
    """
    service = Service(service)
    at = now or utc_now()
    probe = _Probe(service, host=_host(service, settings))
    if demo:
        probe.add(Verdict.NOTE, DEMO_LINE)
    missing = missing_settings(service, settings)
    if missing:
        probe.add(Verdict.NOTE, f"Not configured: set {_and(missing)} to use it.")
        return probe.report(at, requests=0, configured=False)
    if service == Service.SLACK:
        _check_slack(probe, settings, demo=demo)
        return probe.report(at, requests=0)
    options: dict[str, Any] = {
        "transport": transport,
        "secrets": settings.secret_values(),
        "sleep": sleep or time.sleep,
        "retries": PROBE_RETRIES,
        "timeout": PROBE_TIMEOUT,
        "max_wait": PROBE_MAX_WAIT,
    }
    checks: Sequence[Callable[[], None]]
    client: PagerDutyClient | StatusIoClient | GitLabClient | ZendeskClient
    if service == Service.PAGERDUTY:
        assert settings.pagerduty_api_token is not None
        client = PagerDutyClient(
            base_url=settings.pagerduty_api_url,
            token=settings.pagerduty_api_token.get_secret_value(),
            from_email=settings.pagerduty_from_email,
            **options,
        )
        checks = _pagerduty_checks(probe, client, settings, at)
    elif service == Service.STATUSIO:
        assert settings.statusio_api_id and settings.statusio_api_key
        client = StatusIoClient(
            base_url=settings.statusio_api_url,
            api_id=settings.statusio_api_id.get_secret_value(),
            api_key=settings.statusio_api_key.get_secret_value(),
            statuspage_id=settings.statusio_statuspage_id or "",
            # Status.io asks for a second between calls; its sandbox does not.
            min_interval=0.0 if transport is not None else 1.0,
            **options,
        )
        checks = _statusio_checks(probe, client, settings)
    elif service == Service.GITLAB:
        assert settings.gitlab_token is not None
        client = GitLabClient(
            base_url=settings.gitlab_url, token=settings.gitlab_token.get_secret_value(), **options
        )
        checks = _gitlab_checks(probe, client, settings, at.date())
    else:
        assert settings.zendesk_url and settings.zendesk_email and settings.zendesk_api_token
        desk = ZendeskClient(
            base_url=settings.zendesk_url,
            email=settings.zendesk_email,
            token=settings.zendesk_api_token.get_secret_value(),
            **options,
        )
        client = desk
        checks = [lambda: _check_zendesk(probe, desk)]
    try:
        probe.run(checks)
    finally:
        client.http.close()
    return probe.report(at, requests=client.http.requests_made)


@dataclass
class _Probe:
    """The findings of one source's test, as they come."""

    service: Service
    host: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, verdict: Verdict, text: str) -> None:
        """Record one line."""
        self.findings.append(Finding(verdict, text))

    def run(self, checks: Sequence[Callable[[], None]]) -> None:
        """Each check in turn; a failed read is one line, and a fault all would meet ends it."""
        for check in checks:
            try:
                check()
            except ApiError as exc:
                self.add(Verdict.FAIL, fault_line(self.service, exc, host=self.host))
                if isinstance(exc, ApiUnavailable) or exc.status == 401:
                    return
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # Only the kind of error: its text could quote what the service sent.
                name = SERVICE_NAMES[self.service]
                url = URL_SETTINGS.get(self.service, "the address")
                self.add(
                    Verdict.FAIL,
                    f"{name} at {self.host} answered in a shape this app does not know "
                    f"({type(exc).__name__}): check {url} points at the API.",
                )

    def report(self, at: datetime, *, requests: int, configured: bool = True) -> ConnectionReport:
        """The findings so far as a report."""
        return ConnectionReport(
            self.service, tuple(self.findings), requests, at, configured=configured
        )


# PagerDuty ----------------------------------------------------------------------------------


def _pagerduty_checks(
    probe: _Probe, client: PagerDutyClient, settings: Settings, now: datetime
) -> list[Callable[[], None]]:
    def identity() -> None:
        try:
            user = client.current_user()
        except ApiRejected as exc:
            if exc.status != 400:
                raise
            probe.add(
                Verdict.NOTE,
                "An account-level API key: PagerDuty cannot say which user it belongs to, so "
                "acknowledging and resolving are recorded as PAGERDUTY_FROM_EMAIL.",
            )
            return
        probe.add(
            Verdict.OK,
            f"A user-level API key of {_pd_person(user)}: the app reads and acts with that "
            "user's permissions.",
        )

    def incidents() -> None:
        services = settings.pagerduty_cmoc_service_ids
        total = client.incident_total(since=now - PAGE_WINDOW, until=now, service_ids=services)
        days = PAGE_WINDOW.days
        if not services:
            probe.add(
                Verdict.WARN,
                f"Can read incidents ({_count(total, 'incident')} in the last {days} days on "
                "the whole account), but PAGERDUTY_CMOC_SERVICE_IDS is not set: no page will "
                "be synced.",
            )
            return
        where = f"on the {_count(len(services), 'CMOC service')}"
        if total:
            probe.add(
                Verdict.OK,
                f"Can read incidents: {_count(total, 'page')} in the last {days} days {where}.",
            )
        else:
            probe.add(
                Verdict.NOTE,
                f"Can read incidents, but there is none in the last {days} days {where}: if "
                "pages were expected, check PAGERDUTY_CMOC_SERVICE_IDS.",
            )

    def schedules() -> None:
        wanted = [
            *((s, "PAGERDUTY_CMOC_SCHEDULE_IDS") for s in settings.pagerduty_cmoc_schedule_ids),
            *((s, "PAGERDUTY_SHADOW_SCHEDULE_IDS") for s in settings.pagerduty_shadow_schedule_ids),
        ]
        if not wanted:
            client.first_schedules(limit=1)
            probe.add(
                Verdict.WARN,
                "Can read schedules, but PAGERDUTY_CMOC_SCHEDULE_IDS is not set: no shift "
                "will be synced, so handovers and roles cannot work.",
            )
            return
        found: list[str] = []
        for schedule_id, setting in wanted:
            schedule = client.schedule(schedule_id)
            if schedule is None:
                probe.add(
                    Verdict.WARN,
                    f"Schedule {schedule_id} of {setting} was not found: check the id (the end "
                    "of the schedule's address in PagerDuty).",
                )
            else:
                found.append(str(schedule.get("name") or schedule_id))
        if found:
            probe.add(
                Verdict.OK,
                f"Can read {_count(len(found), 'schedule')}: {_names(found)}.",
            )

    def from_user() -> None:
        email = settings.pagerduty_from_email
        if not email:
            probe.add(
                Verdict.WARN,
                "PAGERDUTY_FROM_EMAIL is not set: the app will not acknowledge or resolve "
                "pages; set it to the e-mail of the PagerDuty user to act as.",
            )
            return
        user = client.user_by_email(email)
        if user is None:
            probe.add(
                Verdict.FAIL,
                f"PAGERDUTY_FROM_EMAIL {email} is not a PagerDuty user: PagerDuty will refuse "
                "to acknowledge or resolve; use the e-mail of a user of this account.",
            )
            return
        role = str(user.get("role") or "")
        if role in PAGERDUTY_READ_ONLY:
            probe.add(
                Verdict.WARN,
                f"PAGERDUTY_FROM_EMAIL is {_pd_person(user)}, who may not act on incidents: "
                "PagerDuty will refuse to acknowledge or resolve; give them the Responder role "
                "or name another user.",
            )
            return
        probe.add(
            Verdict.OK,
            f"PAGERDUTY_FROM_EMAIL is {_pd_person(user)}: pages acknowledged or resolved here "
            "are recorded as theirs.",
        )

    return [identity, incidents, schedules, from_user]


def _pd_person(user: dict[str, Any]) -> str:
    name = str(user.get("name") or user.get("summary") or user.get("id") or "an unnamed user")
    email = str(user.get("email") or "")
    role = str(user.get("role") or "")
    shown = f"{name} <{email}>" if email else name
    if role:
        shown += f", {PAGERDUTY_ROLES.get(role, role)}"
    return shown


# Status.io ----------------------------------------------------------------------------------


def _statusio_checks(
    probe: _Probe, client: StatusIoClient, settings: Settings
) -> list[Callable[[], None]]:
    pages = [("Status page", "STATUSIO_STATUSPAGE_ID", settings.statusio_statuspage_id)]
    if settings.statusio_practice_statuspage_id:
        pages.append(
            (
                "Practice status page",
                "STATUSIO_PRACTICE_STATUSPAGE_ID",
                settings.statusio_practice_statuspage_id,
            )
        )

    def page_check(label: str, setting: str, page_id: str) -> Callable[[], None]:
        def check() -> None:
            try:
                components = client.components(statuspage_id=page_id)
            except ApiRejected as exc:
                probe.add(
                    Verdict.FAIL,
                    f"Status.io refused to list the components of {label.lower()} {page_id} "
                    f"({_said(exc)}): check {setting}, and that the API key belongs to the "
                    "account that owns the page.",
                )
                return
            names = [str(c.get("name") or c.get("_id") or "?") for c in components]
            containers = sum(len(c.get("containers") or []) for c in components)
            if not components:
                probe.add(
                    Verdict.WARN,
                    f"{label} {page_id} has no components: an incident could not say what is "
                    f"affected; check {setting}.",
                )
                return
            probe.add(
                Verdict.OK,
                f"{label} {page_id}: {_count(len(names), 'component')} ({_names(names)}) in "
                f"{_count(containers, 'container')}.",
            )

        return check

    def unnamed() -> None:
        probe.add(
            Verdict.NOTE,
            "Status.io's API says neither a page's name nor whether the key may publish: "
            "compare the components with your status page.",
        )

    return [*(page_check(label, setting, page) for label, setting, page in pages if page), unnamed]


# GitLab -------------------------------------------------------------------------------------


@dataclass
class _TokenFacts:
    username: str = ""
    admin: bool | None = None
    scopes: list[str] | None = None


def _gitlab_checks(
    probe: _Probe, client: GitLabClient, settings: Settings, today: date
) -> list[Callable[[], None]]:
    facts = _TokenFacts()

    def identity() -> None:
        user = client.current_user()
        facts.username = str(user.get("username") or user["id"])
        # `is_admin` is only in the answer for administrators (lib/api/users.rb `get "user"`,
        # Entities::UserWithAdmin).
        facts.admin = user.get("is_admin") is True
        name = str(user.get("name") or "")
        shown = f"@{facts.username}" + (f" ({name})" if name else "")
        admin = ", an administrator" if facts.admin else ""
        probe.add(Verdict.OK, f"The token belongs to {shown}{admin}.")

    def scopes() -> None:
        try:
            token = client.token_details()
        except ApiRejected as exc:
            if exc.status not in (400, 404):
                raise
            probe.add(
                Verdict.NOTE,
                f"GitLab did not say the token's scopes ({_said(exc)}): it may not be a "
                "personal access token, or GitLab is older than 15.5; make sure it has "
                "read_api (api to label issues and create handovers).",
            )
            return
        granted = [str(s) for s in token["scopes"]]
        facts.scopes = granted
        shown = ", ".join(granted) or "none"
        if token.get("active") is False or token.get("revoked") is True:
            probe.add(Verdict.FAIL, f"The token is no longer active ({shown}): make a new one.")
        elif "api" in granted:
            probe.add(
                Verdict.OK,
                f"Scopes {shown}: it can read, label the incident issue and create handovers.",
            )
        elif "read_api" in granted:
            probe.add(
                Verdict.WARN,
                f"Scopes {shown}: syncing works, but labelling the incident issue and creating "
                "handovers will be refused; add the api scope if the app should write.",
            )
        else:
            probe.add(
                Verdict.FAIL,
                f"Scopes {shown}: it cannot read projects; make a token with read_api (api to "
                "write).",
            )
        expires = _date(token.get("expires_at"))
        if expires is not None and expires - today <= EXPIRY_WARNING:
            probe.add(
                Verdict.WARN,
                f"The token expires on {expires:%d-%m-%Y}: make a new one before then.",
            )

    def sudo() -> None:
        if facts.admin is None:
            return
        bot = f"@{facts.username}"
        if facts.admin and facts.scopes is not None and "sudo" in facts.scopes:
            probe.add(
                Verdict.OK,
                "It may act for a CMOC (sudo): handover issues are created in the CMOC's "
                "name, and people's primary e-mails help match them.",
            )
        elif facts.admin and facts.scopes is not None:
            probe.add(
                Verdict.NOTE,
                "An administrator's token without the sudo scope: handover issues cannot be "
                f"created in the CMOC's name, only as {bot}; add the sudo scope to allow it.",
            )
        elif not facts.admin:
            probe.add(
                Verdict.NOTE,
                "Not an administrator, so it cannot act for a CMOC (sudo): handover issues are "
                f"created as {bot}, and people are matched by their public e-mail only.",
            )

    def project_check(label: str, setting: str, path: str, needs: str) -> Callable[[], None]:
        def check() -> None:
            project = client.project(path)
            if project is None:
                probe.add(
                    Verdict.FAIL,
                    f"Cannot see the {label} project {path}: check {setting}, and that the "
                    "token's user may see it.",
                )
                return
            permissions = project.get("permissions")
            if not isinstance(permissions, dict):
                permissions = {}
            levels = [
                int(access["access_level"])
                for access in (permissions.get("project_access"), permissions.get("group_access"))
                if isinstance(access, dict) and isinstance(access.get("access_level"), int)
            ]
            level = max(levels, default=0)
            role = GITLAB_ROLES.get(level, f"level {level}")
            if level >= REPORTER:
                probe.add(Verdict.OK, f"The {label} project {path}: a {role}, so it {needs}.")
            elif facts.admin:
                probe.add(
                    Verdict.OK,
                    f"The {label} project {path}: as an administrator it {needs}.",
                )
            elif level == PLANNER:
                probe.add(
                    Verdict.NOTE,
                    f"The {label} project {path}: a Planner; if confidential issues or labels "
                    "are refused, make the token's user a Reporter.",
                )
            else:
                who = f"only a {role}" if level else "not a member"
                probe.add(
                    Verdict.WARN,
                    f"The {label} project {path}: the token's user is {who}, so confidential "
                    "issues stay hidden and labels cannot be set; make it a Reporter.",
                )

        return check

    projects = [
        project_check(
            "production",
            "GITLAB_PRODUCTION_PROJECT",
            settings.gitlab_production_project,
            "sees confidential incident issues and may label them",
        ),
        project_check(
            "handover",
            "GITLAB_HANDOVER_PROJECT",
            settings.gitlab_handover_project,
            "may create confidential handover issues with labels",
        ),
    ]
    return [identity, scopes, sudo, *projects]


# Zendesk ------------------------------------------------------------------------------------


def _check_zendesk(probe: _Probe, client: ZendeskClient) -> None:
    user = client.current_user()
    if user.get("id") is None:
        probe.add(
            Verdict.FAIL,
            "Zendesk answered as to an anonymous visitor: the credentials were not accepted; "
            "check ZENDESK_EMAIL and ZENDESK_API_TOKEN, and that token access is on in Zendesk.",
        )
        return
    name = str(user.get("name") or user["id"])
    email = str(user.get("email") or "")
    shown = f"{name} <{email}>" if email else name
    role = str(user.get("role") or "")
    if user.get("suspended") is True:
        probe.add(
            Verdict.FAIL,
            f"Signed in as {shown}, who is suspended: use an active agent's e-mail and token.",
        )
    elif role in ("agent", "admin"):
        kind = "an administrator" if role == "admin" else "an agent"
        probe.add(Verdict.OK, f"Signed in as {shown}, {kind}: ticket counts will work.")
    elif role == "end-user":
        probe.add(
            Verdict.FAIL,
            f"Signed in as {shown}, an end user: searching tickets needs an agent; use an "
            "agent's e-mail and API token.",
        )
    else:
        probe.add(
            Verdict.NOTE,
            f"Signed in as {shown} (role {role or 'unknown'}): if ticket counts fail, use an "
            "agent.",
        )


# Slack --------------------------------------------------------------------------------------

SLACK_HOST = "hooks.slack.com"


def _check_slack(probe: _Probe, settings: Settings, *, demo: bool) -> None:
    """The kind of each hook, from its path; its address is a secret and is never shown."""
    hooks: list[tuple[str, str]] = []
    for n, url in enumerate(settings.slack_notifier_webhook_urls, start=1):
        label = WEBHOOK_KEY.format(n=n)
        channel = str(getattr(url, "name", "") or "")
        hooks.append((f"{label} ({channel})" if channel else label, url.get_secret_value()))
    if settings.cmoc_reminder_webhook_url is not None:
        reminder = settings.cmoc_reminder_webhook_url.get_secret_value()
        hooks.append(("CMOC_REMINDER_WEBHOOK_URL", reminder))
    variables = _and(NOTIFIER_VARIABLES)
    for label, value in hooks:
        try:
            address = httpx.URL(value)
        except httpx.InvalidURL:
            probe.add(Verdict.FAIL, f"{label} is not a web address: copy it again from Slack.")
            continue
        segments = address.path.split("/")
        if hook_kind(value) == HookKind.WORKFLOW_TRIGGER:
            verdict = Verdict.OK
            text = (
                f"{label}: a Workflow Builder trigger; the workflow must declare the variables "
                f"{variables}."
            )
        elif "services" in segments:
            verdict = Verdict.OK
            text = f"{label}: an incoming webhook; the notice is posted as a message."
        else:
            verdict = Verdict.WARN
            text = (
                f"{label}: neither an incoming webhook (…/services/…) nor a Workflow Builder "
                "trigger (…/triggers/…): posting will probably fail; copy it again from Slack."
            )
        if not demo and (address.scheme != "https" or address.host != SLACK_HOST):
            verdict = Verdict.WARN
            text += f" Its address is not https://{SLACK_HOST}: check it is the one Slack gave."
        probe.add(verdict, text)
    probe.add(
        Verdict.NOTE,
        "Nothing was posted: Slack has no read for a webhook, so only a real post tests one.",
    )
    hint = naming_hint(destinations(settings))
    if hint:
        probe.add(Verdict.NOTE, hint)


# Wording ------------------------------------------------------------------------------------


_REPEATED = re.compile(r"(.+) \((\1)\)")


def _said(exc: ApiError) -> str:
    """What the service said about a refusal, without the client's own framing."""
    said = exc.cause
    marker = "credentials refused ("
    if marker in said:
        said = said.split(marker, 1)[1].removesuffix(")")
    elif said.startswith("HTTP ") and ": " in said:
        said = said.split(": ", 1)[1]
    # PagerDuty's envelope often repeats its message as the only detail: "X (X)".
    repeated = _REPEATED.fullmatch(said)
    return repeated.group(1) if repeated else said


def _host(service: Service, settings: Settings) -> str:
    url = {
        Service.PAGERDUTY: settings.pagerduty_api_url,
        Service.STATUSIO: settings.statusio_api_url,
        Service.GITLAB: settings.gitlab_url,
        Service.ZENDESK: settings.zendesk_url,
    }.get(service)
    if not url:
        return "its address"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "its address"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host or "its address"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return f"{shown}, and {more} more" if more > 0 else shown


def _and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _date(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
