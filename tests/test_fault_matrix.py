"""The fault matrix: every kind of external action, under every fault on the wire, happens once.

Each cell builds a fresh world (a sandbox on a stepping clock, a migrated SQLite file, clients
whose transport wraps the in-process sandbox), damages the wire once for the action's write, then
follows each outcome as the CMOC would, at most three more times, three minutes apart: it sends
again, or, when Slack cannot be asked, looks in the channel and sends again only if the notice is
missing. What counts is what the fake service shows afterwards: the messages, acknowledgements,
label events, issues, windows and posts that carry the action, and the writes that reached it.

`python -m tests.fault_matrix_report` (`make faults`) prints the same cells as a table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cmoc_core import handover, maintenance, practice
from cmoc_core.clients import Clients, build_clients
from cmoc_core.commands import SlackNotice
from cmoc_core.composer import IncidentFacts, Message, Publisher, start_incident, tick_step
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.handbook import STATUS_PAGE_LABEL, StepKey
from cmoc_core.maintenance import Action, Notice, Plan
from cmoc_core.outbox import Outcome
from cmoc_core.sandbox import BEFORE_KINDS, READ_METHODS, Fault, Sandbox
from cmoc_core.sandbox.organisation import Organisation, generate
from cmoc_core.storage import make_engine, migrate, session_scope
from cmoc_core.timeutil import parse_time
from tests.kpi_worlds import World as PeopleWorld
from tests.support.viewers import configured

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END + timedelta(hours=9)
STEP = timedelta(minutes=3)  # longer than the outbox's two-minute lease
FOLLOW_UPS = 3
ACTOR = "cmoc@example.com"
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{iid}"
MAINTENANCE_ISSUE = ISSUE.format(iid=21001)
RETRY_AFTER = 7

TITLE = "Fault matrix: elevated error rates on GitLab.com"
CREATED = "We are investigating elevated error rates on GitLab.com. " + ISSUE
UPDATED = "We identified the cause and are rolling back the deploy. " + ISSUE
RESOLVED = "Error rates are back to normal; the incident is resolved. " + ISSUE
NOTIFIED = "*Summary*: fault matrix, elevated error rates on GitLab.com"
WINDOW = "Fault matrix: PostgreSQL upgrade"
WINDOW_DETAILS = "GitLab.com will be read-only for up to 30 minutes."
NOTICES = {
    Action.UPDATE: "Fault matrix: the upgrade starts as planned.",
    Action.START: "Fault matrix: the maintenance has started.",
    Action.FINISH: "Fault matrix: the maintenance has been completed.",
}


class Killed(BaseException):
    """The app's process ending while a request is out: no answer, no clean-up, no error."""


# Faults ------------------------------------------------------------------------------------

# The app's process ends after the service acted, or before the request left it.
KILLS = ("killed", "killed_before")


@dataclass(frozen=True)
class WireFault:
    """One column: what happens to the action's first write on the wire."""

    name: str
    kind: str  # a sandbox Fault kind, or one of KILLS
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def inject(self, world: World, service: str, path: str) -> Callable[[], bool]:
        """Damage the next request to `path` (a write: the action's setup is already done).

        Returns whether the damage was done, so that a cell never passes by missing its write.
        """
        if self.kind in KILLS:
            world.wire.kill(path, acted=self.kind == "killed")
            return lambda: world.wire.killed
        fault = world.sandbox.add_fault(
            Fault(
                service=service,
                kind=self.kind,
                path_contains=path,
                status=self.status,
                headers=self.headers,
                body=self.body,
            )
        )
        return lambda: fault.fired == 1


FAULTS = [
    WireFault("refused", "refused"),
    WireFault("reset after", "reset_after"),
    WireFault("timeout after", "timeout_after"),
    WireFault("502 after", "status_after", status=502, body="Bad Gateway"),
    WireFault("truncated 200 after", "truncated_after"),
    WireFault(
        "429 Retry-After",
        "status",
        status=429,
        headers={"Retry-After": str(RETRY_AFTER)},
        body="Too Many Requests",
    ),
    WireFault("429 no Retry-After", "status", status=429, body="Too Many Requests"),
    WireFault("500 before", "status", status=500, body="Internal Server Error"),
    WireFault("killed after acting", "killed"),
    WireFault("killed before sending", "killed_before"),
]


