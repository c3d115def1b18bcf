"""AppTest runs of the real app in demo mode, each on its own SQLite file."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Organisation, Sandbox
from cmoc_core.sources import demo_end, open_sources
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from cmoc_core.timeutil import utc_now

ROOT = Path(__file__).resolve().parents[2]


def build_demo_database(path: Path) -> None:
    """Migrate and sync a SQLite file from the demo sandbox, as the app's first start does."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    sources = open_sources(settings_from_mapping({"CMOC_DATABASE_URL": url}))
    try:
        report = run_sync(engine=engine, settings=sources.settings, clients=sources.clients)
    finally:
        sources.clients.close()
    assert report.ok, report.summary()
    with engine.connect() as connection:
        # Everything into the main file, so that copying that one file copies the database.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory) -> Callable[[], Path]:
    """The synced demo database of the current demo day, built once per run (and per day)."""
    built: dict[datetime, Path] = {}

    def current() -> Path:
        # The app's sandbox ends its history at the start of today (UTC): so must the copy.
        end = demo_end(utc_now())
        if end not in built:
            path = tmp_path_factory.mktemp("demo") / "demo.db"
            build_demo_database(path)
            built[end] = path
        return built[end]

    return current


def app_on(database: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app (router and pages) on the SQLite file `database`."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{database}")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


@pytest.fixture
def app(tmp_path, monkeypatch, demo_database) -> AppTest:
    """The app on its own copy of the demo database, as the app's first start leaves it."""
    database = tmp_path / "app.db"
    shutil.copyfile(demo_database(), database)
    return app_on(database, monkeypatch)


@pytest.fixture
def first_start_app(tmp_path, monkeypatch) -> AppTest:
    """The app with an empty database of its own: its first run loads the demo organisation."""
    return app_on(tmp_path / "app.db", monkeypatch)


@pytest.fixture
def served(organisation: Organisation, org_end) -> Iterator[tuple[Sandbox, str]]:
    """The sandbox over HTTP on a free port of 127.0.0.1, and its base URL."""
    sandbox = Sandbox(org=organisation, end=org_end)
    server, thread = sandbox.serve(port=0)
    yield sandbox, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


def texts(at: AppTest, kind: str) -> list[str]:
    """The values of every element of one kind (caption, text, markdown, ...)."""
    return [str(element.value) for element in at.get(kind)]


def table_with(at: AppTest, *columns: str):
    """The first dataframe shown that has all these columns."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def open_tab(app: AppTest, name: str) -> AppTest:
    """Bring the composer's tab `name` to the front, as a click on it does."""
    app.session_state["composer_tab"] = name
    return app.run()
