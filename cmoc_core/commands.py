"""Every external action as a command: a frozen value holding its payload once.

The outbox key, the call to the service, how an unclear outcome is settled and the words in the
audit log are all derived from the command, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal

from cmoc_core.access import Permission
from cmoc_core.clients import Clients
from cmoc_core.clients.http import ApiRejected
from cmoc_core.timeutil import MISSING, moment, parse_time, to_minute

Result = dict[str, Any]

# GitLab's `updated_after` is compared with GitLab's clock, which may differ from ours: the search
# reaches a day back and the issue is recognised by its content, not by its time.
SEARCH_MARGIN = timedelta(days=1)


class Settle(StrEnum):
    """How an action whose outcome is unclear is settled before anything is sent again."""

    READ_BACK = "read back"  # the service is asked whether it took effect
    REPEAT = "repeat"  # the action is idempotent by nature: sending it again is harmless
    ASK_USER = "ask the user"  # the service cannot tell: the person checks, then sends again


class Action(StrEnum):
    """Each kind of external action; the values name them in the outbox and the audit log."""

    CREATE_INCIDENT = "create_incident"
    UPDATE_INCIDENT = "update_incident"
    RESOLVE_INCIDENT = "resolve_incident"
    ACKNOWLEDGE_PAGE = "acknowledge_page"
    RESOLVE_PAGE = "resolve_page"
    LABEL_ISSUE = "label_issue"
    NOTIFY_STAKEHOLDERS = "notify_stakeholders"
    CREATE_HANDOVER = "create_handover"
    CREATE_PRACTICE_EVENT_ISSUE = "create_practice_event_issue"
    CHANGE_FACTS = "set_incident_facts"  # kept in the cockpit: severity, page, links
    REMIND_UPDATE = "remind_update"  # the refresher's Slack reminder of an update due

    @property
    def words(self) -> Wording:
        """How people read this kind of action."""
        return WORDS[self]


class MaintenanceAction(StrEnum):
    """What the CMOC can do with a maintenance window; the values name them in the audit log."""

    SCHEDULE = "maintenance_schedule"
    RESCHEDULE = "maintenance_reschedule"
    UPDATE = "maintenance_update"
    START = "maintenance_start"
    FINISH = "maintenance_finish"
    DELETE = "maintenance_delete"

    @property
    def words(self) -> Wording:
        """How people read this kind of action."""
        return WORDS[self]


@dataclass(frozen=True)
class Wording:
    """An action in words: its verb done and to do, its object, and the service it reaches."""

    done: str  # `Acknowledged`
    do: str  # `acknowledge`
    rest: str  # the object, `{where}` standing for the place: `the incident on {where}`
    place: str  # the place when nothing more precise is known: `the PagerDuty page`
    service: str  # the audit log's Where: `PagerDuty`


_STATUS_PAGE = "Status page"
WORDS: dict[str, Wording] = {
    Action.CREATE_INCIDENT: Wording(
        "Created", "create", "the incident on {where}", "the status page", _STATUS_PAGE
    ),
    Action.UPDATE_INCIDENT: Wording(
        "Posted", "post", "an update on {where}", "the status page", _STATUS_PAGE
    ),
    Action.RESOLVE_INCIDENT: Wording(
        "Resolved", "resolve", "the incident on {where}", "the status page", _STATUS_PAGE
    ),
    Action.ACKNOWLEDGE_PAGE: Wording(
        "Acknowledged", "acknowledge", "{where}", "the PagerDuty page", "PagerDuty"
    ),
    Action.RESOLVE_PAGE: Wording(
        "Resolved", "resolve", "{where}", "the PagerDuty page", "PagerDuty"
    ),
    Action.LABEL_ISSUE: Wording(
        "Added", "add", "the status-page label to {where}", "the production issue", "GitLab"
    ),
    Action.NOTIFY_STAKEHOLDERS: Wording(
        "Posted", "post", "the Incident Notifier to {where}", "Slack", "Slack"
    ),
    Action.REMIND_UPDATE: Wording(
        "Reminded", "remind", "the CMOC in {where} of the update due", "Slack", "Slack"
    ),
    Action.CREATE_HANDOVER: Wording(
        "Created", "create", "the handover issue in {where}", "GitLab", "GitLab"
    ),
    Action.CREATE_PRACTICE_EVENT_ISSUE: Wording(
        "Created", "create", "the practice event issue in {where}", "GitLab", "GitLab"
    ),
    Action.CHANGE_FACTS: Wording(
        "Changed", "change", "{where}", "the incident facts", "Incident facts"
    ),
    MaintenanceAction.SCHEDULE: Wording(
        "Scheduled", "schedule", "{where}", "the maintenance", _STATUS_PAGE
    ),
    MaintenanceAction.RESCHEDULE: Wording(
        "Rescheduled", "reschedule", "{where}", "the maintenance", _STATUS_PAGE
    ),
    MaintenanceAction.UPDATE: Wording(
        "Posted", "post", "an update to {where}", "the maintenance", _STATUS_PAGE
    ),
    MaintenanceAction.START: Wording(
        "Started", "start", "{where}", "the maintenance", _STATUS_PAGE
    ),
    MaintenanceAction.FINISH: Wording(
        "Finished", "finish", "{where}", "the maintenance", _STATUS_PAGE
    ),
    MaintenanceAction.DELETE: Wording(
        "Deleted", "delete", "the replaced window of {where}", "the maintenance", _STATUS_PAGE
    ),
}


# What taking each kind of action needs of the person taking it; any other step of the checklist
# ticked on a real incident is the CMOC's record of having acted, so it needs what publishing does.
NEEDS: dict[str, Permission] = {
    Action.CHANGE_FACTS: Permission.DRAFT,
    # The handbook: "Do not acknowledge or resolve any incidents when on the CMOC shadow schedule
    # as this will stop any potential pages to the real CMOC": a page is a permission of its own.
    Action.ACKNOWLEDGE_PAGE: Permission.ACT_ON_PAGE,
    Action.RESOLVE_PAGE: Permission.ACT_ON_PAGE,
    Action.CREATE_PRACTICE_EVENT_ISSUE: Permission.MANAGE,
}


def permission_for(action: str, *, practice: bool = False) -> Permission:
    """What an action or a checklist step needs; in practice anyone who may draft may do it."""
    # In a practice incident nothing leaves the cockpit: its steps are a rehearsal.
    if practice:
        return Permission.DRAFT
    return NEEDS.get(action, Permission.PUBLISH)


# Where a step recorded in the cockpit alone happened, as its outbox row and audit entry keep it.
PRACTICE_PLACE = "practice: not sent to GitLab, PagerDuty or Slack"
BY_HAND_PLACE = "Incident Notifier (by hand)"

_PAGE = re.compile(r"PagerDuty page (?P<id>\S+)(?: \(#(?P<number>\d+)\))?")
_WEBHOOK = re.compile(r"webhook \d+")
_MAINTENANCE = re.compile(r"Status\.io maintenance (?P<name>“.*”)", re.DOTALL)
_PLACES = {
    "Status.io status page": ("the public status page", "Public status page"),
    "Status.io practice page": ("the practice status page", "Practice status page"),
}


@dataclass(frozen=True)
class Said:
    """One action in words, the same for a command being sent and for its row in the log."""

    verb: str
    infinitive: str
    rest: str
    service: str
    recorded: bool = False  # a step kept in the cockpit alone: nothing left it

    @property
    def what(self) -> str:
        """`Acknowledged PagerDuty page #182679`."""
        return f"{self.verb} {self.rest}".strip()

    @property
    def intent(self) -> str:
        """`acknowledge PagerDuty page #182679`."""
        return f"{self.infinitive} {self.rest}".strip()

    def already(self, at: datetime | None) -> str:
        """`Already acknowledged … at 22-11-2026 10:05 UTC: not sent again`."""
        when = f" at {moment(at)}" if at is not None else ""
        return f"Already {self.verb.lower()} {self.rest}{when}: not sent again"


def page_of(target: str) -> str | None:
    """The PagerDuty page id in a page action's target, if it is one."""
    found = _PAGE.fullmatch(target)
    return found["id"] if found else None


