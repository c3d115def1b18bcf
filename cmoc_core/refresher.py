"""Keeping the database fresh without a click: one refresher per process.

Every CMOC_SYNC_EVERY it runs an incremental sync under the shared sync lock (skipping quietly
while another process holds it); every 30 s it asks PagerDuty, in one request, for the CMOC
pages opened since its last look and stores new ones as a sync would; then it sends the
reminders of updates due. The app runs one in a background thread per server process;
`python -m cmoc_core worker` runs the same loop in the foreground.

A sync is due when the last complete sync in the database (by any process) and this
refresher's own last attempt are both an interval old, so several servers and a worker
together sync about once an interval, and a failing source is not retried on every tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiBadResponse, ApiError
from cmoc_core.clients.pagerduty import PAGE_SIZE, PagerDutyClient
from cmoc_core.composer import open_pages
from cmoc_core.config import Settings
from cmoc_core.coverage import SOURCES
from cmoc_core.models import PagerDutyIncident, SyncState
from cmoc_core.outbox import OutcomeStatus
from cmoc_core.reminders import ReminderPass, reminder_hook, send_reminders
from cmoc_core.sync import run_sync, store_listed_pages
from cmoc_core.synclock import current_holder
from cmoc_core.timeutil import iso_z, moment, utc_now

PAGE_CHECK_EVERY = timedelta(seconds=30)
# Each check reaches this far before the last one's end: a page PagerDuty listed late, or
# stamped by a clock a little ahead of ours, is still found.
PAGE_CHECK_OVERLAP = timedelta(minutes=2)
# A check's end reaches this far past our clock, for PagerDuty's clock may be a little ahead.
PAGE_CHECK_AHEAD = timedelta(minutes=1)
# The first check of a process looks back this far; older pages are a sync's to store.
FIRST_CHECK_LOOKBACK = timedelta(hours=1)
# How often the loop wakes to see what is due (reminders are looked at on every tick).
TICK = timedelta(seconds=5)
OPEN_STATUSES = ("triggered", "acknowledged")

Clock = Callable[[], datetime]
Say = Callable[[str], None]


class SyncOutcome(StrEnum):
    """How a background sync ended."""

    SYNCED = "synced"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def words(self) -> str:
        """`Synced`, `Sync failed`, `Sync skipped`."""
        return "Synced" if self is SyncOutcome.SYNCED else f"Sync {self.value}"


@dataclass(frozen=True)
class SyncRun:
    """One background sync: when it started, how it ended, and that in words."""

    at: datetime
    outcome: SyncOutcome
    detail: str
    seconds: float = 0.0


@dataclass(frozen=True)
class PageCheck:
    """One look for new CMOC pages: when, the pages new to the database, or why it failed."""

    at: datetime
    new_pages: tuple[str, ...] = ()
    requests: int = 0
    error: str | None = None


@dataclass(frozen=True)
class PassReport:
    """What one pass did: a sync and a page check when they were due, and the reminders."""

    at: datetime
    sync: SyncRun | None = None
    check: PageCheck | None = None
    reminders: ReminderPass | None = None
    problems: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The pass in words, a line per thing done, for the worker's output."""
        stamp = f"{self.at:%d-%m-%Y %H:%M:%S} UTC"
        lines = []
        if self.sync is not None:
            lines.append(f"{stamp} {self.sync.outcome.words}: {self.sync.detail}")
        if self.check is not None and self.check.error:
            lines.append(f"{stamp} new-page check failed: {self.check.error}")
        elif self.check is not None and self.check.new_pages:
            lines.append(f"{stamp} new CMOC pages stored: {len(self.check.new_pages)}")
        if self.reminders is not None:
            for outcome in self.reminders.sent:
                if outcome.status in (OutcomeStatus.SENT, OutcomeStatus.FAILED):
                    lines.append(f"{stamp} reminder {outcome.status}: {outcome.message}")
        lines += [f"{stamp} {problem}" for problem in self.problems]
        return lines


@dataclass(frozen=True)
class LockHolder:
    """Who holds the sync lock now, and since when."""

    holder: str
    since: datetime


