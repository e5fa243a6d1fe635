"""Ticket events as an outbox: other apps subscribe handlers here, and each new
event is handed to them by a Celery task after the change commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from helpdesk.api.authentication import acting_api_key
from helpdesk.handover import HandOver

from .extensions import event_kind_get
from .models import Event


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[[Event], None]
    kinds: frozenset[str] | None  # None: every kind
    # Decided from the event row alone, before it is saved: an event no
    # handler wants is marked processed at once and never enqueued.
    when: Callable[[Event], bool] | None = None

    def wants(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return self.when is None or self.when(event)


_handlers: dict[str, Handler] = {}
# The API key a request came in with (set by the JSON API for the request):
# every event recorded meanwhile names it.


def subscribe(
    name: str,
    kinds: Iterable[str] | None = None,
    when: Callable[[Event], bool] | None = None,
):
    """Register `func(event)` to run once for each committed event of `kinds`
    (for which `when(event)` is true, if given).

    Handlers must be idempotent in effect: a handler's writes and its
    completion mark commit together, but a crash can still re-run it.
    """

    def register(func: Callable[[Event], None]) -> Callable[[Event], None]:
        _handlers[name] = Handler(name, func, frozenset(kinds) if kinds is not None else None, when)
        return func

    return register


def unsubscribe(name: str) -> None:
    _handlers.pop(name, None)


def handlers_for(event: Event) -> list[Handler]:
    return [handler for handler in _handlers.values() if handler.wants(event)]


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
    """Write events (from `event_build`) with one INSERT, and hand them to
    their handlers together once the caller's transaction commits."""
    for event in events:
        event_kind_get(event.kind)  # an Event made without event_build is checked too
        if not handlers_for(event):
            event.processed_at = event.created_at
    Event.objects.bulk_create(events)
    waiting = [(event.tenant_id, event.pk) for event in events if event.processed_at is None]
    if waiting:
        # robust: if the broker is down the change still stands; the sweep
        # finds the unprocessed events later.
        transaction.on_commit(lambda: _hand_over(waiting), robust=True)
    return events


def _process_one(tenant_id: int, event_id: int) -> None:
    from .tasks import process_event

    process_event.delay(tenant_id=tenant_id, event_id=event_id)


def _process_many(tenant_id: int, event_ids: list[int]) -> None:
    from .tasks import process_events

    process_events.delay(tenant_id=tenant_id, event_ids=event_ids)


_hand_over = HandOver("events", _process_one, _process_many, chunk=200)
# Within this block, committed events go to their handlers in one task per
# 200 when the block ends, instead of one task each (helpdesk.handover).
events_handed_over_together = _hand_over.together
