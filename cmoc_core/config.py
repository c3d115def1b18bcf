"""Settings from environment variables, then `.streamlit/secrets.toml` (same names)."""

from __future__ import annotations

import base64
import os
import re
import tomllib
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cmoc_core.redaction import redact, webhook_parts

SECRETS_PATH = Path(".streamlit/secrets.toml")

CommaList = Annotated[list[str], NoDecode]

# What a setting should be, by pydantic's error type; any other error keeps pydantic's words.
EXPECTED = {
    "string_type": "should be text",
    "list_type": "should be a comma-separated list",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "sync_every_format": "should be a duration such as 30s, 5m or 1h, or 0 to turn it off",
    "sync_every_too_short": "should be 10s or more, or 0 to turn it off",
}


# CMOC_SYNC_EVERY: `30s`, `5m`, `1h` (or `0`, off); shorter than this would hammer the services.
_DURATION = re.compile(r"(?P<amount>\d+)\s*(?P<unit>s|m|h)", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
SHORTEST_SYNC_EVERY = timedelta(seconds=10)


def sync_interval(value: Any) -> timedelta:
    """CMOC_SYNC_EVERY as a span; zero turns the background sync off."""
    plain = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if plain else ""
    found = _DURATION.fullmatch(text)
    if isinstance(value, timedelta) and value >= timedelta(0):
        interval = value
    elif text == "0":
        return timedelta(0)
    elif found:
        interval = timedelta(seconds=int(found["amount"]) * _UNIT_SECONDS[found["unit"].lower()])
    else:
        # The words are EXPECTED's: a message quoting the value could not be redacted of it.
        raise PydanticCustomError("sync_every_format", "not a duration")
    if timedelta(0) < interval < SHORTEST_SYNC_EVERY:
        raise PydanticCustomError("sync_every_too_short", "too short")
    return interval


class ConfigError(ValueError):
    """The configuration is not valid: one line per problem, naming the setting, never its value."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        # A str is the joined message again, as when the error is copied or unpickled.
        lines = problems.splitlines() if isinstance(problems, str) else problems
        self.problems = tuple(lines) or ("the configuration is not valid",)
        super().__init__("\n".join(self.problems))


# How the app names the n-th Incident Notifier webhook of SLACK_NOTIFIER_WEBHOOK_URLS inside itself.
WEBHOOK_KEY = "webhook {n}"


class WebhookUrl(SecretStr):
    """A webhook's URL (a secret) and the name of the destination it posts to, if given."""

    def __init__(self, secret_value: str, name: str = "") -> None:
        super().__init__(secret_value)
        self.name = name


def named_webhook(url: SecretStr) -> WebhookUrl:
    """A webhook from a setting's item: `https://hooks.slack.com/…#developer-relations`."""
    # A URL's `#fragment` never reaches Slack: here it names, for people, the channel the
    # webhook posts to, and the URL kept (the secret) is the part before it.
    value = url.get_secret_value()
    if isinstance(url, WebhookUrl) and "#" not in value:
        return url
    address, _, fragment = value.partition("#")
    name = unquote(fragment).strip()
    if name and not name.startswith("#") and not any(c.isspace() for c in name):
        name = f"#{name}"
    return WebhookUrl(address.strip(), name)


class Settings(BaseSettings):
    """Every configuration name of the product specification."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    cmoc_database_url: str = "sqlite:///data/cmoc.db"

    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_api_token: SecretStr | None = None
    pagerduty_from_email: str | None = None
    pagerduty_cmoc_service_ids: CommaList = []
    pagerduty_cmoc_schedule_ids: CommaList = []
    pagerduty_shadow_schedule_ids: CommaList = []

    statusio_api_url: str = "https://api.status.io/v2"
    statusio_api_id: SecretStr | None = None
    statusio_api_key: SecretStr | None = None
    statusio_statuspage_id: str | None = None
    statusio_practice_statuspage_id: str | None = None

    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = None
    gitlab_production_project: str = "gitlab-com/gl-infra/production"
    gitlab_handover_project: str = "gitlab-com/support/dotcom/cmoc-handover"
    gitlab_contact_request_project: str | None = None
    gitlab_contact_request_label: str = "Contact Request"
    gitlab_training_project: str = "gitlab-com/support/support-team-meta"
    gitlab_practice_event_label: str = "CMOC Practice Event"

    slack_notifier_webhook_urls: Annotated[list[SecretStr], NoDecode] = []

    zendesk_url: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: SecretStr | None = None

    cmoc_reminder_webhook_url: SecretStr | None = None
    cmoc_first_update_target_minutes: int = Field(default=30, gt=0)
    cmoc_sync_every: Annotated[timedelta, NoDecode] = timedelta(minutes=5)
    cmoc_publishers: CommaList = []
    cmoc_managers: CommaList = []

    @field_validator(
        "pagerduty_cmoc_service_ids",
        "pagerduty_cmoc_schedule_ids",
        "pagerduty_shadow_schedule_ids",
        "slack_notifier_webhook_urls",
        "cmoc_publishers",
        "cmoc_managers",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cmoc_sync_every", mode="before")
    @classmethod
    def _sync_every(cls, value: Any) -> timedelta:
        return sync_interval(value)

    @field_validator("slack_notifier_webhook_urls", mode="after")
    @classmethod
    def _webhook_names(cls, urls: list[SecretStr]) -> list[SecretStr]:
        return [named_webhook(url) for url in urls]

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {k: v for k, v in values.items() if not (isinstance(v, str) and not v.strip())}

    @property
    def pagerduty_configured(self) -> bool:
        """PagerDuty has a token."""
        return self.pagerduty_api_token is not None

    @property
    def statusio_configured(self) -> bool:
        """Status.io has an API id, key and status page id."""
        return bool(self.statusio_api_id and self.statusio_api_key and self.statusio_statuspage_id)

    @property
    def gitlab_configured(self) -> bool:
        """GitLab has a token."""
        return self.gitlab_token is not None

    @property
    def actor(self) -> str:
        """Who the audit log names for actions taken from this app: the configured user."""
        # Until people sign in, the PagerDuty From address is the one user the app knows.
        return self.pagerduty_from_email or "CMOC"

    @property
    def demo_mode(self) -> bool:
        """No source is configured: the built-in sandbox stands in for all of them."""
        return not (self.pagerduty_configured or self.statusio_configured or self.gitlab_configured)

    def secret_values(self) -> list[str]:
        """Every secret's plain value and the parts of it a service may show, for redaction."""
        tokens = [
            self.pagerduty_api_token,
            self.statusio_api_id,
            self.statusio_api_key,
            self.gitlab_token,
            self.zendesk_api_token,
        ]
        values = [s.get_secret_value() for s in tokens if s is not None]
        zendesk = self.zendesk_api_token
        if zendesk is not None and self.zendesk_email:
            # Zendesk's HTTP Basic credentials, as the Authorization header carries them.
            basic = f"{self.zendesk_email}/token:{zendesk.get_secret_value()}"
            values.append(base64.b64encode(basic.encode()).decode())
        webhooks = [*self.slack_notifier_webhook_urls, self.cmoc_reminder_webhook_url]
        for url in webhooks:
            if url is not None:
                values += webhook_parts(url.get_secret_value())
        # A shared PostgreSQL database's URL may carry its password.
        password = urlsplit(self.cmoc_database_url).password
        if password:
            values += [password, unquote(password)]
        return list(dict.fromkeys(v for v in values if v))


def read_secrets_file(path: Path = SECRETS_PATH) -> dict[str, Any]:
    """The top-level values of a secrets.toml file, or nothing when it is absent.

    Tables are left out (the `[auth]` section is Streamlit's), unless one is named like a setting:
    that is a mistake the validation reports.
    """
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says what and where (line, column), never the text found there.
        raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"{path} cannot be read: {reason}"]) from None
    return {
        k.lower(): v
        for k, v in data.items()
        if not isinstance(v, dict) or k.lower() in Settings.model_fields
    }


