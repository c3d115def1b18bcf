"""The maintenance page on the demo sandbox, at fixed clock times."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from cmoc_core.maintenance import Action
from cmoc_core.maintenance import when as maintenance_when
from cmoc_core.models import AuditEntry, Maintenance, MaintenancePhase
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps
from tests.app.conftest import app_on, table_with, texts

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/21001"


def sandbox_of(app):
    return deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox


def open_page(app, at: datetime = T0):
    app.session_state["clock_now"] = at
    app.run()
    app.switch_page("app_pages/maintenance.py").run()
    assert not app.exception
    return app


def errors(app) -> str:
    return " ".join(e.value for e in app.error).replace("\\", "")


def shown(app) -> str:
    return " ".join(texts(app, "caption") + texts(app, "markdown")).replace("\\", "")


def warnings(app) -> str:
    return " ".join(w.value for w in app.warning).replace("\\", "")


def infos(app) -> str:
    return " ".join(i.value for i in app.info).replace("\\", "")


def stored(query):
    """Rows of the app's database, as the page reads them."""
    engine = make_engine(os.environ["CMOC_DATABASE_URL"])
    try:
        with Session(engine) as session:
            return list(session.exec(query))
    finally:
        engine.dispose()


def stored_windows(phase: MaintenancePhase) -> list[Maintenance]:
    """The synced windows in one phase, by planned start."""
    return stored(
        select(Maintenance)
        .where(Maintenance.phase == phase)
        .order_by(col(Maintenance.planned_start))
    )


def writes(app) -> list[tuple[str, dict]]:
    return [(w.path, w.body) for w in sandbox_of(app).writes("statusio")]


def fill_schedule_form(app, *, start: tuple[date, time], end: tuple[date, time]) -> None:
    app.text_input(key="maintenance_new_name").input("PostgreSQL upgrade")
    app.text_input(key="maintenance_new_issue_url").input(ISSUE)
    app.text_area(key="maintenance_new_details").input("GitLab.com will be read-only for 30 min.")
    app.date_input(key="maintenance_new_start_date").set_value(start[0])
    app.time_input(key="maintenance_new_start_time").set_value(start[1])
    app.date_input(key="maintenance_new_end_date").set_value(end[0])
    app.time_input(key="maintenance_new_end_time").set_value(end[1])


def tick_first_component(app) -> str:
    box = next(c for c in app.checkbox if c.key.startswith("maintenance_new_component_"))
    box.check()
    return box.key.removeprefix("maintenance_new_component_")


def act_on_first_upcoming(app, action: Action) -> str:
    """Choose `action` for the first upcoming window (the active one comes first); its id."""
    radio = app.radio[1]
    radio.set_value(action).run()
    return radio.key.removeprefix("maintenance_action_")


def confirm(app):
    app.button(key="maintenance_confirm").click().run()
    assert not app.exception
    return app


def test_scheduling_through_the_form_sends_utc_times_once_and_lists_the_window(app):
    open_page(app)
    fill_schedule_form(
        app, start=(date(2026, 11, 26), time(22, 30)), end=(date(2026, 11, 27), time(0, 30))
    )
    app.run()  # the reminders offered follow the start as typed
    component = tick_first_component(app)
    app.checkbox(key="maintenance_new_notify_24_hr").uncheck()
    app.button(key="maintenance_new_preview").click().run()
    assert not app.exception and errors(app) == ""
    assert "26-11-2026 22:30 – 27-11-2026 00:30 UTC" in shown(app)
    sentence = infos(app)
    assert "Subscribers get a maintenance notice now" in sentence
    assert "reminders 72 hours and 1 hour before the start" in sentence
    confirm(app)
    assert any("Scheduled the maintenance “PostgreSQL upgrade”" in s.value for s in app.success)
    [(path, body)] = writes(app)
    assert path == "/maintenance/schedule"
    assert (body["date_planned_start"], body["time_planned_start"]) == ("11/26/2026", "22:30")
    assert (body["date_planned_end"], body["time_planned_end"]) == ("11/27/2026", "00:30")
    assert body["infrastructure_affected"] == [component]
    assert body["maintenance_details"].endswith(f"Details: {ISSUE}")
    assert (body["automation"], body["maintenance_notify_24_hr"]) == ("1", "0")
    app.run()  # a rerun sends nothing more
    assert len(writes(app)) == 1
    assert next(t.label for t in app.tabs if t.label.startswith("Upcoming")) == "Upcoming (3)"
    assert "PostgreSQL upgrade" in shown(app)
    assert app.text_input(key="maintenance_new_name").value == ""  # the form starts afresh
    audit = table_with(app, "When", "Who", "What", "Where", "Result")
    assert len(audit) == 1
    assert re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d UTC", audit["When"].iloc[0])
    assert (audit["What"].iloc[0], audit["Result"].iloc[0]) == (
        "Scheduled the maintenance “PostgreSQL upgrade”",
        "Sent",
    )


