"""First page view after a server start: the cockpit against a one-widget Streamlit app.

Each run starts `streamlit run` as `make run` does, waits until the server answers, then asks
for the page as a browser does (the websocket and its first rerun request) and stops the
clock at the server's "script finished". The cockpit serves its default page in demo mode on
a database holding a year of the demo organisation's history, its modules compiled first as
`make run` does; the floor is a page with one button. Runs alternate between them after a
warm-up of each (the OS file cache is warm).

A third app shows what the stack alone costs: the one-widget page that also imports SQLModel,
the data layer every page of the cockpit reads through, and does nothing with it.

Target: the median of the pairwise ratios cockpit / one-widget at most 1.3. Exits 1 when missed.

    .venv/bin/python benchmarks/first_view.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from composer_rerun import rerun, served  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

TARGET_RATIO = 1.3
ONE_WIDGET = 'import streamlit as st\n\nst.button("Go")\n'
WITH_STACK = "import sqlmodel  # noqa: F401\n" + ONE_WIDGET
# Real services are configured through these; unset, the cockpit runs in demo mode.
SERVICES = ("PAGERDUTY_API_TOKEN", "STATUSIO_API_ID", "GITLAB_TOKEN")


def demo_database(folder: Path) -> str:
    """A database holding a year of the demo organisation's history, as `make demo` fills it."""
    url = f"sqlite:///{folder}/cockpit.db"
    subprocess.run(
        [sys.executable, "-m", "cmoc_core", "demo"],
        cwd=ROOT,
        env={**environment(), "CMOC_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    return url


def environment() -> dict[str, str]:
    """This process's environment without any service configured."""
    return {k: v for k, v in os.environ.items() if k not in SERVICES}


def first_view(script: Path, env: dict[str, str]) -> float:
    """Milliseconds from starting `streamlit run script` to its first page finished."""
    started = time.perf_counter()
    with served(script, env, poll=0.01) as url, connect(url, subprotocols=["streamlit"]) as ws:
        rerun(ws)
        return (time.perf_counter() - started) * 1000


def figures(timings: list[float]) -> dict[str, float]:
    """Minimum and median, in milliseconds."""
    return {"min_ms": round(min(timings)), "median_ms": round(statistics.median(timings))}


def median_ratio(timings: list[float], floor: list[float]) -> float:
    """The median of the pairwise ratios of `timings` to `floor`."""
    return statistics.median(a / b for a, b in zip(timings, floor, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmoc-first-view-") as temporary:
        folder = Path(temporary)
        env = {**environment(), "CMOC_DATABASE_URL": demo_database(folder)}
        scripts = {"cockpit": ROOT / "app.py"}
        for name, text in (("one_widget", ONE_WIDGET), ("one_widget_with_sqlmodel", WITH_STACK)):
            scripts[name] = folder / f"{name}.py"
            scripts[name].write_text(text)
        # As `make run` does: the cockpit's bytecode is made before a start, as pip made
        # Streamlit's at its install.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "cmoc_core"], cwd=ROOT, check=True
        )
        for script in scripts.values():
            first_view(script, env)  # warm-up: the OS file cache holds both
        timings: dict[str, list[float]] = {name: [] for name in scripts}
        for _ in range(args.runs):
            for side, script in scripts.items():
                timings[side].append(first_view(script, env))
    ratio = median_ratio(timings["cockpit"], timings["one_widget"])
    met = ratio <= TARGET_RATIO
    result = {
        "runs": args.runs,
        **{name: figures(found) for name, found in timings.items()},
        "median_ratio": round(ratio, 2),
        "sqlmodel_alone_ratio": round(
            median_ratio(timings["one_widget_with_sqlmodel"], timings["one_widget"]), 2
        ),
        "target_ratio": TARGET_RATIO,
        "targets_met": met,
    }
    print(json.dumps(result, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
