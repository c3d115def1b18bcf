"""Fake PagerDuty, Status.io, GitLab, Slack and Zendesk APIs serving one synthetic organisation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import httpx

from cmoc_core.sandbox import gitlab, pagerduty, statusio, zendesk
from cmoc_core.sandbox.body import parse_body
from cmoc_core.sandbox.gitlab import GitLabServer
from cmoc_core.sandbox.organisation import Organisation, Person, generate
from cmoc_core.sandbox.pagerduty import PagerDutyServer
from cmoc_core.sandbox.slack import SlackPost, SlackServer
from cmoc_core.sandbox.statusio import StatusioServer
from cmoc_core.sandbox.zendesk import ZendeskServer

__all__ = [
    "BASE_URL",
    "Clock",
    "Fault",
    "Organisation",
    "Person",
    "RecordedRequest",
    "Sandbox",
    "SlackPost",
    "generate",
    "run_server",
]

Clock = Callable[[], datetime]

BASE_URL = "http://sandbox.invalid"
PREFIXES = {
    "pagerduty": "/pagerduty",
    "statusio": "/statusio/v2",
    "gitlab": "/gitlab/api/v4",
    "slack": "/slack",
    "zendesk": "/zendesk/api/v2",
}
READ_METHODS = ("GET", "HEAD")
# Answered instead of the service, which does not handle the request (see Fault for `timeout`).
BEFORE_KINDS = ("status", "timeout", "malformed", "statusio_error", "refused")
# The service handles the request (a write takes effect), then its answer is lost or damaged.
AFTER_KINDS = ("reset_after", "timeout_after", "status_after", "truncated_after")
FAULT_KINDS = BEFORE_KINDS + AFTER_KINDS
MALFORMED_BODY = b'{"incidents": ['
STATUSIO_MIN_INTERVAL = 1.0
HOP_HEADERS = ("content-length", "transfer-encoding", "connection")
SHUTDOWN_POLL = 0.05


class _Server(Protocol):
    def handle(self, request: httpx.Request, path: str) -> httpx.Response: ...


class _DropConnection(Exception):
    """Over HTTP: close the connection without an answer, after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(f"drop the connection after {delay:g} s")
        self.delay = delay


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox received; `path` follows the service prefix, still URL-encoded.

    `body` is the parsed JSON, a dict for a form, None when empty, else the raw text.
    """

    method: str
    service: str
    path: str
    params: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]


@dataclass
class Fault:
    """A failure on the wire, for requests that match it.

    A request matches when its service agrees and its full path (prefix included, still
    URL-encoded) contains `path_contains`. The first `after` matching requests pass; the next
    `times` (None: all) get the fault.

    Kinds answered instead of the service, which does not handle the request (it is recorded,
    except for `refused`):

    - `status`: HTTP `status` with `headers` and `body`.
    - `timeout`: in process, `httpx.ReadTimeout`. Over HTTP the request is handled and answered
      `delay` s late, by when a client with a shorter timeout has given up.
    - `malformed`: HTTP 200 with JSON cut short.
    - `statusio_error`: Status.io's HTTP 200 error envelope carrying `message`.
    - `refused`: in process, `httpx.ConnectError`, as when nothing listens; the request is not
      recorded. Over HTTP the connection is already open, so it is closed without an answer.

    Kinds where the service handles the request first (a write takes effect and is recorded),
    then the answer is lost or damaged:

    - `reset_after`: in process, `httpx.RemoteProtocolError`; over HTTP, the connection is
      closed without an answer.
    - `timeout_after`: in process, `httpx.ReadTimeout`; over HTTP, the connection is closed
      without an answer after `delay` s.
    - `status_after`: HTTP `status` with `headers` and `body` instead of the real answer.
    - `truncated_after`: the real status and headers with the first half of the real body.
    """

    service: str | None = None
    kind: str = "status"
    path_contains: str = ""
    after: int = 0
    times: int | None = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    message: str = "Internal error"
    delay: float = 1.0
    seen: int = field(default=0, init=False, compare=False)
    fired: int = field(default=0, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.service is not None and self.service not in PREFIXES:
            raise ValueError(f"unknown service {self.service!r}; use one of {tuple(PREFIXES)}")

    def claims(self, service: str, path: str) -> bool:
        """Count a request and say whether this fault answers it."""
        if self.service not in (None, service) or self.path_contains not in path:
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


def _split_path(raw_path: str) -> tuple[str, str]:
    for service, prefix in PREFIXES.items():
        if raw_path == prefix or raw_path.startswith(prefix + "/"):
            return service, raw_path[len(prefix) :] or "/"
    return "unknown", raw_path


def _start_of_today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def running_clock(start: datetime) -> Clock:
    """A clock reading `start` now and moving on with real (monotonic) time."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


