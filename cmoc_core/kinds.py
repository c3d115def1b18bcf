"""The kinds of rows the history holds, as the tables store them."""

from enum import StrEnum


class System(StrEnum):
    PAGERDUTY = "pagerduty"
    GITLAB = "gitlab"


class IssueKind(StrEnum):
    PRODUCTION = "production"
    HANDOVER = "handover"
    CONTACT_REQUEST = "contact_request"
    PRACTICE_EVENT = "practice_event"


class ScheduleKind(StrEnum):
    CMOC = "cmoc"
    SHADOW = "shadow"
