"""Every way a command can be started wrong ends in one line naming what to fix, never a traceback.

Each probe runs `python -m cmoc_core` as a real process: exit code 2 for bad input or
configuration, 1 for a failed source; stderr is one line (a failed source may print its progress
first), and no secret appears anywhere.
"""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cmoc_core.storage import make_engine, migrate
from cmoc_core.timeutil import utc_now
from tests.support.postgres import free_port
from tests.support.processes import environment, run_cli

PASSWORD = "pw-that-must-not-show"
TOKEN = "token-that-must-not-show-12345"
TODAY = utc_now().date()


def probe(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command in `folder` with a database of its own unless `env` names another."""
    values = {"CMOC_DATABASE_URL": f"sqlite:///{folder / 'cmoc.db'}", **env}
    return run_cli(*args, folder=folder, env=environment(folder, **values), timeout=120)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single line on stderr, after checking the exit code and that nothing else went wrong."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything[-3000:]
    assert PASSWORD not in everything and TOKEN not in everything
    assert result.returncode == code, everything[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["sync", "--since", "2026-13-01"],
            "'2026-13-01' is not a day in YYYY-MM-DD form (month must be in 1..12)",
        ),
        (["sync", "--since", "yesterday"], "'yesterday' is not a day in YYYY-MM-DD form"),
        (["sync", "--since", "1900-01-01"], "--since 1900-01-01 is before 2000-01-01"),
        (["sync", "--since", "2010-06-01"], "--since 2010-06-01 is more than 10 years ago"),
        (
            ["sync", "--since", str(TODAY + timedelta(days=1))],
            f"--since {TODAY + timedelta(days=1)} is in the future",
        ),
        (["sync", "--source", "jira"], "argument --source: invalid choice: 'jira'"),
        (
            ["kpis", "--since", "0001-01-01", "--until", "2026-01-01"],
            "--since 0001-01-01 is before 2000-01-01",
        ),
        (
            ["kpis", "--since", "2026-01-01", "--until", "9999-12-31"],
            "--until 9999-12-31 is more than a year ahead",
        ),
        (
            ["kpis", "--since", "2010-01-01", "--until", "2026-01-01"],
            "--since 2010-01-01 --until 2026-01-01 spans more than 10 years",
        ),
        (["kpis", "--since", "2026-02-01", "--until", "2026-01-01"], "--until must be after"),
        (["kpis"], "the following arguments are required: --since, --until"),
        ([], "the following arguments are required: command"),
        (["sandbox", "--port", "70000"], "'70000' is not a port number"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    line = one_line(probe(tmp_path, *args), 2)
    assert line.startswith("error: ") and expected in line
    assert not (tmp_path / "cmoc.db").exists()  # refused before touching the database


def test_an_unreachable_postgresql_names_the_setting_and_hides_the_password(tmp_path):
    url = f"postgresql+psycopg://cmoc:{PASSWORD}@127.0.0.1:{free_port()}/cmoc"
    line = one_line(probe(tmp_path, "sync", CMOC_DATABASE_URL=url), 2)
    assert line.startswith("error: CMOC_DATABASE_URL: cannot open postgresql+psycopg://cmoc:***@")
    assert "Connection refused" in line or "connection failed" in line


@pytest.mark.parametrize(
    "command", [["sync"], ["kpis", "--since", "2026-01-01", "--until", "2026-02-01"]]
)
def test_a_database_path_under_a_file_is_one_line_and_exit_2(tmp_path, command):
    (tmp_path / "not-a-folder").write_text("")
    url = f"sqlite:///{tmp_path / 'not-a-folder' / 'cmoc.db'}"
    line = one_line(probe(tmp_path, *command, CMOC_DATABASE_URL=url), 2)
    assert line.startswith("error: CMOC_DATABASE_URL: cannot create the folder of sqlite:///")


def test_a_database_path_that_is_a_folder_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "folder.db").mkdir()
    url = f"sqlite:///{tmp_path / 'folder.db'}"
    line = one_line(probe(tmp_path, "sync", CMOC_DATABASE_URL=url), 2)
    assert line.startswith("error: CMOC_DATABASE_URL: cannot open sqlite:///")
    assert "unable to open database file" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "CMOC_DATABASE_URL is not a database URL"),
        ("oracle://scott@db/cmoc", "CMOC_DATABASE_URL names a database this app cannot use"),
    ],
)
def test_a_database_url_that_is_not_one_is_one_line_and_exit_2(tmp_path, url, expected):
    line = one_line(probe(tmp_path, "sync", CMOC_DATABASE_URL=url), 2)
    assert expected in line


def test_a_database_newer_than_the_code_is_one_line_and_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    line = one_line(probe(tmp_path, "sync", CMOC_DATABASE_URL=url), 2)
    assert "schema revision 0099, newer than this version of CMOC Cockpit knows" in line


def test_invalid_settings_name_the_setting_never_the_value(tmp_path):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        f"GITLAB_TOKEN = {TOKEN.split('-')[-1]}\nPAGERDUTY_API_TOKEN = '{TOKEN}'\n"
    )
    line = one_line(probe(tmp_path, "sync"), 2)
    assert line.startswith("error: configuration: GITLAB_TOKEN")
    assert "12345" not in line


def test_a_secrets_file_that_is_not_toml_is_one_line_and_exit_2(tmp_path):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f"GITLAB_TOKEN = {TOKEN}\n")
    line = one_line(probe(tmp_path, "kpis", "--since", "2026-01-01", "--until", "2026-02-01"), 2)
    assert line.startswith("error: configuration: .streamlit/secrets.toml is not valid TOML")


def test_a_sandbox_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(probe(tmp_path, "sandbox", "--port", str(port)), 2)
    assert f"cannot serve the sandbox on 127.0.0.1:{port}" in line and "--port" in line


def test_an_unreachable_source_exits_1_and_ends_with_one_line_naming_it(tmp_path):
    result = probe(
        tmp_path,
        "sync",
        "--source",
        "pagerduty",
        PAGERDUTY_API_URL=f"http://127.0.0.1:{free_port()}",
        PAGERDUTY_API_TOKEN=TOKEN,
        PAGERDUTY_CMOC_SERVICE_IDS="PSVC1",
    )
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and TOKEN not in everything
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: PagerDuty") and "could not connect" in last
