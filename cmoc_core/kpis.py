"""The CMOC performance indicators of ../spec/kpis.md, computed from the stored history.

Each indicator reads only the columns it needs, straight into pandas, and works on whole
columns: ten years of history cost about what reading them costs. The rows behind every
figure are kept as DataFrames for drill-down.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    Text,
    case,
    cast,
    func,
    or_,
    type_coerce,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session, col, select

from cmoc_core import handbook
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

HANDOVER_WINDOW = pd.Timedelta(hours=2)
NEVER = pd.Timestamp("9999-12-31", tz="UTC").as_unit("us")
FETCH_ROWS = 50_000
PERSON_FIGURES = ("pages", "within_target", "gaps", "on_time", "shifts", "handed_over")
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
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)

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
    rota = _Rota.load(session, settings, people)
    regions = rota.home_regions()
    pages = _pages(session, settings, since, until, people, rota)
    period = _period_incidents(session, settings, since, until)
    gaps = _gaps(period, rota)
    shifts = _shifts(session, since, until, people, rota)
    for frame in (pages, gaps, shifts):
        frame["region"] = _mapped(frame["person"], regions)
    report = KpiReport(
        since=since,
        until=until,
        ack_time=ack_figures(pages),
        update_cadence={"incidents": len(period.incidents), **cadence_figures(gaps)},
        stakeholder_threads=_stakeholder_threads(session, period),
        handover=handover_figures(shifts),
        contact_requests=_contact_requests(session, settings, since, until, people),
        training=_training(session, settings, since, until, people, rota),
        status_page_label=_status_page_label(period),
        per_person=per_person(pages, gaps, shifts),
    )
    report.rows = {
        "pages": _lean(pages[PAGE_COLUMNS]),
        "gaps": _lean(gaps[GAP_COLUMNS]),
        "shifts": _lean(shifts[SHIFT_COLUMNS]),
    }
    report.regions = regions
    return report


@dataclass(frozen=True)
class Selection:
    """Who and what a dashboard looks at: one person, one region, some severities."""

    person: str | None = None
    region: str | None = None
    severities: tuple[int, ...] = ()


def selected_rows(report: KpiReport, selection: Selection) -> dict[str, pd.DataFrame]:
    """The rows behind the figures for a selection (severities narrow the gaps only)."""
    rows = {}
    for name, frame in report.rows.items():
        keep = pd.Series(True, index=frame.index)
        if selection.person:
            keep &= frame["person"] == selection.person
        if selection.region:
            keep &= frame["region"] == selection.region
        if selection.severities and name == "gaps":
            keep &= frame["severity"].isin(selection.severities)
        rows[name] = frame[keep.fillna(False).astype(bool)]
    return rows


def selected_grid(report: KpiReport, selection: Selection) -> pd.DataFrame:
    """The training grid (person, quarter, trained) for a selection's person and region."""
    grid = pd.DataFrame(report.training["grid"], columns=["person", "quarter", "trained"])
    if selection.person:
        grid = grid[grid["person"] == selection.person]
    if selection.region:
        grid = grid[grid["person"].map(report.regions) == selection.region]
    return grid


def _lean(frame: pd.DataFrame) -> pd.DataFrame:
    """Repeated text as categories: the rows stay small to cache and quick to filter."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    return frame.reset_index(drop=True).astype(dict.fromkeys(text, "category"))


# Reading -------------------------------------------------------------------------------------


def _raw(column: Any) -> ColumnElement[Any]:
    """A column read as the driver returns it: timestamps are parsed per column, not per row."""
    return type_coerce(column, String).label(column.key)


def _read(session: Session, query: Select[Any], times: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of `query` as a DataFrame, with the `times` columns as UTC timestamps.

    Rows come straight from the driver's cursor into typed numpy columns, a chunk at a time
    (which keeps the memory peak low); SQLite's timestamp text is parsed on the way, in C.
    """
    result = session.connection().execute(query)
    times = set(times)
    columns = [
        (name, column.type, name in times)
        for name, column in zip(result.keys(), query.selected_columns, strict=True)
    ]
    rows = result.cursor.fetchmany(FETCH_ROWS)
    layout = np.dtype(
        [
            (name, _dtype(kind, time, _first_value(row[i] for row in rows)))
            for i, (name, kind, time) in enumerate(columns)
        ]
    )
    chunks = [np.array(rows, dtype=layout)]
    while rows := result.cursor.fetchmany(FETCH_ROWS):
        chunks.append(np.array(rows, dtype=layout))
    table = np.concatenate(chunks)
    return pd.DataFrame({name: _series(table[name], kind, time) for name, kind, time in columns})


