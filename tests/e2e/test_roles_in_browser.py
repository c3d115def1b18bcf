"""Roles from the rotation in Chromium, signed in with a real OpenID provider on 127.0.0.1.

The app talks to the sandbox over HTTP as it would to the real services. The people are taken
from the sandbox's organisation by what its synced rotation makes of them: a CMOC on the CMOC
schedule, a shadow only on the shadow schedule, a person on neither, and a support engineer
named in CMOC_MANAGERS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError
from sqlmodel import Session, col, select

from cmoc_core import people
from cmoc_core.access import Role, signed_in_viewer
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import Identity, Person, System
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import Person as Staff
from cmoc_core.storage import make_engine
from cmoc_core.timeutil import utc_now
from cmoc_core.ui.incident_view import NEW
from tests.e2e.oidc import Provider, app_with_sign_in, sign_in, sign_out
from tests.e2e.test_composer_in_browser import choose_first_option, click, preview_and_publish
from tests.e2e.test_sign_in import HISTORY, sidebar, synced_database

pytestmark = pytest.mark.browser

ISSUE = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/18123"
CMOC_TITLE = "Roles: web requests fail for some users"
SHADOW_TITLE = "Roles: a shadow drafts while paged"
PAGE_TITLE = "Roles: API latency above threshold"
# Sorted first among the people, so the mapping table shows it without scrolling.
NEW_PERSON = "Aaa Mapped By A Manager"
# The words each refusal has in the page: who may, and (for pages) why the handbook says so.
SHADOW_KEPT_OFF = re.compile(
    r"handbook keeps shadows off pages so that the real CMOC is still paged", re.IGNORECASE
)
MAY_DRAFT = "only people on the CMOC or shadow rotation and publishers may draft updates"
MAY_PUBLISH = "only people on the CMOC rotation and the configured publishers may publish"
MAY_MANAGE = "only the configured managers may map people"


@dataclass(frozen=True)
class Cast:
    """The people of the organisation the tests sign in as, and the identity a manager maps."""

    cmoc: Staff
    shadow: Staff
    reader: Staff
    manager: Staff
    identity_label: str  # the GitLab account a manager maps, as the mapping editor offers it


@dataclass(frozen=True)
class RolesApp:
    """The app with sign-in on the sandbox's services, and who is who."""

    url: str
    sandbox: Sandbox
    cast: Cast
    page: dict[str, object]  # the open PagerDuty page the sandbox triggered before the sync


def rotation_roles(url: str, settings: dict[str, str], staff: list[Staff]) -> dict[str, set[Role]]:
    """Each person's roles as the synced database and the settings make them, by e-mail."""
    engine = make_engine(url)
    config = settings_from_mapping({**settings, "CMOC_DATABASE_URL": url})
    try:
        with Session(engine) as db:
            return {
                p.email: set(
                    signed_in_viewer(db, config, email=p.email, name=p.name, now=utc_now()).roles
                )
                for p in staff
            }
    finally:
        engine.dispose()


def gitlab_identity(url: str, person: Staff) -> str:
    """The person's GitLab account as the mapping editor offers it."""
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            identity = db.exec(
                select(Identity)
                .join(Person, col(Identity.person_id) == col(Person.id))
                .where(Identity.system == System.GITLAB, Person.email == person.email)
            ).one()
            key = (identity.system, identity.external_id)
            return next(k for k, v in people.identity_choices(session=db).items() if v == key)
    finally:
        engine.dispose()


def cast_of(url: str, settings: dict[str, str], sandbox: Sandbox) -> Cast:
    """A CMOC, a shadow and two people on no rotation, found by what the rotation gives them."""
    staff = sandbox.org.people
    roles = rotation_roles(url, settings, staff)
    # Not the configured user, whom an action taken for nobody in particular would name.
    configured = settings["PAGERDUTY_FROM_EMAIL"]
    cmoc = next(p for p in staff if roles[p.email] == {Role.CMOC} and p.email != configured)
    shadow = next(p for p in staff if roles[p.email] == {Role.SHADOW})
    nobody = [p for p in staff if not roles[p.email]]
    manager = next(p for p in nobody if p.role == "support")
    reader, other = [p for p in nobody if p is not manager][:2]
    return Cast(cmoc, shadow, reader, manager, gitlab_identity(url, other))


