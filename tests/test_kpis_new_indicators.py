"""Time to first public update (kpis.md 8) and announced updates kept (kpis.md 9).

Each test builds a small world, links its pages as the sync does, and checks every figure
against sums worked out by hand from kpis.md (the comments show them).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from cmoc_core.cli import main
from cmoc_core.kpi_results import Known, Unmatched
from cmoc_core.kpis import compute_kpis
from cmoc_core.storage import session_scope
from tests.kpi_worlds import (
    CMOC_SCHEDULE,
    CMOC_SERVICE,
    CMOC_SERVICE_2,
    FEBRUARY,
    HANDOVER,
    LIVE_PAGE,
    OTHER_SERVICE,
    PRACTICE_PAGE,
    PRODUCTION,
    SETTINGS,
    SHADOW_SCHEDULE,
    World,
    utc,
)

INVESTIGATING, IDENTIFIED, MONITORING = 100, 200, 300


def report(engine: Engine, settings=SETTINGS, since=FEBRUARY[0], until=FEBRUARY[1]):
    with session_scope(engine) as session:
        return compute_kpis(session=session, settings=settings, since=since, until=until)


def issue_title(iid: int) -> str:
    return f"Database down https://gitlab.com/{PRODUCTION}/-/issues/{iid}"


def paged_world(world: World) -> dict[str, str]:
    """February 2: Alice is on call 08:00-16:00, Bob 16:00-24:00.

    - page A 09:00 names issue 4101 in its title; incident 1 (issue 4101) first posts at 10:15,
      75 minutes later: too late for the 60-minute window, linked by the issue number alone;
    - page B 11:00 names no issue; incident 2 opens at 11:20: linked by time, 20 minutes;
    - a practice page at 12:00 links the practice incident opened at 12:05: never counted;
    - incident 3 opens at 13:00; only a page of another service came before it: not counted;
    - pages at 16:10 and 16:30 both link incident 4 (opened 16:40) by time: the earliest
      trigger counts, 30 minutes, exactly the target; Bob was on call then.
    """
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    bob = world.person("Bob Brown", email="bob@example.com", pd_id="PBOB", gitlab_id="102")
    world.shift(alice, utc(2026, 2, 2, 8), utc(2026, 2, 2, 16))
    world.shift(bob, utc(2026, 2, 2, 16), utc(2026, 2, 3, 0))
    ids = {
        "A": world.page(utc(2026, 2, 2, 9), acked_after=3, by=alice, title=issue_title(4101)),
        "B": world.page(utc(2026, 2, 2, 11), acked_after=4, by=alice),
        "practice": world.page(utc(2026, 2, 2, 12), acked_after=2, by=alice),
        "other": world.page(utc(2026, 2, 2, 12, 50), service=OTHER_SERVICE),
        "late": world.page(utc(2026, 2, 2, 16, 30), acked_after=1, by=bob),
        "early": world.page(utc(2026, 2, 2, 16, 10), service=CMOC_SERVICE_2),
    }
    done = [(0, INVESTIGATING, "Investigating."), (10, MONITORING, "Resolved.")]
    first = world.incident(
        utc(2026, 2, 2, 10, 15), done, issue=world.production_issue(4101, labels=["severity::1"])
    )
    second = world.incident(utc(2026, 2, 2, 11, 20), done)
    world.incident(utc(2026, 2, 2, 12, 5), done, statuspage_id=PRACTICE_PAGE)
    third = world.incident(utc(2026, 2, 2, 13), done)
    fourth = world.incident(utc(2026, 2, 2, 16, 40), done, severity=2)
    world.link_pages()
    return {**ids, "1": first.id, "2": second.id, "3": third.id, "4": fourth.id}


def test_first_public_update_counts_pages_linked_by_issue_number_and_by_time(engine):
    ids = paged_world(World(engine))
    found = report(engine)
    assert found.first_public_update.as_dict() == {
        "incidents": 3,  # 1, 2 and 4; 3 had no CMOC page, the practice incident never counts
        "median_minutes": 30.0,  # of 20, 30, 75
        "p90_minutes": 66.0,  # 30 + 0.8 * (75 - 30)
        "within_target": 2,  # 20 and 30 (<= 30)
        "within_target_pct": 66.67,
        "target_minutes": 30,
    }
    rows = found.rows["first_updates"]
    assert list(rows["incident"]) == [ids["1"], ids["2"], ids["4"]]
    assert list(rows["minutes"]) == [75.0, 20.0, 30.0]
    assert list(rows["within_target"]) == [False, True, True]
    assert list(rows["severity"]) == [1, 3, 2]
    assert list(rows["person"]) == ["Alice Adams", "Alice Adams", "Bob Brown"]
    # Incident 4's page is the one at 16:10, the earlier of the two that link it.
    assert rows["triggered"].iloc[2] == utc(2026, 2, 2, 16, 10)
    by_person = {row.person: row for row in found.per_person}
    assert (
        by_person["Alice Adams"].first_updates,
        by_person["Alice Adams"].first_updates_within_target,
    ) == (2, 1)
    assert (
        by_person["Bob Brown"].first_updates,
        by_person["Bob Brown"].first_updates_within_target,
    ) == (1, 1)


def test_the_first_update_target_is_the_setting(sqlite_engine):
    paged_world(World(sqlite_engine))
    stricter = SETTINGS.model_copy(update={"cmoc_first_update_target_minutes": 20})
    figures = report(sqlite_engine, settings=stricter).first_public_update.as_dict()
    assert (figures["within_target"], figures["within_target_pct"], figures["target_minutes"]) == (
        1,  # only the 20-minute one
        33.33,
        20,
    )


def test_an_incident_counts_in_the_period_of_its_first_message_whenever_paged(sqlite_engine):
    """Paged on January 31 at 23:50; the first public message is on February 1 at 00:10."""
    world = World(sqlite_engine)
    world.page(utc(2026, 1, 31, 23, 50))
    world.incident(utc(2026, 2, 1, 0, 10), [(0, INVESTIGATING, "Investigating.")], resolved=False)
    world.link_pages()
    assert report(sqlite_engine).first_public_update.as_dict()["incidents"] == 1
    january = report(sqlite_engine, since=utc(2026, 1, 1), until=utc(2026, 2, 1))
    assert january.first_public_update.incidents == 0


def test_an_incident_without_a_linked_page_has_no_first_update_figures(sqlite_engine):
    world = World(sqlite_engine)
    world.page(utc(2026, 2, 2, 9))  # 2 hours before: outside the 60-minute window
    world.incident(utc(2026, 2, 2, 11), [(0, INVESTIGATING, "Investigating.")], resolved=False)
    world.link_pages()
    assert report(sqlite_engine).first_public_update.as_dict() == {
        "incidents": 0,
        "median_minutes": None,
        "p90_minutes": None,
        "within_target": 0,
        "within_target_pct": None,
        "target_minutes": 30,
    }


def promise_world(world: World) -> None:
    """Severity 3 updates on February 2-3; Erin on call until 24:00, Carol from midnight.

    - 10:00 "Next update in 30 minutes"; the next comes at 10:31:00 (due + 60 s): kept;
    - 10:31 "Next update in 30 minutes"; the next comes at 11:02:01 (due + 61 s): broken;
    - 11:02:01 announces nothing: a table gap, not counted here;
    - 23:40 "Next update at 00:10 UTC": due the next day; the next at 00:11:00: kept (Carol);
    - 00:11 "next update by 00:05 UTC": that is 00:05 the day after, so it came early: kept;
    - 23:50 (another incident) "Next update at 00:05 UTC"; the next at 00:06:01: broken.
    """
    erin = world.person("Erin Evans", email="erin@example.com", pd_id="PERIN", gitlab_id="105")
    carol = world.person("Carol Chen", email="carol@example.com", pd_id="PCAROL", gitlab_id="103")
    world.shift(erin, utc(2026, 2, 2, 0), utc(2026, 2, 3, 0))
    world.shift(carol, utc(2026, 2, 3, 0), utc(2026, 2, 3, 8))
    seconds = timedelta(seconds=1)
    day = utc(2026, 2, 2, 10)
    world.incident(
        day,
        [
            (0, INVESTIGATING, "Investigating. Next update in 30 minutes."),
            (31, INVESTIGATING, "Still investigating. Next update in 30 minutes."),
            (timedelta(minutes=62) + seconds, IDENTIFIED, "Cause identified."),
            (90, MONITORING, "Resolved."),
        ],
    )
    night = utc(2026, 2, 2, 23, 40)
    world.incident(
        night,
        [
            (0, INVESTIGATING, "Investigating. Next update at 00:10 UTC."),
            (31, IDENTIFIED, "Fix deploying, next update by 00:05 UTC."),
            (40, MONITORING, "Resolved."),
        ],
    )
    world.incident(
        utc(2026, 2, 2, 23, 50),
        [
            (0, INVESTIGATING, "Investigating. Next update at 00:05 UTC."),
            (timedelta(minutes=16) + seconds, MONITORING, "Resolved."),
        ],
    )


def test_announced_updates_are_kept_up_to_due_plus_60_seconds_past_midnight_too(engine):
    promise_world(World(engine))
    found = report(engine)
    assert found.announced_updates.as_dict() == {"announced": 5, "kept": 3, "kept_pct": 60.0}
    gaps = found.rows["gaps"]
    announced = gaps[gaps["announced"]].sort_values("start")
    assert list(announced["on_time"]) == [True, False, True, False, True]
    assert list(announced["due"]) == [
        utc(2026, 2, 2, 10, 30),
        utc(2026, 2, 2, 11, 1),
        utc(2026, 2, 3, 0, 10),  # past midnight: the next 00:10
        utc(2026, 2, 3, 0, 5),  # broken by one second: 00:06:01
        utc(2026, 2, 4, 0, 5),  # posted at 00:11, so the next 00:05 is a day later
    ]
    by_person = {row.person: (row.announced, row.kept) for row in found.per_person}
    # Attributed like gaps: to whoever is on call when the later update came.
    assert by_person == {"Erin Evans": (2, 1), "Carol Chen": (3, 2)}


def test_nothing_announced_gives_no_share(sqlite_engine):
    world = World(sqlite_engine)
    world.incident(
        utc(2026, 2, 2, 10),
        [(0, INVESTIGATING, "Investigating."), (10, MONITORING, "Resolved.")],
    )
    found = report(sqlite_engine)
    assert found.update_cadence.gaps == 1
    assert found.announced_updates.as_dict() == {"announced": 0, "kept": 0, "kept_pct": None}


def test_people_known_to_one_system_only_are_named(sqlite_engine):
    """Dana is one person with two spellings: PagerDuty's "Dana Diaz" and GitLab's "D. Diaz"
    (different e-mails), so her handover never counts for her shifts."""
    world = World(sqlite_engine)
    alice = world.person("Alice Adams", email="alice@example.com", pd_id="PALICE", gitlab_id="101")
    dana = world.person("Dana Diaz", email="dana@example.com", pd_id="PDANA")
    dana_gitlab = world.person("D. Diaz", email="ddiaz@example.org", gitlab_id="104")
    world.shift(alice, utc(2026, 2, 2, 0), utc(2026, 2, 2, 8))
    world.shift(dana, utc(2026, 2, 2, 8), utc(2026, 2, 2, 16))
    world.handover(alice, utc(2026, 2, 2, 8, 30))
    world.handover(dana_gitlab, utc(2026, 2, 2, 16, 30))
    world.page(utc(2026, 2, 2, 9), acked_after=2, by="PSTRANGER")  # an account never synced
    found = report(sqlite_engine)
    assert found.unmatched == (
        Unmatched("D. Diaz", Known.GITLAB),
        Unmatched("Dana Diaz", Known.PAGERDUTY),
        Unmatched("PSTRANGER", Known.NEITHER),
    )
    world.mapping("gitlab", "104", "Dana Diaz")
    assert report(sqlite_engine).unmatched == (Unmatched("PSTRANGER", Known.NEITHER),)


@pytest.fixture
def world_settings(sqlite_engine, monkeypatch):
    """The command line pointed at the world's database, with the world's configuration."""
    monkeypatch.setenv("CMOC_DATABASE_URL", str(sqlite_engine.url))
    for name, value in {
        "PAGERDUTY_CMOC_SERVICE_IDS": f"{CMOC_SERVICE},{CMOC_SERVICE_2}",
        "PAGERDUTY_CMOC_SCHEDULE_IDS": CMOC_SCHEDULE,
        "PAGERDUTY_SHADOW_SCHEDULE_IDS": SHADOW_SCHEDULE,
        "STATUSIO_STATUSPAGE_ID": LIVE_PAGE,
        "STATUSIO_PRACTICE_STATUSPAGE_ID": PRACTICE_PAGE,
        "GITLAB_PRODUCTION_PROJECT": PRODUCTION,
        "GITLAB_HANDOVER_PROJECT": HANDOVER,
        "GITLAB_TOKEN": "not-a-real-token",  # configured, so not the demo organisation
    }.items():
        monkeypatch.setenv(name, value)
    return sqlite_engine


ARGS = ["kpis", "--since", "2026-02-01", "--until", "2026-03-01"]


def test_kpis_prints_the_two_objects_in_json_csv_and_table(world_settings, capsys):
    world = World(world_settings)
    paged_world(world)
    promise_world(world)
    capsys.readouterr()
    assert main(ARGS) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data)[-3:] == ["first_public_update", "announced_updates", "per_person"]
    assert data["first_public_update"] == {
        "incidents": 3,
        "median_minutes": 30.0,
        "p90_minutes": 66.0,
        "within_target": 2,
        "within_target_pct": 66.67,
        "target_minutes": 30,
    }
    # Incidents 1-4 of the paged world add four announced-free gaps; the promises are as above.
    assert data["announced_updates"] == {"announced": 5, "kept": 3, "kept_pct": 60.0}
    assert main([*ARGS, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "first_public_update,within_target_pct,66.67" in lines
    assert "first_public_update,p90_minutes,66.0" in lines
    assert "announced_updates,kept_pct,60.0" in lines
    assert main([*ARGS, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert any(
        line.split() == ["first_public_update", "median_minutes", "30.0"]
        for line in table.splitlines()
    )
    assert any(line.split() == ["announced_updates", "kept", "3"] for line in table.splitlines())
