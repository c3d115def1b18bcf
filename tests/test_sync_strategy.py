"""Where a first sync reads acknowledgements: the cheaper way by counts, the same rows in all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cmoc_core.clients.pagerduty import MAX_WINDOW
from cmoc_core.models import PagerDutyIncident, StatusPageIncident
from cmoc_core.sandbox import Sandbox
from cmoc_core.sandbox.organisation import Organisation, generate
from cmoc_core.storage import make_engine, migrate, session_scope, upsert
from cmoc_core.sync import FIRST_SYNC_DAYS, AckSource
from tests.test_sync import dump, sync

END = datetime(2026, 11, 1, tzinfo=UTC)
# A first sync reads a year, in windows PagerDuty accepts: counting the account's log costs one
# request a window.
COUNTS = -(-timedelta(days=FIRST_SYNC_DAYS) // MAX_WINDOW)


def organisation(pages: int, others: int) -> Organisation:
    """Thirty days of an account with `pages` CMOC pages and `others` other incidents."""
    return generate(seed=7, end=END, days=30, pages=pages, other_incidents=others)


def first_acks(org: Organisation) -> dict[str, tuple[datetime, str]]:
    """Each CMOC page's earliest acknowledgement, from the organisation's own log."""
    cmoc = set(org.cmoc_service_ids)
    pages = {i["id"] for i in org.pd_incidents if i["service"]["id"] in cmoc}
    earliest: dict[str, tuple[datetime, str]] = {}
    for entry in org.pd_log_entries:
        page = entry["incident"]["id"]
        if entry["type"] != "acknowledge_log_entry" or page not in pages:
            continue
        found = (datetime.fromisoformat(entry["created_at"]), entry["agent"]["id"])
        earliest[page] = min(earliest.get(page, found), found)
    return earliest


def stored_acks(engine: Engine) -> dict[str, tuple[datetime, str]]:
    with Session(engine) as session:
        pages = session.exec(
            select(PagerDutyIncident).where(col(PagerDutyIncident.acknowledged_at).is_not(None))
        ).all()
    return {p.id: (p.acknowledged_at, p.acknowledged_by) for p in pages}


def pagerduty_reads(sandbox: Sandbox) -> dict[str, int]:
    """The PagerDuty log requests a sync made, by kind."""
    kinds = {"account log": 0, "account count": 0, "page log": 0}
    for request in sandbox.requests:
        if request.service != "pagerduty" or not request.path.endswith("log_entries"):
            continue
        if request.path.startswith("/incidents/"):
            kinds["page log"] += 1
        elif ("limit", "1") in request.params:
            kinds["account count"] += 1
        else:
            kinds["account log"] += 1
    return kinds


def first_sync(engine: Engine, org: Organisation, source: AckSource) -> tuple[int, Sandbox]:
    """The PagerDuty requests of a first PagerDuty sync, and the sandbox that answered."""
    sandbox = Sandbox(org=org, end=END)
    report = sync(engine, sandbox, END, sources=("pagerduty",), ack_source=source)
    assert report.ok, report.summary()
    return report.requests["pagerduty"], sandbox


def test_few_cmoc_pages_in_a_busy_account_are_read_page_by_page(engine):
    org = organisation(pages=20, others=3000)

    requests, sandbox = first_sync(engine, org, AckSource.AUTO)

    reads = pagerduty_reads(sandbox)
    assert reads == {"account log": 0, "account count": COUNTS, "page log": 20}
    assert stored_acks(engine) == first_acks(org)
    assert requests < 40


def test_a_quiet_account_is_read_from_its_log_after_counting_it(engine):
    org = organisation(pages=300, others=0)

    _, sandbox = first_sync(engine, org, AckSource.AUTO)

    reads = pagerduty_reads(sandbox)
    assert reads["page log"] == 0
    assert reads["account count"] == COUNTS
    assert 0 < reads["account log"] < 300 / 10
    assert stored_acks(engine) == first_acks(org)


@pytest.mark.parametrize(("pages", "others"), [(300, 0), (20, 3000), (150, 2850)])
def test_the_automatic_choice_costs_no_more_than_the_cheaper_way_and_its_counts(
    tmp_path, pages, others
):
    org = organisation(pages, others)
    costs = {}
    for source in AckSource:
        engine = make_engine(f"sqlite:///{tmp_path / f'{source.value}.db'}")
        migrate(engine)
        costs[source], _ = first_sync(engine, org, source)
        engine.dispose()

    cheapest = min(costs[AckSource.ACCOUNT_LOG], costs[AckSource.PAGE_LOGS])
    assert costs[AckSource.AUTO] <= cheapest + COUNTS


def test_every_ack_source_stores_the_same_rows(tmp_path):
    org = organisation(pages=60, others=1200)
    dumps = {}
    for source in AckSource:
        engine = make_engine(f"sqlite:///{tmp_path / f'{source.value}.db'}")
        migrate(engine)
        first_sync(engine, org, source)
        dumps[source] = dump(engine)
        assert stored_acks(engine) == first_acks(org)
        engine.dispose()

    assert all(tables == dumps[AckSource.AUTO] for tables in dumps.values())


def test_upsert_sends_every_chunk_to_one_compiled_statement(engine):
    opened = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {
            "id": f"incident-{n}",
            "statuspage_id": "page",
            "name": f"Incident {n}",
            "datetime_open": opened,
            "first_message_at": opened,
            "resolved": False,
            "components": [],
        }
        for n in range(2500)
    ]
    sent = []

    def record(_conn, _cursor, _sql, parameters, context, executemany):
        sent.append((executemany, len(parameters), id(context.compiled)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope(engine) as session:
            upsert(session, StatusPageIncident, rows, keys=("id",))
            upsert(session, StatusPageIncident, rows[:10], keys=("id",))
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert [(many, size) for many, size, _ in sent] == [
        (True, 1000),
        (True, 1000),
        (True, 500),
        (True, 10),
    ]
    assert len({compiled for _, _, compiled in sent}) == 1
    with Session(engine) as session:
        assert len(session.exec(select(StatusPageIncident)).all()) == 2500
