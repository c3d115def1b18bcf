"""The CMOC performance indicators of ../spec/kpis.md, computed from the stored history."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from cmoc_core import cadence, handbook
from cmoc_core.config import Settings
from cmoc_core.handbook import IncidentState
from cmoc_core.linking import SEVERITY_LABEL, severity_from_labels
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    Identity,
    IssueKind,
    OnCallEntry,
    PagerDutyIncident,
    Person,
    PracticeDrill,
    ScheduleKind,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
    System,
)

HANDOVER_WINDOW = timedelta(hours=2)
FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class KpiReport:
    """Every indicator for one period, shaped as the `kpis` command prints it."""

    since: datetime
    until: datetime
    ack_time: dict[str, Any]
    update_cadence: dict[str, Any]
    stakeholder_threads: dict[str, Any]
    handover: dict[str, Any]
    contact_requests: dict[str, Any]
    training: dict[str, Any]
    status_page_label: dict[str, Any]
    per_person: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of kpis.md, numbers rounded to 2 decimals."""
        return _rounded(
            {
                "period": {"since": _z(self.since), "until": _z(self.until)},
                "ack_time": self.ack_time,
                "update_cadence": self.update_cadence,
                "stakeholder_threads": self.stakeholder_threads,
                "handover": self.handover,
                "contact_requests": self.contact_requests,
                "training": self.training,
                "status_page_label": self.status_page_label,
                "per_person": self.per_person,
            }
        )


def compute_kpis(
    *, session: Session, settings: Settings, since: datetime, until: datetime
) -> KpiReport:
    """All indicators for [since, until), with the rows behind them for drill-down."""
    people = _People.load(session)
    rota = _Rota.load(session, settings)
    tally: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PERSON_FIGURES, 0))
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    incidents = _period_incidents(session, settings, since, until)
    report = KpiReport(
        since=since,
        until=until,
        ack_time=_ack_time(session, settings, since, until, people, rota, tally, rows),
        update_cadence=_update_cadence(session, settings, incidents, people, rota, tally, rows),
        stakeholder_threads=_stakeholder_threads(session, incidents),
        handover=_handover(session, since, until, people, rota, tally, rows),
        contact_requests=_contact_requests(session, settings, since, until, people),
        training=_training(session, settings, since, until, people, rota),
        status_page_label=_status_page_label(session, settings, incidents),
        per_person=[{"person": name, **figures} for name, figures in sorted(tally.items())],
    )
    report.rows = dict(rows)
    return report


PERSON_FIGURES = ("pages", "within_target", "gaps", "on_time", "shifts", "handed_over")


class _People:
    """Person names by (system, account id), as matched by the sync."""

    def __init__(self, names: dict[tuple[str, str], str]) -> None:
        self.names = names

    @classmethod
    def load(cls, session: Session) -> _People:
        rows = session.exec(
            select(Identity.system, Identity.external_id, Identity.name, Person.name).join(
                Person, col(Identity.person_id) == col(Person.id), isouter=True
            )
        )
        return cls({(system, eid): person or name for system, eid, name, person in rows})

    def pagerduty(self, user_id: str | None) -> str | None:
        return (self.names.get((System.PAGERDUTY, user_id)) or user_id) if user_id else None

    def gitlab(self, user_id: str | None) -> str | None:
        return (self.names.get((System.GITLAB, user_id)) or user_id) if user_id else None