def in_words(action: str, target: str, *, number: int | None = None) -> Said:
    """An action's kind and target (as commands write them) in words; `number` names a page."""
    # Rows written by any version of the app read the same: the words come from the action's
    # kind and the target's known shapes, never from free text stored with them.
    words = WORDS.get(action)
    if words is None:
        plain = action.replace("_", " ").strip().capitalize() or "Acted"
        return Said(plain, plain.lower(), "", MISSING)
    where, service, recorded, rest = words.place, words.service, False, words.rest
    if target in _PLACES:
        where, service = _PLACES[target]
    elif target == PRACTICE_PLACE:
        service, recorded = "Practice: nothing sent", True
        rest = f"{rest} (practice: nothing sent)"
    elif target == BY_HAND_PLACE:
        service, recorded = "By hand", True
        rest = f"{rest} by hand"
    elif page := _PAGE.fullmatch(target):
        known = int(page["number"]) if page["number"] else number
        where = f"PagerDuty page #{known}" if known else where
    elif target.startswith("Slack "):
        name = target.removeprefix("Slack ").strip()
        where = f"Slack ({name})" if _WEBHOOK.fullmatch(name) else name or where
    elif target.startswith("GitLab "):
        where = target.removeprefix("GitLab ").strip() or where
    elif maintenance := _MAINTENANCE.fullmatch(target):
        where = f"the maintenance {maintenance['name']}"
    return Said(words.done, words.do, rest.format(where=where), service, recorded)


