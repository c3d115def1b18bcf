"""Who is acting and what they may do: roles from the CMOC rotation, as the handbook sets them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

from sqlmodel import Session, col, func, select

from cmoc_core.config import Settings
from cmoc_core.models import Identity, OnCallEntry, Person, ScheduleKind, System

# Someone is on a rotation while they have a shift that ended this recently or is still to come.
ROTATION_LOOKBACK = timedelta(days=90)


class Role(StrEnum):
    """Why someone may do something; shown to people as is."""

    CMOC = "CMOC on the rotation"
    PUBLISHER = "publisher"
    SHADOW = "CMOC shadow"
    MANAGER = "manager"


class Permission(Enum):
    """What an action needs."""

    READ = "read history and KPIs"
    DRAFT = "draft updates and run practice events"
    PUBLISH = "publish, notify and create issues"
    ACT_ON_PAGE = "acknowledge or resolve PagerDuty pages"
    MANAGE = "map people, plan practice events and see the facilitator view"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CMOC: frozenset(
        {Permission.READ, Permission.DRAFT, Permission.PUBLISH, Permission.ACT_ON_PAGE}
    ),
    Role.PUBLISHER: frozenset(
        {Permission.READ, Permission.DRAFT, Permission.PUBLISH, Permission.ACT_ON_PAGE}
    ),
    Role.SHADOW: frozenset({Permission.READ, Permission.DRAFT}),
    Role.MANAGER: frozenset({Permission.READ, Permission.MANAGE}),
}

_WHY_NOT: dict[Permission, str] = {
    Permission.ACT_ON_PAGE: " The handbook keeps shadows off pages so that the real CMOC is "
    "still paged.",
}

_WHO_MAY: dict[Permission, str] = {
    Permission.READ: "everyone signed in",
    Permission.DRAFT: "people on the CMOC or shadow rotation and publishers",
    Permission.PUBLISH: "people on the CMOC rotation and the configured publishers",
    Permission.ACT_ON_PAGE: "people on the CMOC rotation and the configured publishers",
    Permission.MANAGE: "the configured managers",
}


class Refused(Exception):
    """An action the person acting may not take; the message says why, for people."""


@dataclass(frozen=True)
class Viewer:
    """The person using the app, and what they may do."""

    name: str
    email: str | None
    person_key: str | None
    roles: frozenset[Role]
    # False in demo mode and without sign-in, where the configured user acts for everyone.
    signed_in: bool
    pagerduty_email: str | None = None

    @property
    def actor(self) -> str:
        """How audit and outbox rows name this person."""
        if self.email and self.email.lower() != self.name.lower():
            return f"{self.name} ({self.email})"
        return self.name

    def may(self, permission: Permission) -> bool:
        """Whether this person may take actions that need `permission`."""
        if not self.signed_in or permission is Permission.READ:
            return True
        return any(permission in _GRANTS[role] for role in self.roles)

    def refusal(self, permission: Permission) -> str | None:
        """Why this person may not take such an action, in one sentence, or None."""
        if self.may(permission):
            return None
        held = ", ".join(sorted(role.value for role in self.roles)) or "no role in the rotation"
        return (
            f"You are signed in as {self.email or self.name} ({held}); only "
            f"{_WHO_MAY[permission]} may {permission.value}.{_WHY_NOT.get(permission, '')}"
        )

    def require(self, permission: Permission) -> None:
        """Raise Refused when this person may not take an action that needs `permission`."""
        reason = self.refusal(permission)
        if reason is not None:
            raise Refused(reason)


def configured_viewer(settings: Settings) -> Viewer:
    """Everyone is the configured user: demo mode, or real services without sign-in."""
    return Viewer(
        name=settings.actor,
        email=settings.pagerduty_from_email,
        person_key=None,
        roles=frozenset({Role.CMOC, Role.MANAGER}),
        signed_in=False,
        pagerduty_email=settings.pagerduty_from_email,
    )


def signed_in_viewer(
    session: Session, settings: Settings, *, email: str, name: str | None, now: datetime
) -> Viewer:
    """The signed-in person, matched to the people mapping, with the roles the rotation gives."""
    wanted = email.strip().lower()
    person = _person_with_email(session, wanted)
    kinds = _rotations(session, person, now) if person is not None else set()
    roles = {Role.CMOC} if ScheduleKind.CMOC in kinds else set()
    if ScheduleKind.SHADOW in kinds:
        roles.add(Role.SHADOW)
    if wanted in _emails(settings.cmoc_publishers):
        roles.add(Role.PUBLISHER)
    if wanted in _emails(settings.cmoc_managers):
        roles.add(Role.MANAGER)
    shown = name or (person.name if person is not None else None) or email
    return Viewer(
        name=shown,
        email=email,
        person_key=person.key if person is not None else None,
        roles=frozenset(roles),
        signed_in=True,
        pagerduty_email=_pagerduty_email(session, person) or email,
    )


def _emails(values: Iterable[str]) -> set[str]:
    return {value.strip().lower() for value in values if value.strip()}


def _person_with_email(session: Session, email: str) -> Person | None:
    """The person whose own or any identity's e-mail is `email`."""
    person = session.exec(select(Person).where(func.lower(Person.email) == email)).first()
    if person is not None:
        return person
    return session.exec(
        select(Person)
        .join(Identity, col(Identity.person_id) == Person.id)
        .where(func.lower(Identity.email) == email)
    ).first()


def _rotations(session: Session, person: Person, now: datetime) -> set[ScheduleKind]:
    """The rotations (CMOC, shadow) the person has a recent or coming shift on."""
    since = now - ROTATION_LOOKBACK
    kinds = session.exec(
        select(OnCallEntry.schedule_kind)
        .join(
            Identity,
            (col(Identity.external_id) == OnCallEntry.user_id)
            & (col(Identity.system) == System.PAGERDUTY),
        )
        .where(Identity.person_id == person.id)
        .where((col(OnCallEntry.end).is_(None)) | (col(OnCallEntry.end) >= since))
        .distinct()
    ).all()
    return {ScheduleKind(kind) for kind in kinds}


def _pagerduty_email(session: Session, person: Person | None) -> str | None:
    """The person's PagerDuty login e-mail, which PagerDuty wants as `From` on writes."""
    if person is None:
        return None
    return session.exec(
        select(Identity.email).where(
            Identity.person_id == person.id,
            Identity.system == System.PAGERDUTY,
            col(Identity.email).is_not(None),
        )
    ).first()
