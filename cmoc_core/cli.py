"""Command line: sync, kpis, demo, sandbox and worker.

Exit codes: 0 success, 1 a source failed (or another sync is running), 2 bad input or
configuration. Every failure is one line on stderr naming what to fix, never a traceback and
never a secret.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError

from cmoc_core.config import ConfigError, Settings, load_settings
from cmoc_core.coverage import EARLIEST_DAY, LONGEST_YEARS, SOURCES, earliest_since, years_before
from cmoc_core.timeutil import iso_z, utc_now

if TYPE_CHECKING:  # each command imports what it works with, so that none pays for the others
    from sqlalchemy.engine import Engine

    from cmoc_core.kpi_results import KpiReport
    from cmoc_core.refresher import Refresher

OK, SOURCE_FAILED, BAD_INPUT = 0, 1, 2
# The periods the commands accept: nothing before the product's history could start, no span
# longer than ten years, nothing far ahead (dates there overflow).
MAX_AHEAD = timedelta(days=366)


class UsageError(Exception):
    """Bad input on the command line: the one line to print."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, without the usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a day in YYYY-MM-DD form ({exc})"
        ) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m cmoc_core", description="CMOC Cockpit")
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
    sandbox.add_argument("--port", type=_port, default=8765)
    worker = commands.add_parser(
        "worker",
        help="keep the database fresh: sync every CMOC_SYNC_EVERY, look for new CMOC pages "
        "every 30 s, send reminders of updates due",
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="one sync, one look for new pages and one reminder pass, then exit",
    )
    return parser


def _check_day(name: str, day: date, today: date) -> None:
    if day < EARLIEST_DAY:
        raise UsageError(f"{name} {day} is before {EARLIEST_DAY}: give a later day")
    if day > today + MAX_AHEAD:
        raise UsageError(f"{name} {day} is more than a year ahead: give an earlier day")


def check_sync_since(since: date, today: date) -> None:
    """Raise UsageError unless `sync --since` is a day within the last ten years, not ahead."""
    _check_day("--since", since, today)
    if since > today:
        raise UsageError(f"--since {since} is in the future: give today ({today}) or earlier")
    if since < earliest_since(today):
        raise UsageError(
            f"--since {since} is more than {LONGEST_YEARS} years ago: "
            f"give {earliest_since(today)} or later"
        )


