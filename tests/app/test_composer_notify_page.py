"""The composer's side tabs in words: the outcomes, the audit log and the Incident Notifier."""

from __future__ import annotations

import os
import re
from datetime import timedelta

from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from cmoc_core import composer
from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import PagerDutyIncident
from cmoc_core.storage import make_engine
from cmoc_core.ui import deps
from tests.app.conftest import open_tab, table_with, texts
from tests.app.test_composer_page import ISSUE, T0, at_time, sandbox_of, working_id

NEW = "➕ Start a new incident"
MOMENT = r"\d\d-\d\d-\d{4} \d\d:\d\d UTC"


def ringing_page() -> PagerDutyIncident:
    """A synced CMOC page nobody has acknowledged yet."""
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        return next(p for p in composer.open_pages(session=session) if p.acknowledged_at is None)


def start(app: AppTest, *, page: PagerDutyIncident | None = None) -> int:
    """Start an S2 incident at T0 with its Slack channel, from `page` if given."""
    at_time(app, T0)
    app.selectbox(key="composer_incident").set_value(NEW).run()
    app.text_input(key="composer_new_title").input("Elevated error rates on GitLab.com")
    app.text_input(key="composer_new_issue").input(ISSUE)
    app.selectbox(key="composer_new_severity").set_value(2)
    app.text_input(key="composer_new_channel").input("#incident-17999")
    if page is not None:
        app.selectbox(key="composer_new_page").set_value(page.id)
    next(b for b in app.button if b.label == "Start").click()
    at_time(app, T0)
    assert not app.exception
    return working_id()


def shown(app: AppTest, kind: str) -> str:
    """Every element of one kind as the reader sees it (Markdown escapes taken out)."""
    return " ".join(texts(app, kind)).replace("\\", "").replace("\u2060", "")


def slack_posts(app: AppTest) -> int:
    return len(sandbox_of(app).slack.posts)


def name_the_webhooks(app: AppTest) -> None:
    """Configure the demo's notifier webhooks with their channels' names, as a setting would."""
    sources = deps.sources_for(os.environ["CMOC_DATABASE_URL"])
    box = sources.sandbox
    named = ",".join(
        f"{url}#{channel.lstrip('#')}"
        for url, channel in zip(
            box.settings()["SLACK_NOTIFIER_WEBHOOK_URLS"].split(","),
            box.slack.hooks.values(),
            strict=True,
        )
    )
    sources.settings = settings_from_mapping(
        {**box.settings(), "SLACK_NOTIFIER_WEBHOOK_URLS": named}
    )
    sources.clients.slack = build_clients(sources.settings, transport=box.transport).slack


def audit_text(app: AppTest):
    open_tab(app, "Audit log")
    table = table_with(app, "When", "Who", "What", "Where", "Result")
    return table, table.to_csv(index=False)


def test_acknowledging_the_page_reads_as_a_sentence_in_the_outcome_and_the_audit_log(app):
    at_time(app, T0)
    page = ringing_page()
    start(app, page=page)
    app.session_state["clock_now"] = T0 + timedelta(minutes=2)
    app.button(key="composer_step_acknowledge_page").click().run()
    assert not app.exception
    sentence = f"Acknowledged PagerDuty page #{page.incident_number}"
    assert sentence in shown(app, "success")
    assert page.id not in shown(app, "success")

    table, text = audit_text(app)
    row = table[table["What"] == sentence]
    assert len(row) == 1
    assert (row["Where"].iloc[0], row["Result"].iloc[0]) == ("PagerDuty", "Sent")
    assert re.fullmatch(MOMENT, row["When"].iloc[0])
    assert row["When"].iloc[0] == "22-11-2026 10:02 UTC"
    for internal in ("_incident", "_page", "notify_", "None", "{", page.id):
        assert internal not in text, internal
    assert list(table.columns) == ["When", "Who", "What", "Where", "Result"]


def test_the_notifier_names_its_channels_refuses_an_empty_one_and_says_when_it_already_went(
    app,
):
    at_time(app, T0)
    name_the_webhooks(app)
    incident_id = start(app)
    open_tab(app, "Notify stakeholders")
    button = app.button(key="composer_notify")
    assert button.label.replace("\\", "") == "Post to #developer-relations and #customer-success"

    app.text_input(key=f"composer_notify_channel_{incident_id}").input("").run()
    assert "Fill in the incident's Slack channel" in shown(app, "error")
    assert app.button(key="composer_notify").disabled  # nothing to click until it is filled
    assert slack_posts(app) == 0
    assert "Posted the Incident Notifier" not in shown(app, "success")

    app.text_input(key=f"composer_notify_channel_{incident_id}").input("#incident-17999").run()
    assert "Fill in the incident's Slack channel" not in shown(app, "error")
    app.session_state["clock_now"] = T0 + timedelta(minutes=5)
    app.button(key="composer_notify").click().run()
    assert not app.exception
    assert slack_posts(app) == 2
    posted = shown(app, "success")
    assert posted.count("Posted the Incident Notifier to ") == 2
    named = [
        f"Posted the Incident Notifier to #{c}" for c in ("developer-relations", "customer-success")
    ]
    assert all(words in posted for words in named) and "webhook" not in posted
    assert "Stakeholders were notified 22-11-2026 10:05 UTC." in shown(app, "caption")

    app.session_state["clock_now"] = T0 + timedelta(minutes=9)
    app.button(key="composer_notify").click().run()
    assert not app.exception
    assert slack_posts(app) == 2
    again = shown(app, "success") + shown(app, "info")
    said = re.findall(r"Already posted the Incident Notifier to (.+?) at (" + MOMENT + ")", again)
    assert len(said) == 2 and {when for _, when in said} == {"22-11-2026 10:05 UTC"}
    assert again.count(": not sent again") == 2

    _, text = audit_text(app)
    assert text.count("Posted the Incident Notifier to ") == 2
    assert all(words in text for words in named) and "webhook" not in text
    assert "notify_" not in text and "None" not in text and "{" not in text


def test_the_notifier_without_names_calls_each_webhook_by_what_its_address_tells(app):
    start(app)
    open_tab(app, "Notify stakeholders")
    label = app.button(key="composer_notify").label.replace("\\", "")
    hooks = list(sandbox_of(app).slack.hooks)
    tails = [path.split("/")[3][-4:] for path in hooks]
    assert label == (
        f"Post to Slack incoming webhook …{tails[0]} and Slack incoming webhook …{tails[1]}"
    )
    assert "(webhook" not in label and "channel(s)" not in label
    assert not any(path.split("/")[4] in label for path in hooks)  # the secret part
    app.button(key="composer_notify").click().run()
    posted = shown(app, "success")
    assert all(f"Notifier to Slack incoming webhook …{tail}" in posted for tail in tails)
    assert not any(path.split("/")[4] in posted for path in hooks)


def test_the_zendesk_tab_writes_the_incidents_start_as_the_page_does(app):
    start(app)
    open_tab(app, "Zendesk")
    assert "New tickets since the incident began (22-11-2026 10:00 UTC):" in shown(app, "caption")
