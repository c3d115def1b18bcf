"""Small hand-built worlds for the KPI tests: rows inserted as the sync would store them.

Every helper writes its rows straight into the database (one committed unit of work each), with
fixed times, so a test reads as the list of things that happened and the figures they give.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from cmoc_core.config import settings_from_mapping
from cmoc_core.linking import iid_in_page_text, severity_from_labels
from cmoc_core.models import (
    GitLabIssue,
    GitLabLabelEvent,
    Identity,
    IssueKind,
    OnCallEntry,
    PagerDutyIncident,
    PagerDutyLogEntry,
    Person,
    PersonMapping,
    PracticeDrill,
    ScheduleKind,
    StakeholderThread,
    StatusPageIncident,
    StatusPageMessage,
    System,
)
from cmoc_core.people import refresh_people
from cmoc_core.storage import session_scope
from cmoc_core.sync import refresh_links

LIVE_PAGE = "page-live"
PRACTICE_PAGE = "page-practice"
CMOC_SERVICE = "PSVCCMOC"
CMOC_SERVICE_2 = "PSVCCMOC2"
OTHER_SERVICE = "PSVCOTHER"
CMOC_SCHEDULE = "PSCHEDCMOC"
SHADOW_SCHEDULE = "PSCHEDSHADOW"
PRODUCTION = "gitlab-com/gl-infra/production"
HANDOVER = "gitlab-com/support/dotcom/cmoc-handover"
CONTACT_REQUESTS = "gitlab-com/support/contact-requests"
TRAINING = "gitlab-com/support/support-team-meta"
CONTACT_REQUEST_LABEL = "Contact Request"
PRACTICE_EVENT_LABEL = "CMOC Practice Event"
STATUS_PAGE_LABEL = "Incident-Comms::Status-Page"

# Incident links in messages name another host than the API's, as they often do.
ISSUE_URL = "https://gitlab.example.com/" + PRODUCTION + "/-/issues/{iid}"

SETTINGS = settings_from_mapping(
    {
        "PAGERDUTY_CMOC_SERVICE_IDS": f"{CMOC_SERVICE},{CMOC_SERVICE_2}",
        "PAGERDUTY_CMOC_SCHEDULE_IDS": CMOC_SCHEDULE,
        "PAGERDUTY_SHADOW_SCHEDULE_IDS": SHADOW_SCHEDULE,
        "STATUSIO_STATUSPAGE_ID": LIVE_PAGE,
        "STATUSIO_PRACTICE_STATUSPAGE_ID": PRACTICE_PAGE,
        "GITLAB_PRODUCTION_PROJECT": PRODUCTION,
        "GITLAB_HANDOVER_PROJECT": HANDOVER,
        "GITLAB_CONTACT_REQUEST_PROJECT": CONTACT_REQUESTS,
        "GITLAB_TRAINING_PROJECT": TRAINING,
    }
)

# Component statuses: an open incident's updates say Degraded; the resolving one Operational.
DEGRADED = 300
OPERATIONAL = 100


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    """A UTC timestamp."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


T0 = utc(2026, 2, 2, 10)
FEBRUARY = (utc(2026, 2, 1), utc(2026, 3, 1))


def minutes(value: float | timedelta) -> timedelta:
    """`value` minutes (a timedelta is taken as it is, for second-exact offsets)."""
    return value if isinstance(value, timedelta) else timedelta(minutes=value)


@dataclass(frozen=True)
class Who:
    """One CMOC as the systems name them: the PagerDuty user id and the GitLab user id."""

    name: str
    pd_id: str | None
    gitlab_id: str | None


@dataclass(frozen=True)
class Issue:
    """A production issue: GitLab's global id (for label events) and its iid (for links)."""

    id: int
    iid: int

    @property
    def url(self) -> str:
        return ISSUE_URL.format(iid=self.iid)


@dataclass(frozen=True)
class Incident:
    """A status-page incident and the production issue linked to it, if any."""

    id: str
    opened: datetime
    issue: Issue | None


Message = tuple[float | timedelta, int, str]


def _pd(user: Who | str | None) -> str | None:
    return user.pd_id if isinstance(user, Who) else user


def _gitlab(user: Who | str) -> str:
    found = user.gitlab_id if isinstance(user, Who) else user
    assert found is not None, f"{user} has no GitLab account"
    return found


