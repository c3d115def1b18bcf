"""KPI engine: every figure of ../shared/spec/kpis.md on small hand-built worlds.

Each test builds the few rows that matter, then checks every figure of the indicator it
targets against numbers worked out by hand from kpis.md (the comments show the sums).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from cmoc_core import handbook, history
from cmoc_core.kpis import compute_kpis
from cmoc_core.models import ScheduleKind, StatusPageIncident, System
from cmoc_core.severity import Severity, severity_in_effect
from cmoc_core.storage import session_scope
from tests.kpi_worlds import (
    CMOC_SERVICE,
    CMOC_SERVICE_2,
    FEBRUARY,
    OTHER_SERVICE,
    PRACTICE_PAGE,
    PRODUCTION,
    SETTINGS,
    STATUS_PAGE_LABEL,
    T0,
    World,
    minutes,
    utc,
)

INVESTIGATING, IDENTIFIED, MONITORING = 100, 200, 300

TOP_KEYS = {
    "period",
    "ack_time",
    "update_cadence",
    "stakeholder_threads",
    "handover",
    "contact_requests",
    "training",
    "status_page_label",
    "first_public_update",
    "announced_updates",
    "per_person",
}
# The keys of the kpis.md example, plus the extra keys the contract names for some sections.
SECTION_KEYS = {
    "period": {"since", "until"},
    "ack_time": {
        "pages",
        "acknowledged",
        "median_minutes",
        "p90_minutes",
        "within_target",
        "within_target_pct",
        "target_minutes",
    },
    "update_cadence": {
        "incidents",
        "gaps",
        "on_time",
        "on_time_pct",
        "overdue",
        "longest_gap_minutes",
        "median_overdue_minutes",
        "by_severity",
        "by_state",
    },
    "stakeholder_threads": {
        "incidents",
        "with_thread",
        "with_thread_pct",
        "threads_per_incident",
        "median_minutes_to_first_thread",
    },
    "handover": {"shifts", "handed_over", "handed_over_pct"},
    "contact_requests": {"opened", "completed", "completed_per_opened"},
    "training": {"cmoc_quarters", "trained", "trained_pct", "grid"},
    "status_page_label": {"incidents", "labelled", "labelled_pct", "median_minutes_to_label"},
    "first_public_update": {
        "incidents",
        "median_minutes",
        "p90_minutes",
        "within_target",
        "within_target_pct",
        "target_minutes",
    },
    "announced_updates": {"announced", "kept", "kept_pct"},
}
# Extra keys kpis.md allows ("Extra keys may be added") for the breakdowns it names: handover
# "per person" and contact requests "per assignee". Checked when present.
OPTIONAL_KEYS = {"handover": {"by_person"}, "contact_requests": {"by_assignee"}}
PERSON_KEYS = {"person", "pages", "within_target", "gaps", "on_time", "shifts", "handed_over"}
# Extra per-person keys for kpis.md 8 and 9, attributed as those sections say.
PERSON_EXTRA_KEYS = {"first_updates", "first_updates_within_target", "announced", "kept"}
PERSON_FIGURES = ("pages", "within_target", "gaps", "on_time", "shifts", "handed_over")
BREAKDOWN_KEYS = {"gaps", "on_time", "overdue"}
SEVERITY_KEYS = {"1", "2", "3", "4"}
STATE_KEYS = {"Investigating", "Identified", "Monitoring"}
NO_GAPS = (0, 0, 0)

EMPTY_ACK = {
    "pages": 0,
    "acknowledged": 0,
    "median_minutes": None,
    "p90_minutes": None,
    "within_target": 0,
    "within_target_pct": None,
    "target_minutes": 15,
}
EMPTY_CADENCE = {
    "incidents": 0,
    "gaps": 0,
    "on_time": 0,
    "on_time_pct": None,
    "overdue": 0,
    "longest_gap_minutes": None,
    "median_overdue_minutes": None,
}
EMPTY_THREADS = {
    "incidents": 0,
    "with_thread": 0,
    "with_thread_pct": None,
    "threads_per_incident": None,
    "median_minutes_to_first_thread": None,
}
EMPTY_HANDOVER = {"shifts": 0, "handed_over": 0, "handed_over_pct": None}
EMPTY_CONTACT = {"opened": 0, "completed": 0, "completed_per_opened": None}
EMPTY_TRAINING = {"cmoc_quarters": 0, "trained": 0, "trained_pct": None, "grid": []}
EMPTY_LABEL = {"incidents": 0, "labelled": 0, "labelled_pct": None, "median_minutes_to_label": None}
EMPTY_FIRST_UPDATE = {
    "incidents": 0,
    "median_minutes": None,
    "p90_minutes": None,
    "within_target": 0,
    "within_target_pct": None,
    "target_minutes": 30,
}
EMPTY_ANNOUNCED = {"announced": 0, "kept": 0, "kept_pct": None}


# Reading the report ---------------------------------------------------------------------------


def report(engine: Engine, since: datetime = FEBRUARY[0], until: datetime = FEBRUARY[1]) -> dict:
    with session_scope(engine) as session:
        return compute_kpis(session=session, settings=SETTINGS, since=since, until=until).as_dict()


def pick(section: dict, expected: dict) -> dict:
    """The figures of `section` that `expected` names (a missing one raises KeyError)."""
    return {key: section[key] for key in expected}


def cadence(data: dict, expected: dict) -> dict:
    return pick(data["update_cadence"], expected)


def breakdown(by: dict) -> dict[str, tuple[int, int, int]]:
    """`by_severity` or `by_state` as {key: (gaps, on_time, overdue)}."""
    return {key: (value["gaps"], value["on_time"], value["overdue"]) for key, value in by.items()}


def severities(given: dict[int, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    return {str(n): given.get(n, NO_GAPS) for n in (1, 2, 3, 4)}


def states(
    investigating: tuple[int, int, int] = NO_GAPS,
    identified: tuple[int, int, int] = NO_GAPS,
    monitoring: tuple[int, int, int] = NO_GAPS,
) -> dict[str, tuple[int, int, int]]:
    return {"Investigating": investigating, "Identified": identified, "Monitoring": monitoring}


def people(data: dict) -> dict[str, dict]:
    """per_person by name, checking it is sorted by person and names each person once."""
    names = [row["person"] for row in data["per_person"]]
    assert names == sorted(names), "per_person is not sorted by person"
    assert len(names) == len(set(names)), f"a person is listed twice: {names}"
    return {row["person"]: row for row in data["per_person"]}


def figures(data: dict, name: str, *fields: str) -> dict:
    """One person's figures; a person the report leaves out has all figures 0."""
    row = people(data).get(name)
    return {field: row[field] if row else 0 for field in fields or PERSON_FIGURES}


