"""Command line: sync, kpis, demo and sandbox."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cmoc_core.config import Settings, load_settings
from cmoc_core.kpis import compute_kpis
from cmoc_core.sources import open_sources
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import SOURCES, run_sync
from cmoc_core.timeutil import iso_z


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cmoc_core", description="CMOC Cockpit")
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser(
        "sync", help="pull PagerDuty, Status.io and GitLab into the database"
    )
    sync.add_argument("--source", choices=["all", *sorted(SOURCES)], default="all")
    sync.add_argument(
        "--since", type=_day, help="pull from this day (YYYY-MM-DD) instead of the cursor"
    )
    kpis = commands.add_parser("kpis", help="print the CMOC performance indicators")
    kpis.add_argument("--since", type=_day, required=True, help="first day (YYYY-MM-DD)")
    kpis.add_argument("--until", type=_day, required=True, help="day after the last (YYYY-MM-DD)")
    kpis.add_argument("--format", choices=["json", "csv", "table"], default="json")
    commands.add_parser("demo", help="fill the database from the built-in sandbox")
    sandbox = commands.add_parser("sandbox", help="serve the fake APIs on 127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    return parser


def main(argv: list[str] | None = None, *, sleep: Callable[[float], None] | None = None) -> int:
    """Run one command; 0 on success, 1 with a one-line reason on failure.

    `sleep` replaces the clients' real waits (retry back-off, Status.io's spacing).
    """
    args = _parser().parse_args(argv)
    if args.command == "sandbox":
        from cmoc_core.sandbox import run_server

        run_server(args.port)
        return 0
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"error: configuration: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if args.command == "demo":
        settings = settings.model_copy(
            update={"pagerduty_api_token": None, "statusio_api_id": None, "gitlab_token": None}
        )
    engine = make_engine(settings.cmoc_database_url)
    migrate(engine)
    if args.command == "kpis":
        effective = open_sources(settings).settings if settings.demo_mode else settings
        return _print_kpis(engine, effective, args)
    sources = open_sources(settings, sleep=sleep)
    if sources.demo:
        print("demo mode: syncing from the built-in sandbox (nothing leaves this machine)")
    chosen = SOURCES if args.command == "demo" or args.source == "all" else (args.source,)
    try:
        report = run_sync(
            engine=engine,
            settings=sources.settings,
            clients=sources.clients,
            sources=chosen,
            since=getattr(args, "since", None),
            progress=lambda message: print(message, file=sys.stderr),
        )
    finally:
        sources.clients.close()
    print(report.summary())
    if not report.ok:
        print(f"error: {report.first_error}", file=sys.stderr)
        return 1
    return 0


def _print_kpis(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    if args.until <= args.since:
        print("error: --until must be after --since", file=sys.stderr)
        return 2
    with Session(engine) as session:
        report = compute_kpis(
            session=session, settings=settings, since=args.since, until=args.until
        )
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    rows = report.figures()
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["kpi", "figure", "value"])
        writer.writerows((k, f, "" if v is None else v) for k, f, v in rows)
        return 0
    print(f"CMOC indicators {iso_z(report.since)} .. {iso_z(report.until)}")
    for kpi, figure, value in rows:
        print(f"  {kpi:<22} {figure:<32} {'-' if value is None else value}")
    return 0
