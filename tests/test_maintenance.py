"""Maintenance against the sandbox: exact Status.io requests, each sent once, safe reschedules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import Session, func, select

from cmoc_core import maintenance
from cmoc_core.clients import build_clients
from cmoc_core.clients.http import ApiRejected
from cmoc_core.config import settings_from_mapping
from cmoc_core.maintenance import Action, Notice, Plan, Publisher
from cmoc_core.models import AuditEntry, Draft, MaintenancePhase, OutboxEntry
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.sync import run_sync
from tests.support.viewers import configured

END = datetime(2026, 11, 1, tzinfo=UTC)
FLAGS_OFF = dict.fromkeys(
    (
        "notify_email",
        "notify_sms",
        "notify_webhook",
        "social",
        "irc",
        "hipchat",
        "msteams",
        "slack",
    ),
    "0",
)
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/21001"


class StepClock:
    """A clock standing still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment


class World:
    """The sandbox, the database synced from it, and a maintenance publisher."""

    def __init__(self, engine, organisation, transport=None) -> None:
        self.clock = StepClock(END + timedelta(hours=9))
        self.sandbox = Sandbox(organisation, clock=self.clock)
        self.settings = settings_from_mapping(self.sandbox.settings())
        self.clients = build_clients(
            self.settings,
            transport=transport(self.sandbox) if transport else self.sandbox.transport,
            sleep=lambda _s: None,
            statusio_min_interval=0,
        )
        self.engine = engine
        run_sync(engine=engine, settings=self.settings, clients=self.clients, sources=["statusio"])
        self.sandbox.reset_requests()
        self.publisher = Publisher(
            engine,
            self.clients.statusio,
            self.settings.statusio_statuspage_id,
            self.settings.gitlab_production_project,
            configured("cmoc@example.com"),
        )

    def now(self) -> datetime:
        return self.sandbox.now()

    def board(self) -> maintenance.Board:
        with Session(self.engine) as session:
            return maintenance.board(
                session=session,
                statuspage_id=self.settings.statusio_statuspage_id,
                project=self.settings.gitlab_production_project,
            )

    def writes(self) -> list[tuple[str, dict]]:
        return [(w.path, w.body) for w in self.sandbox.writes("statusio")]

    def listed(self) -> dict[str, list[dict]]:
        return self.clients.statusio.maintenances()

    def component_ids(self, count: int) -> list[str]:
        components = self.sandbox.org.statusio_components[:count]
        return [f"{c['_id']}-{c['containers'][0]['_id']}" for c in components]

    def plan(self, **changes) -> Plan:
        values = {
            "name": "PostgreSQL upgrade",
            "details": "GitLab.com will be read-only for up to 30 minutes.",
            "start": END + timedelta(days=2, hours=22, minutes=30),
            "end": END + timedelta(days=3, hours=0, minutes=30),
            "components": self.component_ids(2),
            "issue_url": ISSUE,
        }
        return Plan(**{**values, **changes})


@pytest.fixture
def world(sqlite_engine, organisation):
    built = World(sqlite_engine, organisation)
    yield built
    built.clients.close()


def outbox_rows(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(OutboxEntry)).one()


def test_schedule_sends_month_first_dates_and_24_hour_utc_times_with_every_field(world):
    plus_two = timezone(timedelta(hours=2))
    plan = world.plan(
        start=datetime(2026, 11, 6, 0, 30, tzinfo=plus_two),  # 05-11-2026 22:30 UTC
        end=datetime(2026, 11, 6, 2, 30, tzinfo=plus_two),
        notify={"now": True, "72_hr": True, "24_hr": False, "1_hr": True},
        automation=False,
    )
    outcome = world.publisher.schedule(plan=plan, now=world.now())
    assert outcome.status == "sent", outcome.message
    [(path, body)] = world.writes()
    assert path == "/maintenance/schedule"
    assert body == {
        "statuspage_id": world.settings.statusio_statuspage_id,
        "maintenance_name": "PostgreSQL upgrade",
        "maintenance_details": (
            f"GitLab.com will be read-only for up to 30 minutes. Details: {ISSUE}"
        ),
        "infrastructure_affected": world.component_ids(2),
        "all_infrastructure_affected": "0",
        "date_planned_start": "11/05/2026",
        "time_planned_start": "22:30",
        "date_planned_end": "11/06/2026",
        "time_planned_end": "00:30",
        "automation": "0",
        "maintenance_notify_now": "1",
        "maintenance_notify_72_hr": "1",
        "maintenance_notify_24_hr": "0",
        "maintenance_notify_1_hr": "1",
        "message_subject": "Scheduled maintenance: PostgreSQL upgrade",
    }
    window = world.board().find(outcome.result["maintenance_id"])
    assert window.phase == MaintenancePhase.UPCOMING
    assert maintenance.span(window.planned_start, window.planned_end) == (
        "05-11-2026 22:30 – 06-11-2026 00:30 UTC"
    )
    assert window.issue_url == ISSUE
    assert (window.automation, window.reminders) == (False, True)
    assert window.messages[0].posted_at == world.now()


