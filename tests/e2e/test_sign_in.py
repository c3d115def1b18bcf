"""Sign-in in Chromium against a real OpenID provider on 127.0.0.1, with the app on real services.

The app talks to the sandbox over HTTP as it would to PagerDuty, Status.io and GitLab (not demo
mode); its database was synced from them before it started, so there is data to keep from
people who have not signed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from cmoc_core.config import settings_from_mapping
from cmoc_core.sandbox import Sandbox
from cmoc_core.sources import open_sources
from cmoc_core.storage import make_engine, migrate
from cmoc_core.sync import run_sync
from tests.e2e.conftest import RunningApp, started_app
from tests.e2e.oidc import (
    CLIENT_ID,
    SIGN_IN_BUTTON,
    SIGN_IN_TEXT,
    Provider,
    app_with_sign_in,
    sign_in,
    sign_out,
    write_auth_secrets,
)
from tests.support.postgres import free_port

pytestmark = pytest.mark.browser

# Every page of the app, as its address names it.
PAGES = ["", "maintenance", "handover", "practice", "kpis", "history", "sync"]
HISTORY = re.compile(r"^\d+ incidents, newest first$")
READER = ("Ada Reader", "ada.reader@example.com")


@dataclass(frozen=True)
class SignInApp:
    """The app with `[auth]` set, and the sandbox behind it."""

    app: RunningApp
    sandbox: Sandbox
    manager_email: str


def synced_database(folder: Path, settings: dict[str, str]) -> str:
    """A SQLite database synced from the services the settings name, as `sync` leaves it."""
    url = f"sqlite:///{folder / 'cmoc.db'}"
    engine = make_engine(url)
    migrate(engine)
    sources = open_sources(settings_from_mapping({**settings, "CMOC_DATABASE_URL": url}))
    try:
        report = run_sync(engine=engine, settings=sources.settings, clients=sources.clients)
    finally:
        sources.clients.close()
        engine.dispose()
    assert report.ok, report.summary()
    return url


@pytest.fixture(scope="module")
def signed(sandbox: Sandbox, oidc: Provider, tmp_path_factory) -> Iterator[SignInApp]:
    """The app on the sandbox's services with sign-in set up; one support engineer manages."""
    folder = tmp_path_factory.mktemp("sign-in")
    manager = sandbox.org.people_with_role("support")[0].email
    settings = sandbox.settings(base_url=sandbox.base_url) | {"CMOC_MANAGERS": manager}
    database = synced_database(folder, settings)
    with app_with_sign_in(folder, oidc, settings, database) as app:
        yield SignInApp(app, sandbox, manager)


@pytest.fixture
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context of its own: no cookie from another test's sign-in."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def data_words(sandbox: Sandbox) -> list[str]:
    """Words only the services' data holds: people's names and e-mails, incident titles."""
    people = [w for p in sandbox.org.people for w in (p.name, p.email)]
    titles = [str(i["name"]) for i in sandbox.org.statusio_incidents]
    return [w for w in people + titles if len(w) > 3]


def expect_sign_in_page_only(page: Page, sandbox: Sandbox) -> None:
    """The page shows what this is and a sign-in button, and nothing of the data or pages."""
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name=SIGN_IN_BUTTON)).to_have_count(1)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    text = page.locator("body").inner_text()
    shown = [word for word in data_words(sandbox) if word in text]
    assert shown == [], f"signed out, the page shows {shown}"
    assert "incidents, newest first" not in text
    assert "Traceback" not in text


def sidebar(page: Page):
    """The sidebar, where the app says who is signed in."""
    return page.get_by_test_id("stSidebar")


def sidebar_text(page: Page) -> str:
    """The sidebar's text as read, without the joiners that keep an address from becoming a link."""
    return sidebar(page).inner_text().replace("\u2060", "")


def test_signed_out_every_page_shows_only_the_sign_in_page(fresh_page: Page, signed: SignInApp):
    for name in PAGES:
        fresh_page.goto(f"{signed.app.url}/{name}")
        expect_sign_in_page_only(fresh_page, signed.sandbox)
    # An incident's own address too, as a link in a chat would open it.
    incident = signed.sandbox.org.statusio_incidents[0]["_id"]
    fresh_page.goto(f"{signed.app.url}/history?incident={incident}")
    expect_sign_in_page_only(fresh_page, signed.sandbox)