def test_bad_input_is_explained_plainly_and_the_form_keeps_its_values(app):
    open_page(app)
    fill_schedule_form(
        app, start=(date(2026, 11, 21), time(9, 0)), end=(date(2026, 11, 20), time(9, 0))
    )
    app.button(key="maintenance_new_preview").click().run()
    assert not app.exception
    shown_errors = errors(app)
    assert "The start, 21-11-2026 09:00 UTC, is in the past (it is now 22-11-2026 10:00 UTC)" in (
        shown_errors
    )
    assert "ends (20-11-2026 09:00 UTC) before it starts (21-11-2026 09:00 UTC)" in shown_errors
    assert "Choose the affected components" in shown_errors
    assert app.text_input(key="maintenance_new_name").value == "PostgreSQL upgrade"
    assert app.date_input(key="maintenance_new_start_date").value == date(2026, 11, 21)
    assert app.time_input(key="maintenance_new_end_time").value == time(9, 0)
    assert not [b for b in app.button if b.key == "maintenance_confirm"]
    assert writes(app) == []


def test_an_update_without_starting_warns_about_reminders_and_leaves_email_off(app):
    open_page(app)
    window_id = act_on_first_upcoming(app, Action.UPDATE)
    assert "do not get a duplicate reminder" in warnings(app)
    prefix = f"maintenance_update_{window_id}"
    assert app.checkbox(key=f"{prefix}_notify_email").value is False
    app.text_area(key=f"{prefix}_details").input("Reminder: the upgrade starts as planned.")
    app.button(key=f"{prefix}_preview").click().run()
    confirm(app)
    [(path, body)] = writes(app)
    assert path == "/maintenance/update"
    assert body["maintenance_id"] == window_id
    assert (body["notify_email"], body["notify_sms"]) == ("0", "1")
    assert body["maintenance_details"] == "Reminder: the upgrade starts as planned."


def test_starting_asks_for_automation_to_be_disabled_first_and_says_it_cannot_be_undone(app):
    first = stored_windows(MaintenancePhase.UPCOMING)[0]
    open_page(app, at=first.planned_start - timedelta(minutes=10))  # on time: no reason asked
    window_id = act_on_first_upcoming(app, Action.START)
    assert "Automation cannot be re-enabled once disabled" in warnings(app)
    prefix = f"maintenance_start_{window_id}"
    app.button(key=f"{prefix}_preview").click().run()
    assert "Disable automation in Status.io first" in errors(app)
    assert writes(app) == []
    app.checkbox(key=f"{prefix}_automation_disabled").check()
    app.button(key=f"{prefix}_preview").click().run()
    confirm(app)
    assert [path for path, _ in writes(app)] == ["/maintenance/start"]
    assert next(t.label for t in app.tabs if t.label.startswith("Active")) == "Active (2)"


