"""The handlers other apps subscribe to ticket events, and the scopes
entered around a batch of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass

from ..models import Event


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[[Event], None]
    kinds: frozenset[str] | None  # None: every kind
    # Decided from the event row alone, before it is saved: an event no
    # handler wants is marked processed at once and never enqueued.
    when: Callable[[Event], bool] | None = None
    # Brings the ticket's derived state up to date from what is committed
    # (`subscribe(..., once_per_ticket=True)`).
    once_per_ticket: bool = False
    # Latency-bound: also run ahead of the event's other handlers
    # (`subscribe(..., express=True)`).
    express: bool = False

    def wants(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return self.when is None or self.when(event)


_handlers: dict[str, Handler] = {}
# Context managers entered around each run of a batch of events, in its
# transaction (`batch_scope`).
_batch_scopes: dict[str, Callable[[], AbstractContextManager]] = {}


def subscribe(
    name: str,
    kinds: Iterable[str] | None = None,
    when: Callable[[Event], bool] | None = None,
    once_per_ticket: bool = False,
    express: bool = False,
):
    """Register `func(event)` to run once for each committed event of `kinds`
    (for which `when(event)` is true, if given).

    `once_per_ticket`: the handler reads the ticket as it stands, not the
    event (a refresh of figures kept about the ticket), so in a batch of
    events it runs once per ticket, at the ticket's last event there that
    it is to run for, after every handler of the earlier ones: it sees what
    it would have seen running for each (the batch's events were committed
    before it began), and what those handlers changed. A failure there is
    recorded on that event; the earlier ones are given back and retried.

    `express`: someone is waiting for what the handler does (a new ticket
    to be routed), so it must not queue behind the other handlers of a
    backlog of events (report figures, SLA clocks). A task of its own, on
    the `timers` queue, runs the express handlers of the events as soon as
    they commit; the events' batch, which runs every handler, finds them
    done (or runs them itself, if it comes first). Either way each runs
    once.

    A handler's writes and its completion mark commit together, and every
    constraint is checked as it writes (none deferred to the commit), so
    any error it raises, an IntegrityError included, undoes its work and is
    retried. Handlers must still be idempotent in effect: what they do
    outside the database (a publish, a Redis counter) can happen twice.
    """

    def register(func: Callable[[Event], None]) -> Callable[[Event], None]:
        _handlers[name] = Handler(
            name,
            func,
            frozenset(kinds) if kinds is not None else None,
            when,
            once_per_ticket,
            express,
        )
        return func

    return register


def unsubscribe(name: str) -> None:
    _handlers.pop(name, None)


def batch_scope(name: str, factory: Callable[[], AbstractContextManager]) -> None:
    """Enter `factory()` around every run of a batch of events (up to 200 in
    one transaction), after the handlers' savepoints: a higher app's
    handlers can gather writes to shared rows there and make them at the
    end, in one order (rows taken in the events' order would deadlock with
    another batch's). Leaving it by an exception rolls the batch back."""
    _batch_scopes[name] = factory


@dataclass(eq=False)
class HandlerRun:
    """One handler's run on one event in a batch. `failed` is set when it
    fails: its savepoint rolled back, so whatever a batch scope gathered for
    it must go too."""

    event_id: int
    handler: str
    failed: bool = False


_current_run: ContextVar[HandlerRun | None] = ContextVar("events_handler_run", default=None)


def current_handler_run() -> HandlerRun | None:
    """The handler run the calling code is part of (None outside the
    runner): a batch scope keeps what each run gathers apart by it."""
    return _current_run.get()


def handlers_for(event: Event) -> list[Handler]:
    return [handler for handler in _handlers.values() if handler.wants(event)]


def handler_purpose(name: str) -> str | None:
    """What a handler does, in words (its docstring's first line); None when
    no handler of that name is subscribed any more."""
    handler = _handlers.get(name)
    if handler is None:
        return None
    return ((handler.func.__doc__ or "").strip().splitlines() or [""])[0]
