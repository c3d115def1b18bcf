"""The command line against the sandbox served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from cmoc_core.cli import main
from cmoc_core.models import StatusPageIncident
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.storage import make_engine


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
    with pytest.raises(SystemExit) as exited:
        main(["sync", "--since", "yesterday"])
    assert exited.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
