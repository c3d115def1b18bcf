"""The peer a data engineer would pick: DuckDB computing the cadence figures alone (kpis.md 2:
gaps and on-time by severity and state, the longest gap, the median overdue) from the history
in columnar form (Parquet files of the tables it needs).

    python benchmarks/duckdb_cadence.py FOLDER   # prints the figures and the query's seconds
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

# The tables and columns the cadence needs, as `write_parquet` copies them.
TABLES = {
    "statuspagemessage": "incident_id, posted_at, state, announced_minutes, announced_clock",
    "statuspageincident": "id, production_issue_iid",
    "gitlablabelevent": "issue_id, label_name, action, created_at",
    "gitlabissue": "id, iid, kind, severity",
}
TIMES = {"posted_at", "created_at"}

# Gaps between consecutive updates of an incident after one in a cadenced state; severity in
# effect from the last severity label added before the earlier update (3 when none); due after
# the announced minutes, else at the announced clock time (next day when past), else by the
# handbook's cadence; on time within 60 s of due.
CADENCE = """
WITH messages AS (
  SELECT incident_id, posted_at, state, announced_minutes, announced_clock,
         lead(posted_at) OVER (PARTITION BY incident_id ORDER BY posted_at) AS next_at
  FROM '{folder}/statuspagemessage.parquet'
),
gaps AS (
  SELECT m.*, i.production_issue_iid AS iid FROM messages m
  JOIN '{folder}/statuspageincident.parquet' i ON i.id = m.incident_id
  WHERE next_at IS NOT NULL AND state IN (100, 200, 300)
),
adds AS (
  SELECT g.iid, e.created_at AS at, CAST(substr(e.label_name, 11) AS INTEGER) AS level
  FROM '{folder}/gitlablabelevent.parquet' e
  JOIN '{folder}/gitlabissue.parquet' g ON g.id = e.issue_id
  WHERE e.action = 'add' AND e.label_name LIKE 'severity::%' AND g.kind = 'production'
),
judged AS (
  SELECT gaps.*, coalesce(a.level, 3) AS severity FROM gaps
  ASOF LEFT JOIN adds a ON a.iid = gaps.iid AND a.at <= gaps.posted_at
),
due AS (
  SELECT *, coalesce(
    posted_at + to_minutes(CAST(announced_minutes AS BIGINT)),
    CASE WHEN announced_clock IS NOT NULL THEN
      date_trunc('day', posted_at) + to_minutes(announced_clock)
      + CASE WHEN date_trunc('day', posted_at) + to_minutes(announced_clock) < posted_at
        THEN INTERVAL 1 DAY ELSE INTERVAL 0 DAY END
    END,
    posted_at + to_minutes(CASE state
      WHEN 100 THEN CASE WHEN severity = 1 THEN 10 ELSE 15 END
      WHEN 200 THEN CASE WHEN severity = 1 THEN 10 ELSE 30 END
      ELSE CASE WHEN severity = 1 THEN 30 ELSE 60 END END)) AS due_at
  FROM judged
),
verdicts AS (SELECT *, next_at <= due_at + INTERVAL 60 SECOND AS on_time FROM due)
SELECT severity, state, count(*) AS gaps, count(*) FILTER (on_time) AS on_time,
       max(epoch(next_at - posted_at)) / 60 AS longest_minutes,
       median(epoch(next_at - due_at) / 60) FILTER (NOT on_time) AS median_overdue_minutes
FROM verdicts GROUP BY GROUPING SETS ((severity, state), ()) ORDER BY ALL
"""


def write_parquet(database: Path, folder: Path) -> None:
    """Copy the tables the cadence needs from the SQLite file into Parquet files (untimed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(database)
    for table, columns in TABLES.items():
        cursor = connection.execute(f"SELECT {columns} FROM {table}")  # noqa: S608
        names = [d[0] for d in cursor.description]
        values = list(zip(*cursor.fetchall(), strict=True))
        arrays = {
            name: pa.array(column).cast(pa.timestamp("us")) if name in TIMES else pa.array(column)
            for name, column in zip(names, values, strict=True)
        }
        pq.write_table(pa.table(arrays), folder / f"{table}.parquet")
    connection.close()


def cadence(folder: Path) -> tuple[float, dict[str, object]]:
    """Seconds the query takes, and its figures: gaps and on time overall and by severity."""
    import duckdb

    started = time.perf_counter()
    rows = duckdb.sql(CADENCE.format(folder=folder)).fetchall()
    elapsed = time.perf_counter() - started
    by_severity: dict[int, list[int]] = {}
    for severity, _state, gaps, on_time, _, _ in rows:
        if severity is not None:
            counts = by_severity.setdefault(severity, [0, 0])
            counts[0] += gaps
            counts[1] += on_time
    total = next(row for row in rows if row[0] is None and row[1] is None)
    figures = {
        "gaps": total[2],
        "on_time": total[3],
        "longest_gap_minutes": round(total[4], 2),
        "median_overdue_minutes": round(total[5], 2),
        "by_severity": {str(k): {"gaps": v[0], "on_time": v[1]} for k, v in by_severity.items()},
    }
    return elapsed, figures


if __name__ == "__main__":
    seconds, figures = cadence(Path(sys.argv[1]))
    print(json.dumps({"seconds": round(seconds, 3), **figures}))
