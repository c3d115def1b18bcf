"""Configuration: environment first, then secrets.toml; secrets stay secret; demo mode."""

from __future__ import annotations

from cmoc_core.config import load_settings, settings_from_mapping


def write_secrets(tmp_path, text: str):
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return path


def test_nothing_configured_is_demo_mode(tmp_path):
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.demo_mode
    assert settings.cmoc_database_url == "sqlite:///data/cmoc.db"
    assert settings.gitlab_production_project == "gitlab-com/gl-infra/production"


def test_environment_wins_over_the_secrets_file(tmp_path, monkeypatch):
    path = write_secrets(
        tmp_path, 'GITLAB_TOKEN = "from-file"\nGITLAB_URL = "https://file.example"\n'
    )
    monkeypatch.setenv("GITLAB_URL", "https://env.example")
    settings = load_settings(path)
    assert settings.gitlab_url == "https://env.example"
    assert settings.gitlab_token.get_secret_value() == "from-file"
    assert not settings.demo_mode


def test_comma_lists_and_blank_values(tmp_path, monkeypatch):
    path = write_secrets(
        tmp_path, 'PAGERDUTY_CMOC_SERVICE_IDS = "P1, P2,,"\nGITLAB_PRODUCTION_PROJECT = ""\n'
    )
    settings = load_settings(path)
    assert settings.pagerduty_cmoc_service_ids == ["P1", "P2"]
    assert settings.gitlab_production_project == "gitlab-com/gl-infra/production"


def test_secrets_never_show_in_the_settings_text():
    settings = settings_from_mapping(
        {"PAGERDUTY_API_TOKEN": "pd-very-secret", "ZENDESK_API_TOKEN": "zd-secret"}
    )
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    assert "pd-very-secret" not in shown and "zd-secret" not in shown
    assert set(settings.secret_values()) == {"pd-very-secret", "zd-secret"}


def test_statusio_needs_id_key_and_page_to_be_configured():
    partial = settings_from_mapping({"STATUSIO_API_ID": "a", "STATUSIO_API_KEY": "b"})
    assert not partial.statusio_configured and partial.demo_mode
    full = settings_from_mapping(
        {"STATUSIO_API_ID": "a", "STATUSIO_API_KEY": "b", "STATUSIO_STATUSPAGE_ID": "c"}
    )
    assert full.statusio_configured and not full.demo_mode


def test_an_invalid_secrets_file_is_a_clear_error(tmp_path):
    path = write_secrets(tmp_path, "GITLAB_TOKEN = \n")
    try:
        load_settings(path)
    except ValueError as exc:
        assert "not valid TOML" in str(exc)
    else:
        raise AssertionError("an invalid file must not be ignored")
