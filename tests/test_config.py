"""Configuration: environment first, then secrets.toml; secrets stay secret; demo mode."""

from __future__ import annotations

import pytest

from cmoc_core.config import ConfigError, load_settings, settings_from_mapping


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


def test_an_invalid_secrets_file_is_a_clear_error_without_its_text(tmp_path):
    path = write_secrets(tmp_path, "GITLAB_TOKEN = glpat-unquoted-secret\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == f"{path} is not valid TOML: Invalid value (at line 1, column 16)"
    assert isinstance(caught.value, ValueError)


def test_a_list_where_a_token_is_expected_names_the_setting_and_never_the_value(tmp_path):
    path = write_secrets(tmp_path, 'GITLAB_TOKEN = ["glpat-first-secret", "glpat-second"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == (f"GITLAB_TOKEN in {path}: should be text, not a list",)
    assert str(caught.value) == caught.value.problems[0]
    assert "glpat" not in str(caught.value) and "validation error" not in str(caught.value)


def test_a_table_named_like_a_setting_is_an_error_and_other_tables_are_left_alone(tmp_path):
    path = write_secrets(
        tmp_path,
        'GITLAB_TOKEN = "glpat-fine"\n'
        '[pagerduty_api_token]\ntoken = "pd-secret-in-a-table"\n'
        '[auth]\nclient_secret = "oidc-secret"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == (f"PAGERDUTY_API_TOKEN in {path}: should be text, not a table",)
    assert "secret" not in str(caught.value).replace(str(path), "")


def test_every_wrong_setting_is_one_line_in_the_order_of_the_settings(tmp_path):
    path = write_secrets(
        tmp_path,
        "ZENDESK_API_TOKEN = 123456\n"
        'SLACK_NOTIFIER_WEBHOOK_URLS = ["https://hooks.slack.com/services/T/B/x1y2z3", true]\n'
        "GITLAB_URL = 2026-01-01\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines() == [
        f"GITLAB_URL in {path}: should be text, not a date or time",
        f"SLACK_NOTIFIER_WEBHOOK_URLS in {path}: item 2 should be text, not true/false",
        f"ZENDESK_API_TOKEN in {path}: should be text, not a number",
    ]
    assert "123456" not in str(caught.value) and "x1y2z3" not in str(caught.value)


def test_a_list_in_the_secrets_file_is_a_comma_list(tmp_path):
    path = write_secrets(tmp_path, 'PAGERDUTY_CMOC_SERVICE_IDS = ["P1", "P2"]\n')
    assert load_settings(path).pagerduty_cmoc_service_ids == ["P1", "P2"]


def test_an_environment_value_wins_over_a_wrong_one_in_the_file(tmp_path, monkeypatch):
    path = write_secrets(tmp_path, "GITLAB_TOKEN = 42\n")
    monkeypatch.setenv("GITLAB_TOKEN", "from-env")
    assert load_settings(path).gitlab_token.get_secret_value() == "from-env"


def test_a_file_value_streamlit_copied_into_the_environment_is_checked_as_the_file_has_it(
    tmp_path, monkeypatch
):
    """Streamlit copies top-level secrets into the environment as text when it reads them."""
    path = write_secrets(tmp_path, "GITLAB_TOKEN = 987654321\n")
    monkeypatch.setenv("GITLAB_TOKEN", "987654321")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert "GITLAB_TOKEN" in str(error.value) and "987654321" not in str(error.value)


def test_an_unreadable_secrets_file_is_a_config_error(tmp_path):
    folder = tmp_path / "secrets.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="secrets.toml cannot be read: Is a directory"):
        load_settings(folder)


def test_settings_from_values_name_a_wrong_value_too():
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"STATUSIO_API_KEY": ["sio-secret"], "GITLAB_TOKEN": "fine"})
    assert caught.value.problems == ("STATUSIO_API_KEY: should be text, not a list",)


def test_secret_values_cover_each_webhook_its_path_and_zendesks_basic_header():
    hook = "https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnop"
    reminder = "https://hooks.slack.com/triggers/T0001/R0001/qrstuvwxyz123456"
    settings = settings_from_mapping(
        {
            "SLACK_NOTIFIER_WEBHOOK_URLS": hook,
            "CMOC_REMINDER_WEBHOOK_URL": reminder,
            "ZENDESK_EMAIL": "agent@example.com",
            "ZENDESK_API_TOKEN": "zd-token",
        }
    )
    assert settings.secret_values() == [
        "zd-token",
        "YWdlbnRAZXhhbXBsZS5jb20vdG9rZW46emQtdG9rZW4=",  # agent@example.com/token:zd-token
        hook,
        "T0001/B0001/abcdefghijklmnop",
        "abcdefghijklmnop",
        reminder,
        "T0001/R0001/qrstuvwxyz123456",
        "qrstuvwxyz123456",
    ]
    assert "qrstuvwxyz" not in repr(settings)


def test_the_password_in_a_database_url_is_a_secret_too():
    settings = settings_from_mapping(
        {"CMOC_DATABASE_URL": "postgresql+psycopg://cmoc:pa%40ss-word@db.example:5432/cmoc"}
    )
    assert settings.secret_values() == ["pa%40ss-word", "pa@ss-word"]
    assert settings_from_mapping({}).secret_values() == []
