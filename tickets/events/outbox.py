"""Events written with the change they record, and handed to their
handlers' task once that change commits."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

from helpdesk.api.authentication import acting_api_key
from helpdesk.bulk import rows_insert
from helpdesk.handover import HandOver
from helpdesk.tenant_work import work_due

from ..extensions import event_kind_get
from ..models import Event
from .registry import handlers_for

# The control-plane mark (helpdesk.tenant_work) of tenants with events due.
EVENTS_WORK = "events"


def event_build(*, ticket, kind: str, actor_user=None, actor_contact=None, **fields) -> Event:
    """One unsaved event, for `events_record`. `kind` must be registered in
    `tickets.extensions.event_kinds` (else `UnregisteredEventKind`); the
    event is public as the kind says unless `is_public` is given."""
    registered = event_kind_get(kind)
    fields.setdefault("is_public", registered.is_public)
    return Event(
        tenant_id=ticket.tenant_id,
        ticket=ticket,
        kind=kind,
        actor_user=actor_user,
        actor_contact=actor_contact,
        actor_api_key=acting_api_key.get(),
        created_at=fields.pop("created_at", None) or timezone.now(),
        **fields,
    )


def event_record(*, ticket, kind: str, actor_user=None, actor_contact=None, **fields) -> Event:
    """Write one event in the caller's transaction and hand it to the
    subscribed handlers once that transaction commits."""
    event = event_build(
        ticket=ticket, kind=kind, actor_user=actor_user, actor_contact=actor_contact, **fields
    )
    return events_record([event])[0]


def events_record(events: list[Event]) -> list[Event]:
    """Write events (from `event_build`) with one INSERT (`rows_insert`),
    and hand them to their handlers together once the caller's transaction
    commits."""
    due: dict[int, datetime] = {}
    express: list[Event] = []
    for event in events:
        event_kind_get(event.kind)  # an Event made without event_build is checked too
        handlers = handlers_for(event)
        if not handlers:
            event.processed_at = event.created_at
        else:
            event.next_attempt_at = event.created_at
            due[event.tenant_id] = min(due.get(event.tenant_id, event.created_at), event.created_at)
            if any(handler.express for handler in handlers):
                express.append(event)
    rows_insert(events)
    # The control plane learns that the tenant has events due, so the sweep
    # finds them if the hand-over below is lost (broker down, worker killed).
    for tenant_id, at in due.items():
        work_due(kind=EVENTS_WORK, at=at, tenant_id=tenant_id)
    waiting = [(event.tenant_id, event.pk) for event in events if event.processed_at is None]
    if waiting:
        # Handed over first, so that a worker takes them first.
        _express_hand_over.after_commit([(event.tenant_id, event.pk) for event in express])
        # If the broker is down the change still stands; the sweep finds
        # the unprocessed events later.
        _hand_over.after_commit(waiting)
    return events


def _process_one(tenant_id: int, event_id: int, countdown: float | None = None) -> None:
    from ..tasks import process_event

    if countdown is None:
        process_event.delay(tenant_id=tenant_id, event_id=event_id)
    else:
        process_event.apply_async(
            kwargs={"tenant_id": tenant_id, "event_id": event_id}, countdown=countdown
        )


def _process_many(tenant_id: int, event_ids: list[int]) -> None:
    from ..tasks import process_events

    process_events.delay(tenant_id=tenant_id, event_ids=event_ids)


def _process_express_many(tenant_id: int, event_ids: list[int]) -> None:
    from ..tasks import process_events_express

    process_events_express.delay(tenant_id=tenant_id, event_ids=event_ids)


def _process_express_one(tenant_id: int, event_id: int, countdown: float | None = None) -> None:
    _process_express_many(tenant_id, [event_id])  # never a retry: no countdown


_hand_over = HandOver("events", _process_one, _process_many, chunk=200)
# Events with an express handler, to a task that runs only those
# (`subscribe(..., express=True)`). Lost, nothing is missing: the events'
# own task runs every handler.
_express_hand_over = HandOver(
    "express events", _process_express_one, _process_express_many, chunk=200
)


@contextmanager
def events_handed_over_together():
    """Within this block, committed events go to their handlers in one task
    per 200 when the block ends, instead of one task each
    (helpdesk.handover); their express handlers' tasks first."""
    with _hand_over.together(), _express_hand_over.together():
        yield
