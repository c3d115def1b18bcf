"""The KPI report's results as types: one frozen type per indicator of ../spec/kpis.md.

Each holds its counts and measures as computed, and derives its percentages from them.
`as_dict()` gives the indicator's JSON object as the `kpis` command prints it: the keys and
key order of kpis.md, numbers rounded to 2 decimals. That JSON is read by other tools, so a
key here is never renamed or moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd

from cmoc_core.timeutil import iso_z

Figure = int | float | None


def rounded(value: float | None) -> float | None:
    """A measure as the report prints it: rounded to 2 decimals."""
    return None if value is None else round(float(value), 2)


def percent(part: int, whole: int) -> float | None:
    """`part` as a percentage of `whole` (0–100), or None when there is no whole."""
    return 100 * part / whole if whole else None


def rounded_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as the dashboard shows and exports them: measures rounded to 2 decimals."""
    measures = frame.select_dtypes("float").columns
    return frame.assign(**{name: frame[name].round(2) for name in measures})


class Better(StrEnum):
    """Which way a figure should move: up for shares of work done well, down for waiting."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Change:
    """How a figure moved since the previous period of the same length, as shown (1 decimal)."""

    amount: float | None
    better: Better

    @property
    def moved(self) -> bool:
        """Whether there is a change to show: both periods measured and the shown amount not 0."""
        return self.amount is not None and self.amount != 0

    @property
    def good(self) -> bool | None:
        """Whether the move is for the better; None when nothing moved."""
        if not self.moved:
            return None
        assert self.amount is not None
        return (self.amount > 0) == (self.better is Better.HIGHER)


def change(value: float | None, before: float | None, *, better: Better) -> Change:
    """The change from `before` to `value`, rounded as shown, so +0.04 is no change at all."""
    if value is None or before is None:
        return Change(None, better)
    return Change(round(round(value, 1) - round(before, 1), 1) + 0.0, better)


class Indicator(Protocol):
    """What every indicator offers: its JSON object."""

    def as_dict(self) -> dict[str, Any]:
        """The indicator as the `kpis` command prints it."""
        ...


@dataclass(frozen=True)
class AckTime:
    """Time to acknowledge PagerDuty pages (kpis.md 1)."""

    pages: int
    acknowledged: int
    median_minutes: float | None
    p90_minutes: float | None
    within_target: int
    target_minutes: int

    @property
    def within_target_pct(self) -> float | None:
        """Pages acknowledged within the target, as a share of all pages."""
        return percent(self.within_target, self.pages)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "pages": self.pages,
            "acknowledged": self.acknowledged,
            "median_minutes": rounded(self.median_minutes),
            "p90_minutes": rounded(self.p90_minutes),
            "within_target": self.within_target,
            "within_target_pct": rounded(self.within_target_pct),
            "target_minutes": self.target_minutes,
        }


@dataclass(frozen=True)
class GapCounts:
    """Gaps between status updates of one severity or one state, and how many were on time."""

    gaps: int
    on_time: int

    @property
    def overdue(self) -> int:
        """Gaps whose later update came after it was due."""
        return self.gaps - self.on_time

    def as_dict(self) -> dict[str, Any]:
        """The counts as the `kpis` command prints them."""
        return {"gaps": self.gaps, "on_time": self.on_time, "overdue": self.overdue}


@dataclass(frozen=True)
class GapFigures:
    """How some gaps between status updates kept the cadence (kpis.md 2)."""

    gaps: int
    on_time: int
    longest_gap_minutes: float | None
    median_overdue_minutes: float | None
    by_severity: Mapping[int, GapCounts]
    by_state: Mapping[str, GapCounts]

    @property
    def on_time_pct(self) -> float | None:
        """Gaps on time, as a share of all gaps."""
        return percent(self.on_time, self.gaps)

    @property
    def overdue(self) -> int:
        """Gaps whose later update came after it was due."""
        return self.gaps - self.on_time

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "gaps": self.gaps,
            "on_time": self.on_time,
            "on_time_pct": rounded(self.on_time_pct),
            "overdue": self.overdue,
            "longest_gap_minutes": rounded(self.longest_gap_minutes),
            "median_overdue_minutes": rounded(self.median_overdue_minutes),
            "by_severity": {str(key): row.as_dict() for key, row in self.by_severity.items()},
            "by_state": {key: row.as_dict() for key, row in self.by_state.items()},
        }


@dataclass(frozen=True)
class UpdateCadence(GapFigures):
    """The update cadence of a period's status-page incidents (kpis.md 2)."""

    incidents: int

    @classmethod
    def of(cls, incidents: int, gaps: GapFigures) -> UpdateCadence:
        """The cadence of this many incidents, whose gaps scored `gaps`."""
        return cls(
            incidents=incidents,
            gaps=gaps.gaps,
            on_time=gaps.on_time,
            longest_gap_minutes=gaps.longest_gap_minutes,
            median_overdue_minutes=gaps.median_overdue_minutes,
            by_severity=gaps.by_severity,
            by_state=gaps.by_state,
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them, the incident count first."""
        return {"incidents": self.incidents, **super().as_dict()}


@dataclass(frozen=True)
class StakeholderThreads:
    """Incident Notifier threads of a period's status-page incidents (kpis.md 3)."""

    incidents: int
    with_thread: int
    threads: int
    median_minutes_to_first_thread: float | None

    @property
    def with_thread_pct(self) -> float | None:
        """Incidents with a thread, as a share of all incidents."""
        return percent(self.with_thread, self.incidents)

    @property
    def threads_per_incident(self) -> float | None:
        """Threads per incident, on average."""
        return self.threads / self.incidents if self.incidents else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "incidents": self.incidents,
            "with_thread": self.with_thread,
            "with_thread_pct": rounded(self.with_thread_pct),
            "threads_per_incident": rounded(self.threads_per_incident),
            "median_minutes_to_first_thread": rounded(self.median_minutes_to_first_thread),
        }