def grid(data: dict) -> list[tuple[str, str, bool]]:
    rows = data["training"]["grid"]
    return sorted((row["person"], row["quarter"], row["trained"]) for row in rows)


def handover_by_person(data: dict) -> dict[str, tuple[int, int]] | None:
    """The optional handover `by_person` as {person: (shifts, handed_over)}, zero rows left out."""
    rows = data["handover"].get("by_person")
    if rows is None:
        return None
    found = {row["person"]: (row["shifts"], row["handed_over"]) for row in rows}
    return {person: pair for person, pair in found.items() if pair != (0, 0)}


def contact_by_assignee(data: dict) -> dict[str, tuple[int, int]] | None:
    """The optional contact-request `by_assignee` as {person: (opened, completed)}."""
    rows = data["contact_requests"].get("by_assignee")
    if rows is None:
        return None
    found = {row["person"]: (row["opened"], row["completed"]) for row in rows}
    return {person: pair for person, pair in found.items() if pair != (0, 0)}


def floats(value) -> list[float]:
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats(v)]
    return [value] if isinstance(value, float) else []


# Whole world ---------------------------------------------------------------------------------


def whole_world(world: World) -> None:
    """A day with one of everything, in February 2026 (quarter 2026-Q1).

    Alice is the CMOC 08:00-16:00 and hands over at 16:30; Bob follows 16:00-24:00 and does not.
    """
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    world.shift(alice, utc(2026, 2, 2, 8), utc(2026, 2, 2, 16))
    world.shift(bob, utc(2026, 2, 2, 16), utc(2026, 2, 3, 0))
    world.handover(alice, utc(2026, 2, 2, 16, 30))
    # Acknowledged by Alice after 5 minutes; Bob's page at 17:00 is never acknowledged.
    world.page(T0, acked_after=5, by=alice)
    world.page(utc(2026, 2, 2, 17))
    # Severity 2 (current label, no events), labelled for the status page at 10:20.
    issue = world.production_issue(4001, labels=["severity::2", STATUS_PAGE_LABEL])
    world.label_event(issue, STATUS_PAGE_LABEL, utc(2026, 2, 2, 10, 20))
    incident = world.incident(
        utc(2026, 2, 2, 10, 10),
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),  # due 15, gap 14: on time
            (14, IDENTIFIED, "Cause identified."),  # due 30, gap 32: overdue by 2
            (46, MONITORING, "Monitoring the fix."),  # due 60, gap 54: on time
            (100, MONITORING, "Resolved."),
        ],
        issue=issue,
    )
    world.thread(incident, utc(2026, 2, 2, 10, 13))
    # A practice incident counts for nothing, however late its updates.
    practice = world.incident(
        utc(2026, 2, 2, 12),
        [(0, INVESTIGATING, "Practice."), (40, INVESTIGATING, "Practice."), (50, 300, "Done.")],
        statuspage_id=PRACTICE_PAGE,
    )
    world.thread(practice, utc(2026, 2, 2, 12, 1))
    world.contact_request(utc(2026, 2, 2, 11), closed_at=utc(2026, 2, 2, 15), assignees=[alice])
    world.practice_event(utc(2026, 2, 20, 15), assignees=[bob])


WHOLE_WORLD = {
    "ack_time": {
        "pages": 2,
        "acknowledged": 1,
        "median_minutes": 5.0,
        "p90_minutes": 5.0,
        "within_target": 1,
        "within_target_pct": 50.0,
        "target_minutes": 15,
    },
    "update_cadence": {
        "incidents": 1,
        "gaps": 3,
        "on_time": 2,
        "on_time_pct": 66.67,
        "overdue": 1,
        "longest_gap_minutes": 54.0,
        "median_overdue_minutes": 2.0,
    },
    "stakeholder_threads": {
        "incidents": 1,
        "with_thread": 1,
        "with_thread_pct": 100.0,
        "threads_per_incident": 1.0,
        "median_minutes_to_first_thread": 3.0,
    },
    "handover": {"shifts": 2, "handed_over": 1, "handed_over_pct": 50.0},
    "contact_requests": {"opened": 1, "completed": 1, "completed_per_opened": 1.0},
    "training": {"cmoc_quarters": 2, "trained": 2, "trained_pct": 100.0},
    "status_page_label": {
        "incidents": 1,
        "labelled": 1,
        "labelled_pct": 100.0,
        "median_minutes_to_label": 10.0,
    },
}


