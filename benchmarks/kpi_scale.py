"""KPI report time on ten years of a big rotation, side by side with its peers.

History: 50,000 status-page incidents with 500,000 messages, 50,000 pages, 20,000 on-call
shifts, their production issues and label events (a tenth of the incidents raised in severity
mid-way), and handover issues. The report works from its columnar copy of the history, kept in
the database (`cmoc_core.kpi_facts`); each timed report opens the database afresh, so it reads
the copy from the database every time. Making the copy, which a sync does once per change, is
timed apart. Measured in turns, best of five (whole processes: median of five and the median
of the pair-by-pair ratios):
- the full report against SQLite's own row-by-row read of the columns it needs (within 2x,
  under 2 s; peak memory under 500 MB);
- the full report against DuckDB computing the cadence figures alone from the same history in
  columnar form (Parquet), the peer a data engineer would pick (target: within 1.0x);
- the report on PostgreSQL (a throwaway server, the same history) against SQLite (1.2x);
- `python -m cmoc_core kpis` as a whole process (under 1.5 s), beside DuckDB's as a whole
  process.

    .venv/bin/python benchmarks/kpi_scale.py [--incidents 50000] [--keep FILE] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from duckdb_cadence import cadence, write_parquet  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402

from cmoc_core.cadence import announcement_columns  # noqa: E402
from cmoc_core.config import settings_from_mapping  # noqa: E402
from cmoc_core.kpis import KpiReport, build_facts, compute_kpis  # noqa: E402
from cmoc_core.models import (  # noqa: E402
    GitLabIssue,
    GitLabLabelEvent,
    Identity,
    OnCallEntry,
    PagerDutyIncident,
    StatusPageIncident,
    StatusPageMessage,
)
from cmoc_core.people import refresh_people  # noqa: E402
from cmoc_core.storage import make_engine, migrate, session_scope  # noqa: E402

START = datetime(2016, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
SETTINGS = settings_from_mapping(
    {
        "PAGERDUTY_CMOC_SERVICE_IDS": "PCMOC",
        "PAGERDUTY_CMOC_SCHEDULE_IDS": "SAMER,SEMEA,SAPAC",
        "PAGERDUTY_SHADOW_SCHEDULE_IDS": "SSHADOW",
        "STATUSIO_STATUSPAGE_ID": "page",
        "GITLAB_TOKEN": "x",
    }
)
PROJECT = SETTINGS.gitlab_production_project
CHUNK = 20_000
ROUNDS = 5
TABLES = (
    "statuspageincident",
    "statuspagemessage",
    "pagerdutyincident",
    "oncallentry",
    "gitlabissue",
    "gitlablabelevent",
)


def build(engine, incidents: int, seed: int = 1) -> dict[str, int]:
    """Fill a database with a deterministic decade of history; returns row counts."""
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    people = [(f"P{n:05d}", str(1000 + n), f"CMOC {n}", f"cmoc{n}@example.com") for n in range(60)]
    rows: dict[type, list[dict]] = {
        model: []
        for model in (
            Identity,
            OnCallEntry,
            PagerDutyIncident,
            StatusPageIncident,
            StatusPageMessage,
            GitLabIssue,
            GitLabLabelEvent,
        )
    }
    for pd_id, gl_id, name, email in people:
        rows[Identity].append(
            {
                "system": "pagerduty",
                "external_id": pd_id,
                "name": name,
                "email": email,
                "username": email,
            }
        )
        rows[Identity].append(
            {
                "system": "gitlab",
                "external_id": gl_id,
                "name": name,
                "email": email,
                "username": name.replace(" ", "").lower(),
            }
        )
    shift = (END - START) / 20_000 * 3
    for n in range(20_000):
        region = ("SAMER", "SEMEA", "SAPAC")[n % 3]
        begin = START + shift * (n // 3) + timedelta(hours=8 * (n % 3))
        rows[OnCallEntry].append(
            {
                "schedule_id": region,
                "schedule_kind": "cmoc",
                "user_id": people[rng.randrange(60)][0],
                "start": begin,
                "end": begin + timedelta(hours=8),
            }
        )
        if rng.random() < 0.75:
            rows[GitLabIssue].append(
                _issue(
                    len(rows[GitLabIssue]),
                    "handover",
                    n,
                    begin + timedelta(hours=8, minutes=rng.randint(-90, 200)),
                    people[rng.randrange(60)][1],
                )
            )
    for n in range(incidents):
        triggered = START + timedelta(seconds=rng.random() * span)
        acked = (
            triggered + timedelta(minutes=rng.expovariate(1 / 8)) if rng.random() < 0.95 else None
        )
        rows[PagerDutyIncident].append(
            {
                "id": f"Q{n:07d}",
                "incident_number": n,
                "title": f"Incident #{n}",
                "service_id": "PCMOC",
                "status": "resolved",
                "created_at": triggered,
                "acknowledged_at": acked,
                "acknowledged_by": people[rng.randrange(60)][0] if acked else None,
                "production_issue_iid": n,
                "statuspage_incident_id": f"i{n:07d}",  # linked by its issue, as the sync does
            }
        )
        opened = triggered + timedelta(minutes=rng.randint(2, 30))
        issue_id = 10_000_000 + n
        severity = rng.choice((1, 2, 2, 3, 3, 3, 4))
        raised = severity - 1 if severity > 1 and rng.random() < 0.1 else None
        rows[GitLabIssue].append(
            {
                **_issue(issue_id, "production", n, opened, people[0][1]),
                "labels": [f"severity::{raised or severity}", "Incident-Comms::Status-Page"],
                "severity": raised or severity,
                "id": issue_id,
            }
        )
        if raised:  # a tenth of the incidents are raised a level mid-way
            rows[GitLabLabelEvent].append(
                {
                    "id": 2 * incidents + n,
                    "issue_id": issue_id,
                    "label_name": f"severity::{raised}",
                    "action": "add",
                    "created_at": opened + timedelta(minutes=rng.randint(20, 120)),
                }
            )
        rows[GitLabLabelEvent].append(
            {
                "id": 2 * n,
                "issue_id": issue_id,
                "label_name": f"severity::{severity}",
                "action": "add",
                "created_at": opened - timedelta(minutes=1),
            }
        )
        rows[GitLabLabelEvent].append(
            {
                "id": 2 * n + 1,
                "issue_id": issue_id,
                "label_name": "Incident-Comms::Status-Page",
                "action": "add",
                "created_at": opened + timedelta(minutes=9),
            }
        )
        rows[StatusPageIncident].append(
            {
                "id": f"i{n:07d}",
                "statuspage_id": "page",
                "name": f"Incident {n}",
                "datetime_open": opened,
                "first_message_at": opened,
                "resolved": True,
                "components": [],
                "production_issue_iid": n,
            }
        )
        at = opened
        for m in range(10):
            state = (100, 100, 100, 200, 200, 200, 300, 300, 300, 300)[m]
            details = (
                f"Investigating in https://gitlab.com/{PROJECT}/-/issues/{n}"
                if m == 0
                else "Next update in 45 minutes."
                if m == 5
                else "Update."
            )
            rows[StatusPageMessage].append(
                {
                    "id": f"m{n:07d}{m}",
                    "incident_id": f"i{n:07d}",
                    "details": details,
                    **announcement_columns(details),
                    "state": state,
                    "status": 100 if m == 9 else 300,
                    "posted_at": at,
                }
            )
            at += timedelta(minutes=rng.uniform(4, 20 if state == 100 else 70))
    with engine.begin() as connection:
        for model, items in rows.items():
            for start in range(0, len(items), CHUNK):
                connection.execute(insert(model.__table__), items[start : start + CHUNK])
    with session_scope(engine) as session:
        refresh_people(session=session)
    return {model.__tablename__: len(items) for model, items in rows.items()}


def _issue(issue_id: int, kind: str, iid: int, created: datetime, author: str) -> dict:
    project = {"handover": SETTINGS.gitlab_handover_project, "production": PROJECT}[kind]
    return {
        "id": issue_id,
        "project_path": project,
        "iid": iid,
        "kind": kind,
        "title": f"{kind} {iid}",
        "state": "closed",
        "confidential": kind == "handover",
        "created_at": created,
        "updated_at": created,
        "labels": [],
        "author_id": author,
        "assignee_ids": [],
    }


def build_file(path: Path, incidents: int) -> None:
    """Migrate and fill the SQLite file at `path`."""
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    started = time.perf_counter()
    counts = build(engine, incidents)
    print(f"built in {time.perf_counter() - started:.1f} s: {counts}", file=sys.stderr)


def read_floor(path: Path) -> float:
    """Seconds SQLite takes just to read the columns the report needs."""
    queries = [
        "SELECT incident_id, posted_at, state, announced_minutes, announced_clock"
        " FROM statuspagemessage",
        "SELECT id, statuspage_id, name, production_issue_iid, first_message_at, datetime_open"
        " FROM statuspageincident",
        "SELECT incident_number, title, created_at, acknowledged_at, acknowledged_by,"
        " statuspage_incident_id, service_id FROM pagerdutyincident",
        "SELECT schedule_id, schedule_kind, user_id, start, end, region FROM oncallentry",
        "SELECT id, iid, kind, project_path, severity, labels, author_id, assignee_ids,"
        " created_at, closed_at FROM gitlabissue",
        "SELECT issue_id, label_name, action, created_at FROM gitlablabelevent",
    ]
    connection = sqlite3.connect(path)
    started = time.perf_counter()
    for query in queries:
        connection.execute(query).fetchall()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def report_once(path: Path | str) -> KpiReport:
    """The full report over the history in the SQLite file at `path`, or at a database URL."""
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    with Session(make_engine(url)) as session:
        return compute_kpis(session=session, settings=SETTINGS, since=START, until=END)


def copy_seconds(path: Path) -> float:
    """Seconds making the report's columnar copy takes (what a sync pays once per change)."""
    with Session(make_engine(f"sqlite:///{path}")) as session:
        started = time.perf_counter()
        build_facts(session, SETTINGS)
        return time.perf_counter() - started


