"""Every command kind after an answer lost at the wire: settled with the service, never twice.

The sandbox acts on each request; the transport around it then damages the answer, as a reset
connection, a read timeout, a 502 from a proxy or a truncated body would. What counts is what
reached the fake service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from cmoc_core.clients import Clients, build_clients
from cmoc_core.clients.http import ApiRejected
from cmoc_core.commands import (
    ChangePage,
    Command,
    CreateIssue,
    CreateStatusIncident,
    Settle,
    SlackNotice,
    UpdateStatusIncident,
    flags,
    idempotency_key,
)
from cmoc_core.composer import IncidentFacts, Message, Publisher, start_incident, tick_step
from cmoc_core.config import settings_from_mapping
from cmoc_core.handbook import StepKey
from cmoc_core.models import AuditEntry, WorkingIncident
from cmoc_core.outbox import OutcomeStatus
from cmoc_core.sandbox import Sandbox
from cmoc_core.storage import session_scope
from tests.support.viewers import configured

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{iid}"
Damage = Callable[[httpx.Request, httpx.Response], httpx.Response]


def reset(request: httpx.Request, _response: httpx.Response) -> httpx.Response:
    raise httpx.RemoteProtocolError(
        "Server disconnected without sending a response", request=request
    )


def read_timeout(request: httpx.Request, _response: httpx.Response) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def bad_gateway(_request: httpx.Request, _response: httpx.Response) -> httpx.Response:
    return httpx.Response(502, text="Bad Gateway")


def truncated(_request: httpx.Request, response: httpx.Response) -> httpx.Response:
    body = response.content
    return httpx.Response(response.status_code, content=body[: len(body) // 2])


DAMAGES = {"reset": reset, "read timeout": read_timeout, "502": bad_gateway}


class AnswerLost:
    """The sandbox behind a wire that damages the answer to the next matching write."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.armed: tuple[str, Damage, bool] | None = None

    def arm(self, path_part: str, damage: Damage, *, acted: bool = True) -> None:
        """Damage the next write to `path_part`, after the service acted or instead of it."""
        self.armed = (path_part, damage, acted)

    def handle(self, request: httpx.Request) -> httpx.Response:
        armed = self.armed
        if armed is None or request.method == "GET" or armed[0] not in request.url.path:
            return self.sandbox.handle(request)
        self.armed = None
        path_part, damage, acted = armed
        response = self.sandbox.handle(request) if acted else httpx.Response(204)
        return damage(request, response)


@dataclass
class World:
    publisher: Publisher
    incident_id: int
    sandbox: Sandbox
    wire: AnswerLost
    components: list[str]

    def now(self):
        return self.sandbox.now()

    def later(self):
        return self.sandbox.now() + timedelta(minutes=3)

    def writes(self, service: str, path_part: str) -> int:
        return sum(path_part in w.path for w in self.sandbox.writes(service))

    def create(self):
        message = Message(f"Investigating errors in: {ISSUE.format(iid=1)}", 100, 300)
        return self.publisher.create(
            incident_id=self.incident_id,
            message=message,
            components=self.components,
            all_infrastructure=False,
            now=self.now(),
        )

    def incident(self) -> WorkingIncident:
        with Session(self.publisher.engine) as session:
            found = session.get(WorkingIncident, self.incident_id)
        assert found is not None
        return found