def load_settings(secrets_path: Path = SECRETS_PATH, **overrides: Any) -> Settings:
    """Settings from overrides, then environment variables, then the secrets file.

    Raises ConfigError naming each setting that is wrong and where it came from, never its value.
    """
    file_values = read_secrets_file(secrets_path)
    try:
        env_settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None
    environment = {name.lower(): value for name, value in os.environ.items()}
    # Once Streamlit reads its secrets it copies the file's top-level values into the
    # environment as text: such a value is the file's, and is checked as the file writes it.
    copied = {k for k, v in file_values.items() if environment.get(k) == str(v)}
    explicit = env_settings.model_fields_set - (copied - set(overrides))
    merged = {
        k: v for k, v in file_values.items() if k in Settings.model_fields and k not in explicit
    }
    if not merged:
        return env_settings
    try:
        return Settings(**{**merged, **{k: getattr(env_settings, k) for k in explicit}})
    except ValidationError as exc:
        raise ConfigError(_problems(exc, from_file=set(merged), path=secrets_path)) from None


def settings_from_mapping(values: dict[str, str]) -> Settings:
    """Settings from configuration names and values only, ignoring the environment and files."""
    try:
        given: dict[str, Any] = {k.lower(): v for k, v in values.items()}
        return _GivenSettings(**given)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


class _GivenSettings(Settings):
    """Settings read from the values given alone: never the environment or a file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _problems(
    exc: ValidationError, *, from_file: set[str] | None = None, path: Path | None = None
) -> list[str]:
    """One line per error: the setting's name, where it came from and what is wrong with it.

    Built from the parts of each error, never from str(exc), which shows the value.
    """
    lines = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = error.get("loc") or ()
        field = loc[0] if loc and isinstance(loc[0], str) else None
        name = field.upper() if field else "configuration"
        where = f" in {path}" if field and path and from_file and field in from_file else ""
        item = f" item {loc[1] + 1}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        value = error.get("input")
        expected = EXPECTED.get(error.get("type", ""))
        if expected:
            wrong = f"{expected}, not {_kind(value)}"
        else:
            wrong = _without(str(error.get("msg") or "is not valid"), value)
        lines.append(f"{name}{where}:{item} {wrong}")
    return list(dict.fromkeys(lines))


def _kind(value: Any) -> str:
    """What a value is, in the words of a TOML file, without saying what it holds."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple | set):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date or time"
    return f"a {type(value).__name__}"


def _without(message: str, value: Any) -> str:
    """`message` with any text held in `value` taken out, in case the message quotes it."""
    held = list(value.values()) if isinstance(value, dict) else value
    parts = held if isinstance(held, list | tuple | set) else [held]
    return redact(message, [p for p in parts if isinstance(p, str) and p.strip()])
