"""The `[auth]` section checked as Streamlit's st.login reads it, and who may reach the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cmoc_core.authconfig import (
    Access,
    AuthConfigError,
    access,
    check_auth,
    is_loopback,
    login_failure,
    read_auth_section,
)

COOKIE = "cookie-6b1d0c4e9f2a7e3d"
CLIENT_ID = "client-id-93a7f1c2"
CLIENT_SECRET = "client-secret-5e8d2b7a41"
METADATA = "https://gitlab.com/.well-known/openid-configuration"
REDIRECT = "https://cockpit.example.com/oauth2callback"


def single(**changes: Any) -> dict[str, Any]:
    """A complete single-provider section, with some keys changed (None removes one)."""
    section: dict[str, Any] = {
        "redirect_uri": REDIRECT,
        "cookie_secret": COOKIE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": METADATA,
    }
    section.update(changes)
    return {k: v for k, v in section.items() if v is not None}


def named(**changes: Any) -> dict[str, Any]:
    """A complete section with one named provider `gitlab`, its keys changed (None removes one)."""
    provider: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": METADATA,
    }
    provider.update(changes)
    return {
        "redirect_uri": REDIRECT,
        "cookie_secret": COOKIE,
        "gitlab": {k: v for k, v in provider.items() if v is not None},
    }


def problem(section: Any) -> str:
    """The one line a section that cannot work gives."""
    with pytest.raises(AuthConfigError) as raised:
        check_auth(section)
    line = str(raised.value)
    assert "\n" not in line
    for secret in (COOKIE, CLIENT_ID, CLIENT_SECRET):
        assert secret not in line
    return line


def test_a_complete_single_provider_section_signs_in_without_a_provider_name():
    auth = check_auth(single())
    assert auth.logins == (None,)
    assert auth.redirect_uri == REDIRECT


def test_named_providers_sign_in_by_name_in_the_files_order():
    section = named()
    section["okta"] = dict(section["gitlab"])
    assert check_auth(section).logins == ("gitlab", "okta")


def test_the_unnamed_providers_client_kwargs_is_not_a_provider():
    section = single(client_kwargs={"scope": "openid profile email", "prompt": "login"})
    assert check_auth(section).logins == (None,)


def test_an_auth_value_that_is_not_a_table_says_so():
    assert "[auth] should be a table" in problem("https://example.com")


@pytest.mark.parametrize("key", ["redirect_uri", "cookie_secret"])
def test_a_missing_shared_setting_is_named(key):
    line = problem(single(**{key: None}))
    assert f"set {key} in [auth]" in line
    assert line.startswith("Sign-in is not set up correctly in .streamlit/secrets.toml: ")


@pytest.mark.parametrize("key", ["client_id", "client_secret", "server_metadata_url"])
def test_a_missing_provider_setting_is_named_with_its_table(key):
    assert f"set {key} in [auth]" in problem(single(**{key: None}))
    assert f"set {key} in [auth.gitlab]" in problem(named(**{key: None}))


def test_no_provider_at_all_says_both_ways_to_name_one():
    section = {"redirect_uri": REDIRECT, "cookie_secret": COOKIE}
    assert "set client_id, client_secret and server_metadata_url in [auth], or in an " in (
        problem(section)
    )


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_cookie_secret_is_refused(blank):
    assert "cookie_secret in [auth] is empty" in problem(single(cookie_secret=blank))


def test_an_empty_client_secret_is_refused():
    assert "client_secret in [auth.gitlab] is empty" in problem(named(client_secret=""))


def test_a_setting_that_is_not_text_says_to_quote_it():
    assert "cookie_secret in [auth] should be text in quotes" in problem(single(cookie_secret=42))


def test_a_redirect_uri_must_end_in_oauth2callback():
    line = problem(single(redirect_uri="https://cockpit.example.com/"))
    assert "redirect_uri in [auth] should be the app's address followed by /oauth2callback" in line


@pytest.mark.parametrize(
    "url", ["cockpit.example.com/oauth2callback", "ftp://example.com/oauth2callback", "http://"]
)
def test_a_redirect_uri_must_be_an_http_address(url):
    assert "redirect_uri in [auth] should start with http:// or https://" in problem(
        single(redirect_uri=url)
    )


def test_streamlits_port_placeholder_in_the_redirect_uri_is_accepted():
    assert check_auth(single(redirect_uri="http://localhost:{port}/oauth2callback")).unnamed


@pytest.mark.parametrize("url", ["gitlab.com/.well-known/openid-configuration", "file:///etc"])
def test_a_metadata_url_must_be_an_http_address(url):
    assert "server_metadata_url in [auth] should start with http:// or https://" in problem(
        single(server_metadata_url=url)
    )
    assert "server_metadata_url in [auth.gitlab] should start with http" in problem(
        named(server_metadata_url=url)
    )


def test_a_provider_name_with_an_underscore_is_refused_as_streamlit_does():
    section = named()
    section["my_idp"] = section.pop("gitlab")
    assert "rename [auth.my_idp] without `_`" in problem(section)


def test_expose_tokens_takes_only_id_and_access():
    assert check_auth(single(expose_tokens=["id", "access"])).unnamed
    assert check_auth(single(expose_tokens="id")).unnamed
    assert 'expose_tokens in [auth] should be "id", "access" or both' in problem(
        single(expose_tokens=["refresh"])
    )


def test_client_kwargs_must_be_a_table():
    assert "client_kwargs in [auth] should be a table" in problem(single(client_kwargs="login"))


def test_every_problem_is_in_the_one_line():
    line = problem({"cookie_secret": "", "gitlab": {"client_id": CLIENT_ID}})
    assert "set redirect_uri in [auth]" in line
    assert "cookie_secret in [auth] is empty" in line
    assert "set client_secret in [auth.gitlab]" in line
    assert "set server_metadata_url in [auth.gitlab]" in line


def test_no_value_of_a_section_appears_in_its_problem_line():
    # Secrets where a URL is expected: a message that quoted the value would show them.
    section = single(
        redirect_uri=f"{CLIENT_SECRET}/oauth2callback",
        server_metadata_url=f"gopher://{COOKIE}",
        cookie_secret=123456789,
    )
    line = problem(section)
    assert "123456789" not in line


def test_the_section_is_read_from_the_secrets_file(tmp_path: Path):
    path = tmp_path / "secrets.toml"
    path.write_text(
        'CMOC_DATABASE_URL = "sqlite:///x.db"\n\n[auth]\n'
        f'redirect_uri = "{REDIRECT}"\ncookie_secret = "{COOKIE}"\n\n[auth.gitlab]\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{METADATA}"\n'
    )
    assert check_auth(read_auth_section(path)).logins == ("gitlab",)


def test_a_secrets_file_without_auth_or_absent_has_no_section(tmp_path: Path):
    path = tmp_path / "secrets.toml"
    assert read_auth_section(path) is None
    path.write_text('PAGERDUTY_API_TOKEN = "x"\n')
    assert read_auth_section(path) is None


def test_a_secrets_file_that_is_not_toml_says_where_without_its_text(tmp_path: Path):
    path = tmp_path / "secrets.toml"
    path.write_text(f'[auth]\ncookie_secret = "{COOKIE}"\nclient_secret = {CLIENT_SECRET}\n')
    with pytest.raises(AuthConfigError) as raised:
        read_auth_section(path)
    line = str(raised.value)
    assert line.startswith(f"{path} is not valid TOML: ") and "line 3" in line
    assert CLIENT_SECRET not in line and COOKIE not in line


def test_streamlits_own_sign_in_error_becomes_one_line_without_secrets():
    message = (
        "Authentication credentials in `.streamlit/secrets.toml` for the\n"
        f"            default provider {CLIENT_SECRET} are missing the following keys: "
        f"['server_metadata_url'] ({COOKIE}). Please check your configuration."
    )
    line = login_failure(message, named())
    assert line.startswith("Sign-in could not start: Authentication credentials in .streamlit/")
    assert "\n" not in line and "  " not in line
    assert CLIENT_SECRET not in line and COOKIE not in line
    assert "['server_metadata_url']" in line


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "localhost", "::1", "[::1]", "LOCALHOST", "127.0.0.2"]
)
def test_loopback_addresses_reach_only_this_machine(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.10", "cockpit.example"])
def test_other_or_unset_addresses_are_not_loopback(address):
    assert not is_loopback(address)


def test_sign_in_is_needed_in_every_mode_once_set_up():
    for demo in (True, False):
        for address in (None, "127.0.0.1"):
            assert access(auth=True, demo=demo, address=address) is Access.SIGN_IN


def test_demo_mode_without_sign_in_serves_the_sandbox_anywhere():
    assert access(auth=False, demo=True, address=None) is Access.DEMO


def test_real_services_without_sign_in_are_served_on_loopback_only():
    assert access(auth=False, demo=False, address="127.0.0.1") is Access.CONFIGURED_USER
    assert access(auth=False, demo=False, address="0.0.0.0") is Access.CLOSED
    assert access(auth=False, demo=False, address=None) is Access.CLOSED
