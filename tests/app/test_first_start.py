"""The app's first start on an empty database loads the demo organisation, and only once."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select
from streamlit.testing.v1 import AppTest

from cmoc_core.models import Component, Maintenance, StatusPageIncident, StatusPageMessage
from cmoc_core.sources import has_synced
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps

# Tables whose rows do not depend on the minute a sync ran (all of them are read in full).
WHOLE_TABLES: tuple[type[SQLModel], ...] = (
    Component,
    Maintenance,
    StatusPageIncident,
    StatusPageMessage,
)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in WHOLE_TABLES
        }


def test_a_first_start_loads_the_demo_organisation_once_as_the_shared_copy_holds_it(
    first_start_app: AppTest, demo_database
):
    first_start_app.run()
    assert not first_start_app.exception
    assert any("Demo mode" in info.value for info in first_start_app.info)
    url = os.environ["CMOC_DATABASE_URL"]
    engine = make_engine(url)
    with Session(engine) as session:
        assert has_synced(session=session)
    sandbox = deps.sources_for(url).sandbox
    loaded = counts(engine)
    assert loaded["StatusPageIncident"] == len(sandbox.org.statusio_incidents)
    shared = make_engine(f"sqlite:///{Path(demo_database())}")
    assert loaded == counts(shared)
    shared.dispose()

    asked = sandbox.count()
    again = AppTest.from_file(first_start_app._script_path, default_timeout=60)
    again.run()
    assert not again.exception
    assert sandbox.count() == asked  # a database that has synced is not loaded again
    engine.dispose()
