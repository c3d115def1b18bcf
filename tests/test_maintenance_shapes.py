"""Maintenance against Status.io's documented shapes: affected items kept, refusals explained.

A maintenance listing carries `components_affected` and, apart, `containers_affected`
(statusio-go maintenance_types.go). A reschedule must send the window's own items, never every
container of each component. `maintenance/update` is documented as "Update an active
maintenance" (statusio-python, statusio-ruby): when Status.io refuses it before the start, the
CMOC reads one clear line and loses nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, delete

from cmoc_core import maintenance
from cmoc_core.maintenance import Action, Notice, Window
from cmoc_core.models import Component, OutboxEntry, PublishStatus
from cmoc_core.sandbox import Fault
from tests.test_maintenance import END, World

NOT_STARTED = "Maintenance has not started"


@pytest.fixture
def world(sqlite_engine, organisation):
    built = World(sqlite_engine, organisation)
    yield built
    built.clients.close()


def item(world: World, component: str, container: str) -> str:
    """The `component-container` id of a named component in a named container."""
    found = next(c for c in world.sandbox.org.statusio_components if c["name"] == component)
    box = next(b for b in found["containers"] if b["name"] == container)
    return f"{found['_id']}-{box['_id']}"


def scheduled_in_status_io(world: World, items: list[str]) -> Window:
    """A window scheduled in Status.io itself (this app's outbox knows nothing of it)."""
    plan = world.plan()
    window_id = world.clients.statusio.schedule_maintenance(
        name=plan.name,
        details=plan.text,
        components=items,
        start=plan.start,
        end=plan.end,
        automation=True,
    )
    return refreshed(world, window_id)


def refreshed(world: World, window_id: str) -> Window:
    maintenance.refresh(
        engine=world.engine,
        client=world.clients.statusio,
        statuspage_id=world.settings.statusio_statuspage_id,
    )
    window = world.board().find(window_id)
    assert window is not None
    return window


def rescheduled_items(world: World, window: Window) -> list[str]:
    """What the reschedule form would send for this window, moved a week later."""
    world.sandbox.reset_requests()
    base = maintenance.plan_for(window, now=world.now())
    moved = maintenance.replace(
        base, start=base.start + timedelta(days=7), end=base.end + timedelta(days=7)
    )
    outcome = world.publisher.reschedule(window=window, plan=moved, now=world.now())
    assert outcome.ok, outcome.message
    [schedule] = [body for path, body in world.writes() if path == "/maintenance/schedule"]
    return schedule["infrastructure_affected"]


# Point 5: a reschedule keeps the window's items ---------------------------------------------


def test_a_window_on_one_container_of_a_component_is_rescheduled_on_that_container_only(world):
    website_gce = item(world, "Website", "Google Compute Engine")
    window = scheduled_in_status_io(world, [website_gce])
    assert window.components == ["Website (Google Compute Engine)"]
    assert maintenance.plan_for(window, now=world.now()).components == [website_gce]
    assert rescheduled_items(world, window) == [website_gce]


def test_a_window_listing_one_container_for_two_components_keeps_just_those_pairs(world):
    items = [
        item(world, "Website", "Cloudflare"),
        item(world, "GitLab Pages", "Cloudflare"),
    ]
    window = scheduled_in_status_io(world, items)
    assert sorted(rescheduled_items(world, window)) == sorted(items)


def test_a_window_scheduled_here_keeps_its_exact_mixed_items_through_a_reschedule(world):
    # Listed as components {Website, API} and containers {GCE, Cloudflare}: the listing alone
    # would allow four pairs; the window has two.
    items = [item(world, "Website", "Google Compute Engine"), item(world, "API", "Cloudflare")]
    outcome = world.publisher.schedule(plan=world.plan(components=items), now=world.now())
    assert outcome.ok, outcome.message
    window = world.board().find(outcome.result["maintenance_id"])
    assert window is not None
    assert window.component_ids == items
    assert rescheduled_items(world, window) == items


def test_components_listed_with_their_containers_pair_only_with_their_own():
    listing = {
        "upcoming": [
            {
                "_id": "m1",
                "name": "Registry move",
                "datetime_planned_start": "2026-11-03T22:30:00.000Z",
                "datetime_planned_end": "2026-11-04T00:30:00.000Z",
                # statusio-go MaintenanceResponse: components carry their container ids.
                "components_affected": [
                    {"_id": "web", "name": "Website", "containers": ["gce", "cf"]},
                    {"_id": "reg", "name": "Container Registry", "containers": ["gce"]},
                ],
                "containers_affected": [
                    {"_id": "cf", "name": "Cloudflare", "location": "Global"},
                    {"_id": "gce", "name": "Google Compute Engine", "location": "us-east1"},
                ],
                "messages": [],
            }
        ]
    }
    [window], _ = maintenance.rows(listing, "page")
    assert window["components"] == ["web-cf", "web-gce", "reg-gce"]


def test_an_item_missing_from_the_component_list_is_named_and_never_silently_dropped(world):
    website_gce = item(world, "Website", "Google Compute Engine")
    window = scheduled_in_status_io(world, [website_gce])
    with Session(world.engine) as session:  # a component added in Status.io after the last sync
        website = website_gce.partition("-")[0]
        session.exec(delete(Component).where(Component.component_id == website))
        session.commit()
    window = world.board().find(window.id)
    assert window is not None and window.unlisted == [website_gce]
    assert maintenance.reschedule_warnings(window) == [
        "1 of this window's affected items is not in the synced component list, so the form "
        "below cannot tick it: sync Status.io, then reschedule, so the new window keeps it."
    ]
    assert maintenance.unlisted_note(window) == (
        "Also affects 1 item not in the synced component list."
    )
    assert maintenance.plan_for(window, now=world.now()).components == []


# Point 7: an update before the start that Status.io refuses ---------------------------------


def upcoming(world: World) -> Window:
    window = world.board().upcoming[0]
    assert window.phase == "upcoming"
    return window


def messages_of(world: World, window_id: str) -> list[str]:
    listed = world.listed()
    found = next(w for phase in listed.values() for w in phase if w["_id"] == window_id)
    return [m["details"] for m in found["messages"]]


def test_the_update_form_before_the_start_says_what_happens_if_status_io_refuses(world):
    window = upcoming(world)
    assert maintenance.refusal_note(window, Action.UPDATE) == maintenance.UPDATE_BEFORE_START
    assert maintenance.refusal_note(world.board().active[0], Action.UPDATE) is None
    assert maintenance.refusal_note(window, Action.START) is None


def test_an_update_status_io_refuses_before_the_start_is_one_clear_line_and_loses_nothing(world):
    window = upcoming(world)
    before = messages_of(world, window.id)
    fault = Fault(
        service="statusio",
        kind="statusio_error",
        path_contains="/maintenance/update",
        message=NOT_STARTED,
    )
    world.sandbox.add_fault(fault)
    notice = Notice("Reminder: the upgrade starts as planned.")
    outcome = world.publisher.post(window=window, action=Action.UPDATE, notice=notice, now=END)
    assert outcome.status == "failed"
    assert outcome.message == (
        f"Status.io refused the update to “{window.name}” before its start ({NOT_STARTED}): "
        "nothing was posted and your message is kept; post it with “Post Update Without "
        "Starting” in Status.io, or here once the maintenance has started."
    )
    assert "\n" not in outcome.message
    assert messages_of(world, window.id) == before
    with Session(world.engine) as session:
        [entry] = session.exec(
            maintenance.select(OutboxEntry).where(OutboxEntry.action == Action.UPDATE.value)
        ).all()
        assert entry.status == PublishStatus.FAILED
    world.sandbox.clear_faults()
    again = world.publisher.post(window=window, action=Action.UPDATE, notice=notice, now=END)
    assert again.ok, again.message
    assert messages_of(world, window.id) == [*before, notice.details]


# Automation and reminders: Status.io's list does not carry them ------------------------------

# statusio-go maintenance_types.go `MaintenanceResponse`: every field a listed window has.
DOCUMENTED_WINDOW_FIELDS = {
    "__v",
    "_id",
    "components_affected",
    "containers_affected",
    "datetime_open",
    "datetime_planned_end",
    "datetime_planned_start",
    "kind",
    "messages",
    "name",
    "statuspage",
}


def test_the_listing_carries_only_documented_fields_so_settings_come_from_here_or_are_not_known(
    world,
):
    plan = world.plan(start=END + timedelta(days=6), end=END + timedelta(days=6, hours=2))
    scheduled = world.publisher.schedule(plan=plan, now=world.now())
    listed = [w for phase in world.listed().values() for w in phase]
    assert listed and all(set(w) <= DOCUMENTED_WINDOW_FIELDS for w in listed)
    board = world.board()
    ours = board.find(scheduled.result["maintenance_id"])
    assert (ours.automation, ours.notify) == (True, plan.notify)
    others = [w for w in board.active + board.upcoming if w.id != ours.id]
    assert others and all(w.automation is None and w.notify is None for w in others)
    assert {maintenance.automation_words(w) for w in others} == {
        "Automation: Status.io does not report this"
    }
