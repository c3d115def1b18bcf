"""The real app, started with `make run`, driven in Debian's Chromium by Playwright."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import generate
from cmoc_core.sources import demo_end
from cmoc_core.timeutil import utc_now
from tests.conftest import CONFIG_NAMES
from tests.support.postgres import free_port
from tests.support.system import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    if not CHROMIUM.exists():
        unavailable("Chromium (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


class RunningApp:
    """An app process started by `make run`, with the time it was started."""

    def __init__(self, url: str, started: float, log: Path) -> None:
        self.url, self.started, self.log = url, started, log


@contextmanager
def started_app(
    folder: Path,
    settings: dict[str, str] | None = None,
    database_url: str | None = None,
    *,
    port: int | None = None,
    secrets: Path | None = None,
) -> Iterator[RunningApp]:
    """`make run` on a free port (or `port`) with only the given settings, on its own SQLite
    database unless `database_url` names a shared one.

    Streamlit reads its secrets (the `[auth]` section) from `secrets` only, never from the
    checkout's own .streamlit/secrets.toml.
    """
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    env |= settings or {}
    env["CMOC_DATABASE_URL"] = database_url or f"sqlite:///{folder / 'cmoc.db'}"
    # The app under test runs the code it started with, even while the checkout is edited.
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    env["STREAMLIT_SECRETS_FILES"] = str(secrets or folder / "no-secrets.toml")
    port, log = port or free_port(), folder / "app.log"
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield RunningApp(url, started, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def running_app(tmp_path_factory) -> Iterator[RunningApp]:
    """The app in demo mode (no credentials) on an empty database."""
    with started_app(tmp_path_factory.mktemp("app")) as app:
        yield app


@pytest.fixture(scope="module")
def oidc():
    """A real OpenID provider (oidc-provider-mock) on 127.0.0.1; see tests/e2e/oidc.py."""
    from tests.e2e.oidc import oidc_provider

    with oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def sandbox():
    """The fake services over HTTP on 127.0.0.1, with a month of history up to today."""
    box = Sandbox(org=generate(seed=7, end=demo_end(utc_now()), days=30), clock=utc_now)
    server, thread = box.serve(port=0)
    box.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield box
    server.shutdown()
    thread.join(timeout=5)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the app did not become healthy: {log.read_text()[-2000:]}")


def settle(page: Page, heading: str) -> None:
    """Wait until the page shows `heading` and has stopped running (a rerun just asked for too)."""
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=90_000)
    page.wait_for_timeout(1_000)
    idle = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    expect(idle).to_have_count(1, timeout=60_000)
    page.wait_for_timeout(1_000)