def _dtype(kind: Any, time: bool, sample: Any) -> str:
    """How a column is held while it is read: numbers as floats (None as NaN), SQLite's
    timestamp text as datetime64, anything else as it came."""
    if time:
        return "datetime64[us]" if isinstance(sample, str) else "O"
    return "f8" if isinstance(kind, Integer | Float | Boolean) else "O"


def _series(values: np.ndarray, kind: Any, time: bool) -> pd.Series:
    """A column read by `_read` in its final type: times in UTC, whole numbers and flags as
    such unless some are missing."""
    if values.dtype.kind == "M":
        return pd.Series(values).dt.tz_localize("UTC")
    if time:  # the driver's datetimes, or no value at all
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.as_unit("us")
    if values.dtype.kind == "O":
        return pd.Series(values, dtype=object)
    if np.isnan(values).any():
        return pd.Series(values)
    return pd.Series(values.astype(bool if isinstance(kind, Boolean) else np.int64))


def _first_value(values: Iterable[Any]) -> Any:
    return next((value for value in values if value is not None), None)


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

    def pagerduty(self, ids: pd.Series) -> pd.Series:
        """Person names for PagerDuty user ids (NaN where there is no id)."""
        return self._names(System.PAGERDUTY, ids)

    def gitlab(self, ids: pd.Series) -> pd.Series:
        """Person names for GitLab user ids (NaN where there is no id)."""
        return self._names(System.GITLAB, ids)

    def _names(self, system: System, ids: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(ids)
        names = [(self.names.get((system, i)) or i) if i else None for i in uniques]
        found = np.array([*names, None], dtype=object)[codes]  # code -1 (no id) takes the None
        return pd.Series(found, index=ids.index, dtype=object).where(codes >= 0)


class _Rota:
    """CMOC and shadow on-call entries with their people, lookups by time and merged shifts."""

    def __init__(self, entries: pd.DataFrame, people: _People) -> None:
        entries = entries.assign(
            until=entries["end"].fillna(NEVER), person=people.pagerduty(entries["user_id"])
        )
        cmoc = entries[entries["schedule_kind"] == ScheduleKind.CMOC]
        self.cmoc = cmoc.sort_values("start", kind="stable").reset_index(drop=True)
        self.shadow = entries[entries["schedule_kind"] == ScheduleKind.SHADOW]
        self._start = _naive(self.cmoc["start"])
        self._until = _naive(self.cmoc["until"])
        self._reach = np.maximum.accumulate(self._until) if len(self._until) else self._until
        self._people = pd.factorize(self.cmoc["person"])

    @classmethod
    def load(cls, session: Session, settings: Settings, people: _People) -> _Rota:
        schedules = settings.pagerduty_cmoc_schedule_ids + settings.pagerduty_shadow_schedule_ids
        query = select(
            OnCallEntry.schedule_kind,
            OnCallEntry.user_id,
            _raw(OnCallEntry.start),
            _raw(OnCallEntry.end),
            OnCallEntry.region,
        )
        if schedules:
            query = query.where(col(OnCallEntry.schedule_id).in_(schedules))
        return cls(_read(session, query, times=("start", "end")), people)

    def on_call(self, moments: pd.Series) -> pd.Series:
        """The person on a CMOC schedule at each moment (the latest entry to start), or NaN."""
        codes, persons = self._people
        found = np.full(len(moments), -1)
        if len(codes):
            at = _naive(moments)
            position = np.searchsorted(self._start, at, side="right") - 1
            started = position >= 0
            position = position.clip(0)
            running = started & (self._until[position] > at)
            # The latest to start has ended, but an earlier and longer entry may still run.
            for index in np.flatnonzero(started & ~running & (self._reach[position] > at)):
                position[index] = self._running_before(at[index], position[index])
                running[index] = True
            found = np.where(running, codes[position], -1)
        return pd.Series(pd.Categorical.from_codes(found, persons), index=moments.index)

    def _running_before(self, moment: np.datetime64, position: int) -> int:
        return next(i for i in range(position, -1, -1) if self._until[i] > moment)

    def shifts(self) -> pd.DataFrame:
        """CMOC entries of one user that touch or overlap, merged: user, region, start, end."""
        entries = self.cmoc.sort_values(["user_id", "start"], kind="stable")
        by_user = entries.groupby("user_id", sort=False)["until"]
        before = by_user.cummax().groupby(entries["user_id"], sort=False).shift()
        fresh = before.isna() | (entries["start"] > before)
        merged = entries.groupby(fresh.cumsum().to_numpy(), sort=False).agg(
            user_id=("user_id", "first"),
            region=("region", "last"),
            start=("start", "min"),
            until=("until", "max"),
        )
        return merged.assign(end=merged["until"].where(merged["until"] < NEVER))

    def home_regions(self) -> dict[str, str]:
        """Each person's region: the one named by most of their CMOC entries."""
        known = self.cmoc.dropna(subset=["region", "person"])
        if known.empty:
            return {}
        counts = known.value_counts(["person", "region"], sort=True)
        return dict(counts.index[::-1])


# 1. Time to acknowledge ----------------------------------------------------------------------


def _pages(session, settings, since, until, people, rota) -> pd.DataFrame:
    query = select(
        PagerDutyIncident.incident_number,
        PagerDutyIncident.title,
        _raw(PagerDutyIncident.created_at),
        _raw(PagerDutyIncident.acknowledged_at),
        PagerDutyIncident.acknowledged_by,
        PagerDutyIncident.statuspage_incident_id,
    ).where(col(PagerDutyIncident.created_at) >= since, col(PagerDutyIncident.created_at) < until)
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


def ack_figures(pages: pd.DataFrame) -> dict[str, Any]:
    """The ack-time figures of kpis.md 1 for these pages."""
    minutes = pages["ack_minutes"].dropna().to_numpy()
    target = handbook.ACK_TARGET.total_seconds() / 60
    within = int((minutes <= target).sum())
    return {
        "pages": len(pages),
        "acknowledged": len(minutes),
        "median_minutes": _percentile(minutes, 50),
        "p90_minutes": _percentile(minutes, 90),
        "within_target": within,
        "within_target_pct": _pct(within, len(pages)),
        "target_minutes": int(target),
    }


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
    candidates: Select[Any] | None
    issues: _Issues


def _following(query: Select[Any], column: Any, candidates: Select[Any] | None) -> Select[Any]:
    """`query` kept to rows whose `column` is one of the candidates, if there are any."""
    return query if candidates is None else query.where(col(column).in_(candidates))


def _period_incidents(session, settings, since, until) -> _Period:
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
    incidents = _read(
        session,
        candidates.with_only_columns(
            StatusPageIncident.id,
            StatusPageIncident.name,
            StatusPageIncident.production_issue_iid,
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
        StatusPageMessage.announced_clock,
    )
    everything = session.exec(select(func.count()).select_from(StatusPageIncident)).one()
    narrow = candidates if 2 * len(incidents) < everything else None
    messages = _following(messages, StatusPageMessage.incident_id, narrow)
    issues = _Issues.load(session, settings, narrow)
    return _Period(incidents, _read(session, messages, times=("posted_at",)), narrow, issues)


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
    gaps["due"] = _due(gaps)
    gaps["on_time"] = gaps["end"] <= gaps["due"] + pd.Timedelta(handbook.GRACE)
    gaps["overdue_minutes"] = _minutes(gaps["end"] - gaps["due"]).where(~gaps["on_time"], 0.0)
    gaps["announced"] = gaps["announced_minutes"].notna() | gaps["announced_clock"].notna()
    gaps["person"] = rota.on_call(gaps["end"])
    return gaps


def _due(gaps: pd.DataFrame) -> pd.Series:
    """When each gap's later update was due: as the earlier one announced, else the table."""
    states = sorted(handbook.CADENCE_MINUTES)
    table = np.array(
        [[handbook.CADENCE_MINUTES[s][level] for level in (1, 2, 3, 4)] for s in states]
    )
    row = np.searchsorted(np.array(states, dtype=np.int64), gaps["state_code"].to_numpy())
    interval = table[row, gaps["severity"].to_numpy(dtype=np.int64) - 1]
    start = gaps["start"]
    due = start + pd.to_timedelta(interval, unit="m")
    after = start + pd.to_timedelta(gaps["announced_minutes"], unit="m")
    clock = start.dt.floor("D") + pd.to_timedelta(gaps["announced_clock"], unit="m")
    clock = clock.where(clock.isna() | (clock >= start), clock + pd.Timedelta(days=1))
    return after.fillna(clock).fillna(due).dt.as_unit("us")


@dataclass
class _Issues:
    """The period's production issues (id, iid, current severity, whether labelled for the
    status page), the severity labels added to them (iid, when, level) and when each was last
    labelled for the status page (by iid)."""

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
            ids = issues.with_only_columns(GitLabIssue.id)
            added = added.where(col(GitLabLabelEvent.issue_id).in_(ids))
        found = _read(session, issues)
        iid = found.set_index("id")["iid"]
        levels = {**_severity_levels(session), label: 0}  # 0 stands for the status-page label
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
        severity_adds = events.loc[~labelled, ["iid", "created_at", "level"]]
        return cls(
            found,
            severity_adds.rename(columns={"created_at": "when"}),
            events[labelled].groupby("iid")["created_at"].max(),
        )

    def severities(self) -> tuple[pd.DataFrame, pd.Series]:
        """Severity labels added (iid, when, level) and each issue's current severity by iid."""
        return self.severity_adds, self.issues.set_index("iid")["severity"].dropna()


def _severity_levels(session: Session) -> dict[str, int]:
    """The severity each label name ever added stands for, for the names that stand for one."""
    names = session.exec(
        select(GitLabLabelEvent.label_name).where(GitLabLabelEvent.action == "add").distinct()
    )
    return {
        name: int(match.group(1))
        for name in names
        if name and (match := SEVERITY_LABEL.match(name.strip()))
    }


def severity_in_effect(
    iids: pd.Series, moments: pd.Series, known: tuple[pd.DataFrame, pd.Series]
) -> pd.Series:
    """Severity at each moment (kpis.md): last added by then, else first added, else current."""
    adds, current = known
    level = pd.Series(np.nan, index=iids.index)
    if iids.notna().any() and not adds.empty:
        adds = adds.sort_values(["when", "level"], kind="stable")
        per_issue = adds.groupby("iid")["level"].agg(["first", "nunique"])
        level = iids.map(per_issue["first"])  # the rule wherever the severity never changed
        changed = per_issue.index[per_issue["nunique"] > 1]
        rows = np.flatnonzero(iids.isin(changed).to_numpy())
        if len(rows):
            left = pd.DataFrame(
                {
                    "iid": iids.iloc[rows].astype("int64").to_numpy(),
                    "when": moments.iloc[rows].reset_index(drop=True),
                    "row": rows,
                }
            ).sort_values("when", kind="stable")
            right = adds[adds["iid"].isin(changed)]
            before = pd.merge_asof(left, right, on="when", by="iid").dropna(subset=["level"])
            level.iloc[before["row"].to_numpy()] = before["level"].to_numpy(dtype=float)
    level = level.fillna(iids.map(current))
    return level.fillna(handbook.DEFAULT_SEVERITY).astype("int64")


def cadence_figures(gaps: pd.DataFrame) -> dict[str, Any]:
    """The cadence figures of kpis.md 2 for these gaps, also per severity and per state."""
    on_time = gaps["on_time"].astype(bool)
    overdue = gaps.loc[~on_time, "overdue_minutes"].to_numpy()
    lengths = _minutes(gaps["end"] - gaps["start"])

    def split(by: str, keys: Iterable[Any]) -> dict[str, dict[str, int]]:
        counts = gaps.assign(on_time=on_time).groupby(by)["on_time"].agg(["size", "sum"])
        counts = counts.reindex(list(keys), fill_value=0)
        return {
            str(key): {"gaps": int(size), "on_time": int(done), "overdue": int(size - done)}
            for key, (size, done) in counts.iterrows()
        }

    return {
        "gaps": len(gaps),
        "on_time": int(on_time.sum()),
        "on_time_pct": _pct(int(on_time.sum()), len(gaps)),
        "overdue": len(overdue),
        "longest_gap_minutes": float(lengths.max()) if len(gaps) else None,
        "median_overdue_minutes": _percentile(overdue, 50),
        "by_severity": split("severity", (1, 2, 3, 4)),
        "by_state": split("state", (state.name.title() for state in IncidentState)),
    }


# 3. Stakeholder threads ----------------------------------------------------------------------


def _stakeholder_threads(session, period) -> dict[str, Any]:
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
    threads = threads[threads["statuspage_incident_id"].isin(incidents["id"])]
    per_incident = threads.groupby("statuspage_incident_id")["posted_at"].agg(["min", "size"])
    opened = incidents.set_index("id")["first_message_at"].reindex(per_incident.index)
    firsts = _minutes(per_incident["min"] - opened).to_numpy()
    count = len(incidents)
    return {
        "incidents": count,
        "with_thread": len(per_incident),
        "with_thread_pct": _pct(len(per_incident), count),
        "threads_per_incident": int(per_incident["size"].sum()) / count if count else None,
        "median_minutes_to_first_thread": _percentile(firsts, 50),
    }


# 4. Handover ---------------------------------------------------------------------------------


def _shifts(session, since, until, people, rota) -> pd.DataFrame:
    """Merged CMOC shifts ending in the period, and whether each was handed over in time."""
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
    return found.sort_values(["end", "person"], kind="stable").reset_index(drop=True)


def handover_figures(shifts: pd.DataFrame) -> dict[str, Any]:
    """The handover figures of kpis.md 4 for these shifts, also per person."""
    done = shifts["handed_over"].astype(bool)
    per_person = shifts.assign(done=done).groupby("person")["done"].agg(["size", "sum"])
    return {
        "shifts": len(shifts),
        "handed_over": int(done.sum()),
        "handed_over_pct": _pct(int(done.sum()), len(shifts)),
        "by_person": [
            {"person": person, "shifts": int(size), "handed_over": int(handed)}
            for person, (size, handed) in per_person.iterrows()
        ],
    }


def per_person(
    pages: pd.DataFrame, gaps: pd.DataFrame, shifts: pd.DataFrame
) -> list[dict[str, Any]]:
    """The per-person figures of kpis.md for these rows, by name."""
    target = handbook.ACK_TARGET.total_seconds() / 60
    columns = [
        pages.groupby("person").size().rename("pages"),
        pages[pages["ack_minutes"] <= target].groupby("person").size().rename("within_target"),
        gaps.groupby("person").size().rename("gaps"),
        gaps[gaps["on_time"].astype(bool)].groupby("person").size().rename("on_time"),
        shifts.groupby("person").size().rename("shifts"),
        shifts[shifts["handed_over"].astype(bool)].groupby("person").size().rename("handed_over"),
    ]
    table = pd.concat(columns, axis=1).reindex(columns=list(PERSON_FIGURES)).fillna(0)
    return [
        {"person": person, **{name: int(value) for name, value in row.items()}}
        for person, row in table.sort_index().iterrows()
    ]


# 5. Contact requests -------------------------------------------------------------------------


def _contact_requests(session, settings, since, until, people) -> dict[str, Any]:
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
    completed = int(issues["done"].sum())
    return {
        "opened": len(issues),
        "completed": completed,
        "completed_per_opened": completed / len(issues) if len(issues) else None,
        "by_assignee": [
            {"person": person, "opened": int(size), "completed": int(done)}
            for person, (size, done) in counts.iterrows()
        ],
    }


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


def _training(session, settings, since, until, people, rota) -> dict[str, Any]:
    quarters = _quarters(since, until)
    if not quarters:
        return {"cmoc_quarters": 0, "trained": 0, "trained_pct": None, "grid": []}
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
    grid = [
        {"person": person, "quarter": labels[quarter], "trained": bool(trained)}
        for person, quarter, trained in cells.itertuples(index=False)
    ]
    done = int(cells["trained"].sum())
    return {
        "cmoc_quarters": len(grid),
        "trained": done,
        "trained_pct": _pct(done, len(grid)),
        "grid": grid,
    }


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


def _status_page_label(period: _Period) -> dict[str, Any]:
    incidents = period.incidents.dropna(subset=["production_issue_iid"])
    linked = incidents.astype({"production_issue_iid": "int64"}).merge(
        period.issues.issues.astype({"iid": "int64"}),
        left_on="production_issue_iid",
        right_on="iid",
    )
    labelled = linked[linked["labelled"].astype(bool)]
    at = _lookup(labelled["iid"], period.issues.labelled_at)
    minutes = _minutes(at - labelled["first_message_at"]).dropna().to_numpy()
    return {
        "incidents": len(linked),
        "labelled": len(labelled),
        "labelled_pct": _pct(len(labelled), len(linked)),
        "median_minutes_to_label": _percentile(minutes, 50),
    }


# Severity of one incident, for the history page ----------------------------------------------


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
    adds: dict[int, list[tuple[datetime, int]]] = {}
    if issues:
        for event in session.exec(
            select(GitLabLabelEvent).where(
                col(GitLabLabelEvent.issue_id).in_(list(issues)), GitLabLabelEvent.action == "add"
            )
        ):
            match = SEVERITY_LABEL.match((event.label_name or "").strip())
            if match:
                adds.setdefault(event.issue_id, []).append((event.created_at, int(match.group(1))))
    return {
        issue.iid: Severity(adds.get(issue.id, []), severity_from_labels(issue.labels))
        for issue in issues.values()
    }


# Numbers -------------------------------------------------------------------------------------


def _percentile(values: Any, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _pct(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rounded(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return round(float(value), 2)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