class _Rota:
    """CMOC and shadow on-call entries, with lookups by time and merged shifts."""

    def __init__(self, entries: list[Any]) -> None:
        self.cmoc = sorted(
            (e for e in entries if e.schedule_kind == ScheduleKind.CMOC), key=lambda e: e.start
        )
        self.shadow = [e for e in entries if e.schedule_kind == ScheduleKind.SHADOW]
        self._starts = [e.start for e in self.cmoc]
        self._longest = max(((e.end or FOREVER) - e.start for e in self.cmoc), default=timedelta(0))

    @classmethod
    def load(cls, session: Session, settings: Settings) -> _Rota:
        schedules = settings.pagerduty_cmoc_schedule_ids + settings.pagerduty_shadow_schedule_ids
        query = select(
            OnCallEntry.schedule_kind, OnCallEntry.user_id, OnCallEntry.start, OnCallEntry.end
        )
        if schedules:
            query = query.where(col(OnCallEntry.schedule_id).in_(schedules))
        return cls(list(session.exec(query)))

    def on_call_at(self, moment: datetime) -> str | None:
        """The PagerDuty user on a CMOC schedule at `moment` (the latest to start)."""
        index = bisect.bisect_right(self._starts, moment)
        for position in range(index - 1, -1, -1):
            entry = self.cmoc[position]
            if (entry.end or FOREVER) > moment:
                return entry.user_id
            if entry.start < moment - self._longest:
                break  # nothing that started earlier can still be running
        return None

    def shifts(self) -> list[tuple[str, datetime, datetime | None]]:
        """CMOC entries of one user that touch or overlap, merged: (user, start, end)."""
        merged: list[tuple[str, datetime, datetime | None]] = []
        by_user: dict[str, list[OnCallEntry]] = defaultdict(list)
        for entry in self.cmoc:
            by_user[entry.user_id].append(entry)
        for user, entries in by_user.items():
            start, end = entries[0].start, entries[0].end
            for entry in entries[1:]:
                if end is None or entry.start <= end:
                    end = None if end is None or entry.end is None else max(end, entry.end)
                else:
                    merged.append((user, start, end))
                    start, end = entry.start, entry.end
            merged.append((user, start, end))
        return merged


def _ack_time(session, settings, since, until, people, rota, tally, rows) -> dict[str, Any]:
    query = select(PagerDutyIncident).where(
        col(PagerDutyIncident.created_at) >= since, col(PagerDutyIncident.created_at) < until
    )
    if settings.pagerduty_cmoc_service_ids:
        query = query.where(
            col(PagerDutyIncident.service_id).in_(settings.pagerduty_cmoc_service_ids)
        )
    pages = list(session.exec(query))
    minutes = []
    within = 0
    target = handbook.ACK_TARGET.total_seconds() / 60
    for page in pages:
        person = people.pagerduty(page.acknowledged_by or rota.on_call_at(page.created_at))
        if person:
            tally[person]["pages"] += 1
        waited = (
            (page.acknowledged_at - page.created_at).total_seconds() / 60
            if page.acknowledged_at
            else None
        )
        rows["pages"].append(
            {
                "page": page.incident_number,
                "title": page.title,
                "triggered": page.created_at,
                "ack_minutes": waited,
                "person": person,
                "statuspage_incident": page.statuspage_incident_id,
            }
        )
        if waited is None:
            continue
        minutes.append(waited)
        if waited <= target:
            within += 1
            if person:
                tally[person]["within_target"] += 1
    return {
        "pages": len(pages),
        "acknowledged": len(minutes),
        "median_minutes": _percentile(minutes, 50),
        "p90_minutes": _percentile(minutes, 90),
        "within_target": within,
        "within_target_pct": _pct(within, len(pages)),
        "target_minutes": int(target),
    }


@dataclass
class _Incident:
    incident: StatusPageIncident
    messages: list[Any]
    first_message_at: datetime


def _period_incidents(session, settings, since, until) -> list[_Incident]:
    """Status-page incidents of the public page whose first message is in the period."""
    first = (
        select(
            StatusPageMessage.incident_id,
            func.min(StatusPageMessage.posted_at).label("first_at"),
        )
        .group_by(col(StatusPageMessage.incident_id))
        .subquery()
    )
    opened = func.coalesce(first.c.first_at, StatusPageIncident.datetime_open)
    query = (
        select(StatusPageIncident)
        .outerjoin(first, first.c.incident_id == StatusPageIncident.id)
        .where(opened >= since, opened < until)
    )
    if settings.statusio_statuspage_id:
        query = query.where(StatusPageIncident.statuspage_id == settings.statusio_statuspage_id)
    incidents = {i.id: i for i in session.exec(query)}
    chosen = query.with_only_columns(StatusPageIncident.id).scalar_subquery()
    messages: dict[str, list[Any]] = defaultdict(list)
    for message in session.exec(
        select(
            StatusPageMessage.incident_id,
            StatusPageMessage.posted_at,
            StatusPageMessage.state,
            StatusPageMessage.details,
        )
        .where(col(StatusPageMessage.incident_id).in_(chosen))
        .order_by(col(StatusPageMessage.posted_at))
    ):
        messages[message.incident_id].append(message)
    return [
        _Incident(
            incident,
            messages[key],
            messages[key][0].posted_at if messages[key] else incident.datetime_open,
        )
        for key, incident in incidents.items()
    ]