# The world ---------------------------------------------------------------------------------


class StepClock:
    """The sandbox's present, standing still until the CMOC's next action moves it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class Wire:
    """The transport around the sandbox: notes the writes the service handled, and kills."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.handled: list[str] = []
        self.killed = False
        self._kill: str | None = None
        self._acted = True

    def kill(self, path: str, *, acted: bool) -> None:
        """End the app at the next write to `path`: after the service acted, or before it left."""
        self._kill, self._acted = path, acted

    def handle(self, request: httpx.Request) -> httpx.Response:
        write = request.method not in READ_METHODS
        killed = write and self._kill is not None and self._kill in request.url.raw_path.decode()
        if killed and not self._acted:
            self._kill, self.killed = None, True
            raise Killed
        before = [(fault, fault.fired) for fault in self.sandbox.faults]
        reached = write
        try:
            response = self.sandbox.handle(request)
        finally:
            fired = next((f for f, count in before if f.fired > count), None)
            if fired is not None and fired.kind in BEFORE_KINDS:
                reached = False  # answered instead of the service
            if reached:
                self.handled.append(request.url.raw_path.decode())
        if killed:
            self._kill, self.killed = None, True
            raise Killed
        return response


class World:
    """A sandbox, a database and the app's clients for one cell of the matrix."""

    def __init__(self, organisation: Organisation, engine: Engine) -> None:
        self.clock = StepClock(START)
        self.sandbox = Sandbox(organisation, clock=self.clock)
        self.settings: Settings = settings_from_mapping(self.sandbox.settings())
        self.engine = engine
        self.wire = Wire(self.sandbox)
        self.sleeps: list[float] = []
        self.clients = self._clients()

    def _clients(self) -> Clients:
        return build_clients(
            self.settings,
            transport=httpx.MockTransport(self.wire.handle),
            sleep=self.sleeps.append,
            statusio_min_interval=0,
        )

    def restart(self) -> None:
        """The app starts again: new clients, the same database."""
        self.clients.close()
        self.clients = self._clients()

    def close(self) -> None:
        self.clients.close()

    def now(self) -> datetime:
        return self.clock()

    def later(self) -> None:
        self.clock.moment += STEP

    def composer(self) -> Publisher:
        return Publisher(
            self.engine, self.clients, self.settings.gitlab_production_project, configured(ACTOR)
        )

    def maintenance(self) -> maintenance.Publisher:
        return maintenance.Publisher(
            self.engine,
            self.clients.statusio,
            self.settings.statusio_statuspage_id or "",
            self.settings.gitlab_production_project,
            configured(ACTOR),
        )

    @property
    def page(self) -> Any:
        return self.sandbox.statusio.pages[self.settings.statusio_statuspage_id]

    def components(self, count: int) -> list[str]:
        found = self.sandbox.org.statusio_components[:count]
        return [f"{c['_id']}-{c['containers'][0]['_id']}" for c in found]

    def windows(self) -> list[dict[str, Any]]:
        return [w for phase in self.page.maintenances.values() for w in phase]

    def board(self) -> maintenance.Board:
        assert self.clients.statusio is not None
        maintenance.refresh(
            engine=self.engine,
            client=self.clients.statusio,
            statuspage_id=self.settings.statusio_statuspage_id or "",
        )
        with Session(self.engine) as session:
            return maintenance.board(
                session=session,
                statuspage_id=self.settings.statusio_statuspage_id or "",
                project=self.settings.gitlab_production_project,
            )


# Command kinds -----------------------------------------------------------------------------

Act = Callable[[World], list[Outcome]]


@dataclass
class Cell:
    """One action under one fault, as set up: how to do it and what shows it was done."""

    service: str
    path: str  # the part of the write's path the fault matches
    act: Act
    effects: Callable[[], int]
    writes: tuple[str, ...] = ()  # each path the action writes to, expected to be reached once
    checks: Callable[[], list[str]] = lambda: []  # what else must hold once it is done
    incident_id: int | None = None  # for Slack: the incident the notices belong to
    names: dict[str, str] = field(default_factory=dict)  # paths as the report shows them

    def paths(self) -> tuple[str, ...]:
        return self.writes or (self.path,)


