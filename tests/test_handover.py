"""End-of-shift handover: the draft from a shift's window, creation through GitLab, the KPI."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from cmoc_core import drafts, handover
from cmoc_core.clients import build_clients
from cmoc_core.handbook import IncidentState
from cmoc_core.kpis import compute_kpis
from cmoc_core.models import (
    GitLabIssue,
    Identity,
    IssueKind,
    Maintenance,
    MaintenancePhase,
    OnCallEntry,
    ScheduleKind,
    System,
    WorkingIncident,
)
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox import gitlab as fake_gitlab
from tests.kpi_worlds import (
    CMOC_SCHEDULE,
    CONTACT_REQUESTS,
    HANDOVER,
    LIVE_PAGE,
    PRACTICE_PAGE,
    SETTINGS,
    World,
    utc,
)
from tests.support.viewers import configured

INVESTIGATING, IDENTIFIED, MONITORING = (
    IncidentState.INVESTIGATING,
    IncidentState.IDENTIFIED,
    IncidentState.MONITORING,
)
START, END = utc(2026, 2, 2, 8), utc(2026, 2, 2, 16)
ISSUES_PATH = "/projects/gitlab-com%2Fsupport%2Fdotcom%2Fcmoc-handover/issues"


class Clock:
    """The sandbox's present, standing still until a test moves it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(END - timedelta(minutes=10))


@pytest.fixture
def box(organisation, clock) -> Sandbox:
    return Sandbox(organisation, clock=clock)


@pytest.fixture
def settings(box):
    return SETTINGS.model_copy(
        update={
            "gitlab_url": f"{box.BASE_URL}/gitlab",
            "gitlab_token": SecretStr(fake_gitlab.TOKEN),
        }
    )


@pytest.fixture
def gitlab(box, settings):
    clients = build_clients(settings, transport=box.transport)
    yield clients.gitlab
    clients.close()


@pytest.fixture
def cmoc(organisation):
    """A CMOC the sandbox's GitLab knows."""
    return organisation.people_with_role("cmoc")[0]


@pytest.fixture
def world(sqlite_engine, cmoc) -> World:
    """The CMOC on shift 08:00-16:00 (EMEA), known to PagerDuty and to GitLab."""
    world = World(sqlite_engine)
    world.pd_user("PCMOC", cmoc.name, cmoc.email)
    add_gitlab_account(world, cmoc.gitlab_user_id, cmoc.gitlab_username, cmoc)
    world.add(
        OnCallEntry(
            schedule_id=CMOC_SCHEDULE,
            schedule_kind=ScheduleKind.CMOC,
            user_id="PCMOC",
            start=START,
            end=END,
            region="EMEA",
        )
    )
    return world


def add_gitlab_account(world: World, user_id: int, username: str, person) -> None:
    world.add(
        Identity(
            system=System.GITLAB,
            external_id=str(user_id),
            username=username,
            name=person.gitlab_name,
            email=person.email,
        )
    )
    world.match_people()


def the_shift(world: World, settings, now: datetime) -> handover.Shift:
    with Session(world.engine) as session:
        shifts = handover.recent_shifts(session=session, settings=settings, now=now)
    return handover.find_shift(shifts, f"PCMOC@{START:%Y-%m-%dT%H:%M:%SZ}")


def window_of(world: World, settings, shift: handover.Shift) -> handover.Window:
    with Session(world.engine) as session:
        return handover.gather(session=session, settings=settings, shift=shift)


def handover_figures(world: World, settings) -> dict:
    with Session(world.engine) as session:
        report = compute_kpis(
            session=session, settings=settings, since=utc(2026, 2, 1), until=utc(2026, 3, 1)
        )
    figures = report.as_dict()["handover"]
    return {"shifts": figures["shifts"], "handed_over": figures["handed_over"]}


