"""Writes of the reports app: keeping the facts current, and rebuilding them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from helpdesk.tenancy import current_tenant
from sla.models import TicketTarget
from tickets.events import current_handler_run
from tickets.models import Event, Ticket

from . import rollup
from .facts import (
    EVENT_COLUMNS,
    SLA_KINDS,
    EventRow,
    TargetRow,
    contributions,
    contributions_delta,
    fold,
    take_targets,
)
from .models import DailyDuration, DailyVolume, HourlyVolume, TicketFact

logger = logging.getLogger(__name__)

TICKET_COLUMNS = (
    "id",
    "status",
    "priority",
    "channel",
    "category_id",
    "group_id",
    "assignee_id",
    "requester__organization_id",
    "created_at",
)


def _new_fact(ticket: dict, zone: ZoneInfo) -> TicketFact:
    return TicketFact(
        tenant=current_tenant(),
        ticket_id=ticket["id"],
        created_at=ticket["created_at"],
        created_day=ticket["created_at"].astimezone(zone).date(),
    )


def _take_dimensions(fact: TicketFact, ticket: dict) -> None:
    fact.status = ticket["status"]
    fact.priority = ticket["priority"]
    fact.channel = ticket["channel"]
    fact.category_id = ticket["category_id"]
    fact.group_id = ticket["group_id"]
    fact.assignee_id = ticket["assignee_id"]
    fact.organization_id = ticket["requester__organization_id"]


def _event_rows(ticket_id: int, after: int) -> list[EventRow]:
    rows = (
        Event.objects.filter(ticket_id=ticket_id, id__gt=after)
        .order_by("id")
        .values_list(*EVENT_COLUMNS)
    )
    return [EventRow(*row) for row in rows]


def _target_rows(ticket_ids: list[int]) -> dict[int, list[TargetRow]]:
    """The SLA targets of these tickets that facts take (one query)."""
    rows: dict[int, list[TargetRow]] = {}
    for ticket_id, *values in TicketTarget.objects.filter(
        ticket_id__in=ticket_ids, kind__in=list(SLA_KINDS)
    ).values_list("ticket_id", "kind", "business", "met_at", "breached_at", "seconds_used"):
        rows.setdefault(ticket_id, []).append(TargetRow(*values))
    return rows


# What the daily rollups read of a fact besides its events' fields.
ROLLED_FIELDS = (
    "status",
    "priority",
    "channel",
    "category_id",
    "group_id",
    "assignee_id",
    "organization_id",
    "first_reply_business_seconds",
    "resolution_business_seconds",
    "sla_first_response",
    "sla_first_response_at",
    "sla_resolution",
    "sla_resolution_at",
)


@transaction.atomic
def fact_refresh(*, ticket_id: int) -> TicketFact | None:
    """Bring one ticket's fact up to date with its events, its current
    fields and its SLA targets, and add its change to the daily rollups.
    Idempotent: running it twice, or for an event already folded in,
    changes nothing (the fact and the rollups commit together)."""
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    ticket = Ticket.objects.filter(pk=ticket_id).values(*TICKET_COLUMNS).first()
    if ticket is None:
        return None
    # Two handlers of one ticket's events queue here rather than fold twice.
    fact = TicketFact.objects.select_for_update().filter(ticket_id=ticket_id).first()
    before = contributions(fact, zone)
    before_rolled = _rolled(fact)
    if fact is None:
        fact = _new_fact(ticket, zone)
    folded = fold(fact, _event_rows(ticket_id, fact.last_event_id), zone)
    _take_dimensions(fact, ticket)
    take_targets(fact, _target_rows([ticket_id]).get(ticket_id, []), zone)
    if not folded and fact.pk is not None and before_rolled == _rolled(fact):
        return fact
    fact.save()
    rollups_add(*contributions_delta(before, contributions(fact, zone)))
    return fact


def _rolled(fact: TicketFact | None):
    if fact is None:
        return None
    return tuple(getattr(fact, name) for name in ROLLED_FIELDS)


def rollups_add(
    counts: dict[tuple, list[int]], durations: dict[tuple, int], hours: dict[tuple, int]
) -> None:
    """Add a fact's change to the daily rollups (`facts.contributions_delta`),
    in place: a statement per row it changes, whatever the day's volume.
    Rows are taken in one order, so two handlers cannot deadlock on them; a
    row a negative change finds missing means the rollups are out of step
    with the facts (a rebuild puts them right), and the handler fails."""
    keys = ("tenant_id", "day", *rollup.KEY_COLUMNS)
    for table, key_columns, columns, changes in (
        ("reports_dailyvolume", keys, rollup.COUNTS, counts),
        (
            "reports_dailyduration",
            (*keys, "measure", "bucket"),
            ("count",),
            {k: [v] for k, v in durations.items()},
        ),
        (
            "reports_hourlyvolume",
            ("tenant_id", "day", "hour", *rollup.HOUR_KEYS),
            ("created",),
            {k: [v] for k, v in hours.items()},
        ),
    ):
        rollup_rows_add(table, key_columns, columns, changes)


# Rollup changes gathered in an event batch, by handler run (below), None
# outside one.
_gathered: ContextVar[dict | None] = ContextVar("reports_rollups_gathered", default=None)


@contextmanager
def rollups_gathered() -> Iterator[None]:
    """Within the block (a batch of events: `tickets.events.batch_scope`),
    the handlers' rollup changes are summed, and written when it ends, every
    table's rows in one order: two batches then never hold one hot row each
    and wait for the other's (they did, taking rows in their events' order),
    and a day's busy rows get one statement a batch, not one an event. Left
    by an exception, nothing is written (the batch rolls back)."""
    if _gathered.get() is not None:
        yield
        return
    # {handler run: {(table, key columns, columns): {key: [change]}}}: a run
    # that failed (its savepoint rolled back) leaves its changes out.
    gathered: dict = {}
    token = _gathered.set(gathered)
    try:
        yield
    finally:
        _gathered.reset(token)
    summed: dict = {}
    for run, tables in gathered.items():
        if run is not None and run.failed:
            continue
        for table, changes in tables.items():
            _sum_into(summed.setdefault(table, {}), changes)
    # Tables in one order too, whichever handler wrote first.
    for (table, key_columns, columns), changes in sorted(summed.items()):
        _rows_write(table, key_columns, columns, changes, strict=False)


def rollup_rows_add(
    table: str, key_columns: tuple[str, ...], columns: tuple[str, ...], changes: dict[tuple, list]
) -> None:
    """Add `changes` ({key after the tenant: [change per column]}) to the
    rollup `table` in place, now, or at the end of the event batch this
    runs in (`rollups_gathered`; dropped if the handler then fails). A row
    a negative change finds missing means the rollup is out of step with
    the facts (a rebuild puts it right): the handler fails (in a batch: the
    row is left, and logged)."""
    gathered = _gathered.get()
    if gathered is None:
        _rows_write(table, key_columns, columns, changes, strict=True)
        return
    run = current_handler_run()
    _sum_into(gathered.setdefault(run, {}).setdefault((table, key_columns, columns), {}), changes)


def _sum_into(into: dict[tuple, list], changes: dict[tuple, list]) -> None:
    for key, delta in changes.items():
        total = into.get(key)
        into[key] = (
            list(delta) if total is None else [a + b for a, b in zip(total, delta, strict=True)]
        )


def _rows_write(table, key_columns, columns, changes, *, strict: bool) -> None:
    """A statement per row that changes, rows in one order."""
    tenant_id = current_tenant().pk
    with connection.cursor() as cursor:
        for key in sorted(changes, key=repr):
            delta = changes[key]
            if not any(delta):
                continue
            if min(delta) >= 0:
                names = ", ".join((*key_columns, *columns))
                marks = ", ".join(["%s"] * (len(key_columns) + len(columns)))
                adds = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)
                cursor.execute(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})"
                    f" ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {adds}",
                    [tenant_id, *key, *delta],
                )
                continue
            adds = ", ".join(f"{c} = {c} + %s" for c in columns)
            match = " AND ".join(f"{c} IS NOT DISTINCT FROM %s" for c in key_columns[2:])
            cursor.execute(
                f"UPDATE {table} SET {adds} WHERE tenant_id = %s AND day = %s AND {match}",
                [*delta, tenant_id, *key],
            )
            if cursor.rowcount != 1:
                message = (
                    f"{table} is out of step with the facts: rebuild_report_facts puts it right"
                )
                if strict:
                    raise RuntimeError(message)
                logger.error("%s (row %s)", message, key)


def facts_rebuild(*, progress: Callable[[int, int], None] | None = None, chunk: int = 2000) -> int:
    """Fold every ticket's events from scratch into fresh facts, then count
    every day's rollups from them. Gives the rows the incremental path keeps
    (a property test says so).
    Streams tickets in id order, `chunk` at a time; returns how many."""
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    total = Ticket.objects.count()
    done = 0
    last_id = 0
    with transaction.atomic():
        TicketFact.objects.all().delete()
        DailyVolume.objects.all().delete()
        DailyDuration.objects.all().delete()
        HourlyVolume.objects.all().delete()
    while True:
        tickets = list(
            Ticket.objects.filter(pk__gt=last_id).order_by("pk").values(*TICKET_COLUMNS)[:chunk]
        )
        if not tickets:
            break
        last_id = tickets[-1]["id"]
        events: dict[int, list[EventRow]] = {}
        rows = (
            Event.objects.filter(ticket_id__in=[t["id"] for t in tickets])
            .order_by("ticket_id", "id")
            .values_list("ticket_id", *EVENT_COLUMNS)
        )
        for ticket_id, *row in rows:
            events.setdefault(ticket_id, []).append(EventRow(*row))
        targets = _target_rows([t["id"] for t in tickets])
        facts = []
        for ticket in tickets:
            fact = _new_fact(ticket, zone)
            fold(fact, events.get(ticket["id"], []), zone)
            _take_dimensions(fact, ticket)
            take_targets(fact, targets.get(ticket["id"], []), zone)
            facts.append(fact)
        with transaction.atomic():
            TicketFact.objects.bulk_create(facts)
        done += len(tickets)
        if progress:
            progress(done, total)
    rollups_recount()
    return done


def rollups_recount() -> None:
    """Count every day's rollups again from the facts as they are (after a
    rebuild, or to fill a rollup added by an upgrade), in one transaction."""
    tenant = current_tenant()
    params = {"tenant": tenant.pk, "zone": tenant.time_zone}
    with transaction.atomic(), connection.cursor() as cursor:
        DailyVolume.objects.all().delete()
        DailyDuration.objects.all().delete()
        HourlyVolume.objects.all().delete()
        for slice_name in rollup.SLICES:
            cursor.execute(rollup.insert_counts(rollup.every_day, slice_name), params)
            cursor.execute(rollup.insert_durations(rollup.every_day, slice_name), params)
        cursor.execute(rollup.insert_hours(), params)
