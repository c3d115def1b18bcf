"""Cadence: when the next update is due, announced next updates, and gaps judged with grace."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from cmoc_core.cadence import (
    Gap,
    announced_due,
    announcement_columns,
    countdown,
    due_times,
    gap_verdict,
    is_on_time,
    next_due,
)
from cmoc_core.handbook import IncidentState

POSTED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/123"


def at(hour: int, minute: int = 0, *, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "severity", "minutes"),
    [
        (IncidentState.INVESTIGATING, 1, 10),
        (IncidentState.INVESTIGATING, 2, 15),
        (IncidentState.INVESTIGATING, 3, 15),
        (IncidentState.INVESTIGATING, 4, 15),
        (IncidentState.IDENTIFIED, 1, 10),
        (IncidentState.IDENTIFIED, 2, 30),
        (IncidentState.IDENTIFIED, 3, 30),
        (IncidentState.IDENTIFIED, 4, 30),
        (IncidentState.MONITORING, 1, 30),
        (IncidentState.MONITORING, 2, 60),
        (IncidentState.MONITORING, 3, 60),
        (IncidentState.MONITORING, 4, 60),
    ],
)
def test_without_announcement_the_handbook_table_sets_the_due_time(state, severity, minutes):
    due = next_due(posted_at=POSTED, text="Still investigating.", state=state, severity=severity)
    assert due == POSTED + timedelta(minutes=minutes)


def test_unknown_severity_uses_the_severity_3_column():
    due = next_due(posted_at=POSTED, text="", state=IncidentState.IDENTIFIED, severity=None)
    assert due == POSTED + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Next update in 45 minutes.", at(12, 45)),
        ("NEXT UPDATE IN 30 MINUTES", at(12, 30)),
        ("We will provide an update in 1 hour.", at(13)),
        ("Next update in 90 mins", at(13, 30)),
        ("We will update this incident within the next 2 hours.", at(14)),
        ("Recovery is progressing; more within the next 2 hours", at(14)),
        ("Next update in 1.5 hours.", at(13, 30)),
        ("Next update in 2h.", at(14)),
        ("Next update in about 20 minutes.", at(12, 20)),
        ("Next update at 14:30 UTC.", at(14, 30)),
        ("We will post another update by 14:30 UTC.", at(14, 30)),
        ("We will provide an update at 2:30 PM UTC.", at(14, 30)),
        ("Next update at 14:30.", at(14, 30)),
        ("Next update at 14:30 GMT.", at(14, 30)),
        ("Next update: 14:30 UTC", at(14, 30)),
        ("Next update in one hour.", at(13)),
        ("Next update in thirty minutes.", at(12, 30)),
        ("We'll update in an hour.", at(13)),
        ("Next update in half an hour.", at(12, 30)),
        ("Next update in an hour and a half.", at(13, 30)),
        ("Next update in 1 hour 30 minutes.", at(13, 30)),
        ("We'll share more information in 20 minutes.", at(12, 20)),
        (f"Errors are down, details in {ISSUE}. Next update in 30 minutes.", at(12, 30)),
    ],
)
def test_announced_next_update_is_found_anywhere_in_the_text(text, expected):
    assert announced_due(text, POSTED) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "In 2019 we moved GitLab.com to GCP.",
        "Elevated error rates in 3 regions.",
        "Latency in 5 minute windows is elevated; we are investigating.",
        "We deployed a fix at 13:05 UTC.",
        "We deployed the update at 13:05 UTC and are monitoring.",
        "The last update was 30 minutes ago.",
        "We will update this incident as soon as we know more.",
        "Next update at 14:30 CET.",
    ],
)
def test_text_that_announces_nothing(text):
    assert announced_due(text, POSTED) is None


def test_an_earlier_clock_time_means_the_next_day():
    posted = at(15)
    assert announced_due("Next update at 14:30 UTC.", posted) == at(14, 30, day=3)


def test_a_clock_time_after_midnight_rolls_over():
    posted = at(23, 50)
    assert announced_due("Next update at 00:20 UTC.", posted) == at(0, 20, day=3)


def test_a_clock_time_equal_to_the_posting_time_is_that_time():
    assert announced_due("Next update at 14:30.", at(14, 30)) == at(14, 30)


def test_clock_times_are_utc_whatever_the_posting_zone():
    posted = datetime(2026, 3, 2, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    assert announced_due("Next update at 14:30 UTC.", posted) == at(14, 30)


def test_an_announcement_overrides_the_table():
    due = next_due(
        posted_at=POSTED,
        text="Next update in 45 minutes.",
        state=IncidentState.INVESTIGATING,
        severity=1,
    )
    assert due == at(12, 45)


def test_gap_at_due_plus_grace_is_on_time():
    gap = gap_verdict(
        earlier_posted_at=POSTED,
        earlier_text="Investigating.",
        earlier_state=IncidentState.INVESTIGATING,
        severity=2,
        later_posted_at=POSTED + timedelta(minutes=15, seconds=60),
    )
    assert gap == Gap(
        start=POSTED,
        end=POSTED + timedelta(minutes=16),
        due=at(12, 15),
        on_time=True,
        overdue_by=timedelta(0),
        announced=False,
    )


def test_gap_one_second_after_grace_is_overdue_from_due():
    gap = gap_verdict(
        earlier_posted_at=POSTED,
        earlier_text="Investigating.",
        earlier_state=IncidentState.INVESTIGATING,
        severity=2,
        later_posted_at=POSTED + timedelta(minutes=15, seconds=61),
    )
    assert not gap.on_time
    assert gap.overdue_by == timedelta(seconds=61)


def test_announced_cadence_longer_than_the_table_is_honoured():
    def verdict(text: str) -> Gap:
        return gap_verdict(
            earlier_posted_at=POSTED,
            earlier_text=text,
            earlier_state=IncidentState.INVESTIGATING,
            severity=1,
            later_posted_at=at(12, 25),
        )

    announced = verdict("Next update in 30 minutes.")
    assert announced.on_time and announced.announced
    assert announced.due == at(12, 30)
    table = verdict("Investigating.")
    assert not table.on_time and table.overdue_by == timedelta(minutes=15)


def test_announced_cadence_shorter_than_the_table_is_held_to():
    def verdict(text: str) -> Gap:
        return gap_verdict(
            earlier_posted_at=POSTED,
            earlier_text=text,
            earlier_state=IncidentState.MONITORING,
            severity=2,
            later_posted_at=at(12, 30),
        )

    announced = verdict("Monitoring. Next update in 15 minutes.")
    assert not announced.on_time and announced.announced
    assert announced.overdue_by == timedelta(minutes=15)
    assert verdict("Monitoring.").on_time


def test_a_later_update_before_the_earlier_one_is_an_error():
    with pytest.raises(ValueError):
        gap_verdict(
            earlier_posted_at=POSTED,
            earlier_text="",
            earlier_state=IncidentState.INVESTIGATING,
            severity=2,
            later_posted_at=POSTED - timedelta(seconds=1),
        )


def test_countdown_is_negative_once_overdue():
    assert countdown(now=at(12, 10), due=at(12, 15)) == timedelta(minutes=5)
    assert countdown(now=at(12, 20), due=at(12, 15)) == timedelta(minutes=-5)


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 2, 12, 0)
    with pytest.raises(ValueError):
        announced_due("Next update in 30 minutes.", naive)
    with pytest.raises(ValueError):
        next_due(posted_at=naive, text="", state=IncidentState.INVESTIGATING, severity=2)
    with pytest.raises(ValueError):
        gap_verdict(
            earlier_posted_at=POSTED,
            earlier_text="",
            earlier_state=IncidentState.INVESTIGATING,
            severity=2,
            later_posted_at=naive,
        )
    with pytest.raises(ValueError):
        countdown(now=naive, due=POSTED)


def test_an_update_is_on_time_until_the_grace_after_due_has_passed():
    due = at(12, 15)
    assert is_on_time(due=due, posted_at=at(12, 0))
    assert is_on_time(due=due, posted_at=due + timedelta(seconds=60))
    assert not is_on_time(due=due, posted_at=due + timedelta(seconds=61))


ANNOUNCEMENTS = [
    "Still investigating.",
    "We are looking into it. Next update in 45 minutes.",
    "The fix is rolling out; we will post an update in 1 hour.",
    "Monitoring the recovery. Next update in 1.5 hours.",
    "Next update in 2.7 hours.",
    "We expect to share more within the next 2 hours.",
    "Next update at 14:30 UTC.",
    "Failover in progress, next update by 00:10 UTC.",
    "Next update at 11:59 UTC.",
    "Deploying the fix to 3 regions in 2019 style.",
]


def test_due_times_for_whole_columns_agree_with_next_due_for_one_update():
    """The KPI report's column form and the countdown's, timeline's and drill's one-update form,
    over many random gaps: severities 1-4 and unknown, every cadenced state, announced or not,
    posted at any minute of the day (clock times past midnight included)."""
    rng = random.Random(9)
    posted, states, levels, texts = [], [], [], []
    for _ in range(2000):
        posted.append(
            datetime(2026, 3, rng.randint(1, 3), tzinfo=UTC)
            + timedelta(minutes=rng.randint(0, 24 * 60 - 1), seconds=rng.choice([0, 0, 30, 59]))
        )
        states.append(rng.choice(list(IncidentState)[:3]))
        levels.append(rng.choice([1, 2, 3, 4, None]))
        texts.append(rng.choice(ANNOUNCEMENTS))
    stored = [announcement_columns(text) for text in texts]
    found = due_times(
        posted_at=pd.Series(posted, dtype="datetime64[us, UTC]"),
        state=pd.Series([int(state) for state in states], dtype="int64"),
        severity=pd.Series([np.nan if lv is None else lv for lv in levels], dtype="float64"),
        announced_minutes=pd.Series([c["announced_minutes"] for c in stored], dtype="float64"),
        announced_clock=pd.Series([c["announced_clock"] for c in stored], dtype="float64"),
    )
    expected = [
        next_due(posted_at=moment, text=text, state=state, severity=level)
        for moment, text, state, level in zip(posted, texts, states, levels, strict=True)
    ]
    assert found.tolist() == expected
    assert sum(announced_due(text, POSTED) is not None for text in ANNOUNCEMENTS) == 8


def test_a_clock_time_announced_before_midnight_is_due_the_next_day_in_both_forms():
    posted = datetime(2026, 3, 2, 23, 50, tzinfo=UTC)
    text = "Next update at 00:20 UTC."
    stored = announcement_columns(text)
    found = due_times(
        posted_at=pd.Series([posted], dtype="datetime64[us, UTC]"),
        state=pd.Series([int(IncidentState.IDENTIFIED)]),
        severity=pd.Series([2]),
        announced_minutes=pd.Series([stored["announced_minutes"]], dtype="float64"),
        announced_clock=pd.Series([stored["announced_clock"]], dtype="float64"),
    )
    due = next_due(posted_at=posted, text=text, state=IncidentState.IDENTIFIED, severity=2)
    assert found.tolist() == [due] == [at(0, 20, day=3)]
