"""Sync two large sandbox accounts over HTTP and compare the ways to read acknowledgements.

Account shapes: "all CMOC" (every incident is a CMOC page) and "5% CMOC" (the CMOC pages are
one incident in twenty; the rest belong to other teams' services). For each shape, every
`AckSource` runs a first sync into an empty database, then an incremental sync an hour later;
the incident list alone (the `acknowledgements` of open pages) and the official `pagerduty`
client's bulk pull of the same pages are measured beside them.

The sandbox serves from its own process, so CPU figures are the syncing process's alone. The
CPU target pairs runs side by side (ours, the peer's, ours, ...) and takes the median ratio.

Targets, per shape (exit 1 when one is missed):
- the first sync's PagerDuty requests <= 1.1 x the cheapest complete strategy's;
- an incremental sync with nothing new: <= 10 requests in all;
- the first sync's CPU for the pages <= 1.5 x the official client's pull of the same pages.

    .venv/bin/python benchmarks/sync_scale.py [--pages 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

END = datetime(2026, 11, 1, tzinfo=UTC)
SHARE = 0.05
REQUESTS_TARGET = 1.1
INCREMENTAL_TARGET = 10
CPU_TARGET = 1.5
SCRIPT = str(Path(__file__).resolve())
# Strategies that read every acknowledgement; the incident list alone does not.
COMPLETE = ("auto", "account_log", "page_logs", "page_windows")


@dataclass(frozen=True)
class Shape:
    """An account: its CMOC pages and its other teams' incidents."""

    name: str
    pages: int
    others: int


def shapes(pages: int) -> list[Shape]:
    """The two accounts the targets are checked on."""
    others = round(pages / SHARE) - pages
    return [Shape("all CMOC", pages, 0), Shape(f"{SHARE:.0%} CMOC", pages, others)]


# ---------------------------------------------------------------------------------------------
# The sandbox, in its own process.


def serve(pages: int, others: int) -> None:
    """Serve a sandbox of the shape on 127.0.0.1 and print its settings as one JSON line."""
    from cmoc_core.sandbox import Sandbox
    from cmoc_core.sandbox.organisation import generate
    from cmoc_core.sandbox.pagerduty import PagerDutyServer

    org = generate(seed=7, end=END, pages=pages, other_incidents=others)
    sandbox = Sandbox(org=org, end=END)
    sandbox.pagerduty = _IndexedLogs.of(sandbox.pagerduty, PagerDutyServer)
    server = sandbox.make_server()
    # Headers and body leave in two writes: without this, each answer waits for the client's
    # delayed acknowledgement (about 40 ms), and the runs would measure that wait.
    server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    print(json.dumps(sandbox.settings(base_url)), flush=True)
    server.serve_forever()


class _IndexedLogs:
    """Answers `/incidents/{id}/log_entries` from that incident's entries alone.

    The fake scans the whole log for one incident's entries, a tenth of a second per call on
    the 5% account; the answer is the same from the incident's own, ordered, entries.
    """

    @staticmethod
    def of(server: Any, base: type) -> Any:
        """`server` answering one incident's log entries by index."""
        by_incident: dict[str, tuple[list[Any], list[Any]]] = {}
        for entry, at in zip(server.log_entries, server.log_entry_times, strict=True):
            entries, times = by_incident.setdefault(entry["incident"]["id"], ([], []))
            entries.append(entry)
            times.append(at)
        plain = base._log_entries

        def log_entries(params: Any, incident_id: str | None) -> Any:
            if incident_id is None:
                return plain(server, params, None)
            whole = server.log_entries, server.log_entry_times
            server.log_entries, server.log_entry_times = by_incident.get(incident_id, ([], []))
            try:
                return plain(server, params, incident_id)
            finally:
                server.log_entries, server.log_entry_times = whole

        server._log_entries = log_entries
        return server


# ---------------------------------------------------------------------------------------------
# Our sync, in a process of its own per run.


