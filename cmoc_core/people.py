"""People: matching identities across systems, explicit mappings, and the mapping view."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from cmoc_core import linking
from cmoc_core.models import Identity, Person, PersonMapping, System
from cmoc_core.sources import SOURCE_NAMES
from cmoc_core.storage import upsert

if TYPE_CHECKING:  # pandas is slow to load: imported where the table is built
    import pandas as pd

MAPPING_COLUMNS = ("system", "external_id", "person")


def refresh_people(*, session: Session) -> None:
    """Match every identity to a person: explicit mapping, then email, then name."""
    identities = sorted(
        session.exec(select(Identity)).all(),
        key=lambda i: (i.system != System.PAGERDUTY, i.external_id),
    )
    mappings: dict[tuple[str, str], str] = {
        (m.system, m.external_id): m.person_key for m in session.exec(select(PersonMapping))
    }
    records = [linking.IdentityRecord(i.system, i.external_id, i.name, i.email) for i in identities]
    keys = linking.match_people(records, mappings)
    emails: dict[str, str | None] = {}
    for identity in identities:
        key = keys[(identity.system, identity.external_id)]
        emails[key] = emails.get(key) or identity.email
    people = {p.key: p for p in session.exec(select(Person))}
    for key, email in emails.items():
        person = people.get(key)
        if person is None:
            person = people[key] = Person(key=key, name=key)
        if person.email != email or person.id is None:
            person.email = email
            session.add(person)
    session.flush()
    for identity in identities:
        person_id = people[keys[(identity.system, identity.external_id)]].id
        if identity.person_id != person_id:
            identity.person_id = person_id
            session.add(identity)
    for key, person in people.items():
        if key not in emails:
            session.delete(person)


def people_table(*, session: Session) -> pd.DataFrame:
    """One row per identity, headed in words: its person, service, names, and who maps it."""
    import pandas as pd

    rows = session.exec(
        select(Identity, Person).join(
            Person, col(Identity.person_id) == col(Person.id), isouter=True
        )
    ).all()
    mapped = {(m.system, m.external_id) for m in session.exec(select(PersonMapping))}
    frame = pd.DataFrame(
        [
            {
                "Person": person.name if person else "",
                "Service": SOURCE_NAMES[identity.system],
                "Name": identity.name,
                # PagerDuty knows no usernames: an unresolved one is its id, a resolved its email.
                "Username": identity.username
                if identity.username not in (None, identity.external_id, identity.email)
                else "",
                "Email": identity.email or "",
                "Mapped by hand": (identity.system, identity.external_id) in mapped,
            }
            for identity, person in rows
        ],
        columns=["Person", "Service", "Name", "Username", "Email", "Mapped by hand"],
    )
    services = frame.groupby("Person")["Service"].agg(lambda known: sorted(set(known)))
    frame.insert(5, "Known to", [_known_to(services[person]) for person in frame["Person"]])
    return frame.sort_values(["Person", "Service"]).reset_index(drop=True)


def _known_to(services: list[str]) -> str:
    """`GitLab only`, `GitLab and PagerDuty`."""
    return f"{services[0]} only" if len(services) == 1 else " and ".join(services)


def known_to_one_service(table: pd.DataFrame) -> int:
    """How many people of `people_table` only one service knows."""
    return int(table.groupby("Person")["Service"].nunique().eq(1).sum())


def identity_choices(*, session: Session) -> dict[str, tuple[str, str]]:
    """`Name (GitLab)` per identity, `Name (GitLab user 1379872)` if its service has two such."""
    identities = session.exec(select(Identity).order_by(Identity.name, Identity.system)).all()
    named = Counter((i.name, i.system) for i in identities)
    choices: dict[str, tuple[str, str]] = {}
    for i in identities:
        service = SOURCE_NAMES[i.system]
        account = f"{service} user {i.external_id}" if named[(i.name, i.system)] > 1 else service
        choices[f"{i.name} ({account})"] = (i.system, i.external_id)
    return choices


def person_keys(*, session: Session) -> list[str]:
    """Every person's key, sorted."""
    return sorted(session.exec(select(Person.key)).all())


def add_mapping(*, session: Session, system: str, external_id: str, person_key: str) -> None:
    """Record that an identity belongs to `person_key`, then rematch everyone."""
    if not person_key.strip():
        raise ValueError("the person's name is empty")
    upsert(
        session,
        PersonMapping,
        [{"system": System(system), "external_id": external_id, "person_key": person_key.strip()}],
        keys=("system", "external_id"),
    )
    refresh_people(session=session)


def load_mappings_csv(*, session: Session, text: str) -> int:
    """Load `system,external_id,person` rows (header required); returns how many were loaded."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or set(MAPPING_COLUMNS) - set(reader.fieldnames):
        raise ValueError(f"the file needs the columns {', '.join(MAPPING_COLUMNS)}")
    rows = []
    for line, row in enumerate(reader, start=2):
        system = (row["system"] or "").strip().lower()
        if system not in {s.value for s in System}:
            raise ValueError(f"line {line}: unknown system {row['system']!r}")
        if not (row["external_id"] or "").strip() or not (row["person"] or "").strip():
            raise ValueError(f"line {line}: external_id and person are required")
        rows.append(
            {
                "system": System(system),
                "external_id": row["external_id"].strip(),
                "person_key": row["person"].strip(),
            }
        )
    upsert(session, PersonMapping, rows, keys=("system", "external_id"))
    refresh_people(session=session)
    return len(rows)