def create(world, gitlab, settings, shift, **options) -> handover.Creation:
    return handover.create(
        engine=world.engine,
        gitlab=gitlab,
        project=settings.gitlab_handover_project,
        shift=shift,
        handover=options.pop("draft", handover.nothing_happened(shift)),
        viewer=configured("cmoc@example.com"),
        now=END,
        **options,
    )


def handover_issues(box: Sandbox) -> list[dict]:
    return box.gitlab.issues[HANDOVER]


def test_a_shift_with_two_incidents_and_a_maintenance_gives_the_expected_body(
    world, settings, cmoc
):
    resolved = world.incident(
        utc(2026, 2, 2, 9),
        [
            (0, INVESTIGATING, "Investigating elevated error rates."),
            (12, IDENTIFIED, "Cause identified."),
            (40, MONITORING, "Monitoring the fix."),
            (70, MONITORING, "Resolved."),
        ],
        severity=2,
    )
    still_open = world.incident(
        utc(2026, 2, 2, 15, 30),
        [
            (0, INVESTIGATING, "Investigating slow Git pushes."),
            (25, IDENTIFIED, "A Gitaly node is overloaded. Next update in 20 minutes."),
        ],
        severity=1,
        resolved=False,
    )
    # Neither a practice incident nor one resolved before the shift is handed over.
    world.incident(utc(2026, 2, 2, 12), [(0, INVESTIGATING, "Drill.")], statuspage_id=PRACTICE_PAGE)
    world.incident(utc(2026, 2, 2, 6), [(0, INVESTIGATING, "Early."), (60, MONITORING, "Done.")])
    world.add(
        maintenance("m1", "Database upgrade", MaintenancePhase.ACTIVE, utc(2026, 2, 2, 15), 2),
        maintenance(
            "m2", "Redis cluster upgrade", MaintenancePhase.UPCOMING, utc(2026, 2, 4, 2), 2
        ),
        maintenance("m3", "Finished work", MaintenancePhase.RESOLVED, utc(2026, 2, 1, 2), 2),
        maintenance("m4", "Far away", MaintenancePhase.UPCOMING, utc(2026, 2, 20, 2), 2),
    )
    world.contact_request(utc(2026, 2, 2, 11), assignees=[str(cmoc.gitlab_user_id)])
    world.contact_request(utc(2026, 2, 2, 17))  # after the shift

    shift = the_shift(world, settings, now=END)
    draft = handover.draft(window_of(world, settings, shift))

    assert draft.title == "CMOC Handover 2026-02-02 EMEA"
    assert draft.confidential is True
    assert draft.body == (
        f"Handover from {cmoc.name}, CMOC (EMEA) from 02-02-2026 08:00 UTC to 02-02-2026 16:00 UTC."
        "\n\n## Incidents\n\n"
        f"- **Still open**: Incident {still_open.id[2:]} (S1, Identified), last update "
        "02-02-2026 15:55 UTC; next update due 02-02-2026 16:15 UTC. "
        f"{still_open.issue.url}\n"
        f"- **Resolved**: Incident {resolved.id[2:]} (S2), last update 02-02-2026 10:10 UTC. "
        f"{resolved.issue.url}"
        "\n\n## Maintenance\n\n"
        "- **In progress**: Database upgrade, 02-02-2026 15:00 UTC to 02-02-2026 17:00 UTC.\n"
        "- **Upcoming**: Redis cluster upgrade, 04-02-2026 02:00 UTC to 04-02-2026 04:00 UTC."
        "\n\n## Contact requests\n\n"
        f"- contact_request 1, opened 02-02-2026 11:00 UTC, assigned to {cmoc.name}; still open. "
        f"https://gitlab.example.com/{CONTACT_REQUESTS}/-/issues/1"
        "\n\n## Notes\n\nNothing else to report.\n"
    )


def maintenance(ident, name, phase, start, hours) -> Maintenance:
    return Maintenance(
        id=ident,
        statuspage_id=LIVE_PAGE,
        name=name,
        phase=phase,
        planned_start=start,
        planned_end=start + timedelta(hours=hours),
    )


