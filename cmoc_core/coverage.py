"""What history covers: the sources it is synced from and how far back a sync or report reaches."""

from __future__ import annotations

from datetime import date

SOURCES = ("statusio", "gitlab", "pagerduty")
EARLIEST_DAY = date(2000, 1, 1)
LONGEST_YEARS = 10


def years_before(day: date, years: int) -> date:
    """The same day `years` years earlier (28 February for a 29 February without one)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def earliest_since(today: date) -> date:
    """The earliest day a sync may re-pull from."""
    return max(EARLIEST_DAY, years_before(today, LONGEST_YEARS))
