"""Reminders of updates due: one Slack message per gap, through the outbox, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cmoc_core import composer
from cmoc_core.clients import build_clients
from cmoc_core.clients.slack import SlackWebhook
from cmoc_core.composer import IncidentFacts
from cmoc_core.config import Settings, settings_from_mapping
from cmoc_core.handbook import IncidentState
from cmoc_core.models import AuditEntry, OutboxEntry, PublishStatus, WorkingIncident
from cmoc_core.refresher import Refresher
from cmoc_core.reminders import (
    SENDER,
    ReminderState,
    browser_alert,
    reminder_hook,
    reminder_states,
    send_reminders,
)
from cmoc_core.sandbox import Fault, Sandbox
from cmoc_core.sandbox.slack import REMINDER_CHANNEL
from cmoc_core.storage import session_scope

START = datetime.fromisoformat("2026-11-29T13:00:00+00:00")
# An S2 incident investigating is due 15 minutes after its last update (handbook cadence).
DUE = START + timedelta(minutes=15)


@dataclass
class Slack:
    """The sandbox served on 127.0.0.1, the settings pointing at it, and the reminder hook."""

    box: Sandbox
    settings: Settings
    hook: SlackWebhook

    def reminders(self) -> list[str]:
        return [post.text for post in self.box.slack.messages(REMINDER_CHANNEL)]


@pytest.fixture
def slack(organisation, sqlite_engine: Engine) -> Iterator[Slack]:
    box = Sandbox(org=organisation)
    server, thread = box.serve(port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = settings_from_mapping(
        {
            **box.settings(base),
            "CMOC_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
            "CMOC_REMINDER_WEBHOOK_URL": box.reminder_webhook_url(base),
        }
    )
    hook = reminder_hook(settings, sleep=lambda _s: None)
    assert hook is not None
    try:
        yield Slack(box, settings, hook)
    finally:
        hook.http.close()
        server.shutdown()
        thread.join(timeout=5)


def published_incident(
    engine: Engine, *, title: str = "Web requests fail", practice: bool = False
) -> int:
    """A working incident on the status page, S2 Investigating, last updated at START."""
    with session_scope(engine) as db:
        incident = composer.start_incident(
            session=db,
            facts=IncidentFacts(title=title, practice=practice, severity=2),
            statuspage_id="practice" if practice else "public",
            now=START - timedelta(minutes=5),
        )
        incident.statuspage_incident_id = f"sp-{title}"
        incident.state = IncidentState.INVESTIGATING
        incident.last_posted_at = START
        incident.last_text = "We are investigating failing web requests."
        db.add(incident)
        db.flush()
        return incident.id or 0


def posted_again(engine: Engine, incident_id: int, at: datetime) -> None:
    """The CMOC published the next update at `at`: a new gap starts."""
    with session_scope(engine) as db:
        incident = db.get(WorkingIncident, incident_id)
        assert incident is not None
        incident.last_posted_at = at
        incident.last_text = "We have found the cause and are working on a fix."
        db.add(incident)


def run(slack: Slack, engine: Engine, now: datetime):
    return send_reminders(engine=engine, settings=slack.settings, hook=slack.hook, now=now)


def test_one_message_per_gap_however_many_passes_run(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine)
    assert run(slack, sqlite_engine, DUE - timedelta(minutes=3)).sent == ()
    moments = [
        DUE - timedelta(minutes=2),
        DUE - timedelta(seconds=30),
        DUE,
        DUE + timedelta(minutes=4),
    ]
    for now in [*moments, DUE + timedelta(minutes=9)]:
        run(slack, sqlite_engine, now)
    assert slack.reminders() == [
        "Status-page update due at 29-11-2026 13:15 UTC for “Web requests fail” (S2): "
        "post the next update before then."
    ]
    with session_scope(sqlite_engine) as db:
        audit = list(db.exec(select(AuditEntry)))
    assert [(a.actor, a.action, a.result) for a in audit] == [(SENDER, "remind_update", "sent")]


def test_an_overdue_gap_first_seen_late_says_overdue(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine, title="Login <b>&</b> SSO fail")
    for _ in range(5):
        run(slack, sqlite_engine, DUE + timedelta(minutes=20))
    assert slack.reminders() == [
        "Status-page update overdue since 29-11-2026 13:15 UTC for "
        "“Login &lt;b&gt;&amp;&lt;/b&gt; SSO fail” (S2): post the next update now."
    ]


def test_practice_incidents_get_no_reminder(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine, practice=True)
    run(slack, sqlite_engine, DUE + timedelta(minutes=1))
    assert slack.reminders() == []
    with Session(sqlite_engine) as db:
        assert reminder_states(session=db, settings=slack.settings, now=DUE) == []


def test_a_new_update_starts_a_new_gap_with_a_new_message(slack: Slack, sqlite_engine: Engine):
    incident_id = published_incident(sqlite_engine)
    run(slack, sqlite_engine, DUE + timedelta(minutes=1))
    posted_again(sqlite_engine, incident_id, DUE + timedelta(minutes=2))
    with Session(sqlite_engine) as db:
        [state] = reminder_states(
            session=db, settings=slack.settings, now=DUE + timedelta(minutes=3)
        )
    assert state.state is ReminderState.NONE
    later = DUE + timedelta(minutes=2 + 15 + 1)
    for _ in range(3):
        run(slack, sqlite_engine, later)
    assert len(slack.reminders()) == 2
    assert "overdue since 29-11-2026 13:32 UTC" in slack.reminders()[1]


def test_a_timeout_after_slack_posted_is_not_sent_again(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine)
    slack.box.add_fault(
        Fault(service="slack", kind="timeout_after", path_contains="/services/", delay=0.1)
    )
    first = run(slack, sqlite_engine, DUE - timedelta(minutes=1))
    assert [o.status for o in first.sent] == ["unknown"]
    for minutes in (0, 1, 5, 30):
        run(slack, sqlite_engine, DUE + timedelta(minutes=minutes))
    assert len(slack.reminders()) == 1  # Slack got it once; its answer was lost
    with session_scope(sqlite_engine) as db:
        [entry] = db.exec(select(OutboxEntry)).all()
    assert entry.status == PublishStatus.UNKNOWN and entry.attempts == 1


def test_a_refused_post_is_tried_again_a_minute_later(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine)
    slack.box.add_fault(Fault(service="slack", kind="status", status=404, body="no_service"))
    assert [o.status for o in run(slack, sqlite_engine, DUE).sent] == ["failed"]
    assert run(slack, sqlite_engine, DUE + timedelta(seconds=30)).sent == ()
    assert [o.status for o in run(slack, sqlite_engine, DUE + timedelta(minutes=1)).sent] == [
        "sent"
    ]
    assert len(slack.reminders()) == 1


def test_without_a_reminder_webhook_nothing_is_posted_but_states_are_known(
    slack: Slack, sqlite_engine: Engine
):
    published_incident(sqlite_engine)
    settings = slack.settings.model_copy(update={"cmoc_reminder_webhook_url": None})
    done = send_reminders(engine=sqlite_engine, settings=settings, hook=None, now=DUE)
    assert done.sent == () and [r.state for r in done.reminders] == [ReminderState.OVERDUE]
    assert slack.reminders() == []


def test_five_refresher_passes_send_one_reminder(slack: Slack, sqlite_engine: Engine):
    published_incident(sqlite_engine)
    clients = build_clients(slack.settings, sleep=lambda _s: None)
    settings = slack.settings.model_copy(update={"cmoc_sync_every": timedelta(0)})
    refresher = Refresher(
        engine=sqlite_engine,
        settings=settings,
        clients=clients,
        holder="test",
        clock=lambda: DUE + timedelta(minutes=3),
    )
    try:
        reports = [refresher.run_pass() for _ in range(5)]
    finally:
        clients.close()
    assert len(slack.reminders()) == 1
    sent = [r.reminders.new_messages for r in reports if r.reminders is not None]
    assert sent == [1, 0, 0, 0, 0]
    assert sum("reminder sent" in line for r in reports for line in r.lines()) == 1


def test_the_browser_alert_is_worded_here_once_per_gap():
    alert = browser_alert(
        incident="cockpit 12", title="Web requests fail", severity=None, due=DUE, gap_start=START
    )
    again = browser_alert(
        incident="cockpit 12", title="Web requests fail", severity=None, due=DUE, gap_start=START
    )
    assert alert.key == again.key
    assert alert.soon_at == DUE - timedelta(minutes=2)
    assert alert.soon_title == "Update due in 2 min: Web requests fail"
    assert alert.overdue_body == (
        "severity not set, counted as S1 · was due at 29-11-2026 13:15 UTC; post an update now"
    )
