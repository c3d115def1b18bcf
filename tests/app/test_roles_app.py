"""Roles in the pages, signed in: a refused action's button is disabled and says why first.

AppTest cannot go through the identity provider, but Streamlit 1.67's AppTest lets a test be a
signed-in user: `AppTest.user` is what the run reads as `st.user`, and a non-empty
`AppTest.secrets` is what it reads as `st.secrets`, where the `[auth]` section turns sign-in on.
The app then takes the person as it takes anyone who signed in with the provider.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from cmoc_core import handover
from cmoc_core.models import (
    AuditEntry,
    Identity,
    OnCallEntry,
    PracticeDrill,
    ScheduleKind,
    System,
)
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps
from tests.app.conftest import open_tab, texts
from tests.app.test_composer_notify_page import start

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-cookie-secret-for-tests-only-0123456789",
    "client_id": "cmoc-cockpit",
    "client_secret": "a-client-secret-for-tests-only",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
VISITOR = "visitor@example.com"


def sign_in(app: AppTest, email: str, name: str) -> AppTest:
    """The app with sign-in set up, and `email` signed in."""
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": email, "name": name}
    return app


def database() -> Session:
    return Session(make_engine(os.environ["CMOC_DATABASE_URL"]))


def email_of(pagerduty_user: str) -> str:
    with database() as session:
        found = session.exec(
            select(Identity.email).where(
                Identity.system == System.PAGERDUTY, Identity.external_id == pagerduty_user
            )
        ).one()
    assert found
    return found


def shadow_only() -> str:
    """The e-mail of someone on the shadow rotation and never on the CMOC one."""
    with database() as session:
        kinds: dict[str, set[str]] = {}
        for user, kind in session.exec(select(OnCallEntry.user_id, OnCallEntry.schedule_kind)):
            kinds.setdefault(user, set()).add(kind)
    user = next(u for u, k in kinds.items() if k == {ScheduleKind.SHADOW})
    return email_of(user)


def demo_shift(app: AppTest) -> tuple[handover.Shift, datetime]:
    """A demo shift not yet handed over, and a moment half an hour before its end."""
    app.run()
    sources = deps.sources_for(os.environ["CMOC_DATABASE_URL"])
    end = sources.sandbox.org.end
    with database() as session:
        shifts = handover.recent_shifts(
            session=session, settings=sources.settings, now=end, within=timedelta(days=365)
        )
    shift = next(s for s in shifts if not s.handed_over and s.gitlab_username and s.end <= end)
    moment = shift.end - timedelta(minutes=30)
    sources.sandbox.gitlab.clock = lambda: moment
    return shift, moment


def open_page(app: AppTest, page: str, moment: datetime | None = None) -> AppTest:
    if moment is not None:
        app.session_state["clock_now"] = moment
    app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, app.exception
    return app


def readable(text: str) -> str:
    """Text as the reader sees it: Markdown escapes taken out."""
    return text.replace("\\", "").replace("\u2060", "")


def shown(app: AppTest, kind: str) -> str:
    return readable(" ".join(texts(app, kind)))


def gitlab_writes() -> list:
    return deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox.writes("gitlab")


def refusing(app: AppTest, key: str) -> str:
    """The reason a disabled button gives, in its tooltip; the button must be disabled."""
    button = app.button(key=key)
    assert button.disabled, f"{key} is not disabled"
    assert button.help, f"{key} does not say why"
    return readable(button.help)


def test_someone_off_the_rotation_sees_why_before_any_click_on_each_page(app):
    shift, moment = demo_shift(app)
    sign_in(app, VISITOR, "Vera Visitor")
    sentence = f"You are signed in as {VISITOR} (no role in the rotation); only"

    open_page(app, "maintenance", moment)
    assert sentence in refusing(app, "maintenance_new_preview")
    assert "may publish, notify and create issues" in shown(app, "caption")

    open_page(app, "practice")
    assert sentence in refusing(app, "practice_start")
    assert "may draft updates and run practice events" in shown(app, "caption")
    assert "The script is for the facilitator." in shown(app, "caption")
    assert "only the configured managers may map people" in shown(app, "caption")
    assert not [t for t in app.toggle if t.key == "practice_facilitator"]

    open_page(app, "handover")
    app.selectbox(key="handover_shift").set_value(shift.key).run()
    assert "does not match to anyone on the rotation" in shown(app, "info")
    app.button(key="handover_preview_button").click().run()
    assert "does not match to anyone on the rotation" in refusing(app, "handover_create")


def test_the_cmoc_signed_in_creates_their_own_handover_and_the_audit_names_them(app):
    shift, moment = demo_shift(app)
    email = email_of(shift.user_id)
    sign_in(app, email, shift.person)

    open_page(app, "handover", moment)
    assert app.selectbox(key="handover_shift").value == shift.key
    app.button(key="handover_preview_button").click().run()
    create = app.button(key="handover_create")
    assert not create.disabled and not create.help
    create.click().run()

    assert not app.exception
    assert any("Handover issue created" in s.value for s in app.success)
    [write] = gitlab_writes()
    assert write.body["sudo"] == shift.gitlab_username
    with database() as session:
        [entry] = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "create_handover")
        ).all()
    assert entry.actor == f"{shift.person} ({email})"


def other_cmoc(shift: handover.Shift) -> str:
    """The e-mail of a CMOC on the rotation other than the shift's."""
    with database() as session:
        others = session.exec(
            select(OnCallEntry.user_id).where(
                OnCallEntry.schedule_kind == ScheduleKind.CMOC,
                OnCallEntry.user_id != shift.user_id,
            )
        ).all()
    return email_of(others[0])


