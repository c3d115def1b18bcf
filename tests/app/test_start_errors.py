"""The app started on a wrong configuration shows one line saying what to fix, and stops."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from cmoc_core.storage import make_engine, migrate
from tests.app.conftest import ROOT, texts
from tests.support.postgres import free_port

PASSWORD = "pw-that-must-not-show"


@pytest.fixture
def start(tmp_path, monkeypatch):
    """Start the app in a folder of its own (its .streamlit/secrets.toml) on a given database."""

    def started(database_url: str) -> AppTest:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("CMOC_DATABASE_URL", database_url)
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        app.run()
        return app

    return started


def the_one_error(app: AppTest) -> str:
    """The app's single error line, after checking nothing else went wrong."""
    assert not app.exception, [e.value for e in app.exception]
    errors = [e.value for e in app.error]
    assert len(errors) == 1, errors
    assert "\n" not in errors[0]
    everything = " ".join(errors + texts(app, "markdown") + texts(app, "text"))
    assert PASSWORD not in everything and "Traceback" not in everything
    assert not app.title, "the page went on after the error"
    # Shown as escaped Markdown: read it as the user does.
    return errors[0].replace("\\", "").replace("\u2060", "")


def test_an_unreachable_postgresql_is_one_line_naming_the_setting(start):
    app = start(f"postgresql+psycopg://cmoc:{PASSWORD}@127.0.0.1:{free_port()}/cmoc")
    error = the_one_error(app)
    assert error.startswith(
        "The database cannot be used: CMOC_DATABASE_URL: cannot open postgresql+psycopg://cmoc:***@"
    )


def test_a_database_path_under_a_file_is_one_line(start, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    app = start(f"sqlite:///{tmp_path / 'not-a-folder' / 'cmoc.db'}")
    assert "cannot create the folder of" in the_one_error(app)


def test_a_database_newer_than_the_code_is_one_line(start, tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    assert "schema revision 0099, newer than this version" in the_one_error(start(url))


def test_invalid_settings_name_the_setting_never_the_value(start, tmp_path):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text("GITLAB_TOKEN = 987654321\n")
    error = the_one_error(start(f"sqlite:///{tmp_path / 'cmoc.db'}"))
    assert error.startswith(
        "The configuration is not valid: GITLAB_TOKEN in .streamlit/secrets.toml"
    )
    assert "987654321" not in error