@pytest.fixture
def world(sqlite_engine, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    wire = AnswerLost(sandbox)
    clients = build_clients(
        settings,
        transport=httpx.MockTransport(wire.handle),
        sleep=lambda _s: None,
        statusio_min_interval=0,
    )
    publisher = Publisher(
        sqlite_engine, clients, settings.gitlab_production_project, configured("cmoc@x")
    )
    iid = sandbox.org.gitlab_issues[settings.gitlab_production_project][0]["iid"]
    page = next(i for i in sandbox.org.pd_incidents if i["status"] == "triggered")
    facts = IncidentFacts(
        title="Elevated error rates",
        severity=2,
        issue_url=ISSUE.format(iid=iid),
        page_id=page["id"],
    )
    with session_scope(sqlite_engine) as session:
        incident = start_incident(
            session=session,
            facts=facts,
            statuspage_id=settings.statusio_statuspage_id,
            now=sandbox.now(),
        )
    assert clients.statusio is not None
    components = [f"{c['_id']}-{c['containers'][0]['_id']}" for c in clients.statusio.components()]
    yield World(publisher, incident.id or 0, sandbox, wire, components[:1])
    clients.close()


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_create_whose_answer_was_lost_is_found_on_the_page_not_created_twice(world, damage):
    world.wire.arm("/incident/create", damage)
    first = world.create()
    second = world.create()
    assert first.status == OutcomeStatus.UNKNOWN, first.message
    assert second.status == OutcomeStatus.SENT and "confirmed" in second.message
    assert world.writes("statusio", "/incident/create") == 1
    assert world.incident().statuspage_incident_id == second.result["incident_id"]


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_an_update_whose_answer_was_lost_is_read_back_not_posted_twice(world, damage):
    world.create()
    message = Message(f"Rolling back the deploy. {ISSUE.format(iid=1)}", 200, 300)
    world.wire.arm("/incident/update", damage)
    first = world.publisher.update(incident_id=world.incident_id, message=message, now=world.now())
    second = world.publisher.update(
        incident_id=world.incident_id, message=message, now=world.later()
    )
    assert (first.status, second.status) == (OutcomeStatus.UNKNOWN, OutcomeStatus.SENT)
    assert "confirmed" in second.message
    assert world.writes("statusio", "/incident/update") == 1
    assert world.incident().last_text == message.details


def test_a_resolve_whose_answer_was_lost_is_read_back_not_posted_twice(world):
    world.create()
    with session_scope(world.publisher.engine) as session:
        tick_step(
            session=session,
            incident_id=world.incident_id,
            key=StepKey.IM_ALL_CLEAR,
            now=world.now(),
        )
    message = Message(f"Resolved. {ISSUE.format(iid=1)}", 300, 100)
    world.wire.arm("/incident/resolve", read_timeout)
    outcomes = [
        world.publisher.update(
            incident_id=world.incident_id, message=message, now=when, resolve=True
        )
        for when in (world.now(), world.later())
    ]
    assert [o.status for o in outcomes] == [OutcomeStatus.UNKNOWN, OutcomeStatus.SENT]
    assert world.writes("statusio", "/incident/resolve") == 1
    assert world.incident().resolved_at is not None


def test_resolving_is_refused_by_the_domain_until_the_all_clear_is_ticked(world):
    world.create()
    message = Message(f"Resolved. {ISSUE.format(iid=1)}", 300, 100)
    refused = world.publisher.update(
        incident_id=world.incident_id, message=message, now=world.now(), resolve=True
    )
    assert refused.status == OutcomeStatus.FAILED and "all-clear" in refused.message
    assert world.writes("statusio", "/incident/resolve") == 0


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_an_acknowledgement_whose_answer_was_lost_is_read_back_not_sent_again(world, damage):
    page_id = world.incident().pagerduty_incident_id
    world.wire.arm(f"/incidents/{page_id}", damage)
    first = world.publisher.page(incident_id=world.incident_id, resolve=False, now=world.now())
    second = world.publisher.page(incident_id=world.incident_id, resolve=False, now=world.later())
    assert first.status == OutcomeStatus.UNKNOWN, first.message
    assert second.status == OutcomeStatus.SENT and "confirmed" in second.message
    page = world.sandbox.pagerduty.incidents_by_id[page_id]
    assert page["status"] == "acknowledged" and len(page["acknowledgements"]) == 1
    assert StepKey.ACKNOWLEDGE_PAGE in world.incident().steps


def test_a_page_resolve_whose_answer_was_lost_is_read_back_not_sent_again(world):
    page_id = world.incident().pagerduty_incident_id
    world.wire.arm(f"/incidents/{page_id}", bad_gateway)
    first = world.publisher.page(incident_id=world.incident_id, resolve=True, now=world.now())
    second = world.publisher.page(incident_id=world.incident_id, resolve=True, now=world.later())
    assert (first.status, second.status) == (OutcomeStatus.UNKNOWN, OutcomeStatus.SENT)
    assert world.writes("pagerduty", f"/incidents/{page_id}") == 1


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_label_whose_answer_was_lost_is_read_back_not_sent_again(world, damage):
    world.wire.arm("/issues/", damage)
    first = world.publisher.label_issue(incident_id=world.incident_id, now=world.now())
    second = world.publisher.label_issue(incident_id=world.incident_id, now=world.later())
    assert (first.status, second.status) == (OutcomeStatus.UNKNOWN, OutcomeStatus.SENT)
    assert len(world.sandbox.writes("gitlab")) == 1
    assert StepKey.LABEL_ISSUE in world.incident().steps


def test_a_slack_notice_that_arrived_is_never_sent_again_without_the_cmoc_deciding(world):
    world.wire.arm("/slack/", reset)
    first = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: errors", now=world.now()
    )
    again = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: errors", now=world.later()
    )
    unclear = [o for o in first if o.status == OutcomeStatus.UNKNOWN]
    assert len(unclear) == 1 and unclear[0].ask_user and "Look in the channel" in unclear[0].message
    assert [o.status for o in again].count(OutcomeStatus.UNKNOWN) == 1
    assert len(world.sandbox.slack.posts) == 2  # both destinations once: nothing was resent
    assert len(world.publisher.unsettled_notices(incident_id=world.incident_id)) == 1


