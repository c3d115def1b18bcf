"""The practice scenario library: scripted Incident Manager prompts kept as TOML files.

A scenario file names its title, the starting severity and, optionally, the production issue
the Incident Manager quotes; each `[[prompts]]` entry says at which minute after the start it
is played, its text, and what it changes: `page = true` for the PagerDuty page (exactly one),
`severity` for a new severity, `state` for the state the CMOC is expected to publish next.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeGuard

FOLDER = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEVERITIES = (1, 2, 3, 4)
STATES = ("investigating", "identified", "monitoring", "resolved")
SCENARIO_FIELDS = frozenset({"title", "severity", "issue", "summary", "prompts"})
PROMPT_FIELDS = frozenset({"minute", "text", "page", "severity", "state"})


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
class Scenario:
    """A scripted practice incident; `name` is its file name without `.toml`."""

    name: str
    title: str
    severity: int
    prompts: tuple[Prompt, ...]
    summary: str = ""
    issue: int | None = None

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