def sync_worker(settings_file: str, source: str, sources: str) -> dict[str, Any]:
    """One first sync and one incremental sync into a new database; figures as a dict."""
    from sqlmodel import Session, col, func, select

    from cmoc_core.clients import build_clients
    from cmoc_core.config import settings_from_mapping
    from cmoc_core.models import PagerDutyIncident, PagerDutyLogEntry
    from cmoc_core.storage import make_engine, migrate
    from cmoc_core.sync import AckSource, run_sync

    settings = settings_from_mapping(json.loads(Path(settings_file).read_text()))
    folder = tempfile.mkdtemp(prefix="cmoc-bench-")
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    migrate(engine)
    wanted = tuple(sources.split(","))
    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((message, time.process_time()))

    clients = build_clients(settings, statusio_min_interval=0.0)
    cpu = time.process_time()
    wall = time.perf_counter()
    first = run_sync(
        engine=engine,
        settings=settings,
        clients=clients,
        sources=wanted,
        now=END,
        progress=progress,
        ack_source=AckSource(source),
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    marks.append(("end", time.process_time()))
    clients.close()
    pages_cpu = next(
        after - at
        for (message, at), (_, after) in zip(marks, marks[1:], strict=False)
        if message == "Syncing pagerduty.pages"
    )
    clients = build_clients(settings, statusio_min_interval=0.0)
    second = run_sync(
        engine=engine,
        settings=settings,
        clients=clients,
        sources=wanted,
        now=END + timedelta(hours=1),
        ack_source=AckSource(source),
    )
    clients.close()
    with Session(engine) as session:
        acked = session.exec(
            select(func.count()).where(col(PagerDutyIncident.acknowledged_at).is_not(None))
        ).one()
        entries = session.exec(select(func.count()).select_from(PagerDutyLogEntry)).one()
    chosen = first.ack_source.value if first.ack_source else None
    return {
        "ok": first.ok and second.ok,
        "errors": [e for e in (first.first_error, second.first_error) if e],
        "first_requests": first.requests,
        "incremental_requests": second.requests,
        "cpu": cpu,
        "wall": wall,
        "pages_cpu": pages_cpu,
        "acknowledged": acked,
        "log_entries": entries,
        "chosen": chosen,
    }


def list_worker(settings_file: str) -> dict[str, Any]:
    """The incident list alone: how many pages it shows acknowledged, at what cost."""
    from cmoc_core.clients import build_clients
    from cmoc_core.config import settings_from_mapping
    from cmoc_core.sync import FIRST_SYNC_DAYS

    settings = settings_from_mapping(json.loads(Path(settings_file).read_text()))
    clients = build_clients(settings)
    assert clients.pagerduty is not None
    services = sorted(settings.pagerduty_cmoc_service_ids)
    cpu = time.process_time()
    acked = 0
    for page in clients.pagerduty.incidents(
        since=END - timedelta(days=FIRST_SYNC_DAYS), until=END, service_ids=services
    ):
        acked += sum(1 for incident in page if incident.get("acknowledgements"))
    cpu = time.process_time() - cpu
    requests = clients.requests_made()["pagerduty"]
    clients.close()
    return {"requests": requests, "cpu": cpu, "acknowledged": acked}


# ---------------------------------------------------------------------------------------------
# The official client, pulling the same pages the same way.


def peer_worker(settings_file: str, source: str) -> dict[str, Any]:
    """The official client's pull of the CMOC pages and their log entries; figures as a dict.

    `account_log`: `iter_history` over `/incidents` and `/log_entries` (its bulk pull, which
    bisects windows past the offset ceiling); `page_logs`: `iter_history` over `/incidents`,
    then `iter_all` over each page's log entries.
    """
    import httpx2
    import pagerduty

    from cmoc_core.clients.pagerduty import MAX_WINDOW
    from cmoc_core.sync import FIRST_SYNC_DAYS

    values = json.loads(Path(settings_file).read_text())
    counted = [0]

    def count(_request: Any) -> None:
        counted[0] += 1

    class PlainHttp(httpx2.BaseTransport):
        """Sends the client's https requests to the sandbox, which speaks plain HTTP."""

        def __init__(self) -> None:
            self.inner = httpx2.HTTPTransport()

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            request.url = request.url.copy_with(scheme="http")
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    # The client accepts only https base URLs.
    client = pagerduty.RestApiV2Client(
        values["PAGERDUTY_API_TOKEN"],
        base_url=values["PAGERDUTY_API_URL"].replace("http://", "https://", 1),
        event_hooks={"request": [count]},
        transport=PlainHttp(),
    )
    services = values["PAGERDUTY_CMOC_SERVICE_IDS"].split(",")
    # The incident list takes at most six months at a time (api-schema listIncidents), so both
    # pulls go window by window, as the sync does.
    windows = []
    start = END - timedelta(days=FIRST_SYNC_DAYS)
    while start < END:
        windows.append((start, min(start + MAX_WINDOW, END)))
        start = windows[-1][1]
    # One request first, so that what the client imports on its first call is not timed: the
    # sync's pages come after other streams that did the same for it.
    client.get_total("/incidents", params={"service_ids[]": services})
    counted[0] = 0
    cpu = time.process_time()
    incidents = [
        incident
        for since, until in windows
        for incident in client.iter_history(
            "/incidents", since, until, params={"service_ids[]": services}
        )
    ]
    entries = 0
    if source == "page_logs":
        for incident in incidents:
            path = f"/incidents/{incident['id']}/log_entries"
            entries += sum(1 for _ in client.iter_all(path, params={"is_overview": "true"}))
    else:
        for since, until in windows:
            overview = {"is_overview": "true"}
            pulled = client.iter_history("/log_entries", since, until, params=overview)
            entries += sum(1 for _ in pulled)
    cpu = time.process_time() - cpu
    client.close()
    return {"requests": counted[0], "cpu": cpu, "incidents": len(incidents), "entries": entries}


# ---------------------------------------------------------------------------------------------
# The comparison.


def run_json(*args: str) -> dict[str, Any]:
    """Run this script with `args` in a new process and return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(shape: Shape, repeats: int) -> dict[str, Any]:
    """Every strategy's figures on one account shape."""
    print(f"\n{shape.name}: {shape.pages:,} CMOC pages among {shape.pages + shape.others:,}")
    server = subprocess.Popen(
        [
            sys.executable,
            SCRIPT,
            "serve",
            "--pages",
            str(shape.pages),
            "--others",
            str(shape.others),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox server did not start")
        settings_file = str(Path(tempfile.mkdtemp(prefix="cmoc-bench-")) / "settings.json")
        Path(settings_file).write_text(line)
        runs = {source: run_json("sync", settings_file, "--source", source) for source in COMPLETE}
        listing = run_json("list", settings_file)
        chosen = runs["auto"]["chosen"]
        bulk = run_json("peer", settings_file, "--source", "account_log")
        # The first pair is the automatic run beside the official client pulling the same way.
        same = (
            bulk if chosen == "account_log" else run_json("peer", settings_file, "--source", chosen)
        )
        pairs = [(runs["auto"], same)]
        for _ in range(repeats - 1):
            ours = run_json("sync", settings_file, "--source", "auto")
            theirs = run_json("peer", settings_file, "--source", chosen)
            pairs.append((ours, theirs))
    finally:
        server.terminate()
        server.wait()
    return {
        "shape": shape,
        "runs": runs,
        "listing": listing,
        "bulk_peer": bulk,
        "pairs": pairs,
        "chosen": chosen,
    }


def report(result: dict[str, Any]) -> list[str]:
    """Print one shape's table; returns the targets it misses."""
    shape, runs = result["shape"], result["runs"]
    missed: list[str] = []
    pd = {source: run["first_requests"].get("pagerduty", 0) for source, run in runs.items()}
    cheapest = min(pd[s] for s in COMPLETE if s != "auto")
    rows = [
        (
            f"sync: {source}" + (f" (chose {result['chosen']})" if source == "auto" else ""),
            pd[source],
            run["pages_cpu"],
            f"{run['acknowledged']:,}",
            f"{run['log_entries']:,}",
        )
        for source, run in runs.items()
    ]
    listing, bulk = result["listing"], result["bulk_peer"]
    rows.append(
        (
            "incident list only",
            listing["requests"],
            listing["cpu"],
            f"{listing['acknowledged']:,}",
            "-",
        )
    )
    rows.append(
        ("official client, bulk pull", bulk["requests"], bulk["cpu"], "-", f"{bulk['entries']:,}")
    )
    # CPU: the pages stream of the first sync (the official client: its pull); acked: pages
    # stored with an acknowledgement; log rows: entries stored (the official client: pulled).
    print(f"{'PagerDuty strategy':<42} {'requests':>9} {'CPU s':>7} {'acked':>7} {'log rows':>9}")
    for name, requests, cpu, acked, entries in rows:
        print(f"{name:<42} {requests:>9,} {cpu:>7.2f} {acked:>7} {entries:>9}")
    auto = runs["auto"]
    print(f"auto first sync, all sources: {auto['first_requests']}, CPU {auto['cpu']:.2f} s")
    print(f"auto incremental sync an hour later: {auto['incremental_requests']}")
    ratio_requests = pd["auto"] / cheapest
    incremental = sum(auto["incremental_requests"].values())
    ratios = [ours["pages_cpu"] / theirs["cpu"] for ours, theirs in result["pairs"]]
    ratio_cpu = statistics.median(ratios)
    peer_requests = result["pairs"][0][1]["requests"]
    print(
        f"pages CPU, ours / official client pulling the same pages ({result['chosen']}, "
        f"{peer_requests:,} requests): "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"; median {ratio_cpu:.2f}"
    )
    acknowledged = {run["acknowledged"] for run in runs.values()}
    entries = {run["log_entries"] for run in runs.values()}
    checks = [
        ("every strategy stores the same acknowledgements", len(acknowledged) == 1),
        ("every strategy stores the same log entries", len(entries) == 1),
        (f"first sync requests {ratio_requests:.2f} x cheapest", ratio_requests <= REQUESTS_TARGET),
        (f"incremental sync {incremental} requests", incremental <= INCREMENTAL_TARGET),
        (f"pages CPU {ratio_cpu:.2f} x official client", ratio_cpu <= CPU_TARGET),
        ("every sync ok", all(run["ok"] for run in runs.values())),
    ]
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'MISS'} {text}")
        if not ok:
            missed.append(f"{shape.name}: {text}")
    for source, run in runs.items():
        for error in run["errors"]:
            print(f"  {source}: {error}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000, help="CMOC pages in each account")
    parser.add_argument("--repeats", type=int, default=3, help="side-by-side CPU pairs")
    # The parts below run in processes of their own.
    commands = parser.add_subparsers(dest="command")
    serve_args = commands.add_parser("serve")
    serve_args.add_argument("--pages", type=int, required=True)
    serve_args.add_argument("--others", type=int, required=True)
    sync_args = commands.add_parser("sync")
    sync_args.add_argument("settings_file")
    sync_args.add_argument("--source", default="auto")
    sync_args.add_argument("--sources", default="statusio,gitlab,pagerduty")
    list_args = commands.add_parser("list")
    list_args.add_argument("settings_file")
    peer_args = commands.add_parser("peer")
    peer_args.add_argument("settings_file")
    peer_args.add_argument("--source", default="account_log")
    args = parser.parse_args()

    if args.command == "serve":
        serve(args.pages, args.others)
        return 0
    if args.command == "sync":
        print(json.dumps(sync_worker(args.settings_file, args.source, args.sources)))
        return 0
    if args.command == "list":
        print(json.dumps(list_worker(args.settings_file)))
        return 0
    if args.command == "peer":
        print(json.dumps(peer_worker(args.settings_file, args.source)))
        return 0
    missed: list[str] = []
    for shape in shapes(args.pages):
        missed += report(measure(shape, args.repeats))
    if missed:
        print("\nTargets missed:\n  " + "\n  ".join(missed))
        return 1
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