def test_a_slack_notice_that_did_not_arrive_is_sent_again_on_purpose_and_audited(world):
    def refused_by_slack(_request: httpx.Request, _response: httpx.Response) -> httpx.Response:
        return httpx.Response(500, text="internal_error")

    sandbox = world.sandbox
    world.wire.arm("/slack/", refused_by_slack, acted=False)
    outcomes = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: down", now=world.now()
    )
    lost = next(o for o in outcomes if o.status == OutcomeStatus.UNKNOWN)
    [notice] = world.publisher.unsettled_notices(incident_id=world.incident_id)
    assert notice.text == "*Summary*: down" and lost.key == notice.key()
    resent = world.publisher.notify_again(notice=notice, now=world.later())
    assert resent.status == OutcomeStatus.SENT
    assert sorted(p.text for p in sandbox.slack.posts) == ["*Summary*: down", "*Summary*: down"]
    assert world.publisher.unsettled_notices(incident_id=world.incident_id) == []
    with Session(world.publisher.engine) as session:
        details = [a.detail for a in session.exec(select(AuditEntry))]
    assert any("sent again by cmoc@x" in d for d in details)


def test_every_command_kind_says_how_an_unclear_outcome_is_settled():
    kinds = {kind.__name__: kind.settle for kind in Command.registry.values()}
    assert kinds["SlackNotice"] == Settle.ASK_USER
    assert kinds["LocalRecord"] == Settle.REPEAT
    assert {name for name, settle in kinds.items() if settle == Settle.READ_BACK} == {
        "CreateStatusIncident",
        "UpdateStatusIncident",
        "ChangePage",
        "AddLabel",
        "CreateIssue",
        "ScheduleMaintenance",
        "PostMaintenance",
        "DeleteMaintenance",
    }