def check_kpi_period(since: date, until: date, today: date) -> None:
    """Raise UsageError unless `kpis --since/--until` is a period of at most ten years."""
    _check_day("--since", since, today)
    _check_day("--until", until, today)
    if until <= since:
        raise UsageError("--until must be after --since")
    if since < years_before(until, LONGEST_YEARS):
        raise UsageError(
            f"--since {since} --until {until} spans more than {LONGEST_YEARS} years: "
            "give a shorter period"
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _settings_problem(exc: ConfigError | ValidationError) -> str:
    """The configuration's problems on one line: setting names and what is wrong, no values."""
    if isinstance(exc, ConfigError):
        return " ".join("; ".join(exc.problems).split())
    names = sorted({str(e["loc"][0]).upper() for e in exc.errors() if e.get("loc")})
    return f"these settings are not valid: {', '.join(names) or 'unknown'}"


def main(argv: list[str] | None = None, *, sleep: Callable[[float], None] | None = None) -> int:
    """Run one command; 0 on success, 1 or 2 with a one-line reason on failure (module doc).

    `sleep` replaces the clients' real waits (retry back-off, Status.io's spacing).
    """
    try:
        return _main(argv, sleep)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except (ConfigError, ValidationError) as exc:
        print(f"error: configuration: {_settings_problem(exc)}", file=sys.stderr)
        return BAD_INPUT
    except Exception as exc:
        # Only a command that opened the database can get here with its errors.
        from sqlalchemy.exc import SQLAlchemyError

        from cmoc_core.storage import DatabaseUnavailable

        if isinstance(exc, DatabaseUnavailable):
            print(f"error: {exc}", file=sys.stderr)
            return BAD_INPUT
        if isinstance(exc, SQLAlchemyError):
            # The database failed after it opened (a lost connection, a full disk): not bad input.
            print(f"error: database: {type(exc).__name__}", file=sys.stderr)
            return SOURCE_FAILED
        raise


def _main(argv: list[str] | None, sleep: Callable[[float], None] | None) -> int:
    args = _parser().parse_args(argv)
    today = utc_now().date()
    if args.command == "sandbox":
        return _serve_sandbox(args.port)
    if args.command == "sync" and args.since is not None:
        check_sync_since(args.since, today)
    if args.command == "kpis":
        check_kpi_period(args.since, args.until, today)
    settings = load_settings()
    if args.command == "demo":
        settings = settings.model_copy(
            update={"pagerduty_api_token": None, "statusio_api_id": None, "gitlab_token": None}
        )
    if args.command == "kpis" and not settings.demo_mode:
        from cmoc_core.kpi_facts import stored_copy

        facts = stored_copy(settings.cmoc_database_url, settings)
        if facts is not None:  # made already: the report needs neither the ORM nor the tables
            from cmoc_core.kpi_report import report

            since, until = _midnight(args.since), _midnight(args.until)
            return _print_report(report(facts, settings, since, until, utc_now()), args.format)
    from cmoc_core.storage import open_database

    engine = open_database(settings.cmoc_database_url)
    try:
        if args.command == "kpis":
            effective = settings
            if settings.demo_mode:
                from cmoc_core.sources import open_sources

                effective = open_sources(settings).settings
            return _print_kpis(engine, effective, args)
        if args.command == "worker":
            return _work(engine, settings, once=args.once, sleep=sleep)
        return _sync(engine, settings, args, sleep)
    finally:
        engine.dispose()


def _serve_sandbox(port: int) -> int:
    from cmoc_core.sandbox import run_server

    try:
        run_server(port)
    except OSError as exc:
        print(
            f"error: cannot serve the sandbox on 127.0.0.1:{port}: "
            f"{exc.strerror or type(exc).__name__}; give another --port",
            file=sys.stderr,
        )
        return BAD_INPUT
    return OK


def _sync(
    engine: Engine,
    settings: Settings,
    args: argparse.Namespace,
    sleep: Callable[[float], None] | None,
) -> int:
    from cmoc_core.sources import open_sources
    from cmoc_core.sync import run_sync

    sources = open_sources(settings, sleep=sleep)
    if sources.demo:
        print("demo mode: syncing from the built-in sandbox (nothing leaves this machine)")
    chosen = SOURCES if args.command == "demo" or args.source == "all" else (args.source,)
    since = getattr(args, "since", None)
    try:
        report = run_sync(
            engine=engine,
            settings=sources.settings,
            clients=sources.clients,
            sources=chosen,
            since=_midnight(since) if since else None,
            progress=lambda message: print(message, file=sys.stderr),
            holder=f"{args.command} command, process {os.getpid()} on {socket.gethostname()}",
        )
    finally:
        sources.clients.close()
    if report.busy:
        # Nothing was pulled: a caller that chains commands must not take the data as fresh.
        print(report.busy, file=sys.stderr)
        return SOURCE_FAILED
    print(report.summary())
    if not report.ok:
        print(f"error: {report.first_error}", file=sys.stderr)
        return SOURCE_FAILED
    return OK


def _say(line: str) -> None:
    print(line, flush=True)


def _work(
    engine: Engine, settings: Settings, *, once: bool, sleep: Callable[[float], None] | None
) -> int:
    """The refresher in the foreground: until stopped (SIGTERM, Ctrl+C), or one pass."""
    from cmoc_core.refresher import PAGE_CHECK_EVERY, Refresher, span
    from cmoc_core.sources import open_sources

    sources = open_sources(settings, sleep=sleep)
    if sources.demo:
        print("demo mode: working on the built-in sandbox (nothing leaves this machine)")
    refresher = Refresher(
        engine=engine,
        settings=sources.settings,
        clients=sources.clients,
        holder=f"worker, process {os.getpid()} on {socket.gethostname()}",
        say=_say,
        reminder_transport=sources.sandbox.transport if sources.demo else None,
    )
    try:
        if once:
            return _work_once(refresher)
        every = refresher.every
        sync = f"sync every {span(every)}" if every else "background sync off (CMOC_SYNC_EVERY=0)"
        _say(
            f"worker: {sync}, new CMOC pages every {span(PAGE_CHECK_EVERY)}, reminders; "
            "stop with Ctrl+C"
        )
        signal.signal(signal.SIGTERM, lambda _signum, _frame: refresher.stop())
        try:
            refresher.run_forever()
        except KeyboardInterrupt:
            refresher.stop()
        _say("worker: stopped")
        return OK
    finally:
        sources.clients.close()


def _work_once(refresher: Refresher) -> int:
    from cmoc_core.refresher import SyncOutcome

    report = refresher.run_pass(everything=True)
    for line in report.lines():
        print(line)
    failures = list(report.problems)
    if report.sync is not None and report.sync.outcome is not SyncOutcome.SYNCED:
        failures.insert(0, f"{report.sync.outcome.words.lower()}: {report.sync.detail}")
    if report.check is not None and report.check.error:
        failures.append(f"new-page check: {report.check.error}")
    if failures:
        print(f"error: {failures[0]}", file=sys.stderr)
        return SOURCE_FAILED
    return OK


def _print_kpis(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from cmoc_core.kpis import compute_kpis

    with Session(engine) as session:
        report = compute_kpis(
            session=session,
            settings=settings,
            since=_midnight(args.since),
            until=_midnight(args.until),
        )
    return _print_report(report, args.format)


def _print_report(report: KpiReport, form: str) -> int:
    if form == "json":
        print(json.dumps(report.as_dict(), indent=2))
        return OK
    rows = report.figures()
    if form == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["kpi", "figure", "value"])
        writer.writerows((k, f, "" if v is None else v) for k, f, v in rows)
        return OK
    print(f"CMOC indicators {iso_z(report.since)} .. {iso_z(report.until)}")
    for kpi, figure, value in rows:
        print(f"  {kpi:<22} {figure:<32} {'-' if value is None else value}")
    return OK
