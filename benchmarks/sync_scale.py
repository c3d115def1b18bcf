"""Sync a large sandbox organisation and report requests made and wall time.

Targets: at most 80 PagerDuty requests per 1,000 pages on a first sync, and at most 10
requests in all for an incremental sync with nothing new. Exits 1 when a target is missed.

    .venv/bin/python benchmarks/sync_scale.py [--pages 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmoc_core.clients import build_clients  # noqa: E402
from cmoc_core.config import settings_from_mapping  # noqa: E402
from cmoc_core.sandbox import Sandbox  # noqa: E402
from cmoc_core.sandbox.organisation import generate  # noqa: E402
from cmoc_core.storage import make_engine, migrate  # noqa: E402
from cmoc_core.sync import run_sync  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)


def timed_sync(engine, sandbox: Sandbox, now: datetime) -> tuple[float, dict[str, int], bool]:
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0.0)
    started = time.perf_counter()
    report = run_sync(engine=engine, settings=settings, clients=clients, now=now)
    elapsed = time.perf_counter() - started
    clients.close()
    if not report.ok:
        print(report.summary(), file=sys.stderr)
    return elapsed, report.requests, report.ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    started = time.perf_counter()
    org = generate(seed=7, end=END, pages=args.pages)
    generation = time.perf_counter() - started
    sandbox = Sandbox(org=org, end=END)
    folder = tempfile.mkdtemp(prefix="cmoc-bench-")
    engine = make_engine(args.database_url or f"sqlite:///{folder}/bench.db")
    migrate(engine)

    first_time, first_requests, first_ok = timed_sync(engine, sandbox, END)
    second_time, second_requests, second_ok = timed_sync(engine, sandbox, END + timedelta(hours=1))

    pd_per_1000 = first_requests.get("pagerduty", 0) * 1000 / args.pages
    result = {
        "pages": args.pages,
        "generation_seconds": round(generation, 2),
        "first_sync": {
            "seconds": round(first_time, 2),
            "requests": first_requests,
            "pagerduty_requests_per_1000_pages": round(pd_per_1000, 1),
        },
        "incremental_sync": {
            "seconds": round(second_time, 2),
            "requests": second_requests,
            "total_requests": sum(second_requests.values()),
        },
        "targets_met": {
            "pagerduty_per_1000_pages<=80": pd_per_1000 <= 80,
            "incremental_total<=10": sum(second_requests.values()) <= 10,
        },
    }
    print(json.dumps(result, indent=2))
    return 0 if first_ok and second_ok and all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
