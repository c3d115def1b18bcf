"""The CMOC performance indicators of ../spec/kpis.md, computed from the stored history.

Each indicator reads only the columns it needs, straight into pandas (`cmoc_core.columns`),
and works on whole columns: ten years of history cost about what reading them costs. The
figures come out as the types of `cmoc_core.kpi_results`; the rows behind every figure are
kept as DataFrames for drill-down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, case, cast, func, or_
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from cmoc_core import handbook
from cmoc_core.cadence import due_times
from cmoc_core.columns import Query
from cmoc_core.columns import raw as _raw
from cmoc_core.columns import read as _read
from cmoc_core.config import Settings
from cmoc_core.handbook import IncidentState
from cmoc_core.kpi_results import (
    AckTime,
    AnnouncedUpdates,
    AssigneeRequests,
    ContactRequests,
    FirstPublicUpdate,
    GapCounts,
    GapFigures,
    Handover,
    Known,
    KpiReport,
    PersonFigures,
    PersonShifts,
    StakeholderThreads,
    StatusPageLabel,
    Training,
    TrainingCell,
    Unmatched,
    UpdateCadence,
)
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
    System,
)
from cmoc_core.rota import HANDOVER_WINDOW, People, Rota
from cmoc_core.severity import cockpit_adds, label_levels, severity_in_effect
from cmoc_core.timeutil import utc_now

PERSON_FIGURES = (
    "pages",
    "within_target",
    "gaps",
    "on_time",
    "shifts",
    "handed_over",
    "first_updates",
    "first_updates_within_target",
    "announced",
    "kept",
)
PAGE_COLUMNS = ["page", "title", "triggered", "ack_minutes", "person", "region", "incident"]
GAP_COLUMNS = [
    "incident",
    "title",
    "start",
    "end",
    "due",
    "severity",
    "state",
    "on_time",
    "overdue_minutes",
    "announced",
    "person",
    "region",
]
SHIFT_COLUMNS = ["person", "region", "start", "end", "handed_over"]
FIRST_UPDATE_COLUMNS = [
    "incident",
    "title",
    "page",
    "triggered",
    "first_update",
    "minutes",
    "within_target",
    "severity",
    "person",
    "region",
]


def compute_kpis(
    *,
    session: Session,
    settings: Settings,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> KpiReport:
    """All indicators for [since, until), with the rows behind them for drill-down.

    On-call entries are synced ahead of time: only shifts begun by `now` count, and a shift
    counts for handover once its handover window has passed.
    """
    now = now or utc_now()
    people = People.load(session=session)
    rota = _Rota.load(session, settings, people, now)
    regions = rota.home_regions()
    pages = _pages(session, settings, since, until, people, rota)
    period = _period_incidents(session, settings, since, until)
    gaps = _gaps(period, rota)
    shifts, authors = _shifts(session, since, min(until, now - HANDOVER_WINDOW), people, rota)
    target = settings.cmoc_first_update_target_minutes
    firsts = _first_updates(session, settings, period, rota, target, pages)
    for frame in (pages, gaps, shifts, firsts):
        frame["region"] = _mapped(frame["person"], regions)
    contacts = _contact_requests(session, settings, since, until, people)
    persons = per_person(pages, gaps, shifts, firsts)
    counted = [row.person for row in persons] + [row.person for row in contacts.by_assignee]
    return KpiReport(
        since=since,
        until=until,
        ack_time=ack_figures(pages),
        update_cadence=UpdateCadence.of(len(period.incidents), cadence_figures(gaps)),
        stakeholder_threads=_stakeholder_threads(session, period),
        handover=handover_figures(shifts),
        contact_requests=contacts,
        training=_training(session, settings, since, until, people, rota),
        status_page_label=_status_page_label(period),
        first_public_update=first_update_figures(firsts, target),
        announced_updates=announced_figures(gaps),
        per_person=persons,
        rows={
            "pages": _lean(pages[PAGE_COLUMNS]),
            "gaps": _lean(gaps[GAP_COLUMNS]),
            "shifts": _lean(shifts[SHIFT_COLUMNS]),
            "first_updates": _lean(firsts[FIRST_UPDATE_COLUMNS]),
        },
        regions=regions,
        unmatched=unmatched(people, [*counted, *authors]),
    )


@dataclass(frozen=True)
class Selection:
    """Who and what a dashboard looks at: one person, one region, some severities."""

    person: str | None = None
    region: str | None = None
    severities: tuple[int, ...] = ()


def selected_rows(report: KpiReport, selection: Selection) -> dict[str, pd.DataFrame]:
    """The rows behind the figures for a selection (severities narrow the rows that have one:
    gaps and first updates)."""
    rows = {}
    for name, frame in report.rows.items():
        keep = pd.Series(True, index=frame.index)
        if selection.person:
            keep &= frame["person"] == selection.person
        if selection.region:
            keep &= frame["region"] == selection.region
        if selection.severities and "severity" in frame.columns:
            keep &= frame["severity"].isin(selection.severities)
        rows[name] = frame[keep.fillna(False).astype(bool)]
    return rows


def selected_grid(report: KpiReport, selection: Selection) -> pd.DataFrame:
    """The training grid (person, quarter, trained) for a selection's person and region."""
    grid = pd.DataFrame(report.training.grid, columns=["person", "quarter", "trained"])
    if selection.person:
        grid = grid[grid["person"] == selection.person]
    if selection.region:
        grid = grid[grid["person"].map(report.regions) == selection.region]
    return grid