def test_a_double_click_or_a_rerun_schedules_the_window_once(world):
    plan = world.plan()
    first = world.publisher.schedule(plan=plan, now=world.now())
    second = world.publisher.schedule(plan=plan, now=world.now() + timedelta(seconds=1))
    assert (first.status, second.status) == ("sent", "already_sent")
    assert second.result == first.result
    assert [path for path, _ in world.writes()] == ["/maintenance/schedule"]
    assert (
        len(world.listed()["upcoming"])
        == len(world.sandbox.org.statusio_maintenances["upcoming"]) + 1
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"end": END + timedelta(days=2, hours=21)},
            "The maintenance ends (03-11-2026 21:00 UTC) before it starts (03-11-2026 22:30 UTC)",
        ),
        ({"start": END + timedelta(hours=8)}, "The start, 01-11-2026 08:00 UTC, is in the past"),
        ({"name": "  "}, "The name is empty"),
        ({"details": ""}, "The details are empty"),
        ({"components": []}, "Choose the affected components"),
        (
            {"issue_url": "https://example.com/issue/1"},
            "not a gitlab-com/gl-infra/production issue",
        ),
    ],
)
def test_a_plan_that_cannot_go_is_answered_plainly_and_nothing_is_sent(world, changes, expected):
    outcome = world.publisher.schedule(plan=world.plan(**changes), now=world.now())
    assert outcome.status == "failed" and expected in outcome.message
    assert world.writes() == [] and outbox_rows(world.engine) == 0


def test_all_infrastructure_needs_no_component_list(world):
    plan = world.plan(components=[], all_infrastructure=True)
    assert world.publisher.schedule(plan=plan, now=world.now()).ok
    [(_, body)] = world.writes()
    assert (body["infrastructure_affected"], body["all_infrastructure_affected"]) == ([], "1")


def test_an_update_without_starting_keeps_email_off_when_reminders_may_be_set(world):
    window = world.board().upcoming[0]
    assert window.automation is None  # scheduled outside this app: its settings are unknown
    notice = maintenance.default_notice(window, Action.UPDATE)
    assert notice.broadcast["notify_email"] is False
    assert any(
        "notify_email" in w for w in maintenance.warnings(window, Action.UPDATE, now=world.now())
    )
    notice = Notice("Reminder: the upgrade starts as planned.", notice.broadcast)
    outcome = world.publisher.post(
        window=window, action=Action.UPDATE, notice=notice, now=world.now()
    )
    assert outcome.status == "sent", outcome.message
    assert world.writes() == [
        (
            "/maintenance/update",
            {
                "statuspage_id": world.settings.statusio_statuspage_id,
                "maintenance_id": window.id,
                "maintenance_details": "Reminder: the upgrade starts as planned.",
                **dict.fromkeys(FLAGS_OFF, "1"),
                "notify_email": "0",
                "message_subject": f"Maintenance update: {window.name}",
            },
        )
    ]
    after = world.board().find(window.id)
    assert after.phase == MaintenancePhase.UPCOMING
    posted = [(n.posted_at, n.state) for n in after.messages if n.details == notice.details]
    assert posted == [(world.now(), 100)]