def plain(text: str, target: str, *, number: int | None = None) -> str:
    """`text` about a page action with the page's PagerDuty id in words: `page #182679`."""
    page_id = page_of(target)
    if not page_id:
        return text
    found = _PAGE.fullmatch(target)
    known = int(found["number"]) if found and found["number"] else number
    instead = f"page #{known}" if known else "the page"
    return re.sub(rf"(?:\bpage )?{re.escape(page_id)}", instead, text)


# Where an outbox row's payload names the person who sent the command, as audit rows do.
SENDER = "by"


def sent_by(stored: Mapping[str, Any]) -> str | None:
    """Who sent the command an outbox row holds, or None for a row from before it was kept."""
    by = stored.get(SENDER)
    return str(by) if by else None


def idempotency_key(*parts: Any) -> str:
    """A stable key for one intended action."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Command:
    """One external action; subclasses hold the payload and say how to send and settle it."""

    settle: ClassVar[Settle] = Settle.READ_BACK
    # Whether two different payloads under one key are rival intents (two updates written
    # from the same revision) rather than one action with edited words (an incident or an
    # issue is created once, whatever its text).
    rivals: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Command]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "send" in cls.__dict__:  # a kind of action, not a shared base
            Command.registry[cls.__name__] = cls

    @property
    def action(self) -> Action | MaintenanceAction:
        """The kind of action, as named in the outbox and the audit log."""
        raise NotImplementedError

    @property
    def target(self) -> str:
        """Where the action goes, in words."""
        raise NotImplementedError

    @property
    def incident_id(self) -> int | None:
        """The working incident the action belongs to, if any."""
        return None

    @property
    def needs(self) -> Permission:
        """What the person taking this action must be allowed to do."""
        return permission_for(self.action)

    def identity(self) -> tuple[Any, ...]:
        """What makes two commands the same intended action: by default, everything."""
        return (self.payload(),)

    def key(self) -> str:
        """The outbox key of this intended action."""
        return idempotency_key(self.action.value, *self.identity())

    def payload(self) -> dict[str, Any]:
        """The command's fields as JSON-ready values."""
        return json.loads(json.dumps(asdict(self), default=_jsonable))

    def stored(self, by: str | None = None) -> dict[str, Any]:
        """The payload with the command's kind (and who sent it), as the outbox keeps it."""
        sender = {SENDER: by} if by else {}
        return {"command": type(self).__name__, **self.payload(), **sender}

    def words(self, result: Result | None = None) -> Said:
        """The action in words; `result` is what the service answered, when that says more."""
        return in_words(self.action.value, self.target)

    def plain(self, text: str, result: Result | None = None) -> str:
        """A service's text about this action, without ids that mean nothing to people."""
        return text

    def describe(self) -> str:
        """What the action does, for the audit log."""
        return self.words().what

    def send(self, clients: Clients) -> Result:
        """Carry the action out; raises ApiError when it fails."""
        raise NotImplementedError

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """What the service shows of this action having taken effect, or None (READ_BACK only)."""
        return None

    @staticmethod
    def restore(stored: Mapping[str, Any]) -> Command | None:
        """The command an outbox row was written for, or None for a row from before commands."""
        fields = dict(stored)
        fields.pop(SENDER, None)
        kind = Command.registry.get(str(fields.pop("command", "")))
        return kind.from_payload(fields) if kind else None

    @classmethod
    def from_payload(cls, fields: dict[str, Any]) -> Command:
        """The command from its JSON fields (lists become tuples, as the fields are frozen)."""
        return cls(**{k: _frozen(v) for k, v in fields.items()})


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class IncidentCommand(Command):
    """A command done for one working incident, which its outbox row and audit entry name."""

    working_id: int

    @property
    def incident_id(self) -> int | None:
        """The working incident."""
        return self.working_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _statusio(clients: Clients) -> Any:
    if clients.statusio is None:
        raise ApiRejected("Status.io", "publish", "Status.io is not configured")
    return clients.statusio


