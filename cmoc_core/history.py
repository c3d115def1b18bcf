"""Incident history: the filterable incident list and one incident's full record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from cmoc_core.handbook import state_name, status_name
from cmoc_core.models import (
    GitLabIssue,
    IssueKind,
    PagerDutyIncident,
    StatusPageIncident,
    StatusPageMessage,
)

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
        select(
            StatusPageIncident.id,
            StatusPageIncident.datetime_open,
            StatusPageIncident.name,
            StatusPageIncident.resolved,
            StatusPageIncident.production_issue_iid,
            GitLabIssue.severity,
            GitLabIssue.web_url,
            last.c.updates,
            last.c.last_update,
        )
        .outerjoin(last, last.c.incident_id == StatusPageIncident.id)
        .outerjoin(
            GitLabIssue,
            (GitLabIssue.iid == StatusPageIncident.production_issue_iid)
            & (GitLabIssue.kind == IssueKind.PRODUCTION),
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
    rows = session.exec(query).all()
    if severities:
        rows = [r for r in rows if (r.severity or 0) in severities]
    latest = _latest_messages(session, [r.id for r in rows])
    pages = _page_numbers(session, [r.id for r in rows])
    records = []
    for r in rows:
        message = latest.get(r.id)
        records.append(
            {
                "id": r.id,
                "opened": r.datetime_open,
                "title": r.name,
                "state": "Resolved" if r.resolved else state_name(message.state) if message else "",
                "status": status_name(message.status) if message else "",
                "severity": f"S{r.severity}" if r.severity else "unknown",
                "updates": int(r.updates or 0),
                "last_update": r.last_update,
                "issue_iid": r.production_issue_iid,
                "issue_url": r.web_url,
                "page": pages.get(r.id),
            }
        )
    return pd.DataFrame(records, columns=INCIDENT_COLUMNS)


def incident_labels(frame: pd.DataFrame) -> dict[str, str]:
    """Readable, unique picker labels (`DD-MM-YYYY HH:MM — title`) mapped to incident ids."""
    labels: dict[str, str] = {}
    for incident_id, opened, title in zip(
        frame["id"], frame["opened"], frame["title"], strict=True
    ):
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
        .order_by(StatusPageMessage.posted_at)
    ):
        latest[message.incident_id] = message
    return latest


def _page_numbers(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    query = select(
        PagerDutyIncident.statuspage_incident_id, PagerDutyIncident.incident_number
    ).where(col(PagerDutyIncident.statuspage_incident_id).in_(ids))
    return dict(session.exec(query).all())


def production_issue(*, session: Session, iid: int | None) -> GitLabIssue | None:
    """The synced production issue with this iid, if any."""
    if iid is None:
        return None
    query = select(GitLabIssue).where(
        GitLabIssue.iid == iid, GitLabIssue.kind == IssueKind.PRODUCTION
    )
    return session.exec(query).first()


@dataclass
class IncidentRecord:
    """One status-page incident with its messages, production issue and pages."""

    incident: StatusPageIncident
    messages: pd.DataFrame
    issue: GitLabIssue | None
    pages: list[PagerDutyIncident]


def incident_record(*, session: Session, incident_id: str) -> IncidentRecord | None:
    """Everything stored about one status-page incident, or None if unknown."""
    incident = session.get(StatusPageIncident, incident_id)
    if incident is None:
        return None
    messages = session.exec(
        select(StatusPageMessage)
        .where(StatusPageMessage.incident_id == incident_id)
        .order_by(StatusPageMessage.posted_at)
    ).all()
    frame = pd.DataFrame(
        [
            {
                "posted": m.posted_at,
                "state": state_name(m.state),
                "status": status_name(m.status),
                "details": m.details,
            }
            for m in messages
        ],
        columns=["posted", "state", "status", "details"],
    )
    issue = production_issue(session=session, iid=incident.production_issue_iid)
    pages = session.exec(
        select(PagerDutyIncident)
        .where(PagerDutyIncident.statuspage_incident_id == incident_id)
        .order_by(PagerDutyIncident.created_at)
    ).all()
    return IncidentRecord(incident, frame, issue, list(pages))