def test_starting_needs_automation_disabled_first_and_then_moves_the_window_to_active(world):
    window = world.board().upcoming[0]
    world.clock.moment = window.planned_start - timedelta(minutes=15)  # on time: no reason asked
    said = maintenance.warnings(window, Action.START, now=world.now())
    assert any("cannot be re-enabled" in w for w in said)
    blocked = world.publisher.post(
        window=window, action=Action.START, notice=Notice("Starting now."), now=world.now()
    )
    assert blocked.status == "failed" and "Disable automation in Status.io first" in blocked.message
    assert world.writes() == []

    world.clock.moment += timedelta(minutes=5)
    notice = Notice("Starting now.", dict.fromkeys(FLAGS_OFF, False), automation_disabled=True)
    started = world.publisher.post(
        window=window, action=Action.START, notice=notice, now=world.now()
    )
    assert started.status == "sent", started.message
    assert world.writes() == [
        (
            "/maintenance/start",
            {
                "statuspage_id": world.settings.statusio_statuspage_id,
                "maintenance_id": window.id,
                "maintenance_details": "Starting now.",
                **FLAGS_OFF,
                "message_subject": f"Maintenance in progress: {window.name}",
            },
        )
    ]
    active = world.board().find(window.id)
    assert active.phase == MaintenancePhase.ACTIVE
    assert active.automation is False  # disabled by the CMOC: later steps need no new tick
    posted = [(n.posted_at, n.state) for n in active.messages if n.details == "Starting now."]
    assert posted == [(window.planned_start - timedelta(minutes=10), 200)]
    assert world.listed()["active"][0]["_id"] == window.id


def test_finishing_moves_an_active_window_to_closed_with_a_completed_message(world):
    window = world.board().active[0]
    world.clock.moment += timedelta(minutes=30)
    notice = Notice(
        "Scheduled maintenance has been completed.",
        {**dict.fromkeys(FLAGS_OFF, True), "irc": False, "hipchat": False},
        automation_disabled=True,
    )
    outcome = world.publisher.post(
        window=window, action=Action.FINISH, notice=notice, now=world.now()
    )
    assert outcome.status == "sent", outcome.message
    [(path, body)] = world.writes()
    assert path == "/maintenance/finish"
    assert body == {
        "statuspage_id": world.settings.statusio_statuspage_id,
        "maintenance_id": window.id,
        "maintenance_details": "Scheduled maintenance has been completed.",
        **dict.fromkeys(FLAGS_OFF, "1"),
        "irc": "0",
        "hipchat": "0",
        "message_subject": f"Maintenance completed: {window.name}",
    }
    closed = world.board().find(window.id)
    assert closed.phase == MaintenancePhase.RESOLVED
    assert (closed.messages[-1].state, closed.messages[-1].posted_at) == (
        300,
        END + timedelta(hours=9, minutes=30),
    )
    again = world.publisher.post(
        window=closed, action=Action.FINISH, notice=notice, now=world.now()
    )
    assert again.status == "failed" and "closed cannot be finished" in again.message


def test_a_maintenance_scheduled_here_without_automation_starts_and_finishes_without_the_tick(
    world,
):
    plan = world.plan(automation=False, start=world.now() + timedelta(minutes=10))
    scheduled = world.publisher.schedule(plan=plan, now=world.now())
    window = world.board().find(scheduled.result["maintenance_id"])
    assert maintenance.warnings(window, Action.START, now=world.now()) == []
    assert world.publisher.post(
        window=window, action=Action.START, notice=Notice("Now."), now=world.now()
    ).ok
    active = world.board().find(window.id)
    finished = world.publisher.post(
        window=active, action=Action.FINISH, notice=Notice("Done."), now=world.now()
    )
    assert finished.ok
    assert [p for p, _ in world.writes()] == [
        "/maintenance/schedule",
        "/maintenance/start",
        "/maintenance/finish",
    ]


def schedule_original(world) -> maintenance.Window:
    outcome = world.publisher.schedule(plan=world.plan(), now=world.now())
    world.sandbox.reset_requests()
    return world.board().find(outcome.result["maintenance_id"])


