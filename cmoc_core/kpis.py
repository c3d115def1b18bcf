"""The KPI report's columnar copy, made from the stored history, and the report of a period.

The history is read once per change into the rows behind every figure, for all time
(`build_facts`, whole columns straight into pandas through `cmoc_core.columns`), and kept as
the report's columnar copy (`cmoc_core.kpi_facts`). A report for a period selects that period's
rows and counts them (`cmoc_core.kpi_report`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, case, cast
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from cmoc_core import handbook, kpi_facts
from cmoc_core.cadence import due_times
from cmoc_core.columns import raw as _raw
from cmoc_core.columns import read as _read
from cmoc_core.config import Settings
from cmoc_core.kpi_facts import Facts
from cmoc_core.kpi_report import (
    FIRST_UPDATE_COLUMNS,
    GAP_COLUMNS,
    PAGE_COLUMNS,
    SHIFT_COLUMNS,
    categorical,
    in_minutes,
    report,
)
from cmoc_core.kpi_results import KpiReport
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    IssueKind,
    OnCallEntry,
    PagerDutyIncident,
    Person,
    PracticeDrill,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
)
from cmoc_core.rota import HANDOVER_WINDOW, People, Rota, naive_utc
from cmoc_core.severity import cockpit_adds, label_levels, severity_in_effect
from cmoc_core.timeutil import utc_now


def compute_kpis(
    *,
    session: Session,
    settings: Settings,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> KpiReport:
    """All indicators for [since, until), with the rows behind them for drill-down, from the
    history as committed (its columnar copy, `cmoc_core.kpi_facts`).

    On-call entries are synced ahead of time: only shifts begun by `now` count, and a shift
    counts for handover once its handover window has passed.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    facts = kpi_facts.current(engine, settings, lambda: build_facts(session, settings))
    return report(facts, settings, since, until, now or utc_now())


def refresh_facts(engine: Engine, settings: Settings) -> None:
    """Make the columnar copy for the history as committed now, unless it is already made."""
    with Session(engine) as session:
        kpi_facts.current(engine, settings, lambda: build_facts(session, settings))


def build_facts(session: Session, settings: Settings) -> Facts:
    """The history's rows as the report reads them (`Facts`), each table for all time."""
    people = People.load(session=session)
    entries = _entries(session, settings)
    rota = Rota(entries, people)
    pages = _pages(session, settings, people, rota)
    incidents, messages = _incidents(session, settings)
    issues = _Issues.load(session, settings)
    gaps = _gaps(incidents, messages, issues, rota)
    shifts, handovers = _shifts(session, people, rota)
    firsts = _first_updates(incidents, issues, rota, pages)
    incidents = _with_threads(session, _with_label(incidents, issues))
    names = pd.DataFrame(
        [(system, account, name) for (system, account), name in people.names.items()],
        columns=["system", "account", "name"],
    )
    return Facts(
        pages=_stored(pages, PAGE_COLUMNS),
        incidents=incidents.reset_index(drop=True),
        gaps=_stored(gaps, GAP_COLUMNS),
        firsts=_stored(firsts, FIRST_UPDATE_COLUMNS),
        shifts=_stored(shifts, SHIFT_COLUMNS),
        handovers=handovers,
        contacts=_contacts(session, settings, people),
        activities=_activities(session, settings, people),
        entries=entries,
        names=names,
    )