def _gitlab(clients: Clients) -> Any:
    if clients.gitlab is None:
        raise ApiRejected("GitLab", "write", "GitLab is not configured")
    return clients.gitlab


def _page_target(practice: bool) -> str:
    return f"Status.io {'practice page' if practice else 'status page'}"


def _has_message(
    found: Mapping[str, Any], details: str, state: int, status: int | None = None
) -> bool:
    """Whether Status.io's incident shows a message with this text, state (and status)."""
    return any(
        m.get("details") == details
        and int(m.get("state") or 0) == state
        and (status is None or int(m.get("status") or 0) == status)
        for m in found.get("messages") or []
    )


@dataclass(frozen=True)
class CreateStatusIncident(IncidentCommand):
    """Open an incident on a status page with its first message."""

    statuspage_id: str
    practice: bool
    name: str
    details: str
    status: int
    state: int
    components: tuple[str, ...]
    all_infrastructure: bool
    broadcast: tuple[tuple[str, bool], ...]

    @property
    def action(self) -> Action:
        """Creating the status-page incident."""
        return Action.CREATE_INCIDENT

    @property
    def target(self) -> str:
        """The status page it goes to."""
        return _page_target(self.practice)

    @property
    def needs(self) -> Permission:
        """Publishing, or drafting when it goes to the practice page."""
        return permission_for(self.action, practice=self.practice)

    def identity(self) -> tuple[Any, ...]:
        """A working incident is created on the status page once, whatever its words."""
        return (self.working_id,)

    def describe(self) -> str:
        """The incident's name and first message."""
        return f"Created “{self.name}”: {self.details}"

    def send(self, clients: Clients) -> Result:
        """Create the incident; the result holds its Status.io id."""
        new_id = _statusio(clients).create_incident(
            name=self.name,
            details=self.details,
            components=list(self.components),
            status=self.status,
            state=self.state,
            broadcast=dict(self.broadcast),
            all_infrastructure=self.all_infrastructure,
            statuspage_id=self.statuspage_id,
        )
        return {"incident_id": new_id}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The active incident with this name whose messages hold this first message."""
        statusio = _statusio(clients)
        for page in statusio.incident_pages("active", statuspage_id=self.statuspage_id):
            for found in page:
                if found.get("name") == self.name and _has_message(found, self.details, self.state):
                    return {"incident_id": found["_id"]}
        return None


@dataclass(frozen=True)
class UpdateStatusIncident(IncidentCommand):
    """Publish an update, or the resolving update, to a status-page incident."""

    rivals: ClassVar[bool] = True

    revision: int
    statuspage_id: str
    practice: bool
    incident: str
    details: str
    status: int
    state: int
    broadcast: tuple[tuple[str, bool], ...]
    resolve: bool = False

    @property
    def action(self) -> Action:
        """An update or the resolve."""
        return Action.RESOLVE_INCIDENT if self.resolve else Action.UPDATE_INCIDENT

    @property
    def target(self) -> str:
        """The status page it goes to."""
        return _page_target(self.practice)

    @property
    def needs(self) -> Permission:
        """Publishing, or drafting when it goes to the practice page."""
        return permission_for(self.action, practice=self.practice)

    def identity(self) -> tuple[Any, ...]:
        """The place after the revision the CMOC last saw: one update fills it, whoever sends.

        Two sessions that publish from the same revision meet on one outbox row, so the second
        is told of the first instead of posting over it, on any database and any number of
        app servers.
        """
        return (self.working_id, self.revision)

    def describe(self) -> str:
        """The words published."""
        return f"{'Resolved' if self.resolve else 'Updated'}: {self.details}"

    def send(self, clients: Clients) -> Result:
        """Publish the update."""
        _statusio(clients).update_incident(
            incident_id=self.incident,
            details=self.details,
            status=self.status,
            state=self.state,
            broadcast=dict(self.broadcast),
            resolve=self.resolve,
            statuspage_id=self.statuspage_id,
        )
        return {"published": True}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The incident read back shows this message (by its words and state, not by clocks)."""
        found = _statusio(clients).incident(self.incident, statuspage_id=self.statuspage_id)
        shown = _has_message(found, self.details, self.state, self.status)
        return {"published": True} if shown else None


