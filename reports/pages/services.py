"""Writes of the report pages: keeping a ticket's page facts current,
rebuilding them all, and the daily load snapshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from tickets.models import Event, Ticket

from ..facts import rows_delta
from ..services import rollup_rows_add
from . import rollup, selectors
from .fold import EVENT_COLUMNS, PageEvent, TicketPages, fold_ticket
from .models import (
    DailyReply,
    DailySpell,
    LoadSnapshot,
    ReplyFact,
    TicketPageKey,
    TicketSpell,
    TicketTagFact,
)

KEY_COLUMNS = rollup.KEY_COLUMNS
TICKET_COLUMNS = ("id", "status", "tags", "created_at", *KEY_COLUMNS)


def _rows(ticket: dict, pages: TicketPages) -> tuple[list, list, list]:
    tenant = current_tenant()
    spells = [
        TicketSpell(
            tenant=tenant,
            ticket_id=ticket["id"],
            kind=s.kind,
            seq=s.seq,
            value=s.value,
            previous=s.previous,
            handoff=s.handoff,
            started_at=s.started_at,
            ended_at=s.ended_at,
            seconds=s.seconds,
            ticket_open=s.ticket_open,
        )
        for s in pages.spells
    ]
    replies = [
        ReplyFact(
            tenant=tenant,
            event_id=r.event_id,
            ticket_id=ticket["id"],
            user_id=r.user_id,
            group_id=r.group_id,
            created_at=r.created_at,
        )
        for r in pages.replies
    ]
    tags = [
        TicketTagFact(
            tenant=tenant, ticket_id=ticket["id"], tag=tag, created_at=ticket["created_at"]
        )
        for tag in sorted(set(ticket["tags"] or ()))
    ]
    return spells, replies, tags


def _fold(ticket: dict, events: list[PageEvent]) -> TicketPages:
    return fold_ticket(
        created_at=ticket["created_at"],
        status=ticket["status"],
        group_id=ticket["group_id"],
        events=events,
    )


def _delete_returning(model, columns: tuple[str, ...], ticket_id: int) -> list[tuple]:
    """Delete the ticket's rows of `model`, returning their `columns`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s AND ticket_id = %s"
            f" RETURNING {', '.join(columns)}",
            [current_tenant().pk, ticket_id],
        )
        return cursor.fetchall()


@transaction.atomic
def page_facts_refresh(*, ticket_id: int) -> TicketPages | None:
    """Fold all of one ticket's events again into its spells, replies and
    tags, replacing the rows it had, and add the change to the daily
    rollups (the old rows' share out, the new rows' in). Idempotent: the
    rows depend on the events and the ticket alone."""
    _lock(ticket_id)
    ticket = Ticket.objects.filter(pk=ticket_id).values(*TICKET_COLUMNS).first()
    if ticket is None:
        return None
    events = [
        PageEvent(*row)
        for row in Event.objects.filter(ticket_id=ticket_id)
        .order_by("id")
        .values_list(*EVENT_COLUMNS)
    ]
    pages = _fold(ticket, events)
    spells, replies, tags = _rows(ticket, pages)
    old_spells = _delete_returning(TicketSpell, rollup.SPELL_COLUMNS, ticket_id)
    old_replies = _delete_returning(ReplyFact, rollup.REPLY_COLUMNS, ticket_id)
    old_key = _delete_returning(TicketPageKey, KEY_COLUMNS, ticket_id)
    old_key = old_key[0] if old_key else None
    key = _key(ticket)
    TicketTagFact.objects.filter(ticket_id=ticket_id).delete()
    TicketSpell.objects.bulk_create(spells)
    ReplyFact.objects.bulk_create(replies)
    TicketTagFact.objects.bulk_create(tags)
    TicketPageKey.objects.create(tenant=current_tenant(), ticket_id=ticket_id, **_key_fields(key))
    _rollups_move((old_spells, old_replies, old_key), (pages.spells, pages.replies, key))
    return pages


def _rollups_move(before: tuple, after: tuple) -> None:
    """Take the (spells, replies, key) `before` out of the daily rollups and
    put those `after` in, a statement per row that changes."""
    zone = ZoneInfo(current_tenant().time_zone)
    (old_spells, old_replies, old_key), (new_spells, new_replies, new_key) = before, after
    for table, keys, counts, contributions, old, new in (
        (rollup.SPELL_TABLE, rollup.SPELL_KEYS, rollup.SPELL_COUNTS,
         rollup.spell_contributions, old_spells, new_spells),
        (rollup.REPLY_TABLE, rollup.REPLY_KEYS, rollup.REPLY_COUNTS,
         rollup.reply_contributions, old_replies, new_replies),
    ):  # fmt: skip
        change = rows_delta(contributions(old, old_key, zone), contributions(new, new_key, zone))
        rollup_rows_add(table, keys, counts, change)


