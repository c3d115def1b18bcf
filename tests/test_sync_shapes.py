"""Sync against the services' documented shapes, as the strict sandbox serves them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core import handover, linking
from cmoc_core.clients import build_clients
from cmoc_core.config import settings_from_mapping
from cmoc_core.models import (
    GitLabIssue,
    GitLabUser,
    Identity,
    IssueKind,
    OnCallEntry,
    PagerDutyIncident,
    StatusPageIncident,
    System,
)
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import generate, parse_time
from cmoc_core.sync import GITLAB_USER_REFRESHES_PER_RUN, SyncReport, run_sync


def sync(engine: Engine, sandbox: Sandbox, now: datetime, **kwargs) -> SyncReport:
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(
        settings, transport=sandbox.transport, sleep=lambda _s: None, statusio_min_interval=0
    )
    try:
        report = run_sync(engine=engine, settings=settings, clients=clients, now=now, **kwargs)
    finally:
        clients.close()
    assert report.ok, report.summary()
    return report


def person_of(session: Session, system: System, external_id: str) -> int | None:
    return session.exec(
        select(Identity.person_id).where(
            Identity.system == system, Identity.external_id == external_id
        )
    ).one()


def user_lookups(sandbox: Sandbox) -> list[str]:
    return [
        r.path for r in sandbox.requests if r.service == "gitlab" and r.path.startswith("/users/")
    ]


# 1. People by e-mail ---------------------------------------------------------------------------


def test_people_are_matched_by_the_email_of_each_looked_up_gitlab_account(engine, sandbox, org_end):
    sync(engine, sandbox, org_end)
    org = sandbox.org
    renamed = next(p for p in org.people if p.gitlab_name != p.name and p.gitlab_public_email)
    lookups = user_lookups(sandbox)
    with Session(engine) as session:
        gitlab_person = person_of(session, System.GITLAB, str(renamed.gitlab_user_id))
        assert gitlab_person == person_of(session, System.PAGERDUTY, renamed.pagerduty_user_id)
        accounts = set(
            session.exec(select(Identity.external_id).where(Identity.system == System.GITLAB))
        )
        assert {int(a) for a in accounts} == set(session.exec(select(GitLabUser.id)))
    assert len(lookups) == len(set(lookups)) == len(accounts)

    sandbox.reset_requests()
    sync(engine, sandbox, org_end + timedelta(hours=1))
    assert user_lookups(sandbox) == []

    sandbox.reset_requests()
    sync(engine, sandbox, org_end + timedelta(days=31))
    assert len(user_lookups(sandbox)) == GITLAB_USER_REFRESHES_PER_RUN


def test_without_an_administrators_token_only_the_public_email_is_known(
    sqlite_engine, sandbox, org_end
):
    sandbox.gitlab.admin = False
    sync(sqlite_engine, sandbox, org_end, sources=["gitlab"])
    with Session(sqlite_engine) as session:
        emails = {u.id: u.email for u in session.exec(select(GitLabUser))}
    for person in sandbox.org.people:
        assert emails[person.gitlab_user_id] == (person.gitlab_public_email or None)


# 2. Acknowledgements logged without a service ----------------------------------------------------


def test_first_sync_keeps_acknowledgements_logged_without_a_service(
    sqlite_engine, sandbox, org_end
):
    org = sandbox.org
    acks = [e for e in org.pd_log_entries if e["type"] == "acknowledge_log_entry"]
    assert acks and not any("service" in e for e in acks)
    resolved = {
        i["id"]
        for i in org.pd_incidents
        if i["status"] == "resolved" and i["service"]["id"] in org.cmoc_service_ids
    }
    first: dict[str, datetime] = {}
    for entry in acks:
        at, page = parse_time(entry["created_at"]), entry["incident"]["id"]
        if page in resolved:
            first[page] = min(first.get(page, at), at)
    assert len(first) > 50

    sync(sqlite_engine, sandbox, org_end)

    with Session(sqlite_engine) as session:
        stored = dict(
            session.exec(
                select(PagerDutyIncident.id, PagerDutyIncident.acknowledged_at).where(
                    col(PagerDutyIncident.id).in_(first)
                )
            ).all()
        )
    assert stored == first


# 3. Page to issue: title, else body details ------------------------------------------------------


def test_a_recent_page_names_its_issue_in_body_details_and_older_pages_cost_no_request(
    sqlite_engine, sandbox, org_end
):
    org = sandbox.org
    project = org.production_project

    def untitled(page: dict) -> bool:
        return linking.iid_in_page_text(page["title"], project) is None

    pages = [i for i in org.pd_incidents if i["service"]["id"] in org.cmoc_service_ids]
    detailed = [
        p
        for p in pages
        if untitled(p) and linking.first_issue_iid([org.pd_incident_details[p["id"]]], project)
    ]
    page = max(detailed, key=lambda p: p["created_at"])
    now = parse_time(page["created_at"]) + timedelta(hours=1)
    recent = {
        p["id"]
        for p in pages
        if untitled(p) and now - timedelta(days=7) <= parse_time(p["created_at"]) < now
    }

    sync(sqlite_engine, sandbox, now, sources=["pagerduty"])

    with Session(sqlite_engine) as session:
        stored = session.get(PagerDutyIncident, page["id"])
    assert stored.production_issue_iid == linking.first_issue_iid(
        [org.pd_incident_details[page["id"]]], project
    )
    asked = [
        r.path.split("/")[2]
        for r in sandbox.requests
        if r.service == "pagerduty" and ("include[]", "body") in r.params
    ]
    assert sorted(asked) == sorted(recent)
    assert len(asked) < len(pages) / 10


# 6. Status.io's resolved list in any order -----------------------------------------------------


def test_an_incremental_sync_records_a_resolution_wherever_the_list_puts_it(
    engine, sandbox, org_end
):
    org = sandbox.org
    settings = settings_from_mapping(sandbox.settings())
    clients = build_clients(settings, transport=sandbox.transport, statusio_min_interval=0)
    sync(engine, sandbox, org_end)
    first, second = org.statusio_active_incident_ids

    def resolve(incident_id: str) -> int:
        assert clients.statusio is not None
        clients.statusio.update_incident(
            incident_id=incident_id,
            details="The incident is resolved.",
            status=100,
            state=300,
            broadcast={},
            resolve=True,
        )
        listed = sandbox.statusio.pages[org.statuspage_id].resolved
        return [i["_id"] for i in listed].index(incident_id)

    resolve(first)
    sync(engine, sandbox, org_end + timedelta(hours=1))
    assert resolve(second) >= 25  # past the first page, whose incidents did not change
    sandbox.reset_requests()
    sync(engine, sandbox, org_end + timedelta(hours=2))
    clients.close()

    with Session(engine) as session:
        assert session.get(StatusPageIncident, first).resolved
        assert session.get(StatusPageIncident, second).resolved
    assert sandbox.count("statusio") <= 4


# 8. GitLab keyset pagination --------------------------------------------------------------------


def issue_requests(sandbox: Sandbox) -> list:
    return [r for r in sandbox.requests if r.service == "gitlab" and r.path.endswith("/issues")]


def stored_issues(engine: Engine, kind: IssueKind) -> int:
    with Session(engine) as session:
        return len(session.exec(select(GitLabIssue.id).where(GitLabIssue.kind == kind)).all())


def test_issues_are_read_by_keyset_pages_past_the_offset_limit(sqlite_engine, sandbox, org_end):
    sandbox.gitlab.offset_limit = 100
    sync(sqlite_engine, sandbox, org_end, sources=["gitlab"])
    org = sandbox.org
    assert stored_issues(sqlite_engine, IssueKind.HANDOVER) == len(
        org.gitlab_issues[org.handover_project]
    )
    requests = issue_requests(sandbox)
    assert len(requests) > 8
    for request in requests:
        params = dict(request.params)
        assert (params["pagination"], params["order_by"], params["sort"]) == ("keyset", "id", "asc")
        assert "page" not in params


def test_a_gitlab_without_keyset_issues_is_read_by_offset_pages_after_one_refusal(
    sqlite_engine, sandbox, org_end
):
    sandbox.gitlab.keyset = False
    sync(sqlite_engine, sandbox, org_end, sources=["gitlab"])
    org = sandbox.org
    assert stored_issues(sqlite_engine, IssueKind.HANDOVER) == len(
        org.gitlab_issues[org.handover_project]
    )
    handover_path = issue_requests(sandbox)[0].path
    asked = [dict(r.params) for r in issue_requests(sandbox) if r.path == handover_path]
    assert asked[0]["pagination"] == "keyset"
    assert [a.get("page") for a in asked[1:]] == [str(n) for n in range(1, len(asked))]


# 8. PagerDuty users past the offset ceiling ----------------------------------------------------


def test_pagerduty_users_past_the_offset_ceiling_are_read_one_by_one_and_the_sync_says_so(
    sqlite_engine, org_end
):
    org = generate(seed=7, end=org_end, days=30)
    org.pd_users[:0] = [
        {"id": f"PFILL{n:05d}", "type": "user", "name": f"Filler {n}", "email": f"f{n}@x.test"}
        for n in range(10_050)
    ]
    box = Sandbox(org=org, end=org_end)

    report = sync(sqlite_engine, box, org_end, sources=["pagerduty"])

    with Session(sqlite_engine) as session:
        emails = dict(
            session.exec(
                select(Identity.external_id, Identity.email).where(
                    Identity.system == System.PAGERDUTY,
                    col(Identity.external_id).not_like("PFILL%"),
                )
            ).all()
        )
    people = {p.pagerduty_user_id: p.email for p in org.people if p.pagerduty_user_id}
    assert emails and all(email == people[user] for user, email in emails.items())
    one_by_one = [r for r in box.requests if r.path.startswith("/users/")]
    [users] = [s for s in report.streams if s.stream == "pagerduty.users"]
    assert users.note == (
        f"PagerDuty lists at most 10,000 users; {len(one_by_one)} more were read one by one"
    )
    assert 0 < len(one_by_one) <= len(emails)


# 10. Shifts ahead -------------------------------------------------------------------------------


def before_a_shift(org_end: datetime) -> datetime:
    """07:00 UTC on a weekday three weeks before the end: EMEA's shift starts at 08:00."""
    day = (org_end - timedelta(days=21)).replace(hour=7, minute=0, second=0)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def test_shifts_are_stored_two_weeks_ahead_so_the_shift_on_call_exists_before_a_new_sync(
    sqlite_engine, sandbox, org_end
):
    synced_at = before_a_shift(org_end)
    sync(sqlite_engine, sandbox, synced_at, sources=["pagerduty"])
    settings = settings_from_mapping(sandbox.settings())
    later = synced_at + timedelta(hours=4)  # past the hand-over window of the shift before
    with Session(sqlite_engine) as session:
        latest = max(session.exec(select(OnCallEntry.start)).all())
        shifts = handover.recent_shifts(session=session, settings=settings, now=later)
    assert latest >= synced_at + timedelta(days=13)
    picked = handover.current_shift(shifts, later)
    assert picked is not None
    assert (picked.start, picked.end) == (
        synced_at + timedelta(hours=1),
        synced_at + timedelta(hours=9),
    )