def test_whole_world_gives_every_figure_on_sqlite_and_postgresql(engine):
    whole_world(World(engine))
    data = report(engine)
    assert data["period"] == {"since": "2026-02-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    for section, expected in WHOLE_WORLD.items():
        assert pick(data[section], expected) == expected, section
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({2: (3, 2, 1)})
    assert breakdown(data["update_cadence"]["by_state"]) == states(
        investigating=(1, 1, 0), identified=(1, 0, 1), monitoring=(1, 1, 0)
    )
    assert grid(data) == [("Alice Adams", "2026-Q1", True), ("Bob Brown", "2026-Q1", True)]
    assert handover_by_person(data) in (None, {"Alice Adams": (1, 1), "Bob Brown": (1, 0)})
    assert contact_by_assignee(data) in (None, {"Alice Adams": (1, 1)})
    assert [{key: row[key] for key in PERSON_KEYS} for row in data["per_person"]] == [
        {
            "person": "Alice Adams",
            "pages": 1,
            "within_target": 1,
            "gaps": 3,
            "on_time": 2,
            "shifts": 1,
            "handed_over": 1,
        },
        {
            "person": "Bob Brown",
            "pages": 1,
            "within_target": 0,
            "gaps": 0,
            "on_time": 0,
            "shifts": 1,
            "handed_over": 0,
        },
    ]


def test_as_dict_has_exactly_the_keys_of_kpis_md(sqlite_engine):
    whole_world(World(sqlite_engine))
    data = report(sqlite_engine)
    assert set(data) == TOP_KEYS
    for section, keys in SECTION_KEYS.items():
        assert keys <= set(data[section]) <= keys | OPTIONAL_KEYS.get(section, set()), section
    if "by_person" in data["handover"]:
        for row in data["handover"]["by_person"]:
            assert set(row) == {"person", "shifts", "handed_over"}
    if "by_assignee" in data["contact_requests"]:
        for row in data["contact_requests"]["by_assignee"]:
            assert set(row) == {"person", "opened", "completed"}
    for by, keys in (("by_severity", SEVERITY_KEYS), ("by_state", STATE_KEYS)):
        assert set(data["update_cadence"][by]) == keys, by
        for key, value in data["update_cadence"][by].items():
            assert set(value) == BREAKDOWN_KEYS, (by, key)
    assert data["per_person"], "the world has people"
    for row in data["per_person"]:
        assert set(row) == PERSON_KEYS | PERSON_EXTRA_KEYS
    assert data["training"]["grid"], "the world has CMOCs"
    for row in data["training"]["grid"]:
        assert set(row) == {"person", "quarter", "trained"}
        assert isinstance(row["trained"], bool)
    assert json.loads(json.dumps(data)) == data
    assert all(round(value, 2) == value for value in floats(data))


def test_an_empty_period_gives_the_zeros_and_nulls_of_the_example(sqlite_engine):
    data = report(sqlite_engine, utc(2026, 1, 1), utc(2026, 4, 1))
    assert data["period"] == {"since": "2026-01-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
    assert pick(data["ack_time"], EMPTY_ACK) == EMPTY_ACK
    assert cadence(data, EMPTY_CADENCE) == EMPTY_CADENCE
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({})
    assert breakdown(data["update_cadence"]["by_state"]) == states()
    assert pick(data["stakeholder_threads"], EMPTY_THREADS) == EMPTY_THREADS
    assert pick(data["handover"], EMPTY_HANDOVER) == EMPTY_HANDOVER
    assert pick(data["contact_requests"], EMPTY_CONTACT) == EMPTY_CONTACT
    assert pick(data["training"], EMPTY_TRAINING) == EMPTY_TRAINING
    assert pick(data["status_page_label"], EMPTY_LABEL) == EMPTY_LABEL
    assert data["first_public_update"] == EMPTY_FIRST_UPDATE
    assert data["announced_updates"] == EMPTY_ANNOUNCED
    assert data["per_person"] == []


def test_items_just_outside_the_period_count_for_nothing(sqlite_engine):
    """Period April 2026 (2026-Q2); everything happens before April 1 or from May 1."""
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    world.shift(alice, utc(2026, 3, 31, 15), utc(2026, 3, 31, 23))  # ends before the period
    world.handover(alice, utc(2026, 4, 1, 0, 30))
    world.page(utc(2026, 3, 31, 23, 59, 59), acked_after=6, by=alice)  # acknowledged in April
    world.page(utc(2026, 5, 1), acked_after=3, by=bob)  # at `until`: excluded
    late = world.incident(  # first message in March, the rest in April
        utc(2026, 3, 31, 23, 50),
        [(0, INVESTIGATING, "Investigating."), (20, INVESTIGATING, "Still."), (30, 300, "Done.")],
        issue=world.production_issue(5001, labels=["severity::1", STATUS_PAGE_LABEL]),
    )
    world.label_event(late, STATUS_PAGE_LABEL, utc(2026, 4, 1, 0, 5))
    world.thread(late, utc(2026, 4, 1, 0, 10))
    world.incident(utc(2026, 5, 1), [(0, INVESTIGATING, "Investigating."), (30, 300, "Done.")])
    world.contact_request(utc(2026, 3, 31, 12), closed_at=utc(2026, 4, 2), assignees=[alice])
    world.contact_request(utc(2026, 5, 1), assignees=[bob])
    world.practice_event(utc(2026, 4, 15), assignees=[bob])  # Bob has no CMOC shift in Q2
    data = report(sqlite_engine, utc(2026, 4, 1), utc(2026, 5, 1))
    assert pick(data["ack_time"], EMPTY_ACK) == EMPTY_ACK
    assert cadence(data, EMPTY_CADENCE) == EMPTY_CADENCE
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({})
    assert breakdown(data["update_cadence"]["by_state"]) == states()
    assert pick(data["stakeholder_threads"], EMPTY_THREADS) == EMPTY_THREADS
    assert pick(data["handover"], EMPTY_HANDOVER) == EMPTY_HANDOVER
    assert pick(data["contact_requests"], EMPTY_CONTACT) == EMPTY_CONTACT
    assert pick(data["training"], EMPTY_TRAINING) == EMPTY_TRAINING
    assert pick(data["status_page_label"], EMPTY_LABEL) == EMPTY_LABEL
    for name in people(data):
        assert figures(data, name) == dict.fromkeys(PERSON_FIGURES, 0), name


# 1. Time to acknowledge ---------------------------------------------------------------------


def test_ack_time_median_p90_and_target_over_the_pages_of_cmoc_services(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB")
    world.shift(alice, utc(2026, 2, 2), utc(2026, 2, 3))  # the CMOC all of February 2
    world.shift(bob, utc(2026, 2, 2), utc(2026, 2, 3), kind=ScheduleKind.SHADOW)
    hour = timedelta(hours=1)
    world.page(T0, acked_after=1, by=alice)
    world.page(T0 + hour, acked_after=3, by=bob, service=CMOC_SERVICE_2)  # second CMOC service
    world.page(T0 + 2 * hour, acked_after=7, by=alice)
    world.page(T0 + 3 * hour, acked_after=15, by=bob)  # exactly the target: within
    world.page(T0 + 4 * hour, acked_after=31, by=alice)
    world.page(T0 + 6 * hour)  # never acknowledged: Alice was the CMOC on call
    # Not pages of the period: another service, before `since`, at `until`.
    world.page(T0 + 7 * hour, acked_after=1, by=bob, service=OTHER_SERVICE)
    world.page(utc(2026, 1, 31, 23, 59, 59), acked_after=1, by=bob)
    world.page(utc(2026, 3, 1), acked_after=1, by=bob)
    data = report(sqlite_engine)
    # Acknowledged in [1, 3, 7, 15, 31]: median 7; p90 at rank 0.9 * 4 = 3.6 -> 15 + 0.6 * 16.
    assert float(np.percentile([1, 3, 7, 15, 31], 90)) == pytest.approx(24.6)
    assert pick(data["ack_time"], EMPTY_ACK) == {
        "pages": 6,
        "acknowledged": 5,
        "median_minutes": 7.0,
        "p90_minutes": 24.6,
        "within_target": 4,
        "within_target_pct": 66.67,  # 4 of 6: the unacknowledged page counts against it
        "target_minutes": 15,
    }
    assert figures(data, "Alice Adams", "pages", "within_target") == {
        "pages": 4,
        "within_target": 2,
    }
    assert figures(data, "Bob Brown", "pages", "within_target") == {"pages": 2, "within_target": 2}


def test_a_page_acknowledged_twice_counts_its_earliest_acknowledgement(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB")
    world.page(T0, acks=[(20, bob), (5, alice)])  # Bob at +20 (listed first), Alice at +5
    data = report(sqlite_engine)
    assert pick(data["ack_time"], EMPTY_ACK) == {
        "pages": 1,
        "acknowledged": 1,
        "median_minutes": 5.0,
        "p90_minutes": 5.0,
        "within_target": 1,
        "within_target_pct": 100.0,
        "target_minutes": 15,
    }
    assert figures(data, "Alice Adams", "pages", "within_target") == {
        "pages": 1,
        "within_target": 1,
    }
    assert figures(data, "Bob Brown", "pages", "within_target") == {"pages": 0, "within_target": 0}


def test_a_never_acknowledged_page_goes_to_the_cmoc_on_call_when_triggered(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB")
    carol = world.person("Carol Chen", email="carol@example.com", pd_id="PCAROL")
    world.shift(alice, utc(2026, 2, 2, 8), utc(2026, 2, 2, 16))
    world.shift(bob, utc(2026, 2, 2, 16), utc(2026, 2, 3, 0))
    world.shift(carol, utc(2026, 2, 2, 8), utc(2026, 2, 3, 0), kind=ScheduleKind.SHADOW)
    world.page(utc(2026, 2, 2, 17, 30))  # Bob was on the CMOC schedule
    world.page(utc(2026, 2, 2, 12), acked_after=16, by=alice)  # late
    data = report(sqlite_engine)
    assert pick(data["ack_time"], EMPTY_ACK) == {
        "pages": 2,
        "acknowledged": 1,
        "median_minutes": 16.0,
        "p90_minutes": 16.0,
        "within_target": 0,
        "within_target_pct": 0.0,
        "target_minutes": 15,
    }
    assert figures(data, "Bob Brown", "pages", "within_target") == {"pages": 1, "within_target": 0}
    assert figures(data, "Alice Adams", "pages", "within_target") == {
        "pages": 1,
        "within_target": 0,
    }
    assert figures(data, "Carol Chen", "pages", "within_target") == {
        "pages": 0,
        "within_target": 0,
    }


# 2. Update cadence --------------------------------------------------------------------------


def test_a_gap_at_due_plus_grace_is_on_time_and_one_second_more_is_overdue(sqlite_engine):
    """No production issue: severity 3. Gaps go to the CMOC on call at the later update."""
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB")
    world.shift(alice, utc(2026, 2, 2, 9), utc(2026, 2, 2, 10, 20))
    world.shift(bob, utc(2026, 2, 2, 10, 20), utc(2026, 2, 2, 12))
    world.incident(
        T0,
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),  # due 15
            (16, INVESTIGATING, "Still investigating."),  # gap 16:00 = 15 + 60 s: on time
            (timedelta(minutes=32, seconds=1), MONITORING, "Resolved."),  # gap 16:01: overdue
        ],
    )
    data = report(sqlite_engine)
    expected = {
        "incidents": 1,
        "gaps": 2,
        "on_time": 1,
        "on_time_pct": 50.0,
        "overdue": 1,
        "longest_gap_minutes": 16.02,  # 16 min 1 s
        "median_overdue_minutes": 1.02,  # overdue by 16:01 - 15:00 = 1 min 1 s
    }
    assert cadence(data, expected) == expected
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({3: (2, 1, 1)})
    assert breakdown(data["update_cadence"]["by_state"]) == states(investigating=(2, 1, 1))
    assert figures(data, "Alice Adams", "gaps", "on_time") == {"gaps": 1, "on_time": 1}
    assert figures(data, "Bob Brown", "gaps", "on_time") == {"gaps": 1, "on_time": 0}


def test_severity_raised_mid_incident_gives_the_stricter_cadence_after_the_raise(sqlite_engine):
    world = World(sqlite_engine)
    issue = world.production_issue(2001, labels=["severity::1"])
    world.label_event(issue, "severity::3", utc(2026, 2, 2, 9, 55))
    world.label_event(issue, "severity::3", utc(2026, 2, 2, 10, 20), action="remove")
    world.label_event(issue, "severity::1", utc(2026, 2, 2, 10, 20))
    world.incident(
        T0,
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),  # S3: due 15, gap 14
            (14, IDENTIFIED, "Cause identified."),  # S3 at 10:14: due 30, gap 26: on time
            (40, IDENTIFIED, "Working on the fix."),  # S1: due 10, gap 15: overdue by 5
            (55, MONITORING, "Monitoring the fix."),  # S1: due 30, gap 45: overdue by 15
            (100, MONITORING, "Resolved."),
        ],
        issue=issue,
    )
    data = report(sqlite_engine)
    expected = {
        "incidents": 1,
        "gaps": 4,
        "on_time": 2,
        "on_time_pct": 50.0,
        "overdue": 2,
        "longest_gap_minutes": 45.0,
        "median_overdue_minutes": 10.0,  # median of 5 and 15
    }
    assert cadence(data, expected) == expected
    assert breakdown(data["update_cadence"]["by_severity"]) == severities(
        {1: (2, 0, 2), 3: (2, 2, 0)}
    )
    assert breakdown(data["update_cadence"]["by_state"]) == states(
        investigating=(1, 1, 0), identified=(2, 1, 1), monitoring=(1, 0, 1)
    )


def test_a_severity_added_after_the_first_update_applies_to_the_first_gap(sqlite_engine):
    """kpis.md: "if none was added by t, the first one added after t". So S1 from the first
    update on, although the issue's current label (S2) and the default (S3) allow 15 minutes."""
    world = World(sqlite_engine)
    issue = world.production_issue(2101, labels=["severity::2"])
    world.label_event(issue, "severity::1", utc(2026, 2, 2, 10, 12))
    world.label_event(issue, "severity::1", utc(2026, 2, 2, 12), action="remove")
    world.label_event(issue, "severity::2", utc(2026, 2, 2, 12))
    world.incident(
        T0,
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),  # S1: due 10, gap 12
            (12, INVESTIGATING, "Still investigating."),  # S1: due 10, gap 10: on time
            (22, MONITORING, "Resolved."),
        ],
        issue=issue,
    )
    data = report(sqlite_engine)
    expected = {
        "incidents": 1,
        "gaps": 2,
        "on_time": 1,
        "on_time_pct": 50.0,
        "overdue": 1,
        "longest_gap_minutes": 12.0,
        "median_overdue_minutes": 2.0,
    }
    assert cadence(data, expected) == expected
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({1: (2, 1, 1)})
    assert breakdown(data["update_cadence"]["by_state"]) == states(investigating=(2, 1, 1))


