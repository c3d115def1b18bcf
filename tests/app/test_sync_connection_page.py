"""Sync & settings: "Test connection" per source, results in words, never a secret."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Fault, Organisation, Sandbox
from cmoc_core.sandbox import gitlab as fake_gitlab
from cmoc_core.timeutil import utc_now
from tests.app.conftest import texts

ELEMENTS = ("success", "info", "warning", "error", "caption", "markdown", "text")


def open_sync_page(app: AppTest) -> AppTest:
    app.run()
    app.switch_page("app_pages/sync.py").run()
    assert not app.exception
    return app


def shown(app: AppTest, kind: str) -> list[str]:
    """What people read in elements of one kind: Markdown escapes and word joiners removed."""
    return [t.replace("\\", "").replace("\u2060", "") for t in texts(app, kind)]


def everything(app: AppTest) -> str:
    return " ".join(text for kind in ELEMENTS for text in shown(app, kind))


def test_demo_mode_tests_each_source_against_the_sandbox_and_keeps_the_results(
    app: AppTest, organisation: Organisation
) -> None:
    open_sync_page(app)

    app.button(key="sync_test_gitlab").click().run()
    app.button(key="sync_test_slack").click().run()
    app.button(key="sync_test_pagerduty").click().run()

    assert not app.exception
    successes = shown(app, "success")
    assert "The token belongs to @cmoc-cockpit-bot (CMOC Cockpit), an administrator." in (successes)
    assert any(s.startswith("It may act for a CMOC (sudo)") for s in successes)
    assert any(s.startswith("webhook 1: an incoming webhook") for s in successes)
    assert any(s.startswith("Can read incidents:") for s in successes)
    infos = shown(app, "info")
    assert infos.count("Demo mode: this reads the built-in sandbox, not a real service.") == 3
    assert any(i.startswith("An account-level API key") for i in infos)
    captions = shown(app, "caption")
    assert any(c.startswith("GitLab works (4 reads, nothing written). Tested") for c in captions)
    assert any(c.startswith("Slack works (nothing was sent).") for c in captions)
    assert not app.error
    page = everything(app)
    # The demo sandbox's credentials and hook addresses depend on the seed, not on the day.
    box = Sandbox(org=organisation)
    for secret in settings_from_mapping(box.settings()).secret_values():
        assert secret not in page


def test_refused_token_and_unreachable_service_are_one_plain_line_each_without_secrets(
    app: AppTest, served: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, base = served
    for name, value in sandbox.settings(base_url=base).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAGERDUTY_API_URL", "http://127.0.0.1:9")
    echo = json.dumps({"message": f"401 Unauthorized: token {fake_gitlab.TOKEN} was revoked"})
    sandbox.add_fault(Fault(service="gitlab", status=401, body=echo, times=None))
    open_sync_page(app)

    app.button(key="sync_test_gitlab").click().run()
    app.button(key="sync_test_pagerduty").click().run()

    assert not app.exception
    assert shown(app, "error") == [
        "Could not connect to PagerDuty at 127.0.0.1:9: check PAGERDUTY_API_URL and that this "
        "machine can reach it.",
        "GitLab refused the credentials (HTTP 401: 401 Unauthorized: token [redacted] was "
        "revoked): check GITLAB_TOKEN; they may be mistyped, expired or revoked.",
    ]
    assert not any("Demo mode" in i for i in shown(app, "info"))
    assert fake_gitlab.TOKEN not in everything(app)


def test_an_unconfigured_source_cannot_be_tested_and_says_what_to_set(
    app: AppTest, served: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, base = served
    for name, value in sandbox.settings(base_url=base).items():
        if name.startswith("PAGERDUTY_"):
            monkeypatch.setenv(name, value)
    open_sync_page(app)

    assert app.button(key="sync_test_zendesk").disabled
    assert app.button(key="sync_test_slack").disabled
    assert not app.button(key="sync_test_pagerduty").disabled
    captions = shown(app, "caption")
    assert "Not configured: set ZENDESK_URL, ZENDESK_EMAIL, ZENDESK_API_TOKEN." in captions
    assert "Not configured: set STATUSIO_API_ID, STATUSIO_API_KEY, STATUSIO_STATUSPAGE_ID." in (
        captions
    )


def test_a_sync_streams_note_is_shown_on_its_own_line(
    app: AppTest, served: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, base = served
    for name, value in sandbox.settings(base_url=base).items():
        monkeypatch.setenv(name, value)
    # Users without end: every page says more follow, until the 10,000 offset ceiling.
    users = [
        {"id": f"PMANY{n:03d}", "type": "user", "name": f"User {n}", "email": f"u{n}@example.com"}
        for n in range(100)
    ]
    endless = json.dumps({"users": users, "limit": 100, "offset": 0, "more": True, "total": None})
    sandbox.add_fault(
        Fault(
            service="pagerduty",
            path_contains="/pagerduty/users",
            status=200,
            headers={"content-type": "application/json"},
            body=endless,
            times=None,
        )
    )
    open_sync_page(app)
    app.selectbox(key="sync_source").set_value("pagerduty")
    app.date_input(key="sync_since").set_value(utc_now().date() - timedelta(days=1))

    app.button(key="sync_now").click().run()

    assert not app.exception
    notes = [i for i in shown(app, "info") if i.startswith("PagerDuty users: ")]
    assert notes == [
        "PagerDuty users: PagerDuty lists at most 10,000 users; 0 more were read one by one"
    ]
