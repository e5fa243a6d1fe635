"""Folding a ticket's events into its `TicketFact`: the one place that says
what each event means for the measures. Pure: no database, so the
incremental handler and the rebuild cannot disagree on what an event means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
SOLVED_STATUSES = ("resolved", "closed")

# The Event columns a fold reads (plus the kind of the message an event
# added), in `EventRow`'s order.
EVENT_COLUMNS = (
    "id",
    "kind",
    "field",
    "old_value",
    "new_value",
    "actor_system",
    "created_at",
    "message__kind",
)


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    field: str
    old_value: object
    new_value: object
    actor_system: str
    created_at: datetime
    message_kind: str | None


def _value(stored):
    """An event's stored field value ({"value", "label"}) as the raw value."""
    if isinstance(stored, dict):
        return stored.get("value")
    return stored


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def fold(fact, events: list[EventRow], zone: ZoneInfo) -> bool:
    """Apply the `events` newer than `fact.last_event_id`, in id order, to
    `fact` (a TicketFact or anything with its attributes). True when any
    was applied."""
    changed = False
    for event in sorted(events, key=lambda e: e.id):
        if event.id <= fact.last_event_id:
            continue
        changed = True
        fact.last_event_id = event.id
        if event.kind == "message_added":
            if event.message_kind == "reply":
                fact.public_replies += 1
                if fact.first_reply_at is None:
                    fact.first_reply_at = event.created_at
                    fact.first_reply_seconds = _seconds(fact.created_at, event.created_at)

        elif event.field == "status":
            before, after = _value(event.old_value), _value(event.new_value)
            if after in SOLVED_STATUSES and before not in SOLVED_STATUSES:
                fact.resolved_at = event.created_at
                fact.resolved_day = event.created_at.astimezone(zone).date()
                fact.resolution_seconds = _seconds(fact.created_at, event.created_at)
                if fact.first_resolved_at is None:
                    fact.first_resolved_at = event.created_at
            elif before in SOLVED_STATUSES and after not in SOLVED_STATUSES:
                fact.reopens += 1
                fact.resolved_at = fact.resolved_day = fact.resolution_seconds = None
        elif event.field == "assignee":
            if _value(event.new_value) is not None and fact.first_assigned_at is None:
                fact.first_assigned_at = event.created_at
                fact.assigned_by_system = bool(event.actor_system)
        elif event.field == "group":
            before, after = _value(event.old_value), _value(event.new_value)
            if before is not None and after is not None and before != after:
                fact.group_moves += 1
    return changed