def test_an_announced_next_update_replaces_the_table_whether_longer_or_shorter(sqlite_engine):
    """Severity 2 from the issue's current label (no label events)."""
    world = World(sqlite_engine)
    world.incident(
        T0,
        [
            # Announced 45 (table 15); gap 40: on time.
            (0, INVESTIGATING, "Investigating elevated error rates. Next update in 45 minutes."),
            # Announced 10:50 UTC, 10 minutes (table 30); gap 25: overdue by 15.
            (40, IDENTIFIED, "Cause identified. Next update by 10:50 UTC."),
            # Announced 2 hours (table 60); gap 100: on time.
            (65, MONITORING, "Fix deployed, monitoring. Next update within the next 2 hours."),
            (165, MONITORING, "Resolved."),
        ],
        severity=2,
    )
    data = report(sqlite_engine)
    expected = {
        "incidents": 1,
        "gaps": 3,
        "on_time": 2,
        "on_time_pct": 66.67,
        "overdue": 1,
        "longest_gap_minutes": 100.0,
        "median_overdue_minutes": 15.0,
    }
    assert cadence(data, expected) == expected
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({2: (3, 2, 1)})
    assert breakdown(data["update_cadence"]["by_state"]) == states(
        investigating=(1, 1, 0), identified=(1, 0, 1), monitoring=(1, 1, 0)
    )