def test_another_cmoc_is_told_before_the_click_that_the_handover_is_not_theirs(app):
    shift, moment = demo_shift(app)
    sign_in(app, other_cmoc(shift), "Another CMOC")

    open_page(app, "handover", moment)
    app.selectbox(key="handover_shift").set_value(shift.key).run()
    expected = f"This is {shift.person}'s shift, not yours"
    assert expected in shown(app, "info")
    app.button(key="handover_preview_button").click().run()
    assert expected in refusing(app, "handover_create")
    assert gitlab_writes() == []


def test_a_click_drawn_for_someone_else_creates_nothing(app):
    shift, moment = demo_shift(app)
    sign_in(app, email_of(shift.user_id), shift.person)
    open_page(app, "handover", moment)
    app.button(key="handover_preview_button").click().run()
    create = app.button(key="handover_create")
    assert not create.disabled

    # Someone else signs in on this browser between the drawing and the click.
    sign_in(app, other_cmoc(shift), "Another CMOC")
    create.click().run()

    assert not app.exception
    assert f"This is {shift.person}'s shift, not yours" in shown(app, "info")
    assert gitlab_writes() == []


def test_a_refusal_the_page_could_not_foresee_is_one_line(app):
    app.run()
    sign_in(app, shadow_only(), "Sam Shadow")
    open_page(app, "practice")
    app.selectbox(key="practice_start_scenario").set_value("database-failover")
    cmoc = app.selectbox(key="practice_start_cmoc")
    cmoc.set_value(cmoc.options[0]).run()
    start = app.button(key="practice_start")
    assert not start.disabled

    # Someone off the rotation signs in on this browser between the drawing and the click.
    sign_in(app, VISITOR, "Vera Visitor")
    start.click().run()

    assert not app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and f"You are signed in as {VISITOR}" in readable(errors[0])
    with database() as session:
        assert session.exec(select(PracticeDrill)).all() == []


def test_a_shadow_may_start_a_drill_but_neither_publish_maintenance_nor_see_scripts(app):
    app.run()
    email = shadow_only()
    sign_in(app, email, "Sam Shadow")

    open_page(app, "practice")
    start = app.button(key="practice_start")
    assert not start.disabled
    assert "The script is for the facilitator." in shown(app, "caption")

    open_page(app, "maintenance")
    reason = refusing(app, "maintenance_new_preview")
    assert f"You are signed in as {email} (CMOC shadow)" in reason


def test_a_shadow_drafts_an_incident_but_may_not_notify_stakeholders_or_read_zendesk(app):
    app.run()
    email = shadow_only()
    sign_in(app, email, "Sam Shadow")
    start(app)  # drafting is a shadow's to do

    open_tab(app, "Notify stakeholders")
    reason = refusing(app, "composer_notify")
    assert f"You are signed in as {email} (CMOC shadow)" in reason
    assert "may publish, notify and create issues" in shown(app, "caption")
    open_tab(app, "Zendesk")
    assert "may publish, notify and create issues" in refusing(app, "composer_zendesk_count")
    assert deps.sources_for(os.environ["CMOC_DATABASE_URL"]).sandbox.slack.posts == []
