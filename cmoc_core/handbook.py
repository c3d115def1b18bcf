"""The CMOC handbook's rules as data: states, statuses, cadence, stages, templates, tags."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum, StrEnum


class IncidentState(IntEnum):
    """Status.io's incident states; resolving sets the status back to Operational."""

    INVESTIGATING = 100
    IDENTIFIED = 200
    MONITORING = 300


class ComponentStatus(IntEnum):
    """Status.io's component statuses."""

    OPERATIONAL = 100
    PLANNED_MAINTENANCE = 200
    DEGRADED_PERFORMANCE = 300
    PARTIAL_SERVICE_DISRUPTION = 400
    SERVICE_DISRUPTION = 500
    SECURITY_EVENT = 600


INCIDENT_STATUSES = (
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.PARTIAL_SERVICE_DISRUPTION,
    ComponentStatus.SERVICE_DISRUPTION,
)

# Minutes between status-page updates by the state of the earlier update and the severity
# ("Frequency of Updates"); severities 3 and 4 share a column in the handbook.
CADENCE_MINUTES: dict[IncidentState, dict[int, int]] = {
    IncidentState.INVESTIGATING: {1: 10, 2: 15, 3: 15, 4: 15},
    IncidentState.IDENTIFIED: {1: 10, 2: 30, 3: 30, 4: 30},
    IncidentState.MONITORING: {1: 30, 2: 60, 3: 60, 4: 60},
}
DEFAULT_SEVERITY = 3
GRACE = timedelta(seconds=60)
ACK_TARGET = timedelta(minutes=15)
MONITORING_MINUTES = 30

STATUS_PAGE_LABEL = "Incident-Comms::Status-Page"
PRODUCTION_ISSUE_TAG = "gitlab-com_gl-infra_production_issues_{iid}"
CONFIDENTIAL_INCIDENT_TAG = "com_incident_{number}"
ZENDESK_QUERY = (
    'created>{hours}hours order_by:created_at sort:desc group:none group:"support" '
    "-form:billing -form:security"
)
ZENDESK_MIN_HOURS = 4

BROADCAST_CHANNELS = (
    "notify_email",
    "notify_sms",
    "notify_webhook",
    "social",
    "irc",
    "hipchat",
    "msteams",
    "slack",
)
# What people call each broadcast channel; "social" is Status.io's flag for the X account.
CHANNEL_NAMES: dict[str, str] = {
    "notify_email": "Email",
    "notify_sms": "SMS",
    "notify_webhook": "Webhook",
    "social": "X",
    "irc": "IRC",
    "hipchat": "HipChat",
    "msteams": "Microsoft Teams",
    "slack": "Slack",
}


REGIONS = ("AMER", "EMEA", "APAC")


def region_in(name: str | None) -> str | None:
    """The region (AMER, EMEA, APAC) a schedule's name mentions, if exactly one."""
    words = set(re.findall(r"[A-Z]+", (name or "").upper()))
    found = [region for region in REGIONS if region in words]
    return found[0] if len(found) == 1 else None


def required_interval(state: int, severity: int | None) -> timedelta:
    """The longest allowed gap after an update in `state` for an incident of `severity`."""
    minutes = CADENCE_MINUTES[IncidentState(state)][severity or DEFAULT_SEVERITY]
    return timedelta(minutes=minutes)


def state_name(code: int) -> str:
    """`Investigating` for 100; the raw code for anything unknown."""
    try:
        return IncidentState(code).name.title()
    except ValueError:
        return str(code)


def status_name(code: int) -> str:
    """`Degraded Performance` for 300; the raw code for anything unknown."""
    try:
        return ComponentStatus(code).name.replace("_", " ").title()
    except ValueError:
        return str(code)


class Stage(StrEnum):
    ENGAGE = "1 Engage"
    MANAGE = "2 Manage"
    MONITOR = "3 Monitor"
    RESOLVE = "4 Resolve"


class StepKey(StrEnum):
    """The checklist steps of the handbook's stages, as kept with each incident."""

    ACKNOWLEDGE_PAGE = "acknowledge_page"
    JOIN_CHANNEL = "join_channel"
    CREATE_INCIDENT = "create_incident"
    NOTIFY_STAKEHOLDERS = "notify_stakeholders"
    LABEL_ISSUE = "label_issue"
    RESOLVE_PAGE = "resolve_page"
    ZENDESK_TAG = "zendesk_tag"
    UPDATE_ON_CADENCE = "update_on_cadence"
    START_MONITORING = "start_monitoring"
    IM_ALL_CLEAR = "im_all_clear"
    RESOLVE_INCIDENT = "resolve_incident"
    POST_MORTEM = "post_mortem"
    FINAL_ZENDESK_CHECK = "final_zendesk_check"


@dataclass(frozen=True)
class Step:
    """One checklist step of a stage."""

    key: StepKey
    stage: Stage
    text: str


