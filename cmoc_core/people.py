"""People: matching identities across systems, explicit mappings, and the mapping view."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from cmoc_core import linking
from cmoc_core.models import Identity, Person, PersonMapping, System
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
    """One row per identity: its person, whether mapped by hand, and how many systems they span."""
    import pandas as pd

    rows = session.exec(
        select(Identity, Person).join(
            Person, col(Identity.person_id) == col(Person.id), isouter=True
        )
    ).all()
    frame = pd.DataFrame(
        [
            {
                "person": person.name if person else "",
                "system": identity.system,
                "external_id": identity.external_id,
                "username": identity.username,
                "name": identity.name,
                "email": identity.email,
                "mapped": False,
            }
            for identity, person in rows
        ],
        columns=["person", "system", "external_id", "username", "name", "email", "mapped"],
    )
    mapped = {(m.system, m.external_id) for m in session.exec(select(PersonMapping))}
    frame["mapped"] = [
        (s, e) in mapped for s, e in zip(frame["system"], frame["external_id"], strict=True)
    ]
    frame["systems"] = frame.groupby("person")["system"].transform("nunique")
    return frame.sort_values(["person", "system"]).reset_index(drop=True)


def identity_choices(*, session: Session) -> dict[str, tuple[str, str]]:
    """Readable labels `Name (system id)` for every identity, mapped to (system, external_id)."""
    identities = session.exec(select(Identity).order_by(Identity.name, Identity.system)).all()
    return {f"{i.name} ({i.system} {i.external_id})": (i.system, i.external_id) for i in identities}


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