@dataclass(frozen=True)
class RefresherStatus:
    """What the refresher of this process does, for people."""

    every: timedelta
    running: bool
    last_sync: SyncRun | None
    next_sync_at: datetime | None
    last_check: PageCheck | None
    next_check_at: datetime | None
    page_checks: bool
    lock: LockHolder | None

    def sentences(self, now: datetime) -> list[str]:
        """The status in words: interval, last and next run, who holds the sync lock now."""
        said = []
        if not self.running:
            said.append(
                "The background refresher of this server is not running, so nothing is synced or "
                "looked for without a click: restart the app server to start it again, and "
                "meanwhile use Sync now."
            )
        # What the refresher would do, as set, while it is not running to do it.
        planned = "is set to run" if not self.running else "runs"
        if self.every <= timedelta(0):
            said.append("Background sync is off (CMOC_SYNC_EVERY is 0): use Sync now.")
        else:
            said.append(f"Background sync {planned} every {span(self.every)}.")
            if self.last_sync is not None:
                said.append(
                    f"Last background sync from this server {moment(self.last_sync.at)}: "
                    f"{self.last_sync.outcome.words.lower()}, "
                    f"{self.last_sync.detail.removesuffix('.')}."
                )
            if self.next_sync_at is not None and self.running:
                when = "now" if self.next_sync_at <= now else moment(self.next_sync_at)
                said.append(f"Next background sync: {when}.")
        if self.page_checks:
            checked = self.last_check
            last = f" Last looked {ago(checked.at, now)}." if checked else ""
            looked = "are looked" if self.running else "are set to be looked"
            said.append(f"New CMOC pages {looked} for every {span(PAGE_CHECK_EVERY)}.{last}")
            if checked is not None and checked.error:
                said.append(f"The last look for new pages failed: {checked.error}.")
        else:
            said.append("New CMOC pages are not looked for: PagerDuty is not configured.")
        if self.lock is None:
            said.append("No sync is running now.")
        else:
            said.append(
                f"A sync is running now, since {self.lock.since:%H:%M:%S} UTC: {self.lock.holder}."
            )
        return said


