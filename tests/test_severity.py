"""Severity of an incident at a time (kpis.md), for one incident and for whole columns."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlmodel import Session

from cmoc_core.severity import Severity, label_levels, level_of, severities, severity_in_effect
from tests.kpi_worlds import PRODUCTION, World, minutes, utc

T0 = utc(2026, 2, 2, 10)


def at(minute: int):
    return T0 + minutes(minute)


@pytest.mark.parametrize(
    ("label", "level"),
    [
        ("severity::1", 1),
        ("severity::4", 4),
        ("Severity:: 2", 2),
        ("S3", 3),
        (" s2 ", 2),
        ("severity::5", None),
        ("S10", None),
        ("priority::1", None),
        ("", None),
        (None, None),
    ],
)
def test_a_label_names_a_severity_only_in_the_handbooks_forms(label, level):
    assert level_of(label) == level


def test_the_severity_in_effect_is_the_last_added_by_then_else_the_first_added_else_current():
    changed = Severity([(at(30), 1), (at(10), 2)], current=1)
    assert changed.at(at(5)) == 2  # nothing added yet: the first one added
    assert changed.at(at(10)) == 2
    assert changed.at(at(29)) == 2
    assert changed.at(at(30)) == 1
    assert Severity([], current=4).at(at(0)) == 4
    assert Severity([], current=None).at(at(0)) is None


def test_severities_read_the_label_events_of_the_projects_production_issues(sqlite_engine):
    world = World(sqlite_engine)
    changed = world.production_issue(101, labels=["severity::1"])
    world.label_event(changed, "severity::3", at(0))
    world.label_event(changed, "Incident-Comms::Status-Page", at(5))
    world.label_event(changed, "S1", at(20))
    world.label_event(changed, "severity::2", at(25), action="remove")
    world.production_issue(102, labels=["severity::4"])
    with Session(sqlite_engine) as session:
        found = severities(session=session, project=PRODUCTION, iids=[101, 102, 103])
        elsewhere = severities(session=session, project="another/project", iids=[101])
        levels = label_levels(session=session)
    assert sorted(found) == [101, 102]
    assert [found[101].at(at(m)) for m in (-5, 0, 19, 20, 40)] == [3, 3, 3, 1, 1]
    assert found[102].at(at(0)) == 4
    assert elsewhere == {}
    assert levels == {"severity::3": 3, "S1": 1}


def test_whole_columns_follow_the_same_rule_and_default_to_severity_3():
    adds = pd.DataFrame(
        {
            "iid": pd.Series([7, 7], dtype="int64"),
            "when": pd.Series([at(10), at(30)], dtype="datetime64[us, UTC]"),
            "level": pd.Series([2, 1], dtype="int64"),
        }
    )
    current = pd.Series({7: 1.0, 8: 4.0})
    iids = pd.Series([7, 7, 7, 8, 9, None], dtype="float64")
    moments = pd.Series([at(0), at(20), at(40), at(0), at(0), at(0)], dtype="datetime64[us, UTC]")
    found = severity_in_effect(iids, moments, (adds, current))
    assert found.tolist() == [2, 2, 1, 4, 3, 3]