def _stored(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Drill-down rows as the copy keeps them, small to read: without what the report works
    out (region, within target, minutes overdue; an incident's id and title from its `row`),
    people as categories, severities as bytes."""
    kept = rows[[c for c in [*columns, "row"] if c in rows.columns and c != "region"]]
    small = {"person": "category", "severity": "int8", "row": "int32"}
    return kept.astype({c: kind for c, kind in small.items() if c in kept}).reset_index(drop=True)


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """`values` (unique index) at each of `keys`, keeping their dtype even when none match."""
    return values.reindex(keys.to_numpy()).set_axis(keys.index)


def _entries(session: Session, settings: Settings) -> pd.DataFrame:
    """The configured CMOC and shadow schedules' entries, as the rota reads them."""
    schedules = settings.pagerduty_cmoc_schedule_ids + settings.pagerduty_shadow_schedule_ids
    query: Select[Any] = select(
        OnCallEntry.schedule_kind, OnCallEntry.user_id, OnCallEntry.region
    ).add_columns(_raw(OnCallEntry.start), _raw(OnCallEntry.end))
    if schedules:
        query = query.where(col(OnCallEntry.schedule_id).in_(schedules))
    return _read(session, query, times=("start", "end"))


# 1. Time to acknowledge ----------------------------------------------------------------------


def _pages(session: Session, settings: Settings, people: People, rota: Rota) -> pd.DataFrame:
    query = select(
        PagerDutyIncident.incident_number,
        PagerDutyIncident.title,
        _raw(PagerDutyIncident.created_at),
        _raw(PagerDutyIncident.acknowledged_at),
    ).add_columns(
        col(PagerDutyIncident.acknowledged_by), col(PagerDutyIncident.statuspage_incident_id)
    )
    if settings.pagerduty_cmoc_service_ids:
        services = settings.pagerduty_cmoc_service_ids
        query = query.where(col(PagerDutyIncident.service_id).in_(services))
    pages = _read(session, query, times=("created_at", "acknowledged_at"))
    who = pages["acknowledged_by"].where(pages["acknowledged_by"].fillna("") != "")
    person = people.pagerduty(who)
    nobody = who.isna()
    person[nobody] = rota.on_call(pages.loc[nobody, "created_at"]).astype(object)
    return pages.assign(
        person=person,
        ack_minutes=in_minutes(pages["acknowledged_at"] - pages["created_at"]),
    ).rename(
        columns={
            "incident_number": "page",
            "created_at": "triggered",
            "statuspage_incident_id": "incident",
        }
    )


# 2. Cadence ---------------------------------------------------------------------------------------


def _incidents(session: Session, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The status-page incidents that count (those of the configured page, never the practice
    page's), each with when its first message was posted; and every status-page message."""
    query = select(
        StatusPageIncident.id, StatusPageIncident.name, StatusPageIncident.production_issue_iid
    ).add_columns(_raw(StatusPageIncident.first_message_at), _raw(StatusPageIncident.datetime_open))
    if settings.statusio_statuspage_id:
        query = query.where(
            col(StatusPageIncident.statuspage_id) == settings.statusio_statuspage_id
        )
    elif settings.statusio_practice_statuspage_id:  # practice pages never count
        query = query.where(
            col(StatusPageIncident.statuspage_id) != settings.statusio_practice_statuspage_id
        )
    incidents = _read(session, query, times=("first_message_at", "datetime_open"))
    incidents["first_message_at"] = incidents["first_message_at"].fillna(incidents["datetime_open"])
    messages = select(
        StatusPageMessage.incident_id,
        _raw(StatusPageMessage.posted_at),
        StatusPageMessage.state,
        StatusPageMessage.announced_minutes,
    ).add_columns(col(StatusPageMessage.announced_clock))
    return incidents.drop(columns="datetime_open"), _read(session, messages, times=("posted_at",))


def _gaps(
    incidents: pd.DataFrame, messages: pd.DataFrame, issues: _Issues, rota: Rota
) -> pd.DataFrame:
    """Each pair of consecutive updates after a non-resolving one, judged against its due time;
    `row` is the incident's row in `incidents`."""
    codes, ids = pd.factorize(messages["incident_id"])
    rows = pd.Index(incidents["id"]).get_indexer(ids)  # -1 for an incident that does not count
    order = np.lexsort((naive_utc(messages["posted_at"]), codes))
    codes = codes[order]
    states = messages["state"].to_numpy(dtype=np.int64)[order]
    cadenced = np.isin(states[:-1], [int(state) for state in handbook.CADENCE_MINUTES])
    pairs = np.flatnonzero((codes[:-1] == codes[1:]) & cadenced & (rows[codes[:-1]] >= 0))
    earlier, later = order[pairs], order[pairs + 1]
    row = rows[codes[pairs]]  # each gap's incident
    known, inverse = np.unique(states[pairs], return_inverse=True)

    def column(name: str, rows: np.ndarray = earlier) -> pd.Series:
        return messages[name].iloc[rows].reset_index(drop=True)

    gaps = pd.DataFrame(
        {
            "start": column("posted_at"),
            "end": column("posted_at", later),
            "state_code": states[pairs],
            "state": categorical(inverse, [handbook.state_name(code) for code in known]),
            "announced_minutes": column("announced_minutes").astype(float),
            "announced_clock": column("announced_clock").astype(float),
            "row": row,
        }
    )
    iids = pd.Series(incidents["production_issue_iid"].to_numpy()[row])
    gaps["severity"] = severity_in_effect(iids, gaps["start"], issues.severities())
    gaps["due"] = due_times(
        posted_at=gaps["start"],
        state=gaps["state_code"],
        severity=gaps["severity"],
        announced_minutes=gaps["announced_minutes"],
        announced_clock=gaps["announced_clock"],
    )
    gaps["on_time"] = gaps["end"] <= gaps["due"] + pd.Timedelta(handbook.GRACE)
    gaps["announced"] = gaps["announced_minutes"].notna() | gaps["announced_clock"].notna()
    gaps["person"] = rota.on_call(gaps["end"])
    return gaps


@dataclass
class _Issues:
    """The production issues (id, iid, current severity, whether labelled for the status page),
    the severity labels added to them and the severities set in the cockpit (iid, when, level),
    and when each was last labelled for the status page (by iid)."""

    issues: pd.DataFrame
    severity_adds: pd.DataFrame
    labelled_at: pd.Series

    @classmethod
    def load(cls, session: Session, settings: Settings) -> _Issues:
        """The production project's issues and their labels."""
        label = handbook.STATUS_PAGE_LABEL
        issues = select(
            GitLabIssue.id,
            GitLabIssue.iid,
            GitLabIssue.severity,
            cast(GitLabIssue.labels, Text).like(f'%"{label}"%').label("labelled"),
        ).where(
            GitLabIssue.kind == IssueKind.PRODUCTION,
            GitLabIssue.project_path == settings.gitlab_production_project,
        )
        added = select(GitLabLabelEvent.issue_id).where(GitLabLabelEvent.action == "add")
        found = _read(session, issues)
        iid = found.set_index("id")["iid"]
        levels = {**label_levels(session=session), label: 0}  # 0 stands for the status-page label
        name = col(GitLabLabelEvent.label_name)
        events = _read(
            session,
            added.add_columns(
                case(levels, value=name).label("level"), _raw(GitLabLabelEvent.created_at)
            ).where(name.in_(levels)),
            times=("created_at",),
        )
        events = events.assign(iid=_lookup(events["issue_id"], iid)).dropna(subset=["iid"])
        events = events.astype({"iid": "int64", "level": "int64"})
        labelled = events["level"] == 0
        severity_adds = events.loc[~labelled, ["iid", "created_at", "level"]].rename(
            columns={"created_at": "when"}
        )
        project = settings.gitlab_production_project
        cockpit = cockpit_adds(session=session, project=project)
        if cockpit:
            set_here = pd.DataFrame(
                {
                    "iid": pd.Series([add.iid for add in cockpit], dtype="int64"),
                    "when": pd.to_datetime([add.at for add in cockpit], utc=True).as_unit("us"),
                    "level": pd.Series([add.level for add in cockpit], dtype="int64"),
                }
            )
            severity_adds = pd.concat([severity_adds, set_here], ignore_index=True)
        return cls(found, severity_adds, events[labelled].groupby("iid")["created_at"].max())

    def severities(self) -> tuple[pd.DataFrame, pd.Series]:
        """Severity labels added (iid, when, level) and each issue's current severity by iid."""
        return self.severity_adds, self.issues.set_index("iid")["severity"].dropna()


# 3. Stakeholder threads ---------------------------------------------------------------------------


def _with_threads(session: Session, incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents with their stakeholder threads: how many, and the minutes from the first
    message to the first thread."""
    threads = _read(
        session,
        select(StakeholderThread.statuspage_incident_id, _raw(StakeholderThread.posted_at)),
        times=("posted_at",),
    )
    per_incident = threads.groupby("statuspage_incident_id")["posted_at"].agg(["min", "size"])
    ids = incidents["id"].to_numpy()
    found = per_incident.reindex(ids).set_axis(incidents.index)
    return incidents.assign(
        threads=found["size"].fillna(0).astype("int64"),
        first_thread_minutes=in_minutes(found["min"] - incidents["first_message_at"]),
    )


# 4. Handover --------------------------------------------------------------------------------------


def _shifts(session: Session, people: People, rota: Rota) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merged CMOC shifts, and whether each was handed over in time; and the handover issues
    (person, created)."""
    shifts = rota.shifts().dropna(subset=["end"])
    shifts = shifts.assign(person=people.pagerduty(shifts["user_id"]).fillna(shifts["user_id"]))
    issues = _read(
        session,
        select(GitLabIssue.author_id, _raw(GitLabIssue.created_at)).where(
            GitLabIssue.kind == IssueKind.HANDOVER
        ),
        times=("created_at",),
    )
    handovers = pd.DataFrame(
        {"person": people.gitlab(issues["author_id"]), "created": issues["created_at"]}
    ).dropna()
    earliest = shifts.assign(low=shifts["end"] - HANDOVER_WINDOW).sort_values("low")
    found = pd.merge_asof(
        earliest,
        handovers.sort_values("created"),
        left_on="low",
        right_on="created",
        by="person",
        direction="forward",
    )
    found["handed_over"] = (found["created"] <= found["end"] + HANDOVER_WINDOW).fillna(False)
    found = found.sort_values(["end", "person"], kind="stable").reset_index(drop=True)
    return found, handovers.reset_index(drop=True)


# 5. Contact requests ------------------------------------------------------------------------------


def _contacts(session: Session, settings: Settings, people: People) -> pd.DataFrame:
    """Contact requests (with the configured label, if one is): issue, created, closed, and a
    row per assignee (person "unassigned" for none)."""
    query = select(
        cast(GitLabIssue.labels, Text).label("labels"),
        cast(GitLabIssue.assignee_ids, Text).label("assignee_ids"),
        _raw(GitLabIssue.created_at),
        _raw(GitLabIssue.closed_at),
    ).where(GitLabIssue.kind == IssueKind.CONTACT_REQUEST)
    issues = _read(session, query, times=("created_at", "closed_at"))
    label = settings.gitlab_contact_request_label
    if label:
        issues = issues.loc[
            issues["labels"].map(lambda text: label in json.loads(text)).astype(bool)
        ]
    per_assignee = issues.assign(
        issue=np.arange(len(issues)),
        person=issues["assignee_ids"].map(lambda text: json.loads(text) or [None]),
    ).explode("person")
    return pd.DataFrame(
        {
            "issue": per_assignee["issue"].astype("int64"),
            "created": per_assignee["created_at"],
            "closed": per_assignee["closed_at"],
            "person": people.gitlab(per_assignee["person"]).fillna("unassigned"),
        }
    ).reset_index(drop=True)


# 6. Training --------------------------------------------------------------------------------------


def _activities(session: Session, settings: Settings, people: People) -> pd.DataFrame:
    """Training activities (person, at): practice events by assignee, CMOC pages acknowledged,
    practice drills finished."""
    events = _read(
        session,
        select(
            cast(GitLabIssue.assignee_ids, Text).label("assignee_ids"),
            _raw(GitLabIssue.created_at),
        ).where(GitLabIssue.kind == IssueKind.PRACTICE_EVENT),
        times=("created_at",),
    )
    events = events.assign(assignee_ids=events["assignee_ids"].map(json.loads)).explode(
        "assignee_ids"
    )
    acks = select(PagerDutyIncident.acknowledged_by, _raw(PagerDutyIncident.acknowledged_at)).where(
        col(PagerDutyIncident.acknowledged_at).is_not(None)
    )
    if settings.pagerduty_cmoc_service_ids:
        acks = acks.where(
            col(PagerDutyIncident.service_id).in_(settings.pagerduty_cmoc_service_ids)
        )
    drills = select(Person.name, _raw(PracticeDrill.finished_at)).join(
        Person, col(PracticeDrill.cmoc_id) == col(Person.id)
    )
    acked = _read(session, acks, times=("acknowledged_at",))
    return (
        pd.concat(
            [
                pd.DataFrame(
                    {"person": people.gitlab(events["assignee_ids"]), "at": events["created_at"]}
                ),
                pd.DataFrame(
                    {
                        "person": people.pagerduty(acked["acknowledged_by"]),
                        "at": acked["acknowledged_at"],
                    }
                ),
                _read(session, drills, times=("finished_at",)).set_axis(["person", "at"], axis=1),
            ]
        )
        .dropna()
        .reset_index(drop=True)
    )


# 7. Status-page label -----------------------------------------------------------------------------


def _with_label(incidents: pd.DataFrame, issues: _Issues) -> pd.DataFrame:
    """The incidents with whether their production issue is known (`linked`), whether it is
    labelled for the status page, and the minutes from the first message to that label."""
    found = issues.issues.dropna(subset=["iid"]).astype({"iid": "int64"})
    labelled = found.drop_duplicates("iid", keep="last").set_index("iid")["labelled"]
    iids = incidents["production_issue_iid"].astype("Int64")
    linked = iids.isin(labelled.index).to_numpy(dtype=bool)
    flag = labelled.reindex(iids.to_numpy()).fillna(False).to_numpy(dtype=bool) & linked
    at = issues.labelled_at.reindex(iids.to_numpy()).set_axis(incidents.index)
    minutes = in_minutes(at - incidents["first_message_at"]).where(flag)
    return incidents.assign(linked=linked, labelled=flag, label_minutes=minutes)


# 8. Time to first public update -------------------------------------------------------------------


def _first_updates(
    incidents: pd.DataFrame, issues: _Issues, rota: Rota, pages: pd.DataFrame
) -> pd.DataFrame:
    """The incidents linked to a CMOC page: the earliest linked page, the first status-page
    message, the minutes between them, and who was on call when paged; `row` is the
    incident's row in `incidents`."""
    pages = pages[["page", "triggered", "incident"]]
    # Each page's incident as a row of the incidents (-1: one that does not count).
    row = pd.Index(incidents["id"]).get_indexer(pages["incident"])
    pages = pages.assign(row=row)[row >= 0]
    # Several pages may link one incident: the earliest trigger counts (ties: lowest number).
    order = np.lexsort((pages["page"].to_numpy(), naive_utc(pages["triggered"])))
    earliest = pages.iloc[order].drop_duplicates("row").reset_index(drop=True)
    row = earliest["row"].to_numpy()

    def column(name: str) -> pd.Series:
        return incidents[name].iloc[row].reset_index(drop=True)

    first = column("first_message_at")
    firsts = pd.DataFrame(
        {
            "page": earliest["page"],
            "triggered": earliest["triggered"],
            "first_update": first,
            "minutes": in_minutes(first - earliest["triggered"]),
            "row": row,
        }
    )
    iids = column("production_issue_iid")
    firsts["severity"] = severity_in_effect(iids, first, issues.severities())
    firsts["person"] = rota.on_call(firsts["triggered"])
    return firsts.iloc[np.lexsort((row, naive_utc(first)))].reset_index(drop=True)
