"""Drafts: a form's values saved under a key as they are typed, so a reload or a restart loses
nothing, until what they were for is done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from cmoc_core.models import Draft


def load(*, session: Session, key: str) -> dict[str, Any]:
    """The values saved under `key`, or an empty dict."""
    draft = session.get(Draft, key)
    return dict(draft.values) if draft else {}


def save(*, session: Session, key: str, values: dict[str, Any], now: datetime) -> None:
    """Keep `values` under `key`, replacing what was saved there."""
    draft = session.get(Draft, key) or Draft(key=key)
    draft.values, draft.updated_at = dict(values), now
    session.add(draft)


def discard(*, session: Session, key: str) -> None:
    """Forget the values saved under `key`, if any."""
    draft = session.get(Draft, key)
    if draft is not None:
        session.delete(draft)