@dataclass(frozen=True)
class ChangePage(IncidentCommand):
    """Acknowledge or resolve a PagerDuty page."""

    page_id: str
    resolve: bool
    number: int | None = None  # the page's incident number, for people: not part of the action
    # Whose PagerDuty login the change is made as (PagerDuty's `From`); None: the configured one.
    from_email: str | None = None

    @property
    def action(self) -> Action:
        """Acknowledge or resolve."""
        return Action.RESOLVE_PAGE if self.resolve else Action.ACKNOWLEDGE_PAGE

    @property
    def target(self) -> str:
        """The page, by its id and, when known, its number."""
        number = f" (#{self.number})" if self.number else ""
        return f"PagerDuty page {self.page_id}{number}"

    def identity(self) -> tuple[Any, ...]:
        """The page and the change, whoever makes it; the number only names the page for people."""
        payload = self.payload()
        payload.pop("number", None)
        payload.pop("from_email", None)
        return (payload,)

    def words(self, result: Result | None = None) -> Said:
        """`Acknowledged PagerDuty page #182679`, the number from PagerDuty's answer if need be."""
        return in_words(self.action.value, self.target, number=_page_number(result))

    def plain(self, text: str, result: Result | None = None) -> str:
        """The text with the page's number instead of its id."""
        return plain(text, self.target, number=_page_number(result))

    def send(self, clients: Clients) -> Result:
        """Set the page's status."""
        if clients.pagerduty is None:
            raise ApiRejected("PagerDuty", "set a page's status", "PagerDuty is not configured")
        change = clients.pagerduty.resolve if self.resolve else clients.pagerduty.acknowledge
        page = change(self.page_id, from_email=self.from_email)
        return {"status": page.get("status"), "number": page.get("incident_number")}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The page read back already has the status (a resolved page counts as acknowledged)."""
        if clients.pagerduty is None:
            return None
        page = clients.pagerduty.incident(self.page_id)
        status = page.get("status")
        wanted = ("resolved",) if self.resolve else ("acknowledged", "resolved")
        found = {"status": status, "number": page.get("incident_number")}
        return found if status in wanted else None


def _page_number(result: Result | None) -> int | None:
    number = (result or {}).get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


@dataclass(frozen=True)
class AddLabel(IncidentCommand):
    """Add a label to a GitLab issue."""

    project: str
    iid: int
    label: str

    @property
    def action(self) -> Action:
        """Labelling the issue."""
        return Action.LABEL_ISSUE

    @property
    def target(self) -> str:
        """The issue."""
        return f"GitLab {self.project}#{self.iid}"

    def describe(self) -> str:
        """The label and the issue."""
        return f"Added the label {self.label} to {self.project}#{self.iid}"

    def send(self, clients: Clients) -> Result:
        """Add the label."""
        issue = _gitlab(clients).add_labels(self.project, self.iid, [self.label])
        return {"labels": issue.get("labels")}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The issue read back carries the label."""
        labels = _gitlab(clients).issue(self.project, self.iid).get("labels") or []
        return {"labels": labels} if self.label in labels else None