def test_a_reschedule_says_what_subscribers_get_then_replaces_the_window(app):
    open_page(app)
    window_id = act_on_first_upcoming(app, Action.RESCHEDULE)
    prefix = f"maintenance_reschedule_{window_id}"
    app.date_input(key=f"{prefix}_start_date").set_value(date(2026, 12, 15))
    app.time_input(key=f"{prefix}_start_time").set_value(time(5, 0))
    app.date_input(key=f"{prefix}_end_date").set_value(date(2026, 12, 15))
    app.time_input(key=f"{prefix}_end_time").set_value(time(7, 0))
    app.button(key=f"{prefix}_preview").click().run()
    assert errors(app) == ""
    sentence = infos(app)
    assert "15-12-2026 05:00 – 07:00 UTC" in sentence
    assert "The original window" in sentence and "is then deleted" in sentence
    confirm(app)
    assert [path for path, _ in writes(app)] == ["/maintenance/schedule", "/maintenance/delete"]
    schedule, delete = (body for _, body in writes(app))
    assert (schedule["date_planned_start"], schedule["time_planned_start"]) == (
        "12/15/2026",
        "05:00",
    )
    assert schedule["maintenance_details"].startswith("Rescheduled from ")
    assert delete["maintenance_id"] == window_id
    assert window_id not in [r.key.removeprefix("maintenance_action_") for r in app.radio]


# Time told truly ------------------------------------------------------------------------------


def test_an_active_window_past_its_end_is_flagged_as_overrunning(app):
    [active] = stored_windows(MaintenancePhase.ACTIVE)
    open_page(app, at=active.planned_end + timedelta(hours=9, minutes=2))
    assert "Overrunning by 9 h 02 min: finish it or post an update" in errors(app)
    open_page(app, at=active.planned_end - timedelta(minutes=1))
    assert "Overrunning" not in errors(app)


def test_settings_status_io_does_not_report_are_said_plainly_never_unknown(app):
    open_page(app)
    captions = shown(app)
    assert "Automation: Status.io does not report this" in captions
    assert "Reminders: Status.io does not report this" in captions
    assert "unknown" not in captions


def test_a_window_24_hours_away_is_offered_no_72_hour_reminder_and_the_form_says_why(app):
    open_page(app)
    start = T0 + timedelta(hours=24)
    fill_schedule_form(
        app,
        start=(start.date(), start.time()),
        end=(start.date(), (start + timedelta(hours=2)).time()),
    )
    app.run()
    keys = {c.key for c in app.checkbox}
    assert "maintenance_new_notify_72_hr" not in keys
    assert {"maintenance_new_notify_24_hr", "maintenance_new_notify_1_hr"} <= keys
    assert (
        "No “Remind 72 hours before”: the window starts in 24 h 00 min, less than 72 hours from "
        "now, so that reminder can no longer go out."
    ) in shown(app)
    tick_first_component(app)
    app.button(key="maintenance_new_preview").click().run()
    assert errors(app) == ""
    assert "then reminders 24 hours and 1 hour before the start" in infos(app)
    confirm(app)
    [(_, body)] = writes(app)
    assert (body["maintenance_notify_72_hr"], body["maintenance_notify_24_hr"]) == ("0", "1")


def test_starting_hours_early_asks_for_a_reason_and_the_audit_row_keeps_it(app):
    first = stored_windows(MaintenancePhase.UPCOMING)[0]
    open_page(app, at=first.planned_start - timedelta(hours=3))
    radio = app.radio[1]
    window_id = radio.key.removeprefix("maintenance_action_")
    assert window_id == first.id
    radio.set_value(Action.START).run()
    assert "3 h 00 min from now. Starting more than 15 minutes early needs a reason" in warnings(
        app
    )
    prefix = f"maintenance_start_{window_id}"
    app.checkbox(key=f"{prefix}_automation_disabled").check()
    app.button(key=f"{prefix}_preview").click().run()
    assert "Say why the maintenance starts 3 h 00 min before its planned start" in errors(app)
    assert writes(app) == []
    reason = "Infrastructure starts before the traffic peak."
    app.text_input(key=f"{prefix}_early_reason").input(reason)
    app.button(key=f"{prefix}_preview").click().run()
    assert "Say why" not in errors(app)
    assert f"Reason for starting early: {reason}" in shown(app)
    confirm(app)
    assert [path for path, _ in writes(app)] == ["/maintenance/start"]
    [row] = stored(select(AuditEntry).where(AuditEntry.action == "maintenance_start"))
    planned = maintenance_when(first.planned_start)
    assert row.detail.endswith(
        f"Started 3 h 00 min before the planned start ({planned}). Reason: {reason}"
    )


