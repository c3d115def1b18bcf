"""Roles on every action, against the sandbox: a refused action sends and records nothing.

Each signed-in role takes each kind of action the composer, maintenance, practice and handover
offer; what reached the sandbox and what the outbox and the audit log hold are counted after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from cmoc_core import handover, maintenance, practice
from cmoc_core.access import Permission, Refused, Role, Viewer, signed_in_viewer
from cmoc_core.clients import Clients, build_clients
from cmoc_core.commands import sent_by
from cmoc_core.composer import (
    EditableFacts,
    IncidentFacts,
    Message,
    Publisher,
    change_facts,
    start_incident,
)
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.handbook import StepKey
from cmoc_core.models import (
    AuditEntry,
    Identity,
    OnCallEntry,
    OutboxEntry,
    PracticeEvent,
    ScheduleKind,
    System,
    WorkingIncident,
)
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox import gitlab as fake_gitlab
from cmoc_core.storage import session_scope
from tests.kpi_worlds import CMOC_SCHEDULE, SETTINGS, World, utc

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{iid}"
SHADOWS_MAY_NOT = (
    "The handbook keeps shadows off pages so that the real CMOC is still paged"  # access.py
)


def person_viewer(sandbox: Sandbox, role: str, index: int, roles: set[Role]) -> Viewer:
    """A signed-in person of the sandbox organisation, holding `roles`."""
    person = sandbox.org.people_with_role(role)[index]
    return Viewer(
        name=person.name,
        email=person.email,
        person_key=None,
        roles=frozenset(roles),
        signed_in=True,
        pagerduty_email=person.email,
    )


ROLES: dict[str, Callable[[Sandbox], Viewer]] = {
    "cmoc": lambda box: person_viewer(box, "cmoc", 0, {Role.CMOC}),
    "publisher": lambda box: person_viewer(box, "cmoc", 1, {Role.PUBLISHER}),
    "shadow": lambda box: person_viewer(box, "shadow", 0, {Role.SHADOW}),
    "manager": lambda box: person_viewer(box, "sre", 0, {Role.MANAGER}),
    "reader": lambda box: person_viewer(box, "sre", 1, set()),
}


@dataclass
class Desk:
    """The app's parts over one database and the sandbox, and a way to count what they did."""

    engine: Engine
    sandbox: Sandbox
    settings: Settings
    clients: Clients

    def publisher(self, viewer: Viewer) -> Publisher:
        return Publisher(self.engine, self.clients, self.settings.gitlab_production_project, viewer)

    def incident(self, *, practice_drill: bool = False, page: str | None = None) -> int:
        """A working incident with its issue link (and page), not yet on its status page."""
        iid = self.sandbox.org.gitlab_issues[self.settings.gitlab_production_project][0]["iid"]
        facts = IncidentFacts(
            title="Elevated error rates",
            practice=practice_drill,
            severity=2,
            issue_url=ISSUE.format(iid=iid),
            page_id=page,
        )
        page_id = (
            self.settings.statusio_practice_statuspage_id
            if practice_drill
            else self.settings.statusio_statuspage_id
        )
        with session_scope(self.engine) as session:
            incident = start_incident(
                session=session, facts=facts, statuspage_id=page_id or "", now=self.now()
            )
            return incident.id or 0

    def open_pages(self) -> list[str]:
        return [i["id"] for i in self.sandbox.org.pd_incidents if i["status"] != "resolved"]

    def components(self, practice_page: bool = False) -> list[str]:
        found = (
            self.sandbox.org.statusio_practice_components
            if practice_page
            else self.sandbox.org.statusio_components
        )
        return [f"{c['_id']}-{c['containers'][0]['_id']}" for c in found[:1]]

    def now(self) -> datetime:
        return self.sandbox.now()

    def outbox_rows(self) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.count()).select_from(OutboxEntry)).one()

    def audit(self) -> list[AuditEntry]:
        with Session(self.engine) as session:
            return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.fixture
def desk(sqlite_engine, sandbox) -> Iterator[Desk]:
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    yield Desk(sqlite_engine, sandbox, settings, clients)
    clients.close()