def moved(world, original: maintenance.Window) -> Plan:
    return world.plan(
        details=original.details,
        start=END + timedelta(days=9, hours=22, minutes=30),
        end=END + timedelta(days=10, minutes=30),
    )


def test_reschedule_schedules_the_replacement_first_then_deletes_the_original(world):
    original = schedule_original(world)
    outcome = world.publisher.reschedule(
        window=original, plan=moved(world, original), now=world.now()
    )
    assert outcome.status == "sent", outcome.message
    assert [p for p, _ in world.writes()] == ["/maintenance/schedule", "/maintenance/delete"]
    schedule, delete = (body for _, body in world.writes())
    assert (schedule["date_planned_start"], schedule["time_planned_start"]) == (
        "11/10/2026",
        "22:30",
    )
    assert (schedule["date_planned_end"], schedule["time_planned_end"]) == ("11/11/2026", "00:30")
    assert schedule["maintenance_details"] == (
        "Rescheduled from 03-11-2026 22:30 – 04-11-2026 00:30 UTC to "
        "10-11-2026 22:30 – 11-11-2026 00:30 UTC. "
        f"GitLab.com will be read-only for up to 30 minutes. Details: {ISSUE}"
    )
    assert delete == {
        "statuspage_id": world.settings.statusio_statuspage_id,
        "maintenance_id": original.id,
    }
    assert outcome.message.startswith(
        "Rescheduled. Subscribers get a maintenance notice now for “PostgreSQL upgrade”, "
        "10-11-2026 22:30 – 11-11-2026 00:30 UTC, then reminders 72 hours, 24 hours and 1 hour "
        "before the start. The original window (03-11-2026 22:30 – 04-11-2026 00:30 UTC) is then "
        "deleted"
    )
    board = world.board()
    assert board.find(original.id) is None
    assert board.find(outcome.result["maintenance_id"]).phase == MaintenancePhase.UPCOMING
    assert original.id not in {m["_id"] for items in world.listed().values() for m in items}


def test_a_reschedule_interrupted_at_the_delete_keeps_both_windows_and_resumes_once(world):
    original = schedule_original(world)
    world.sandbox.add_fault(Fault(service="statusio", path_contains="maintenance/delete"))
    plan = moved(world, original)
    half = world.publisher.reschedule(window=original, plan=plan, now=world.now())
    assert half.status == "unknown"
    assert "original window could not be deleted yet" in half.message
    names = [m["name"] for m in world.listed()["upcoming"]]
    assert names.count("PostgreSQL upgrade") == 2  # never neither: both stand until the retry

    done = world.publisher.reschedule(window=original, plan=plan, now=world.now())
    assert done.status == "sent", done.message
    assert [p for p, _ in world.writes()] == [
        "/maintenance/schedule",
        "/maintenance/delete",
        "/maintenance/delete",
    ]
    names = [m["name"] for m in world.listed()["upcoming"]]
    assert names.count("PostgreSQL upgrade") == 1
    again = world.publisher.reschedule(window=original, plan=plan, now=world.now())
    assert again.status == "already_sent" and len(world.writes()) == 3


def test_a_replacement_whose_answer_was_lost_is_found_and_not_scheduled_twice(
    sqlite_engine, organisation
):
    lost = {"left": 0}

    def answer_lost_once(sandbox: Sandbox) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            response = sandbox.handle(request)
            if request.url.path.endswith("/maintenance/schedule") and lost["left"]:
                lost["left"] -= 1
                raise httpx.ReadTimeout("the answer was lost", request=request)
            return response

        return httpx.MockTransport(handle)

    world = World(sqlite_engine, organisation, transport=answer_lost_once)
    original = schedule_original(world)
    lost["left"] = 1
    plan = moved(world, original)
    unclear = world.publisher.reschedule(window=original, plan=plan, now=world.now())
    assert unclear.status == "unknown" and "The original window is unchanged" in unclear.message
    assert world.board().find(original.id) is not None

    changed = world.plan(start=plan.start + timedelta(days=1), end=plan.end + timedelta(days=1))
    later = world.now() + timedelta(minutes=3)
    done = world.publisher.reschedule(window=original, plan=changed, now=later)
    assert done.status == "sent", done.message
    assert "finished the reschedule started earlier (to 10-11-2026 22:30" in done.message
    assert [p for p, _ in world.writes()] == ["/maintenance/schedule", "/maintenance/delete"]
    upcoming = world.listed()["upcoming"]
    assert [m["name"] for m in upcoming].count("PostgreSQL upgrade") == 1
    world.clients.close()


