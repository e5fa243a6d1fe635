"""Ticket events as an outbox: other apps subscribe handlers here, and each new
event is handed to them by a Celery task after the change commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

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


def event_record(*, ticket, kind: str, actor_user=None, actor_contact=None, **fields) -> Event:
    """Write one event in the caller's transaction and hand it to the
    subscribed handlers once that transaction commits."""
    now = fields.pop("created_at", None) or timezone.now()
    event = Event(
        tenant_id=ticket.tenant_id,
        ticket=ticket,
        kind=kind,
        actor_user=actor_user,
        actor_contact=actor_contact,
        created_at=now,
        **fields,
    )
    if not handlers_for(event):
        event.processed_at = now
    event.save()
    if event.processed_at is None:
        from .tasks import process_event

        # robust: if the broker is down the change still stands; the sweep
        # finds the unprocessed event later.
        transaction.on_commit(
            lambda: process_event.delay(tenant_id=event.tenant_id, event_id=event.pk),
            robust=True,
        )
    return event
