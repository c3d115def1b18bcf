"""Status-page templates that fit the incident: its title, components and issue link, its state.

A template is a start the CMOC edits, never words about another incident: each one is filled in
from the incident and comes with the state and status the handbook gives that kind of update, and
its text before the final link fits the 220 characters the handbook allows. The handbook's own
example updates stay available, labelled as examples, and are never a form's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cmoc_core import handbook, textlimits
from cmoc_core.handbook import ComponentStatus, IncidentState
from cmoc_core.publiccheck import DraftKind

EXAMPLE_NOTE = (
    "A handbook example about another incident: adapt its words to this one before publishing."
)
_NO_MATERIAL_LEAD = "No material updates to report. "
_LABEL_WORDS = 48


@dataclass(frozen=True)
class Subject:
    """What a template is filled in with: the incident's title, affected components, issue link."""

    title: str
    components: tuple[str, ...] = ()
    issue_url: str = ""


@dataclass(frozen=True)
class Template:
    """A starting text and the state and status it goes with.

    `state` None keeps the state chosen in the form; `status` None keeps the status the incident
    has, as the handbook asks of every update but the resolve. `example` marks the handbook's
    own words about another incident.
    """

    label: str
    text: str
    state: IncidentState | None = None
    status: ComponentStatus | None = None
    example: bool = False


@lru_cache(maxsize=64)
def for_form(kind: DraftKind, subject: Subject) -> tuple[Template, ...]:
    """The templates a form offers, the incident's own first and the handbook's examples last."""
    if kind is DraftKind.RESOLVE:
        return (resolved(subject),)
    own = [investigating(subject), identified(subject)]
    if kind is DraftKind.UPDATE:
        own.append(monitoring(subject))
        return (*own, *generic_examples(subject), *no_material_examples(subject))
    return (*own, *generic_examples(subject))


@lru_cache(maxsize=64)
def default(kind: DraftKind, subject: Subject) -> Template | None:
    """The template a form starts from: investigating when creating, resolved when resolving."""
    if kind is DraftKind.CREATE:
        return investigating(subject)
    if kind is DraftKind.RESOLVE:
        return resolved(subject)
    return None


def investigating(subject: Subject) -> Template:
    """The first update: the issue is known, its cause not yet."""
    text = _fit(subject, "we're investigating the cause.", "Follow along in:")
    return Template("Investigating: cause not known yet", text, IncidentState.INVESTIGATING)


def identified(subject: Subject) -> Template:
    """The cause is known and a fix is being worked on."""
    text = _fit(subject, "we've identified the cause and are working on a fix.", "Details:")
    return Template("Identified: cause known, fix under way", text, IncidentState.IDENTIFIED)


def monitoring(subject: Subject, minutes: int = handbook.MONITORING_MINUTES) -> Template:
    """A fix is out: back to normal, monitored for `minutes` before resolving (Stage 3)."""
    opening = (
        "systems are back to normal and we're monitoring. If there are no recurrences in the "
        f"next {minutes} minutes, we'll resolve it."
    )
    text = _fit(subject, opening, "Details:")
    return Template("Monitoring (with duration)", text, IncidentState.MONITORING)


def resolved(subject: Subject) -> Template:
    """The resolving update: resolved, operating normally, and the issue link again (Stage 4)."""
    opening = "this incident has been resolved and all systems are operating normally."
    text = _fit(subject, opening, "Details are in:")
    return Template("Resolved (with issue link)", text, status=ComponentStatus.OPERATIONAL)


def generic_examples(subject: Subject) -> tuple[Template, ...]:
    """The handbook's generic first updates, with this incident's issue link."""
    return tuple(
        _example("Handbook example", text.format(issue_url=""), text, subject)
        for text in handbook.GENERIC_UPDATES
    )


def no_material_examples(subject: Subject) -> tuple[Template, ...]:
    """The handbook's "no material updates" examples, with this incident's issue link."""
    return tuple(
        _example(
            "Handbook example (no material updates)",
            text.format(link="").removeprefix(_NO_MATERIAL_LEAD),
            text,
            subject,
        )
        for text in handbook.NO_MATERIAL_UPDATES
    )


def _example(kind: str, words: str, text: str, subject: Subject) -> Template:
    link = subject.issue_url.strip()
    filled = text.format(issue_url=link, link=link).strip()
    return Template(f"{kind}: {_shortened(words.strip())}", filled, example=True)


def _shortened(words: str) -> str:
    """The first words of `words`, cut between words, with an ellipsis when cut."""
    if len(words) <= _LABEL_WORDS:
        return words
    cut = words[: _LABEL_WORDS + 1].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}…"


def _fits(text: str) -> bool:
    report = textlimits.check_length(text)
    return not (report.body_over or report.over_limit)


def _fit(subject: Subject, opening: str, link_lead: str) -> str:
    """The title, `opening`, the affected components and the issue link, fitted to X.

    What does not fit the 220 characters before the link goes first: the last components (said
    as "and others"), then the title's last words.
    """
    link = subject.issue_url.strip()
    names = list(dict.fromkeys(name.strip() for name in subject.components if name.strip()))

    def build(title: str, affected: str) -> str:
        parts = [f"{title}: {opening}" if title else opening[:1].upper() + opening[1:]]
        if affected:
            parts.append(f"Affected: {affected}.")
        if link:
            parts.append(f"{link_lead} {link}")
        return " ".join(parts)

    title = subject.title.strip().rstrip(".:;,")
    listed = [", ".join(names)] if names else []
    listed += [f"{', '.join(names[:shown])} and others" for shown in range(len(names) - 1, 0, -1)]
    for affected in [*listed, ""]:
        text = build(title, affected)
        if _fits(text):
            return text
    words = title.split()
    while words:
        words.pop()
        text = build(f"{' '.join(words)}…" if words else "", "")
        if _fits(text):
            return text
    return build("", "")
