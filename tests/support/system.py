"""What to do when a system part a test needs is missing."""

import os
from typing import NoReturn

import pytest


def unavailable(what: str) -> NoReturn:
    """Skip with the reason on a developer machine; fail in CI, where everything must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(f"{what} is missing")
