"""Columns read through the databases' ADBC drivers equal the row-by-row read, type for type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Float, literal_column
from sqlmodel import Session, col, select

from cmoc_core import columns
from cmoc_core.models import PagerDutyIncident, StatusPageIncident, StatusPageMessage
from cmoc_core.storage import session_scope

T0 = datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC)


def _fill(engine, count: int = 3000) -> None:
    with session_scope(engine) as session:
        session.add(
            StatusPageIncident(id="inc", statuspage_id="page", name="Errors", datetime_open=T0)
        )
        for n in range(count):
            session.add(
                PagerDutyIncident(
                    id=f"P{n}",
                    incident_number=n,
                    title=f"Page {n}",
                    service_id="PCMOC",
                    status="resolved",
                    created_at=T0 + timedelta(minutes=n),
                    acknowledged_at=None if n % 7 == 0 else T0 + timedelta(minutes=n, seconds=90),
                    acknowledged_by=None if n % 5 == 0 else f"U{n % 3}",
                    production_issue_iid=None if n % 2 else n,
                )
            )
            session.add(
                StatusPageMessage(
                    id=f"m{n}",
                    incident_id="inc",
                    details="Next update in 22.5 minutes." if n % 4 == 0 else "Update.",
                    state=100,
                    status=300,
                    posted_at=T0 + timedelta(minutes=n),
                )
            )


def _both(engine, query, times=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Session(engine) as session:
        fast = columns.read(session, query, times=times)
        rows = columns._read_rows(session, query, set(times))
    return fast, rows


def test_each_column_type_reads_the_same_through_the_driver_as_row_by_row(engine):
    _fill(engine)
    assert columns.reads_columns(engine)
    pages = select(
        PagerDutyIncident.incident_number,
        PagerDutyIncident.title,
        PagerDutyIncident.production_issue_iid,
        columns.raw(PagerDutyIncident.created_at),
        columns.raw(PagerDutyIncident.acknowledged_at),
    ).add_columns(col(PagerDutyIncident.acknowledged_by))
    since = T0 + timedelta(minutes=10)
    pages = pages.where(col(PagerDutyIncident.created_at) >= since)
    fast, rows = _both(engine, pages, times=("created_at", "acknowledged_at"))
    pd.testing.assert_frame_equal(fast, rows)
    assert len(fast) == 2990  # the time bound is compared as the stored value
    assert fast["created_at"].iloc[0] == since
    assert str(fast["created_at"].dtype) == "datetime64[us, UTC]"
    assert fast["incident_number"].dtype == "int64"
    assert fast["production_issue_iid"].isna().sum() == 1495
    messages = select(StatusPageMessage.announced_minutes, StatusPageIncident.resolved).join(
        StatusPageIncident, col(StatusPageIncident.id) == col(StatusPageMessage.incident_id)
    )
    fast, rows = _both(engine, messages)
    assert fast["announced_minutes"].max() == 22.5  # decimals kept
    assert fast["resolved"].dtype == bool
    pd.testing.assert_frame_equal(fast, rows)


def test_a_column_the_sqlite_driver_cannot_type_is_read_row_by_row(sqlite_engine):
    _fill(sqlite_engine)
    # Whole numbers first, decimals after the driver's first batch: it cannot type the column.
    mixed = literal_column("CASE WHEN incident_number > 2000 THEN 2.5 ELSE 1 END", Float)
    query = select(PagerDutyIncident.incident_number, mixed.label("mixed"))
    with Session(sqlite_engine) as session:
        found = columns.read(session, query)
    assert len(found) == 3000
    assert found["mixed"].sum() == pytest.approx(2001 * 1 + 999 * 2.5)


def test_timestamps_written_in_another_iso_form_read_as_the_same_moments(sqlite_engine):
    _fill(sqlite_engine, count=3)
    with sqlite_engine.begin() as connection:  # as another tool might have written them
        connection.exec_driver_sql(
            "UPDATE pagerdutyincident SET created_at = '2026-03-02T01:00:00+01:00' WHERE id = 'P1'"
        )
    query = select(PagerDutyIncident.id, columns.raw(PagerDutyIncident.created_at)).order_by(
        col(PagerDutyIncident.id)
    )
    with Session(sqlite_engine) as session:
        found = columns.read(session, query, times=("created_at",))
    assert list(found["created_at"]) == [
        T0,
        datetime(2026, 3, 2, tzinfo=UTC),
        T0 + timedelta(minutes=2),
    ]