@pytest.fixture(scope="module")
def roles_app(sandbox: Sandbox, oidc: Provider, tmp_path_factory) -> Iterator[RolesApp]:
    """One app for every person here, on a database synced with one page still open."""
    folder = tmp_path_factory.mktemp("roles")
    paged = sandbox.add_page(PAGE_TITLE)
    # No background sync while the tests run: what the services hold is what was synced.
    settings = sandbox.settings(base_url=sandbox.base_url) | {"CMOC_SYNC_EVERY": "0"}
    database = synced_database(folder, settings)
    cast = cast_of(database, settings, sandbox)
    settings |= {"CMOC_MANAGERS": cast.manager.email}
    assert rotation_roles(database, settings, [cast.manager])[cast.manager.email] == {Role.MANAGER}
    with app_with_sign_in(folder, oidc, settings, database) as app:
        yield RolesApp(app.url, sandbox, cast, paged)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context of its own: nobody is signed in yet."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def signed_in_as(page: Page, app: RolesApp, person: Staff, role: str) -> None:
    """Sign in as the person, and see the app name their role."""
    sign_in(page, app.url, person.email, person.name)
    expect(sidebar(page).get_by_text(f"Role: {role}", exact=True)).to_be_visible()


def start_incident(page: Page, title: str, *, page_number: int | None = None) -> None:
    """Fill the composer's start form (with a PagerDuty page, if given) and start."""
    new_incident_form(page)
    page.get_by_label("Title: in simple terms, what is the issue?").fill(title)
    page.get_by_label("Production issue link").fill(ISSUE)
    if page_number is not None:
        choose(page, "PagerDuty page", re.compile(rf"^#{page_number} "))
    click(page.get_by_role("button", name="Start", exact=True))