@dataclass(frozen=True)
class PersonShifts:
    """One person's shifts and how many of them were handed over."""

    person: str
    shifts: int
    handed_over: int

    def as_dict(self) -> dict[str, Any]:
        """The row as the `kpis` command prints it."""
        return {"person": self.person, "shifts": self.shifts, "handed_over": self.handed_over}


@dataclass(frozen=True)
class Handover:
    """Shifts followed by a handover issue (kpis.md 4), also per person."""

    shifts: int
    handed_over: int
    by_person: tuple[PersonShifts, ...]

    @property
    def handed_over_pct(self) -> float | None:
        """Shifts handed over, as a share of all shifts."""
        return percent(self.handed_over, self.shifts)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "shifts": self.shifts,
            "handed_over": self.handed_over,
            "handed_over_pct": rounded(self.handed_over_pct),
            "by_person": [row.as_dict() for row in self.by_person],
        }


@dataclass(frozen=True)
class AssigneeRequests:
    """Contact requests assigned to one person (or "unassigned"), opened and completed."""

    person: str
    opened: int
    completed: int

    def as_dict(self) -> dict[str, Any]:
        """The row as the `kpis` command prints it."""
        return {"person": self.person, "opened": self.opened, "completed": self.completed}


@dataclass(frozen=True)
class ContactRequests:
    """Contact requests opened in a period and completed by its end (kpis.md 5)."""

    opened: int
    completed: int
    by_assignee: tuple[AssigneeRequests, ...]

    @property
    def completed_per_opened(self) -> float | None:
        """Requests completed per request opened."""
        return self.completed / self.opened if self.opened else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "opened": self.opened,
            "completed": self.completed,
            "completed_per_opened": rounded(self.completed_per_opened),
            "by_assignee": [row.as_dict() for row in self.by_assignee],
        }


@dataclass(frozen=True)
class TrainingCell:
    """Whether one CMOC trained in one quarter (`2026-Q1`)."""

    person: str
    quarter: str
    trained: bool

    def as_dict(self) -> dict[str, Any]:
        """The cell as the `kpis` command prints it."""
        return {"person": self.person, "quarter": self.quarter, "trained": self.trained}


@dataclass(frozen=True)
class Training:
    """Training of each CMOC in each quarter of the period (kpis.md 6)."""

    grid: tuple[TrainingCell, ...]

    @property
    def cmoc_quarters(self) -> int:
        """Quarters served by a CMOC, one per person and quarter."""
        return len(self.grid)

    @property
    def trained(self) -> int:
        """Of those, the ones with a training activity."""
        return sum(cell.trained for cell in self.grid)

    @property
    def trained_pct(self) -> float | None:
        """CMOC quarters trained, as a share of all CMOC quarters."""
        return percent(self.trained, self.cmoc_quarters)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "cmoc_quarters": self.cmoc_quarters,
            "trained": self.trained,
            "trained_pct": rounded(self.trained_pct),
            "grid": [cell.as_dict() for cell in self.grid],
        }


