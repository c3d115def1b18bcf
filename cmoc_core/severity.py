"""The severity of an incident at a time, from its production issue's labels (kpis.md).

Status.io holds no severity. The severity in effect at time t is the last `severity::N` label
added at or before t; if none was added by t, the first one added after t; if the issue has no
label events, its current severity label; if nothing is known, severity 3 where a number is
needed (the S2 and S3/4 cadences are the same, so only S1 is stricter). One incident at a time
is `Severity.at`; whole columns at once (the KPI report) is `severity_in_effect`.

A severity set in the cockpit counts as that severity label added to the production issue the
working incident links, at the time it was set (`cockpit_adds`); drills never count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from cmoc_core import handbook
from cmoc_core.linking import SEVERITY_LABEL, first_issue_iid, severity_from_labels
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    IssueKind,
    SeverityChange,
    WorkingIncident,
)

if TYPE_CHECKING:  # pandas is slow to load: imported where whole columns are read
    import pandas as pd


def level_of(label: str | None) -> int | None:
    """The severity a label names (`severity::2`, `S2`), or None for any other label."""
    match = SEVERITY_LABEL.match((label or "").strip())
    return int(match.group(1)) if match else None


class Severity:
    """One production issue's severity over time: the severity labels added, and its current."""

    def __init__(self, adds: Iterable[tuple[datetime, int]], current: int | None) -> None:
        self.adds = sorted(adds)
        self.current = current

    def at(self, moment: datetime) -> int | None:
        """The severity in effect at `moment`, or None when nothing is known."""
        before = [level for when, level in self.adds if when <= moment]
        if before:
            return before[-1]
        if self.adds:
            return self.adds[0][1]
        return self.current


@dataclass(frozen=True)
class SeverityAdd:
    """A severity given to a production issue at a time (a label added, or set in the cockpit)."""

    iid: int
    at: datetime
    level: int


def cockpit_adds(
    *, session: Session, project: str, iids: Iterable[int] | None = None
) -> list[SeverityAdd]:
    """Severities set in the cockpit, as adds to the issue of `project` each incident links."""
    wanted = None if iids is None else set(iids)
    query = (
        select(SeverityChange.at, SeverityChange.level, WorkingIncident.issue_url)
        .join(WorkingIncident, col(WorkingIncident.id) == col(SeverityChange.incident_id))
        .where(
            col(WorkingIncident.practice).is_(False),
            col(WorkingIncident.issue_url).is_not(None),
        )
        .order_by(col(SeverityChange.at))
    )
    found = []
    for at, level, url in session.exec(query):
        iid = first_issue_iid([url or ""], project)
        if iid is not None and (wanted is None or iid in wanted):
            found.append(SeverityAdd(iid, at, level))
    return found


def severities(*, session: Session, project: str, iids: Iterable[int]) -> dict[int, Severity]:
    """The severity over time (labels added, set in the cockpit) of `project`'s issues, by iid."""
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
            level = level_of(event.label_name)
            if level is not None:
                iid = issues[event.issue_id].iid
                adds.setdefault(iid, []).append((event.created_at, level))
    for add in cockpit_adds(session=session, project=project, iids=wanted):
        adds.setdefault(add.iid, []).append((add.at, add.level))
    current = {issue.iid: severity_from_labels(issue.labels) for issue in issues.values()}
    return {iid: Severity(adds.get(iid, []), current.get(iid)) for iid in sorted({*current, *adds})}


def label_levels(*, session: Session) -> dict[str, int]:
    """The severity each label name ever added stands for, for the names that stand for one."""
    names = session.exec(
        select(GitLabLabelEvent.label_name).where(GitLabLabelEvent.action == "add").distinct()
    )
    return {name: level for name in names if name and (level := level_of(name)) is not None}


def severity_in_effect(
    iids: pd.Series, moments: pd.Series, known: tuple[pd.DataFrame, pd.Series]
) -> pd.Series:
    """Severity at each moment, whole columns at once: `Severity.at` for every (iid, moment),
    severity 3 where nothing is known.

    `known` holds the severity labels added (iid, when, level) and each issue's current severity
    by iid; a missing iid has no production issue.
    """
    import numpy as np
    import pandas as pd

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