@dataclass(frozen=True)
class SlackNotice(IncidentCommand):
    """Post the Incident Notifier text to one Slack destination."""

    # A webhook cannot be read back: only a person looking at the channel can tell.
    settle: ClassVar[Settle] = Settle.ASK_USER

    webhook: str
    text: str
    channel: str = ""  # the destination's name for people (`#developer-relations`), if known

    @property
    def action(self) -> Action:
        """Notifying stakeholders."""
        return Action.NOTIFY_STAKEHOLDERS

    @property
    def target(self) -> str:
        """The Slack destination, by its name for people when known."""
        return f"Slack {self.channel or self.webhook}"

    @property
    def destination(self) -> str:
        """`#developer-relations`, or `Slack (webhook 1)` for a webhook without a name."""
        return self.channel or f"Slack ({self.webhook})"

    def identity(self) -> tuple[Any, ...]:
        """One post of these words to this destination for this incident."""
        return (self.working_id, {"text": self.text, "webhook": self.webhook})

    def describe(self) -> str:
        """The notice."""
        return f"Posted to {self.destination}: {self.text}"

    def send(self, clients: Clients) -> Result:
        """Post the notice."""
        webhook = next((w for w in clients.slack if w.name == self.webhook), None)
        if webhook is None:
            raise ApiRejected("Slack", "post", f"{self.destination} is no longer configured")
        webhook.post(self.text)
        return {"posted": True}


@dataclass(frozen=True)
class LocalRecord(IncidentCommand):
    """A step recorded in the cockpit alone: a notice posted by hand, or a practice step."""

    settle: ClassVar[Settle] = Settle.REPEAT

    step: str
    where: str
    text: str = ""

    @property
    def action(self) -> Action:
        """The step it stands for."""
        return Action(self.step)

    @property
    def target(self) -> str:
        """Where it happened instead of a service."""
        return self.where

    @property
    def needs(self) -> Permission:
        """What the step stands for needs, or drafting when it is a practice step."""
        return permission_for(self.action, practice=self.where == PRACTICE_PLACE)

    def identity(self) -> tuple[Any, ...]:
        """One record per step and text."""
        return (self.working_id, {"text": self.text} if self.text else {})

    def describe(self) -> str:
        """What was recorded."""
        return self.text or self.where

    def send(self, clients: Clients) -> Result:
        """Nothing leaves the cockpit."""
        return {"recorded": True}