def choose(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick the option of the select box with exactly this label, again if a rerun replaced it."""
    field = page.get_by_role("combobox", name=label, exact=True).filter(visible=True)
    for _ in range(5):
        expect(field).to_have_count(1, timeout=30_000)
        field.click()
        choice = page.get_by_role("option", name=option).first
        try:
            choice.click(timeout=5_000)
        except PlaywrightError:
            page.keyboard.press("Escape")
            continue
        page.wait_for_timeout(500)
        shown = field.input_value()
        if option.search(shown) if isinstance(option, re.Pattern) else shown == option:
            return
    raise AssertionError(f"could not choose {option} in {label}")


def new_incident_form(page: Page) -> None:
    """The composer with "Start a new incident" chosen, whichever incident it offered first."""
    choose(page, "Incident", NEW)
    expect(page.get_by_label("Title: in simple terms, what is the issue?")).to_be_visible(
        timeout=30_000
    )


def refusal_in(scope: Locator, words: str) -> Locator:
    """The visible sentences in `scope` that say why its buttons are disabled."""
    return scope.get_by_text(words, exact=False).filter(visible=True)


def table_rows(scope: Locator) -> Locator:
    """The rows of the tables in `scope`, as the table keeps them for screen readers."""
    return scope.get_by_test_id("stDataFrame").locator("tr[role=row]")


def readable(text: str) -> str:
    """Text as read, without the joiners that keep an address from becoming a link."""
    return text.replace("\u2060", "")


def test_a_cmoc_on_the_rotation_publishes_and_the_audit_row_names_them(
    page: Page, roles_app: RolesApp
):
    cmoc, sandbox = roles_app.cast.cmoc, roles_app.sandbox
    creates_before = [w for w in sandbox.writes("statusio") if w.path == "/incident/create"]
    signed_in_as(page, roles_app, cmoc, "CMOC on the rotation")

    start_incident(page, CMOC_TITLE)
    expect(page.get_by_text("create the incident", exact=True)).to_be_visible(timeout=30_000)
    choose_first_option(page, "Affected infrastructure", name=re.compile(r"\(.+\)$"))
    preview_and_publish(page, "Preview and create")
    expect(page.get_by_text("Next update due in")).to_be_visible(timeout=30_000)

    creates = [w for w in sandbox.writes("statusio") if w.path == "/incident/create"]
    assert len(creates) - len(creates_before) == 1
    assert creates[-1].body["incident_name"] == CMOC_TITLE

    click(page.get_by_role("tab", name="Audit log"))
    rows = table_rows(page.get_by_role("tabpanel", name="Audit log"))
    created = rows.filter(has_text="Created the incident")
    expect(created).to_have_count(1, timeout=30_000)
    row = readable(created.text_content() or "")
    assert f"{cmoc.name} ({cmoc.email})" in row, row
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_a_shadow_cannot_acknowledge_the_page_and_is_told_why(page: Page, roles_app: RolesApp):
    shadow, sandbox = roles_app.cast.shadow, roles_app.sandbox
    signed_in_as(page, roles_app, shadow, "CMOC shadow")

    number = int(str(roles_app.page["incident_number"]))
    start_incident(page, SHADOW_TITLE, page_number=number)
    expect(page.get_by_text("create the incident", exact=True)).to_be_visible(timeout=30_000)
    attached = page.get_by_role("combobox", name="PagerDuty page", exact=True)
    expect(attached).to_have_value(re.compile(rf"^#{number} {re.escape(PAGE_TITLE)} "))

    acknowledge = page.get_by_role("button", name="Acknowledge page").filter(visible=True)
    expect(acknowledge).to_have_count(1, timeout=30_000)
    expect(acknowledge).to_be_disabled()
    # The reason stands beside the button, in the checklist's column for it.
    beside = page.get_by_test_id("stColumn").filter(has=acknowledge)
    expect(beside).to_have_count(1)
    reason = beside.get_by_text(SHADOW_KEPT_OFF)
    expect(reason).to_be_visible()
    said = readable(reason.inner_text())
    assert f"You are signed in as {shadow.email} (CMOC shadow)" in said, said
    # The shadow may draft, not publish: the create form says so before any click.
    create_tab = page.get_by_role("tabpanel", name="Create")
    expect(create_tab.get_by_role("button", name="Preview and create")).to_be_disabled()
    expect(refusal_in(create_tab, MAY_PUBLISH)).to_have_count(1)
    assert sandbox.writes("pagerduty") == []


def test_a_person_on_no_rotation_reads_history_but_cannot_start_or_publish(
    page: Page, roles_app: RolesApp
):
    signed_in_as(page, roles_app, roles_app.cast.reader, "reader")
    page.goto(f"{roles_app.url}/history")
    caption = page.get_by_text(HISTORY)
    expect(caption).to_be_visible(timeout=60_000)
    assert int(caption.inner_text().split()[0]) > 0

    page.goto(roles_app.url)
    new_incident_form(page)
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_disabled()
    expect(refusal_in(page.get_by_test_id("stForm").filter(has=start), MAY_DRAFT)).to_have_count(1)

    # An incident another person started and did not publish yet: the reader may not create it.
    choose(page, "Incident", re.compile(rf"^{re.escape(SHADOW_TITLE)} "))
    create_tab = page.get_by_role("tabpanel", name="Create")
    create = create_tab.get_by_role("button", name="Preview and create")
    expect(create).to_have_count(1, timeout=30_000)
    expect(create).to_be_disabled()
    expect(refusal_in(create_tab, MAY_PUBLISH)).to_have_count(1)


def test_a_manager_edits_the_mapping_and_a_cmoc_may_not(page: Page, roles_app: RolesApp):
    cast = roles_app.cast
    signed_in_as(page, roles_app, cast.manager, "manager")
    page.goto(f"{roles_app.url}/sync")
    save = page.get_by_role("button", name="Save mapping")
    expect(save).to_be_enabled(timeout=60_000)
    expect(refusal_in(page.get_by_test_id("stMain"), MAY_MANAGE)).to_have_count(0)

    choose(page, "Identity", cast.identity_label)
    person = page.get_by_role("combobox", name="Person", exact=True)
    person.click()
    person.fill(NEW_PERSON)
    person.press("Enter")
    click(save)
    expect(page.get_by_text("Mapping saved; people rematched.")).to_be_visible(timeout=30_000)

    page.reload()
    mapped = table_rows(page.get_by_test_id("stMain")).filter(has_text=NEW_PERSON)
    # The identity mapped by hand, and any other of the same person's that its e-mail joins.
    by_hand = mapped.filter(has_text=re.compile("GitLab.*true$"))  # "Mapped by hand" comes last
    expect(by_hand).to_have_count(1, timeout=60_000)

    sign_out(page)
    signed_in_as(page, roles_app, cast.cmoc, "CMOC on the rotation")
    page.goto(f"{roles_app.url}/sync")
    save = page.get_by_role("button", name="Save mapping")
    expect(save).to_be_disabled(timeout=60_000)
    expect(refusal_in(page.get_by_test_id("stMain"), MAY_MANAGE)).to_have_count(1)
    expect(page.get_by_role("combobox", name="Identity", exact=True)).to_be_disabled()