def test_a_reschedule_to_an_impossible_time_leaves_the_original_alone(world):
    original = schedule_original(world)
    plan = world.plan(start=END + timedelta(days=5), end=END + timedelta(days=4))
    outcome = world.publisher.reschedule(window=original, plan=plan, now=world.now())
    assert outcome.status == "failed"
    assert (
        "before it starts" in outcome.message and "original window is unchanged" in outcome.message
    )
    assert world.writes() == []
    assert world.board().find(original.id).phase == MaintenancePhase.UPCOMING


def test_an_active_window_cannot_be_rescheduled(world):
    active = world.board().active[0]
    outcome = world.publisher.reschedule(window=active, plan=world.plan(), now=world.now())
    assert outcome.status == "failed" and "in progress cannot be rescheduled" in outcome.message
    assert world.writes() == []


def test_every_maintenance_action_is_in_the_audit_log(world):
    original = schedule_original(world)
    world.publisher.reschedule(window=original, plan=moved(world, original), now=world.now())
    with Session(world.engine) as session:
        entries = maintenance.audit_log(session=session)
        total = session.exec(select(func.count()).select_from(AuditEntry)).one()
    assert sorted(e.action for e in entries) == [
        "maintenance_delete",
        "maintenance_reschedule",
        "maintenance_schedule",
    ]
    assert total == 3 and {e.result for e in entries} == {"sent"}
    assert all(e.actor == "cmoc@example.com" and "PostgreSQL upgrade" in e.target for e in entries)


# The sandbox answers maintenance writes as Status.io would.


def test_status_io_refuses_a_window_that_ends_before_it_starts(world):
    with pytest.raises(ApiRejected) as refused:
        world.clients.statusio.schedule_maintenance(
            name="Upgrade",
            details="Read-only.",
            components=world.component_ids(1),
            start=END + timedelta(days=2),
            end=END + timedelta(days=1),
        )
    assert "the planned end must be after the planned start" in str(refused.value)
    assert len(world.listed()["upcoming"]) == len(
        world.sandbox.org.statusio_maintenances["upcoming"]
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "maintenance/start",
            {"maintenance_id": "f" * 24, "maintenance_details": "Starting."},
            "Maintenance not found",
        ),
        ("maintenance/delete", {"maintenance_id": "f" * 24}, "Maintenance not found"),
        (
            "maintenance/update",
            {"maintenance_details": "x"},
            "Missing required parameter: maintenance_id",
        ),
        (
            "maintenance/schedule",
            {"maintenance_name": "Upgrade"},
            "Missing required parameter: maintenance_details",
        ),
        (
            "maintenance/schedule",
            {
                "maintenance_name": "Upgrade",
                "maintenance_details": "Read-only.",
                "date_planned_start": "2026-11-03",
                "time_planned_start": "22:30",
            },
            "must be a date such as 12/31/2026",
        ),
        (
            "maintenance/schedule",
            {
                "maintenance_name": "Upgrade",
                "maintenance_details": "Read-only.",
                "date_planned_start": "2026/11/03",
                "time_planned_start": "22:30",
            },
            "must be a date such as 12/31/2026",
        ),
    ],
)
def test_status_io_answers_bad_maintenance_writes_with_its_error_envelope(
    world, path, body, message
):
    client = httpx.Client(
        transport=world.sandbox.transport,
        base_url=world.settings.statusio_api_url,
        headers={"x-api-id": "sandbox-statusio-api-id", "x-api-key": "sandbox-statusio-api-key"},
    )
    answer = client.post(
        path,
        json={"statuspage_id": world.settings.statusio_statuspage_id, **body},
    )
    assert answer.status_code == 200
    assert answer.json()["status"]["error"] == "yes"
    assert message in answer.json()["status"]["message"]