@dataclass(frozen=True)
class CreateIssue(Command):
    """Create a GitLab issue (a handover or a practice event), once per intent."""

    kind: Literal["create_handover", "create_practice_event_issue"]
    intent: str  # what makes it one issue: a shift, or a practice event
    project: str
    title: str
    description: str
    labels: tuple[str, ...]
    confidential: bool
    assignee_ids: tuple[int, ...] = ()
    sudo: str | None = None
    match_description: bool = True
    # The person whose shift a manager creates the handover for, when it is not the manager's.
    manager_for: str | None = None

    @property
    def action(self) -> Action:
        """Which issue this is."""
        return Action(self.kind)

    @property
    def target(self) -> str:
        """The project."""
        return f"GitLab {self.project}"

    @property
    def needs(self) -> Permission:
        """What the issue needs; another person's handover is a manager's to create."""
        return Permission.MANAGE if self.manager_for else permission_for(self.action)

    def identity(self) -> tuple[Any, ...]:
        """One issue per shift or event, whatever its text or its author."""
        return (self.intent,)

    @staticmethod
    def key_of(kind: str, intent: str) -> str:
        """The outbox key of the issue for this intent, without building the whole command."""
        return idempotency_key(kind, intent)

    def describe(self) -> str:
        """The issue's title."""
        author = f" as @{self.sudo}" if self.sudo else ""
        behalf = f" for {self.manager_for}'s shift, as manager" if self.manager_for else ""
        return f"Created the issue “{self.title}” in {self.project}{author}{behalf}"

    def send(self, clients: Clients) -> Result:
        """Create the issue; the result is the issue."""
        return dict(
            _gitlab(clients).create_issue(
                self.project,
                title=self.title,
                description=self.description,
                labels=list(self.labels),
                confidential=self.confidential,
                assignee_ids=list(self.assignee_ids) or None,
                sudo=self.sudo,
            )
        )

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The issue with this title (and text) among those changed since the claim."""
        gitlab = _gitlab(clients)
        label = self.labels[0] if self.labels and not self.match_description else None
        pages = gitlab.issues(self.project, labels=label, updated_after=since - SEARCH_MARGIN)
        for page in pages:
            for issue in page:
                same = issue.get("title") == self.title and (
                    not self.match_description or issue.get("description") == self.description
                )
                if same:
                    return dict(issue)
        return None


MaintenanceCall = Literal["start", "update", "finish"]


@dataclass(frozen=True)
class ScheduleMaintenance(Command):
    """Schedule a maintenance window (alone, or as the first half of a reschedule)."""

    statuspage_id: str
    name: str
    details: str
    components: tuple[str, ...]
    start: datetime
    end: datetime
    all_infrastructure: bool
    automation: bool
    notify: tuple[tuple[str, bool], ...]
    subject: str
    replacing: str | None = None

    @property
    def action(self) -> MaintenanceAction:
        """A schedule, or a reschedule's new window."""
        return MaintenanceAction.RESCHEDULE if self.replacing else MaintenanceAction.SCHEDULE

    @property
    def target(self) -> str:
        """The window, by name."""
        return f"Status.io maintenance “{self.name}”"

    def describe(self) -> str:
        """The window and its times."""
        span = f"{self.start:%d-%m-%Y %H:%M} to {self.end:%d-%m-%Y %H:%M} UTC"
        return f"Scheduled “{self.name}” for {span}"

    def send(self, clients: Clients) -> Result:
        """Schedule the window; the result holds its Status.io id."""
        new_id = _statusio(clients).schedule_maintenance(
            name=self.name,
            details=self.details,
            components=list(self.components),
            start=self.start,
            end=self.end,
            all_infrastructure=self.all_infrastructure,
            automation=self.automation,
            notify=dict(self.notify),
            subject=self.subject,
            statuspage_id=self.statuspage_id,
        )
        return {"maintenance_id": new_id}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The window with this name and planned start (not the one it replaces)."""
        lists = _statusio(clients).maintenances(statuspage_id=self.statuspage_id)
        for raw in lists["upcoming"] + lists["active"]:
            start = parse_time(raw.get("datetime_planned_start"))
            if (
                raw.get("_id") != self.replacing
                and raw.get("name") == self.name
                and start is not None
                and to_minute(start) == to_minute(self.start)
            ):
                return {"maintenance_id": raw["_id"]}
        return None

    @classmethod
    def from_payload(cls, fields: dict[str, Any]) -> Command:
        """The command from its JSON fields, times parsed back."""
        fields = {**fields, "start": parse_time(fields["start"]), "end": parse_time(fields["end"])}
        return super().from_payload(fields)


@dataclass(frozen=True)
class PostMaintenance(Command):
    """Start a maintenance, post an update without starting it, or finish it."""

    statuspage_id: str
    call: MaintenanceCall
    maintenance_id: str
    name: str
    details: str
    broadcast: tuple[tuple[str, bool], ...]
    subject: str
    automation_disabled: bool = False
    reason: str = ""  # why it starts early, for the audit log

    @property
    def action(self) -> MaintenanceAction:
        """Start, update or finish."""
        return MaintenanceAction(f"maintenance_{self.call}")

    @property
    def target(self) -> str:
        """The window, by name."""
        return f"Status.io maintenance “{self.name}”"

    def describe(self) -> str:
        """The words posted, and why it starts early if it does."""
        said = f"{self.call.capitalize()}: {self.details}"
        return f"{said} · {self.reason}" if self.reason else said

    def identity(self) -> tuple[Any, ...]:
        """The post, whatever the reason says: it names how early, which changes by the minute."""
        return (replace(self, reason="").payload(),)

    def send(self, clients: Clients) -> Result:
        """Post to the window."""
        _statusio(clients).post_maintenance(
            self.call,
            maintenance_id=self.maintenance_id,
            details=self.details,
            broadcast=dict(self.broadcast),
            subject=self.subject,
            statuspage_id=self.statuspage_id,
        )
        return {"maintenance_id": self.maintenance_id}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The window, read back in a phase the call leads to, shows this message."""
        phases = {
            "start": ("active", "resolved"),
            "update": ("upcoming", "active", "resolved"),
            "finish": ("resolved",),
        }[self.call]
        lists = _statusio(clients).maintenances(statuspage_id=self.statuspage_id)
        for raw in (item for phase in phases for item in lists[phase]):
            if raw.get("_id") == self.maintenance_id and any(
                m.get("details") == self.details for m in raw.get("messages") or []
            ):
                return {"maintenance_id": self.maintenance_id}
        return None


