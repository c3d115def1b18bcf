"""Actions, outcomes and the audit log in words for people, for new and old stored rows alike."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from cmoc_core import auditlog, notifier
from cmoc_core.clients import build_clients
from cmoc_core.commands import (
    BY_HAND_PLACE,
    PRACTICE_PLACE,
    WORDS,
    Action,
    AddLabel,
    ChangePage,
    Command,
    CreateIssue,
    CreateStatusIncident,
    DeleteMaintenance,
    LocalRecord,
    MaintenanceAction,
    PostMaintenance,
    ScheduleMaintenance,
    SlackNotice,
    UpdateStatusIncident,
)
from cmoc_core.composer import IncidentFacts, start_incident
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import AuditEntry, PagerDutyIncident
from cmoc_core.outbox import Outbox, OutcomeStatus
from cmoc_core.reminders import UpdateReminder
from cmoc_core.storage import session_scope

AT = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
PROJECT = "gitlab-com/gl-infra/production"
START = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
STATUS = {"statuspage_id": "page", "status": 300, "state": 100, "broadcast": ()}

# One command of every kind (and of every action a kind can stand for), with its sentence.
SENTENCES: list[tuple[Command, str]] = [
    (
        UpdateReminder(
            incident="cockpit 1",
            gap_start="2026-11-29T10:00:00Z",
            text="Update due",
            title="Errors",
            severity="S2",
            due="29-11-2026 10:15 UTC",
        ),
        "Reminded the CMOC in Slack of the update due",
    ),
    (
        CreateStatusIncident(
            working_id=1,
            practice=False,
            name="Errors",
            details="Investigating.",
            components=(),
            all_infrastructure=False,
            **STATUS,
        ),
        "Created the incident on the public status page",
    ),
    (
        CreateStatusIncident(
            working_id=1,
            practice=True,
            name="Drill",
            details="Investigating.",
            components=(),
            all_infrastructure=False,
            **STATUS,
        ),
        "Created the incident on the practice status page",
    ),
    (
        UpdateStatusIncident(
            working_id=1,
            revision=2,
            practice=False,
            incident="abc",
            details="Rolling back.",
            **STATUS,
        ),
        "Posted an update on the public status page",
    ),
    (
        UpdateStatusIncident(
            working_id=1,
            revision=3,
            practice=False,
            incident="abc",
            details="Resolved.",
            resolve=True,
            **STATUS,
        ),
        "Resolved the incident on the public status page",
    ),
    (
        ChangePage(working_id=1, page_id="Q3C4B3193FCDE1", resolve=False, number=182679),
        "Acknowledged PagerDuty page #182679",
    ),
    (
        ChangePage(working_id=1, page_id="Q3C4B3193FCDE1", resolve=True, number=182679),
        "Resolved PagerDuty page #182679",
    ),
    (
        ChangePage(working_id=1, page_id="Q3C4B3193FCDE1", resolve=False),
        "Acknowledged the PagerDuty page",
    ),
    (
        AddLabel(working_id=1, project=PROJECT, iid=123, label="Incident-Comms::Status-Page"),
        f"Added the status-page label to {PROJECT}#123",
    ),
    (
        SlackNotice(working_id=1, webhook="webhook 1", text="x", channel="#developer-relations"),
        "Posted the Incident Notifier to #developer-relations",
    ),
    (
        SlackNotice(working_id=1, webhook="webhook 2", text="x"),
        "Posted the Incident Notifier to Slack (webhook 2)",
    ),
    (
        LocalRecord(working_id=1, step="notify_stakeholders", where=BY_HAND_PLACE, text="x"),
        "Posted the Incident Notifier to Slack by hand",
    ),
    (
        LocalRecord(working_id=1, step="acknowledge_page", where=PRACTICE_PLACE),
        "Acknowledged the PagerDuty page (practice: nothing sent)",
    ),
    (
        LocalRecord(working_id=1, step="label_issue", where=PRACTICE_PLACE),
        "Added the status-page label to the production issue (practice: nothing sent)",
    ),
    (
        CreateIssue(
            kind="create_handover",
            intent="shift",
            project="gitlab-com/support/dotcom/cmoc-handover",
            title="Handover",
            description="d",
            labels=(),
            confidential=True,
        ),
        "Created the handover issue in gitlab-com/support/dotcom/cmoc-handover",
    ),
    (
        CreateIssue(
            kind="create_practice_event_issue",
            intent="event",
            project="gitlab-com/support/support-team-meta",
            title="Practice",
            description="d",
            labels=(),
            confidential=False,
        ),
        "Created the practice event issue in gitlab-com/support/support-team-meta",
    ),
    *[
        (
            ScheduleMaintenance(
                statuspage_id="page",
                name="Database upgrade",
                details="d",
                components=(),
                start=START,
                end=START + timedelta(hours=2),
                all_infrastructure=False,
                automation=True,
                notify=(),
                subject="s",
                replacing=replacing,
            ),
            f"{verb} the maintenance “Database upgrade”",
        )
        for replacing, verb in ((None, "Scheduled"), ("old", "Rescheduled"))
    ],
    *[
        (
            PostMaintenance(
                statuspage_id="page",
                call=call,
                maintenance_id="m1",
                name="Database upgrade",
                details="d",
                broadcast=(),
                subject="s",
            ),
            sentence,
        )
        for call, sentence in (
            ("start", "Started the maintenance “Database upgrade”"),
            ("update", "Posted an update to the maintenance “Database upgrade”"),
            ("finish", "Finished the maintenance “Database upgrade”"),
        )
    ],
    (
        DeleteMaintenance(statuspage_id="page", maintenance_id="m1", name="Database upgrade"),
        "Deleted the replaced window of the maintenance “Database upgrade”",
    ),
]

INTERNAL = re.compile(r"_|\bNone\b|[{}]|Q3C4B3193FCDE1|Status\.io (status|practice) page")


def test_every_action_has_its_words():
    assert set(WORDS) == set(Action) | set(MaintenanceAction)
    for action in [*Action, *MaintenanceAction]:
        words = action.words
        sentence = f"{words.done} {words.rest.format(where=words.place)} ({words.service})"
        assert not INTERNAL.search(sentence), sentence


def test_every_command_kind_is_worded_below():
    assert {type(command).__name__ for command, _ in SENTENCES} == set(Command.registry)
    # A change of the incident's facts is recorded in the cockpit, never sent: no command.
    commands = set(Action) - {Action.CHANGE_FACTS}
    assert {command.action for command, _ in SENTENCES} == commands | set(MaintenanceAction)


@pytest.mark.parametrize(("command", "sentence"), SENTENCES, ids=lambda v: getattr(v, "action", ""))
def test_each_command_says_what_it_did_in_a_sentence(command, sentence):
    said = command.words()
    assert said.what == sentence
    assert not INTERNAL.search(said.what)
    # A stored command reads the same once restored from its outbox row.
    restored = Command.restore(json.loads(json.dumps(command.stored())))
    assert restored is not None and restored.words().what == sentence


def test_a_page_without_its_number_is_named_by_pagerdutys_answer():
    page = ChangePage(working_id=1, page_id="Q3C4B3193FCDE1", resolve=False)
    said = page.words({"status": "acknowledged", "number": 182679})
    assert said.what == "Acknowledged PagerDuty page #182679"
    assert said.already(AT) == (
        "Already acknowledged PagerDuty page #182679 at 22-11-2026 10:05 UTC: not sent again"
    )
    error = "PagerDuty: set page Q3C4B3193FCDE1 acknowledged failed: Incident not found"
    assert page.plain(error, {"number": 182679}) == (
        "PagerDuty: set page #182679 acknowledged failed: Incident not found"
    )
    assert "Q3C4B3193FCDE1" not in page.plain(error)


def entry(action: str, target: str, result: str = "sent", detail: str = "") -> AuditEntry:
    return AuditEntry(
        at=AT, actor="cmoc@x", action=action, target=target, result=result, detail=detail
    )


OLD_JSON = json.dumps(
    {
        "working_id": 3,
        "statuspage_id": "5b36dc6502d06804c08349f7",
        "name": "Errors",
        "details": "Investigating.",
    },
    sort_keys=True,
)

# Rows as the app has written them over time: codes, raw ids, JSON payloads, bare notes.
OLD_ROWS = [
    (
        entry("create_incident", "Status.io status page", detail=OLD_JSON),
        ("Created the incident on the public status page", "Public status page", "Sent"),
    ),
    (
        entry("acknowledge_page", "PagerDuty page Q3C4B3193FCDE1", detail='{"page_id": "Q3C"}'),
        ("Acknowledged PagerDuty page #182679", "PagerDuty", "Sent"),
    ),
    (
        entry(
            "resolve_page",
            "PagerDuty page Q3C4B3193FCDE1",
            "failed",
            "PagerDuty: set page Q3C4B3193FCDE1 resolved failed: Incident already resolved",
        ),
        (
            "Resolved PagerDuty page #182679",
            "PagerDuty",
            "Failed: PagerDuty: set page #182679 resolved failed: Incident already resolved",
        ),
    ),
    (
        entry("notify_stakeholders", "Slack webhook 1", detail="Posted to webhook 1: *Summary*"),
        ("Posted the Incident Notifier to Slack (webhook 1)", "Slack", "Sent"),
    ),
    (
        entry("notify_stakeholders", "Slack webhook 2", "unknown", "Slack: post failed: timeout"),
        (
            "Posted the Incident Notifier to Slack (webhook 2)",
            "Slack",
            "Unclear: Slack: post failed: timeout",
        ),
    ),
    (
        entry(
            "notify_stakeholders",
            "Slack #customer-success",
            detail="sent again by cmoc@x after checking it had not arrived",
        ),
        (
            "Posted the Incident Notifier to #customer-success",
            "Slack",
            "Sent again after checking it had not arrived",
        ),
    ),
    (
        entry(
            "update_incident",
            "Status.io practice page",
            detail="confirmed with the service after an unclear outcome",
        ),
        (
            "Posted an update on the practice status page",
            "Practice status page",
            "Sent (confirmed with the service after an unclear outcome)",
        ),
    ),
    (
        entry("label_issue", PRACTICE_PLACE),
        (
            "Added the status-page label to the production issue (practice: nothing sent)",
            "Practice: nothing sent",
            "Recorded",
        ),
    ),
    (
        entry("label_issue", f"GitLab {PROJECT}#17999", "failed", ""),
        (f"Added the status-page label to {PROJECT}#17999", "GitLab", "Failed"),
    ),
    (
        entry("maintenance_finish", "Status.io maintenance “Database upgrade”"),
        ("Finished the maintenance “Database upgrade”", "Status page", "Sent"),
    ),
    (
        entry("set_incident_facts", "Incident facts", detail="Set severity to S1 (was not set)"),
        ("Set severity to S1 (was not set)", "Incident facts", "Recorded"),
    ),
    (
        entry("a_kind_no_longer_made", "Somewhere 42"),
        ("A kind no longer made", "—", "Sent"),
    ),
]


@pytest.mark.parametrize(("stored", "expected"), OLD_ROWS, ids=lambda v: getattr(v, "action", ""))
def test_audit_rows_of_any_age_read_as_sentences(sqlite_engine, stored, expected):
    with session_scope(sqlite_engine) as session:
        session.add(
            PagerDutyIncident(
                id="Q3C4B3193FCDE1",
                incident_number=182679,
                title="Elevated error rates",
                service_id="PSVC",
                status="resolved",
                created_at=AT,
            )
        )
    with Session(sqlite_engine) as session:
        [line] = auditlog.lines(session=session, entries=[stored])
    assert (line.what, line.where, line.result) == expected
    assert (line.at, line.who) == (AT, "cmoc@x")
    shown = " ".join([line.what, line.where, line.result])
    assert not INTERNAL.search(shown), shown


def test_a_page_the_sync_does_not_know_is_named_without_its_id():
    line = auditlog.line(entry("acknowledge_page", "PagerDuty page PUNKNOWN1"))
    assert line.what == "Acknowledged the PagerDuty page"


@pytest.fixture
def outbox(sqlite_engine, sandbox):
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    with session_scope(sqlite_engine) as session:
        incident = start_incident(
            session=session,
            facts=IncidentFacts(title="Elevated error rates", severity=2),
            statuspage_id=settings.statusio_statuspage_id or "",
            now=sandbox.now(),
        )
    yield Outbox(sqlite_engine, clients), incident.id or 0
    clients.close()


def test_outcomes_name_the_page_by_its_number_and_say_when_it_was_already_done(outbox, sandbox):
    box, incident_id = outbox
    page = next(i for i in sandbox.org.pd_incidents if i["status"] == "triggered")
    command = ChangePage(working_id=incident_id, page_id=page["id"], resolve=False)
    first = box.publish(command, actor="cmoc@x", now=AT)
    assert first.status == OutcomeStatus.SENT
    assert first.message == f"Acknowledged PagerDuty page #{page['incident_number']}"
    second = box.publish(command, actor="cmoc@x", now=AT + timedelta(minutes=3))
    assert second.status == OutcomeStatus.ALREADY_SENT
    assert second.message == (
        f"Already acknowledged PagerDuty page #{page['incident_number']} at 22-11-2026 10:05 UTC: "
        "not sent again"
    )


def test_a_refused_action_says_what_could_not_be_done_without_raw_ids(outbox):
    box, incident_id = outbox
    command = ChangePage(working_id=incident_id, page_id="PNOSUCHPAGE", resolve=True)
    failed = box.publish(command, actor="cmoc@x", now=AT)
    assert failed.status == OutcomeStatus.FAILED
    assert failed.message.startswith("Could not resolve the PagerDuty page: ")
    assert "PNOSUCHPAGE" not in failed.message


def test_a_notice_posted_twice_says_where_and_when_it_already_went(outbox):
    box, incident_id = outbox
    notice = SlackNotice(
        working_id=incident_id, webhook="webhook 1", text="*Summary*: down", channel="#dev"
    )
    assert box.publish(notice, actor="cmoc@x", now=AT).message == (
        "Posted the Incident Notifier to #dev"
    )
    again = box.publish(notice, actor="cmoc@x", now=AT + timedelta(minutes=1))
    assert again.message == (
        "Already posted the Incident Notifier to #dev at 22-11-2026 10:05 UTC: not sent again"
    )


def test_the_notifier_names_its_destinations_from_the_setting(sandbox):
    hooks = (
        "https://hooks.slack.com/services/T0/B1/aaaaaaaaaaaa#developer-relations,"
        "https://hooks.slack.com/services/T0/B2/bbbbbbbbbbbb#%23customer-success,"
        "https://hooks.slack.com/triggers/T0/123/cccccccccccc"
    )
    settings = settings_from_mapping({"SLACK_NOTIFIER_WEBHOOK_URLS": hooks})
    places = notifier.destinations(settings)
    assert [p.label for p in places] == [
        "#developer-relations",
        "#customer-success",
        "Slack workflow trigger …123",
    ]
    assert [p.webhook for p in places] == ["webhook 1", "webhook 2", "webhook 3"]
    assert notifier.post_label(places) == (
        "Post to #developer-relations, #customer-success and Slack workflow trigger …123"
    )
    # The name is no part of the secret URL that is called, nor hidden as if it were one.
    urls = [u.get_secret_value() for u in settings.slack_notifier_webhook_urls]
    assert urls[0] == "https://hooks.slack.com/services/T0/B1/aaaaaaaaaaaa"
    assert not any("#" in u for u in urls)
    assert "aaaaaaaaaaaa" in settings.secret_values()
    assert not any("relations" in s for s in settings.secret_values())

    # A named webhook still posts to its channel.
    path = sandbox.slack.path_for("#developer-relations")
    named = settings_from_mapping(
        {"SLACK_NOTIFIER_WEBHOOK_URLS": f"http://sandbox.invalid/slack{path}#developer-relations"}
    )
    assert [p.label for p in notifier.destinations(named)] == ["#developer-relations"]
    clients = build_clients(named, transport=sandbox.transport, sleep=lambda _s: None)
    try:
        clients.slack[0].post("hello")
    finally:
        clients.close()
    assert [p.text for p in sandbox.slack.messages("#developer-relations")] == ["hello"]


def test_a_webhook_without_a_name_is_named_by_its_kind_and_the_end_of_its_id_never_its_secret():
    hooks = (
        "https://hooks.slack.com/services/T0TEAM/B07QX4KJ9/tokentokentoken1,"
        "https://hooks.slack.com/triggers/T0TEAM/3141592653589/c6e6c0d8a1b2c3d4,"
        "https://example.com/relay"
    )
    places = notifier.destinations(settings_from_mapping({"SLACK_NOTIFIER_WEBHOOK_URLS": hooks}))
    assert [p.label for p in places] == [
        "Slack incoming webhook …4KJ9",
        "Slack workflow trigger …3589",
        "Slack (webhook 3)",  # nothing in the address says what it is
    ]
    for secret in ("tokentoken", "c6e6c0d8", "T0TEAM", "B07QX", "314159", "relay"):
        assert not any(secret in p.label for p in places), secret
    assert [p.hook for p in places] == [
        "Slack incoming webhook …4KJ9",
        "Slack workflow trigger …3589",
        "",
    ]


def test_two_webhooks_whose_ids_end_alike_are_told_apart_by_their_place_in_the_setting():
    hooks = (
        "https://hooks.slack.com/services/T0/B01ABCD/tokentokentoken1,"
        "https://hooks.slack.com/services/T0/B02ABCD/tokentokentoken2"
    )
    places = notifier.destinations(settings_from_mapping({"SLACK_NOTIFIER_WEBHOOK_URLS": hooks}))
    assert [p.label for p in places] == [
        "Slack incoming webhook …ABCD (webhook 1)",
        "Slack incoming webhook …ABCD (webhook 2)",
    ]


def test_the_hint_to_name_webhooks_is_given_only_while_one_has_no_name():
    unnamed = "https://hooks.slack.com/services/T0/B01ABCD/tokentokentoken1"
    named = f"{unnamed}#developer-relations"
    hint = notifier.naming_hint(
        notifier.destinations(settings_from_mapping({"SLACK_NOTIFIER_WEBHOOK_URLS": unnamed}))
    )
    assert hint is not None
    assert "SLACK_NOTIFIER_WEBHOOK_URLS" in hint and "#developer-relations" in hint
    assert "tokentoken" not in hint
    places = notifier.destinations(settings_from_mapping({"SLACK_NOTIFIER_WEBHOOK_URLS": named}))
    assert notifier.naming_hint(places) is None


def test_the_notifier_refuses_an_empty_channel_or_summary_in_one_line():
    assert notifier.refusal(summary="Errors", channel="#incident-1") is None
    for summary, channel in (("Errors", ""), ("Errors", "   "), ("", "#incident-1")):
        why = notifier.refusal(summary=summary, channel=channel)
        assert why and "\n" not in why and "nothing is posted" in why
    assert "Slack channel" in (notifier.refusal(summary="Errors", channel="") or "")
    assert notifier.joined(["#a"]) == "#a"
    assert notifier.joined(["#a", "#b"]) == "#a and #b"