def _lean(frame: pd.DataFrame) -> pd.DataFrame:
    """Repeated text as categories: the rows stay small to cache and quick to filter."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.reset_index(drop=True).astype(dict.fromkeys(text, "category"))


# Whole columns -------------------------------------------------------------------------------


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """`values` (unique index) at each of `keys`, keeping their dtype even when none match."""
    return values.reindex(keys.to_numpy()).set_axis(keys.index)


def _naive(moments: pd.Series) -> np.ndarray:
    """UTC timestamps as plain datetime64 values, for fast array comparisons."""
    return moments.dt.tz_convert(None).to_numpy()


def _minutes(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 60


def _categorical(codes: np.ndarray, labels: Any) -> pd.Categorical:
    """`labels` (which may repeat) picked by `codes` (-1 for none), as a categorical."""
    label_codes, uniques = pd.factorize(np.asarray(labels, dtype=object))
    return pd.Categorical.from_codes(np.append(label_codes, -1)[codes], categories=uniques)


def _mapped(values: pd.Series, mapping: dict[Any, Any]) -> pd.Series:
    """`values` mapped through `mapping`, as a categorical: each distinct value is mapped once."""
    labels = values.astype("category").array
    mapped = [mapping.get(label) for label in labels.categories]
    return pd.Series(_categorical(labels.codes, mapped), index=values.index)


# People and the rota -------------------------------------------------------------------------


class _Rota(Rota):
    """The rota as the report reads it: the configured CMOC and shadow schedules' entries."""

    @classmethod
    def load(cls, session: Session, settings: Settings, people: People, now: datetime) -> _Rota:
        schedules = settings.pagerduty_cmoc_schedule_ids + settings.pagerduty_shadow_schedule_ids
        query: Select[Any] = (
            select(OnCallEntry.schedule_kind, OnCallEntry.user_id, OnCallEntry.region)
            .add_columns(_raw(OnCallEntry.start), _raw(OnCallEntry.end))
            .where(col(OnCallEntry.start) < now)
        )
        if schedules:
            query = query.where(col(OnCallEntry.schedule_id).in_(schedules))
        return cls(_read(session, query, times=("start", "end")), people)


# 1. Time to acknowledge ----------------------------------------------------------------------


def _pages(
    session: Session,
    settings: Settings,
    since: datetime,
    until: datetime,
    people: People,
    rota: _Rota,
) -> pd.DataFrame:
    triggered = col(PagerDutyIncident.created_at)
    query = (
        select(
            PagerDutyIncident.incident_number,
            PagerDutyIncident.title,
            _raw(PagerDutyIncident.created_at),
            _raw(PagerDutyIncident.acknowledged_at),
        )
        .add_columns(
            col(PagerDutyIncident.acknowledged_by), col(PagerDutyIncident.statuspage_incident_id)
        )
        .where(triggered >= since, triggered < until)
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
        ack_minutes=_minutes(pages["acknowledged_at"] - pages["created_at"]),
    ).rename(
        columns={
            "incident_number": "page",
            "created_at": "triggered",
            "statuspage_incident_id": "incident",
        }
    )