def span(delta: timedelta) -> str:
    """`30 s`, `5 min`, `1 h`, `1 h 30 min`."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds // 60, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def ago(at: datetime | None, now: datetime) -> str:
    """`12 s ago`, `4 min ago`, `2 h 5 min ago`, `just now`, or `never`."""
    if at is None:
        return "never"
    seconds = int((now - at).total_seconds())
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min ago"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min ago" if rest else f"{hours} h ago"
    return f"{hours // 24} d ago"


def configured_sources(clients: Clients) -> list[str]:
    """The sources a sync pulls from: those with a client."""
    return [source for source in SOURCES if getattr(clients, source) is not None]


def last_complete_sync(*, session: Session, sources: Iterable[str] = SOURCES) -> datetime | None:
    """When the newest sync that finished every stream of these sources started, or None."""
    prefixes = tuple(f"{source}." for source in sources)
    states = [s for s in session.exec(select(SyncState)) if s.stream.startswith(prefixes)]
    if not states or any(s.last_success_at is None for s in states):
        return None
    return min(s.last_success_at for s in states if s.last_success_at is not None)


def synced_words(last: datetime | None, now: datetime) -> str:
    """`Synced 35 s ago`, or that nothing has been synced yet."""
    if last is None:
        return "Not synced yet"
    return f"Synced {ago(last, now)}"


def open_page_ids(*, session: Session) -> list[str]:
    """The CMOC pages still triggered or acknowledged, newest first."""
    return [page.id for page in open_pages(session=session)]


def new_page_words(page: PagerDutyIncident) -> str:
    """`New CMOC page #182679: title (triggered 29-11-2026 09:41 UTC)`."""
    return (
        f"New CMOC page #{page.incident_number}: {page.title} (triggered {moment(page.created_at)})"
    )


def pages_by_id(*, session: Session, ids: Iterable[str]) -> list[PagerDutyIncident]:
    """The stored pages with these ids, oldest first."""
    query = (
        select(PagerDutyIncident)
        .where(col(PagerDutyIncident.id).in_(list(ids)))
        .order_by(col(PagerDutyIncident.created_at))
    )
    return list(session.exec(query))


def list_open_pages(
    client: PagerDutyClient, *, since: datetime, until: datetime, service_ids: list[str]
) -> list[dict[str, Any]]:
    """CMOC pages opened in [since, until) and not resolved: one `GET /incidents` request.

    PagerDuty's listIncidents filters by `service_ids[]` and `statuses[]`, and `since`/`until`
    bound the creation time (openapiv3.json; array parameters repeat the key). More than a page
    of new pages within a check is left to the next sync.
    """
    call = "look for new CMOC pages"
    params = [
        *[("service_ids[]", service) for service in service_ids],
        *[("statuses[]", status) for status in OPEN_STATUSES],
        ("since", iso_z(since)),
        ("until", iso_z(until)),
        ("sort_by", "created_at:asc"),
        ("limit", str(PAGE_SIZE)),
        ("offset", "0"),
    ]
    body = client.http.json("GET", "incidents", call=call, params=params)
    if not isinstance(body, dict) or not isinstance(body.get("incidents"), list):
        raise ApiBadResponse("PagerDuty", call, "the answer has no 'incidents' list")
    return [incident for incident in body["incidents"] if isinstance(incident, dict)]


@dataclass
class _State:
    """What the refresher remembers between passes; read by `status` from other threads."""

    started_at: datetime
    last_attempt: datetime | None = None
    last_sync: SyncRun | None = None
    skipped_for: tuple[str, datetime] | None = None
    checked_until: datetime | None = None
    last_check: PageCheck | None = None
    next_check_at: datetime | None = None
    running: bool = False
    passes: int = 0
    problems: list[str] = field(default_factory=list)


class Refresher:
    """Sync, new-page check and reminders on their schedules, in a thread or the foreground.

    `clock` is the wall clock and `sleep(seconds)` the wait between ticks (by default a wait
    that `stop` cuts short); tests pass their own. `sync_at_start=False` (the app) lets the
    first sync wait one interval after the start, as the app was just synced or is being set
    up; a worker syncs at once when a sync is due.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        clients: Clients,
        holder: str,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] | None = None,
        say: Say | None = None,
        sync_at_start: bool = True,
        reminder_transport: httpx.BaseTransport | None = None,
        tick: timedelta = TICK,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clients = clients
        self.holder = holder
        self.every = settings.cmoc_sync_every
        self.tick = tick
        self._clock = clock
        self._say = say or (lambda _line: None)
        self._stop = threading.Event()
        self._sleep = sleep or (lambda seconds: self._stop.wait(seconds) and None)
        self._sync_at_start = sync_at_start
        self._hook = reminder_hook(settings, transport=reminder_transport)
        self._lock = threading.Lock()
        self._state = _State(started_at=clock())
        self._thread: threading.Thread | None = None

    def run_pass(self, *, everything: bool = False) -> PassReport:
        """Do what is due now (with `everything`, one sync, one page check and the reminders)."""
        now = self._clock()
        problems: list[str] = []
        sync = None
        try:
            if everything or self._sync_due(now):
                sync = self._sync(now)
        except SQLAlchemyError as exc:
            problems.append(f"the database could not be read ({type(exc).__name__})")
        check = None
        if self._page_checks and (everything or self._check_due(now)):
            check = self._check_pages(self._clock())
        reminders = None
        try:
            reminders = send_reminders(
                engine=self.engine, settings=self.settings, hook=self._hook, now=self._clock()
            )
        except SQLAlchemyError as exc:
            problems.append(f"reminders could not be read ({type(exc).__name__})")
        with self._lock:
            self._state.passes += 1
            self._state.problems = problems
        return PassReport(now, sync, check, reminders, tuple(problems))

    def run_forever(self) -> None:
        """Pass after pass, a tick apart, until `stop`."""
        with self._lock:
            self._state.running = True
        try:
            while not self._stop.is_set():
                try:
                    report = self.run_pass()
                except Exception as exc:  # noqa: BLE001 - the loop outlives any one failure
                    report = PassReport(self._clock(), problems=(_failure(exc),))
                for line in report.lines():
                    self._say(line)
                if self._stop.is_set():
                    break
                self._sleep(self.tick.total_seconds())
        finally:
            with self._lock:
                self._state.running = False

    def start(self) -> Refresher:
        """Run the loop in a daemon thread (once); returns the refresher."""
        with self._lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(
                target=self.run_forever, name="cmoc-refresher", daemon=True
            )
            self._state.running = True
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop after the pass under way; waits for the thread up to `timeout` s."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopped(self) -> bool:
        """Whether `stop` was asked for."""
        return self._stop.is_set()

    def status(self) -> RefresherStatus:
        """The schedule and the last runs, and who holds the sync lock now."""
        now = self._clock()
        with self._lock:
            state = replace(self._state)
        try:
            row = current_holder(self.engine)
            lock = LockHolder(row.holder, row.started_at) if row is not None else None
            next_sync = self._next_sync_at(now, state)
        except SQLAlchemyError:
            lock, next_sync = None, None
        return RefresherStatus(
            every=self.every,
            running=state.running,
            last_sync=state.last_sync,
            next_sync_at=next_sync,
            last_check=state.last_check,
            next_check_at=state.next_check_at,
            page_checks=self._page_checks,
            lock=lock,
        )

    @property
    def _page_checks(self) -> bool:
        return self.clients.pagerduty is not None and bool(self.settings.pagerduty_cmoc_service_ids)

    def _next_sync_at(self, now: datetime, state: _State) -> datetime | None:
        if self.every <= timedelta(0):
            return None
        with Session(self.engine) as session:
            done = last_complete_sync(session=session, sources=configured_sources(self.clients))
        start = None if self._sync_at_start else state.started_at
        known = [t for t in (done, state.last_attempt, start) if t is not None]
        return max(known) + self.every if known else now

    def _sync_due(self, now: datetime) -> bool:
        with self._lock:
            state = replace(self._state)
        due = self._next_sync_at(now, state)
        return due is not None and now >= due

    def _sync(self, now: datetime) -> SyncRun | None:
        began = time.monotonic()
        report = run_sync(
            engine=self.engine,
            settings=self.settings,
            clients=self.clients,
            sources=configured_sources(self.clients),
            now=now,
            holder=self.holder,
        )
        seconds = time.monotonic() - began
        if report.busy:
            refused = report.refused
            holder = refused.holder if refused is not None and refused.holder else "another process"
            since = refused.started_at if refused is not None else now
            run = SyncRun(
                now,
                SyncOutcome.SKIPPED,
                f"{holder} holds the sync lock since {since:%H:%M:%S} UTC",
            )
            with self._lock:
                repeated = self._state.skipped_for == (holder, since)
                self._state.skipped_for = (holder, since)
                self._state.last_sync = run
            # Told once per holder: a long sync of another process is not news on every tick.
            return None if repeated else run
        items = sum(stream.items for stream in report.streams)
        if report.ok:
            from cmoc_core.kpis import refresh_facts  # pandas: only once there is a sync to see

            refresh_facts(self.engine, self.settings)  # the dashboards' next view finds it made
            run = SyncRun(now, SyncOutcome.SYNCED, f"{items:,} items in {seconds:.1f} s", seconds)
        else:
            failure = report.first_failure or "a source could not be synced"
            run = SyncRun(now, SyncOutcome.FAILED, failure, seconds)
        with self._lock:
            self._state.last_attempt = now
            self._state.last_sync = run
            self._state.skipped_for = None
        return run

    def _check_due(self, now: datetime) -> bool:
        with self._lock:
            due = self._state.next_check_at
        return due is None or now >= due

    def _check_pages(self, now: datetime) -> PageCheck:
        client = self.clients.pagerduty
        assert client is not None
        with self._lock:
            until = self._state.checked_until
        since = until - PAGE_CHECK_OVERLAP if until else now - FIRST_CHECK_LOOKBACK
        before = client.http.requests_made
        try:
            listed = list_open_pages(
                client,
                since=since,
                until=now + PAGE_CHECK_AHEAD,
                service_ids=list(self.settings.pagerduty_cmoc_service_ids),
            )
            new = store_listed_pages(
                engine=self.engine,
                settings=self.settings,
                clients=self.clients,
                incidents=listed,
                now=now,
            )
            check = PageCheck(now, tuple(new), client.http.requests_made - before)
            checked_until: datetime | None = now
        except (ApiError, SQLAlchemyError, KeyError, TypeError, ValueError) as exc:
            check = PageCheck(now, requests=client.http.requests_made - before, error=_failure(exc))
            checked_until = until
        with self._lock:
            self._state.last_check = check
            self._state.checked_until = checked_until
            self._state.next_check_at = now + PAGE_CHECK_EVERY
        return check


def _failure(exc: Exception) -> str:
    """A failure in words; only an API error's own text, which its client has redacted."""
    if isinstance(exc, ApiError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"the database failed ({type(exc).__name__})"
    return f"an unexpected {type(exc).__name__}"
