"""Sign-in: the `[auth]` section as Streamlit's `st.login` reads it, and who may reach the app."""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cmoc_core.config import SECRETS_PATH
from cmoc_core.redaction import redact

SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
# Keys whose values are secrets: never in a message, even when a library quotes them.
SECRET_KEYS = frozenset({"cookie_secret", "client_secret", "client_id"})
CALLBACK_PATH = "/oauth2callback"
# A table inside [auth] that holds the unnamed provider's extra parameters, not a provider.
UNNAMED_PROVIDER_TABLES = frozenset({"client_kwargs"})
TOKEN_KINDS = frozenset({"id", "access"})
LOOPBACK_NAMES = frozenset({"localhost"})


class AuthConfigError(ValueError):
    """The `[auth]` section cannot work: one line saying what to fix, never a value."""


class Access(Enum):
    """Who may use the app, from the sign-in set-up, the services and the listening address."""

    SIGN_IN = "every page needs a signed-in person"
    DEMO = "the sandbox serves everyone and nobody signs in"
    CONFIGURED_USER = "served on this machine only, every action taken as the configured user"
    CLOSED = "real services reachable by anyone who reaches the port: nothing is served"


@dataclass(frozen=True)
class AuthConfig:
    """A checked `[auth]` section: the providers people sign in with."""

    redirect_uri: str
    # The provider of `[auth]` itself, used by `st.login()` without a name.
    unnamed: bool
    # The `[auth.<name>]` providers, in the file's order, used by `st.login(name)`.
    named: tuple[str, ...]

    @property
    def logins(self) -> tuple[str | None, ...]:
        """What to pass to `st.login` for each provider: None for the unnamed one."""
        return ((None,) if self.unnamed else ()) + self.named


def read_auth_section(path: Path = SECRETS_PATH) -> Any | None:
    """The `[auth]` value of a secrets file, or None when the file or the section is absent."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says what and where (line, column), never the text found there.
        raise AuthConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise AuthConfigError(f"{path} cannot be read: {exc.strerror or 'unknown error'}") from None
    return data.get("auth")


def check_auth(section: Any, where: str = str(SECRETS_PATH)) -> AuthConfig:
    """The `[auth]` section checked as Streamlit documents it; AuthConfigError says what to fix."""
    if not isinstance(section, Mapping):
        raise AuthConfigError(
            f"Sign-in is not set up correctly in {where}: [auth] should be a table "
            "(a line `[auth]` followed by its settings)."
        )
    problems = _shared_problems(section)
    named = tuple(
        str(key)
        for key, value in section.items()
        if isinstance(value, Mapping) and key not in UNNAMED_PROVIDER_TABLES
    )
    unnamed = any(key in section for key in PROVIDER_KEYS) or not named
    if unnamed:
        problems += _provider_problems(section, "[auth]", only_provider=not named)
    for name in named:
        if "_" in name:
            problems.append(f"rename [auth.{name}] without `_`: Streamlit refuses such names")
        problems += _provider_problems(section[name], f"[auth.{name}]", only_provider=False)
    if problems:
        raise AuthConfigError(f"Sign-in is not set up correctly in {where}: {'; '.join(problems)}.")
    return AuthConfig(redirect_uri=str(section["redirect_uri"]), unnamed=unnamed, named=named)


def _shared_problems(section: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in SHARED_KEYS:
        problem = _text_problem(section, key, "[auth]")
        if problem:
            problems.append(problem)
    redirect = section.get("redirect_uri")
    if isinstance(redirect, str) and redirect.strip():
        if not _is_web_address(redirect):
            problems.append("redirect_uri in [auth] should start with http:// or https://")
        elif not urlsplit(redirect.strip()).path.endswith(CALLBACK_PATH):
            problems.append(
                f"redirect_uri in [auth] should be the app's address followed by {CALLBACK_PATH}"
            )
    expose = section.get("expose_tokens")
    if expose is not None:
        kinds = [expose] if isinstance(expose, str) else expose
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= TOKEN_KINDS:
            problems.append('expose_tokens in [auth] should be "id", "access" or both')
    return problems


def _provider_problems(table: Mapping[str, Any], name: str, *, only_provider: bool) -> list[str]:
    if only_provider and not any(key in table for key in PROVIDER_KEYS):
        return [
            "set client_id, client_secret and server_metadata_url in [auth], "
            "or in an [auth.<name>] table for each provider"
        ]
    problems = [p for key in PROVIDER_KEYS if (p := _text_problem(table, key, name))]
    metadata = table.get("server_metadata_url")
    if isinstance(metadata, str) and metadata.strip() and not _is_web_address(metadata):
        problems.append(f"server_metadata_url in {name} should start with http:// or https://")
    kwargs = table.get("client_kwargs")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        problems.append(f"client_kwargs in {name} should be a table")
    return problems


def _text_problem(table: Mapping[str, Any], key: str, name: str) -> str | None:
    """What is wrong with a setting that must be text that is not empty, without its value."""
    if key not in table:
        return f"set {key} in {name}"
    value = table[key]
    if not isinstance(value, str):
        return f"{key} in {name} should be text in quotes"
    if not value.strip():
        return f"{key} in {name} is empty"
    return None


def _is_web_address(value: str) -> bool:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def is_loopback(address: str | None) -> bool:
    """Whether Streamlit listens on this machine only (unset means on every interface)."""
    host = (address or "").strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access(*, auth: bool, demo: bool, address: str | None) -> Access:
    """Who may use the app: sign-in when set up, else the sandbox, else this machine only."""
    if auth:
        return Access.SIGN_IN
    if demo:
        return Access.DEMO
    return Access.CONFIGURED_USER if is_loopback(address) else Access.CLOSED


def login_failure(message: str, section: Any) -> str:
    """Streamlit's sign-in error as one line, without any secret value of the section."""
    line = " ".join(message.split()).replace("`", "")
    return redact(f"Sign-in could not start: {line}", _secret_values(section))


def _secret_values(section: Any) -> list[str]:
    if not isinstance(section, Mapping):
        return []
    values = []
    for key, value in section.items():
        if isinstance(value, Mapping):
            values += _secret_values(value)
        elif key in SECRET_KEYS and isinstance(value, str) and value.strip():
            values.append(value)
    return values