class World:
    """Builds the rows of one small world in `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._numbers = itertools.count(1)
        self._issue_ids = itertools.count(90001)
        self._iids: dict[str, itertools.count[int]] = {}

    def add(self, *rows: SQLModel) -> None:
        with session_scope(self.engine) as session:
            session.add_all(rows)

    def _next(self) -> int:
        return next(self._numbers)

    # People -------------------------------------------------------------------------------

    def match_people(self) -> None:
        """What the sync does after storing identities: match them to people."""
        with session_scope(self.engine) as session:
            refresh_people(session=session)

    def pd_user(self, pd_id: str, name: str, email: str | None = None) -> None:
        self.add(
            Identity(
                system=System.PAGERDUTY,
                external_id=pd_id,
                username=email or pd_id,
                name=name,
                email=email,
            )
        )
        self.match_people()

    def gitlab_user(self, gitlab_id: str, name: str, email: str | None = None) -> None:
        username = "".join(name.split()).lower() or gitlab_id
        self.add(
            Identity(
                system=System.GITLAB,
                external_id=gitlab_id,
                username=username,
                name=name,
                email=email,
            )
        )
        self.match_people()

    def mapping(self, system: System, external_id: str, person_key: str) -> None:
        self.add(PersonMapping(system=system, external_id=external_id, person_key=person_key))
        self.match_people()

    def person(
        self,
        name: str,
        *,
        email: str | None = None,
        pd_id: str | None = None,
        gitlab_id: str | None = None,
    ) -> Who:
        """One CMOC known to PagerDuty and GitLab by the same name and email."""
        if pd_id:
            self.pd_user(pd_id, name, email)
        if gitlab_id:
            self.gitlab_user(gitlab_id, name, email)
        return Who(name=" ".join(name.split()), pd_id=pd_id, gitlab_id=gitlab_id)

    # PagerDuty ----------------------------------------------------------------------------

    def page(
        self,
        created: datetime,
        *,
        acked_after: float | timedelta | None = None,
        by: Who | str | None = None,
        acks: Sequence[tuple[float | timedelta, Who | str]] = (),
        service: str = CMOC_SERVICE,
        title: str | None = None,
    ) -> str:
        """A page triggered at `created`; each acknowledgement is a log entry, and
        acknowledged_at/by hold the earliest one, as the sync computes them. The production
        issue its title names is kept as the sync keeps it (call `link_pages` to link it)."""
        number = self._next()
        page_id = f"PPAGE{number}"
        acknowledgements = list(acks)
        if acked_after is not None:
            assert by is not None, "an acknowledgement needs the acknowledging user"
            acknowledgements.append((acked_after, by))
        entries = [
            PagerDutyLogEntry(
                id=f"{page_id}-L{n}",
                incident_id=page_id,
                type="acknowledge_log_entry",
                created_at=created + minutes(after),
                agent_id=_pd(who),
                agent_type="user_reference",
            )
            for n, (after, who) in enumerate(acknowledgements, start=1)
        ]
        trigger = PagerDutyLogEntry(
            id=f"{page_id}-L0", incident_id=page_id, type="trigger_log_entry", created_at=created
        )
        earliest = min(entries, key=lambda e: e.created_at) if entries else None
        incident = PagerDutyIncident(
            id=page_id,
            incident_number=number,
            title=title or f"CMOC page {number}",
            service_id=service,
            status="acknowledged" if earliest else "triggered",
            urgency="high",
            created_at=created,
            acknowledged_at=earliest.created_at if earliest else None,
            acknowledged_by=earliest.agent_id if earliest else None,
            production_issue_iid=iid_in_page_text(title or "", PRODUCTION),
        )
        self.add(incident, trigger, *entries)
        return page_id

    def link_pages(self) -> None:
        """What the sync does once pages and incidents are stored: link each page to its
        status-page incident (kpis.md "Linking")."""
        with session_scope(self.engine) as session:
            refresh_links(session=session, settings=SETTINGS)

    def shift(
        self,
        user: Who | str,
        start: datetime,
        end: datetime | None,
        *,
        kind: ScheduleKind | str = ScheduleKind.CMOC,
    ) -> None:
        """An on-call entry on the CMOC schedule (or the shadow schedule)."""
        kind = ScheduleKind(kind)
        schedule = CMOC_SCHEDULE if kind == ScheduleKind.CMOC else SHADOW_SCHEDULE
        user_id = _pd(user)
        assert user_id is not None, f"{user} has no PagerDuty account"
        self.add(
            OnCallEntry(
                schedule_id=schedule, schedule_kind=kind, user_id=user_id, start=start, end=end
            )
        )

    # GitLab -------------------------------------------------------------------------------

    def issue(
        self,
        kind: IssueKind,
        project: str,
        created_at: datetime,
        *,
        iid: int | None = None,
        labels: Iterable[str] = (),
        author: Who | str | None = None,
        assignees: Iterable[Who | str] = (),
        closed_at: datetime | None = None,
        title: str | None = None,
    ) -> Issue:
        numbers = self._iids.setdefault(project, itertools.count(1))
        iid = iid if iid is not None else next(numbers)
        issue_id = next(self._issue_ids)
        labels = list(labels)
        self.add(
            GitLabIssue(
                id=issue_id,
                project_path=project,
                iid=iid,
                kind=kind,
                title=title or f"{kind.value} {iid}",
                state="closed" if closed_at else "opened",
                created_at=created_at,
                updated_at=closed_at or created_at,
                closed_at=closed_at,
                labels=labels,
                severity=severity_from_labels(labels),
                author_id=_gitlab(author) if author is not None else None,
                assignee_ids=[_gitlab(a) for a in assignees],
                web_url=f"https://gitlab.example.com/{project}/-/issues/{iid}",
            )
        )
        return Issue(id=issue_id, iid=iid)

    def production_issue(
        self, iid: int, *, labels: Iterable[str] = (), created_at: datetime | None = None
    ) -> Issue:
        """A production incident issue; its current labels are `labels`."""
        return self.issue(
            IssueKind.PRODUCTION,
            PRODUCTION,
            created_at or utc(2026, 1, 1),
            iid=iid,
            labels=labels,
        )

    def label_event(
        self, issue: Issue | Incident, label: str, at: datetime, *, action: str = "add"
    ) -> None:
        target = issue.issue if isinstance(issue, Incident) else issue
        assert target is not None, "the incident has no production issue"
        self.add(
            GitLabLabelEvent(
                id=self._next(), issue_id=target.id, label_name=label, action=action, created_at=at
            )
        )

    def handover(self, author: Who | str, created_at: datetime) -> Issue:
        return self.issue(IssueKind.HANDOVER, HANDOVER, created_at, author=author)

    def contact_request(
        self,
        created_at: datetime,
        *,
        closed_at: datetime | None = None,
        assignees: Iterable[Who | str] = (),
    ) -> Issue:
        return self.issue(
            IssueKind.CONTACT_REQUEST,
            CONTACT_REQUESTS,
            created_at,
            labels=[CONTACT_REQUEST_LABEL],
            assignees=assignees,
            closed_at=closed_at,
        )

    def practice_event(self, created_at: datetime, assignees: Iterable[Who | str]) -> Issue:
        return self.issue(
            IssueKind.PRACTICE_EVENT,
            TRAINING,
            created_at,
            labels=[PRACTICE_EVENT_LABEL],
            assignees=assignees,
        )

    def drill(self, cmoc: Who, started: datetime, *, finished: datetime | None) -> None:
        """A practice drill run in the app by `cmoc` (people must be matched first)."""
        with session_scope(self.engine) as session:
            person = session.exec(select(Person).where(Person.name == cmoc.name)).one()
            session.add(
                PracticeDrill(
                    scenario="database-failover",
                    cmoc_id=person.id,
                    started_at=started,
                    finished_at=finished,
                )
            )

    # Status.io ----------------------------------------------------------------------------

    def incident(
        self,
        opened: datetime,
        messages: Sequence[Message],
        *,
        severity: int | None = None,
        issue: Issue | None = None,
        resolved: bool = True,
        statuspage_id: str = LIVE_PAGE,
    ) -> Incident:
        """A status-page incident opened (first message) at `opened`.

        `messages` are (minutes after opening, state, text); when `resolved`, the last one is
        the resolving message (component status Operational). `severity` creates a production
        issue labelled `severity::N` (no label events); `issue` links an existing one. The
        first message carries the issue link, as CMOCs post it.
        """
        assert messages, "an incident has at least its creating message"
        number = self._next()
        incident_id = f"sp{number}"
        if severity is not None:
            assert issue is None
            issue = self.production_issue(
                8000 + number, labels=[f"severity::{severity}"], created_at=opened - minutes(5)
            )
        rows: list[SQLModel] = [
            StatusPageIncident(
                id=incident_id,
                statuspage_id=statuspage_id,
                name=f"Incident {number}",
                datetime_open=opened,
                first_message_at=opened + minutes(messages[0][0]),
                resolved=resolved,
                production_issue_iid=issue.iid if issue else None,
            )
        ]
        last = len(messages) - 1
        for n, (after, state, text) in enumerate(messages):
            details = f"{text} Tracking: {issue.url}" if issue and n == 0 else text
            rows.append(
                StatusPageMessage(
                    id=f"{incident_id}-m{n}",
                    incident_id=incident_id,
                    details=details,
                    state=state,
                    status=OPERATIONAL if resolved and n == last else DEGRADED,
                    posted_at=opened + minutes(after),
                )
            )
        self.add(*rows)
        return Incident(id=incident_id, opened=opened, issue=issue)

    def thread(self, incident: Incident, posted_at: datetime) -> None:
        """An Incident Notifier post for `incident`."""
        self.add(
            StakeholderThread(
                statuspage_incident_id=incident.id,
                posted_at=posted_at,
                destination="#incident-notifications",
                via="slack",
                text=f"Incident Notifier post for {incident.id}",
            )
        )
