"""Shared fixtures: a clean configuration, the sandbox, SQLite and a real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from streamlit import config as streamlit_config
from streamlit.runtime.secrets import secrets_singleton

from cmoc_core.config import Settings
from cmoc_core.storage import make_engine, migrate
from tests.support.postgres import PostgresServer, find_postgres
from tests.support.system import unavailable

END = datetime(2026, 11, 1, tzinfo=UTC)
CONFIG_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's own credentials, nor settings an earlier test left behind."""
    for name in CONFIG_NAMES:
        monkeypatch.delenv(name, raising=False)
    yield
    # Streamlit keeps the first secrets file it parsed for the whole process, and copies its
    # top-level values into the environment: the next test's app reads its own, or none.
    secrets_singleton._reset()
    for name in CONFIG_NAMES:
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def served_on_loopback() -> Iterator[None]:
    """AppTest runs no server: the app counts as listening on 127.0.0.1, as `make run` binds it."""
    before = streamlit_config.get_option("server.address")
    streamlit_config.set_option("server.address", "127.0.0.1")
    yield
    streamlit_config.set_option("server.address", before)


@pytest.fixture(scope="session")
def org_end() -> datetime:
    """The fixed end of the sandbox organisation's history."""
    return END


@pytest.fixture(scope="session")
def organisation():
    """The default synthetic organisation, generated once per run."""
    from cmoc_core.sandbox.organisation import generate

    return generate(seed=7, end=END)


@pytest.fixture
def sandbox(organisation):
    """A fresh sandbox (its own request log and faults) over the default organisation."""
    from cmoc_core.sandbox import Sandbox

    return Sandbox(org=organisation, end=END)


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """A migrated SQLite database file of its own."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cmoc.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the whole run."""
    binaries = find_postgres()
    if binaries is None:
        unavailable("PostgreSQL server binaries (apt-get install -y postgresql)")
    server = PostgresServer(binaries)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_engine(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A migrated, empty PostgreSQL database of its own."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_engine")


def pytest_report_header(config: pytest.Config) -> str:
    mode = "fail" if os.environ.get("CI") == "true" else "skip"
    return f"missing chromium or postgresql: the tests that need them {mode}"
