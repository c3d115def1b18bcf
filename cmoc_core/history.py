"""Incident history: the filterable incident list and one incident's full record."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from cmoc_core import cadence, handbook, linking
from cmoc_core.handbook import state_name, status_name
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    IssueKind,
    PagerDutyIncident,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
)
from cmoc_core.severity import Severity, severities

if TYPE_CHECKING:  # pandas is slow to load: imported where a table is built
    import pandas as pd

INCIDENT_COLUMNS = [
    "id",
    "opened",
    "title",
    "state",
    "status",
    "severity",
    "updates",
    "last_update",
    "issue_iid",
    "issue_url",
    "page",
]


def incident_table(
    *,
    session: Session,
    since: datetime,
    until: datetime,
    text: str = "",
    state: str = "all",
    severities: list[int] | None = None,
) -> pd.DataFrame:
    """Status-page incidents opened in [since, until), newest first, with their latest state."""
    import pandas as pd

    last = (
        select(
            StatusPageMessage.incident_id,
            func.count().label("updates"),
            func.max(StatusPageMessage.posted_at).label("last_update"),
        )
        .group_by(StatusPageMessage.incident_id)
        .subquery()
    )
    query = (
        select(StatusPageIncident, GitLabIssue, last.c.updates, last.c.last_update)
        .outerjoin(last, last.c.incident_id == StatusPageIncident.id)
        .outerjoin(
            GitLabIssue,
            (col(GitLabIssue.iid) == col(StatusPageIncident.production_issue_iid))
            & (col(GitLabIssue.kind) == IssueKind.PRODUCTION),
        )
        .where(StatusPageIncident.datetime_open >= since, StatusPageIncident.datetime_open < until)
        .order_by(col(StatusPageIncident.datetime_open).desc())
    )
    if text.strip():
        needle = f"%{text.strip()}%"
        query = query.where(
            or_(
                col(StatusPageIncident.name).ilike(needle),
                col(StatusPageIncident.id) == text.strip(),
            )
        )
    if state in ("active", "resolved"):
        query = query.where(StatusPageIncident.resolved == (state == "resolved"))
    rows = [
        (incident, issue.severity if issue else None, issue.web_url if issue else None, n, last_at)
        for incident, issue, n, last_at in session.exec(query)
    ]
    if severities:
        rows = [row for row in rows if (row[1] or 0) in severities]
    latest = _latest_messages(session, [incident.id for incident, *_ in rows])
    pages = _page_numbers(session, [incident.id for incident, *_ in rows])
    records = []
    for incident, severity, url, updates, last_update in rows:
        message = latest.get(incident.id)
        state_now = state_name(message.state) if message else ""
        records.append(
            {
                "id": incident.id,
                "opened": incident.datetime_open,
                "title": incident.name,
                "state": "Resolved" if incident.resolved else state_now,
                "status": status_name(message.status) if message else "",
                "severity": f"S{severity}" if severity else "unknown",
                "updates": int(updates or 0),
                "last_update": last_update,
                "issue_iid": incident.production_issue_iid,
                "issue_url": url,
                "page": pages.get(incident.id),
            }
        )
    return pd.DataFrame(records, columns=INCIDENT_COLUMNS)


def incident_labels(frame: pd.DataFrame, linked: Sequence[LinkedIncident] = ()) -> dict[str, str]:
    """Unique picker labels (`DD-MM-YYYY HH:MM — title`) to ids, newest first, `linked` included."""
    shown = set(frame["id"])
    rows = list(zip(frame["id"], frame["opened"], frame["title"], strict=True))
    rows += [(i.id, i.opened, i.title) for i in linked if i.id not in shown]
    rows.sort(key=lambda row: row[1], reverse=True)
    labels: dict[str, str] = {}
    for incident_id, opened, title in rows:
        label = f"{opened:%d-%m-%Y %H:%M} — {title}"
        if label in labels:
            label = f"{label} ({incident_id[-6:]})"
        labels[label] = incident_id
    return labels


def _latest_messages(session: Session, ids: list[str]) -> dict[str, StatusPageMessage]:
    latest: dict[str, StatusPageMessage] = {}
    if not ids:
        return latest
    for message in session.exec(
        select(StatusPageMessage)
        .where(col(StatusPageMessage.incident_id).in_(ids))
        .order_by(col(StatusPageMessage.posted_at))
    ):
        latest[message.incident_id] = message
    return latest


def _page_numbers(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    query = select(
        PagerDutyIncident.statuspage_incident_id, PagerDutyIncident.incident_number
    ).where(col(PagerDutyIncident.statuspage_incident_id).in_(ids))
    return {incident: number for incident, number in session.exec(query) if incident is not None}


def production_issue(*, session: Session, iid: int | None) -> GitLabIssue | None:
    """The synced production issue with this iid, if any."""
    if iid is None:
        return None
    query = select(GitLabIssue).where(
        GitLabIssue.iid == iid, GitLabIssue.kind == IssueKind.PRODUCTION
    )
    return session.exec(query).first()


# Links into the history -------------------------------------------------------------------------

_ISSUE_NUMBER = re.compile(r"#?\s*(\d{1,9})")
_NOT_KEPT = "it may be older than the history kept, or the {what} is mistyped. Choose one below."


@dataclass(frozen=True)
class LinkedIncident:
    """An incident an address leads to."""

    id: str
    opened: datetime
    title: str
    resolved: bool
    # The PagerDuty page that ties it to the production issue its own updates do not name.
    page: int | None = None


@dataclass(frozen=True)
class NoLink:
    """The address names no incident: the newest one is shown."""

    shown: None = None
    linked: tuple[LinkedIncident, ...] = ()
    notice: None = None


@dataclass(frozen=True)
class Found:
    """The address leads to exactly one incident (`issue` is the number it was asked by)."""

    incident: LinkedIncident
    issue: int | None = None

    @property
    def shown(self) -> LinkedIncident:
        """The incident to open."""
        return self.incident

    @property
    def linked(self) -> tuple[LinkedIncident, ...]:
        """The incidents the picker must offer whatever the filters."""
        return (self.incident,)

    @property
    def notice(self) -> str | None:
        """How the production issue led here, when the address named one."""
        if self.issue is None:
            return None
        if self.incident.page is None:
            return f"Opened from production issue #{self.issue}."
        return (
            f"Opened from production issue #{self.issue}: its PagerDuty page "
            f"#{self.incident.page} led to this incident, whose updates do not name the issue."
        )


@dataclass(frozen=True)
class Several:
    """Several incidents are linked to the production issue; the most recent one opens."""

    issue: int
    incidents: tuple[LinkedIncident, ...]  # newest first

    @property
    def shown(self) -> LinkedIncident:
        """The incident to open: the most recent."""
        return self.incidents[0]

    @property
    def linked(self) -> tuple[LinkedIncident, ...]:
        """The incidents the picker must offer whatever the filters."""
        return self.incidents

    @property
    def notice(self) -> str:
        """What the person sees above the list of incidents."""
        return (
            f"{len(self.incidents)} incidents are linked to production issue #{self.issue}. "
            "The most recent one is shown; choose another below."
        )


class Unknown(StrEnum):
    """What an address named that the history does not hold."""

    INCIDENT = "incident"
    ISSUE = "issue"
    NOT_A_NUMBER = "not a number"


@dataclass(frozen=True)
class NotFound:
    """The address leads to no incident in the history; nothing is shown until one is chosen."""

    unknown: Unknown
    issue: int | None = None
    shown: None = None
    linked: tuple[LinkedIncident, ...] = ()

    @property
    def notice(self) -> str:
        """What happened and what to do, for a person who followed the link."""
        if self.unknown is Unknown.NOT_A_NUMBER:
            return (
                "That link does not name a production issue number: a link to issue 17999 "
                "ends in ?issue=17999. Choose an incident below."
            )
        if self.unknown is Unknown.ISSUE:
            return f"No incident linked to production issue #{self.issue} is in the history: " + (
                _NOT_KEPT.format(what="number")
            )
        return "No incident with that link is in the history: " + _NOT_KEPT.format(what="link")


HistoryLink = NoLink | Found | Several | NotFound


def issue_number(text: str, project: str) -> int | None:
    """The production issue number `17999`, `#17999` or a link to that issue names, or None."""
    match = _ISSUE_NUMBER.fullmatch(text.strip())
    if match:
        return int(match.group(1))
    return linking.first_issue_iid([text.strip()], project)


def follow_link(
    *, session: Session, incident: str | None, issue: str | None, project: str
) -> HistoryLink:
    """Where `?incident=<id>` (which wins) or `?issue=<production issue number>` leads."""
    if incident is not None:
        found = session.get(StatusPageIncident, incident.strip())
        return Found(_linked(found)) if found else NotFound(Unknown.INCIDENT)
    if issue is None:
        return NoLink()
    iid = issue_number(issue, project)
    if iid is None:
        return NotFound(Unknown.NOT_A_NUMBER)
    incidents = incidents_of_issue(session=session, iid=iid)
    if not incidents:
        return NotFound(Unknown.ISSUE, iid)
    if len(incidents) == 1:
        return Found(incidents[0], iid)
    return Several(iid, incidents)


def incidents_of_issue(*, session: Session, iid: int) -> tuple[LinkedIncident, ...]:
    """The incidents linked to a production issue, newest first."""
    # Updates name an incident's issue (linking.first_issue_iid, stored at sync); an incident
    # whose updates name none is still tied to it by a page naming it (linking.link_page).
    found = {
        incident.id: _linked(incident)
        for incident in session.exec(
            select(StatusPageIncident).where(StatusPageIncident.production_issue_iid == iid)
        )
    }
    through_pages = session.exec(
        select(StatusPageIncident, PagerDutyIncident.incident_number)
        .join(
            PagerDutyIncident,
            col(PagerDutyIncident.statuspage_incident_id) == col(StatusPageIncident.id),
        )
        .where(PagerDutyIncident.production_issue_iid == iid)
        .order_by(col(PagerDutyIncident.created_at))
    )
    for incident, page in through_pages:
        if incident.id not in found:
            found[incident.id] = _linked(incident, page)
    return tuple(sorted(found.values(), key=lambda i: (i.opened, i.id), reverse=True))


def _linked(incident: StatusPageIncident, page: int | None = None) -> LinkedIncident:
    return LinkedIncident(
        incident.id, incident.datetime_open, incident.name, incident.resolved, page
    )


@dataclass
class IncidentRecord:
    """One status-page incident with its messages, production issue and pages."""

    incident: StatusPageIncident
    rows: list[StatusPageMessage]
    issue: GitLabIssue | None
    pages: list[PagerDutyIncident]

    @property
    def messages(self) -> pd.DataFrame:
        """The messages in order, with state and status by name; a resolve reads Resolved."""
        import pandas as pd

        # Status.io has no resolved state: `incident/resolve` keeps the state code it is sent.
        resolving = len(self.rows) - 1 if self.incident.resolved else -1
        return pd.DataFrame(
            [
                {
                    "posted": m.posted_at,
                    "state": "Resolved" if n == resolving else state_name(m.state),
                    "status": status_name(m.status),
                    "details": m.details,
                }
                for n, m in enumerate(self.rows)
            ],
            columns=["posted", "state", "status", "details"],
        )


def incident_record(*, session: Session, incident_id: str) -> IncidentRecord | None:
    """Everything stored about one status-page incident, or None if unknown."""
    incident = session.get(StatusPageIncident, incident_id)
    if incident is None:
        return None
    messages = session.exec(
        select(StatusPageMessage)
        .where(StatusPageMessage.incident_id == incident_id)
        .order_by(col(StatusPageMessage.posted_at))
    ).all()
    issue = production_issue(session=session, iid=incident.production_issue_iid)
    pages = session.exec(
        select(PagerDutyIncident)
        .where(PagerDutyIncident.statuspage_incident_id == incident_id)
        .order_by(col(PagerDutyIncident.created_at))
    ).all()
    return IncidentRecord(incident, list(messages), issue, list(pages))


@dataclass
class TimelineGap:
    """The time between two updates, its due time and whether the later one came in time."""

    start: datetime
    due: datetime
    end: datetime
    on_time: bool
    state: str


@dataclass
class Timeline:
    """What the incident timeline draws, and the cross-system consistency flags."""

    phases: list[tuple[str, datetime, datetime]]
    updates: list[tuple[datetime, str]]
    gaps: list[TimelineGap]
    events: list[tuple[str, datetime]]
    flags: list[str]


def incident_timeline(
    *, session: Session, record: IncidentRecord, project: str, now: datetime
) -> Timeline:
    """State phases, updates, due windows, page and label events, and what looks inconsistent."""
    incident, messages = record.incident, record.rows
    iid = incident.production_issue_iid
    known = severities(session=session, project=project, iids=[iid] if iid is not None else [])
    severity = known.get(iid) if iid is not None else None
    end_of_story = messages[-1].posted_at if incident.resolved and messages else now
    phases: list[tuple[str, datetime, datetime]] = []
    gaps: list[TimelineGap] = []
    for position, message in enumerate(messages):
        later = messages[position + 1] if position + 1 < len(messages) else None
        until = later.posted_at if later else end_of_story
        if not (incident.resolved and later is None):
            phases.append((state_name(message.state), message.posted_at, until))
        if message.state not in handbook.CADENCE_MINUTES or (incident.resolved and later is None):
            continue
        level = severity.at(message.posted_at) if severity else None
        due = cadence.next_due(
            posted_at=message.posted_at, text=message.details, state=message.state, severity=level
        )
        arrived = later.posted_at if later else now
        gaps.append(
            TimelineGap(
                message.posted_at,
                due,
                arrived,
                cadence.is_on_time(due=due, posted_at=arrived),
                state_name(message.state),
            )
        )
    events: list[tuple[str, datetime]] = []
    for page in record.pages:
        events.append((f"page #{page.incident_number} triggered", page.created_at))
        if page.acknowledged_at:
            events.append((f"page #{page.incident_number} acknowledged", page.acknowledged_at))
    label_added = None
    if record.issue is not None:
        label_added = session.exec(
            select(func.min(GitLabLabelEvent.created_at)).where(
                GitLabLabelEvent.issue_id == record.issue.id,
                GitLabLabelEvent.label_name == handbook.STATUS_PAGE_LABEL,
                GitLabLabelEvent.action == "add",
            )
        ).one()
        if label_added:
            events.append(("issue labelled", label_added))
    return Timeline(
        phases=phases,
        updates=[(m.posted_at, state_name(m.state)) for m in messages],
        gaps=gaps,
        events=sorted(events, key=lambda e: e[1]),
        flags=_flags(session, record, severity),
    )


def _flags(session: Session, record: IncidentRecord, severity: Severity | None) -> list[str]:
    incident, issue = record.incident, record.issue
    flags = []
    if incident.production_issue_iid is None:
        flags.append("No production issue link in the messages")
    elif issue is None:
        flags.append(f"Production issue #{incident.production_issue_iid} is not synced")
    if issue is not None and severity is None and issue.severity is None:
        flags.append("Severity unknown (no severity:: label)")
    if issue is not None and handbook.STATUS_PAGE_LABEL not in issue.labels:
        flags.append(f"Label {handbook.STATUS_PAGE_LABEL} missing on the issue")
    threads = session.exec(
        select(func.count())
        .select_from(StakeholderThread)
        .where(StakeholderThread.statuspage_incident_id == incident.id)
    ).one()
    if not threads:
        flags.append("No stakeholder thread recorded")
    for page in record.pages:
        if page.acknowledged_at is None:
            flags.append(f"Page #{page.incident_number} never acknowledged")
        elif page.acknowledged_at - page.created_at > handbook.ACK_TARGET:
            minutes = (page.acknowledged_at - page.created_at).total_seconds() / 60
            flags.append(f"Page #{page.incident_number} acknowledged after {minutes:.0f} min")
    return flags
