"""The CMOC performance indicators of a period, from the history's rows (`kpi_facts.Facts`).

A report selects the period's rows and counts them; nothing here reads the database, so a
process that finds the columnar copy made needs neither the ORM nor the history's tables. The
figures come out as the types of `cmoc_core.kpi_results`; the rows behind every figure are kept
as DataFrames for drill-down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cmoc_core import handbook
from cmoc_core.config import Settings
from cmoc_core.handbook import IncidentState
from cmoc_core.kinds import System
from cmoc_core.kpi_facts import Facts
from cmoc_core.kpi_results import (
    AckTime,
    AnnouncedUpdates,
    AssigneeRequests,
    ContactRequests,
    FirstPublicUpdate,
    GapCounts,
    GapFigures,
    Handover,
    Known,
    KpiReport,
    PersonFigures,
    PersonShifts,
    StakeholderThreads,
    StatusPageLabel,
    Training,
    TrainingCell,
    Unmatched,
    UpdateCadence,
)
from cmoc_core.rota import HANDOVER_WINDOW, People, Rota, naive_utc

PERSON_FIGURES = (
    "pages",
    "within_target",
    "gaps",
    "on_time",
    "shifts",
    "handed_over",
    "first_updates",
    "first_updates_within_target",
    "announced",
    "kept",
)
PAGE_COLUMNS = ["page", "title", "triggered", "ack_minutes", "person", "region", "incident"]
GAP_COLUMNS = [
    "incident",
    "title",
    "start",
    "end",
    "due",
    "severity",
    "state",
    "on_time",
    "overdue_minutes",
    "announced",
    "person",
    "region",
]
SHIFT_COLUMNS = ["person", "region", "start", "end", "handed_over"]
FIRST_UPDATE_COLUMNS = [
    "incident",
    "title",
    "page",
    "triggered",
    "first_update",
    "minutes",
    "within_target",
    "severity",
    "person",
    "region",
]


def report(
    facts: Facts, settings: Settings, since: datetime, until: datetime, now: datetime
) -> KpiReport:
    """All indicators for [since, until) from the history's rows (`Facts`)."""
    known = facts.names
    accounts = zip(known["system"], known["account"], strict=True)
    people = People(dict(zip(accounts, known["name"], strict=True)))
    rota = Rota(facts.entries[facts.entries["start"] < now], people)
    regions = rota.home_regions()
    pages = _kept(facts.pages, _within(facts.pages["triggered"], since, until))
    chosen = _within(facts.incidents["first_message_at"], since, until)
    incidents = _kept(facts.incidents, chosen)
    names = _Names.of(facts.incidents)
    gaps, firsts = names.chosen(facts.gaps, chosen), names.chosen(facts.firsts, chosen)
    late = naive_utc(gaps["end"]) - naive_utc(gaps["due"])
    gaps["overdue_minutes"] = np.where(gaps["on_time"], 0.0, late / np.timedelta64(1, "m"))
    target = settings.cmoc_first_update_target_minutes
    firsts["within_target"] = firsts["minutes"] <= target
    cut = min(until, now - HANDOVER_WINDOW)
    shifts = _kept(facts.shifts, _within(facts.shifts["end"], since, cut))
    handovers = facts.handovers
    authors = handovers.loc[
        (handovers["created"] >= since - HANDOVER_WINDOW)
        & (handovers["created"] <= cut + HANDOVER_WINDOW),
        "person",
    ]
    for frame in (pages, gaps, shifts, firsts):
        frame["region"] = _mapped(frame["person"], regions)
    contacts = _contact_requests(facts.contacts, since, until)
    persons = per_person(pages, gaps, shifts, firsts)
    counted = [row.person for row in persons] + [row.person for row in contacts.by_assignee]
    return KpiReport(
        since=since,
        until=until,
        ack_time=ack_figures(pages),
        update_cadence=UpdateCadence.of(len(incidents), cadence_figures(gaps)),
        stakeholder_threads=_stakeholder_threads(incidents),
        handover=handover_figures(shifts),
        contact_requests=contacts,
        training=_training(since, until, facts.activities, rota),
        status_page_label=_status_page_label(incidents),
        first_public_update=first_update_figures(firsts, target),
        announced_updates=announced_figures(gaps),
        per_person=persons,
        rows={
            "pages": pages[PAGE_COLUMNS].reset_index(drop=True),
            "gaps": gaps[GAP_COLUMNS].reset_index(drop=True),
            "shifts": shifts[SHIFT_COLUMNS].reset_index(drop=True),
            "first_updates": firsts[FIRST_UPDATE_COLUMNS].reset_index(drop=True),
        },
        regions=regions,
        unmatched=unmatched(people, [*counted, *authors.unique()]),
    )


