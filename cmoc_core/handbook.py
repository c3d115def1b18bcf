"""The CMOC handbook's rules as data: incident states and component statuses."""

from __future__ import annotations

from enum import IntEnum


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


STATUS_PAGE_LABEL = "Incident-Comms::Status-Page"


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