def production_issue(world: World) -> int:
    """A production issue that does not carry the status-page label yet."""
    issues = world.sandbox.org.gitlab_issues[world.settings.gitlab_production_project]
    return next(i["iid"] for i in issues if STATUS_PAGE_LABEL not in i["labels"])


def triggered_page(world: World) -> str:
    return next(i["id"] for i in world.sandbox.org.pd_incidents if i["status"] == "triggered")


def working_incident(world: World) -> int:
    facts = IncidentFacts(
        title=TITLE,
        severity=2,
        issue_url=ISSUE.format(iid=production_issue(world)),
        page_id=triggered_page(world),
    )
    with session_scope(world.engine) as session:
        incident = start_incident(
            session=session,
            facts=facts,
            statuspage_id=world.settings.statusio_statuspage_id or "",
            now=world.now(),
        )
    return incident.id or 0


def create_incident(world: World, incident_id: int) -> list[Outcome]:
    return [
        world.composer().create(
            incident_id=incident_id,
            message=Message(CREATED, 100, 300),
            components=world.components(1),
            all_infrastructure=False,
            now=world.now(),
        )
    ]


def published_incident(world: World) -> tuple[int, str]:
    incident_id = working_incident(world)
    [created] = create_incident(world, incident_id)
    assert created.ok, created.message
    return incident_id, created.result["incident_id"]


def messages_with(world: World, statusio_id: str, text: str) -> int:
    for incident in world.page.active + world.page.resolved:
        if incident["_id"] == statusio_id:
            return sum(m["details"] == text for m in incident["messages"])
    return 0


def status_page_create(world: World) -> Cell:
    incident_id = working_incident(world)
    return Cell(
        "statusio",
        "/incident/create",
        lambda w: create_incident(w, incident_id),
        lambda: sum(i["name"] == TITLE for i in world.page.active + world.page.resolved),
    )


def status_page_update(world: World) -> Cell:
    incident_id, statusio_id = published_incident(world)
    message = Message(UPDATED, 200, 300)
    return Cell(
        "statusio",
        "/incident/update",
        lambda w: [w.composer().update(incident_id=incident_id, message=message, now=w.now())],
        lambda: messages_with(world, statusio_id, UPDATED),
    )


def status_page_resolve(world: World) -> Cell:
    incident_id, statusio_id = published_incident(world)
    with session_scope(world.engine) as session:
        tick_step(
            session=session, incident_id=incident_id, key=StepKey.IM_ALL_CLEAR, now=world.now()
        )
    message = Message(RESOLVED, 300, 100)

    def resolved_on_the_page() -> list[str]:
        resolved = any(i["_id"] == statusio_id for i in world.page.resolved)
        return [] if resolved else ["the incident is not resolved on the page"]

    return Cell(
        "statusio",
        "/incident/resolve",
        lambda w: [
            w.composer().update(incident_id=incident_id, message=message, now=w.now(), resolve=True)
        ],
        lambda: messages_with(world, statusio_id, RESOLVED),
        checks=resolved_on_the_page,
    )


def page_change(resolve: bool) -> Callable[[World], Cell]:
    def build(world: World) -> Cell:
        incident_id = working_incident(world)
        page_id = triggered_page(world)
        kind = "resolve_log_entry" if resolve else "acknowledge_log_entry"

        def entries() -> int:
            return sum(
                e["type"] == kind and e["incident"]["id"] == page_id
                for e in world.sandbox.pagerduty.log_entries
            )

        before = entries()
        return Cell(
            "pagerduty",
            f"/incidents/{page_id}",
            lambda w: [w.composer().page(incident_id=incident_id, resolve=resolve, now=w.now())],
            lambda: entries() - before,
        )

    return build


def gitlab_label(world: World) -> Cell:
    incident_id = working_incident(world)
    project = world.settings.gitlab_production_project
    iid = production_issue(world)

    def added() -> int:
        events = world.sandbox.gitlab.label_events[project].get(iid, [])
        return sum(e["action"] == "add" and e["label"]["name"] == STATUS_PAGE_LABEL for e in events)

    return Cell(
        "gitlab",
        f"/issues/{iid}",
        lambda w: [w.composer().label_issue(incident_id=incident_id, now=w.now())],
        added,
    )


def issues_titled(world: World, project: str, title: str) -> Callable[[], int]:
    before = sum(i["title"] == title for i in world.sandbox.gitlab.issues[project])
    return lambda: sum(i["title"] == title for i in world.sandbox.gitlab.issues[project]) - before


