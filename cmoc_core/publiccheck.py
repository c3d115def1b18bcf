"""The handbook's check before publishing to the status page: what blocks it, what to consider.

`check` reads a draft as the CMOC is about to publish it (creating, updating or resolving the
incident) and returns warnings. A BLOCK is something the handbook requires, or a hazard that
cannot be called back once the update is broadcast by e-mail, SMS, X and Slack (a leaked internal
host, network address, e-mail address or call link); a SUGGEST is advice the CMOC may knowingly
pass over. Each warning says in one sentence what is wrong and what to do, and names its source.

Wording is kept cautious: phrases under a condition or in the future ("we'll resolve this incident
if...", "until it is resolved") claim nothing, so they never trigger the wording rules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from cmoc_core import cadence, handbook, linking, textlimits
from cmoc_core.handbook import ComponentStatus, IncidentState


class DraftKind(StrEnum):
    """What publishing the draft does on the status page (the composer's form names)."""

    CREATE = "create"
    UPDATE = "update"
    RESOLVE = "resolve"


class Level(StrEnum):
    """Whether a warning stops publishing or only advises."""

    BLOCK = "block"
    SUGGEST = "suggest"


class Rule(StrEnum):
    """The handbook rule or public-communication hazard a warning comes from."""

    TITLE_MISSING = "title_missing"
    DETAILS_MISSING = "details_missing"
    COMPONENTS_MISSING = "components_missing"
    ALL_CLEAR_MISSING = "all_clear_missing"
    X_LIMIT = "x_limit"
    ISSUE_LINK = "issue_link"
    BODY_LENGTH = "body_length"
    TITLE_LENGTH = "title_length"
    MONITORING_WITHOUT_STATE = "monitoring_without_state"
    STATE_WITHOUT_MONITORING = "state_without_monitoring"
    RESOLVED_TOO_EARLY = "resolved_too_early"
    RESOLVE_WITHOUT_RESOLVED = "resolve_without_resolved"
    MONITORING_PERIOD = "monitoring_period"
    INTERNAL_HOST = "internal_host"
    INTERNAL_ADDRESS = "internal_address"
    EMAIL_ADDRESS = "email_address"
    CALL_LINK = "call_link"
    PUBLIC_ADDRESS = "public_address"
    SLACK_CHANNEL = "slack_channel"


TITLE_LIMIT = 90
# Names that only resolve inside GitLab's networks: private DNS zones, and gitlab.net, the
# infrastructure's own domain (`*.gprd.gitlab.net`, `ops.gitlab.net`). Public GitLab sites live
# under gitlab.com (`gitlab.com`, `status.gitlab.com`, `docs.gitlab.com`) and are not listed.
INTERNAL_HOST_SUFFIXES = ("internal", "gitlab.net", "local", "lan", "corp")
# Video-call hosts: a link to the incident call lets anyone join it.
CALL_HOSTS = ("zoom.us", "meet.google.com")
# `git@gitlab.com` is the public SSH remote, not a person's address.
PUBLIC_MAIL_USERS = frozenset({"git"})

SOURCES: dict[Rule, str] = {
    Rule.TITLE_MISSING: (
        "Handbook, Create Incident, Title: the title answers the question, in simple terms, "
        "what is the issue"
    ),
    Rule.DETAILS_MISSING: (
        "Handbook, Create Incident and Update Incident: the details give readers as much "
        "information as possible and say what has changed since the last update"
    ),
    Rule.COMPONENTS_MISSING: (
        "Handbook, Create Incident, Affected Infrastructure: tick each affected component; "
        "ticking all infrastructure applies the incident status to every component"
    ),
    Rule.ALL_CLEAR_MISSING: (
        "Handbook, Stage 4 Resolve: close the incident once the issue is resolved and the "
        "Incident Manager has given the all-clear"
    ),
    Rule.X_LIMIT: (
        "Handbook, Update Incident: X takes at most 280 characters, counting every link as 23"
    ),
    Rule.ISSUE_LINK: (
        "Handbook, Create Incident and Resolve Incident: the details always include a link to "
        "the incident issue so that readers can follow along"
    ),
    Rule.BODY_LENGTH: (
        "Handbook, Update Incident: fit the text before the final link in 220 characters, as X "
        "cuts some posts at about 230 and the link to the issue would be lost"
    ),
    Rule.TITLE_LENGTH: (
        "Handbook, Title: brief and concise, saying in simple terms what the issue is"
    ),
    Rule.MONITORING_WITHOUT_STATE: (
        "Handbook, Update Incident: the state becomes Monitoring when a fix is out and a "
        "monitoring period begins, so the words and the state readers see agree"
    ),
    Rule.STATE_WITHOUT_MONITORING: (
        "Handbook, Stage 3 Monitor: mention that systems have returned to normal operation and "
        "that we are monitoring to ensure the issue does not recur"
    ),
    Rule.RESOLVED_TOO_EARLY: (
        "Handbook, Stage 4 Resolve: the incident is called resolved only once the Incident "
        "Manager has given the all-clear and it is resolved on the status page; until "
        "Monitoring, systems are not yet back to normal"
    ),
    Rule.RESOLVE_WITHOUT_RESOLVED: (
        "Handbook, Resolve Incident: state that the issue has been resolved and that systems "
        "have returned to operating normally"
    ),
    Rule.MONITORING_PERIOD: (
        "Handbook, Stage 3 Monitor and Frequency of Updates: estimate how long we will monitor "
        "before resolving, or say when the next update comes"
    ),
    Rule.INTERNAL_HOST: (
        "Public-communication hazard, blocking: an internal host name maps GitLab's "
        "infrastructure for anyone reading and means nothing to users, and a broadcast update "
        "cannot be called back"
    ),
    Rule.INTERNAL_ADDRESS: (
        "Public-communication hazard, blocking: a private or reserved network address maps "
        "GitLab's infrastructure for anyone reading, and a broadcast update cannot be called back"
    ),
    Rule.EMAIL_ADDRESS: (
        "Public-communication hazard, blocking: an e-mail address on the status page is usually "
        "a person's, which is personal data sent to every subscriber and cannot be called back"
    ),
    Rule.CALL_LINK: (
        "Public-communication hazard, blocking: a link to the incident call would let anyone "
        "join the call where the incident is worked"
    ),
    Rule.PUBLIC_ADDRESS: (
        "Public-communication hazard, suggesting: a public IP address may be a user's or a "
        "customer's, which is personal data, but may also be one GitLab publishes itself"
    ),
    Rule.SLACK_CHANNEL: (
        "Public-communication hazard, suggesting: Slack channels are internal and readers cannot "
        "open them; a channel name leaks little, so the incident issue is simply the better "
        "pointer"
    ),
}
ISSUE_LINK_UPDATE_SOURCE = (
    "Handbook, Update Incident: if it fits within the character limit, consider including a "
    "link to the incident issue again"
)


@dataclass(frozen=True, kw_only=True)
class Draft:
    """A status-page publication as the CMOC is about to send it.

    `project` is the production project's path (`gitlab-com/gl-infra/production`) the issue link
    leads into; when blank, no project is configured and the link is not checked. The title is
    checked when creating, as only creating publishes it, and so are the affected components
    (`components`, or knowingly `all_infrastructure`). Resolving needs the Incident Manager's
    all-clear (`all_clear`). `next_update_announced` is true when the composer adds its own
    next-update sentence outside `details`. Links to the project's issues on `gitlab_url` (the
    configured GitLab) are what readers follow, never an internal detail.
    """

    kind: DraftKind
    details: str
    project: str
    title: str = ""
    gitlab_url: str = "https://gitlab.com"
    state: int = IncidentState.INVESTIGATING
    status: int = ComponentStatus.DEGRADED_PERFORMANCE
    next_update_announced: bool = False
    components: tuple[str, ...] = ()
    all_infrastructure: bool = False
    all_clear: bool = False


@dataclass(frozen=True)
class PublishWarning:
    """One thing to fix (BLOCK) or to consider (SUGGEST) before publishing, and its source."""

    rule: Rule
    severity: Level
    text: str
    source: str

    @property
    def blocks(self) -> bool:
        """Whether this warning stops publishing."""
        return self.severity is Level.BLOCK


def check(draft: Draft) -> list[PublishWarning]:
    """Every warning for `draft`, blocking ones first, each rule at most once."""
    found = [*_title_missing(draft), *_components(draft), *_all_clear(draft)]
    if draft.details.strip():
        found += [
            *_x_limit(draft),
            *_issue_link(draft),
            *_body_length(draft),
            *_state_wording(draft),
            *_monitoring_period(draft),
        ]
    else:
        # Nothing to read yet: the rules about the words wait for them.
        found.append(
            _warning(
                Rule.DETAILS_MISSING,
                Level.BLOCK,
                "The details are empty: say what readers see and what is being done.",
            )
        )
    found += [*_title_length(draft), *_internal_details(draft)]
    return sorted(found, key=lambda warning: not warning.blocks)


def blocking(warnings: list[PublishWarning]) -> list[PublishWarning]:
    """The warnings that stop publishing."""
    return [warning for warning in warnings if warning.blocks]


def _warning(rule: Rule, severity: Level, text: str) -> PublishWarning:
    return PublishWarning(rule, severity, text, SOURCES[rule])


def _title_missing(draft: Draft) -> Iterator[PublishWarning]:
    if draft.kind is DraftKind.CREATE and not draft.title.strip():
        yield _warning(
            Rule.TITLE_MISSING,
            Level.BLOCK,
            "The title is empty: say in simple terms what the issue is.",
        )


def _components(draft: Draft) -> Iterator[PublishWarning]:
    if draft.kind is DraftKind.CREATE and not (draft.components or draft.all_infrastructure):
        yield _warning(
            Rule.COMPONENTS_MISSING,
            Level.BLOCK,
            "No affected components are chosen: choose each affected component, or knowingly "
            "all infrastructure.",
        )


def _all_clear(draft: Draft) -> Iterator[PublishWarning]:
    if draft.kind is DraftKind.RESOLVE and not draft.all_clear:
        yield _warning(
            Rule.ALL_CLEAR_MISSING,
            Level.BLOCK,
            "The Incident Manager's all-clear is not recorded: resolve only after it, and tick "
            "it above once given.",
        )


def _x_limit(draft: Draft) -> Iterator[PublishWarning]:
    report = textlimits.check_length(draft.details)
    if report.over_limit:
        yield _warning(
            Rule.X_LIMIT,
            Level.BLOCK,
            f"The text is {report.weighted} of {report.limit} characters on X: shorten it by "
            f"{report.weighted - report.limit} so it can be posted with its link whole.",
        )


def _issue_link(draft: Draft) -> Iterator[PublishWarning]:
    if not draft.project.strip():
        return
    if linking.first_issue_iid([draft.details], draft.project) is not None:
        return
    if draft.kind is DraftKind.UPDATE:
        yield PublishWarning(
            Rule.ISSUE_LINK,
            Level.SUGGEST,
            "The details have no link to the incident issue: add it again if it fits, so "
            "readers who missed it know where to follow along.",
            ISSUE_LINK_UPDATE_SOURCE,
        )
    else:
        yield _warning(
            Rule.ISSUE_LINK,
            Level.BLOCK,
            "The details have no link to the incident issue: add it so readers can follow along.",
        )


def _body_length(draft: Draft) -> Iterator[PublishWarning]:
    report = textlimits.check_length(draft.details)
    # Over X's limit the X limit rule says it already, with this same advice.
    if report.over_limit or not report.body_over:
        return
    if report.has_link:
        text = (
            f"The text before the final link is {report.body_weighted} characters on X: shorten "
            f"it to {report.body_limit} or fewer so the link is not cut."
        )
    else:
        text = (
            f"The text is {report.body_weighted} characters on X: shorten it to "
            f"{report.body_limit} or fewer so it is not cut and the issue link still fits."
        )
    yield _warning(Rule.BODY_LENGTH, Level.BLOCK, text)


def _title_length(draft: Draft) -> Iterator[PublishWarning]:
    length = len(draft.title.strip())
    if draft.kind is DraftKind.CREATE and length > TITLE_LIMIT:
        yield _warning(
            Rule.TITLE_LENGTH,
            Level.SUGGEST,
            f"The title is {length} characters: shorten it to {TITLE_LIMIT} or fewer, saying in "
            "simple terms what the issue is.",
        )


# Words that put a phrase under a condition, in the future or in the negative.
_HEDGES = frozenset(
    {
        *("will", "would", "shall", "should", "going", "expect", "expects", "expected"),
        *("expecting", "hope", "hoping", "plan", "plans", "planning", "next", "soon"),
        *("until", "till", "once", "when", "whenever", "if", "unless", "before", "after"),
        *("not", "no", "never", "yet", "whether"),
    }
)
_HEDGE_ENDINGS = ("'ll", "’ll", "n't", "n’t")
_CLAUSE_END = re.compile(r"[,;:.!?](?:\s|$)|\n|\s[-–—]\s|\bbut\b", re.IGNORECASE)
_WORDS = re.compile(r"[\w'’]+")
_CLAIM_LEAD = (
    r"(?:(?:has|have|had)\s+(?:now\s+|since\s+)?been|is|are|was|were|we(?:'ve|’ve|\s+have)"
    r"|has|have|issue|incident|problem|outage)\s+(?:(?:now|fully|completely|successfully)\s+)*"
)
_RESOLVED = re.compile(rf"\b{_CLAIM_LEAD}resolved\b|^\s*resolved\b", re.IGNORECASE)
_FIXED_OR_NORMAL = re.compile(
    rf"\b{_CLAIM_LEAD}fixed\b|^\s*fixed\b"
    r"|\b(?:operating|working|functioning|performing)\s+(?:normally|as\s+(?:expected|usual))\b"
    r"|\b(?:back|returned|restored|recovered)\s+to\s+normal\b"
    r"|\bfully\s+(?:operational|restored|recovered)\b",
    re.IGNORECASE,
)
_MONITORING = re.compile(r"\bmonitor(?:ing|ed|s)?\b", re.IGNORECASE)
# "our monitoring", "monitoring alerts": the tool, not the stage.
_MONITORING_TOOL_BEFORE = frozenset(
    {"our", "the", "its", "their", "internal", "automated", "synthetic", "from", "by", "via"}
)
_MONITORING_TOOL_AFTER = re.compile(
    r"\s+(?:systems?|tools?|alerts?|alerted|detected|dashboards?|graphs?|shows?|showed|data)\b",
    re.IGNORECASE,
)


def _clause_words(text: str, start: int) -> list[str]:
    """The words of the clause that leads up to `start`."""
    head = text[:start]
    ends = list(_CLAUSE_END.finditer(head))
    return _WORDS.findall(head[ends[-1].end() :] if ends else head)


def _hedged(text: str, start: int) -> bool:
    words = [word.lower() for word in _clause_words(text, start)]
    return any(word in _HEDGES or word.endswith(_HEDGE_ENDINGS) for word in words)


def _claims(pattern: re.Pattern[str], text: str) -> bool:
    return any(not _hedged(text, match.start()) for match in pattern.finditer(text))


def _claims_monitoring(text: str) -> bool:
    for match in _MONITORING.finditer(text):
        before = _clause_words(text, match.start())
        if before and before[-1].lower() in _MONITORING_TOOL_BEFORE:
            continue
        if _MONITORING_TOOL_AFTER.match(text, match.end()) or _hedged(text, match.start()):
            continue
        return True
    return False


def _state_wording(draft: Draft) -> Iterator[PublishWarning]:
    text = draft.details
    if draft.kind is DraftKind.RESOLVE:
        if not (_claims(_RESOLVED, text) or _claims(_FIXED_OR_NORMAL, text)):
            yield _warning(
                Rule.RESOLVE_WITHOUT_RESOLVED,
                Level.SUGGEST,
                "The resolving text does not say the issue is resolved: state that it has been "
                "resolved and that systems are operating normally.",
            )
        return
    state = handbook.state_name(draft.state)
    monitoring = draft.state == IncidentState.MONITORING
    if not monitoring and _claims_monitoring(text):
        yield _warning(
            Rule.MONITORING_WITHOUT_STATE,
            Level.SUGGEST,
            f"The text says we are monitoring but the state is {state}: set the state to "
            "Monitoring, or reword the text if the monitoring period has not begun.",
        )
    if monitoring and not _MONITORING.search(text):
        yield _warning(
            Rule.STATE_WITHOUT_MONITORING,
            Level.SUGGEST,
            "The state is Monitoring but the text does not say so: say that systems are back to "
            "normal and that we are monitoring to make sure the issue does not recur.",
        )
    if _claims(_RESOLVED, text):
        yield _warning(
            Rule.RESOLVED_TOO_EARLY,
            Level.SUGGEST,
            "The text says the issue is resolved but publishing it leaves the incident open: "
            "resolve the incident after the Incident Manager's all-clear, or reword the text.",
        )
    elif not monitoring and _claims(_FIXED_OR_NORMAL, text):
        yield _warning(
            Rule.RESOLVED_TOO_EARLY,
            Level.SUGGEST,
            f"The text says the issue is fixed or systems are operating normally but the state "
            f"is {state}: set the state to Monitoring, or reword the text.",
        )


# Monitoring periods ("for the next 30 minutes", "over the next hour", "until 15:00 UTC") are read
# by the cadence parser once phrased as the "within the next ..." or "next update at ..." it knows.
_PERIOD_LEAD = re.compile(
    r"\b(?:for|over|in|during|within)\s+"
    r"(?:the\s+(?:next|coming)\s+|another\s+|a\s+further\s+|at\s+least\s+)?",
    re.IGNORECASE,
)
_NEXT_HOUR = re.compile(r"\bwithin the next hour\b", re.IGNORECASE)
_UNTIL = re.compile(r"\b(?:until|till)\s+", re.IGNORECASE)


def _announces_period_or_update(draft: Draft) -> bool:
    if draft.next_update_announced or cadence.announcement(draft.details) is not None:
        return True
    phrased = _PERIOD_LEAD.sub("within the next ", draft.details)
    phrased = _NEXT_HOUR.sub("within the next 1 hour", phrased)
    phrased = _UNTIL.sub("next update at ", phrased)
    return cadence.announcement(phrased) is not None


def _monitoring_period(draft: Draft) -> Iterator[PublishWarning]:
    if draft.kind is DraftKind.RESOLVE or draft.state != IncidentState.MONITORING:
        return
    if not _announces_period_or_update(draft):
        yield _warning(
            Rule.MONITORING_PERIOD,
            Level.SUGGEST,
            "The monitoring update gives no monitoring period or next update: say how long we "
            f"will monitor, for example for the next {handbook.MONITORING_MINUTES} minutes, or "
            "when the next update comes.",
        )


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"(?<![\w.+-])(?P<user>[\w.+-]+)@(?:{_LABEL}\.)+[a-z]{{2,}}\b", re.IGNORECASE)
_CALL_LINK = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:[a-z0-9-]+\.)*(?:"
    + "|".join(re.escape(host) for host in CALL_HOSTS)
    + r")/\S+",
    re.IGNORECASE,
)
_SLACK_LINK = re.compile(
    r"(?<![\w.-])(?:https?://)?[a-z0-9-]+\.slack\.com/archives/\S*", re.IGNORECASE
)
# A suffix counts in lower case only, so prose missing a space ("done.Local") is not a host.
_INTERNAL_HOST = re.compile(
    rf"(?<![\w.@-])(?:{_LABEL}\.)+"
    rf"(?-i:(?P<suffix>{'|'.join(re.escape(suffix) for suffix in INTERNAL_HOST_SUFFIXES)}))"
    r"(?![\w-]|\.[a-z0-9])",
    re.IGNORECASE,
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4})(?![\w:])",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
# A Slack channel: `#` then words joined by dashes (`#incident-12345`); `#hugops` is a hashtag.
_SLACK_CHANNEL = re.compile(r"(?<![^\s(\[\"'`])#[a-z0-9_]+(?:-[a-z0-9_]+)+", re.IGNORECASE)