def test_status_io_starts_only_upcoming_and_finishes_only_active_windows(world):
    client = world.clients.statusio
    active = world.listed()["active"][0]["_id"]
    upcoming = world.listed()["upcoming"][0]["_id"]
    message = {"details": "x", "broadcast": {}}
    with pytest.raises(ApiRejected, match="already in progress"):
        client.post_maintenance("start", maintenance_id=active, **message)
    with pytest.raises(ApiRejected, match="has not started"):
        client.post_maintenance("finish", maintenance_id=upcoming, **message)


def test_the_maintenance_list_tolerates_missing_phases():
    def answer(request: httpx.Request) -> httpx.Response:
        result = {"active_maintenances": [{"_id": "a" * 24, "name": "Upgrade"}]}
        return httpx.Response(
            200, json={"status": {"error": "no", "message": "OK"}, "result": result}
        )

    from cmoc_core.clients import StatusIoClient

    client = StatusIoClient(
        base_url="https://api.status.io/v2",
        api_id="id",
        api_key="key",
        statuspage_id="p" * 24,
        transport=httpx.MockTransport(answer),
        min_interval=0,
    )
    assert client.maintenances() == {
        "active": [{"_id": "a" * 24, "name": "Upgrade"}],
        "upcoming": [],
        "resolved": [],
    }


def test_an_update_whose_answer_was_lost_is_found_in_the_window_and_not_posted_twice(
    sqlite_engine, organisation
):
    lost = {"left": 1}

    def reset_after_posting(sandbox: Sandbox) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            response = sandbox.handle(request)
            if request.url.path.endswith("/maintenance/update") and lost["left"]:
                lost["left"] -= 1
                raise httpx.RemoteProtocolError("connection reset", request=request)
            return response

        return httpx.MockTransport(handle)

    world = World(sqlite_engine, organisation, transport=reset_after_posting)
    window = world.board().upcoming[0]
    notice = Notice("Reminder: the upgrade starts as planned.", {"notify_email": False})
    first = world.publisher.post(
        window=window, action=Action.UPDATE, notice=notice, now=world.now()
    )
    later = world.now() + timedelta(minutes=3)
    second = world.publisher.post(window=window, action=Action.UPDATE, notice=notice, now=later)
    assert first.status == "unknown", first.message
    assert second.status == "sent" and "confirmed" in second.message
    assert [path for path, _ in world.writes()] == ["/maintenance/update"]
    world.clients.close()


# Time told truly: overruns, reminders that can still go out, early starts, what Status.io says.


def refresh(world: World) -> None:
    maintenance.refresh(
        engine=world.engine,
        client=world.clients.statusio,
        statuspage_id=world.settings.statusio_statuspage_id,
    )


def test_an_overrun_says_by_how_long_in_words_for_people():
    overrun = maintenance.Overrun(timedelta(hours=9, minutes=2, seconds=40))
    assert overrun.message == "Overrunning by 9 h 02 min: finish it or post an update"
    assert maintenance.lasting(timedelta(minutes=45)) == "45 min"
    assert maintenance.lasting(timedelta(hours=71, minutes=59)) == "71 h 59 min"
    assert maintenance.lasting(timedelta(days=13, hours=22, minutes=5)) == "13 d 22 h 05 min"
    assert maintenance.lasting(timedelta(seconds=30)) == "under a minute"


def test_an_active_window_past_its_end_is_flagged_and_listed_before_one_still_on_time(world):
    # A second active window, started earlier but planned to end later: still on time.
    on_time = world.clients.statusio.schedule_maintenance(
        name="Runner fleet rotation",
        details="CI jobs may queue for a few minutes.",
        components=world.component_ids(1),
        start=END - timedelta(hours=3),
        end=END + timedelta(hours=20),
    )
    world.clients.statusio.post_maintenance(
        "start", maintenance_id=on_time, details="Started.", broadcast={}
    )
    refresh(world)
    late = next(w for w in world.board().active if w.id != on_time)
    assert late.planned_end is not None and late.planned_end < world.now()
    with Session(world.engine) as session:
        board = maintenance.board(
            session=session,
            statuspage_id=world.settings.statusio_statuspage_id,
            project=world.settings.gitlab_production_project,
            now=world.now(),
        )
    assert [w.id for w in board.active] == [late.id, on_time]
    assert board.active[0].overrun == maintenance.Overrun(world.now() - late.planned_end)
    assert board.active[0].overrun.message.startswith("Overrunning by ")
    assert board.active[1].overrun is None
    assert all(w.overrun is None for w in board.upcoming + board.closed)