class Severity:
    """Severity in effect at a time, from the linked issue's label events (kpis.md)."""

    def __init__(self, adds: list[tuple[datetime, int]], current: int | None) -> None:
        self.adds = sorted(adds)
        self.current = current

    def at(self, moment: datetime) -> int | None:
        before = [level for when, level in self.adds if when <= moment]
        if before:
            return before[-1]
        if self.adds:
            return self.adds[0][1]
        return self.current


def severities(session: Session, iids: Iterable[int], project: str) -> dict[int, Severity]:
    """Severity-in-effect lookups for production issues, by iid."""
    wanted = set(iids)
    if not wanted:
        return {}
    issues = {
        issue.id: issue
        for issue in session.exec(
            select(GitLabIssue).where(
                GitLabIssue.kind == IssueKind.PRODUCTION,
                GitLabIssue.project_path == project,
                col(GitLabIssue.iid).in_(wanted),
            )
        )
    }
    adds: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if issues:
        for event in session.exec(
            select(GitLabLabelEvent).where(
                col(GitLabLabelEvent.issue_id).in_(list(issues)), GitLabLabelEvent.action == "add"
            )
        ):
            match = SEVERITY_LABEL.match((event.label_name or "").strip())
            if match:
                adds[event.issue_id].append((event.created_at, int(match.group(1))))
    return {
        issue.iid: Severity(adds.get(issue.id, []), severity_from_labels(issue.labels))
        for issue in issues.values()
    }


def _update_cadence(session, settings, incidents, people, rota, tally, rows) -> dict[str, Any]:
    project = settings.gitlab_production_project
    by_iid = severities(
        session,
        (
            i.incident.production_issue_iid
            for i in incidents
            if i.incident.production_issue_iid is not None
        ),
        project,
    )
    lengths, overdue = [], []
    on_time = 0
    by_severity = {str(s): _zero_gaps() for s in (1, 2, 3, 4)}
    by_state = {state.name.title(): _zero_gaps() for state in IncidentState}
    for item in incidents:
        severity = by_iid.get(item.incident.production_issue_iid or -1)
        for earlier, later in zip(item.messages, item.messages[1:], strict=False):
            if earlier.state not in handbook.CADENCE_MINUTES:
                continue
            level = (
                severity.at(earlier.posted_at) if severity else None
            ) or handbook.DEFAULT_SEVERITY
            gap = cadence.gap_verdict(
                earlier_posted_at=earlier.posted_at,
                earlier_text=earlier.details,
                earlier_state=earlier.state,
                severity=level,
                later_posted_at=later.posted_at,
            )
            lengths.append((later.posted_at - earlier.posted_at).total_seconds() / 60)
            person = people.pagerduty(rota.on_call_at(later.posted_at))
            rows["gaps"].append(
                {
                    "incident": item.incident.id,
                    "title": item.incident.name,
                    "start": earlier.posted_at,
                    "end": later.posted_at,
                    "due": gap.due,
                    "severity": level,
                    "state": handbook.state_name(earlier.state),
                    "on_time": gap.on_time,
                    "overdue_minutes": gap.overdue_by.total_seconds() / 60,
                    "announced": gap.announced,
                    "person": person,
                }
            )
            for bucket in (by_severity[str(level)], by_state[handbook.state_name(earlier.state)]):
                bucket["gaps"] += 1
                bucket["on_time" if gap.on_time else "overdue"] += 1
            if person:
                tally[person]["gaps"] += 1
            if gap.on_time:
                on_time += 1
                if person:
                    tally[person]["on_time"] += 1
            else:
                overdue.append(gap.overdue_by.total_seconds() / 60)
    return {
        "incidents": len(incidents),
        "gaps": len(lengths),
        "on_time": on_time,
        "on_time_pct": _pct(on_time, len(lengths)),
        "overdue": len(overdue),
        "longest_gap_minutes": max(lengths) if lengths else None,
        "median_overdue_minutes": _percentile(overdue, 50),
        "by_severity": by_severity,
        "by_state": by_state,
    }