@transaction.atomic
def page_key_refresh(*, ticket_id: int) -> bool:
    """The ticket's agent or category changed: move its spells' and
    replies' share of the daily rollups to its new key, without folding its
    events again. Idempotent (nothing moves when the key is current).
    Returns whether anything moved."""
    _lock(ticket_id)
    ticket = Ticket.objects.filter(pk=ticket_id).values(*KEY_COLUMNS).first()
    stored = TicketPageKey.objects.filter(ticket_id=ticket_id).values_list(*KEY_COLUMNS).first()
    key = _key(ticket) if ticket is not None else None
    if key is None or stored is None or stored == key:
        return False  # a ticket never folded gets its key when it is
    spells = list(
        TicketSpell.objects.filter(ticket_id=ticket_id).values_list(*rollup.SPELL_COLUMNS)
    )
    replies = list(ReplyFact.objects.filter(ticket_id=ticket_id).values_list(*rollup.REPLY_COLUMNS))
    TicketPageKey.objects.filter(ticket_id=ticket_id).update(**_key_fields(key))
    _rollups_move((spells, replies, stored), (spells, replies, key))
    return True


def _lock(ticket_id: int) -> None:
    """Two handlers of one ticket's events queue here rather than both
    change its rows at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"reports.pages:{current_tenant().pk}:{ticket_id}"],
        )


def _key(ticket: dict) -> rollup.Key:
    return tuple(ticket[name] for name in KEY_COLUMNS)


def _key_fields(key: rollup.Key) -> dict:
    return dict(zip(KEY_COLUMNS, key, strict=True))


def page_facts_rebuild(
    *, progress: Callable[[int, int], None] | None = None, chunk: int = 2000
) -> int:
    """Fold every ticket's events from scratch into fresh page facts, `chunk`
    tickets at a time in id order (the rows the handler keeps; a test says
    so). Returns how many tickets."""
    total, tenant = Ticket.objects.count(), current_tenant()
    with transaction.atomic():
        for model in (TicketSpell, ReplyFact, TicketTagFact, TicketPageKey, DailySpell, DailyReply):
            model.objects.all().delete()
    done = last_id = 0
    while True:
        tickets = list(
            Ticket.objects.filter(pk__gt=last_id).order_by("pk").values(*TICKET_COLUMNS)[:chunk]
        )
        if not tickets:
            break
        last_id = tickets[-1]["id"]
        events: dict[int, list[PageEvent]] = {}
        rows = (
            Event.objects.filter(ticket_id__in=[t["id"] for t in tickets])
            .order_by("ticket_id", "id")
            .values_list("ticket_id", *EVENT_COLUMNS)
        )
        for ticket_id, *row in rows:
            events.setdefault(ticket_id, []).append(PageEvent(*row))
        spells, replies, tags = [], [], []
        keys = [
            TicketPageKey(tenant=tenant, ticket_id=ticket["id"], **_key_fields(_key(ticket)))
            for ticket in tickets
        ]
        for ticket in tickets:
            more = _rows(ticket, _fold(ticket, events.get(ticket["id"], [])))
            spells += more[0]
            replies += more[1]
            tags += more[2]
        with transaction.atomic():
            TicketSpell.objects.bulk_create(spells)
            ReplyFact.objects.bulk_create(replies)
            TicketTagFact.objects.bulk_create(tags)
            TicketPageKey.objects.bulk_create(keys)
        done += len(tickets)
        if progress:
            progress(done, total)
    page_rollups_recount()
    return done


def page_rollups_recount() -> None:
    """Count the pages' daily rollups again from the page facts as they are
    (after a rebuild, or to fill them after an upgrade), in one transaction."""
    tenant = current_tenant()
    params = {"tenant": tenant.pk, "zone": tenant.time_zone}
    with transaction.atomic(), connection.cursor() as cursor:
        DailySpell.objects.all().delete()
        DailyReply.objects.all().delete()
        # Right after a rebuild the planner's figures still say the tenant
        # has (almost) no page facts, and it would join every stay to every
        # key in a nested loop (hours at 100k tickets): join by hashing.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(rollup.insert_spells(), params)
        cursor.execute(rollup.insert_replies(), params)


@transaction.atomic
def load_snapshot_take(*, now: datetime | None = None) -> int:
    """Write today's load snapshot of every agent (open tickets, weighted
    load, capacity), replacing an earlier one of the same day. Returns how
    many agents."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    loads = selectors.agent_loads()
    tenant = current_tenant()
    LoadSnapshot.objects.filter(day=day).delete()
    LoadSnapshot.objects.bulk_create(
        [
            LoadSnapshot(
                tenant=tenant,
                day=day,
                user_id=load.user_id,
                open_tickets=load.open_tickets,
                load=load.load,
                capacity=load.capacity,
                taken_at=now,
            )
            for load in loads
        ]
    )
    return len(loads)
