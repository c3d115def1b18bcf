"""The maintenance page when Status.io refuses an update before the start: said, then kept."""

from __future__ import annotations

from cmoc_core import maintenance
from cmoc_core.maintenance import Action
from cmoc_core.sandbox import Fault
from tests.app.test_maintenance_page import confirm, infos, open_page, sandbox_of

NOT_STARTED = "Maintenance has not started"
TEXT = "Reminder: the upgrade starts as planned."


def errors(app) -> str:
    return " ".join(e.value for e in app.error).replace("\\", "")


def test_the_update_form_says_what_happens_on_a_refusal_and_a_refusal_keeps_the_message(app):
    open_page(app)
    radio = app.radio[1]  # the first upcoming window (the active one comes first)
    window_id = radio.key.removeprefix("maintenance_action_")
    radio.set_value(Action.UPDATE).run()
    assert maintenance.UPDATE_BEFORE_START in infos(app)
    sandbox = sandbox_of(app)
    sandbox.add_fault(
        Fault(
            service="statusio",
            kind="statusio_error",
            path_contains="/maintenance/update",
            message=NOT_STARTED,
        )
    )
    prefix = f"maintenance_update_{window_id}"
    app.text_area(key=f"{prefix}_details").input(TEXT)
    app.button(key=f"{prefix}_preview").click().run()
    assert maintenance.UPDATE_BEFORE_START in infos(app)  # the confirmation says it again
    confirm(app)
    shown = errors(app)
    assert f"before its start ({NOT_STARTED}): nothing was posted and your message is kept" in (
        shown
    )
    assert app.text_area(key=f"{prefix}_details").value == TEXT
    windows = [w for phase in sandbox.statusio.pages.values() for w in _windows(phase)]
    window = next(w for w in windows if w["_id"] == window_id)
    assert TEXT not in [m["details"] for m in window["messages"]]


def _windows(page) -> list[dict]:
    return [w for phase in page.maintenances.values() for w in phase]