def ack_figures(pages: pd.DataFrame) -> AckTime:
    """The ack-time figures of kpis.md 1 for these pages."""
    minutes = pages["ack_minutes"].dropna().to_numpy()
    target = handbook.ACK_TARGET.total_seconds() / 60
    return AckTime(
        pages=len(pages),
        acknowledged=len(minutes),
        median_minutes=_percentile(minutes, 50),
        p90_minutes=_percentile(minutes, 90),
        within_target=int((minutes <= target).sum()),
        target_minutes=int(target),
    )


# 2. Cadence ----------------------------------------------------------------------------------


@dataclass
class _Period:
    """Status-page incidents whose first message is in the period, and all their messages
    (with those of other incidents when whole tables were read: `_gaps` skips them).

    `candidates` selects their ids in SQL, for the queries that follow them, when the period
    is a small part of the history; else reading whole tables is the cheaper plan and it is None.
    """

    incidents: pd.DataFrame
    messages: pd.DataFrame
    candidates: Query | None
    issues: _Issues
    since: datetime
    until: datetime


def _following(query: Query, column: Any, candidates: Query | None) -> Query:
    """`query` kept to rows whose `column` is one of the candidates, if there are any."""
    return query if candidates is None else query.where(col(column).in_(candidates))


def _period_incidents(
    session: Session, settings: Settings, since: datetime, until: datetime
) -> _Period:
    first = col(StatusPageIncident.first_message_at)
    opened = col(StatusPageIncident.datetime_open)
    candidates = select(StatusPageIncident.id).where(
        or_(
            (first >= since) & (first < until),
            first.is_(None) & (opened >= since) & (opened < until),
        )
    )
    if settings.statusio_statuspage_id:
        candidates = candidates.where(
            StatusPageIncident.statuspage_id == settings.statusio_statuspage_id
        )
    elif settings.statusio_practice_statuspage_id:  # practice pages never count
        candidates = candidates.where(
            StatusPageIncident.statuspage_id != settings.statusio_practice_statuspage_id
        )
    incidents = _read(
        session,
        candidates.with_only_columns(
            col(StatusPageIncident.id),
            col(StatusPageIncident.name),
            col(StatusPageIncident.production_issue_iid),
            _raw(StatusPageIncident.first_message_at),
            _raw(StatusPageIncident.datetime_open),
        ),
        times=("first_message_at", "datetime_open"),
    )
    incidents["first_message_at"] = incidents["first_message_at"].fillna(incidents["datetime_open"])
    messages = select(
        StatusPageMessage.incident_id,
        _raw(StatusPageMessage.posted_at),
        StatusPageMessage.state,
        StatusPageMessage.announced_minutes,
    ).add_columns(col(StatusPageMessage.announced_clock))
    everything = session.exec(select(func.count()).select_from(StatusPageIncident)).one()
    narrow = candidates if 2 * len(incidents) < everything else None
    messages = _following(messages, StatusPageMessage.incident_id, narrow)
    issues = _Issues.load(session, settings, narrow)
    messages = _read(session, messages, times=("posted_at",))
    return _Period(incidents, messages, narrow, issues, since, until)


def _gaps(period: _Period, rota: _Rota) -> pd.DataFrame:
    """Each pair of consecutive updates after a non-resolving one, judged against its due time."""
    messages, incidents = period.messages, period.incidents
    codes, ids = pd.factorize(messages["incident_id"])
    rows = pd.Index(incidents["id"]).get_indexer(ids)  # -1 for another period's incident
    order = np.lexsort((_naive(messages["posted_at"]), codes))
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
            "incident": pd.Categorical.from_codes(codes[pairs], ids).remove_unused_categories(),
            "title": _categorical(row, incidents["name"]),
            "start": column("posted_at"),
            "end": column("posted_at", later),
            "state_code": states[pairs],
            "state": _categorical(inverse, [handbook.state_name(code) for code in known]),
            "announced_minutes": column("announced_minutes").astype(float),
            "announced_clock": column("announced_clock").astype(float),
        }
    )
    iids = pd.Series(incidents["production_issue_iid"].to_numpy()[row])
    gaps["severity"] = severity_in_effect(iids, gaps["start"], period.issues.severities())
    gaps["due"] = due_times(
        posted_at=gaps["start"],
        state=gaps["state_code"],
        severity=gaps["severity"],
        announced_minutes=gaps["announced_minutes"],
        announced_clock=gaps["announced_clock"],
    )
    gaps["on_time"] = gaps["end"] <= gaps["due"] + pd.Timedelta(handbook.GRACE)
    gaps["overdue_minutes"] = _minutes(gaps["end"] - gaps["due"]).where(~gaps["on_time"], 0.0)
    gaps["announced"] = gaps["announced_minutes"].notna() | gaps["announced_clock"].notna()
    gaps["person"] = rota.on_call(gaps["end"])
    return gaps