def test_a_command_holds_its_payload_once_and_its_key_follows_its_identity():
    update = UpdateStatusIncident(
        working_id=1,
        revision=3,
        statuspage_id="page",
        practice=False,
        incident="abc",
        details="Rolling back.",
        status=300,
        state=200,
        broadcast=flags({"notify_email": True}),
    )
    assert update.key() == UpdateStatusIncident(**{**update.__dict__}).key()
    assert update.key() != UpdateStatusIncident(**{**update.__dict__, "revision": 4}).key()
    assert Command.restore(update.stored()) == update
    create = CreateStatusIncident(
        working_id=1,
        statuspage_id="page",
        practice=False,
        name="Errors",
        details="One",
        status=300,
        state=100,
        components=(),
        all_infrastructure=False,
        broadcast=(),
    )
    assert create.key() == CreateStatusIncident(**{**create.__dict__, "details": "Two"}).key()
    issue = CreateIssue(
        kind="create_handover",
        intent="shift",
        project="p",
        title="t",
        description="d",
        labels=(),
        confidential=True,
    )
    assert issue.key() == CreateIssue.key_of("create_handover", "shift")
    page = ChangePage(working_id=1, page_id="P", resolve=False)
    numbered = ChangePage(working_id=1, page_id="P", resolve=False, number=182679)
    # The number names the page for people: the key stays what rows stored before it existed.
    before = {"page_id": "P", "resolve": False, "working_id": 1}
    assert numbered.key() == page.key() == idempotency_key("acknowledge_page", before)
    assert numbered.describe() == "Acknowledged PagerDuty page #182679"
    assert Command.restore(numbered.stored()) == numbered
    notice = SlackNotice(working_id=1, webhook="webhook 1", text="x")
    named = SlackNotice(working_id=1, webhook="webhook 1", text="x", channel="#dev")
    assert named.key() == notice.key()
    assert notice.key() == idempotency_key(
        "notify_stakeholders", 1, {"text": "x", "webhook": "webhook 1"}
    )
    assert Command.restore(notice.stored()) == notice


def test_a_command_for_a_service_that_is_not_configured_is_refused_plainly():
    nothing = Clients()
    update = UpdateStatusIncident(
        working_id=1,
        revision=0,
        statuspage_id="page",
        practice=False,
        incident="abc",
        details="x",
        status=300,
        state=100,
        broadcast=(),
    )
    with pytest.raises(ApiRejected, match="Status.io is not configured"):
        update.send(nothing)


def test_a_refused_connection_is_tried_again_at_once_and_publishes_once(world):
    def refused(request: httpx.Request, _response: httpx.Response) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    world.wire.arm("/incident/create", refused, acted=False)
    created = world.create()
    assert created.status == OutcomeStatus.SENT, created.message
    assert world.writes("statusio", "/incident/create") == 1


def second_session(world: World, actor: str = "other@x") -> Publisher:
    """Another browser session or app server on the same database and services."""
    return Publisher(
        world.publisher.engine, world.publisher.clients, world.publisher.project, configured(actor)
    )


def test_a_stale_identical_preview_is_not_posted_again_from_another_session(world):
    world.create()
    seen = world.incident().draft_revision
    words = Message(f"Rolling back the deploy. {ISSUE.format(iid=1)}", 200, 300)
    first = world.publisher.update(
        incident_id=world.incident_id, message=words, now=world.now(), seen_revision=seen
    )
    stale = second_session(world).update(
        incident_id=world.incident_id, message=words, now=world.now(), seen_revision=seen
    )
    fresh = second_session(world).update(
        incident_id=world.incident_id, message=words, now=world.later()
    )
    assert first.status == OutcomeStatus.SENT
    assert stale.status == OutcomeStatus.ALREADY_SENT and "not sent again" in stale.message
    assert fresh.status == OutcomeStatus.FAILED
    assert "already the latest update" in fresh.message and "by cmoc@x" in fresh.message
    assert world.writes("statusio", "/incident/update") == 1


def test_a_different_update_from_a_stale_preview_warns_with_who_and_what_and_may_go_anyway(world):
    world.create()
    seen = world.incident().draft_revision
    mine = Message(f"Rolling back the deploy. {ISSUE.format(iid=1)}", 200, 300)
    theirs = Message(f"Failing over to the replica. {ISSUE.format(iid=1)}", 200, 300)
    other = second_session(world)
    sent = other.update(
        incident_id=world.incident_id, message=theirs, now=world.now(), seen_revision=seen
    )
    warned = world.publisher.update(
        incident_id=world.incident_id, message=mine, now=world.now(), seen_revision=seen
    )
    assert sent.status == OutcomeStatus.SENT
    assert warned.status == OutcomeStatus.SUPERSEDED
    assert "Failing over to the replica" in warned.message and "by other@x" in warned.message
    assert world.writes("statusio", "/incident/update") == 1
    anyway = world.publisher.update(
        incident_id=world.incident_id,
        message=mine,
        now=world.later(),
        seen_revision=world.incident().draft_revision,
    )
    assert anyway.status == OutcomeStatus.SENT
    assert world.writes("statusio", "/incident/update") == 2