@dataclass(frozen=True)
class StatusPageLabel:
    """Production issues of a period's incidents labelled for the status page (kpis.md 7)."""

    incidents: int
    labelled: int
    median_minutes_to_label: float | None

    @property
    def labelled_pct(self) -> float | None:
        """Incidents whose issue is labelled, as a share of incidents with an issue."""
        return percent(self.labelled, self.incidents)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "incidents": self.incidents,
            "labelled": self.labelled,
            "labelled_pct": rounded(self.labelled_pct),
            "median_minutes_to_label": rounded(self.median_minutes_to_label),
        }


@dataclass(frozen=True)
class FirstPublicUpdate:
    """Time from the CMOC page to the first status-page message (kpis.md 8)."""

    incidents: int
    median_minutes: float | None
    p90_minutes: float | None
    within_target: int
    target_minutes: int

    @property
    def within_target_pct(self) -> float | None:
        """Incidents published within the target, as a share of incidents with a page."""
        return percent(self.within_target, self.incidents)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {
            "incidents": self.incidents,
            "median_minutes": rounded(self.median_minutes),
            "p90_minutes": rounded(self.p90_minutes),
            "within_target": self.within_target,
            "within_target_pct": rounded(self.within_target_pct),
            "target_minutes": self.target_minutes,
        }


@dataclass(frozen=True)
class AnnouncedUpdates:
    """Updates that announced their next one, and how many kept that promise (kpis.md 9)."""

    announced: int
    kept: int

    @property
    def kept_pct(self) -> float | None:
        """Promises kept, as a share of the updates that made one."""
        return percent(self.kept, self.announced)

    def as_dict(self) -> dict[str, Any]:
        """The figures as the `kpis` command prints them."""
        return {"announced": self.announced, "kept": self.kept, "kept_pct": rounded(self.kept_pct)}


class Known(StrEnum):
    """Which systems know a person counted in the figures."""

    PAGERDUTY = "PagerDuty only"
    GITLAB = "GitLab only"
    NEITHER = "no account details synced"


@dataclass(frozen=True)
class Unmatched:
    """A person counted in the figures whom only one system (or none) knows: a likely split."""

    person: str
    known: Known


@dataclass(frozen=True)
class PersonFigures:
    """One person's share of the figures: pages, gaps and shifts attributed to them."""

    person: str
    pages: int
    within_target: int
    gaps: int
    on_time: int
    shifts: int
    handed_over: int
    first_updates: int = 0
    first_updates_within_target: int = 0
    announced: int = 0
    kept: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The row as the `kpis` command prints it: the keys of kpis.md, then the extra ones."""
        return {
            "person": self.person,
            "pages": self.pages,
            "within_target": self.within_target,
            "gaps": self.gaps,
            "on_time": self.on_time,
            "shifts": self.shifts,
            "handed_over": self.handed_over,
            "first_updates": self.first_updates,
            "first_updates_within_target": self.first_updates_within_target,
            "announced": self.announced,
            "kept": self.kept,
        }


@dataclass(frozen=True)
class KpiReport:
    """Every indicator for one period, with the rows behind them for drill-down."""

    since: datetime
    until: datetime
    ack_time: AckTime
    update_cadence: UpdateCadence
    stakeholder_threads: StakeholderThreads
    handover: Handover
    contact_requests: ContactRequests
    training: Training
    status_page_label: StatusPageLabel
    first_public_update: FirstPublicUpdate
    announced_updates: AnnouncedUpdates
    per_person: tuple[PersonFigures, ...] = ()
    rows: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    regions: Mapping[str, str] = field(default_factory=dict)
    unmatched: tuple[Unmatched, ...] = ()

    def indicators(self) -> dict[str, Indicator]:
        """Each indicator by its name in the JSON, in the printed order."""
        return {
            "ack_time": self.ack_time,
            "update_cadence": self.update_cadence,
            "stakeholder_threads": self.stakeholder_threads,
            "handover": self.handover,
            "contact_requests": self.contact_requests,
            "training": self.training,
            "status_page_label": self.status_page_label,
            "first_public_update": self.first_public_update,
            "announced_updates": self.announced_updates,
        }

    def figures(self) -> list[tuple[str, str, Figure]]:
        """(indicator, figure, value) for every single-number figure, rounded as printed."""
        return [
            (name, figure, value)
            for name, indicator in self.indicators().items()
            for figure, value in indicator.as_dict().items()
            if not isinstance(value, dict | list)
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of kpis.md, numbers rounded to 2 decimals."""
        return {
            "period": {"since": iso_z(self.since), "until": iso_z(self.until)},
            **{name: indicator.as_dict() for name, indicator in self.indicators().items()},
            "per_person": [row.as_dict() for row in self.per_person],
        }