def publish(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident()
    message = Message(f"Investigating errors. {ISSUE.format(iid=1)}", 100, 300)
    outcome = desk.publisher(viewer).create(
        incident_id=incident_id,
        message=message,
        components=desk.components(),
        all_infrastructure=False,
        now=desk.now(),
    )
    assert outcome.ok, outcome.message


def notify(desk: Desk, viewer: Viewer) -> None:
    outcomes = desk.publisher(viewer).notify(
        incident_id=desk.incident(), text="Incident Notifier text", now=desk.now()
    )
    assert outcomes and all(o.ok for o in outcomes), [o.message for o in outcomes]


def label(desk: Desk, viewer: Viewer) -> None:
    outcome = desk.publisher(viewer).label_issue(incident_id=desk.incident(), now=desk.now())
    assert outcome.ok, outcome.message


def acknowledge(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident(page=desk.open_pages()[0])
    outcome = desk.publisher(viewer).page(incident_id=incident_id, resolve=False, now=desk.now())
    assert outcome.ok, outcome.message


def resolve_page(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident(page=desk.open_pages()[0])
    outcome = desk.publisher(viewer).page(incident_id=incident_id, resolve=True, now=desk.now())
    assert outcome.ok, outcome.message


def schedule_maintenance(desk: Desk, viewer: Viewer) -> None:
    now = desk.now()
    plan = maintenance.Plan(
        name="PostgreSQL upgrade",
        details="GitLab.com will be read-only for up to 30 minutes.",
        start=now + timedelta(days=2),
        end=now + timedelta(days=2, hours=1),
        components=desk.components(),
        issue_url=ISSUE.format(iid=21001),
    )
    publisher = maintenance.Publisher(
        desk.engine,
        desk.clients.statusio,
        desk.settings.statusio_statuspage_id or "",
        desk.settings.gitlab_production_project,
        viewer,
    )
    outcome = publisher.schedule(plan=plan, now=now)
    assert outcome.ok, outcome.message


def drill_publish(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident(practice_drill=True)
    message = Message(f"Practising. {ISSUE.format(iid=1)}", 100, 300)
    outcome = desk.publisher(viewer).create(
        incident_id=incident_id,
        message=message,
        components=desk.components(practice_page=True),
        all_infrastructure=False,
        now=desk.now(),
    )
    assert outcome.ok, outcome.message


def drill_acknowledge(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident(practice_drill=True, page=desk.open_pages()[0])
    outcome = desk.publisher(viewer).page(incident_id=incident_id, resolve=False, now=desk.now())
    assert outcome.ok, outcome.message


def draft(desk: Desk, viewer: Viewer) -> None:
    with session_scope(desk.engine) as session:
        start_incident(
            session=session,
            facts=IncidentFacts(title="Slow pipelines"),
            statuspage_id=desk.settings.statusio_statuspage_id or "",
            now=desk.now(),
            actor=viewer,
        )


def edit_facts(desk: Desk, viewer: Viewer) -> None:
    incident_id = desk.incident()
    with session_scope(desk.engine) as session:
        changed = change_facts(
            session=session,
            incident_id=incident_id,
            facts=EditableFacts(title="Slow pipelines", severity=1),
            actor=viewer,
            now=desk.now(),
            project=desk.settings.gitlab_production_project,
        )
    assert changed.changed, changed.problems


ACTIONS: dict[str, Callable[[Desk, Viewer], None]] = {
    "publish": publish,
    "notify": notify,
    "label": label,
    "acknowledge": acknowledge,
    "resolve page": resolve_page,
    "schedule maintenance": schedule_maintenance,
    "publish in a drill": drill_publish,
    "acknowledge in a drill": drill_acknowledge,
    "draft": draft,
    "edit facts": edit_facts,
}
# Who may: the publishers and the CMOC act; shadows draft and drill; managers and readers read.
ALLOWED = {
    "cmoc": set(ACTIONS),
    "publisher": set(ACTIONS),
    "shadow": {"publish in a drill", "acknowledge in a drill", "draft", "edit facts"},
    "manager": set(),
    "reader": set(),
}
# What an allowed action leaves with the services (a drill's page step sends nothing).
REACHES = {
    "publish": {"statusio"},
    "notify": {"slack"},
    "label": {"gitlab"},
    "acknowledge": {"pagerduty"},
    "resolve page": {"pagerduty"},
    "schedule maintenance": {"statusio"},
    "publish in a drill": {"statusio"},
    "acknowledge in a drill": set(),
    "draft": set(),
    "edit facts": set(),
}
WRITES_OUTBOX = set(ACTIONS) - {"draft", "edit facts"}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_may_take_only_its_actions_and_a_refusal_sends_and_records_nothing(
    desk, role, action
):
    viewer = ROLES[role](desk.sandbox)
    outbox_before, audit_before = desk.outbox_rows(), len(desk.audit())

    if action in ALLOWED[role]:
        ACTIONS[action](desk, viewer)
        reached = {w.service for w in desk.sandbox.writes()}
        assert reached == REACHES[action]
        if action in WRITES_OUTBOX:
            assert desk.outbox_rows() > outbox_before
        assert all(e.actor == viewer.actor for e in desk.audit()[audit_before:])
        return

    with pytest.raises(Refused) as refused:
        ACTIONS[action](desk, viewer)
    assert desk.sandbox.writes() == []
    assert desk.outbox_rows() == outbox_before
    assert len(desk.audit()) == audit_before
    assert f"You are signed in as {viewer.email}" in str(refused.value)


def test_a_shadow_is_refused_a_page_with_the_handbooks_reason(desk):
    shadow = ROLES["shadow"](desk.sandbox)
    incident_id = desk.incident(page=desk.open_pages()[0])
    publisher = desk.publisher(shadow)

    assert publisher.refusal(StepKey.ACKNOWLEDGE_PAGE) is not None
    assert publisher.refusal(StepKey.ACKNOWLEDGE_PAGE, practice=True) is None
    with pytest.raises(Refused, match=SHADOWS_MAY_NOT):
        publisher.page(incident_id=incident_id, resolve=False, now=desk.now())
    assert desk.sandbox.writes("pagerduty") == []
    assert desk.outbox_rows() == 0


def test_audit_and_outbox_rows_name_the_signed_in_person(desk):
    cmoc = ROLES["cmoc"](desk.sandbox)
    publish(desk, cmoc)

    [entry] = desk.audit()
    assert entry.actor == f"{cmoc.name} ({cmoc.email})" == cmoc.actor
    with Session(desk.engine) as session:
        [row] = session.exec(select(OutboxEntry)).all()
    assert sent_by(row.payload) == cmoc.actor


def test_two_people_acknowledge_as_themselves_in_pagerduty(desk):
    first, second = ROLES["cmoc"](desk.sandbox), ROLES["publisher"](desk.sandbox)
    pages = desk.open_pages()
    assert len(pages) == 2 and first.pagerduty_email != second.pagerduty_email

    for viewer, page in zip((first, second), pages, strict=True):
        incident_id = desk.incident(page=page)
        outcome = desk.publisher(viewer).page(
            incident_id=incident_id, resolve=False, now=desk.now()
        )
        assert outcome.ok, outcome.message

    writes = desk.sandbox.writes("pagerduty")
    assert [(w.path, w.headers["from"]) for w in writes] == [
        (f"/incidents/{pages[0]}", first.pagerduty_email),
        (f"/incidents/{pages[1]}", second.pagerduty_email),
    ]
    acknowledgers = {
        i["id"]: i["acknowledgements"][-1]["acknowledger"]["summary"]
        for i in desk.sandbox.pagerduty.incidents
        if i["id"] in pages
    }
    assert acknowledgers == {pages[0]: first.name, pages[1]: second.name}
    assert [e.actor for e in desk.audit()] == [first.actor, second.actor]


def test_the_configured_pagerduty_user_stays_the_sender_without_sign_in(desk):
    configured = Viewer(
        name=desk.settings.actor,
        email=None,
        person_key=None,
        roles=frozenset({Role.CMOC}),
        signed_in=False,
    )
    incident_id = desk.incident(page=desk.open_pages()[0])
    outcome = desk.publisher(configured).page(
        incident_id=incident_id, resolve=False, now=desk.now()
    )

    assert outcome.ok, outcome.message
    [write] = desk.sandbox.writes("pagerduty")
    assert write.headers["from"] == desk.settings.pagerduty_from_email


def test_planning_a_practice_event_and_its_issue_are_for_managers(desk):
    people = World(desk.engine)
    for n, user in enumerate(desk.sandbox.org.gitlab_users[:3]):
        people.person(user["name"], pd_id=f"PROLE{n}", gitlab_id=str(user["id"]))
    with Session(desk.engine) as session:
        ids = [p.id or 0 for p in practice.people(session=session)]
    plan = practice.EventPlan(
        region="EMEA",
        day=(desk.now() + timedelta(days=20)).date(),
        at=desk.now().time(),
        scenario="database-failover",
        facilitator_id=ids[0],
        note_taker_id=ids[1],
        cmoc_id=ids[2],
    )
    cmoc, manager = ROLES["cmoc"](desk.sandbox), ROLES["manager"](desk.sandbox)

    with session_scope(desk.engine) as session, pytest.raises(Refused):
        practice.plan_chosen(session=session, plan=plan, viewer=cmoc, now=desk.now())
    with session_scope(desk.engine) as session:
        assert session.exec(select(PracticeEvent)).all() == []
        event = practice.plan_chosen(session=session, plan=plan, viewer=manager, now=desk.now())
        event_id = event.id or 0

    with pytest.raises(Refused):
        practice.create_event_issue(
            engine=desk.engine,
            clients=desk.clients,
            settings=desk.settings,
            event_id=event_id,
            viewer=cmoc,
            now=desk.now(),
        )
    assert desk.sandbox.writes("gitlab") == [] and desk.outbox_rows() == 0
    created = practice.create_event_issue(
        engine=desk.engine,
        clients=desk.clients,
        settings=desk.settings,
        event_id=event_id,
        viewer=manager,
        now=desk.now(),
    )
    assert created.ok, created.message
    assert len(desk.sandbox.writes("gitlab")) == 1
    assert [e.actor for e in desk.audit()] == [manager.actor]


def test_the_facilitators_view_and_drills_follow_the_roles(desk):
    viewers = {name: make(desk.sandbox) for name, make in ROLES.items()}
    assert {n for n, v in viewers.items() if v.may(practice.FACILITATE)} == {"manager"}
    assert {n for n, v in viewers.items() if v.may(practice.DRILL)} == {
        "cmoc",
        "publisher",
        "shadow",
    }
    assert practice.FACILITATE is Permission.MANAGE


# Handover: `sudo` acts as another GitLab user, so only that user, signed in, or a manager.

START, END = utc(2026, 2, 2, 8), utc(2026, 2, 2, 16)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def box(organisation) -> Sandbox:
    return Sandbox(organisation, clock=Clock(END))


@pytest.fixture
def team(sqlite_engine, organisation, box) -> Iterator[tuple[World, Settings, Clients]]:
    """Two CMOCs on shifts, both known to PagerDuty and GitLab; a publisher; a manager."""
    world = World(sqlite_engine)
    for n, person in enumerate(organisation.people_with_role("cmoc")[:2]):
        world.pd_user(f"PCMOC{n}", person.name, person.email)
        world.add(
            Identity(
                system=System.GITLAB,
                external_id=str(person.gitlab_user_id),
                username=person.gitlab_username,
                name=person.gitlab_name,
                email=person.email,
            ),
            OnCallEntry(
                schedule_id=CMOC_SCHEDULE,
                schedule_kind=ScheduleKind.CMOC,
                user_id=f"PCMOC{n}",
                start=START + timedelta(hours=8 * n),
                end=END + timedelta(hours=8 * n),
                region="EMEA",
            ),
        )
    world.match_people()
    manager, publisher = organisation.people_with_role("sre")[:2]
    settings = SETTINGS.model_copy(
        update={
            "gitlab_url": f"{box.BASE_URL}/gitlab",
            "gitlab_token": SecretStr(fake_gitlab.TOKEN),
            "cmoc_managers": [manager.email],
            "cmoc_publishers": [publisher.email],
        }
    )
    clients = build_clients(settings, transport=box.transport)
    yield world, settings, clients
    clients.close()


def signed_in(world: World, settings: Settings, email: str) -> Viewer:
    with Session(world.engine) as session:
        return signed_in_viewer(session, settings, email=email, name=None, now=END)


def first_shift(world: World, settings: Settings) -> handover.Shift:
    with Session(world.engine) as session:
        shifts = handover.recent_shifts(session=session, settings=settings, now=END)
    return next(s for s in shifts if s.user_id == "PCMOC0")


def create(world: World, settings: Settings, clients: Clients, viewer: Viewer):
    shift = first_shift(world, settings)
    return handover.create(
        engine=world.engine,
        gitlab=clients.gitlab,
        project=settings.gitlab_handover_project,
        shift=shift,
        handover=handover.nothing_happened(shift),
        viewer=viewer,
        now=END,
    )


def audit_of(world: World) -> list[AuditEntry]:
    with Session(world.engine) as session:
        return list(session.exec(select(AuditEntry)))


def test_the_cmoc_signed_in_creates_their_own_handover_with_sudo_as_themselves(
    team, organisation, box
):
    world, settings, clients = team
    cmoc = organisation.people_with_role("cmoc")[0]
    viewer = signed_in(world, settings, cmoc.email)
    assert Role.CMOC in viewer.roles and viewer.person_key is not None
    assert handover.creation_refusal(viewer=viewer, shift=first_shift(world, settings)) is None

    creation = create(world, settings, clients, viewer)

    assert creation.outcome.ok, creation.outcome.message
    [write] = box.writes("gitlab")
    assert write.body["sudo"] == cmoc.gitlab_username
    [entry] = audit_of(world)
    assert entry.actor == viewer.actor
    assert "as manager" not in entry.detail


def test_another_cmoc_is_refused_someone_elses_handover_before_anything_is_sent(
    team, organisation, box
):
    world, settings, clients = team
    other = organisation.people_with_role("cmoc")[1]
    viewer = signed_in(world, settings, other.email)
    shift = first_shift(world, settings)
    reason = handover.creation_refusal(viewer=viewer, shift=shift)
    assert reason == (
        f"This is {shift.person}'s shift, not yours: its handover issue is created in their "
        f"name, so only {shift.person}, signed in, or a manager may create it."
    )

    with pytest.raises(Refused, match="not yours"):
        create(world, settings, clients, viewer)

    assert box.requests == []  # not even the token's user was read
    assert audit_of(world) == []
    with Session(world.engine) as session:
        assert session.exec(select(OutboxEntry)).all() == []


def test_a_publisher_off_the_rotation_is_refused_a_handover(team, organisation, box):
    world, settings, clients = team
    publisher = organisation.people_with_role("sre")[1]
    viewer = signed_in(world, settings, publisher.email)
    assert viewer.may(Permission.PUBLISH) and not viewer.may(Permission.MANAGE)

    with pytest.raises(Refused, match="does not match"):
        create(world, settings, clients, viewer)
    assert box.writes("gitlab") == []


def test_a_manager_creates_another_persons_handover_and_the_audit_says_so(team, organisation, box):
    world, settings, clients = team
    cmoc = organisation.people_with_role("cmoc")[0]
    manager = signed_in(world, settings, organisation.people_with_role("sre")[0].email)
    shift = first_shift(world, settings)
    assert handover.manager_for(viewer=manager, shift=shift) == shift.person

    creation = create(world, settings, clients, manager)

    assert creation.outcome.ok, creation.outcome.message
    [write] = box.writes("gitlab")
    assert write.body["sudo"] == cmoc.gitlab_username  # the issue still counts for the CMOC
    [entry] = audit_of(world)
    assert entry.actor == manager.actor
    assert entry.detail.endswith(
        f"as @{cmoc.gitlab_username} for {shift.person}'s shift, as manager"
    )


def test_without_sign_in_the_configured_user_creates_any_handover_as_before(team, box):
    world, settings, clients = team
    configured = Viewer(
        name="cmoc@example.com",
        email=None,
        person_key=None,
        roles=frozenset({Role.CMOC, Role.MANAGER}),
        signed_in=False,
    )

    creation = create(world, settings, clients, configured)

    assert creation.outcome.ok, creation.outcome.message
    [entry] = audit_of(world)
    assert entry.actor == "cmoc@example.com" and "as manager" not in entry.detail


def test_a_practice_incidents_steps_never_reach_a_service(desk):
    shadow = ROLES["shadow"](desk.sandbox)
    incident_id = desk.incident(practice_drill=True, page=desk.open_pages()[0])
    publisher = desk.publisher(shadow)
    now = desk.now()

    outcomes = [
        publisher.page(incident_id=incident_id, resolve=False, now=now),
        publisher.label_issue(incident_id=incident_id, now=now),
        *publisher.notify(incident_id=incident_id, text="Notifier", now=now),
        publisher.page(incident_id=incident_id, resolve=True, now=now),
    ]

    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    assert desk.sandbox.writes() == []
    with Session(desk.engine) as session:
        steps = session.get(WorkingIncident, incident_id).steps
    assert {"acknowledge_page", "label_issue", "notify_stakeholders", "resolve_page"} <= set(steps)
