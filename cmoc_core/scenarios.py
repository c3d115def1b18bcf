"""The practice scenario library: scripted Incident Manager prompts kept as TOML files.

A scenario file names its title, the starting severity and, optionally, the production issue
the Incident Manager quotes; each `[[prompts]]` entry says at which minute after the start it
is played, its text, and what it changes: `page = true` for the PagerDuty page (exactly one),
`severity` for a new severity, `state` for the state the CMOC is expected to publish next.

A past incident replays as a scenario too (`from_incident`): its first real message is the page,
each later one a prompt at its real offset (divided by the chosen speed, rounded up, always at
least a minute after the one before) saying what changed without the real words, and its real
updates are the reference the CMOC's are compared against.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeGuard

from cmoc_core import handbook
from cmoc_core.models import StatusPageIncident, StatusPageMessage

FOLDER = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEVERITIES = (1, 2, 3, 4)
STATES = ("investigating", "identified", "monitoring", "resolved")
SCENARIO_FIELDS = frozenset({"title", "severity", "issue", "summary", "prompts"})
PROMPT_FIELDS = frozenset({"minute", "text", "page", "severity", "state"})
SPEEDS = (1, 2, 4, 10)
# When nothing tells a past incident's severity, as the KPIs count it (severity.py).
UNKNOWN_SEVERITY = 3
PAST_INCIDENT = re.compile(r"past-incident-(?P<speed>\d+)x-(?P<source>.+)")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Prompt:
    """One scripted line, played `minute` minutes after the drill starts."""

    minute: int
    text: str
    page: bool = False
    severity: int | None = None
    state: str | None = None

    @property
    def offset(self) -> timedelta:
        """How long after the start the prompt is played."""
        return timedelta(minutes=self.minute)


@dataclass(frozen=True)
class Reference:
    """One real update of a replayed incident: when it went out, really and on the drill's clock."""

    real_minutes: float
    minute: int
    state: str
    length: int

    @property
    def offset(self) -> timedelta:
        """How long after the drill's start its prompt is played."""
        return timedelta(minutes=self.minute)


@dataclass(frozen=True)
class Scenario:
    """A scripted practice incident; `name` is its file name without `.toml`, or says its source.

    A replayed past incident names its `source` incident and keeps its real updates as the
    `reference`.
    """

    name: str
    title: str
    severity: int
    prompts: tuple[Prompt, ...]
    summary: str = ""
    issue: int | None = None
    source: str | None = None
    reference: tuple[Reference, ...] = ()

    @property
    def page(self) -> Prompt:
        """The prompt that pages the CMOC."""
        return next(p for p in self.prompts if p.page)

    def played(self, elapsed: timedelta) -> list[Prompt]:
        """The prompts played once `elapsed` has passed since the start, in order."""
        return [p for p in self.prompts if p.offset <= elapsed]

    def upcoming(self, elapsed: timedelta) -> Prompt | None:
        """The next prompt still to be played, if any."""
        return next((p for p in self.prompts if p.offset > elapsed), None)

    def severity_at(self, elapsed: timedelta) -> int:
        """The severity in effect `elapsed` after the start."""
        changes = [p.severity for p in self.played(elapsed) if p.severity is not None]
        return changes[-1] if changes else self.severity


def past_incident_name(incident_id: str, speed: int) -> str:
    """The scenario name of a past incident replayed at `speed`; `replay_of` reads it back."""
    return f"past-incident-{speed}x-{incident_id}"


def replay_title(incident_name: str) -> str:
    """The title of a drill that replays the incident of this name."""
    return f"Replay: {incident_name}"


def replay_of(name: str) -> tuple[str, int] | None:
    """The past incident and the speed a scenario name replays, or None for a library name."""
    match = PAST_INCIDENT.fullmatch(name)
    return (match["source"], int(match["speed"])) if match else None


def from_incident(
    *,
    incident: StatusPageIncident,
    messages: Sequence[StatusPageMessage],
    levels: Sequence[int | None],
    speed: int = 1,
) -> Scenario:
    """A past incident as a drill: its messages, oldest first, each with its severity."""
    if speed not in SPEEDS:
        raise ValueError(f"speed {speed} is not one of {_either(SPEEDS)}")
    if not messages:
        raise ValueError(f"{incident.name} has no message to replay")
    first = messages[0].posted_at
    resolving = len(messages) - 1 if incident.resolved else -1
    prompts: list[Prompt] = []
    reference: list[Reference] = []
    before: StatusPageMessage | None = None
    severity = opening = levels[0] or UNKNOWN_SEVERITY
    for number, (message, level) in enumerate(zip(messages, levels, strict=True)):
        real = (message.posted_at - first).total_seconds() / 60
        minute = math.ceil(real / speed)
        if prompts:
            minute = max(minute, prompts[-1].minute + 1)
        state = "resolved" if number == resolving else _state(message.state)
        level = level or severity
        prompts.append(
            Prompt(
                minute=minute,
                text=_what_changed(message, before, state, level, severity, incident.name),
                page=before is None,
                severity=level if level != severity else None,
                state=state,
            )
        )
        reference.append(Reference(round(real, 2), minute, state, len(message.details)))
        before, severity = message, level
    pace = "in real time" if speed == 1 else f"{speed}× faster than it happened"
    return Scenario(
        name=past_incident_name(incident.id, speed),
        title=replay_title(incident.name),
        severity=opening,
        prompts=tuple(prompts),
        summary=f"{len(messages)} real update(s), replayed {pace}.",
        issue=incident.production_issue_iid,
        source=incident.id,
        reference=tuple(reference),
    )


