"""UTC timestamps: parsing what the APIs send and writing what they expect."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str | None) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO-8601 string (`Z` or offset), or None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.strip())  # reads `Z` since Python 3.11
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """`2026-01-01T10:00:00Z` for an aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MISSING = "—"  # a value not known, as people read it
MOMENT = "%d-%m-%Y %H:%M"  # the one date format of the pages, in UTC


def moment(at: datetime | None) -> str:
    """`29-11-2026 13:05 UTC`: the one date format of the operational pages, or a dash."""
    return MISSING if at is None else f"{at.astimezone(UTC).strftime(MOMENT)} UTC"


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def to_minute(moment: datetime) -> datetime:
    """The moment in UTC without seconds, as Status.io plans maintenance."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)
