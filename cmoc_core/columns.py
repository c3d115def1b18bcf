"""Query results read straight into typed pandas columns.

Rows go from the driver's cursor into numpy structured arrays a chunk at a time, which keeps
the memory peak low. SQLite hands timestamps over as text, parsed on the way by numpy (in C);
PostgreSQL's driver hands over datetimes, converted per column by pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Float, Integer, String, type_coerce
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

# Large enough that the work per chunk is noise, small enough that one chunk of the driver's
# row tuples is all that is held at once.
FETCH_ROWS = 50_000

# Any SELECT, whatever the types of its columns.
Query = Select[*tuple[Any, ...]]


def raw(column: Any) -> ColumnElement[Any]:
    """`column` as the driver returns it, so that its timestamps are parsed per column."""
    return type_coerce(column, String).label(column.key)


def read(session: Session, query: Query, times: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of `query` as a DataFrame, with the `times` columns as UTC timestamps."""
    result = session.connection().execute(query)
    times = set(times)
    columns = [
        (name, column.type, name in times)
        for name, column in zip(result.keys(), query.selected_columns, strict=True)
    ]
    rows = result.cursor.fetchmany(FETCH_ROWS)
    layout = np.dtype(
        [
            (name, _dtype(kind, time, _first_value(row[i] for row in rows)))
            for i, (name, kind, time) in enumerate(columns)
        ]
    )
    chunks = [np.array(rows, dtype=layout)]
    while rows := result.cursor.fetchmany(FETCH_ROWS):
        chunks.append(np.array(rows, dtype=layout))
    table = np.concatenate(chunks)
    return pd.DataFrame({name: _series(table[name], kind, time) for name, kind, time in columns})


def _dtype(kind: Any, time: bool, sample: Any) -> str:
    """How a column is held while it is read: numbers as floats (None as NaN), SQLite's
    timestamp text as datetime64, anything else as it came."""
    if time:
        return "datetime64[us]" if isinstance(sample, str) else "O"
    return "f8" if isinstance(kind, Integer | Float | Boolean) else "O"


def _series(values: np.ndarray, kind: Any, time: bool) -> pd.Series:
    """A column read by `read` in its final type: times in UTC, whole numbers and flags as
    such unless some are missing."""
    if values.dtype.kind == "M":
        return pd.Series(values).dt.tz_localize("UTC")
    if time:  # the driver's datetimes, or no value at all
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.as_unit("us")
    if values.dtype.kind == "O":
        return pd.Series(values, dtype=object)
    if np.isnan(values).any():
        return pd.Series(values)
    return pd.Series(values.astype(bool if isinstance(kind, Boolean) else np.int64))


def _first_value(values: Iterable[Any]) -> Any:
    """The first value that is not None, or None: what a column's type is judged by."""
    return next((value for value in values if value is not None), None)
