"""Ticket events as an outbox: other apps subscribe handlers here
(`registry`), each new event is handed to them by a Celery task after the
change commits (`outbox`), and the runner makes sure each handler's work is
done once, or is seen not to be done (`runner`)."""

from .outbox import (
    EVENTS_WORK,
    _hand_over,
    event_build,
    event_record,
    events_handed_over_together,
    events_record,
)
from .registry import (
    Handler,
    HandlerRun,
    batch_scope,
    current_handler_run,
    handler_purpose,
    handlers_for,
    subscribe,
    unsubscribe,
)
from .runner import (
    RunReport,
    events_run,
    events_run_again,
    events_sweep,
    retry_delay,
)

__all__ = [
    "EVENTS_WORK",
    "Handler",
    "HandlerRun",
    "RunReport",
    "_hand_over",
    "batch_scope",
    "current_handler_run",
    "event_build",
    "event_record",
    "events_handed_over_together",
    "events_record",
    "events_run",
    "events_run_again",
    "events_sweep",
    "handler_purpose",
    "handlers_for",
    "retry_delay",
    "subscribe",
    "unsubscribe",
]