def handover_issue(world: World) -> Cell:
    cmoc = world.sandbox.org.people_with_role("cmoc")[0]
    shift = handover.Shift(
        user_id="PFAULTS",
        person=cmoc.name,
        region="EMEA",
        start=START - timedelta(hours=8),
        end=START,
        gitlab_username=cmoc.gitlab_username,
        gitlab_ids=frozenset({str(cmoc.gitlab_user_id)}),
    )
    draft = handover.nothing_happened(shift)
    project = world.settings.gitlab_handover_project or ""

    def act(w: World) -> list[Outcome]:
        creation = handover.create(
            engine=w.engine,
            gitlab=w.clients.gitlab,
            project=project,
            shift=shift,
            handover=draft,
            viewer=configured(ACTOR),
            now=w.now(),
        )
        return [creation.outcome]

    return Cell("gitlab", "cmoc-handover/issues", act, issues_titled(world, project, draft.title))


def practice_event_issue(world: World) -> Cell:
    people = PeopleWorld(world.engine)
    for n, user in enumerate(world.sandbox.org.gitlab_users[:3]):
        people.person(user["name"], pd_id=f"PFAULT{n}", gitlab_id=str(user["id"]))
    with session_scope(world.engine) as session:
        ids = [p.id or 0 for p in practice.people(session=session)]
        event = practice.plan_event(
            session=session,
            region="EMEA",
            scheduled_at=START + timedelta(days=30),
            scenario="database-failover",
            facilitator_id=ids[0],
            note_taker_id=ids[1],
            cmoc_id=ids[2],
            now=world.now(),
        )
        event_id = event.id or 0
        title = practice.event_issue(session=session, event=event).title
    project = world.settings.gitlab_training_project or ""

    def act(w: World) -> list[Outcome]:
        return [
            practice.create_event_issue(
                engine=w.engine,
                clients=w.clients,
                settings=w.settings,
                event_id=event_id,
                viewer=configured(ACTOR),
                now=w.now(),
            )
        ]

    return Cell("gitlab", "support-team-meta/issues", act, issues_titled(world, project, title))


def slack_notice(world: World) -> Cell:
    incident_id = working_incident(world)
    hooks = list(world.sandbox.slack.hooks.items())
    faulted_path, faulted_channel = hooks[0]

    def posts(channel: str) -> int:
        return sum(p.text == NOTIFIED for p in world.sandbox.slack.messages(channel))

    def other_channels() -> list[str]:
        return [
            f"{channel} has {posts(channel)} posts of the notice"
            for _, channel in hooks[1:]
            if posts(channel) != 1
        ]

    return Cell(
        "slack",
        f"/slack{faulted_path}",
        lambda w: w.composer().notify(incident_id=incident_id, text=NOTIFIED, now=w.now()),
        lambda: posts(faulted_channel),
        checks=other_channels,
        incident_id=incident_id,
        names={f"/slack{faulted_path}": f"Slack {faulted_channel}"},
    )


def window_messages(world: World, window_id: str, text: str) -> int:
    return sum(
        m["details"] == text
        for w in world.windows()
        if w["_id"] == window_id
        for m in w["messages"]
    )


def maintenance_post(action: Action) -> Callable[[World], Cell]:
    def build(world: World) -> Cell:
        board = world.board()
        window = board.active[0] if action == Action.FINISH else board.upcoming[0]
        text = NOTICES[action]
        early = "Fault matrix: started before the planned start." if action == Action.START else ""
        notice = Notice(text, automation_disabled=action != Action.UPDATE, early_reason=early)
        return Cell(
            "statusio",
            f"/maintenance/{maintenance.CALLS[action]}",
            lambda w: [
                w.maintenance().post(window=window, action=action, notice=notice, now=w.now())
            ],
            lambda: window_messages(world, window.id, text),
        )

    return build


def window_plan(world: World, *, days: int) -> Plan:
    start = START + timedelta(days=days, hours=13, minutes=30)
    return Plan(
        name=WINDOW,
        details=WINDOW_DETAILS,
        start=start,
        end=start + timedelta(hours=2),
        components=world.components(2),
        issue_url=MAINTENANCE_ISSUE,
    )


