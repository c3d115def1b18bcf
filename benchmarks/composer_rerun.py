"""Composer rerun time after a change in the message form (a keystroke-equivalent).

The database holds a year of the demo organisation's history and an incident being worked on,
started through the composer. A change in the message form reruns the form alone (it is a
Streamlit fragment), so that is what the CMOC waits for; choosing a tab or an incident, or a
publish, reruns the whole page. Both are timed in the same AppTest harness as before, each
rerun after a new Details text:

- form rerun: the form's own run, on the same database and incident;
- page rerun: the whole composer.

Then `streamlit run app.py` serves the same database, and a client speaking Streamlit's own
websocket protocol, as the browser does, checks that the Details text area is inside a
fragment (a change reruns the form alone) and times the round trip from the change sent to
the server's "script finished", for the form, the page, and a one-widget page as the floor.

Target: form rerun median at most 20 ms, and the form is a fragment on the real server.
Exits 1 when missed.

    .venv/bin/python benchmarks/composer_rerun.py [--runs 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from streamlit import config  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from websockets.sync.client import ClientConnection, connect  # noqa: E402

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17999"
TARGET_MS = 20
ONE_WIDGET = 'import streamlit as st\n\nst.text_area("Details", key="details")\n'


def value(n: int) -> str:
    """The Details text of the n-th change."""
    return f"We're investigating elevated error rates {n} in: {ISSUE}"


def prepare(database_url: str) -> AppTest:
    """Load the demo year and start an incident through the composer, as a CMOC would."""
    os.environ["CMOC_DATABASE_URL"] = database_url
    # AppTest runs no server: the app counts as served on 127.0.0.1, as `make run` serves it.
    config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["clock_now"] = datetime.now(UTC)
    at.run()  # first start: migrations and the demo year are loaded here
    at.selectbox(key="composer_incident").set_value("➕ Start a new incident").run()
    at.text_input(key="composer_new_title").input("Elevated error rates on GitLab.com")
    at.text_input(key="composer_new_issue").input(ISSUE)
    next(b for b in at.button if b.label == "Start").click().run()
    if at.exception:
        raise RuntimeError(f"the composer failed: {at.exception}")
    return at


def form_script(incident_id: int) -> None:
    """What a change in the form reruns: the form, for the incident worked on."""
    from cmoc_core.models import WorkingIncident
    from cmoc_core.ui import composer_view, deps

    context = deps.loaded_context()
    with deps.session(context) as db:
        incident = db.get(WorkingIncident, incident_id)
    assert incident is not None
    composer_view.message_form(context, incident, "create")


def in_process(at: AppTest, runs: int) -> list[float]:
    """Milliseconds per AppTest rerun after a change of the Details text, warm runs only."""
    key = next(t.key for t in at.text_area if t.key and t.key.startswith("composer_create_details"))
    timings = []
    for n in range(runs + 5):
        at.text_area(key=key).input(value(n))
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
        if at.exception:
            raise RuntimeError(f"the rerun failed: {at.exception}")
    return timings[5:]


@contextmanager
def served(script: Path, env: dict[str, str], *, poll: float = 0.2) -> Iterator[str]:
    """`streamlit run script` as `make run` starts it, on a free port of 127.0.0.1; yields its
    websocket URL as soon as its health check answers (asked every `poll` seconds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "streamlit", "run", str(script)),
            *("--server.port", str(port), "--server.address", "127.0.0.1"),
            *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health").text == "ok":
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit run did not start")
            time.sleep(poll)
        yield f"ws://127.0.0.1:{port}/_stcore/stream"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


@dataclass(frozen=True)
class TextArea:
    """The Details text area as the server drew it: its widget id and its fragment, if any."""

    widget_id: str
    fragment_id: str


def rerun(ws: ClientConnection, *, text: TextArea | None = None, value: str = "") -> list[Any]:
    """Send one rerun as the browser does (the text area's new value) and wait until it ends."""
    message = BackMsg()
    state = message.rerun_script
    state.SetInParent()
    if text is not None:
        widget = state.widget_states.widgets.add()
        widget.id, widget.string_value = text.widget_id, value
        state.fragment_id = text.fragment_id
    quick_ack(ws)
    ws.send(message.SerializeToString())
    deltas = []
    while True:
        answer = ForwardMsg()
        answer.ParseFromString(ws.recv(timeout=60))
        quick_ack(ws)
        kind = answer.WhichOneof("type")
        if kind == "delta":
            deltas.append(answer.delta)
        elif kind == "script_finished":
            return deltas


def quick_ack(ws: ClientConnection) -> None:
    """Acknowledge at once, as a browser on another machine would: no delayed-ACK stalls."""
    ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def details_area(deltas: list[Any]) -> TextArea:
    """The text area labelled Details among a run's elements."""
    for delta in deltas:
        if delta.WhichOneof("type") != "new_element":
            continue
        element = delta.new_element
        if element.WhichOneof("type") == "text_area" and element.text_area.label == "Details":
            return TextArea(element.text_area.id, delta.fragment_id)
    raise RuntimeError("the page drew no Details text area")


def timed(ws: ClientConnection, text: TextArea, runs: int, *, page: bool) -> list[float]:
    """Milliseconds per rerun after a change of the Details text, warm runs only."""
    scope = TextArea(text.widget_id, "" if page else text.fragment_id)
    timings = []
    for n in range(runs + 5):
        started = time.perf_counter()
        rerun(ws, text=scope, value=value(n))
        timings.append((time.perf_counter() - started) * 1000)
    return timings[5:]


def measure(script: Path, database_url: str, runs: int) -> dict[str, list[float]]:
    """Form and page rerun times of one served script."""
    env = {**os.environ, "CMOC_DATABASE_URL": database_url}
    with served(script, env) as url, connect(url, subprotocols=["streamlit"]) as ws:
        text = details_area(rerun(ws))
        found = {"page": timed(ws, text, runs, page=True)}
        if text.fragment_id:
            found["form"] = timed(ws, text, runs, page=False)
        return found


def figures(timings: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum, in milliseconds."""
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    os.chdir(ROOT)
    folder = Path(tempfile.mkdtemp(prefix="cmoc-bench-"))
    database_url = f"sqlite:///{folder}/c.db"
    at = prepare(database_url)
    page = in_process(at, args.runs)
    incident_id = int(str(at.session_state["composer_chosen"].ident))
    form_app = AppTest.from_function(form_script, args=(incident_id,), default_timeout=60)
    form = in_process(form_app.run(), args.runs)
    one_widget = folder / "one_widget.py"
    one_widget.write_text(ONE_WIDGET)
    wire = measure(ROOT / "app.py", database_url, args.runs)
    floor = measure(one_widget, database_url, args.runs)["page"]
    result = {
        "runs": args.runs,
        "form_rerun": figures(form),
        "page_rerun": figures(page),
        "form_is_a_fragment_on_the_server": "form" in wire,
        "over_the_wire": {
            "form_rerun": figures(wire["form"]) if "form" in wire else None,
            "page_rerun": figures(wire["page"]),
            "one_widget_page": figures(floor),
        },
        "target_median_ms": TARGET_MS,
    }
    met = statistics.median(form) <= TARGET_MS and "form" in wire
    result["target_met"] = met
    print(json.dumps(result, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