@dataclass
class _Issues:
    """The period's production issues (id, iid, current severity, whether labelled for the
    status page), the severity labels added to them and the severities set in the cockpit (iid,
    when, level), and when each was last labelled for the status page (by iid)."""

    issues: pd.DataFrame
    severity_adds: pd.DataFrame
    labelled_at: pd.Series

    @classmethod
    def load(cls, session: Session, settings: Settings, candidates: Select[Any] | None) -> _Issues:
        """The production issues of these status-page incidents (all of them for None) and
        their labels."""
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
        if candidates is not None:
            linked = _following(
                select(StatusPageIncident.production_issue_iid), StatusPageIncident.id, candidates
            )
            issues = issues.where(col(GitLabIssue.iid).in_(linked))
            ids = issues.with_only_columns(col(GitLabIssue.id))
            added = added.where(col(GitLabLabelEvent.issue_id).in_(ids))
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


def cadence_figures(gaps: pd.DataFrame) -> GapFigures:
    """The cadence figures of kpis.md 2 for these gaps, also per severity and per state."""
    on_time = gaps["on_time"].astype(bool)
    overdue = gaps.loc[~on_time, "overdue_minutes"].to_numpy()
    lengths = _minutes(gaps["end"] - gaps["start"])

    def split(by: str, keys: list[Any]) -> dict[Any, GapCounts]:
        counts = gaps.assign(on_time=on_time).groupby(by)["on_time"].agg(["size", "sum"])
        counts = counts.reindex(keys, fill_value=0)
        return {
            key: GapCounts(gaps=int(size), on_time=int(done))
            for key, size, done in zip(keys, counts["size"], counts["sum"], strict=True)
        }

    return GapFigures(
        gaps=len(gaps),
        on_time=int(on_time.sum()),
        longest_gap_minutes=float(lengths.max()) if len(gaps) else None,
        median_overdue_minutes=_percentile(overdue, 50),
        by_severity=split("severity", [1, 2, 3, 4]),
        by_state=split("state", [state.name.title() for state in IncidentState]),
    )


# 3. Stakeholder threads ----------------------------------------------------------------------


def _stakeholder_threads(session: Session, period: _Period) -> StakeholderThreads:
    threads = _read(
        session,
        _following(
            select(StakeholderThread.statuspage_incident_id, _raw(StakeholderThread.posted_at)),
            StakeholderThread.statuspage_incident_id,
            period.candidates,
        ),
        times=("posted_at",),
    )
    incidents = period.incidents
    # An index lookup: `isin` on text compares value by value in Python.
    threads = threads[pd.Index(incidents["id"]).get_indexer(threads["statuspage_incident_id"]) >= 0]
    per_incident = threads.groupby("statuspage_incident_id")["posted_at"].agg(["min", "size"])
    opened = incidents.set_index("id")["first_message_at"].reindex(per_incident.index)
    firsts = _minutes(per_incident["min"] - opened).to_numpy()
    return StakeholderThreads(
        incidents=len(incidents),
        with_thread=len(per_incident),
        threads=int(per_incident["size"].sum()),
        median_minutes_to_first_thread=_percentile(firsts, 50),
    )


# 4. Handover ---------------------------------------------------------------------------------


