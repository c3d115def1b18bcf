"""The rota: on-call entries merged into shifts, who is on call at a time, people's names."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import pairwise

import pandas as pd
from sqlmodel import Session

from cmoc_core import rota
from cmoc_core.models import ScheduleKind, System
from cmoc_core.rota import People, Rota, Span, on_call_at
from tests.kpi_worlds import World, utc

START = utc(2026, 2, 2, 8)


def hours(value: float) -> datetime:
    return START + timedelta(hours=value)


def entry(user: str, start: float, end: float | None, region: str | None = None) -> Span:
    return Span(user, region, hours(start), None if end is None else hours(end))


def columns(entries: list[Span]) -> pd.DataFrame:
    """Entries as the KPI report reads them."""
    return pd.DataFrame(
        {
            "schedule_kind": [ScheduleKind.CMOC] * len(entries),
            "user_id": [e.user_id for e in entries],
            "start": pd.Series([e.start for e in entries], dtype="datetime64[us, UTC]"),
            "end": pd.Series([e.end for e in entries], dtype="datetime64[us, UTC]"),
            "region": [e.region for e in entries],
        }
    )


def test_entries_of_one_user_that_touch_or_overlap_make_one_shift_with_the_first_region():
    shifts = rota.shifts(
        [
            entry("PALICE", 8, 16, "AMER"),
            entry("PALICE", 0, 8, "APAC"),  # touches the next one: one shift from 0 to 16
            entry("PALICE", 12, 20, "EMEA"),  # overlaps: the shift runs to 20
            entry("PALICE", 21, 22, "AMER"),  # an hour apart: a shift of its own
            entry("PBOB", 4, 6, None),
        ]
    )
    assert shifts == [
        entry("PALICE", 0, 20, "APAC"),
        entry("PALICE", 21, 22, "AMER"),
        entry("PBOB", 4, 6, None),
    ]


def test_a_shift_takes_the_first_region_named_and_stays_open_while_an_entry_is():
    assert rota.shifts([entry("PALICE", 0, 8), entry("PALICE", 8, None, "EMEA")]) == [
        entry("PALICE", 0, None, "EMEA")
    ]
    assert rota.shifts([]) == []


def test_the_report_and_the_handover_merge_shifts_alike():
    entries = [entry("PALICE", 8, 16, "AMER"), entry("PALICE", 0, 8, "APAC")]
    merged = Rota(columns(entries), People({})).shifts()
    assert merged[["user_id", "region"]].values.tolist() == [["PALICE", "APAC"]]
    assert (merged["start"].tolist(), merged["end"].tolist()) == ([hours(0)], [hours(16)])


def test_random_shifts_cover_exactly_their_entries_and_never_touch_each_other():
    rng = random.Random(11)
    for _ in range(50):
        entries = [
            entry(
                rng.choice(["PA", "PB", "PC"]),
                (start := rng.randint(0, 40)),
                None if rng.random() < 0.05 else start + rng.randint(1, 8),
                rng.choice([None, "AMER", "EMEA", "APAC"]),
            )
            for _ in range(rng.randint(1, 12))
        ]
        shifts = rota.shifts(entries)
        for user in {e.user_id for e in entries}:
            mine = [s for s in shifts if s.user_id == user]
            for earlier, later in pairwise(mine):
                assert earlier.end is not None and earlier.end < later.start
            for moment in range(-1, 50):
                on = [e for e in entries if e.user_id == user]
                assert (on_call_at(on, hours(moment)) is None) == (
                    on_call_at(mine, hours(moment)) is None
                )


def test_the_one_on_call_is_the_latest_to_start_of_those_running():
    entries = [entry("PALICE", 0, 16), entry("PBOB", 4, 6), entry("PCAROL", 6, None)]
    assert on_call_at(entries, hours(5)) == entries[1]
    assert on_call_at(entries, hours(6)) == entries[2]  # an entry ends when the next begins
    assert on_call_at(entries, hours(100)) == entries[2]  # open-ended
    assert on_call_at(entries, hours(-1)) is None
    assert on_call_at([entry("PALICE", 0, 1)], hours(1)) is None
    together = [entry("PALICE", 0, 8), entry("PBOB", 0, 8)]
    assert on_call_at(together, hours(2)) == together[1]  # the last given among equals


def test_who_is_on_call_agrees_for_one_moment_and_for_whole_columns():
    """The KPI report's whole-column lookup and the one-moment rule, on random rotas with
    overlaps, gaps, equal starts and open ends."""
    rng = random.Random(5)
    for _ in range(40):
        entries = [
            entry(
                rng.choice(["PA", "PB", "PC", "PD"]),
                (start := rng.randint(0, 30)),
                None if rng.random() < 0.1 else start + rng.choice([1, 2, 4, 8, 20]),
            )
            for _ in range(rng.randint(0, 10))
        ]
        moments = [hours(rng.randint(-2, 60) / 2) for _ in range(30)]
        found = Rota(columns(entries), People({})).on_call(
            pd.Series(moments, dtype="datetime64[us, UTC]")
        )
        expected = [
            span.user_id if (span := on_call_at(entries, moment)) else None for moment in moments
        ]
        assert [None if pd.isna(name) else name for name in found] == expected


def test_a_persons_name_is_the_matched_persons_else_the_accounts_else_its_id(sqlite_engine):
    world = World(sqlite_engine)
    world.pd_user("PALICE", "Alice Adams", "alice@example.com")
    world.gitlab_user("11", "alice", "alice@example.com")  # matched to Alice by email
    world.gitlab_user("12", "Bob Brown")
    with Session(sqlite_engine) as session:
        people = People.load(session=session)
    assert people.name(System.PAGERDUTY, "PALICE") == "Alice Adams"
    assert people.name(System.GITLAB, "11") == "Alice Adams"
    assert people.name(System.GITLAB, "12") == "Bob Brown"
    assert people.name(System.GITLAB, "99") == "99"
    assert people.name(System.GITLAB, None) is None
    assert people.name(System.PAGERDUTY, "11") == "11"  # an id names an account of one system
    ids = pd.Series(["11", None, "12", "99", "11"])
    assert people.gitlab(ids).tolist()[2:] == ["Bob Brown", "99", "Alice Adams"]
    assert people.gitlab(ids).tolist()[0] == "Alice Adams" and pd.isna(people.gitlab(ids)[1])
