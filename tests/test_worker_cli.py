"""`python -m cmoc_core worker`: one pass with --once, a loop that stops, one-line errors."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlmodel import Session, select

from cmoc_core.models import PagerDutyIncident
from cmoc_core.storage import make_engine, migrate
from cmoc_core.synclock import sync_lock
from tests.support.processes import environment, run_cli, served_sandbox, start_cli
from tests.test_cli_errors import one_line, probe


def test_worker_once_syncs_looks_for_pages_and_exits_0(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'cmoc.db'}"
    with served_sandbox(tmp_path) as settings:
        env = environment(tmp_path, **settings, CMOC_DATABASE_URL=database)
        result = run_cli("worker", "--once", folder=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert any(
        " UTC Synced: " in line and " items in " in line for line in result.stdout.splitlines()
    )
    engine = make_engine(database)
    with Session(engine) as db:
        assert db.exec(select(PagerDutyIncident)).first() is not None
    engine.dispose()


def test_worker_once_while_another_sync_runs_exits_1_naming_it(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'cmoc.db'}"
    engine = make_engine(database)
    migrate(engine)
    with sync_lock(engine, holder="the sync command, process 42 on ops-1") as held:
        assert held
        line = one_line(probe(tmp_path, "worker", "--once", CMOC_DATABASE_URL=database), 1)
    engine.dispose()
    assert line.startswith("error: sync skipped: the sync command, process 42 on ops-1 holds")


def test_a_bad_sync_interval_is_one_line_naming_the_setting(tmp_path: Path):
    line = one_line(probe(tmp_path, "worker", "--once", CMOC_SYNC_EVERY="every 5 minutes"), 2)
    assert line == (
        "error: configuration: CMOC_SYNC_EVERY: should be a duration such as 30s, 5m or 1h, "
        "or 0 to turn it off, not text"
    )
    line = one_line(probe(tmp_path, "worker", CMOC_SYNC_EVERY="2s"), 2)
    assert line == (
        "error: configuration: CMOC_SYNC_EVERY: should be 10s or more, or 0 to turn it off, "
        "not text"
    )


def test_the_worker_loop_runs_until_terminated_and_stops_cleanly(tmp_path: Path):
    env = environment(
        tmp_path, CMOC_DATABASE_URL=f"sqlite:///{tmp_path / 'cmoc.db'}", CMOC_SYNC_EVERY="10s"
    )
    worker = start_cli("worker", folder=tmp_path, env=env)
    assert worker.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(" UTC Synced: " in line for line in lines):
        line = worker.stdout.readline()
        if not line:
            break
        lines.append(line)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    lines += out.splitlines()
    assert worker.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert lines[0].startswith("demo mode:")
    assert lines[1].startswith("worker: sync every 10 s, new CMOC pages every 30 s, reminders")
    assert any(" UTC Synced: " in line for line in lines)
    assert lines[-1].strip() == "worker: stopped"
