"""Command line: sync, demo and sandbox."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime

from cmoc_core.config import load_settings
from cmoc_core.sources import open_sources
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import SOURCES, run_sync


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
    commands.add_parser("demo", help="fill the database from the built-in sandbox")
    sandbox = commands.add_parser("sandbox", help="serve the fake APIs on 127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 with a one-line reason on failure."""
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
    sources = open_sources(settings)
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