def _zero_gaps() -> dict[str, int]:
    return {"gaps": 0, "on_time": 0, "overdue": 0}


def _stakeholder_threads(session, incidents) -> dict[str, Any]:
    ids = [i.incident.id for i in incidents]
    threads: dict[str, list[datetime]] = defaultdict(list)
    if ids:
        for incident_id, posted in session.exec(
            select(StakeholderThread.statuspage_incident_id, StakeholderThread.posted_at).where(
                col(StakeholderThread.statuspage_incident_id).in_(ids)
            )
        ):
            threads[incident_id].append(posted)
    firsts = [
        (min(threads[i.incident.id]) - i.first_message_at).total_seconds() / 60
        for i in incidents
        if threads.get(i.incident.id)
    ]
    total = sum(len(threads.get(i, [])) for i in ids)
    return {
        "incidents": len(ids),
        "with_thread": len(firsts),
        "with_thread_pct": _pct(len(firsts), len(ids)),
        "threads_per_incident": total / len(ids) if ids else None,
        "median_minutes_to_first_thread": _percentile(firsts, 50),
    }


def _handover(session, since, until, people, rota, tally, rows) -> dict[str, Any]:
    handovers: dict[str, list[datetime]] = defaultdict(list)
    for author, created in session.exec(
        select(GitLabIssue.author_id, GitLabIssue.created_at).where(
            GitLabIssue.kind == IssueKind.HANDOVER
        )
    ):
        name = people.gitlab(author)
        if name:
            handovers[name].append(created)
    for times in handovers.values():
        times.sort()
    shifts = handed = 0
    by_person: dict[str, dict[str, int]] = defaultdict(lambda: {"shifts": 0, "handed_over": 0})
    for user, start, end in rota.shifts():
        if end is None or not since <= end < until:
            continue
        person = people.pagerduty(user) or user
        shifts += 1
        tally[person]["shifts"] += 1
        by_person[person]["shifts"] += 1
        times = handovers.get(person, [])
        first = bisect.bisect_left(times, end - HANDOVER_WINDOW)
        done = first < len(times) and times[first] <= end + HANDOVER_WINDOW
        rows["shifts"].append({"person": person, "start": start, "end": end, "handed_over": done})
        if done:
            handed += 1
            tally[person]["handed_over"] += 1
            by_person[person]["handed_over"] += 1
    return {
        "shifts": shifts,
        "handed_over": handed,
        "handed_over_pct": _pct(handed, shifts),
        "by_person": [{"person": p, **f} for p, f in sorted(by_person.items())],
    }


def _contact_requests(session, settings, since, until, people) -> dict[str, Any]:
    query = select(GitLabIssue).where(
        GitLabIssue.kind == IssueKind.CONTACT_REQUEST,
        col(GitLabIssue.created_at) >= since,
        col(GitLabIssue.created_at) < until,
    )
    label = settings.gitlab_contact_request_label
    issues = [i for i in session.exec(query) if not label or label in i.labels]
    by_assignee: dict[str, dict[str, int]] = defaultdict(lambda: {"opened": 0, "completed": 0})
    completed = 0
    for issue in issues:
        done = issue.closed_at is not None and issue.closed_at < until
        completed += done
        for assignee in issue.assignee_ids or [""]:
            name = people.gitlab(assignee) or "unassigned"
            by_assignee[name]["opened"] += 1
            by_assignee[name]["completed"] += done
    return {
        "opened": len(issues),
        "completed": completed,
        "completed_per_opened": completed / len(issues) if issues else None,
        "by_assignee": [{"person": p, **f} for p, f in sorted(by_assignee.items())],
    }


