"""The acknowledgement timer of an incident's PagerDuty page: from its trigger to its ack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from cmoc_core import handbook
from cmoc_core.handbook import StepKey
from cmoc_core.models import PagerDutyIncident, WorkingIncident


@dataclass(frozen=True)
class PageTimer:
    """When the page was triggered and, once it is, when it was acknowledged."""

    number: int
    triggered_at: datetime
    acknowledged_at: datetime | None

    @property
    def running(self) -> bool:
        """The page still waits for its acknowledgement."""
        return self.acknowledged_at is None

    def elapsed(self, now: datetime) -> timedelta:
        """From the trigger to the acknowledgement, or to `now` while it waits."""
        return max((self.acknowledged_at or now) - self.triggered_at, timedelta(0))

    def late(self, now: datetime) -> bool:
        """Past the handbook's 15-minute acknowledgement target."""
        return self.elapsed(now) > handbook.ACK_TARGET


def page_timer(*, session: Session, incident: WorkingIncident) -> PageTimer | None:
    """The timer of the incident's page; None without a page or before the page is synced."""
    if not incident.pagerduty_incident_id:
        return None
    page = session.get(PagerDutyIncident, incident.pagerduty_incident_id)
    if page is None:
        return None
    ticked = incident.steps.get(StepKey.ACKNOWLEDGE_PAGE)
    # Acknowledged in PagerDuty, from the cockpit, or resolved without an acknowledgement.
    ends = [
        page.acknowledged_at,
        page.resolved_at,
        datetime.fromisoformat(ticked) if ticked else None,
    ]
    return PageTimer(
        number=page.incident_number,
        triggered_at=page.created_at,
        acknowledged_at=min((end for end in ends if end is not None), default=None),
    )