def maintenance_schedule(world: World) -> Cell:
    plan = window_plan(world, days=2)
    return Cell(
        "statusio",
        "/maintenance/schedule",
        lambda w: [w.maintenance().schedule(plan=plan, now=w.now())],
        lambda: sum(w["name"] == WINDOW for w in world.windows()),
    )


def maintenance_reschedule(faulted: str) -> Callable[[World], Cell]:
    def build(world: World) -> Cell:
        scheduled = world.maintenance().schedule(plan=window_plan(world, days=2), now=world.now())
        assert scheduled.ok, scheduled.message
        original = world.board().find(scheduled.result["maintenance_id"])
        assert original is not None
        moved = replace(window_plan(world, days=9), details=original.details)

        def replacements() -> int:
            return sum(
                w["name"] == WINDOW
                and w["_id"] != original.id
                and parse_time(w["datetime_planned_start"]) == moved.start
                for w in world.windows()
            )

        def original_gone() -> list[str]:
            kept = any(w["_id"] == original.id for w in world.windows())
            return ["the original window is still listed"] if kept else []

        return Cell(
            "statusio",
            faulted,
            lambda w: [w.maintenance().reschedule(window=original, plan=moved, now=w.now())],
            replacements,
            writes=("/maintenance/schedule", "/maintenance/delete"),
            checks=original_gone,
        )

    return build


KINDS: dict[str, Callable[[World], Cell]] = {
    "status page · create": status_page_create,
    "status page · update": status_page_update,
    "status page · resolve": status_page_resolve,
    "maintenance · schedule": maintenance_schedule,
    "maintenance · update, not started": maintenance_post(Action.UPDATE),
    "maintenance · start": maintenance_post(Action.START),
    "maintenance · finish": maintenance_post(Action.FINISH),
    "maintenance · reschedule, new window": maintenance_reschedule("/maintenance/schedule"),
    "maintenance · reschedule, delete old": maintenance_reschedule("/maintenance/delete"),
    "PagerDuty · acknowledge": page_change(resolve=False),
    "PagerDuty · resolve": page_change(resolve=True),
    "GitLab · label": gitlab_label,
    "GitLab · handover issue": handover_issue,
    "GitLab · practice-event issue": practice_event_issue,
    "Slack · notice": slack_notice,
}


# The CMOC ----------------------------------------------------------------------------------


@dataclass
class Result:
    """What one cell ended with."""

    kind: str
    fault: str
    effects: int
    writes: dict[str, int]
    actions: int
    settled: bool
    problems: list[str]
    story: list[str]
    looked: bool = False  # settled by the CMOC finding the notice in the channel
    unsettled: int = 0  # notices the composer still lists as unsettled afterwards

    @property
    def exactly_once(self) -> bool:
        """One effect, one write reaching the service per path, settled, nothing else wrong."""
        return (
            self.effects == 1
            and all(n == 1 for n in self.writes.values())
            and self.settled
            and not self.problems
        )

    def describe(self) -> str:
        writes = ", ".join(f"{path} ×{n}" for path, n in self.writes.items())
        return (
            f"{self.kind} × {self.fault}: {self.effects} effect(s), writes reaching the service: "
            f"{writes}; {self.actions} action(s); settled: {self.settled}"
            f"{' by looking in the channel' if self.looked else ''}; "
            f"still listed as unsettled: {self.unsettled}; "
            f"problems: {self.problems or 'none'}\n  " + "\n  ".join(self.story)
        )


def outcome_line(outcome: Outcome) -> str:
    return (
        f"{outcome.status.value}{' (ask the user)' if outcome.ask_user else ''}: {outcome.message}"
    )


def run_cell(kind: str, fault: WireFault, *, organisation: Organisation, engine: Engine) -> Result:
    """Do the action once under the fault, follow its outcome as the CMOC would, then count."""
    world = World(organisation, engine)
    try:
        return _follow(kind, fault, world)
    finally:
        world.close()


