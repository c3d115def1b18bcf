"""Real `python -m cmoc_core` processes: the sandbox served on a port, and commands against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
# The last setting the sandbox prints: once it is read, the sandbox is serving.
LAST_SETTING = "ZENDESK_API_TOKEN"


def environment(folder: Path, **values: str) -> dict[str, str]:
    """This process's environment (without the developer's settings) plus `values`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


def run_cli(
    *args: str, folder: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m cmoc_core ARGS` run in `folder` (where it looks for .streamlit/secrets.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "cmoc_core", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`python -m cmoc_core ARGS` started in `folder`, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "cmoc_core", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def served_sandbox(folder: Path) -> Iterator[dict[str, str]]:
    """`python -m cmoc_core sandbox --port N` running; yields the settings it printed."""
    process = start_cli(
        "sandbox", "--port", str(free_port()), folder=folder, env=environment(folder)
    )
    settings: dict[str, str] = {}
    try:
        assert process.stdout is not None
        while LAST_SETTING not in settings:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox stopped: {process.communicate()[1][-2000:]}")
            name, _, value = line.strip().partition("=")
            settings[name] = value
        yield settings
    finally:
        process.terminate()
        process.communicate(timeout=30)