@dataclass(frozen=True)
class DeleteMaintenance(Command):
    """Delete a maintenance window (the second half of a reschedule)."""

    statuspage_id: str
    maintenance_id: str
    name: str

    @property
    def action(self) -> MaintenanceAction:
        """Deleting the window."""
        return MaintenanceAction.DELETE

    @property
    def target(self) -> str:
        """The window, by name."""
        return f"Status.io maintenance “{self.name}”"

    def describe(self) -> str:
        """Which window."""
        return f"Deleted “{self.name}”"

    def send(self, clients: Clients) -> Result:
        """Delete the window."""
        _statusio(clients).delete_maintenance(
            maintenance_id=self.maintenance_id, statuspage_id=self.statuspage_id
        )
        return {"deleted": self.maintenance_id}

    def confirm(self, clients: Clients, *, since: datetime) -> Result | None:
        """The window is no longer listed."""
        lists = _statusio(clients).maintenances(statuspage_id=self.statuspage_id)
        listed = any(raw.get("_id") == self.maintenance_id for i in lists.values() for raw in i)
        return None if listed else {"deleted": self.maintenance_id}


def flags(mapping: Mapping[str, bool]) -> tuple[tuple[str, bool], ...]:
    """A broadcast or notify mapping as a frozen, ordered value."""
    return tuple(sorted((str(k), bool(v)) for k, v in mapping.items()))


__all__ = [
    "Action",
    "AddLabel",
    "BY_HAND_PLACE",
    "ChangePage",
    "Command",
    "CreateIssue",
    "CreateStatusIncident",
    "DeleteMaintenance",
    "LocalRecord",
    "MISSING",
    "MaintenanceAction",
    "NEEDS",
    "PRACTICE_PLACE",
    "PostMaintenance",
    "Result",
    "Said",
    "ScheduleMaintenance",
    "Settle",
    "SENDER",
    "SlackNotice",
    "UpdateStatusIncident",
    "IncidentCommand",
    "WORDS",
    "Wording",
    "flags",
    "idempotency_key",
    "in_words",
    "moment",
    "page_of",
    "permission_for",
    "plain",
    "sent_by",
]
