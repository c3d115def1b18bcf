"""Clients wired to the in-process sandbox, with a recorded, instant sleep."""

from __future__ import annotations

import pytest

from cmoc_core.clients import Clients, build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Sandbox


class SleepLog(list):
    """Records the waits a client asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def clients(sandbox: Sandbox, sleeps: SleepLog) -> Clients:
    settings = settings_from_mapping(sandbox.settings())
    built = build_clients(settings, transport=sandbox.transport, sleep=sleeps)
    yield built
    built.close()