def _state(code: int) -> str:
    """The state a Status.io code names; an unknown code reads as investigating."""
    name = handbook.state_name(code).lower()
    return name if name in STATES else STATES[0]


def _what_changed(
    message: StatusPageMessage,
    before: StatusPageMessage | None,
    state: str,
    level: int,
    severity: int,
    title: str,
) -> str:
    """The Incident Manager's words for a real message: what changed, never the real wording."""
    status = handbook.status_name(message.status)
    if before is None:
        return (
            f"PagerDuty page: {title}. Severity S{level}; the Incident Manager asks for the "
            f"status page incident: {state}, components {status}."
        )
    if state == "resolved":
        return "IM: all clear, the incident is over: resolve it on the status page."
    changes = []
    if message.state != before.state:
        changes.append(f"we are now {state}")
    if level != severity:
        changes.append(f"severity is now S{level}")
    if message.status != before.status:
        changes.append(f"components are now {status}")
    said = "; ".join(changes) if changes else f"nothing new, still {state}"
    return f"IM: {said}. Time for an update."


@dataclass(frozen=True)
class Library:
    """The valid scenarios by name, and one problem line for each file that is not valid."""

    scenarios: dict[str, Scenario]
    problems: list[str]


def load_library(folder: Path = FOLDER) -> Library:
    """Every `*.toml` scenario in `folder`; a broken file is reported and never hides the rest."""
    scenarios, problems = {}, []
    for path in sorted(folder.glob("*.toml")):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            problems.append(str(exc))
        else:
            scenarios[scenario.name] = scenario
    return Library(scenarios, problems)


def load_scenario(path: Path) -> Scenario:
    """The scenario in one file, or ScenarioError naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path.name}: cannot be read: {exc.strerror}") from None
    try:
        return _scenario(path.stem, data)
    except ValueError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


def _scenario(name: str, data: dict[str, Any]) -> Scenario:
    _known_fields(data, SCENARIO_FIELDS, "the scenario")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("the title is missing")
    if "severity" not in data:
        raise ValueError("the starting severity is missing")
    severity = _severity(data["severity"], "the starting severity")
    issue = data.get("issue")
    if issue is not None and (not _whole(issue) or issue < 1):
        raise ValueError(f"issue {issue!r} is not the number of a production issue")
    raw_prompts = data.get("prompts")
    if not isinstance(raw_prompts, list) or not raw_prompts:
        raise ValueError("there are no prompts: add [[prompts]] entries with a minute and a text")
    prompts = tuple(_prompt(number, raw) for number, raw in enumerate(raw_prompts, start=1))
    for number, (earlier, later) in enumerate(zip(prompts, prompts[1:], strict=False), start=2):
        if later.minute <= earlier.minute:
            raise ValueError(
                f"prompt {number} comes at minute {later.minute}, not after prompt {number - 1} "
                f"at minute {earlier.minute}: prompt times must increase"
            )
    pages = [number for number, p in enumerate(prompts, start=1) if p.page]
    if len(pages) != 1:
        raise ValueError(
            "no prompt pages the CMOC: mark the PagerDuty page with page = true"
            if not pages
            else f"prompts {', '.join(map(str, pages))} each page the CMOC; a drill has one page"
        )
    return Scenario(
        name=name,
        title=title.strip(),
        severity=severity,
        prompts=prompts,
        summary=str(data.get("summary") or "").strip(),
        issue=issue,
    )


def _prompt(number: int, raw: Any) -> Prompt:
    where = f"prompt {number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not a table: write it as a [[prompts]] entry")
    _known_fields(raw, PROMPT_FIELDS, where)
    minute = raw.get("minute")
    if not _whole(minute) or minute < 0:
        raise ValueError(f"{where} needs a minute: a whole number of minutes from the start")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where} has no text")
    page = raw.get("page", False)
    if not isinstance(page, bool):
        raise ValueError(f"{where}: page must be true or false")
    severity = raw.get("severity")
    state = raw.get("state")
    if state is not None and (not isinstance(state, str) or state.lower() not in STATES):
        raise ValueError(
            f"{where} sets the state {state!r}, which is unknown; use {_either(STATES)}"
        )
    return Prompt(
        minute=minute,
        text=text.strip(),
        page=page,
        severity=None if severity is None else _severity(severity, f"{where}'s severity"),
        state=state.lower() if state else None,
    )


def _severity(value: Any, what: str) -> int:
    if not _whole(value) or value not in SEVERITIES:
        raise ValueError(f"{what} {value!r} is unknown; use {_either(SEVERITIES)}")
    return int(value)


def _known_fields(data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"{where} has the unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _either(choices: tuple[Any, ...]) -> str:
    words = [str(c) for c in choices]
    return ", ".join(words[:-1]) + " or " + words[-1]