def test_a_still_open_incident_scores_no_running_gap(sqlite_engine):
    world = World(sqlite_engine)
    world.incident(
        T0,
        [(0, INVESTIGATING, "Investigating elevated error rates."), (10, IDENTIFIED, "Found.")],
        resolved=False,
    )
    data = report(sqlite_engine)  # until March 1: the last update is weeks old, yet not scored
    expected = {
        "incidents": 1,
        "gaps": 1,
        "on_time": 1,
        "on_time_pct": 100.0,
        "overdue": 0,
        "longest_gap_minutes": 10.0,
        "median_overdue_minutes": None,
    }
    assert cadence(data, expected) == expected
    assert breakdown(data["update_cadence"]["by_severity"]) == severities({3: (1, 1, 0)})
    assert breakdown(data["update_cadence"]["by_state"]) == states(investigating=(1, 1, 0))


def test_only_incidents_of_the_configured_status_page_and_period_count(sqlite_engine):
    world = World(sqlite_engine)
    late = [(0, INVESTIGATING, "Investigating."), (40, INVESTIGATING, "Still."), (50, 300, "Done.")]
    world.incident(T0, late, statuspage_id=PRACTICE_PAGE)
    world.incident(utc(2026, 1, 31, 23, 50), late)  # opened before the period
    world.incident(utc(2026, 3, 1), late)  # opened at `until`
    world.incident(utc(2026, 2, 1), [(0, INVESTIGATING, "Investigating."), (15, 300, "Done.")])
    data = report(sqlite_engine)
    expected = {
        "incidents": 1,
        "gaps": 1,
        "on_time": 1,
        "on_time_pct": 100.0,
        "overdue": 0,
        "longest_gap_minutes": 15.0,
        "median_overdue_minutes": None,
    }
    assert cadence(data, expected) == expected


def test_an_incident_belongs_to_the_period_of_its_first_message_not_its_opening_time(
    sqlite_engine,
):
    world = World(sqlite_engine)
    incident = world.incident(
        utc(2026, 2, 2, 10), [(0, INVESTIGATING, "Investigating."), (10, 300, "Done.")]
    )
    with session_scope(sqlite_engine) as session:
        stored = session.get(StatusPageIncident, incident.id)
        stored.datetime_open = utc(2025, 12, 1)  # opened long before, as the API may report
    assert report(sqlite_engine)["update_cadence"]["incidents"] == 1


# 3. Stakeholder threads ---------------------------------------------------------------------


def test_stakeholder_threads_per_incident_and_minutes_to_the_first(sqlite_engine):
    world = World(sqlite_engine)
    short = [(0, INVESTIGATING, "Investigating."), (10, MONITORING, "Resolved.")]
    first = world.incident(utc(2026, 2, 2, 10), short)
    second = world.incident(utc(2026, 2, 3, 10), short)
    world.incident(utc(2026, 2, 4, 10), short)  # no thread
    for after in (20, 3, 45):  # three threads, the first 3 minutes after the first message
        world.thread(first, first.opened + minutes(after))
    world.thread(second, second.opened + minutes(8))
    practice = world.incident(utc(2026, 2, 5, 10), short, statuspage_id=PRACTICE_PAGE)
    world.thread(practice, practice.opened + minutes(1))
    earlier = world.incident(utc(2026, 1, 31, 10), short)
    world.thread(earlier, earlier.opened + minutes(2))
    data = report(sqlite_engine)
    assert pick(data["stakeholder_threads"], EMPTY_THREADS) == {
        "incidents": 3,
        "with_thread": 2,
        "with_thread_pct": 66.67,
        "threads_per_incident": 1.33,  # 4 threads / 3 incidents
        "median_minutes_to_first_thread": 5.5,  # median of 3 and 8
    }


# 4. Handover --------------------------------------------------------------------------------