def test_an_active_window_before_its_end_is_not_overrunning(world):
    active = world.board().active[0]
    before_end = active.planned_end - timedelta(minutes=1)
    assert maintenance.overrun(active, now=before_end) is None
    at_end = maintenance.overrun(active, now=active.planned_end)
    assert at_end is None
    assert maintenance.overrun(active, now=active.planned_end + timedelta(minutes=1)) == (
        maintenance.Overrun(timedelta(minutes=1))
    )


def test_reminders_are_offered_only_when_the_window_starts_at_least_that_far_ahead(world):
    now = world.now()
    offers = maintenance.reminder_offers(now + timedelta(hours=24), now=now)
    assert [(o.key, o.possible) for o in offers] == [
        ("72_hr", False),
        ("24_hr", True),
        ("1_hr", True),
    ]
    assert offers[0].missing == (
        "No “Remind 72 hours before”: the window starts in 24 h 00 min, less than 72 hours "
        "from now, so that reminder can no longer go out."
    )
    assert offers[1].missing is None
    soon = maintenance.reminder_offers(now + timedelta(minutes=59), now=now)
    assert [o.possible for o in soon] == [False, False, False]
    assert "starts in 59 min, less than 1 hour" in soon[2].missing


def test_a_72_hour_reminder_for_a_window_24_hours_away_is_not_sent_and_the_outcome_says_so(world):
    plan = world.plan(
        start=world.now() + timedelta(hours=24), end=world.now() + timedelta(hours=26)
    )
    assert "reminders 24 hours and 1 hour" in maintenance.subscriber_sentence(
        maintenance.feasible(plan, now=world.now())
    )
    outcome = world.publisher.schedule(plan=plan, now=world.now())
    assert outcome.status == "sent", outcome.message
    [(_, body)] = world.writes()
    assert (
        body["maintenance_notify_72_hr"],
        body["maintenance_notify_24_hr"],
        body["maintenance_notify_1_hr"],
    ) == ("0", "1", "1")
    assert outcome.message.startswith(
        "Scheduled the maintenance “PostgreSQL upgrade”. No “Remind 72 hours before”: the "
        "window starts in 24 h 00 min"
    )


def test_starting_more_than_15_minutes_early_needs_a_reason_kept_in_the_audit_row(world):
    plan = world.plan(
        automation=False,
        start=world.now() + timedelta(hours=8, minutes=30),
        end=world.now() + timedelta(hours=10),
    )
    scheduled = world.publisher.schedule(plan=plan, now=world.now())
    window = world.board().find(scheduled.result["maintenance_id"])
    world.sandbox.reset_requests()
    said = maintenance.warnings(window, Action.START, now=world.now())
    assert any("8 h 30 min from now" in w and "needs a reason" in w for w in said)
    blocked = world.publisher.post(
        window=window, action=Action.START, notice=Notice("Starting now."), now=world.now()
    )
    assert blocked.status == "failed"
    assert (
        "Say why the maintenance starts 8 h 30 min before its planned start "
        "(01-11-2026 17:30 UTC)" in blocked.message
    )
    assert world.writes() == []

    notice = Notice("Starting now.", early_reason="Infrastructure asked to start before traffic.")
    started = world.publisher.post(
        window=window, action=Action.START, notice=notice, now=world.now()
    )
    assert started.status == "sent", started.message
    assert [p for p, _ in world.writes()] == ["/maintenance/start"]
    with Session(world.engine) as session:
        [row] = session.exec(
            select(AuditEntry).where(AuditEntry.action == "maintenance_start")
        ).all()
    assert row.detail == (
        "Start: Starting now. · Started 8 h 30 min before the planned start "
        "(01-11-2026 17:30 UTC). Reason: Infrastructure asked to start before traffic."
    )


