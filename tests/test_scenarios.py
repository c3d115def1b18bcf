"""The scenario library: every shipped script loads; a broken file is named and hides nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmoc_core.models import StatusPageIncident, StatusPageMessage
from cmoc_core.scenarios import (
    FOLDER,
    ScenarioError,
    from_incident,
    load_library,
    load_scenario,
    replay_of,
)

VALID = """\
title = "Elevated 5xx errors on GitLab.com"
severity = 2
issue = 18110

[[prompts]]
minute = 0
text = "PagerDuty page: elevated 5xx on GitLab.com"
page = true
state = "investigating"

[[prompts]]
minute = 3
text = "IM: we believe it's the database, S2"

[[prompts]]
minute = 12
text = "IM: severity raised to S1"
severity = 1

[[prompts]]
minute = 25
text = "IM: fix deployed, monitoring"
state = "Monitoring"

[[prompts]]
minute = 40
text = "IM: all clear"
state = "resolved"
"""


def test_every_shipped_scenario_loads():
    library = load_library()
    assert library.problems == []
    assert len(library.scenarios) >= 5
    for name, scenario in library.scenarios.items():
        assert (FOLDER / f"{name}.toml").is_file()
        assert scenario.title and scenario.severity in (1, 2, 3, 4)
        assert scenario.page.minute == scenario.prompts[0].minute
        minutes = [p.minute for p in scenario.prompts]
        assert minutes == sorted(set(minutes))
        assert scenario.prompts[-1].state == "resolved"


def test_a_scenario_plays_its_prompts_and_severity_changes_on_time(tmp_path):
    path = tmp_path / "database.toml"
    path.write_text(VALID)
    scenario = load_scenario(path)
    assert scenario.name == "database" and scenario.issue == 18110
    assert [p.minute for p in scenario.played(timedelta(minutes=11, seconds=59))] == [0, 3]
    assert scenario.upcoming(timedelta(minutes=11, seconds=59)).minute == 12
    assert scenario.severity_at(timedelta(minutes=11, seconds=59)) == 2
    assert scenario.severity_at(timedelta(minutes=12)) == 1
    assert scenario.prompts[3].state == "monitoring"
    assert scenario.upcoming(timedelta(minutes=40)) is None


def broken(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


MALFORMED = {
    "bad TOML": (
        'title = "Unclosed\n',
        "broken.toml: not valid TOML",
    ),
    "missing title": (
        broken(VALID, 'title = "Elevated 5xx errors on GitLab.com"\n', ""),
        "broken.toml: the title is missing",
    ),
    "blank title": (
        broken(VALID, '"Elevated 5xx errors on GitLab.com"', '"  "'),
        "broken.toml: the title is missing",
    ),
    "prompt times not increasing": (
        broken(VALID, "minute = 12", "minute = 3"),
        "broken.toml: prompt 3 comes at minute 3, not after prompt 2 at minute 3: "
        "prompt times must increase",
    ),
    "unknown starting severity": (
        broken(VALID, "severity = 2", "severity = 5"),
        "broken.toml: the starting severity 5 is unknown; use 1, 2, 3 or 4",
    ),
    "missing starting severity": (
        broken(VALID, "severity = 2\n", ""),
        "broken.toml: the starting severity is missing",
    ),
    "unknown prompt severity": (
        broken(VALID, "severity = 1", 'severity = "S1"'),
        "broken.toml: prompt 3's severity 'S1' is unknown; use 1, 2, 3 or 4",
    ),
    "unknown state": (
        broken(VALID, 'state = "Monitoring"', 'state = "fixed"'),
        "broken.toml: prompt 4 sets the state 'fixed', which is unknown; "
        "use investigating, identified, monitoring or resolved",
    ),
    "no page": (
        broken(VALID, "page = true\n", ""),
        "broken.toml: no prompt pages the CMOC: mark the PagerDuty page with page = true",
    ),
    "two pages": (
        broken(VALID, "minute = 3\n", "minute = 3\npage = true\n"),
        "broken.toml: prompts 1, 2 each page the CMOC; a drill has one page",
    ),
    "no prompts": (
        'title = "Quiet"\nseverity = 3\n',
        "broken.toml: there are no prompts",
    ),
    "prompt without a minute": (
        broken(VALID, "minute = 40\n", ""),
        "broken.toml: prompt 5 needs a minute: a whole number of minutes from the start",
    ),
    "prompt without text": (
        broken(VALID, 'text = "IM: all clear"\n', ""),
        "broken.toml: prompt 5 has no text",
    ),
    "misspelt field": (
        broken(VALID, "severity = 1", "sevrity = 1"),
        "broken.toml: prompt 3 has the unknown field 'sevrity'",
    ),
    "bad issue number": (
        broken(VALID, "issue = 18110", 'issue = "#18110"'),
        "broken.toml: issue '#18110' is not the number of a production issue",
    ),
}


@pytest.mark.parametrize("text, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_named_with_its_problem_and_the_others_still_load(
    tmp_path: Path, text: str, message: str
):
    (tmp_path / "good.toml").write_text(VALID)
    (tmp_path / "broken.toml").write_text(text)
    (tmp_path / "notes.txt").write_text("not a scenario")
    library = load_library(tmp_path)
    assert list(library.scenarios) == ["good"]
    assert len(library.problems) == 1
    assert library.problems[0].startswith(message)
    with pytest.raises(ScenarioError, match="^broken.toml: "):
        load_scenario(tmp_path / "broken.toml")


def test_a_file_that_is_not_utf8_is_reported_as_not_toml(tmp_path):
    (tmp_path / "latin.toml").write_bytes('title = "Caf\xe9"'.encode("latin-1"))
    (tmp_path / "good.toml").write_text(VALID)
    library = load_library(tmp_path)
    assert list(library.scenarios) == ["good"]
    assert library.problems[0].startswith("latin.toml: not valid TOML")


OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# (minutes after the first message, state, component status, what the CMOC wrote)
REAL = [
    (0, 100, 300, "We are investigating slow merge requests on GitLab.com."),
    (12.5, 100, 300, "We are still investigating slow merge requests."),
    (30, 200, 400, "We have identified a misbehaving Gitaly node and are draining it."),
    (61, 300, 100, "The Gitaly node is drained; we are monitoring merge request times."),
    (95, 300, 100, "Merge requests are back to normal. This incident is resolved."),
]


def past_incident(resolved: bool = True) -> tuple[StatusPageIncident, list[StatusPageMessage]]:
    incident = StatusPageIncident(
        id="5f1a",
        statuspage_id="public",
        name="Slow merge requests",
        datetime_open=OPENED,
        resolved=resolved,
        production_issue_iid=18200,
    )
    messages = [
        StatusPageMessage(
            id=f"m{n}",
            incident_id="5f1a",
            details=text,
            state=state,
            status=status,
            posted_at=OPENED + timedelta(minutes=after),
        )
        for n, (after, state, status, text) in enumerate(REAL)
    ]
    return incident, messages


def test_a_past_incident_replays_its_messages_at_their_real_offsets():
    incident, messages = past_incident()
    scenario = from_incident(incident=incident, messages=messages, levels=[2, 2, 1, 1, 1], speed=1)

    assert [p.minute for p in scenario.prompts] == [0, 13, 30, 61, 95]
    assert [p.page for p in scenario.prompts] == [True, False, False, False, False]
    assert [p.state for p in scenario.prompts] == [
        "investigating",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert scenario.severity == 2
    assert [p.severity for p in scenario.prompts] == [None, None, 1, None, None]
    assert scenario.severity_at(timedelta(minutes=29)) == 2
    assert scenario.severity_at(timedelta(minutes=30)) == 1
    assert "Slow merge requests" in scenario.prompts[0].text
    assert "we are now identified; severity is now S1" in scenario.prompts[2].text
    assert "components are now Partial Service Disruption" in scenario.prompts[2].text
    for prompt, (_, _, _, real) in zip(scenario.prompts, REAL, strict=True):
        assert real not in prompt.text and "Gitaly" not in prompt.text
    assert scenario.issue == 18200 and scenario.source == "5f1a"
    assert replay_of(scenario.name) == ("5f1a", 1)
    assert replay_of("database-failover") is None
    assert [(r.real_minutes, r.minute, r.state) for r in scenario.reference] == [
        (0, 0, "investigating"),
        (12.5, 13, "investigating"),
        (30, 30, "identified"),
        (61, 61, "monitoring"),
        (95, 95, "resolved"),
    ]
    assert [r.length for r in scenario.reference] == [len(r[3]) for r in REAL]


@pytest.mark.parametrize(
    "speed, minutes", [(2, [0, 7, 15, 31, 48]), (4, [0, 4, 8, 16, 24]), (10, [0, 2, 3, 7, 10])]
)
def test_an_accelerated_replay_divides_the_offsets_and_rounds_them_up(speed, minutes):
    incident, messages = past_incident()
    scenario = from_incident(incident=incident, messages=messages, levels=[None] * 5, speed=speed)
    assert [p.minute for p in scenario.prompts] == minutes
    assert [r.minute for r in scenario.reference] == minutes
    assert [r.real_minutes for r in scenario.reference] == [0, 12.5, 30, 61, 95]
    assert replay_of(scenario.name) == ("5f1a", speed)
    assert scenario.severity == 3  # nothing tells the severity: counted as S3


def test_updates_closer_than_the_speed_allows_still_come_a_minute_apart():
    incident, messages = past_incident(resolved=False)
    for n, message in enumerate(messages):
        message.posted_at = OPENED + timedelta(seconds=20 * n)
    scenario = from_incident(incident=incident, messages=messages, levels=[2] * 5, speed=10)
    assert [p.minute for p in scenario.prompts] == [0, 1, 2, 3, 4]
    assert scenario.prompts[-1].state == "monitoring"  # still open: no resolve to replay


def test_a_replay_needs_a_known_speed_and_a_message():
    incident, messages = past_incident()
    with pytest.raises(ValueError, match="speed 3 is not one of 1, 2, 4 or 10"):
        from_incident(incident=incident, messages=messages, levels=[None] * 5, speed=3)
    with pytest.raises(ValueError, match="has no message to replay"):
        from_incident(incident=incident, messages=[], levels=[], speed=1)