def test_an_incident_published_from_the_app_before_a_sync_is_in_the_draft(world, settings):
    world.add(
        WorkingIncident(
            title="Container registry errors",
            statuspage_id=LIVE_PAGE,
            statuspage_incident_id="not-synced-yet",
            severity=2,
            issue_url="https://gitlab.example.com/gitlab-com/gl-infra/production/-/issues/77",
            state=IDENTIFIED,
            opened_at=utc(2026, 2, 2, 14),
            last_posted_at=utc(2026, 2, 2, 15, 40),
            last_text="We found the cause.",
        )
    )
    shift = the_shift(world, settings, now=END)
    [note] = window_of(world, settings, shift).incidents
    assert (note.title, note.resolved, note.next_due) == (
        "Container registry errors",
        False,
        utc(2026, 2, 2, 16, 10),
    )


def test_a_shift_with_no_data_gets_the_nothing_happened_body(world, settings, cmoc):
    shift = the_shift(world, settings, now=END)
    window = window_of(world, settings, shift)
    assert window.quiet
    assert handover.draft(window).body == (
        f"Handover from {cmoc.name}, CMOC (EMEA) from 02-02-2026 08:00 UTC to 02-02-2026 16:00 UTC."
        "\n\nNothing happened during this shift: nothing to hand over, all is well.\n"
    )


def test_creating_posts_a_confidential_issue_as_the_cmoc_and_the_kpi_counts_it_at_once(
    world, settings, gitlab, box, cmoc
):
    shift = the_shift(world, settings, now=END)
    draft = handover.draft(window_of(world, settings, shift))
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": 0}

    creation = create(world, gitlab, settings, shift, draft=draft)

    assert creation.outcome.status == "sent", creation.outcome.message
    [post] = box.writes("gitlab")
    assert (post.method, post.path) == ("POST", ISSUES_PATH)
    assert post.body == {
        "title": "CMOC Handover 2026-02-02 EMEA",
        "description": draft.body,
        "labels": "Handover",
        "confidential": True,
        "sudo": cmoc.gitlab_username,
    }
    created = handover_issues(box)[-1]
    assert created["confidential"] is True
    assert created["author"]["username"] == cmoc.gitlab_username
    assert creation.url == created["web_url"]
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": 1}
    shift = the_shift(world, settings, now=END)
    assert (shift.handed_over, shift.counted, shift.handover_url) == (True, True, creation.url)


def test_a_double_create_sends_one_post(world, settings, gitlab, box):
    shift = the_shift(world, settings, now=END)
    first = create(world, gitlab, settings, shift)
    second = create(world, gitlab, settings, shift)
    assert (first.outcome.status, second.outcome.status) == ("sent", "already_sent")
    assert second.url == first.url
    assert len(box.writes("gitlab")) == 1


def test_sudo_refused_says_so_keeps_the_draft_and_offers_the_tokens_user(
    world, settings, gitlab, box, cmoc
):
    box.gitlab.admin = False
    shift = the_shift(world, settings, now=END)
    with Session(world.engine) as session:
        handover.save_draft(session=session, shift=shift, body="Notes.", confidential=True, now=END)
        session.commit()
    before = len(handover_issues(box))

    refused = create(world, gitlab, settings, shift)

    assert refused.outcome.status == "failed"
    assert refused.outcome.message == (
        f"GitLab refused to create the issue as @{cmoc.gitlab_username}: only an administrator's "
        "token with the sudo scope may act for another user, and @cmoc-cockpit-bot's is not "
        "one. Nothing was created; your draft is kept."
    )
    assert refused.fallback_author == "cmoc-cockpit-bot"
    assert len(handover_issues(box)) == before
    with Session(world.engine) as session:
        assert handover.load_draft(session=session, shift=shift)["body"] == "Notes."

    fallback = create(world, gitlab, settings, shift, as_token_user=True)

    assert fallback.outcome.status == "sent"
    assert fallback.outcome.message.endswith(
        f"It is authored by @cmoc-cockpit-bot, so it does not count as {shift.person}'s "
        "handover for this shift."
    )
    assert "sudo" not in box.writes("gitlab")[-1].body
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": 0}
    shift = the_shift(world, settings, now=END)
    assert (shift.handed_over, shift.counted) == (True, False)