def _quarters(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    start = datetime(since.year, 3 * ((since.month - 1) // 3) + 1, 1, tzinfo=UTC)
    quarters = []
    while start < until:
        month = start.month + 3
        end = start.replace(year=start.year + (month > 12), month=(month - 1) % 12 + 1)
        quarters.append((f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, end))
        start = end
    return quarters


def _training(session, settings, since, until, people, rota) -> dict[str, Any]:
    quarters = _quarters(since, until)
    if not quarters:
        return {"cmoc_quarters": 0, "trained": 0, "trained_pct": None, "grid": []}
    first, last = quarters[0][1], quarters[-1][2]
    events = list(
        session.exec(
            select(GitLabIssue.created_at, GitLabIssue.assignee_ids).where(
                GitLabIssue.kind == IssueKind.PRACTICE_EVENT,
                col(GitLabIssue.created_at) >= first,
                col(GitLabIssue.created_at) < last,
            )
        )
    )
    ack_query = select(PagerDutyIncident.acknowledged_at, PagerDutyIncident.acknowledged_by).where(
        col(PagerDutyIncident.acknowledged_at) >= first,
        col(PagerDutyIncident.acknowledged_at) < last,
    )
    if settings.pagerduty_cmoc_service_ids:
        services = settings.pagerduty_cmoc_service_ids
        ack_query = ack_query.where(col(PagerDutyIncident.service_id).in_(services))
    acks = list(session.exec(ack_query))
    drills = list(
        session.exec(
            select(PracticeDrill.finished_at, Person.name)
            .join(Person, col(PracticeDrill.cmoc_id) == col(Person.id))
            .where(col(PracticeDrill.finished_at) >= first, col(PracticeDrill.finished_at) < last)
        )
    )
    grid = []
    for label, start, end in quarters:
        cmocs = {
            people.pagerduty(e.user_id)
            for e in rota.cmoc
            if e.start < end and (e.end or FOREVER) > start
        }
        trained = {
            people.gitlab(a)
            for created, assignees in events
            if start <= created < end
            for a in assignees
        }
        trained |= {
            people.pagerduty(e.user_id)
            for e in rota.shadow
            if e.start < end and (e.end or FOREVER) > start
        }
        trained |= {people.pagerduty(user) for at, user in acks if start <= at < end}
        trained |= {name for at, name in drills if start <= at < end}
        grid += [
            {"person": p, "quarter": label, "trained": p in trained}
            for p in sorted(c for c in cmocs if c)
        ]
    done = sum(cell["trained"] for cell in grid)
    return {
        "cmoc_quarters": len(grid),
        "trained": done,
        "trained_pct": _pct(done, len(grid)),
        "grid": grid,
    }


def _status_page_label(session, settings, incidents) -> dict[str, Any]:
    project = settings.gitlab_production_project
    iids = {i.incident.production_issue_iid for i in incidents} - {None}
    issues = (
        {
            issue.iid: issue
            for issue in session.exec(
                select(GitLabIssue).where(
                    GitLabIssue.kind == IssueKind.PRODUCTION,
                    GitLabIssue.project_path == project,
                    col(GitLabIssue.iid).in_(iids),
                )
            )
        }
        if iids
        else {}
    )
    added: dict[int, datetime] = {}
    if issues:
        for event in session.exec(
            select(GitLabLabelEvent).where(
                col(GitLabLabelEvent.issue_id).in_([i.id for i in issues.values()]),
                GitLabLabelEvent.action == "add",
                GitLabLabelEvent.label_name == handbook.STATUS_PAGE_LABEL,
            )
        ):
            added[event.issue_id] = max(
                added.get(event.issue_id, event.created_at), event.created_at
            )
    linked = [i for i in incidents if i.incident.production_issue_iid in issues]
    labelled, minutes = 0, []
    for item in linked:
        issue = issues[item.incident.production_issue_iid]
        if handbook.STATUS_PAGE_LABEL in issue.labels:
            labelled += 1
            if issue.id in added:
                minutes.append((added[issue.id] - item.first_message_at).total_seconds() / 60)
    return {
        "incidents": len(linked),
        "labelled": labelled,
        "labelled_pct": _pct(labelled, len(linked)),
        "median_minutes_to_label": _percentile(minutes, 50),
    }


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _pct(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