def best_in_turns(*runs: Any) -> list[float]:
    """The best of ROUNDS timings of each run, taken in turns."""
    timings: list[list[float]] = [[] for _ in runs]
    for _ in range(ROUNDS):
        for run, times in zip(runs, timings, strict=True):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    return [min(times) for times in timings]


def processes_in_turns(a: list[str], b: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds of two commands as whole processes, in turns after a warm-up of each:
    the medians and the median of the pair-by-pair ratios a/b."""
    walls: tuple[list[float], list[float]] = ([], [])
    for round_ in range(ROUNDS + 1):
        for command, times in zip((a, b), walls, strict=True):
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            if round_:  # the first round warms the file cache
                times.append(time.perf_counter() - started)
    return {
        "a_median_seconds": round(statistics.median(walls[0]), 2),
        "b_median_seconds": round(statistics.median(walls[1]), 2),
        "ratio": round(statistics.median(x / y for x, y in zip(*walls, strict=True)), 2),
    }


def on_postgres(incidents: int) -> tuple[Any, str]:
    """A throwaway PostgreSQL server holding the same history; (server, database URL)."""
    from tests.support.postgres import PostgresServer, find_postgres

    binaries = find_postgres()
    if binaries is None:
        raise SystemExit("PostgreSQL is not installed: apt-get install -y postgresql")
    server = PostgresServer(binaries)
    server.start()
    url = server.create_database()
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    build(engine, incidents)
    engine.dispose()
    print(f"built on PostgreSQL in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return server, url


def kpis_command(path: Path) -> tuple[list[str], dict[str, str]]:
    """`python -m cmoc_core kpis` over the whole history of the SQLite file, and its settings."""
    env = {
        **os.environ,
        "CMOC_DATABASE_URL": f"sqlite:///{path}",
        "PAGERDUTY_CMOC_SERVICE_IDS": "PCMOC",
        "PAGERDUTY_CMOC_SCHEDULE_IDS": "SAMER,SEMEA,SAPAC",
        "PAGERDUTY_SHADOW_SCHEDULE_IDS": "SSHADOW",
        "STATUSIO_STATUSPAGE_ID": "page",
        "GITLAB_TOKEN": "x",
    }
    command = [sys.executable, "-m", "cmoc_core", "kpis", "--since", f"{START:%Y-%m-%d}"]
    return [*command, "--until", f"{END:%Y-%m-%d}"], env


def process_peak_mb(path: Path, reports: int) -> float:
    """Peak resident memory of a fresh interpreter that makes `reports` reports in a row,
    libraries included, and nothing else."""
    command = [sys.executable, __file__, "--peak-of", str(path), "--reports", str(reports)]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--keep", help="build into this SQLite file (reused when present)")
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    parser.add_argument("--reports", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_of:  # the child of process_peak_mb
        for _ in range(args.reports):
            report_once(Path(args.peak_of))
        # VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec.
        status = Path("/proc/self/status").read_text().splitlines()
        print(int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024)
        return 0
    path = Path(args.keep or Path(tempfile.mkdtemp(prefix="cmoc-kpi-")) / "kpi.db")
    if not path.exists() or path.stat().st_size < 1_000_000:
        # In a child process, so the building does not count in this one's peak memory.
        builder = multiprocessing.get_context("fork").Process(
            target=build_file, args=(path, args.incidents)
        )
        builder.start()
        builder.join()
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)  # a kept file may be older than the newest schema
    with engine.connect() as connection:
        counts = {
            table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            for table in TABLES
        }
    columnar = Path(tempfile.mkdtemp(prefix="cmoc-parquet-"))
    write_parquet(path, columnar)
    peer: dict[str, Any] = {}

    def duckdb_once() -> None:
        peer["seconds"], peer["figures"] = cadence(columnar)

    report_once(path)  # warm: the drivers' libraries and the file cache
    elapsed, floor, duck = best_in_turns(
        lambda: report_once(path), lambda: read_floor(path), duckdb_once
    )
    made = copy_seconds(path)
    tracemalloc.start()  # a separate, traced run: tracing slows the timed ones down
    data = report_once(path).as_dict()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss, rss_after = process_peak_mb(path, 1), process_peak_mb(path, ROUNDS)
    cadence_figures = data["update_cadence"]
    same = all(
        peer["figures"][name] == cadence_figures[name]
        for name in ("gaps", "on_time", "longest_gap_minutes", "median_overdue_minutes")
    ) and all(
        peer["figures"]["by_severity"][level] == {"gaps": c["gaps"], "on_time": c["on_time"]}
        for level, c in cadence_figures["by_severity"].items()
    )
    command, env = kpis_command(path)
    peer_command = [sys.executable, str(ROOT / "benchmarks" / "duckdb_cadence.py"), str(columnar)]
    processes = processes_in_turns(command, peer_command, env)
    result: dict[str, Any] = {
        "rows": counts,
        "report_seconds": round(elapsed, 2),
        "read_floor_seconds": round(floor, 2),
        "ratio_to_floor": round(elapsed / floor, 2),
        "copy_made_in_seconds": round(made, 2),
        "duckdb_cadence_seconds": round(duck, 3),
        "ratio_to_duckdb_cadence": round(elapsed / duck, 2),
        "duckdb_same_cadence_figures": same,
        "kpis_process": {
            "seconds": processes["a_median_seconds"],
            "duckdb_cadence_process_seconds": processes["b_median_seconds"],
            "ratio_to_duckdb_process": processes["ratio"],
        },
        "python_peak_mb": round(peak, 1),
        # A fresh process (interpreter and libraries included) making one report, and making
        # several in a row: the allocator keeps some of what earlier reports freed.
        "process_peak_rss_mb": round(rss, 1),
        f"process_peak_rss_after_{ROUNDS}_mb": round(rss_after, 1),
        "gaps": cadence_figures["gaps"],
        "pages": data["ack_time"]["pages"],
        "first_public_updates": data["first_public_update"]["incidents"],
        "announced_updates": data["announced_updates"]["announced"],
    }
    targets = {
        "under_2s": elapsed < 2,
        "within_2x_floor": elapsed <= 2 * floor,
        "under_500mb": peak < 500 and rss < 500,
        "within_1x_duckdb_cadence": elapsed <= duck,
        "kpis_process_under_1_5s": processes["a_median_seconds"] <= 1.5,
        "duckdb_computes_the_same_figures": same,
    }
    if not args.no_postgres:
        server, url = on_postgres(args.incidents)
        try:
            report_once(url)  # warm
            on_sqlite, on_pg = best_in_turns(lambda: report_once(path), lambda: report_once(url))
            same_on_pg = report_once(url).as_dict() == data
        finally:
            server.stop()
        result["postgresql"] = {
            "report_seconds": round(on_pg, 2),
            "sqlite_report_seconds": round(on_sqlite, 2),
            "ratio_to_sqlite": round(on_pg / on_sqlite, 2),
            "same_figures": same_on_pg,
        }
        targets["postgresql_within_1_2x_sqlite"] = on_pg <= 1.2 * on_sqlite and same_on_pg
    result["targets_met"] = targets
    print(json.dumps(result, indent=2))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