def test_touching_entries_make_one_shift_and_handover_counts_within_two_hours(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    carol = world.person("Carol Chen", email="carol@example.com", pd_id="PCAROL", gitlab_id="103")
    dave = world.person("Dave Diaz", email="dave@example.com", pd_id="PDAVE", gitlab_id="104")
    erin = world.person("Erin Evans", email="erin@example.com", pd_id="PERIN", gitlab_id="105")
    # Alice: two touching entries, one shift ending 16:00; handover at end + 2 h exactly.
    world.shift(alice, utc(2026, 2, 2, 0), utc(2026, 2, 2, 8))
    world.shift(alice, utc(2026, 2, 2, 8), utc(2026, 2, 2, 16))
    world.handover(alice, utc(2026, 2, 2, 18))
    # Bob: his handover comes at end + 2 h 1 min; Alice's issue near his end is not his.
    world.shift(bob, utc(2026, 2, 3, 0), utc(2026, 2, 3, 8))
    world.handover(bob, utc(2026, 2, 3, 10, 1))
    world.handover(alice, utc(2026, 2, 3, 8, 30))
    # Carol: two overlapping entries, one shift ending 08:00; handover at end - 2 h exactly.
    world.shift(carol, utc(2026, 2, 4, 0), utc(2026, 2, 4, 5))
    world.shift(carol, utc(2026, 2, 4, 4), utc(2026, 2, 4, 8))
    world.handover(carol, utc(2026, 2, 4, 6))
    # Dave only shadows: no shift.
    world.shift(dave, utc(2026, 2, 5, 0), utc(2026, 2, 5, 8), kind=ScheduleKind.SHADOW)
    world.handover(dave, utc(2026, 2, 5, 8, 10))
    # Erin's shift ends after the period.
    world.shift(erin, utc(2026, 2, 28, 20), utc(2026, 3, 1, 4))
    world.handover(erin, utc(2026, 3, 1, 4, 30))
    data = report(sqlite_engine)
    assert pick(data["handover"], EMPTY_HANDOVER) == {
        "shifts": 3,
        "handed_over": 2,
        "handed_over_pct": 66.67,
    }
    shifts = ("shifts", "handed_over")
    assert figures(data, "Alice Adams", *shifts) == {"shifts": 1, "handed_over": 1}
    assert figures(data, "Bob Brown", *shifts) == {"shifts": 1, "handed_over": 0}
    assert figures(data, "Carol Chen", *shifts) == {"shifts": 1, "handed_over": 1}
    assert figures(data, "Dave Diaz", *shifts) == {"shifts": 0, "handed_over": 0}
    assert figures(data, "Erin Evans", *shifts) == {"shifts": 0, "handed_over": 0}
    assert handover_by_person(data) in (
        None,
        {"Alice Adams": (1, 1), "Bob Brown": (1, 0), "Carol Chen": (1, 1)},
    )


def test_people_are_matched_by_mapping_then_email_then_folded_name(sqlite_engine):
    """The PagerDuty user on shift and the GitLab author of the handover are one person."""
    world = World(sqlite_engine)
    # By explicit mapping: names and emails differ.
    world.pd_user("PDANA", "Dana Katherine Scully", "dana@fbi.example")
    world.gitlab_user("201", "D. S.", "ds@x-files.example")
    world.mapping(System.PAGERDUTY, "PDANA", "Dana Scully")
    world.mapping(System.GITLAB, "201", "Dana Scully")
    # By email, whatever its case.
    world.pd_user("PFOX", "Fox Mulder", "Fox.Mulder@FBI.example")
    world.gitlab_user("202", "Spooky", "fox.mulder@fbi.example")
    # By name, case and whitespace folded; GitLab shows no public email.
    world.pd_user("PWALTER", "Walter  Skinner", "walter@fbi.example")
    world.gitlab_user("203", "walter skinner")
    # Nobody's GitLab account.
    world.gitlab_user("204", "Cigarette Smoking Man")
    for n, (pd_id, gitlab_id) in enumerate(
        [("PDANA", "201"), ("PFOX", "202"), ("PWALTER", "203")], start=2
    ):
        world.shift(pd_id, utc(2026, 2, n, 0), utc(2026, 2, n, 8))
        world.handover(gitlab_id, utc(2026, 2, n, 8, 30))
    world.handover("204", utc(2026, 2, 2, 8, 10))
    data = report(sqlite_engine)
    assert pick(data["handover"], EMPTY_HANDOVER) == {
        "shifts": 3,
        "handed_over": 3,
        "handed_over_pct": 100.0,
    }
    for name in ("Dana Scully", "Fox Mulder", "Walter Skinner"):
        assert figures(data, name, "shifts", "handed_over") == {"shifts": 1, "handed_over": 1}
    assert not {"Dana Katherine Scully", "D. S.", "Spooky", "walter skinner"} & set(people(data))
    assert handover_by_person(data) in (
        None,
        {"Dana Scully": (1, 1), "Fox Mulder": (1, 1), "Walter Skinner": (1, 1)},
    )


# 5. Contact requests -------------------------------------------------------------------------


def test_a_contact_request_closed_after_the_period_is_not_completed(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    world.contact_request(utc(2026, 2, 1), closed_at=utc(2026, 2, 1, 1), assignees=[alice])
    world.contact_request(utc(2026, 2, 3), closed_at=utc(2026, 2, 4), assignees=[alice])
    world.contact_request(utc(2026, 2, 10), closed_at=utc(2026, 3, 5), assignees=[bob])
    world.contact_request(utc(2026, 2, 20), assignees=[alice])  # still open
    # Opened outside the period.
    world.contact_request(utc(2026, 1, 25), closed_at=utc(2026, 2, 2), assignees=[bob])
    world.contact_request(utc(2026, 3, 1), assignees=[bob])
    data = report(sqlite_engine)
    assert pick(data["contact_requests"], EMPTY_CONTACT) == {
        "opened": 4,
        "completed": 2,
        "completed_per_opened": 0.5,
    }
    # Alice: Feb 1 and Feb 3 completed, Feb 20 open; Bob: closed March 5, after the period.
    assert contact_by_assignee(data) in (None, {"Alice Adams": (3, 2), "Bob Brown": (1, 0)})


# 6. Training ---------------------------------------------------------------------------------


def test_training_per_quarter_counts_practice_events_shadowing_and_pages(sqlite_engine):
    """Period 2026-Q1 and Q2. In Q1 Alice, Bob and Carol train three ways, Dave not at all."""
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    carol = world.person("Carol Chen", email="carol@example.com", pd_id="PCAROL", gitlab_id="103")
    dave = world.person("Dave Diaz", email="dave@example.com", pd_id="PDAVE", gitlab_id="104")
    erin = world.person("Erin Evans", email="erin@example.com", pd_id="PERIN", gitlab_id="105")
    frank = world.person("Frank Fox", email="frank@example.com", pd_id="PFRANK", gitlab_id="106")
    # Q1
    world.shift(alice, utc(2026, 1, 10), utc(2026, 1, 10, 8))
    world.practice_event(utc(2026, 2, 5), assignees=[alice, erin])
    world.shift(bob, utc(2026, 2, 10), utc(2026, 2, 10, 8))
    world.shift(bob, utc(2026, 3, 3), utc(2026, 3, 3, 8), kind=ScheduleKind.SHADOW)
    world.shift(carol, utc(2026, 3, 10), utc(2026, 3, 10, 8))
    world.page(utc(2026, 3, 11, 10), acked_after=4, by=carol)
    world.shift(dave, utc(2026, 1, 20), utc(2026, 1, 20, 8))
    # Not a CMOC page: kpis.md 1, "A page is a PagerDuty incident on one of the configured
    # CMOC services"; 6 counts only "acknowledged a CMOC page".
    world.page(utc(2026, 1, 21, 10), acked_after=2, by=dave, service=OTHER_SERVICE)
    world.practice_event(utc(2025, 12, 15), assignees=[dave])  # the quarter before
    world.shift(frank, utc(2026, 2, 7), utc(2026, 2, 7, 8), kind=ScheduleKind.SHADOW)
    # Q2: Alice's Q1 practice does not carry over; Dave acknowledges a page.
    world.shift(alice, utc(2026, 4, 10), utc(2026, 4, 10, 8))
    world.shift(dave, utc(2026, 6, 1), utc(2026, 6, 1, 8))
    world.page(utc(2026, 6, 1, 10), acked_after=2, by=dave)
    data = report(sqlite_engine, utc(2026, 1, 1), utc(2026, 7, 1))
    assert grid(data) == [
        ("Alice Adams", "2026-Q1", True),
        ("Alice Adams", "2026-Q2", False),
        ("Bob Brown", "2026-Q1", True),
        ("Carol Chen", "2026-Q1", True),
        ("Dave Diaz", "2026-Q1", False),
        ("Dave Diaz", "2026-Q2", True),
    ]
    assert pick(data["training"], {"cmoc_quarters": 0, "trained": 0, "trained_pct": 0}) == {
        "cmoc_quarters": 6,
        "trained": 4,
        "trained_pct": 66.67,
    }


def test_a_practice_drill_completed_in_the_app_counts_in_its_quarter(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", pd_id="PBOB", gitlab_id="102")
    world.shift(alice, utc(2026, 4, 10), utc(2026, 4, 10, 8))
    world.shift(bob, utc(2026, 4, 12), utc(2026, 4, 12, 8))
    world.match_people()
    world.drill(alice, utc(2026, 6, 30, 23, 30), finished=utc(2026, 6, 30, 23, 59))
    world.drill(bob, utc(2026, 6, 2, 9), finished=None)  # abandoned: not completed
    world.drill(bob, utc(2026, 3, 31, 9), finished=utc(2026, 3, 31, 10))  # the quarter before
    data = report(sqlite_engine, utc(2026, 4, 1), utc(2026, 7, 1))
    assert grid(data) == [("Alice Adams", "2026-Q2", True), ("Bob Brown", "2026-Q2", False)]


def test_training_quarters_follow_on_call_entries_over_the_turn_of_a_quarter(sqlite_engine):
    """A shift over midnight on 31 March is in Q1 and Q2; one ending at midnight is in Q1 only;
    an open shadow entry trains its person in every quarter after it starts."""
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", pd_id="PALICE")
    bob = world.person("Bob Brown", pd_id="PBOB")
    carol = world.person("Carol Chen", pd_id="PCAROL")
    world.shift(alice, utc(2026, 3, 31, 20), utc(2026, 4, 1, 4))
    world.shift(bob, utc(2026, 3, 31, 16), utc(2026, 4, 1))
    world.shift(bob, utc(2026, 6, 1), utc(2026, 6, 1, 8))
    world.shift(bob, utc(2026, 1, 5), None, kind=ScheduleKind.SHADOW)
    world.shift(carol, utc(2026, 2, 1), utc(2026, 2, 1, 8))
    world.shift(carol, utc(2026, 5, 1), utc(2026, 5, 1, 8))
    world.shift(carol, utc(2025, 12, 1), utc(2026, 4, 1), kind=ScheduleKind.SHADOW)
    data = report(sqlite_engine, utc(2026, 1, 1), utc(2026, 7, 1))
    assert grid(data) == [
        ("Alice Adams", "2026-Q1", False),
        ("Alice Adams", "2026-Q2", False),
        ("Bob Brown", "2026-Q1", True),
        ("Bob Brown", "2026-Q2", True),
        ("Carol Chen", "2026-Q1", True),
        ("Carol Chen", "2026-Q2", False),
    ]


# 7. Status-page label ------------------------------------------------------------------------


def test_status_page_label_share_and_median_minutes_to_the_label(sqlite_engine):
    world = World(sqlite_engine)
    short = [(0, INVESTIGATING, "Investigating."), (10, MONITORING, "Resolved.")]
    labelled = ["severity::3", STATUS_PAGE_LABEL]
    first = world.incident(
        utc(2026, 2, 2, 10), short, issue=world.production_issue(3001, labels=labelled)
    )
    world.label_event(first, STATUS_PAGE_LABEL, first.opened + minutes(6))
    second = world.incident(
        utc(2026, 2, 3, 10), short, issue=world.production_issue(3002, labels=labelled)
    )
    world.label_event(second, STATUS_PAGE_LABEL, second.opened + minutes(15))
    world.incident(
        utc(2026, 2, 4, 10), short, issue=world.production_issue(3003, labels=["severity::3"])
    )
    world.incident(utc(2026, 2, 5, 10), short)  # no production issue: not counted
    practice = world.incident(
        utc(2026, 2, 6, 10),
        short,
        issue=world.production_issue(3005, labels=labelled),
        statuspage_id=PRACTICE_PAGE,
    )
    world.label_event(practice, STATUS_PAGE_LABEL, practice.opened + minutes(1))
    data = report(sqlite_engine)
    assert pick(data["status_page_label"], EMPTY_LABEL) == {
        "incidents": 3,
        "labelled": 2,
        "labelled_pct": 66.67,
        "median_minutes_to_label": 10.5,  # median of 6 and 15
    }


def test_pages_are_counted_by_the_configured_cmoc_services_only(sqlite_engine):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE")
    world.page(T0, acked_after=2, by=alice, service=CMOC_SERVICE)
    world.page(T0, acked_after=4, by=alice, service=CMOC_SERVICE_2)
    world.page(T0, acked_after=60, by=alice, service=OTHER_SERVICE)
    data = report(sqlite_engine)
    # Over [2, 4]: median 3, p90 at rank 0.9 -> 2 + 0.9 * 2 = 3.8.
    assert pick(data["ack_time"], EMPTY_ACK) == {
        "pages": 2,
        "acknowledged": 2,
        "median_minutes": 3.0,
        "p90_minutes": 3.8,
        "within_target": 2,
        "within_target_pct": 100.0,
        "target_minutes": 15,
    }


def test_severity_in_effect_over_many_gaps_agrees_with_the_rule_for_one_incident():
    """The whole-column form the report uses, over 200 issues at once (and moments with no
    issue), and the one-incident form the timeline uses."""
    rng = random.Random(4)
    base = utc(2026, 1, 1)
    adds, current, iids, moments, expected = [], {}, [], [], []
    for iid in range(200):
        added = [
            (base + minutes(rng.randint(0, 120)), rng.randint(1, 4))
            for _ in range(rng.randint(0, 4))
        ]
        adds += [(iid, when, level) for when, level in added]
        now = rng.choice([None, 1, 2, 3, 4])
        if now is not None:
            current[iid] = now
        for _ in range(6):
            moment = base + minutes(rng.randint(-10, 130))
            linked = rng.random() < 0.9
            iids.append(float(iid) if linked else np.nan)
            moments.append(moment)
            found = Severity(added, now).at(moment) if linked else None
            expected.append(found or handbook.DEFAULT_SEVERITY)
    known = (
        pd.DataFrame(
            {
                "iid": pd.Series([iid for iid, _, _ in adds], dtype="int64"),
                "when": pd.Series([when for _, when, _ in adds], dtype="datetime64[us, UTC]"),
                "level": pd.Series([level for _, _, level in adds], dtype="int64"),
            }
        ),
        pd.Series(current, dtype="float64"),
    )
    found = severity_in_effect(
        pd.Series(iids), pd.Series(moments, dtype="datetime64[us, UTC]"), known
    )
    assert found.tolist() == expected


def test_the_report_judges_every_gap_as_the_incident_timeline_does(sqlite_engine):
    """The report's whole-column due times (stored announcements, severity columns) and the
    timeline's one-update rule, over random incidents: severities changing or unknown, every
    cadenced state, announced next updates (clock times past midnight included)."""
    rng = random.Random(12)
    world = World(sqlite_engine)
    texts = [
        "Investigating.",
        "Next update in 45 minutes.",
        "We will post an update in 1 hour.",
        "Next update in 1.5 hours.",
        "Next update at 14:30 UTC.",
        "Next update by 00:10 UTC.",
        "We expect to share more within the next 2 hours.",
    ]
    incidents = []
    for n in range(40):
        opened = T0 + timedelta(hours=3 * n, minutes=rng.randint(0, 59))
        issue = None
        if rng.random() < 0.8:
            labels = [f"severity::{rng.randint(1, 4)}"] if rng.random() < 0.8 else []
            issue = world.production_issue(9000 + n, labels=labels)
            for _ in range(rng.randint(0, 3)):
                at = opened + minutes(rng.randint(-30, 200))
                world.label_event(issue, f"severity::{rng.randint(1, 4)}", at)
        posted, messages = 0, []
        for _ in range(rng.randint(1, 6)):
            state = rng.choice([INVESTIGATING, IDENTIFIED, MONITORING])
            messages.append((posted, state, rng.choice(texts)))
            posted += rng.choice([5, 10, 11, 15, 16, 29, 31, 45, 46, 60, 61, 90, 120, 200])
        resolved = rng.random() < 0.7
        incidents.append(world.incident(opened, messages, issue=issue, resolved=resolved))
    now = utc(2026, 3, 10)

    def moment(value) -> datetime:
        return pd.Timestamp(value).to_pydatetime()

    with session_scope(sqlite_engine) as session:
        report = compute_kpis(
            session=session, settings=SETTINGS, since=FEBRUARY[0], until=FEBRUARY[1]
        )
        expected = set()
        for incident in incidents:
            record = history.incident_record(session=session, incident_id=incident.id)
            assert record is not None
            timeline = history.incident_timeline(
                session=session, record=record, project=PRODUCTION, now=now
            )
            expected |= {
                (incident.id, gap.start, gap.end, gap.due, gap.on_time)
                for gap in timeline.gaps
                if gap.end != now  # a still-open incident's running gap is not scored
            }
    found = {
        (str(row.incident), moment(row.start), moment(row.end), moment(row.due), bool(row.on_time))
        for row in report.rows["gaps"].itertuples()
    }
    assert len(found) > 60 and {on_time for *_, on_time in found} == {True, False}
    assert found == expected


def test_shifts_synced_ahead_count_only_once_they_began_and_their_handover_window_passed(
    sqlite_engine,
):
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    now = utc(2026, 2, 10, 12)
    world.shift(alice, utc(2026, 2, 10, 0), utc(2026, 2, 10, 8))  # ended 4 h ago: judged
    world.shift(bob, utc(2026, 2, 10, 8), utc(2026, 2, 10, 11))  # ended 1 h ago: still in time
    world.shift(alice, utc(2026, 2, 12, 0), utc(2026, 2, 12, 8))  # synced ahead: not yet
    world.shift(bob, utc(2026, 2, 14, 0), utc(2026, 2, 14, 8), kind=ScheduleKind.SHADOW)
    with session_scope(sqlite_engine) as session:
        data = compute_kpis(
            session=session, settings=SETTINGS, since=FEBRUARY[0], until=FEBRUARY[1], now=now
        ).as_dict()
    assert pick(data["handover"], EMPTY_HANDOVER) == {
        "shifts": 1,
        "handed_over": 0,
        "handed_over_pct": 0.0,
    }
    assert figures(data, "Alice Adams", "shifts") == {"shifts": 1}
    assert figures(data, "Bob Brown", "shifts") == {"shifts": 0}
    assert data["training"]["trained"] == 0  # Bob's shadow shift has not happened yet
