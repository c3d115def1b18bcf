"""The audit log as people read it: who did what, where, when, and how it ended, in words.

An entry keeps the action's kind, its target and a free-text detail; entries written by any
version of the app read the same, because the words come from the action's kind (commands.WORDS)
and never from the text stored with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from cmoc_core.commands import MISSING, Action, in_words, page_of, plain
from cmoc_core.models import AuditEntry, PagerDutyIncident, PublishStatus
from cmoc_core.outbox import ARRIVED_NOTE, CONFIRMED_NOTE, SENT_AGAIN_NOTE


class Verdict(StrEnum):
    """How an action ended, as the Result column says it."""

    SENT = "Sent"
    CONFIRMED = "Sent (confirmed with the service after an unclear outcome)"
    SENT_AGAIN = "Sent again after checking it had not arrived"
    ARRIVED = "Sent (seen at its destination)"
    RECORDED = "Recorded"
    FAILED = "Failed"
    UNCLEAR = "Unclear"


@dataclass(frozen=True)
class AuditLine:
    """One audit entry in words: When, Who, What, Where and Result."""

    at: datetime
    who: str
    what: str
    where: str
    result: str


def _note(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{actor}"), ".+"), re.DOTALL)


_NOTES = (
    (_note(CONFIRMED_NOTE), Verdict.CONFIRMED),
    (_note(SENT_AGAIN_NOTE), Verdict.SENT_AGAIN),
    (_note(ARRIVED_NOTE), Verdict.ARRIVED),
)


def lines(*, session: Session, entries: Iterable[AuditEntry]) -> list[AuditLine]:
    """Entries in words, each PagerDuty page named by its incident number from the sync."""
    entries = list(entries)
    pages = {page for entry in entries if (page := page_of(entry.target))}
    numbers: dict[str, int] = {}
    if pages:
        query = select(PagerDutyIncident).where(col(PagerDutyIncident.id).in_(pages))
        numbers = {page.id: page.incident_number for page in session.exec(query)}
    return [line(entry, numbers=numbers) for entry in entries]


def line(entry: AuditEntry, *, numbers: Mapping[str, int] | None = None) -> AuditLine:
    """One entry in words; `numbers` gives PagerDuty pages' incident numbers by page id."""
    who = entry.actor.strip() or MISSING
    if entry.action == Action.CHANGE_FACTS:
        # A change of facts is said by its detail, written in words when it was made.
        return AuditLine(entry.at, who, entry.detail, "Incident facts", Verdict.RECORDED)
    number = (numbers or {}).get(page_of(entry.target) or "")
    said = in_words(entry.action, entry.target, number=number)
    detail = plain(entry.detail.strip(), entry.target, number=number)
    return AuditLine(
        at=entry.at,
        who=who,
        what=said.what,
        where=said.service,
        result=_result(entry.result, detail, recorded=said.recorded),
    )


def _result(status: str, detail: str, *, recorded: bool) -> str:
    """`Sent`, `Failed: <why>`, `Unclear: <why>`: never the stored codes or raw data."""
    # Entries of the first versions kept the action's payload, as JSON, as their detail.
    why = "" if detail.startswith(("{", "[")) else detail
    if status == PublishStatus.SENT:
        if recorded:
            return Verdict.RECORDED
        return next((v for note, v in _NOTES if note.fullmatch(why)), Verdict.SENT)
    if status == PublishStatus.FAILED:
        return f"{Verdict.FAILED}: {why}" if why else Verdict.FAILED
    if status == PublishStatus.UNKNOWN:
        return f"{Verdict.UNCLEAR}: {why}" if why else Verdict.UNCLEAR
    return MISSING