def _shifts(
    session: Session, since: datetime, until: datetime, people: People, rota: _Rota
) -> tuple[pd.DataFrame, list[str]]:
    """Merged CMOC shifts ending in the period, and whether each was handed over in time; and
    the authors of the handover issues that could count for them."""
    shifts = rota.shifts()
    shifts = shifts[(shifts["end"] >= since) & (shifts["end"] < until)]
    shifts = shifts.assign(person=people.pagerduty(shifts["user_id"]).fillna(shifts["user_id"]))
    issues = _read(
        session,
        select(GitLabIssue.author_id, _raw(GitLabIssue.created_at)).where(
            GitLabIssue.kind == IssueKind.HANDOVER,
            col(GitLabIssue.created_at) >= since - HANDOVER_WINDOW,
            col(GitLabIssue.created_at) <= until + HANDOVER_WINDOW,
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
    return found, list(handovers["person"].unique())


def handover_figures(shifts: pd.DataFrame) -> Handover:
    """The handover figures of kpis.md 4 for these shifts, also per person."""
    done = shifts["handed_over"].astype(bool)
    per_person = shifts.assign(done=done).groupby("person")["done"].agg(["size", "sum"])
    return Handover(
        shifts=len(shifts),
        handed_over=int(done.sum()),
        by_person=tuple(
            PersonShifts(person=person, shifts=int(size), handed_over=int(handed))
            for person, (size, handed) in per_person.iterrows()
        ),
    )


def per_person(
    pages: pd.DataFrame, gaps: pd.DataFrame, shifts: pd.DataFrame, firsts: pd.DataFrame
) -> tuple[PersonFigures, ...]:
    """The per-person figures of kpis.md for these rows (first public updates included), by name."""
    target = handbook.ACK_TARGET.total_seconds() / 60
    on_time, announced = gaps["on_time"].astype(bool), gaps["announced"].astype(bool)

    def tally(rows: pd.DataFrame, **flags: Any) -> pd.DataFrame:
        """How many rows each person has with each flag set (True counts every row)."""
        frame = pd.DataFrame(
            {name: np.broadcast_to(flag, len(rows)) for name, flag in flags.items()},
            index=rows.index,
        )
        person = rows["person"].astype(object)
        return frame.groupby(person.to_numpy()).sum()

    columns = [
        tally(pages, pages=True, within_target=pages["ack_minutes"] <= target),
        tally(gaps, gaps=True, on_time=on_time, announced=announced, kept=announced & on_time),
        tally(shifts, shifts=True, handed_over=shifts["handed_over"].astype(bool)),
        tally(
            firsts,
            first_updates=True,
            first_updates_within_target=firsts["within_target"].astype(bool),
        ),
    ]
    table = pd.concat(columns, axis=1).reindex(columns=list(PERSON_FIGURES)).fillna(0)
    table = table.astype("int64").sort_index()
    return tuple(
        PersonFigures(str(person), *(int(value) for value in values))
        for person, values in zip(table.index, table.to_numpy(), strict=True)
    )


def unmatched(people: People, names: list[str]) -> tuple[Unmatched, ...]:
    """The people among `names` whom only one system knows (or none): each may be one half of
    a person split in two, whose figures then miss what the other half did."""
    systems: dict[str, set[str]] = {}
    for (system, _), name in people.names.items():
        systems.setdefault(name, set()).add(system)
    known = {
        frozenset({System.PAGERDUTY.value}): Known.PAGERDUTY,
        frozenset({System.GITLAB.value}): Known.GITLAB,
        frozenset(): Known.NEITHER,
    }
    found = {
        name: known[frozenset(map(str, systems.get(name, set())))]
        for name in names
        if name and len(systems.get(name, set())) < 2
    }
    return tuple(Unmatched(name, found[name]) for name in sorted(found))


# 5. Contact requests -------------------------------------------------------------------------


def _contact_requests(
    session: Session, settings: Settings, since: datetime, until: datetime, people: People
) -> ContactRequests:
    query = select(
        cast(GitLabIssue.labels, Text).label("labels"),
        cast(GitLabIssue.assignee_ids, Text).label("assignee_ids"),
        _raw(GitLabIssue.closed_at),
    ).where(
        GitLabIssue.kind == IssueKind.CONTACT_REQUEST,
        col(GitLabIssue.created_at) >= since,
        col(GitLabIssue.created_at) < until,
    )
    issues = _read(session, query, times=("closed_at",))
    issues["labels"] = issues["labels"].map(json.loads)
    issues["assignee_ids"] = issues["assignee_ids"].map(json.loads)
    label = settings.gitlab_contact_request_label
    if label:
        issues = issues.loc[issues["labels"].map(lambda labels: label in labels).astype(bool)]
    issues = issues.assign(done=issues["closed_at"] < until)
    per_assignee = issues.assign(
        person=issues["assignee_ids"].map(lambda ids: list(ids) or [None])
    ).explode("person")
    per_assignee["person"] = people.gitlab(per_assignee["person"]).fillna("unassigned")
    counts = per_assignee.groupby("person")["done"].agg(["size", "sum"])
    return ContactRequests(
        opened=len(issues),
        completed=int(issues["done"].sum()),
        by_assignee=tuple(
            AssigneeRequests(person=person, opened=int(size), completed=int(done))
            for person, (size, done) in counts.iterrows()
        ),
    )


# 6. Training ---------------------------------------------------------------------------------


def _quarters(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    start = datetime(since.year, 3 * ((since.month - 1) // 3) + 1, 1, tzinfo=UTC)
    quarters = []
    while start < until:
        month = start.month + 3
        end = start.replace(year=start.year + (month > 12), month=(month - 1) % 12 + 1)
        quarters.append((f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, end))
        start = end
    return quarters


def _training(
    session: Session,
    settings: Settings,
    since: datetime,
    until: datetime,
    people: People,
    rota: _Rota,
) -> Training:
    quarters = _quarters(since, until)
    if not quarters:
        return Training(grid=())
    first, last = quarters[0][1], quarters[-1][2]
    events = _read(
        session,
        select(
            cast(GitLabIssue.assignee_ids, Text).label("assignee_ids"),
            _raw(GitLabIssue.created_at),
        ).where(
            GitLabIssue.kind == IssueKind.PRACTICE_EVENT,
            col(GitLabIssue.created_at) >= first,
            col(GitLabIssue.created_at) < last,
        ),
        times=("created_at",),
    )
    events = events.assign(assignee_ids=events["assignee_ids"].map(json.loads)).explode(
        "assignee_ids"
    )
    acks = select(PagerDutyIncident.acknowledged_by, _raw(PagerDutyIncident.acknowledged_at)).where(
        col(PagerDutyIncident.acknowledged_at) >= first,
        col(PagerDutyIncident.acknowledged_at) < last,
    )
    if settings.pagerduty_cmoc_service_ids:
        acks = acks.where(
            col(PagerDutyIncident.service_id).in_(settings.pagerduty_cmoc_service_ids)
        )
    drills = select(Person.name, _raw(PracticeDrill.finished_at)).join(
        Person, col(PracticeDrill.cmoc_id) == col(Person.id)
    )
    drills = drills.where(
        col(PracticeDrill.finished_at) >= first, col(PracticeDrill.finished_at) < last
    )
    activities = pd.concat(
        [
            pd.DataFrame(
                {"person": people.gitlab(events["assignee_ids"]), "at": events["created_at"]}
            ),
            _read(session, acks, times=("acknowledged_at",)).pipe(
                lambda f: pd.DataFrame(
                    {"person": people.pagerduty(f["acknowledged_by"]), "at": f["acknowledged_at"]}
                )
            ),
            _read(session, drills, times=("finished_at",)).set_axis(["person", "at"], axis=1),
        ]
    ).dropna()
    bounds = _naive(pd.Series([start for _, start, _ in quarters] + [last]))
    trained = pd.concat(  # (person, quarter) of each shadow shift and training activity
        [
            _quarters_covered(rota.shadow, bounds),
            pd.DataFrame(
                {
                    "person": activities["person"].to_numpy(),
                    "quarter": np.searchsorted(bounds, _naive(activities["at"]), "right") - 1,
                }
            ),
        ]
    ).dropna()
    cells = _quarters_covered(rota.cmoc, bounds).dropna().drop_duplicates()
    cells = cells.assign(
        trained=pd.MultiIndex.from_frame(cells).isin(pd.MultiIndex.from_frame(trained))
    ).sort_values(["quarter", "person"])
    labels = [label for label, _, _ in quarters]
    return Training(
        grid=tuple(
            TrainingCell(person=person, quarter=labels[quarter], trained=bool(trained))
            for person, quarter, trained in cells.itertuples(index=False)
        )
    )


def _quarters_covered(entries: pd.DataFrame, bounds: np.ndarray) -> pd.DataFrame:
    """(person, quarter) for each quarter an on-call entry overlaps; quarter k runs from
    bounds[k] to bounds[k + 1]."""
    first = (np.searchsorted(bounds, _naive(entries["start"]), "right") - 1).clip(0)
    last = (np.searchsorted(bounds, _naive(entries["until"]), "left") - 1).clip(max=len(bounds) - 2)
    counts = (last - first + 1).clip(0)
    steps = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame(
        {
            "person": np.repeat(entries["person"].to_numpy(), counts),
            "quarter": np.repeat(first, counts) + steps,
        }
    )


# 7. Status-page label ------------------------------------------------------------------------


def _status_page_label(period: _Period) -> StatusPageLabel:
    incidents = period.incidents.dropna(subset=["production_issue_iid"])
    linked = incidents.astype({"production_issue_iid": "int64"}).merge(
        period.issues.issues.astype({"iid": "int64"}),
        left_on="production_issue_iid",
        right_on="iid",
    )
    labelled = linked[linked["labelled"].astype(bool)]
    at = _lookup(labelled["iid"], period.issues.labelled_at)
    minutes = _minutes(at - labelled["first_message_at"]).dropna().to_numpy()
    return StatusPageLabel(
        incidents=len(linked),
        labelled=len(labelled),
        median_minutes_to_label=_percentile(minutes, 50),
    )


# 8. Time to first public update --------------------------------------------------------------


def _first_updates(
    session: Session,
    settings: Settings,
    period: _Period,
    rota: _Rota,
    target: float,
    paged: pd.DataFrame,
) -> pd.DataFrame:
    """The period's incidents linked to a CMOC page: the earliest linked page, the first
    status-page message, the minutes between them, and who was on call when paged.

    `paged` holds the CMOC pages triggered in the period (as `_pages` reads them); the pages
    of other times that link the period's incidents are read here.
    """
    triggered = col(PagerDutyIncident.created_at)
    since, until = period.since, period.until
    query: Query = select(
        PagerDutyIncident.incident_number,
        _raw(PagerDutyIncident.created_at),
        PagerDutyIncident.statuspage_incident_id,
    ).where(
        col(PagerDutyIncident.statuspage_incident_id).is_not(None),
        or_(triggered < since, triggered >= until),
    )
    if settings.pagerduty_cmoc_service_ids:
        services = settings.pagerduty_cmoc_service_ids
        query = query.where(col(PagerDutyIncident.service_id).in_(services))
    query = _following(query, PagerDutyIncident.statuspage_incident_id, period.candidates)
    others = _read(session, query, times=("created_at",))
    inside = paged[["page", "triggered", "incident"]].set_axis(list(others.columns), axis=1)
    pages = pd.concat([inside, others], ignore_index=True)
    incidents = period.incidents
    # Each page's incident as a row of the period's incidents (-1: another period's).
    row = pd.Index(incidents["id"]).get_indexer(pages["statuspage_incident_id"])
    pages = pages.assign(row=row)[row >= 0]
    # Several pages may link one incident: the earliest trigger counts (ties: lowest number).
    order = np.lexsort((pages["incident_number"].to_numpy(), _naive(pages["created_at"])))
    earliest = pages.iloc[order].drop_duplicates("row").reset_index(drop=True)
    row = earliest["row"].to_numpy()

    def column(name: str) -> pd.Series:
        return incidents[name].iloc[row].reset_index(drop=True)

    first = column("first_message_at")
    firsts = pd.DataFrame(
        {
            "incident": column("id"),
            "title": column("name"),
            "page": earliest["incident_number"],
            "triggered": earliest["created_at"],
            "first_update": first,
            "minutes": _minutes(first - earliest["created_at"]),
        }
    )
    firsts["within_target"] = firsts["minutes"] <= target
    iids = column("production_issue_iid")
    firsts["severity"] = severity_in_effect(iids, first, period.issues.severities())
    firsts["person"] = rota.on_call(firsts["triggered"])
    return firsts.iloc[np.lexsort((row, _naive(first)))].reset_index(drop=True)


def first_update_figures(firsts: pd.DataFrame, target: int) -> FirstPublicUpdate:
    """The first-public-update figures of kpis.md 8 for these incidents."""
    minutes = firsts["minutes"].to_numpy(dtype=float)
    return FirstPublicUpdate(
        incidents=len(firsts),
        median_minutes=_percentile(minutes, 50),
        p90_minutes=_percentile(minutes, 90),
        within_target=int((minutes <= target).sum()),
        target_minutes=int(target),
    )


# 9. Announced updates kept -------------------------------------------------------------------


def announced_figures(gaps: pd.DataFrame) -> AnnouncedUpdates:
    """The announced-updates figures of kpis.md 9: gaps whose earlier update named the next."""
    announced = gaps[gaps["announced"].astype(bool)]
    return AnnouncedUpdates(
        announced=len(announced), kept=int(announced["on_time"].astype(bool).sum())
    )


# Numbers -------------------------------------------------------------------------------------


def _percentile(values: Any, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None