def test_an_unclear_update_left_by_another_session_is_settled_before_anyone_posts_over_it(world):
    world.create()
    seen = world.incident().draft_revision
    theirs = Message(f"Failing over to the replica. {ISSUE.format(iid=1)}", 200, 300)
    world.wire.arm("/incident/update", read_timeout)
    lost = second_session(world).update(
        incident_id=world.incident_id, message=theirs, now=world.now(), seen_revision=seen
    )
    mine = Message(f"Rolling back the deploy. {ISSUE.format(iid=1)}", 200, 300)
    warned = world.publisher.update(
        incident_id=world.incident_id, message=mine, now=world.later(), seen_revision=seen
    )
    assert lost.status == OutcomeStatus.UNKNOWN
    assert warned.status == OutcomeStatus.SUPERSEDED and "Failing over" in warned.message
    assert world.incident().last_text == theirs.details  # confirmed with Status.io, once
    assert world.writes("statusio", "/incident/update") == 1


def test_words_already_on_the_page_from_outside_the_app_are_not_posted_again(world, sqlite_engine):
    from cmoc_core.sync import run_sync

    world.create()
    incident = world.incident()
    assert world.publisher.clients.statusio is not None
    world.publisher.clients.statusio.update_incident(
        incident_id=incident.statuspage_incident_id or "",
        details="Posted straight in Status.io.",
        status=300,
        state=200,
        broadcast={},
        statuspage_id=incident.statuspage_id,
    )
    settings = settings_from_mapping(world.sandbox.settings())
    run_sync(
        engine=sqlite_engine,
        settings=settings,
        clients=world.publisher.clients,
        sources=["statusio"],
    )
    again = world.publisher.update(
        incident_id=world.incident_id,
        message=Message("Posted straight in Status.io.", 200, 300),
        now=world.later(),
    )
    assert again.status == OutcomeStatus.FAILED and "by Status.io" in again.message


def test_a_notice_the_cmoc_saw_in_the_channel_is_recorded_as_arrived_and_never_resent(world):
    world.wire.arm("/slack/", truncated)
    first = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: errors", now=world.now()
    )
    assert [o.status for o in first].count(OutcomeStatus.UNKNOWN) == 1
    [notice] = world.publisher.unsettled_notices(incident_id=world.incident_id)
    seen = world.publisher.notice_arrived(notice=notice, now=world.later())
    assert seen.status == OutcomeStatus.SENT
    assert world.publisher.unsettled_notices(incident_id=world.incident_id) == []
    again = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: errors", now=world.later()
    )
    assert all(o.status == OutcomeStatus.ALREADY_SENT for o in again)
    assert len(world.sandbox.slack.posts) == 2  # each destination once


class Killed(BaseException):
    """The app process stops in the middle of a call."""


def test_a_notice_whose_sender_stopped_before_it_left_can_be_sent_again_on_purpose(world):
    def stop(_request: httpx.Request, _response: httpx.Response) -> httpx.Response:
        raise Killed

    world.wire.arm("/slack/", stop, acted=False)
    with pytest.raises(Killed):
        world.publisher.notify(
            incident_id=world.incident_id, text="*Summary*: down", now=world.now()
        )
    after_lease = world.now() + timedelta(minutes=3)
    told = world.publisher.notify(
        incident_id=world.incident_id, text="*Summary*: down", now=after_lease
    )
    assert any(o.ask_user for o in told)
    [notice] = world.publisher.unsettled_notices(incident_id=world.incident_id)
    assert world.publisher.notify_again(notice=notice, now=after_lease).ok
    assert sorted(p.text for p in world.sandbox.slack.posts) == ["*Summary*: down"] * 2