def test_a_person_signed_in_is_named_in_the_sidebar_and_reads_history(
    fresh_page: Page, signed: SignInApp
):
    name, email = READER
    sign_in(fresh_page, signed.app.url, email, name)
    assert email in sidebar_text(fresh_page)
    # Not on the rotation nor a publisher or manager: a reader, who reads history like everyone.
    expect(sidebar(fresh_page).get_by_text("Role: reader", exact=True)).to_be_visible()
    expect(sidebar(fresh_page).get_by_role("button", name="Sign out")).to_be_visible()
    fresh_page.goto(f"{signed.app.url}/history")
    caption = fresh_page.get_by_text(HISTORY)
    expect(caption).to_be_visible(timeout=60_000)
    assert int(caption.inner_text().split()[0]) > 0
    # What the signed-out pages are checked for is here now: the check can see data.
    text = fresh_page.locator("body").inner_text()
    assert any(word in text for word in data_words(signed.sandbox))
    expect(sidebar(fresh_page).get_by_text(name, exact=True)).to_be_visible()
    expect(fresh_page.get_by_text("nobody signs in", exact=False)).to_have_count(0)


def test_a_cmoc_on_the_rotation_is_told_so(fresh_page: Page, signed: SignInApp):
    cmoc = signed.sandbox.org.people_with_role("cmoc")[0]
    sign_in(fresh_page, signed.app.url, cmoc.email, cmoc.name)
    role = sidebar(fresh_page).get_by_text("Role: CMOC on the rotation", exact=True)
    expect(role).to_be_visible()


def test_a_person_in_cmoc_managers_has_the_manager_role(fresh_page: Page, signed: SignInApp):
    manager = next(p for p in signed.sandbox.org.people if p.email == signed.manager_email)
    sign_in(fresh_page, signed.app.url, manager.email, manager.name)
    expect(sidebar(fresh_page).get_by_text("Role: manager", exact=True)).to_be_visible()


def test_signing_out_ends_access_to_every_page(fresh_page: Page, signed: SignInApp, tmp_path: Path):
    name, email = READER
    sign_in(fresh_page, signed.app.url, email, name)
    fresh_page.screenshot(path=str(tmp_path / "signed-in.png"))
    sign_out(fresh_page)
    expect_sign_in_page_only(fresh_page, signed.sandbox)
    fresh_page.screenshot(path=str(tmp_path / "signed-out.png"))
    for page_name in PAGES:
        fresh_page.goto(f"{signed.app.url}/{page_name}")
        fresh_page.reload()
        expect_sign_in_page_only(fresh_page, signed.sandbox)


def test_real_services_without_sign_in_say_who_every_action_is_taken_as(
    fresh_page: Page, sandbox: Sandbox, tmp_path: Path
):
    settings = sandbox.settings(base_url=sandbox.base_url)
    actor = settings["PAGERDUTY_FROM_EMAIL"]
    with started_app(tmp_path, settings) as app:
        for name in ("", "history"):
            fresh_page.goto(f"{app.url}/{name}")
            banner = fresh_page.get_by_text("nobody signs in", exact=False)
            expect(banner).to_be_visible(timeout=60_000)
            said = banner.inner_text().replace("\u2060", "")
            assert said.startswith(f"All actions are taken as {actor}: nobody signs in."), said
        expect(fresh_page.get_by_role("button", name=SIGN_IN_BUTTON)).to_have_count(0)
        expect(fresh_page.get_by_test_id("stSidebarNav")).to_be_visible()


def test_sign_in_is_needed_in_demo_mode_too_once_set_up(
    fresh_page: Page, oidc: Provider, tmp_path: Path
):
    port = free_port()
    secrets_file = write_auth_secrets(tmp_path / "secrets.toml", oidc, port)
    with started_app(tmp_path, port=port, secrets=secrets_file) as app:
        fresh_page.goto(f"{app.url}/history")
        expect(fresh_page.get_by_text(SIGN_IN_TEXT)).to_be_visible(timeout=60_000)
        expect(fresh_page.get_by_test_id("stSidebarNav")).to_have_count(0)
        assert "Demo mode" not in fresh_page.locator("body").inner_text()


def test_a_broken_auth_section_is_one_line_naming_what_to_fix_and_no_secret(
    fresh_page: Page, oidc: Provider, tmp_path: Path
):
    secret = "client-secret-that-must-never-show"
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:8501/"\n'
        'cookie_secret = ""\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{secret}"\n'
        f'server_metadata_url = "{oidc.metadata_url}"\n'
    )
    with started_app(tmp_path, secrets=secrets_file) as app:
        for name in ("", "sync"):
            fresh_page.goto(f"{app.url}/{name}")
            error = fresh_page.get_by_test_id("stAlertContentError")
            expect(error).to_be_visible(timeout=60_000)
            assert error.inner_text() == (
                f"Sign-in is not set up correctly in {secrets_file}: cookie_secret in [auth] is "
                "empty; redirect_uri in [auth] should be the app's address followed by "
                "/oauth2callback."
            )
            text = fresh_page.locator("body").inner_text()
            assert secret not in text
            expect(fresh_page.get_by_role("button", name=SIGN_IN_BUTTON)).to_have_count(0)
            expect(fresh_page.get_by_test_id("stSidebarNav")).to_have_count(0)