def test_sudo_refused_for_a_token_without_the_sudo_scope_names_the_scope(
    world, settings, gitlab, box, cmoc
):
    box.gitlab.sudo_scope = False
    shift = the_shift(world, settings, now=END)
    before = len(handover_issues(box))

    refused = create(world, gitlab, settings, shift)

    assert refused.outcome.status == "failed"
    assert "an administrator's token with the sudo scope" in refused.outcome.message
    assert refused.fallback_author == "cmoc-cockpit-bot"
    assert len(handover_issues(box)) == before


def test_a_gitlab_account_gitlab_does_not_know_is_refused_with_its_name(
    sqlite_engine, settings, gitlab, box, cmoc
):
    world = World(sqlite_engine)
    world.pd_user("PCMOC", cmoc.name, cmoc.email)
    add_gitlab_account(world, 4242, "left-the-company", cmoc)
    world.shift("PCMOC", START, END)
    shift = the_shift(world, settings, now=END)

    refused = create(world, gitlab, settings, shift)

    assert refused.outcome.message.startswith("GitLab does not know the user @left-the-company.")
    assert refused.fallback_author == "cmoc-cockpit-bot"


def test_the_tokens_own_shift_is_created_without_sudo(sqlite_engine, settings, gitlab, box):
    world = World(sqlite_engine)
    bot = fake_gitlab.TOKEN_USER
    world.pd_user("PBOT", bot["name"])
    world.add(
        Identity(
            system=System.GITLAB,
            external_id=str(bot["id"]),
            username=bot["username"],
            name=bot["name"],
        )
    )
    world.match_people()
    world.shift("PBOT", START, END)
    with Session(world.engine) as session:
        [shift] = handover.recent_shifts(session=session, settings=settings, now=END)

    creation = create(world, gitlab, settings, shift)

    assert creation.outcome.status == "sent"
    assert "sudo" not in box.writes("gitlab")[0].body
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": 1}


def test_an_answer_lost_after_gitlab_created_the_issue_is_confirmed_not_sent_again(
    world, settings, box
):
    lost: list[httpx.Request] = []

    def answer_lost_once(request: httpx.Request) -> httpx.Response:
        response = box.handle(request)
        if request.method == "POST" and not lost:
            lost.append(request)
            raise httpx.ReadTimeout("no answer", request=request)
        return response

    clients = build_clients(settings, transport=httpx.MockTransport(answer_lost_once))
    shift = the_shift(world, settings, now=END)

    first = create(world, clients.gitlab, settings, shift)
    second = create(world, clients.gitlab, settings, shift)

    assert (first.outcome.status, second.outcome.status) == ("unknown", "sent")
    assert len(box.writes("gitlab")) == 1
    assert second.url == handover_issues(box)[-1]["web_url"]
    with Session(world.engine) as session:
        stored = session.exec(select(GitLabIssue).where(GitLabIssue.kind == IssueKind.HANDOVER))
        assert [i.web_url for i in stored] == [second.url]
    clients.close()


