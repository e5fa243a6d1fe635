"""Folding a ticket's events into the report pages' facts: its status and
group spells and its public replies. Pure (no database), so the event
handler and the rebuild cannot disagree on what the events mean."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

# The Event columns the fold reads, in `PageEvent`'s order.
EVENT_COLUMNS = (
    "id",
    "kind",
    "field",
    "old_value",
    "new_value",
    "actor_user_id",
    "created_at",
    "message__kind",
)
SPELL_FIELDS = ("status", "group")
OPEN_STATUSES = ("new", "open", "pending", "on_hold")


@dataclass(frozen=True)
class PageEvent:
    id: int
    kind: str
    field: str
    old_value: object
    new_value: object
    actor_user_id: int | None
    created_at: datetime
    message_kind: str | None


@dataclass(frozen=True)
class Spell:
    kind: str
    seq: int
    value: str
    previous: str | None
    handoff: bool
    started_at: datetime
    ended_at: datetime | None
    seconds: int | None
    # A current spell of a ticket still open: what "stalled now" counts.
    ticket_open: bool = False


@dataclass(frozen=True)
class Reply:
    event_id: int
    user_id: int | None
    group_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class TicketPages:
    spells: list[Spell]
    replies: list[Reply]


def _text(stored) -> str:
    """An event's stored value ({"value", "label"}, or None) as a spell's value."""
    if isinstance(stored, dict):
        stored = stored.get("value")
    return "" if stored is None else str(stored)


def _spells(kind: str, start: datetime, first: str, changes) -> list[Spell]:
    spells = []
    value, previous, since = first, None, start
    for at, after in changes:
        if after == value:
            continue
        at = max(at, since)
        spells.append(_spell(kind, len(spells), value, previous, since, at))
        value, previous, since = after, value, at
    spells.append(_spell(kind, len(spells), value, previous, since, None))
    return spells


def _spell(kind, seq, value, previous, since, until) -> Spell:
    return Spell(
        kind=kind,
        seq=seq,
        value=value,
        previous=previous,
        # From one group to another: not a ticket's first choice of group.
        handoff=kind == "group" and bool(previous) and bool(value),
        started_at=since,
        ended_at=until,
        seconds=None if until is None else max(0, int((until - since).total_seconds())),
    )


def fold_ticket(
    *, created_at: datetime, status: str, group_id: int | None, events: list[PageEvent]
) -> TicketPages:
    """A ticket's spells and replies from all its events. A field's first
    value is the old value of its first change (the ticket's current value
    when it never changed): the created event does not carry it."""
    events = sorted(events, key=lambda e: e.id)
    changes: dict[str, list[tuple[datetime, str]]] = {field: [] for field in SPELL_FIELDS}
    first: dict[str, str] = {"status": status, "group": "" if group_id is None else str(group_id)}
    seen: set[str] = set()
    replies = []
    for event in events:
        if event.field in SPELL_FIELDS:
            if event.field not in seen:
                seen.add(event.field)
                first[event.field] = _text(event.old_value)
            changes[event.field].append((event.created_at, _text(event.new_value)))
        elif event.kind == "message_added" and event.message_kind == "reply":
            replies.append(
                Reply(
                    event_id=event.id,
                    user_id=event.actor_user_id,
                    group_id=None,  # filled below, once the group's history is known
                    created_at=event.created_at,
                )
            )
    is_open = status in OPEN_STATUSES
    spells = [
        replace(spell, ticket_open=is_open) if spell.ended_at is None else spell
        for field in SPELL_FIELDS
        for spell in _spells(field, created_at, first[field], changes[field])
    ]
    groups = [s for s in spells if s.kind == "group"]
    replies = [
        Reply(r.event_id, r.user_id, _group_at(groups, r.created_at), r.created_at) for r in replies
    ]
    return TicketPages(spells=spells, replies=replies)


def _group_at(groups: list[Spell], moment: datetime) -> int | None:
    """The group a ticket was in at `moment` (the last spell begun by then)."""
    value = groups[0].value
    for spell in groups:
        if spell.started_at <= moment:
            value = spell.value
    return int(value) if value else None
