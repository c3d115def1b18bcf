"""The command line against the sandbox served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlmodel import Session, func, select

from cmoc_core.cli import main
from cmoc_core.models import StatusPageIncident
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.storage import make_engine, open_database
from cmoc_core.synclock import sync_lock
from tests.support.processes import environment, run_cli, served_sandbox, start_cli

BUSY_LINE = re.compile(
    r"A sync is already running since \d\d:\d\d UTC; try again when it has finished\."
)


@pytest.fixture
def served(organisation, org_end, tmp_path, monkeypatch):
    """The sandbox on a free port, the environment pointing at it, a database of its own."""
    sandbox = Sandbox(org=organisation, end=org_end)
    server, thread = sandbox.serve(port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in sandbox.settings(base_url=base).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    yield sandbox, tmp_path / "cli.db"
    server.shutdown()
    thread.join(timeout=5)


def test_sync_over_http_stores_the_history_and_exits_0(served, capsys):
    sandbox, database = served
    waits: list[float] = []
    assert main(["sync", "--since", "2025-11-01"], sleep=waits.append) == 0
    # Status.io asks for a second between calls: every call after the first waited for it,
    # unless its predecessor had already finished more than a second earlier.
    assert 0 < len(waits) <= sandbox.count("statusio") - 1
    assert all(0 < wait <= 1.0 for wait in waits)
    out = capsys.readouterr().out
    assert "statusio.incidents" in out and "requests:" in out and "FAILED" not in out
    with Session(make_engine(f"sqlite:///{database}")) as session:
        stored = session.exec(select(func.count()).select_from(StatusPageIncident)).one()
    assert stored == len(sandbox.org.statusio_incidents)


def test_a_failing_source_exits_1_with_a_one_line_reason_and_keeps_the_rest(served, capsys):
    sandbox, _ = served
    sandbox.add_fault(
        Fault(
            service="gitlab",
            kind="status",
            status=404,
            body='{"message":"404 Project Not Found"}',
            times=None,
        )
    )
    assert main(["sync", "--source", "gitlab"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: GitLab: list issues of ") and "404 Project Not Found" in err
    assert "sandbox-" not in err


def test_an_unknown_date_is_a_usage_error(served, capsys):
    assert main(["sync", "--since", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "YYYY-MM-DD" in err


def test_a_sync_while_another_runs_pulls_nothing_and_exits_1_with_one_line(served, capsys):
    sandbox, database = served
    engine = open_database(f"sqlite:///{database}")
    with sync_lock(engine, holder="another sync") as held:
        assert held
        assert main(["sync"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == held.message
    assert BUSY_LINE.fullmatch(captured.err.strip())
    assert captured.out == "" and sandbox.count() == 0
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """The URL of a database nothing has created tables in yet, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


def test_two_sync_processes_on_one_new_database_run_one_and_refuse_the_other(
    empty_database_url, tmp_path
):
    # Before the sync lock, both ran side by side and one could die with a traceback
    # (UNIQUE constraint failed: syncstate.stream, or a table created twice by two migrations).
    with served_sandbox(tmp_path) as settings:
        env = environment(tmp_path, **settings, CMOC_DATABASE_URL=empty_database_url)
        processes = [start_cli("sync", folder=tmp_path, env=env) for _ in range(2)]
        finished = [(p, *p.communicate(timeout=600)) for p in processes]
        for _process, out, err in finished:
            assert "Traceback" not in out + err
        codes = sorted(p.returncode for p, _out, _err in finished)
        assert codes == [0, 1], [err[-2000:] for _p, _out, err in finished]
        (_, ran_out, _), (_, _, refused_err) = sorted(finished, key=lambda f: f[0].returncode)
        assert "FAILED" not in ran_out and "requests:" in ran_out
        assert BUSY_LINE.fullmatch(refused_err.strip())

        again = run_cli("sync", folder=tmp_path, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "FAILED" not in again.stdout
