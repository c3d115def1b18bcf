"""The handover page preselects the shift whose handover is due nearest now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cmoc_core import handover

DAY = datetime(2026, 2, 2, tzinfo=UTC)
URL = "https://gitlab.com/gitlab-com/support/dotcom/cmoc-handover/-/issues/1"


def shift(user: str, start_hour: int, *, handed_over: bool = False) -> handover.Shift:
    start = DAY + timedelta(hours=start_hour)
    return handover.Shift(
        user_id=user,
        person=user,
        region=None,
        start=start,
        end=start + timedelta(hours=8),
        handover_url=URL if handed_over else None,
    )


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def test_a_shift_ended_within_two_hours_without_handover_comes_before_the_one_on_call():
    apac, emea = shift("APAC", 0), shift("EMEA", 8)
    assert handover.current_shift([emea, apac], at(9)) == apac
    assert handover.current_shift([emea, apac], at(9.5)) == apac
    # Once handed over, the shift on call; without any to hand over, the latest ended.
    handed = shift("APAC", 0, handed_over=True)
    assert handover.current_shift([emea, handed], at(9)) == emea
    assert handover.current_shift([handed], at(12)) == handed
    assert handover.current_shift([], at(12)) is None


def test_the_shift_ending_nearest_now_wins_among_those_still_to_hand_over():
    apac, emea = shift("APAC", 0), shift("EMEA", 8)
    # EMEA ends in 30 minutes; APAC's handover stopped counting at 10:00.
    assert handover.current_shift([emea, apac], at(15.5)) == emea
    amer = shift("AMER", 16)
    # AMER is on call, but EMEA ended 90 minutes ago and may still be handed over.
    assert handover.current_shift([amer, emea, apac], at(17.5)) == emea