class Sandbox:
    """The fake APIs over one organisation, reachable in-process or over HTTP.

    Writes change a private copy of the organisation's data, so later reads see them and other
    sandboxes over the same organisation do not. They are stamped with `clock()`; by default
    the organisation's end plus the real time elapsed since the sandbox was made.

    With `min_interval_ok=False`, Status.io answers 429 to a request arriving less than a
    second after the previous one, as the real service asks clients to wait between calls;
    `monotonic` (seconds) measures that second, so a test can share a fake one with its clients.
    """

    BASE_URL = BASE_URL

    def __init__(
        self,
        org: Organisation | None = None,
        *,
        seed: int = 7,
        end: datetime | None = None,
        min_interval_ok: bool = True,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.org = org if org is not None else generate(seed=seed, end=end or _start_of_today())
        self.min_interval_ok = min_interval_ok
        self._clock = clock or running_clock(self.org.end)
        self.pagerduty = PagerDutyServer(self.org, clock=self.now)
        self.statusio = StatusioServer(self.org, clock=self.now)
        self.gitlab = GitLabServer(self.org, clock=self.now)
        self.slack = SlackServer(self.org, clock=self.now)
        self.zendesk = ZendeskServer(self.org, email=self.zendesk_email, clock=self.now)
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.transport = httpx.MockTransport(self.handle)
        self._lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._last_statusio: float | None = None
        self._monotonic = monotonic

    @property
    def zendesk_email(self) -> str:
        """The Zendesk agent the app signs in as: the first CMOC."""
        return self.org.people_with_role("cmoc")[0].email

    def now(self) -> datetime:
        """The sandbox's present (aware, UTC), which stamps every write."""
        moment = self._clock()
        if moment.tzinfo is None:
            raise ValueError("the sandbox clock must return timezone-aware datetimes")
        return moment.astimezone(UTC)

    def settings(self, base_url: str = BASE_URL) -> dict[str, str]:
        """The app's configuration names and values for talking to this sandbox."""
        org = self.org
        return {
            "PAGERDUTY_API_URL": f"{base_url}/pagerduty",
            "PAGERDUTY_API_TOKEN": pagerduty.TOKEN,
            "PAGERDUTY_FROM_EMAIL": org.people_with_role("cmoc")[0].email,
            "PAGERDUTY_CMOC_SERVICE_IDS": ",".join(org.cmoc_service_ids),
            "PAGERDUTY_CMOC_SCHEDULE_IDS": ",".join(org.cmoc_schedule_ids),
            "PAGERDUTY_SHADOW_SCHEDULE_IDS": ",".join(org.shadow_schedule_ids),
            "STATUSIO_API_URL": f"{base_url}/statusio/v2",
            "STATUSIO_API_ID": statusio.API_ID,
            "STATUSIO_API_KEY": statusio.API_KEY,
            "STATUSIO_STATUSPAGE_ID": org.statuspage_id,
            "STATUSIO_PRACTICE_STATUSPAGE_ID": org.practice_statuspage_id,
            "GITLAB_URL": f"{base_url}/gitlab",
            "GITLAB_TOKEN": gitlab.TOKEN,
            "GITLAB_PRODUCTION_PROJECT": org.production_project,
            "GITLAB_HANDOVER_PROJECT": org.handover_project,
            "GITLAB_CONTACT_REQUEST_PROJECT": org.contact_request_project,
            "GITLAB_CONTACT_REQUEST_LABEL": org.contact_request_label,
            "GITLAB_TRAINING_PROJECT": org.training_project,
            "GITLAB_PRACTICE_EVENT_LABEL": org.practice_event_label,
            "SLACK_NOTIFIER_WEBHOOK_URLS": ",".join(
                f"{base_url}/slack{path}" for path in self.slack.hooks
            ),
            "ZENDESK_URL": f"{base_url}/zendesk",
            "ZENDESK_EMAIL": self.zendesk_email,
            "ZENDESK_API_TOKEN": zendesk.TOKEN,
        }

    def reminder_webhook_url(self, base_url: str = BASE_URL) -> str:
        """A CMOC_REMINDER_WEBHOOK_URL for this sandbox: an incoming webhook of its own channel."""
        return f"{base_url}/slack{self.slack.reminder_path}"

    def add_page(self, title: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Trigger a new page on the first CMOC service, now or at `at`; returns the incident."""
        with self._state_lock:
            return self.pagerduty.trigger(title, at=at)

    def count(self, service: str | None = None) -> int:
        """How many requests arrived, for one service or all."""
        with self._lock:
            return sum(1 for r in self.requests if service is None or r.service == service)

    def writes(self, service: str | None = None) -> list[RecordedRequest]:
        """The requests that were not reads (not GET or HEAD), in arrival order."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method not in READ_METHODS and (service is None or r.service == service)
            ]

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def add_fault(self, fault: Fault) -> Fault:
        """Inject `fault`; faults are tried in the order they were added."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self.faults.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The in-process answer to `request`; faults may raise httpx errors (see `Fault`)."""
        return self._dispatch(request, over_http=False)

    def _dispatch(self, request: httpx.Request, *, over_http: bool) -> httpx.Response:
        raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        service, path = _split_path(raw_path)
        content = request.read()
        with self._lock:
            fault = next((f for f in self.faults if f.claims(service, raw_path)), None)
            # A refused connection never carries the request: nothing arrives to be recorded.
            arrived = fault is None or fault.kind != "refused"
            if arrived:
                self.requests.append(
                    RecordedRequest(
                        method=request.method,
                        service=service,
                        path=path,
                        params=list(request.url.params.multi_items()),
                        body=parse_body(content, request.headers.get("content-type", "")),
                        headers=dict(request.headers),
                    )
                )
            too_soon = arrived and service == "statusio" and self._statusio_too_soon()
        if fault is not None and fault.kind in BEFORE_KINDS:
            if fault.kind == "refused":
                if over_http:
                    raise _DropConnection()
                raise httpx.ConnectError("Sandbox fault: connection refused", request=request)
            if fault.kind != "timeout":
                return self._fault_response(fault)
            if not over_http:
                raise httpx.ReadTimeout("Sandbox fault: read timed out", request=request)
            time.sleep(fault.delay)
        if too_soon:
            response = statusio.error_envelope("Too many requests, wait between calls", 429)
        else:
            response = self._serve(service, request, path)
        if fault is None or fault.kind in BEFORE_KINDS:
            return response
        return self._damaged(fault, request, response, over_http=over_http)

    def _serve(self, service: str, request: httpx.Request, path: str) -> httpx.Response:
        servers: dict[str, _Server] = {
            "pagerduty": self.pagerduty,
            "statusio": self.statusio,
            "gitlab": self.gitlab,
            "slack": self.slack,
            "zendesk": self.zendesk,
        }
        server = servers.get(service)
        if server is None:
            return httpx.Response(404, json={"error": "Not Found"})
        with self._state_lock:
            return server.handle(request, path)

    def _damaged(
        self, fault: Fault, request: httpx.Request, response: httpx.Response, *, over_http: bool
    ) -> httpx.Response:
        """The answer of an AFTER_KINDS fault, once the service has handled the request."""
        if fault.kind == "status_after":
            return self._fault_response(fault)
        if fault.kind == "truncated_after":
            body = response.read()
            headers = [
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in HOP_HEADERS
            ]
            return httpx.Response(
                response.status_code, headers=headers, content=body[: len(body) // 2]
            )
        if over_http:
            raise _DropConnection(fault.delay if fault.kind == "timeout_after" else 0.0)
        if fault.kind == "timeout_after":
            raise httpx.ReadTimeout("Sandbox fault: no answer after handling", request=request)
        raise httpx.RemoteProtocolError(
            "Sandbox fault: server disconnected without sending a response", request=request
        )

    def _statusio_too_soon(self) -> bool:
        now = self._monotonic()
        previous, self._last_statusio = self._last_statusio, now
        if self.min_interval_ok or previous is None:
            return False
        return now - previous < STATUSIO_MIN_INTERVAL

    def _fault_response(self, fault: Fault) -> httpx.Response:
        if fault.kind == "malformed":
            return httpx.Response(
                200, headers={"content-type": "application/json"}, content=MALFORMED_BODY
            )
        if fault.kind == "statusio_error":
            return statusio.error_envelope(fault.message)
        return httpx.Response(fault.status, headers=fault.headers, content=fault.body.encode())

    def make_server(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        """An HTTP server (not yet serving) answering like the in-process transport."""
        if host != "127.0.0.1":
            raise ValueError("the sandbox only listens on 127.0.0.1")
        return ThreadingHTTPServer((host, port), _handler_class(self))

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> tuple[ThreadingHTTPServer, threading.Thread]:
        """Serve over HTTP from a background thread; stop with `server.shutdown()`."""
        server = self.make_server(host, port)
        # A short poll lets `shutdown()` return at once instead of after up to half a second.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL},
            name="cmoc-sandbox",
            daemon=True,
        )
        thread.start()
        return server, thread


def _handler_class(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        # Headers and body leave in two writes: without this, each answer waits for the
        # peer's delayed acknowledgement (about 40 ms).
        disable_nagle_algorithm = True

        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or "127.0.0.1"
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_HEADERS]
            request = httpx.Request(
                self.command, f"http://{host}{self.path}", headers=headers, content=body
            )
            try:
                response = sandbox._dispatch(request, over_http=True)
            except _DropConnection as drop:
                time.sleep(drop.delay)
                self.close_connection = True
                return
            content = response.content
            try:
                self.send_response(response.status_code)
                for name, value in response.headers.multi_items():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests and the demo do not want access logs."""

    return SandboxHandler


def run_server(port: int) -> None:
    """Serve a sandbox on 127.0.0.1:`port` until interrupted, first printing its settings."""
    sandbox = Sandbox()
    server = sandbox.make_server(port=port)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in sandbox.settings(base_url).items():
        print(f"{name}={value}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