def test_the_reminder_runs_from_an_hour_before_the_end_until_a_handover_exists(
    world, settings, gitlab
):
    shift = the_shift(world, settings, now=END)
    name = shift.person
    assert handover.reminder(shift=shift, now=END - timedelta(minutes=61)) is None
    assert handover.reminder(shift=shift, now=END - timedelta(hours=1)) == (
        f"{name}'s shift ends at 02-02-2026 16:00 UTC: create the handover issue, even if "
        "nothing happened."
    )
    assert handover.reminder(shift=shift, now=END + timedelta(minutes=30)) == (
        f"{name}'s shift ended at 02-02-2026 16:00 UTC and has no handover issue yet: create it "
        "by 02-02-2026 18:00 UTC so that it counts."
    )
    assert handover.reminder(shift=shift, now=END + timedelta(hours=2, seconds=1)) is None

    create(world, gitlab, settings, shift)
    shift = the_shift(world, settings, now=END)
    assert handover.reminder(shift=shift, now=END - timedelta(minutes=30)) is None


def test_the_current_shift_is_the_one_on_call_else_the_latest_ended(world, settings):
    world.shift("PCMOC", END + timedelta(hours=8), END + timedelta(hours=16))
    with Session(world.engine) as session:
        later = handover.recent_shifts(
            session=session, settings=settings, now=END + timedelta(hours=9)
        )
    assert [s.start for s in later] == [END + timedelta(hours=8), START]
    assert handover.current_shift(later, END + timedelta(hours=9)).start == END + timedelta(hours=8)
    assert handover.current_shift(later, END + timedelta(hours=7)).start == START


def test_an_unknown_shift_is_a_clear_error(world, settings):
    with Session(world.engine) as session:
        shifts = handover.recent_shifts(session=session, settings=settings, now=END)
    with pytest.raises(LookupError, match="There is no CMOC shift PNOBODY@2026-02-02T08:00:00Z"):
        handover.find_shift(shifts, "PNOBODY@2026-02-02T08:00:00Z")


def test_entries_that_touch_make_one_shift_named_after_its_first_region(world, settings):
    world.add(
        OnCallEntry(
            schedule_id=CMOC_SCHEDULE,
            schedule_kind=ScheduleKind.CMOC,
            user_id="PCMOC",
            start=END,
            end=END + timedelta(hours=4),
            region="AMER",
        )
    )
    later = END + timedelta(hours=4)
    with Session(world.engine) as session:
        [shift] = handover.recent_shifts(session=session, settings=settings, now=later)
    assert (shift.start, shift.end, shift.region) == (START, later, "EMEA")
    assert handover.title(shift) == "CMOC Handover 2026-02-02 EMEA"
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": 0}


@pytest.mark.parametrize(
    ("after_end", "counted"),
    [
        (timedelta(hours=-2), True),
        (timedelta(hours=2), True),
        (timedelta(hours=2, seconds=1), False),
    ],
)
def test_the_shift_list_and_the_kpi_count_a_handover_within_the_same_window(
    world, settings, cmoc, after_end, counted
):
    world.handover(str(cmoc.gitlab_user_id), END + after_end)
    shift = the_shift(world, settings, now=END + timedelta(hours=3))
    assert (shift.handed_over, shift.counted) == (counted, counted)
    assert handover_figures(world, settings) == {"shifts": 1, "handed_over": int(counted)}


def test_contact_request_assignees_are_named_like_everywhere_else(world, settings, cmoc):
    world.contact_request(utc(2026, 2, 2, 9), assignees=[str(cmoc.gitlab_user_id), "404"])
    shift = the_shift(world, settings, now=END)
    [request] = window_of(world, settings, shift).contact_requests
    assert request.assignees == (cmoc.name, "404")


def test_a_handover_draft_is_kept_under_the_shifts_key_until_discarded(world, settings):
    shift = the_shift(world, settings, now=END)
    with Session(world.engine) as session:
        handover.save_draft(
            session=session, shift=shift, body="Notes.", confidential=False, now=END
        )
        session.commit()
    with Session(world.engine) as session:
        key = handover.draft_key(shift)
        assert drafts.load(session=session, key=key) == {"body": "Notes.", "confidential": False}
        drafts.discard(session=session, key=key)
        session.commit()
    with Session(world.engine) as session:
        assert handover.load_draft(session=session, shift=shift) == {}
