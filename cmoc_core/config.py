"""Settings from environment variables, then `.streamlit/secrets.toml` (same names)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRETS_PATH = Path(".streamlit/secrets.toml")

CommaList = Annotated[list[str], NoDecode]


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

    @field_validator(
        "pagerduty_cmoc_service_ids",
        "pagerduty_cmoc_schedule_ids",
        "pagerduty_shadow_schedule_ids",
        "slack_notifier_webhook_urls",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
        """The plain values of every secret, for scrubbing them out of any text."""
        secrets = [
            self.pagerduty_api_token,
            self.statusio_api_id,
            self.statusio_api_key,
            self.gitlab_token,
            self.zendesk_api_token,
            *self.slack_notifier_webhook_urls,
        ]
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


def read_secrets_file(path: Path = SECRETS_PATH) -> dict[str, Any]:
    """The top-level values of a secrets.toml file, or nothing when it is absent."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    return {k.lower(): v for k, v in data.items() if not isinstance(v, dict)}


def load_settings(secrets_path: Path = SECRETS_PATH, **overrides: Any) -> Settings:
    """Settings from overrides, then environment variables, then the secrets file."""
    file_values = read_secrets_file(secrets_path)
    env_settings = Settings(**overrides)
    explicit = env_settings.model_fields_set
    merged = {
        k: v for k, v in file_values.items() if k in Settings.model_fields and k not in explicit
    }
    if not merged:
        return env_settings
    return Settings(**{**merged, **{k: getattr(env_settings, k) for k in explicit}})


def settings_from_mapping(values: dict[str, str]) -> Settings:
    """Settings from configuration names and values only, ignoring the environment and files."""
    return Settings.model_validate({k.lower(): v for k, v in values.items()})