def test_the_schedule_form_survives_a_reload_and_starts_afresh_once_sent(
    app, tmp_path, monkeypatch
):
    open_page(app)
    fill_schedule_form(
        app, start=(date(2026, 11, 26), time(22, 30)), end=(date(2026, 11, 27), time(0, 30))
    )
    app.run()
    component = tick_first_component(app)
    app.checkbox(key="maintenance_new_notify_now").uncheck()
    app.run()

    reloaded = open_page(app_on(tmp_path / "app.db", monkeypatch))
    assert reloaded.text_input(key="maintenance_new_name").value == "PostgreSQL upgrade"
    assert reloaded.text_area(key="maintenance_new_details").value == (
        "GitLab.com will be read-only for 30 min."
    )
    assert reloaded.date_input(key="maintenance_new_start_date").value == date(2026, 11, 26)
    assert reloaded.time_input(key="maintenance_new_end_time").value == time(0, 30)
    assert reloaded.checkbox(key=f"maintenance_new_component_{component}").value is True
    assert reloaded.checkbox(key="maintenance_new_notify_now").value is False

    reloaded.button(key="maintenance_new_preview").click().run()
    confirm(reloaded)
    assert [path for path, _ in writes(reloaded)] == ["/maintenance/schedule"]
    again = open_page(app_on(tmp_path / "app.db", monkeypatch))
    assert again.text_input(key="maintenance_new_name").value == ""


# Words for people ------------------------------------------------------------------------------


def test_the_broadcast_channels_are_named_as_people_call_them_in_the_form_and_the_dialog(app):
    open_page(app)
    window_id = act_on_first_upcoming(app, Action.UPDATE)
    prefix = f"maintenance_update_{window_id}"
    boxes = [c for c in app.checkbox if c.key.startswith(prefix) and c.key != f"{prefix}_details"]
    labels = {c.key.removeprefix(f"{prefix}_"): c.label for c in boxes}
    assert labels["notify_email"] == "Email"
    assert labels["social"] == "X"
    assert labels["msteams"] == "Microsoft Teams"
    assert not any("_" in label or label.islower() for label in labels.values())
    app.text_area(key=f"{prefix}_details").input("Reminder: the upgrade starts as planned.")
    app.button(key=f"{prefix}_preview").click().run()
    captions = [c.replace("\\", "") for c in texts(app, "caption")]
    assert "Broadcast: SMS, Webhook, X, IRC, HipChat, Microsoft Teams, Slack" in captions
    assert "notify_" not in shown(app) and "msteams" not in shown(app)


def _confirmation_with_nothing_pending() -> None:
    from cmoc_core.ui import deps, maintenance_view

    maintenance_view._confirm(deps.app_context())


def test_a_confirmation_left_with_nothing_to_send_says_what_to_do(app):
    open_page(app)
    dialog = AppTest.from_function(_confirmation_with_nothing_pending, default_timeout=60)
    dialog.run()
    assert not dialog.exception
    said = infos(dialog)
    assert "already sent or cancelled" in said
    assert "close this window" in said and "Audit log tab" in said


def test_an_empty_audit_log_says_so_and_what_will_fill_it(app):
    open_page(app)
    assert not [f for f in app.dataframe if {"When", "Who"} <= set(f.value.columns)]
    said = infos(app)
    assert (
        "Nothing is logged yet: each action taken on this page will appear here with how it ended."
    ) in said