def test_starting_up_to_15_minutes_early_needs_no_reason(world):
    window = world.board().upcoming[0]
    start = window.planned_start
    assert maintenance.early_start(window, Action.START, now=start - timedelta(minutes=15)) is None
    assert maintenance.early_start(window, Action.START, now=start - timedelta(minutes=16)) == (
        timedelta(minutes=16)
    )
    assert maintenance.early_start(window, Action.UPDATE, now=start - timedelta(days=2)) is None
    on_time = Notice("Now.", automation_disabled=True)
    assert (
        maintenance.notice_problems(
            window, Action.START, on_time, now=start - timedelta(minutes=15)
        )
        == []
    )


def test_settings_status_io_does_not_report_are_said_plainly(world):
    listed = world.board().upcoming[0]  # scheduled in Status.io: its list has no settings
    assert maintenance.automation_words(listed) == "Automation: Status.io does not report this"
    assert maintenance.reminder_words(listed, now=world.now()) == (
        "Reminders: Status.io does not report this"
    )
    assert any(
        "Status.io does not report whether email reminders are set" in w
        for w in maintenance.warnings(listed, Action.UPDATE, now=world.now())
    )


def test_settings_of_a_window_scheduled_here_say_which_reminders_are_still_to_come(world):
    plan = world.plan(
        start=END + timedelta(days=2, hours=10),
        end=END + timedelta(days=2, hours=12),
        notify={"now": True, "72_hr": False, "24_hr": True, "1_hr": True},
    )
    scheduled = world.publisher.schedule(plan=plan, now=world.now())
    window = world.board().find(scheduled.result["maintenance_id"])
    assert maintenance.automation_words(window) == "Automation: on (as scheduled from here)"
    assert maintenance.reminder_words(window, now=world.now()) == (
        "Reminders: 24 hours and 1 hour before the start (as scheduled from here); still to "
        "come: 24 hours before, at 02-11-2026 10:00 UTC and 1 hour before, at "
        "03-11-2026 09:00 UTC"
    )
    later = END + timedelta(days=2, hours=9, minutes=30)
    assert maintenance.reminder_words(window, now=later).endswith("; none still to come")


def test_the_schedule_form_is_kept_as_a_draft_and_forgotten_once_the_window_is_sent(world):
    plan = world.plan(start=END + timedelta(days=5), end=END + timedelta(days=5, hours=2))
    fresh = Plan(name="", details="", start=plan.start, end=plan.end)
    with Session(world.engine) as session:
        maintenance.keep_draft(session=session, plan=fresh, default=fresh, now=world.now())
        session.commit()
        assert maintenance.load_draft(session=session, default=fresh) == fresh
        assert drafts_kept(session) == 0  # an untouched form keeps nothing
        maintenance.keep_draft(session=session, plan=plan, default=fresh, now=world.now())
        session.commit()
        assert maintenance.load_draft(session=session, default=fresh) == plan

    failed = world.publisher.schedule(
        plan=replace_plan(plan, name=""), now=world.now(), draft=maintenance.SCHEDULE_DRAFT
    )
    assert failed.status == "failed"
    with Session(world.engine) as session:
        assert drafts_kept(session) == 1  # a failure keeps the draft
    sent = world.publisher.schedule(plan=plan, now=world.now(), draft=maintenance.SCHEDULE_DRAFT)
    assert sent.status == "sent", sent.message
    with Session(world.engine) as session:
        assert drafts_kept(session) == 0
        assert maintenance.load_draft(session=session, default=fresh) == fresh


def test_a_draft_that_cannot_be_read_falls_back_to_the_fresh_form():
    fresh = Plan(name="", details="", start=END, end=END + timedelta(hours=2))
    kept = maintenance.plan_from_draft(
        {"name": "Upgrade", "start_date": "not a date", "notify": {"72_hr": False}}, fresh
    )
    assert (kept.name, kept.start, kept.end) == ("Upgrade", fresh.start, fresh.end)
    assert kept.notify == {"now": True, "72_hr": False, "24_hr": True, "1_hr": True}


def drafts_kept(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Draft)).one()


def replace_plan(plan: Plan, **changes) -> Plan:
    return dataclasses.replace(plan, **changes)
