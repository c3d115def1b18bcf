"""When the next status-page update is due: the handbook's table, or the time a message announced.

A message may announce its own next update ("Next update in 45 minutes", "within the next 2
hours", "next update at 14:30 UTC"); then that time is due instead of the handbook's interval.
Relative phrases count only when tied to an update or when they end the message, so "in 2019"
or "in 3 regions" announce nothing. Clock times are UTC and mean their next occurrence.

`next_due` is the rule for one update (the composer's countdown, the incident timeline, the drill
score card, the handover); `due_times` is the same rule for whole columns (the KPI report).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cmoc_core import handbook

if TYPE_CHECKING:  # pandas is slow to load: imported where whole columns are read
    import pandas as pd

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "forty five": 45,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "half an": 0.5,
    "half a": 0.5,
}
_WORD = "|".join(
    re.escape(word).replace(r"\ ", r"\s+") for word in sorted(_NUMBER_WORDS, key=len, reverse=True)
)
_DURATION = (
    rf"(?:(?P<number>\d+(?:\.\d+)?)\s*|(?P<word>{_WORD})\s+)"
    r"(?P<unit>minutes?|mins?|m|hours?|hrs?|h)\b"
    r"(?P<half>\s+and\s+a\s+half\b)?"
    r"(?:,?\s+(?:and\s+)?(?P<extra>\d+)\s*(?:minutes?|mins?|m)\b)?"
)
_ABOUT = r"(?:(?:about|approximately|approx\.?|roughly|around|~)\s*)?"
_RELATIVE = rf"\b(?:in|within)\s+(?:the\s+next\s+)?{_ABOUT}{_DURATION}"
_TIME = (
    r"\b(?P<hour>[01]?\d|2[0-3])"
    r"(?:(?::|h)(?P<minute>[0-5]\d)(?:\s*(?P<meridiem>[ap]\.?m\b\.?))?"
    r"|\s*(?P<meridiem_only>[ap]\.?m\b\.?))"
    r"(?:\s*(?:utc|gmt|z)\b)?"
    r"(?!\s*(?:utc|gmt)?\s*[+-]\d)"
    r"(?!\s*(?:cet|cest|bst|est|edt|cst|cdt|mst|mdt|pst|pdt|ist|jst|aest|aedt|sgt|eet|eest|msk)\b)"
)
_GAP = r"[^.!?\n]{0,60}?"
_PREPOSITION = r"\b(?:at|by|around|before|until)\s+"
# "the update at 13:05" is usually a deployment, not an announcement.
_UPDATE = r"(?<!the\s)(?<!this\s)(?<!that\s)\bupdates?\b"

# Announcement patterns, most specific first; within a rank the earliest match wins.
_ANNOUNCEMENTS: tuple[tuple[int, re.Pattern[str]], ...] = tuple(
    (rank, re.compile(pattern, re.IGNORECASE))
    for rank, pattern in (
        (0, rf"\bnext\s+update\b{_GAP}{_RELATIVE}"),
        (0, rf"\bnext\s+update\b{_GAP}(?:{_PREPOSITION}|:\s*|\s+){_ABOUT}{_TIME}"),
        (1, rf"{_UPDATE}{_GAP}{_RELATIVE}"),
        (1, rf"{_UPDATE}{_GAP}{_PREPOSITION}{_ABOUT}{_TIME}"),
        (2, rf"\bwithin\s+the\s+next\s+{_ABOUT}{_DURATION}"),
        (3, rf"\bin\s+{_ABOUT}{_DURATION}[\s.!)]*$"),
    )
)


@dataclass(frozen=True)
class Gap:
    """The time between two consecutive status-page updates, judged against when it was due."""

    start: datetime
    end: datetime
    due: datetime
    on_time: bool
    overdue_by: timedelta
    announced: bool


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {moment!r}")


@dataclass(frozen=True)
class Announcement:
    """A next update a message announces: so many minutes after it, or at a UTC clock time."""

    after_minutes: float | None = None
    clock_minute: int | None = None

    def due(self, posted_at: datetime) -> datetime:
        """The announced time for a message posted at `posted_at`."""
        _require_aware("posted_at", posted_at)
        posted_at = posted_at.astimezone(UTC)
        if self.after_minutes is not None:
            return posted_at + timedelta(minutes=self.after_minutes)
        assert self.clock_minute is not None
        hour, minute = divmod(self.clock_minute, 60)
        candidate = posted_at.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return candidate if candidate >= posted_at else candidate + timedelta(days=1)


def _relative(match: re.Match[str]) -> Announcement:
    amount = (
        float(match["number"])
        if match["number"]
        else _NUMBER_WORDS[re.sub(r"\s+", " ", match["word"].lower())]
    )
    if match["half"]:
        amount += 0.5
    minutes = amount * 60 if match["unit"].lower().startswith("h") else amount
    if match["extra"] and match["unit"].lower().startswith("h"):
        minutes += int(match["extra"])
    return Announcement(after_minutes=minutes)


def _clock(match: re.Match[str]) -> Announcement:
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    meridiem = (match["meridiem"] or match["meridiem_only"] or "").lower()
    if meridiem and hour <= 12:
        hour = hour % 12 + (12 if meridiem.startswith("p") else 0)
    return Announcement(clock_minute=hour * 60 + minute)


@lru_cache(maxsize=4096)
def announcement(text: str | None) -> Announcement | None:
    """The next update `text` announces, or None when it announces none."""
    best: tuple[int, int, re.Match[str]] | None = None
    for rank, pattern in _ANNOUNCEMENTS:
        match = pattern.search(text or "")
        if match and (best is None or (rank, match.start()) < best[:2]):
            best = (rank, match.start(), match)
    if best is None:
        return None
    match = best[2]
    return _clock(match) if "hour" in match.re.groupindex else _relative(match)


def announcement_columns(text: str | None) -> dict[str, Any]:
    """The stored form of what `text` announces, so reports need not parse every message."""
    found = announcement(text)
    return {
        "announced_minutes": found.after_minutes if found else None,
        "announced_clock": found.clock_minute if found else None,
    }


def announced_due(text: str, posted_at: datetime) -> datetime | None:
    """The time `text` announces for the next update (UTC), or None when it announces none."""
    _require_aware("posted_at", posted_at)
    found = announcement(text)
    return found.due(posted_at) if found else None


def next_due(*, posted_at: datetime, text: str, state: int, severity: int | None) -> datetime:
    """When the update after one posted at `posted_at` is due: as announced, else the table."""
    _require_aware("posted_at", posted_at)
    interval = handbook.required_interval(state, severity)
    announced = announced_due(text, posted_at)
    return announced if announced is not None else posted_at.astimezone(UTC) + interval


def is_on_time(*, due: datetime, posted_at: datetime) -> bool:
    """Whether an update posted at `posted_at` kept a due time: by then, or within the grace."""
    _require_aware("due", due)
    _require_aware("posted_at", posted_at)
    return posted_at <= due + handbook.GRACE


def due_times(
    *,
    posted_at: pd.Series,
    state: pd.Series,
    severity: pd.Series,
    announced_minutes: pd.Series,
    announced_clock: pd.Series,
) -> pd.Series:
    """`next_due` for whole columns of updates in a cadenced state, from what they announce as
    stored (`announcement_columns`); an unknown severity (NaN) counts as the default."""
    import numpy as np
    import pandas as pd

    states = sorted(handbook.CADENCE_MINUTES)
    table = np.array(
        [[handbook.CADENCE_MINUTES[s][level] for level in (1, 2, 3, 4)] for s in states]
    )
    row = np.searchsorted(np.array(states, dtype=np.int64), state.to_numpy(dtype=np.int64))
    level = severity.fillna(handbook.DEFAULT_SEVERITY).to_numpy(dtype=np.int64)
    interval = table[row, level - 1]
    due = posted_at + pd.to_timedelta(interval, unit="m")
    after = posted_at + pd.to_timedelta(announced_minutes, unit="m")
    clock = posted_at.dt.floor("D") + pd.to_timedelta(announced_clock, unit="m")
    clock = clock.where(clock.isna() | (clock >= posted_at), clock + pd.Timedelta(days=1))
    return after.fillna(clock).fillna(due).dt.as_unit("us")


def gap_verdict(
    *,
    earlier_posted_at: datetime,
    earlier_text: str,
    earlier_state: int,
    severity: int | None,
    later_posted_at: datetime,
) -> Gap:
    """Whether the later update came on time (within the grace after due) or how late it was."""
    _require_aware("earlier_posted_at", earlier_posted_at)
    _require_aware("later_posted_at", later_posted_at)
    if later_posted_at < earlier_posted_at:
        raise ValueError("the later update is posted before the earlier one")
    due = next_due(
        posted_at=earlier_posted_at, text=earlier_text, state=earlier_state, severity=severity
    )
    on_time = is_on_time(due=due, posted_at=later_posted_at)
    return Gap(
        start=earlier_posted_at,
        end=later_posted_at,
        due=due,
        on_time=on_time,
        overdue_by=timedelta(0) if on_time else later_posted_at - due,
        announced=announced_due(earlier_text, earlier_posted_at) is not None,
    )


def countdown(*, now: datetime, due: datetime) -> timedelta:
    """Time left until `due`; negative once the update is overdue."""
    _require_aware("now", now)
    _require_aware("due", due)
    return due - now