def _without_issue_links(draft: Draft) -> str:
    """The details with each link to the project's issues on the configured GitLab blanked."""
    text, home = draft.details, urlsplit(draft.gitlab_url).netloc.lower()
    if not draft.project or not home:
        return text
    for match in linking.issue_url_pattern(draft.project).finditer(draft.details):
        if urlsplit(match.group(0)).netloc.lower() == home:
            text = _masked(text, match)
    return text


def _masked(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]


def _address(candidate: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not any(char.isalnum() for char in candidate):
        return None
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _leaks(text: str) -> Iterator[tuple[Rule, str]]:
    """Each internal detail in `text`: its rule and, for hosts, the suffix that marks it."""
    for pattern, rule in ((_EMAIL, Rule.EMAIL_ADDRESS), (_CALL_LINK, Rule.CALL_LINK)):
        for match in pattern.finditer(text):
            if rule is Rule.EMAIL_ADDRESS and match["user"].lower() in PUBLIC_MAIL_USERS:
                continue
            yield rule, ""
            text = _masked(text, match)
    for match in _SLACK_LINK.finditer(text):
        yield Rule.SLACK_CHANNEL, ""
        text = _masked(text, match)
    for match in _INTERNAL_HOST.finditer(text):
        yield Rule.INTERNAL_HOST, match["suffix"]
    for pattern in (_IPV6, _IPV4):
        for match in pattern.finditer(text):
            address = _address(match.group(0))
            if address is not None:
                yield (Rule.PUBLIC_ADDRESS if address.is_global else Rule.INTERNAL_ADDRESS), ""
                text = _masked(text, match)
    for _ in _SLACK_CHANNEL.finditer(text):
        yield Rule.SLACK_CHANNEL, ""


def _subject(places: list[str]) -> str:
    if places == ["title"]:
        return "The title contains"
    if places == ["details"]:
        return "The details contain"
    return "The title and the details contain"


_LEAK_ADVICE = {
    Rule.INTERNAL_HOST: (
        Level.BLOCK,
        "an internal host name (one ending in .{suffix}): remove it and name the affected "
        "service in plain words instead.",
    ),
    Rule.INTERNAL_ADDRESS: (
        Level.BLOCK,
        "an internal network address: remove it before publishing.",
    ),
    Rule.EMAIL_ADDRESS: (
        Level.BLOCK,
        "an e-mail address: remove it and point readers to the incident issue instead.",
    ),
    Rule.CALL_LINK: (
        Level.BLOCK,
        "a link to the incident call: remove it so that only the incident team can join.",
    ),
    Rule.PUBLIC_ADDRESS: (
        Level.SUGGEST,
        "an IP address, which may be a user's: remove it unless it is one that GitLab "
        "publishes itself.",
    ),
    Rule.SLACK_CHANNEL: (
        Level.SUGGEST,
        "a Slack channel that readers cannot open: remove it and point them to the incident "
        "issue instead.",
    ),
}


def _internal_details(draft: Draft) -> Iterator[PublishWarning]:
    parts = [("details", _without_issue_links(draft))]
    if draft.kind is DraftKind.CREATE:
        parts.insert(0, ("title", draft.title))
    places: dict[Rule, list[str]] = {}
    suffixes: list[str] = []
    for place, text in parts:
        for rule, suffix in _leaks(text):
            if place not in places.setdefault(rule, []):
                places[rule].append(place)
            if suffix:
                suffixes.append(suffix)
    for rule, (severity, advice) in _LEAK_ADVICE.items():
        if rule in places:
            text = f"{_subject(places[rule])} {advice.format(suffix=next(iter(suffixes), ''))}"
            yield _warning(rule, severity, text)
