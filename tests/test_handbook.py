"""The handbook's formats and templates, exactly as the CMOC page writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmoc_core import handbook


def test_zendesk_tag_of_a_production_issue():
    assert handbook.zendesk_tag(iid=12345) == "gitlab-com_gl-infra_production_issues_12345"


def test_zendesk_tag_of_a_confidential_incident_is_the_manual_one():
    assert handbook.zendesk_tag(iid=12345, confidential_number=77) == "com_incident_77"


def test_zendesk_tag_needs_an_issue_number():
    with pytest.raises(ValueError, match="production issue number"):
        handbook.zendesk_tag(iid=None)


@pytest.mark.parametrize(
    ("age", "hours"),
    [
        (timedelta(minutes=5), 4),
        (timedelta(hours=4), 4),
        (timedelta(hours=4, seconds=1), 5),
        (timedelta(hours=6, minutes=30), 7),
        (timedelta(days=2), 48),
    ],
)
def test_zendesk_query_covers_the_incidents_age_and_never_less_than_four_hours(age, hours):
    assert handbook.zendesk_query(age) == (
        f"created>{hours}hours order_by:created_at sort:desc group:none "
        'group:"support" -form:billing -form:security'
    )


def test_monitoring_template_names_the_monitoring_duration():
    text = handbook.monitoring_update(45)
    assert "If there are no recurrences in the next 45 minutes" in text
    assert text.startswith("While all systems are online and fully operational")
    assert "in the next 30 minutes" in handbook.monitoring_update()


def test_resolved_template_carries_the_issue_link():
    url = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/1"
    assert handbook.resolved_update(url).endswith(url)


def test_generic_templates_take_the_issue_link():
    url = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/1"
    filled = [t.format(issue_url=url) for t in handbook.GENERIC_UPDATES]
    assert (
        filled[0]
        == f"We're seeing elevated error rates on GitLab.com, investigation is underway in: {url}"
    )
    assert all(url in t for t in filled)


def test_incident_notifier_text_has_the_five_fields_in_order():
    text = handbook.notifier_text(
        summary="Errors on GitLab.com",
        severity=2,
        issue_url="https://x/-/issues/1",
        channel="#incident-1",
        status_page_url="https://status.gitlab.com/pages/incident/a/b",
    )
    assert text.splitlines() == [
        "*Summary*: Errors on GitLab.com",
        "*Severity*: S2",
        "*Production issue*: https://x/-/issues/1",
        "*Incident Slack channel*: #incident-1",
        "*Status page*: https://status.gitlab.com/pages/incident/a/b",
    ]


def test_an_unknown_severity_is_said_so_in_the_notifier():
    text = handbook.notifier_text(
        summary="s", severity=None, issue_url="u", channel="c", status_page_url="p"
    )
    assert "*Severity*: unknown" in text


def test_steps_cover_the_four_stages_in_the_handbooks_order():
    stages = [s.stage for s in handbook.STEPS]
    assert stages == sorted(stages, key=list(handbook.Stage).index)
    engage = [s.key for s in handbook.STEPS if s.stage == handbook.Stage.ENGAGE]
    assert engage == [
        "acknowledge_page",
        "join_channel",
        "create_incident",
        "notify_stakeholders",
        "label_issue",
        "resolve_page",
    ]


def test_all_broadcast_channels_are_known_to_statusio():
    assert handbook.BROADCAST_CHANNELS == (
        "notify_email",
        "notify_sms",
        "notify_webhook",
        "social",
        "irc",
        "hipchat",
        "msteams",
        "slack",
    )


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("CMOC - AMER", "AMER"),
        ("cmoc emea rotation", "EMEA"),
        ("Support CMOC (APAC)", "APAC"),
        ("CMOC Shadow", None),
        ("CMOC AMER/EMEA overlap", None),
        ("CAMERA team", None),
        (None, None),
    ],
)
def test_a_schedule_name_gives_its_region_only_when_it_names_exactly_one(name, region):
    assert handbook.region_in(name) == region
