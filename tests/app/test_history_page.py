"""Incident history page on the demo organisation."""

from __future__ import annotations

import json
import os
import re

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from cmoc_core.models import GitLabIssue, StatusPageIncident
from cmoc_core.storage import make_engine
from cmoc_core.ui.widgets import escape_markdown
from tests.app.conftest import table_with, texts


def open_history(app):
    app.run()
    app.switch_page("app_pages/history.py").run()
    assert not app.exception
    return app


def incident_count(at) -> int:
    caption = next(c for c in texts(at, "caption") if c.endswith("incidents, newest first"))
    return int(caption.split()[0])


def test_first_start_loads_the_demo_organisation_and_lists_its_incidents(app):
    open_history(app)
    assert not app.exception
    assert any("Demo mode" in info for info in texts(app, "alert") + [i.value for i in app.info])
    assert incident_count(app) >= 60
    table = table_with(app, "title", "state", "severity", "updates", "issue_url")
    assert len(table) == incident_count(app)


def test_choosing_an_incident_shows_its_messages_in_order_with_state_and_issue(app):
    open_history(app)
    app.selectbox(key="history_incident").select_index(5).run()
    assert not app.exception
    headers = [c for c in texts(app, "caption") if re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d UTC · ", c)]
    assert len(headers) >= 2
    stamps = [h.split(" UTC")[0] for h in headers]
    assert stamps == sorted(stamps, key=lambda s: (s[6:10], s[3:5], s[0:2], s[11:]))
    assert any(" · Investigating · " in h or " · Identified · " in h for h in headers)
    assert app.get("text")  # the message bodies, shown as plain text
    assert any("Production issue" in m for m in texts(app, "markdown") + texts(app, "caption"))


def test_state_filter_shows_only_the_active_incidents(app):
    open_history(app)
    app.selectbox(key="history_state").select("active").run()
    table = table_with(app, "title", "state")
    assert len(table) == 2
    assert set(table["state"]) <= {"Investigating", "Identified", "Monitoring"}


def test_a_search_with_no_match_says_so(app):
    open_history(app)
    app.text_input(key="history_search").input("no incident is called this").run()
    assert not app.exception
    assert any("No status-page incidents match" in i.value for i in app.info)


def incident_ids(where) -> list[str]:
    query = (
        select(StatusPageIncident.id).where(where).order_by(col(StatusPageIncident.datetime_open))
    )
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        return list(session.exec(query))


def test_a_deep_link_opens_the_incident_with_its_timeline_and_flags(app):
    open_history(app)  # loads the demo organisation
    unlinked = incident_ids(col(StatusPageIncident.production_issue_iid).is_(None))[0]  # the oldest
    linked_app = AppTest.from_file(app._script_path, default_timeout=60)
    linked_app.query_params["incident"] = unlinked
    open_history(linked_app)
    assert linked_app.query_params["incident"] in (unlinked, [unlinked])
    assert linked_app.selectbox(key="history_incident").index != 0
    warnings = " ".join(w.value for w in linked_app.warning).replace("\\", "")
    assert "No production issue link in the messages" in warnings
    chart = next(c for c in linked_app.get("plotly_chart") if "Timeline" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    updates = next(t for t in spec["data"] if t.get("name") == "update")
    assert len(updates["x"]) >= 2


def test_overdue_gaps_are_drawn_in_red_on_the_timeline(app):
    open_history(app)
    found = False
    for index in range(len(app.selectbox(key="history_incident").options)):
        app.selectbox(key="history_incident").select_index(index).run()
        chart = next(c for c in app.get("plotly_chart") if "Timeline" in c.proto.spec)
        traces = json.loads(chart.proto.spec)["data"]
        if any(t.get("name") == "overdue" for t in traces):
            found = True
            break
    assert found, "the demo organisation has late updates; one must show in red"


HOSTILE = (
    "**b** <img src=http://127.0.0.1:9/x.png> [x](javascript:alert(1)) http://127.0.0.1:9/bare"
)


def hostile_issue(incident_id: str, web_url: str, name: str) -> GitLabIssue:
    """The incident (named `name`) and its production issue, given a hostile title and `web_url`."""
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        incident = session.get(StatusPageIncident, incident_id)
        assert incident is not None
        incident.name = name
        issue = session.exec(
            select(GitLabIssue).where(
                GitLabIssue.iid == incident.production_issue_iid,
                GitLabIssue.project_path == "gitlab-com/gl-infra/production",
            )
        ).one()
        issue.title, issue.web_url = f"Issue {HOSTILE}", web_url
        session.add_all([incident, issue])
        session.commit()
        session.refresh(issue)
        return issue


def open_incident(app, incident_id: str) -> AppTest:
    linked = AppTest.from_file(app._script_path, default_timeout=60)
    linked.query_params["incident"] = incident_id
    return open_history(linked)


def test_an_issue_address_that_is_not_gitlab_is_shown_as_plain_text(app):
    open_history(app)
    first, second = incident_ids(col(StatusPageIncident.production_issue_iid).is_not(None))[:2]
    bad = hostile_issue(first, "javascript:alert(1)", f"First {HOSTILE}")
    good_url = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/9"
    good = hostile_issue(second, good_url, f"Second {HOSTILE}")

    shown = open_incident(app, first)
    assert shown.subheader[0].value == escape_markdown(f"First {HOSTILE}")
    line = next(m for m in texts(shown, "markdown") if m.startswith("Production issue: "))
    assert line == f"Production issue: \\#{bad.iid} — {escape_markdown(f'Issue {HOSTILE}')}"
    assert any(
        c.startswith("Its address does not lead to GitLab")
        and c.endswith("javascript\\:alert\\(1\\)")
        for c in texts(shown, "caption")
    )
    table = table_with(shown, "title", "issue_url")
    assert table.loc[table["title"] == f"First {HOSTILE}", "issue_url"].isna().all()
    assert list(table.loc[table["title"] == f"Second {HOSTILE}", "issue_url"]) == [good_url]

    shown = open_incident(app, second)
    line = next(m for m in texts(shown, "markdown") if m.startswith("Production issue: "))
    assert line.startswith(f"Production issue: [\\#{good.iid}](<{good.web_url}>) — ")


def test_the_resolving_message_reads_resolved_not_monitoring(app):
    open_history(app)
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        resolved = session.exec(
            select(StatusPageIncident.name).where(col(StatusPageIncident.resolved).is_(True))
        ).first()
    box = app.selectbox(key="history_incident")
    box.set_value(next(o for o in box.options if resolved and resolved in o)).run()
    headers = [c for c in texts(app, "caption") if re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d UTC · ", c)]
    assert " · Resolved · " in headers[-1]
    assert not any(" · Resolved · " in h for h in headers[:-1])


# Links into the history ---------------------------------------------------------------------

NOT_IN_HISTORY = (
    "No incident with that link is in the history: it may be older than the history kept, "
    "or the link is mistyped. Choose one below."
)


def linked_to(app, **params: str) -> AppTest:
    """The history page opened from an address carrying `params` (`incident=`, `issue=`)."""
    linked = AppTest.from_file(app._script_path, default_timeout=60)
    for name, value in params.items():
        linked.query_params[name] = value
    return open_history(linked)


def address(at: AppTest) -> dict[str, str]:
    """The page's query parameters as the browser's address bar holds them."""
    return {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}


def shown_title(at: AppTest) -> str | None:
    """The incident the page shows, by its heading; None when it shows none."""
    return at.subheader[0].value if at.subheader else None


def stored_incidents() -> list[StatusPageIncident]:
    """The demo incidents, oldest first."""
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"])) as session:
        query = select(StatusPageIncident).order_by(col(StatusPageIncident.datetime_open))
        return list(session.exec(query))


def test_an_unknown_incident_link_says_so_and_shows_no_other_incident_until_one_is_chosen(app):
    shown = linked_to(app, incident="doesnotexist")
    assert [w.value for w in shown.warning] == [NOT_IN_HISTORY]
    assert shown.selectbox(key="history_incident").value is None
    assert shown_title(shown) is None
    assert "**Messages**" not in texts(shown, "markdown")
    assert address(shown) == {"incident": "doesnotexist"}
    assert incident_count(shown) >= 60  # the list is there to choose from

    shown.text_input(key="history_search").input("Canary").run()  # filtering is no choice
    assert shown_title(shown) is None and address(shown) == {"incident": "doesnotexist"}

    box = shown.selectbox(key="history_incident")
    box.select_index(1).run()
    picked = shown.subheader[0].value
    assert NOT_IN_HISTORY not in [w.value for w in shown.warning]
    assert address(shown).keys() == {"incident"}

    reopened = linked_to(app, **address(shown))  # the address is a link to exactly that one
    assert shown_title(reopened) == picked
    assert NOT_IN_HISTORY not in [w.value for w in reopened.warning]


def test_a_production_issue_number_opens_its_incident_and_the_address_stays(app):
    incident = next(i for i in reversed(stored_incidents()) if i.production_issue_iid)
    iid = incident.production_issue_iid
    for asked in (str(iid), f"#{iid}"):
        shown = linked_to(app, issue=asked)
        assert shown_title(shown) == escape_markdown(incident.name)
        assert f"Opened from production issue #{iid}." in texts(shown, "caption")
        assert any(m.startswith(f"Production issue: [\\#{iid}]") for m in texts(shown, "markdown"))
        assert not [w for w in shown.warning if "in the history" in w.value]
        assert address(shown) == {"issue": asked}

    older = next(i for i in stored_incidents() if i.production_issue_iid not in (None, iid))
    box = shown.selectbox(key="history_incident")
    label = f"{older.datetime_open:%d-%m-%Y %H:%M} — {older.name}"
    box.set_value(next(o for o in box.options if o.startswith(label))).run()
    assert shown_title(shown) == escape_markdown(older.name)
    assert address(shown) == {"incident": older.id}
    assert not any(c.startswith("Opened from production issue") for c in texts(shown, "caption"))


def test_an_issue_several_incidents_link_lists_them_and_opens_the_most_recent(app):
    incidents = [i for i in stored_incidents() if i.production_issue_iid][-3:]
    iid = incidents[-1].production_issue_iid
    with Session(make_engine(os.environ["CMOC_DATABASE_URL"]), expire_on_commit=False) as session:
        for incident in incidents[:2]:  # their updates now name the newest one's issue
            incident.production_issue_iid = iid
            session.add(incident)
        session.commit()

    shown = linked_to(app, issue=str(iid))
    assert (
        f"3 incidents are linked to production issue #{iid}. "
        "The most recent one is shown; choose another below."
    ) in [i.value for i in shown.info]
    listing = next(m for m in texts(shown, "markdown") if m.startswith("- "))
    assert len(listing.splitlines()) == 3
    for line, incident in zip(listing.splitlines(), reversed(incidents), strict=True):
        assert line.startswith(f"- {incident.datetime_open:%d-%m-%Y %H:%M} UTC — ")
        assert escape_markdown(incident.name) in line
    assert shown_title(shown) == escape_markdown(incidents[-1].name)
    assert address(shown) == {"issue": str(iid)}


def test_an_issue_no_incident_links_says_so_and_shows_none(app):
    shown = linked_to(app, issue="1")
    assert [w.value for w in shown.warning] == [
        "No incident linked to production issue #1 is in the history: it may be older than the "
        "history kept, or the number is mistyped. Choose one below."
    ]
    assert shown_title(shown) is None
    assert address(shown) == {"issue": "1"}


def test_an_issue_link_without_a_number_says_what_to_write(app):
    shown = linked_to(app, issue="yesterday's outage")
    assert [w.value for w in shown.warning] == [
        "That link does not name a production issue number: a link to issue 17999 ends in "
        "?issue=17999. Choose an incident below."
    ]
    assert shown_title(shown) is None


def test_a_linked_incident_the_filters_leave_out_stays_open_and_says_why(app):
    oldest = stored_incidents()[0]
    shown = linked_to(app, incident=oldest.id)
    shown.text_input(key="history_search").input("no incident is called this").run()
    assert not shown.exception
    assert any("No status-page incidents match" in i.value for i in shown.info)
    assert shown_title(shown) == escape_markdown(oldest.name)
    assert "This incident is outside the period or filters above." in texts(shown, "caption")
    assert address(shown) == {"incident": oldest.id}


def test_an_empty_list_and_a_vanished_incident_say_what_to_do_next(app, monkeypatch):
    open_history(app)
    app.text_input(key="history_search").input("no incident is called this").run()
    said = " ".join(i.value for i in app.info).replace("\\", "")
    assert "No status-page incidents match these filters: widen the period" in said

    from cmoc_core import history

    app.text_input(key="history_search").input("").run()
    monkeypatch.setattr(history, "incident_record", lambda **_: None)
    app.selectbox(key="history_incident").select_index(1).run()
    assert not app.exception
    said = " ".join(w.value for w in app.warning).replace("\\", "")
    assert "This incident is no longer stored: choose another one" in said