def test_future_shifts_given_to_someone_else_or_shortened_are_replaced_on_the_next_sync(
    sqlite_engine, sandbox, org_end
):
    synced_at = before_a_shift(org_end)
    sync(sqlite_engine, sandbox, synced_at, sources=["pagerduty"])
    oncalls = sandbox.pagerduty.oncalls
    schedule = sandbox.org.cmoc_schedule_ids[0]
    ahead = [
        n
        for n, o in enumerate(oncalls)
        if o["schedule"]["id"] == schedule
        and parse_time(o["start"]) > synced_at + timedelta(days=3)
    ]
    given, shortened = oncalls[ahead[0]], oncalls[ahead[1]]
    other = next(
        o["user"]
        for o in oncalls
        if o["schedule"]["id"] == schedule and o["user"]["id"] != given["user"]["id"]
    )
    oncalls[ahead[0]] = {**given, "user": other}
    later_start = parse_time(shortened["start"]) + timedelta(hours=2)
    oncalls[ahead[1]] = {**shortened, "start": later_start.strftime("%Y-%m-%dT%H:%M:%SZ")}

    sync(sqlite_engine, sandbox, synced_at + timedelta(hours=1), sources=["pagerduty"])

    def spans_at(moment: datetime) -> list[tuple[str, datetime]]:
        with Session(sqlite_engine) as session:
            return [
                (e.user_id, e.start)
                for e in session.exec(
                    select(OnCallEntry).where(
                        OnCallEntry.schedule_id == schedule,
                        col(OnCallEntry.start) <= moment,
                        col(OnCallEntry.end) > moment,
                    )
                )
            ]

    assert spans_at(parse_time(given["start"])) == [(other["id"], parse_time(given["start"]))]
    assert spans_at(parse_time(shortened["start"])) == []
    assert spans_at(later_start) == [(shortened["user"]["id"], later_start)]
