"""Query results read straight into typed pandas columns.

SQLite files and PostgreSQL are read through their ADBC drivers, which hand whole columns
over as Arrow arrays without a Python object per row (PostgreSQL's through COPY in binary).
Anything else (or a result the SQLite driver cannot type, as a column that mixes whole and
decimal numbers) is read from the driver's cursor into numpy structured arrays a chunk at a
time. Either way SQLite's timestamp text is parsed per column in C.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Boolean, Float, Integer, String, type_coerce
from sqlalchemy.engine import URL, Engine
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

# Large enough that the work per chunk is noise, small enough that one chunk of the driver's
# row tuples is all that is held at once.
FETCH_ROWS = 50_000

# Text as pandas keeps it by default: in Arrow arrays, no Python string per value.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)

# Any SELECT, whatever the types of its columns.
Query = Select[*tuple[Any, ...]]


def raw(column: Any) -> ColumnElement[Any]:
    """`column` as the driver returns it, so that its timestamps are parsed per column."""
    return type_coerce(column, String).label(column.key)


def reads_columns(engine: Engine) -> bool:
    """Whether `read` takes the columnar path for this engine's database."""
    return _columnar(engine.url) is not None


def read(session: Session, query: Query, times: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of `query` as a DataFrame, with the `times` columns as UTC timestamps.

    Reads committed data: the columnar path has a connection of its own.
    """
    times = set(times)
    bind = session.get_bind()
    kinds = [column.type for column in query.selected_columns]
    reader = _columnar(bind.url) if isinstance(bind, Engine) else None
    if reader is not None:
        sql = str(query.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
        table = reader.table(sql)
        if table is None:  # untypable, or a lost connection: the next read connects afresh
            _columnar.cache_clear()
        else:
            return pd.DataFrame(
                {
                    name: _arrow_series(table.column(i), kind, name in times)
                    for i, (name, kind) in enumerate(zip(table.column_names, kinds, strict=True))
                }
            )
    return _read_rows(session, query, times)


class _Reader:
    """One ADBC connection to a database, shared by the threads of this process in turn."""

    def __init__(self, database: Any) -> None:
        import adbc_driver_manager

        self._manager = adbc_driver_manager
        self._database = database  # held: the connection lives within it
        self._connection = adbc_driver_manager.AdbcConnection(database)
        self._lock = threading.Lock()

    def table(self, sql: str) -> pa.Table | None:
        """The result of `sql` as an Arrow table; None when the driver cannot type it."""
        with self._lock:
            statement = self._manager.AdbcStatement(self._connection)
            try:
                statement.set_sql_query(sql)
                stream, _ = statement.execute_query()
                return pa.RecordBatchReader._import_from_c(stream.address).read_all()
            except (self._manager.Error, pa.ArrowException, OSError):  # the stream's own errors
                return None
            finally:
                statement.close()


@lru_cache(maxsize=8)
def _columnar(url: URL) -> _Reader | None:
    """The columnar reader of the database at `url`, if it has one: SQLite files, PostgreSQL."""
    backend = url.get_backend_name()
    try:
        if backend == "sqlite" and url.database and url.database != ":memory:":
            import adbc_driver_sqlite

            return _Reader(adbc_driver_sqlite.connect(url.database))
        if backend == "postgresql":
            import adbc_driver_postgresql

            uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return _Reader(adbc_driver_postgresql.connect(uri))
    except Exception:  # no driver, or it cannot connect: the row path says why if it matters
        return None
    return None


def _arrow_series(values: pa.ChunkedArray, kind: Any, time: bool) -> pd.Series:
    """One Arrow column in the types `_series` gives."""
    if time:
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            try:
                values = pc.cast(values, pa.timestamp("us"))
            except pa.ArrowInvalid:  # text in another ISO 8601 form than SQLAlchemy writes
                texts = values.to_pandas()
                return pd.to_datetime(texts, format="ISO8601", utc=True).dt.as_unit("us")
        elif not pa.types.is_timestamp(values.type):  # no value at all
            return pd.Series(pd.NaT, index=range(len(values)), dtype="datetime64[us, UTC]")
        series = values.to_pandas()
        series = series.dt.tz_localize("UTC") if series.dt.tz is None else series
        return series.dt.tz_convert("UTC").dt.as_unit("us")
    if isinstance(kind, Integer | Float | Boolean) and not pa.types.is_string(values.type):
        if values.null_count or isinstance(kind, Float):
            return pd.Series(pc.cast(values, pa.float64()).to_numpy(), dtype=float)
        return pd.Series(values.to_numpy().astype(bool if isinstance(kind, Boolean) else np.int64))
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values.to_pandas(types_mapper=lambda _: TEXT)
    return pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)


def _read_rows(session: Session, query: Query, times: set[str]) -> pd.DataFrame:
    """`read` through the session's own connection, a chunk of row tuples at a time."""
    result = session.connection().execute(query)
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
    """A column read by `_read_rows` in its final type: times in UTC, whole numbers and flags
    as such unless some are missing."""
    if values.dtype.kind == "M":
        return pd.Series(values).dt.tz_localize("UTC")
    if time:  # the driver's datetimes, or no value at all
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.as_unit("us")
    if values.dtype.kind == "O":
        return pd.Series(values, dtype=TEXT if _is_text(kind) else object)
    if isinstance(kind, Float) or np.isnan(values).any():
        return pd.Series(values)
    return pd.Series(values.astype(bool if isinstance(kind, Boolean) else np.int64))


def _first_value(values: Iterable[Any]) -> Any:
    """The first value that is not None, or None: what a column's type is judged by."""
    return next((value for value in values if value is not None), None)


def _is_text(kind: Any) -> bool:
    """Whether a column type holds text, itself or as the type it decorates."""
    return isinstance(getattr(kind, "impl", kind), String)
