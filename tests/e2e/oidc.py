"""A real OpenID Connect provider (oidc-provider-mock) on 127.0.0.1, and the app signing in with it.

The provider's authorization form asks for a subject (`sub`); the claims the app receives for a
subject are whatever was stored for it with `PUT /users/<sub>` before the form was sent.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningApp, started_app
from tests.support.postgres import free_port

CLIENT_ID = "cmoc-cockpit"
SIGN_IN_TEXT = "Sign in with your team's account to use it."
SIGN_IN_BUTTON = re.compile(r"^Sign in( with .+)?$")


@dataclass(frozen=True)
class Provider:
    """An OpenID provider serving on 127.0.0.1."""

    url: str

    @property
    def metadata_url(self) -> str:
        """The discovery document, as `server_metadata_url` names it."""
        return f"{self.url}/.well-known/openid-configuration"


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    """oidc-provider-mock on a free port of 127.0.0.1 in a thread, stopped afterwards."""
    import oidc_provider_mock
    import werkzeug.serving

    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def set_user(provider_url: str, sub: str, claims: dict[str, object]) -> None:
    """The claims the provider gives the person who signs in as `sub`."""
    response = httpx.put(f"{provider_url}/users/{sub}", json=claims, timeout=10)
    response.raise_for_status()


def write_auth_secrets(path: Path, provider: Provider, app_port: int) -> Path:
    """A secrets file with Streamlit's `[auth]` section for the provider and the app's port."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{secrets.token_urlsafe(24)}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )
    return path


@contextmanager
def app_with_sign_in(
    folder: Path,
    provider: Provider,
    settings: dict[str, str] | None = None,
    database_url: str | None = None,
) -> Iterator[RunningApp]:
    """`make run` with an `[auth]` section that signs in with `provider`."""
    # The redirect address and the auth cookie belong to the app's real port: chosen first.
    port = free_port()
    secrets_file = write_auth_secrets(folder / "secrets.toml", provider, port)
    with started_app(folder, settings, database_url, port=port, secrets=secrets_file) as app:
        yield app


def sign_in(page: Page, app_url: str, email: str, name: str) -> None:
    """Sign in to the app in `page` as the person with this e-mail and name."""
    page.goto(app_url)
    page.get_by_role("button", name=SIGN_IN_BUTTON).first.click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"), timeout=30_000)
    parts = urlsplit(page.url)
    set_user(f"{parts.scheme}://{parts.netloc}", email, {"email": email, "name": name})
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{app_url}/**", timeout=30_000)
    expect(page.get_by_test_id("stSidebar").get_by_text(name, exact=True)).to_be_visible(
        timeout=60_000
    )


def sign_out(page: Page) -> None:
    """Press "Sign out" and end the session at the provider, back to the app's sign-in page."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    end = page.get_by_role("button", name="End session")
    end.wait_for(timeout=30_000)
    end.click()
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible(timeout=60_000)