@dataclass(frozen=True)
class _Names:
    """The incidents' ids and titles as categories, for rows that know their incident's row."""

    ids: pd.CategoricalDtype
    title_codes: np.ndarray
    titles: pd.CategoricalDtype

    @classmethod
    def of(cls, incidents: pd.DataFrame) -> _Names:
        """The names of these incidents (ids are unique; titles may repeat)."""
        titles = pd.Index(incidents["name"].array)
        if titles.is_unique:  # as titles mostly are: each is its own category
            codes = np.arange(len(titles))
        else:
            codes, titles = pd.factorize(titles)
        ids = pd.Index(incidents["id"].array)
        return cls(pd.CategoricalDtype(ids), codes, pd.CategoricalDtype(titles))

    def chosen(self, rows: pd.DataFrame, chosen: np.ndarray) -> pd.DataFrame:
        """The rows whose incident is chosen, with its id and title."""
        rows = _kept(rows, chosen[rows["row"].to_numpy()])
        at = rows["row"].to_numpy()
        rows["incident"] = pd.Categorical.from_codes(at, dtype=self.ids)
        rows["title"] = pd.Categorical.from_codes(self.title_codes[at], dtype=self.titles)
        return rows


def _kept(rows: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows to keep, as a frame of its own to add columns to (copied only where cut)."""
    return rows.copy(deep=False) if keep.all() else rows[keep]


def _within(moments: pd.Series, since: datetime, until: datetime) -> np.ndarray:
    """Whether each moment is in [since, until)."""
    return ((moments >= since) & (moments < until)).to_numpy(dtype=bool)


@dataclass(frozen=True)
class Selection:
    """Who and what a dashboard looks at: one person, one region, some severities."""

    person: str | None = None
    region: str | None = None
    severities: tuple[int, ...] = ()


def selected_rows(report: KpiReport, selection: Selection) -> dict[str, pd.DataFrame]:
    """The rows behind the figures for a selection (severities narrow the rows that have one:
    gaps and first updates)."""
    rows = {}
    for name, frame in report.rows.items():
        keep = pd.Series(True, index=frame.index)
        if selection.person:
            keep &= frame["person"] == selection.person
        if selection.region:
            keep &= frame["region"] == selection.region
        if selection.severities and "severity" in frame.columns:
            keep &= frame["severity"].isin(selection.severities)
        rows[name] = frame[keep.fillna(False).astype(bool)]
    return rows


def selected_grid(report: KpiReport, selection: Selection) -> pd.DataFrame:
    """The training grid (person, quarter, trained) for a selection's person and region."""
    cells = report.training.grid
    grid = pd.DataFrame(  # by column: from the cells as records, pandas copies each deeply
        {
            "person": [cell.person for cell in cells],
            "quarter": [cell.quarter for cell in cells],
            "trained": np.fromiter((cell.trained for cell in cells), bool, len(cells)),
        }
    )
    if selection.person:
        grid = grid[grid["person"] == selection.person]
    if selection.region:
        grid = grid[grid["person"].map(report.regions) == selection.region]
    return grid


# Whole columns -------------------------------------------------------------------------------


def in_minutes(delta: pd.Series) -> pd.Series:
    """Time spans as minutes."""
    return delta.dt.total_seconds() / 60


def categorical(codes: np.ndarray, labels: Any) -> pd.Categorical:
    """`labels` (which may repeat) picked by `codes` (-1 for none), as a categorical."""
    label_codes, uniques = pd.factorize(np.asarray(labels, dtype=object))
    return pd.Categorical.from_codes(np.append(label_codes, -1)[codes], categories=uniques)


def _mapped(values: pd.Series, mapping: dict[Any, Any]) -> pd.Series:
    """`values` mapped through `mapping`, as a categorical: each distinct value is mapped once."""
    labels = values.astype("category").array
    mapped = [mapping.get(label) for label in labels.categories]
    return pd.Series(categorical(labels.codes, mapped), index=values.index)


# 1. Time to acknowledge ----------------------------------------------------------------------


def ack_figures(pages: pd.DataFrame) -> AckTime:
    """The ack-time figures of kpis.md 1 for these pages."""
    minutes = pages["ack_minutes"].dropna().to_numpy()
    target = handbook.ACK_TARGET.total_seconds() / 60
    return AckTime(
        pages=len(pages),
        acknowledged=len(minutes),
        median_minutes=_percentile(minutes, 50),
        p90_minutes=_percentile(minutes, 90),
        within_target=int((minutes <= target).sum()),
        target_minutes=int(target),
    )


# 2. Cadence ----------------------------------------------------------------------------------


def cadence_figures(gaps: pd.DataFrame) -> GapFigures:
    """The cadence figures of kpis.md 2 for these gaps, also per severity and per state."""
    on_time = gaps["on_time"].to_numpy(dtype=bool)
    overdue = gaps["overdue_minutes"].to_numpy()[~on_time]
    lengths = naive_utc(gaps["end"]) - naive_utc(gaps["start"])

    def split(by: str, keys: list[Any]) -> dict[Any, GapCounts]:
        values = gaps[by].astype("category").array  # each distinct value looked up once
        at = np.append(pd.Index(keys).get_indexer(values.categories), -1)[values.codes]
        known = at >= 0
        sizes = np.bincount(at[known], minlength=len(keys))
        done = np.bincount(at[known], weights=on_time[known], minlength=len(keys))
        return {
            key: GapCounts(gaps=int(size), on_time=int(hits))
            for key, size, hits in zip(keys, sizes, done, strict=True)
        }

    return GapFigures(
        gaps=len(gaps),
        on_time=int(on_time.sum()),
        longest_gap_minutes=float(lengths.max() / np.timedelta64(1, "m")) if len(gaps) else None,
        median_overdue_minutes=_percentile(overdue, 50),
        by_severity=split("severity", [1, 2, 3, 4]),
        by_state=split("state", [state.name.title() for state in IncidentState]),
    )


# 3. Stakeholder threads ----------------------------------------------------------------------


def _stakeholder_threads(incidents: pd.DataFrame) -> StakeholderThreads:
    threads = incidents["threads"].to_numpy()
    return StakeholderThreads(
        incidents=len(incidents),
        with_thread=int((threads > 0).sum()),
        threads=int(threads.sum()),
        median_minutes_to_first_thread=_percentile(
            incidents["first_thread_minutes"].dropna().to_numpy(), 50
        ),
    )


# 4. Handover ---------------------------------------------------------------------------------


def handover_figures(shifts: pd.DataFrame) -> Handover:
    """The handover figures of kpis.md 4 for these shifts, also per person."""
    done = _flags(shifts["handed_over"])
    counts = _tally(shifts, shifts=True, handed_over=done).sort_index()
    return Handover(
        shifts=len(shifts),
        handed_over=int(done.sum()),
        by_person=tuple(
            PersonShifts(person=person, shifts=int(size), handed_over=int(handed))
            for person, size, handed in counts.itertuples()
        ),
    )


def per_person(
    pages: pd.DataFrame, gaps: pd.DataFrame, shifts: pd.DataFrame, firsts: pd.DataFrame
) -> tuple[PersonFigures, ...]:
    """The per-person figures of kpis.md for these rows (first public updates included), by name."""
    target = handbook.ACK_TARGET.total_seconds() / 60
    on_time, announced = _flags(gaps["on_time"]), _flags(gaps["announced"])
    columns = [
        _tally(pages, pages=True, within_target=(pages["ack_minutes"] <= target).to_numpy()),
        _tally(gaps, gaps=True, on_time=on_time, announced=announced, kept=announced & on_time),
        _tally(shifts, shifts=True, handed_over=_flags(shifts["handed_over"])),
        _tally(
            firsts,
            first_updates=True,
            first_updates_within_target=_flags(firsts["within_target"]),
        ),
    ]
    table = pd.concat(columns, axis=1).reindex(columns=list(PERSON_FIGURES)).fillna(0)
    table = table.astype("int64").sort_index()
    return tuple(
        PersonFigures(str(person), *(int(value) for value in values))
        for person, values in zip(table.index, table.to_numpy(), strict=True)
    )


def _tally(rows: pd.DataFrame, **flags: bool | np.ndarray) -> pd.DataFrame:
    """How many rows each person has with each flag set (True counts every row), by name."""
    person = rows["person"].astype("category").array
    known = person.codes >= 0
    codes, size = person.codes[known], len(person.categories)
    counts = {
        name: np.bincount(
            codes[flag[known]] if isinstance(flag, np.ndarray) else codes, minlength=size
        )
        for name, flag in flags.items()
    }
    present = np.bincount(codes, minlength=size) > 0
    return pd.DataFrame(counts, index=person.categories.astype(object))[present]


def _flags(column: pd.Series) -> np.ndarray:
    """A yes/no column as booleans (missing: no)."""
    return column.fillna(False).to_numpy(dtype=bool)


def unmatched(people: People, names: list[str]) -> tuple[Unmatched, ...]:
    """The people among `names` whom only one system knows (or none): each may be one half of
    a person split in two, whose figures then miss what the other half did."""
    systems: dict[str, set[str]] = {}
    for (system, _), name in people.names.items():
        systems.setdefault(name, set()).add(system)
    known = {
        frozenset({System.PAGERDUTY.value}): Known.PAGERDUTY,
        frozenset({System.GITLAB.value}): Known.GITLAB,
        frozenset(): Known.NEITHER,
    }
    found = {
        name: known[frozenset(map(str, systems.get(name, set())))]
        for name in names
        if name and len(systems.get(name, set())) < 2
    }
    return tuple(Unmatched(name, found[name]) for name in sorted(found))


# 5. Contact requests -------------------------------------------------------------------------


def _contact_requests(contacts: pd.DataFrame, since: datetime, until: datetime) -> ContactRequests:
    rows = contacts[_within(contacts["created"], since, until)]
    rows = rows.assign(done=(rows["closed"] < until).to_numpy(dtype=bool))
    issues = rows.drop_duplicates("issue")
    counts = rows.groupby(rows["person"].astype(object).to_numpy())["done"].agg(["size", "sum"])
    return ContactRequests(
        opened=len(issues),
        completed=int(issues["done"].sum()),
        by_assignee=tuple(
            AssigneeRequests(person=person, opened=int(size), completed=int(done))
            for person, (size, done) in counts.iterrows()
        ),
    )


# 6. Training ---------------------------------------------------------------------------------


def _quarters(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    start = datetime(since.year, 3 * ((since.month - 1) // 3) + 1, 1, tzinfo=UTC)
    quarters = []
    while start < until:
        month = start.month + 3
        end = start.replace(year=start.year + (month > 12), month=(month - 1) % 12 + 1)
        quarters.append((f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, end))
        start = end
    return quarters


def _training(since: datetime, until: datetime, activities: pd.DataFrame, rota: Rota) -> Training:
    quarters = _quarters(since, until)
    if not quarters:
        return Training(grid=())
    first, last = quarters[0][1], quarters[-1][2]
    activities = activities[_within(activities["at"], first, last)]
    bounds = naive_utc(pd.Series([start for _, start, _ in quarters] + [last]))
    cells = _quarters_covered(rota.cmoc, bounds).dropna()
    trained = pd.concat(  # (person, quarter) of each shadow shift and training activity
        [
            _quarters_covered(rota.shadow, bounds),
            pd.DataFrame(
                {
                    "person": activities["person"].array,
                    "quarter": np.searchsorted(bounds, naive_utc(activities["at"]), "right") - 1,
                }
            ),
        ]
    ).dropna()
    # (person, quarter) pairs as one number each, for whole-column set operations.
    codes, persons = pd.factorize(pd.concat([cells["person"], trained["person"]]).astype(object))
    keys = codes * len(quarters) + np.concatenate([cells["quarter"], trained["quarter"]])
    cell_keys = np.unique(keys[: len(cells)])
    done = np.isin(cell_keys, keys[len(cells) :])
    person, quarter = persons[cell_keys // len(quarters)], cell_keys % len(quarters)
    order = np.lexsort((person, quarter))
    labels = [label for label, _, _ in quarters]
    return Training(
        grid=tuple(
            TrainingCell(person=name, quarter=labels[at], trained=trained)
            for name, at, trained in zip(
                person[order].tolist(), quarter[order].tolist(), done[order].tolist(), strict=True
            )
        )
    )


def _quarters_covered(entries: pd.DataFrame, bounds: np.ndarray) -> pd.DataFrame:
    """(person, quarter) for each quarter an on-call entry overlaps; quarter k runs from
    bounds[k] to bounds[k + 1]."""
    first = (np.searchsorted(bounds, naive_utc(entries["start"]), "right") - 1).clip(0)
    last = (np.searchsorted(bounds, naive_utc(entries["until"]), "left") - 1).clip(
        max=len(bounds) - 2
    )
    counts = (last - first + 1).clip(0)
    steps = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame(
        {
            "person": np.repeat(entries["person"].to_numpy(), counts),
            "quarter": np.repeat(first, counts) + steps,
        }
    )


# 7. Status-page label ------------------------------------------------------------------------


def _status_page_label(incidents: pd.DataFrame) -> StatusPageLabel:
    labelled = incidents["labelled"].to_numpy(dtype=bool)
    return StatusPageLabel(
        incidents=int(incidents["linked"].sum()),
        labelled=int(labelled.sum()),
        median_minutes_to_label=_percentile(incidents["label_minutes"].dropna().to_numpy(), 50),
    )


# 8. Time to first public update --------------------------------------------------------------


def first_update_figures(firsts: pd.DataFrame, target: int) -> FirstPublicUpdate:
    """The first-public-update figures of kpis.md 8 for these incidents."""
    minutes = firsts["minutes"].to_numpy(dtype=float)
    return FirstPublicUpdate(
        incidents=len(firsts),
        median_minutes=_percentile(minutes, 50),
        p90_minutes=_percentile(minutes, 90),
        within_target=int((minutes <= target).sum()),
        target_minutes=int(target),
    )


# 9. Announced updates kept -------------------------------------------------------------------


def announced_figures(gaps: pd.DataFrame) -> AnnouncedUpdates:
    """The announced-updates figures of kpis.md 9: gaps whose earlier update named the next."""
    announced = _flags(gaps["announced"])
    return AnnouncedUpdates(
        announced=int(announced.sum()), kept=int((announced & _flags(gaps["on_time"])).sum())
    )


# Numbers -------------------------------------------------------------------------------------


def _percentile(values: Any, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None
