"""The CMOC rota: on-call entries merged into shifts, who is on call at a time, people's names.

A shift is one user's on-call entries that touch or overlap, merged (kpis.md 4). A merged shift
keeps the region of its first entry (the first that names one): a shift is known by its user and
start, and the handover issue's title names its start date and region, so entries synced later
that extend the shift must not rename it.

Who is on call at a time is the user of the span running then (start <= t < end) that started
last; among spans that start together, the last given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import pandas as pd

from cmoc_core.kinds import ScheduleKind, System

if TYPE_CHECKING:  # the ORM only where names are read: a report from the copy needs none
    from sqlmodel import Session

# kpis.md 4: a handover issue counts for a shift when created within 2 h of the shift's end.
HANDOVER_WINDOW = timedelta(hours=2)
# The end of an open-ended entry, in whole-column work where a missing end cannot be compared.
NEVER = pd.Timestamp("9999-12-31", tz="UTC").as_unit("us")


class People:
    """Person names by (system, account id), as matched by the sync."""

    def __init__(self, names: dict[tuple[str, str], str]) -> None:
        self.names = names

    @classmethod
    def load(cls, *, session: Session) -> People:
        """Every known account's person name: the matched person's, else the account's own."""
        from sqlmodel import col, select

        from cmoc_core.models import Identity, Person

        rows = session.exec(
            select(Identity.system, Identity.external_id, Identity.name, Person.name).join(
                Person, col(Identity.person_id) == col(Person.id), isouter=True
            )
        )
        return cls({(system, eid): person or name for system, eid, name, person in rows})

    def name(self, system: str, account_id: str | None) -> str | None:
        """The person behind an account: their name, else the account id; None without an id."""
        if not account_id:
            return None
        return self.names.get((system, account_id)) or account_id

    def pagerduty(self, ids: pd.Series) -> pd.Series:
        """Person names for PagerDuty user ids (NaN where there is no id)."""
        return self._names(System.PAGERDUTY, ids)

    def gitlab(self, ids: pd.Series) -> pd.Series:
        """Person names for GitLab user ids (NaN where there is no id)."""
        return self._names(System.GITLAB, ids)

    def _names(self, system: System, ids: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(ids)
        names = [self.name(system, i) for i in uniques]
        found = np.array([*names, None], dtype=object)[codes]  # code -1 (no id) takes the None
        return pd.Series(found, index=ids.index, dtype=object).where(codes >= 0)


def merged_shifts(entries: pd.DataFrame) -> pd.DataFrame:
    """Entries (user_id, region, start, until: NEVER when open) merged into shifts: user_id,
    region, start, until, and end (NaT while open); by user, then start."""
    entries = entries.sort_values(["user_id", "start"], kind="stable")
    by_user = entries.groupby("user_id", sort=False)["until"]
    before = by_user.cummax().groupby(entries["user_id"], sort=False).shift()
    fresh = before.isna() | (entries["start"] > before)
    merged = entries.groupby(fresh.cumsum().to_numpy(), sort=False).agg(
        user_id=("user_id", "first"),
        region=("region", "first"),
        start=("start", "min"),
        until=("until", "max"),
    )
    return merged.assign(end=merged["until"].where(merged["until"] < NEVER))


class OnCall(Protocol):
    """Anything on call from `start` until `end` (None while open-ended)."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime | None: ...


class Entry(OnCall, Protocol):
    """An on-call entry of one user, as stored or merged."""

    @property
    def user_id(self) -> str: ...

    @property
    def region(self) -> str | None: ...


@dataclass(frozen=True)
class Span:
    """One user's merged time on call."""

    user_id: str
    region: str | None
    start: datetime
    end: datetime | None


def shifts(entries: Iterable[Entry]) -> list[Span]:
    """The shifts a few on-call entries make (`merged_shifts`, one row at a time)."""
    rows = [(e.user_id, e.region, e.start, e.end) for e in entries]
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["user_id", "region", "start", "end"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True).dt.as_unit("us")
    frame["until"] = pd.to_datetime(frame["end"], utc=True).dt.as_unit("us").fillna(NEVER)
    return [
        Span(
            user_id=user_id,
            region=region if isinstance(region, str) else None,
            start=start.to_pydatetime(),
            end=None if pd.isna(end) else end.to_pydatetime(),
        )
        for user_id, region, start, end in merged_shifts(frame)[
            ["user_id", "region", "start", "end"]
        ].itertuples(index=False)
    ]


T = TypeVar("T", bound=OnCall)


def on_call_at(spans: Iterable[T], moment: datetime) -> T | None:
    """The span running at `moment` that started last (the last given among equals), or None."""
    found: T | None = None
    for span in spans:
        running = span.start <= moment and (span.end is None or moment < span.end)
        if running and (found is None or span.start >= found.start):
            found = span
    return found


class Rota:
    """CMOC and shadow on-call entries with their people, whole columns at once: who was on
    call at many moments, the merged shifts, each person's home region."""

    def __init__(self, entries: pd.DataFrame, people: People) -> None:
        """`entries` holds schedule_kind, user_id, start, end (NaT while open) and region."""
        entries = entries.assign(
            until=entries["end"].fillna(NEVER), person=people.pagerduty(entries["user_id"])
        )
        cmoc = entries[entries["schedule_kind"] == ScheduleKind.CMOC]
        self.cmoc = cmoc.sort_values("start", kind="stable").reset_index(drop=True)
        self.shadow = entries[entries["schedule_kind"] == ScheduleKind.SHADOW]
        self._start = naive_utc(self.cmoc["start"])
        self._until = naive_utc(self.cmoc["until"])
        self._reach = np.maximum.accumulate(self._until) if len(self._until) else self._until
        self._people = pd.factorize(self.cmoc["person"])

    def on_call(self, moments: pd.Series) -> pd.Series:
        """The person on a CMOC schedule at each moment (`on_call_at` over the entries), or NaN."""
        codes, persons = self._people
        found = np.full(len(moments), -1)
        if len(codes):
            at = naive_utc(moments)
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
        """The CMOC entries merged into shifts (`merged_shifts`)."""
        return merged_shifts(self.cmoc)

    def home_regions(self) -> dict[str, str]:
        """Each person's region: the one named by most of their CMOC entries."""
        known = self.cmoc.dropna(subset=["region", "person"])
        if known.empty:
            return {}
        counts = known.value_counts(["person", "region"], sort=True)
        return dict(counts.index[::-1])


def naive_utc(moments: pd.Series) -> np.ndarray:
    """UTC timestamps as plain datetime64 values, for fast array comparisons."""
    return moments.dt.tz_convert(None).to_numpy()
