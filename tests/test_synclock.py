"""The sync lock: one holder per database, across threads and processes, on both databases."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import timedelta

from sqlalchemy.engine import Engine

from cmoc_core.synclock import EXPIRES_AFTER, current_holder, sync_lock
from cmoc_core.timeutil import utc_now
from tests.support.processes import ROOT

# A process that takes the lock (or not), says which, and keeps it for a while.
TAKE_AND_HOLD = textwrap.dedent(
    """
    import sys, time
    from cmoc_core.storage import make_engine
    from cmoc_core.synclock import sync_lock

    engine = make_engine(sys.argv[1])
    start_at, hold = float(sys.argv[2]), float(sys.argv[3])
    while time.time() < start_at:
        pass
    with sync_lock(engine, holder=sys.argv[4]) as held:
        print("held" if held else "refused: " + held.message, flush=True)
        time.sleep(hold if held else 0)
    """
)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def take_in_process(engine: Engine, *, start_at: float, hold: float, holder: str):
    return subprocess.Popen(
        [sys.executable, "-c", TAKE_AND_HOLD, url_of(engine), str(start_at), str(hold), holder],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_holder_is_refused_with_the_first_ones_start_time(engine):
    with sync_lock(engine, holder="first") as first:
        assert first
        with sync_lock(engine, holder="second") as second:
            assert not second
            assert second.started_at == first.started_at
            assert second.message == (
                f"A sync is already running since {first.started_at:%H:%M} UTC; "
                "try again when it has finished."
            )
        stored = current_holder(engine)
        assert stored is not None and stored.holder == "first"
    assert current_holder(engine) is None
    with sync_lock(engine, holder="third") as third:
        assert third


def test_the_lock_is_released_when_the_sync_raises(engine):
    try:
        with sync_lock(engine, holder="failing") as held:
            assert held
            raise RuntimeError("the sync broke")
    except RuntimeError:
        pass
    with sync_lock(engine, holder="next") as again:
        assert again


def test_of_two_processes_asking_at_the_same_instant_exactly_one_wins(engine):
    start_at = time.time() + 3  # both interpreters are up by then
    processes = [
        take_in_process(engine, start_at=start_at, hold=3, holder=f"process {n}") for n in (1, 2)
    ]
    answers = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _out, err in answers]
    said = sorted(out.strip().split(":")[0] for out, _err in answers)
    assert said == ["held", "refused"]


def test_a_lock_left_by_a_killed_process_does_not_block_for_ever(engine):
    process = take_in_process(engine, start_at=0, hold=600, holder="killed")
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    process.kill()
    process.communicate(timeout=30)

    if engine.dialect.name == "postgresql":
        # The advisory lock dies with the killed process's connection.
        deadline = time.monotonic() + 30
        while True:
            with sync_lock(engine, holder="next") as held:
                if held:
                    break
            assert time.monotonic() < deadline, "the killed process's lock was never freed"
            time.sleep(0.2)
        return
    # SQLite: the row stays until its heartbeat is older than the bound.
    with sync_lock(engine, holder="too early") as held:
        assert not held
    later = utc_now() + EXPIRES_AFTER + timedelta(seconds=1)
    with sync_lock(engine, holder="after expiry", clock=lambda: later) as held:
        assert held
        stored = current_holder(engine)
        assert stored is not None and stored.holder == "after expiry"


def test_a_long_sync_on_sqlite_keeps_its_lock_alive_by_heartbeat(sqlite_engine):
    with sync_lock(sqlite_engine, holder="long", heartbeat=timedelta(seconds=0.05)) as held:
        assert held
        first = current_holder(sqlite_engine)
        assert first is not None
        deadline = time.monotonic() + 10
        while True:
            time.sleep(0.1)
            now = current_holder(sqlite_engine)
            assert now is not None
            if now.heartbeat_at > first.heartbeat_at:
                break
            assert time.monotonic() < deadline, "the heartbeat never moved"
        assert now.started_at == first.started_at and not held.lost