STEPS: tuple[Step, ...] = (
    Step(
        StepKey.ACKNOWLEDGE_PAGE,
        Stage.ENGAGE,
        "Acknowledge the PagerDuty page (target 15 minutes)",
    ),
    Step(StepKey.JOIN_CHANNEL, Stage.ENGAGE, "Join the incident Slack channel and Zoom call"),
    Step(StepKey.CREATE_INCIDENT, Stage.ENGAGE, "Create the incident in Status.io"),
    Step(
        StepKey.NOTIFY_STAKEHOLDERS,
        Stage.ENGAGE,
        "Notify stakeholders with the Incident Notifier",
    ),
    Step(StepKey.LABEL_ISSUE, Stage.ENGAGE, f"Label the incident issue ~{STATUS_PAGE_LABEL}"),
    Step(StepKey.RESOLVE_PAGE, Stage.ENGAGE, "Resolve the PagerDuty page"),
    Step(StepKey.ZENDESK_TAG, Stage.MANAGE, "Create the Zendesk tag and tag related tickets"),
    Step(StepKey.UPDATE_ON_CADENCE, Stage.MANAGE, "Update Status.io on the cadence"),
    Step(
        StepKey.START_MONITORING,
        Stage.MONITOR,
        "Set the incident to Monitoring (may be skipped)",
    ),
    Step(StepKey.IM_ALL_CLEAR, Stage.RESOLVE, "The Incident Manager has given the all-clear"),
    Step(StepKey.RESOLVE_INCIDENT, Stage.RESOLVE, "Resolve the incident in Status.io"),
    Step(StepKey.POST_MORTEM, Stage.RESOLVE, "Add the post-mortem link"),
    Step(StepKey.FINAL_ZENDESK_CHECK, Stage.RESOLVE, "Check Zendesk for remaining tickets"),
)

GENERIC_UPDATES = (
    "We're seeing elevated error rates on GitLab.com, investigation is underway in: {issue_url}",
    "Some users are reporting connection issues to GitLab.com, we're working on it in: {issue_url}",
)
NO_MATERIAL_UPDATES = (
    "No material updates to report. We're discussing if we should restore from backup or let "
    "the replica catch up first but we have not made a decision.",
    "No material updates to report. We tried starting the Gitaly servers but we're still "
    "missing connectivity.",
    "No material updates to report. We are doing a handover to a new CMOC since the current "
    "CMOC has been at it for three hours straight.",
    "No material updates to report. We would like to thank Google for the #hugops tweet we "
    "received. {link}",
)
MONITORING_UPDATE = (
    "While all systems are online and fully operational, out of an abundance of caution we'll "
    "leave affected components marked as degraded as we monitor. If there are no recurrences "
    "in the next {minutes} minutes, we'll resolve this incident and mark all components as "
    "fully operational."
)
RESOLVED_UPDATE = (
    "This incident has been resolved and all systems are operating normally. "
    "Details are in: {issue_url}"
)
NEXT_UPDATE_SUFFIX = " Next update in {minutes} minutes."

NOTIFIER_FIELDS = (
    "Summary",
    "Severity",
    "Production issue",
    "Incident Slack channel",
    "Status page",
)


def monitoring_update(minutes: int = MONITORING_MINUTES) -> str:
    """The handbook's monitoring message for a monitoring period of `minutes`."""
    return MONITORING_UPDATE.format(minutes=minutes)


def resolved_update(issue_url: str) -> str:
    """The resolved message, with the incident issue link the handbook asks for."""
    return RESOLVED_UPDATE.format(issue_url=issue_url)


def zendesk_tag(*, iid: int | None, confidential_number: int | None = None) -> str:
    """The incident's Zendesk tag: from the production issue, or manual for confidential ones."""
    if confidential_number is not None:
        return CONFIDENTIAL_INCIDENT_TAG.format(number=confidential_number)
    if iid is None:
        raise ValueError("a Zendesk tag needs the production issue number")
    return PRODUCTION_ISSUE_TAG.format(iid=iid)


def zendesk_query(incident_age: timedelta) -> str:
    """The handbook's new-tickets search, its hours widened to cover the incident's age."""
    hours = max(ZENDESK_MIN_HOURS, math.ceil(incident_age.total_seconds() / 3600))
    return ZENDESK_QUERY.format(hours=hours)


def notifier_text(
    *, summary: str, severity: int | None, issue_url: str, channel: str, status_page_url: str
) -> str:
    """The Incident Notifier post, one field a line, as the Slack workflow lays it out."""
    values = (
        summary,
        f"S{severity}" if severity else "unknown",
        issue_url,
        channel,
        status_page_url,
    )
    return "\n".join(
        f"*{name}*: {value}" for name, value in zip(NOTIFIER_FIELDS, values, strict=True)
    )
