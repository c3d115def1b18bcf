"""The handbook's stage checklist of an incident: each step done, to be done, or waiting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cmoc_core import composer, handbook
from cmoc_core.handbook import Stage, StepKey
from cmoc_core.models import WorkingIncident


@dataclass(frozen=True)
class ChecklistStep:
    """One step: when it was done; else the label of what does it, or a note saying why not."""

    key: StepKey
    text: str
    done_at: datetime | None = None
    action: str | None = None
    note: str | None = None


# Never work left behind in an earlier stage: updating on the cadence goes on to the end, and
# the handbook says Monitoring may be skipped.
NEVER_LEFT_BEHIND = frozenset({StepKey.UPDATE_ON_CADENCE, StepKey.START_MONITORING})


@dataclass(frozen=True)
class Checklist:
    """An incident's steps stage by stage, and the stage the incident is in."""

    current: Stage
    stages: tuple[tuple[Stage, tuple[ChecklistStep, ...]], ...]

    def left_behind(self, stage: Stage) -> tuple[ChecklistStep, ...]:
        """Steps not done of a stage the incident has moved past (not ongoing or optional ones)."""
        order = list(Stage)
        if order.index(stage) >= order.index(self.current):
            return ()
        steps = dict(self.stages)[stage]
        return tuple(s for s in steps if s.done_at is None and s.key not in NEVER_LEFT_BEHIND)

    def open_at_first(self, stage: Stage) -> bool:
        """Shown open when first drawn: the current stage, and earlier ones with work left."""
        return stage == self.current or bool(self.left_behind(stage))


def checklist(
    incident: WorkingIncident,
    *,
    actions: Mapping[StepKey, str] | None = None,
    notes: Mapping[StepKey, str] | None = None,
) -> Checklist:
    """The incident's checklist; a step not done gets its note, else its action label, if any."""
    actions, notes = actions or {}, notes or {}

    def row(step: handbook.Step) -> ChecklistStep:
        done = incident.steps.get(step.key)
        if done:
            return ChecklistStep(step.key, step.text, done_at=datetime.fromisoformat(done))
        if step.key in notes:
            return ChecklistStep(step.key, step.text, note=notes[step.key])
        return ChecklistStep(step.key, step.text, action=actions.get(step.key))

    return Checklist(
        current=composer.stage(incident),
        stages=tuple(
            (stage, tuple(row(s) for s in handbook.STEPS if s.stage == stage)) for stage in Stage
        ),
    )
