"""AppTest runs of the real app in demo mode, each on its own SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    """The app (router and pages) with an empty database of its own."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CMOC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def texts(at: AppTest, kind: str) -> list[str]:
    """The values of every element of one kind (caption, text, markdown, ...)."""
    return [str(element.value) for element in at.get(kind)]


def table_with(at: AppTest, *columns: str):
    """The first dataframe shown that has all these columns."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")