def _follow(kind: str, fault: WireFault, world: World) -> Result:
    cell = KINDS[kind](world)
    world.later()
    world.wire.handled.clear()
    damaged = fault.inject(world, cell.service, cell.path)
    story: list[str] = []
    seen: set[str] = set()  # notices the CMOC found in the channel

    def press(act: Act) -> list[Outcome] | None:
        try:
            outcomes = act(world)
        except Killed:
            story.append("the app was killed before any answer came; it starts again")
            world.restart()
            return None
        story.extend(outcome_line(o) for o in outcomes)
        return outcomes

    def settled(outcomes: list[Outcome] | None) -> bool:
        return outcomes is not None and all(o.ok or o.key in seen for o in outcomes)

    outcomes, actions, looks = press(cell.act), 1, 0
    while not settled(outcomes) and actions <= FOLLOW_UPS and looks <= FOLLOW_UPS:
        world.later()
        unclear = [o for o in outcomes or [] if o.ask_user and o.key not in seen]
        if outcomes is not None and unclear:
            looks += 1
            resent = _look_in_the_channel(world, cell, unclear, seen, story)
            actions += len(resent)
            story.extend(outcome_line(o) for o in resent)
            again = {o.key for o in resent}
            outcomes = [o for o in outcomes if o.key not in again] + resent
            continue
        outcomes, actions = press(cell.act), actions + 1
    writes = {
        cell.names.get(path, path): sum(path in w for w in world.wire.handled)
        for path in cell.paths()
    }
    problems = cell.checks()
    if not damaged():
        problems.append("the fault never met the write")
    asked_to_wait = fault.kind == "status" and fault.status == 429 and fault.headers
    if asked_to_wait and float(RETRY_AFTER) not in world.sleeps:
        problems.append(f"Retry-After was not honoured (waits: {world.sleeps})")
    unsettled = (
        len(world.composer().unsettled_notices(incident_id=cell.incident_id))
        if cell.incident_id is not None
        else 0
    )
    return Result(
        kind,
        fault.name,
        cell.effects(),
        writes,
        actions,
        settled(outcomes),
        problems,
        story,
        looked=bool(seen),
        unsettled=unsettled,
    )


def _look_in_the_channel(
    world: World, cell: Cell, unclear: list[Outcome], seen: set[str], story: list[str]
) -> list[Outcome]:
    """Slack cannot be asked: the CMOC looks for each notice in doubt and resends a missing one."""
    publisher = world.composer()
    hooks = world.sandbox.slack.hooks.values()
    channels = dict(zip((w.name for w in world.clients.slack), hooks, strict=True))
    notices = {
        n.key(): n
        for n in (
            SlackNotice(working_id=cell.incident_id or 0, webhook=name, text=NOTIFIED)
            for name in channels
        )
    }
    resent = []
    for outcome in unclear:
        notice = notices[outcome.key or ""]
        channel = channels[notice.webhook]
        if any(p.text == notice.text for p in world.sandbox.slack.messages(channel)):
            story.append(f"looked in {channel}: the notice is there")
            seen.add(notice.key())
        else:
            story.append(f"looked in {channel}: the notice is missing; sending it again")
            resent.append(publisher.notify_again(notice=notice, now=world.now()))
    return resent


def small_organisation() -> Organisation:
    """A month of history: all the matrix needs, and quick to copy on a sandbox's first write."""
    return generate(seed=7, end=END, days=30)


# Databases ---------------------------------------------------------------------------------


def migrated_template(directory: Path) -> Path:
    """A migrated, empty SQLite file to copy for each cell (migrating each time is slow)."""
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection closing folds the journal into the file
    return path


def engine_from(template: Path, path: Path) -> Engine:
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


# The test ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_organisation() -> Organisation:
    return small_organisation()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("fault-matrix"))


@pytest.fixture
def matrix_engine(template: Path, tmp_path: Path) -> Iterator[Engine]:
    engine = engine_from(template, tmp_path / "cmoc.db")
    yield engine
    engine.dispose()


def slug(name: str) -> str:
    return "-".join(name.replace("·", " ").replace(",", " ").split()).lower()


@pytest.mark.parametrize("fault", FAULTS, ids=[slug(f.name) for f in FAULTS])
@pytest.mark.parametrize("kind", list(KINDS), ids=[slug(k) for k in KINDS])
def test_every_action_reaches_its_service_exactly_once_whatever_the_wire_does(
    kind: str, fault: WireFault, matrix_organisation: Organisation, matrix_engine: Engine
) -> None:
    result = run_cell(kind, fault, organisation=matrix_organisation, engine=matrix_engine)
    assert result.exactly_once, result.describe()
