"""Recompute every open ticket after a policy or calendar edit, in batches.

`sla_recompute` costs about 60 ms a ticket (its own transaction, a lock,
four reads, a write per changed row, one more for the due time): 15 hours
for a million open tickets on one worker. This path decides exactly as it
does (`targets_plan`, the same pure function, with the same calendar tables
of `sla.clock`) but reads and writes a batch of tickets at a time, a fixed
number of statements per batch whatever its size:

- the batch's open tickets, by id after the last batch's (keyset), locked;
- their target rows; the status changes and the customer messages and
  public replies of those that have a policy (one query each);
- one INSERT ... ON CONFLICT DO UPDATE from arrays for new and changed
  rows, one DELETE for targets a ticket no longer has (a breach stays),
  one UPDATE for breaches kept that no longer need a check;
- the due times through the tickets app's bulk system update.

A ticket changed by an agent meanwhile waits for its batch's lock, and its
own event recomputes it after; a ticket the batch does not see (closed
since) was recomputed by its own event.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due
from tickets.models import Event, Message, Ticket
from tickets.services import tickets_system_due_update

from ..models import Reminder, TicketTarget
from .reminders import reminder_values
from .timers import (
    RESPONSE_KINDS,
    WORK_KIND,
    LoadedPolicy,
    nearest_due,
    policy_for,
    targets_plan,
)

# Tickets one batch recomputes in one transaction.
BATCH = 2000
# Every column a target row has, in the order of the upsert's arrays, with
# its array type.
_COLUMNS = (
    ("tenant_id", "bigint"),
    ("ticket_id", "bigint"),
    ("kind", "varchar"),
    ("policy_id", "bigint"),
    ("cycle", "integer"),
    ("target_seconds", "integer"),
    ("business", "boolean"),
    ("started_at", "timestamptz"),
    ("due_at", "timestamptz"),
    ("at_risk_at", "timestamptz"),
    ("met_at", "timestamptz"),
    ("breached_at", "timestamptz"),
    ("seconds_used", "integer"),
    ("paused_seconds", "integer"),
    ("state", "varchar"),
    ("alerted", "varchar"),
    ("next_check_at", "timestamptz"),
    ("computed_at", "timestamptz"),
)
_KEY = ("tenant_id", "ticket_id", "kind")
_TICKET_FIELDS = (
    "pk",
    "tenant_id",
    "status",
    "priority",
    "category_id",
    "group_id",
    "channel",
    "type",
    "tags",
    "created_at",
    "first_response_at",
    "resolved_at",
    "due_at",
    "updated_at",
    "requester_id",
)
_REMINDER_FIELDS = ("cycle", "activity_at", "after_seconds", "reminded_at", "remind_at")


def _upsert(rows: list[dict]) -> None:
    """Write new and changed target rows: one statement."""
    if not rows:
        return
    names = [name for name, _ in _COLUMNS]
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in _KEY)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TicketTarget._meta.db_table} ({', '.join(names)})"
            f" SELECT * FROM unnest({arrays})"
            f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}",
            [[row[name] for row in rows] for name in names],
        )


def _grouped(rows) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for ticket_id, *rest in rows:
        out[ticket_id].append(tuple(rest))
    return out


@transaction.atomic
def sla_recompute_batch(
    *, after: int, loaded: list[LoadedPolicy], now: datetime | None = None, limit: int = BATCH
) -> tuple[int, int | None]:
    """Recompute the next `limit` open tickets with an id above `after`, as
    `sla_recompute` does each. Returns how many, and the last id (None when
    there were none)."""
    now = now or timezone.now()
    tenant_id = current_tenant().pk
    tickets = list(
        Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES, pk__gt=after)
        .order_by("pk")
        .select_for_update(of=("self",))
        .annotate(organization_id=F("requester__organization_id"))
        .only(*_TICKET_FIELDS)[:limit]
    )
    if not tickets:
        return 0, None
    ids = [ticket.pk for ticket in tickets]
    existing: dict[int, dict[str, TicketTarget]] = defaultdict(dict)
    for row in TicketTarget.objects.filter(ticket_id__in=ids):
        existing[row.ticket_id][row.kind] = row
    reminders = {row.ticket_id: row for row in Reminder.objects.filter(ticket_id__in=ids)}
    chosen = {t.pk: policy_for(t, loaded, t.organization_id) for t in tickets}
    # History only of tickets a policy applies to (what sla_recompute reads).
    with_policy = [pk for pk, policy in chosen.items() if policy is not None]
    changes = _grouped(
        Event.objects.filter(ticket_id__in=with_policy, kind=Event.Kind.STATUS_CHANGED)
        .order_by("ticket_id", "created_at", "id")
        .values_list("ticket_id", "created_at", "old_value", "new_value")
    )
    messages = _grouped(
        Message.objects.filter(ticket_id__in=with_policy, kind__in=RESPONSE_KINDS)
        .order_by("ticket_id", "created_at", "id")
        .values_list("ticket_id", "kind", "created_at")
    )
    upserts: list[dict] = []
    gone: list[int] = []
    unchecked: list[int] = []
    due: dict[int, datetime | None] = {}
    checks: list[datetime] = []
    reminded: list[Reminder] = []
    forgotten: list[int] = []
    for ticket in tickets:
        before = existing.get(ticket.pk, {})
        plan = targets_plan(
            ticket,
            organization_id=ticket.organization_id,
            changes=changes.get(ticket.pk, []),
            messages=messages.get(ticket.pk, []),
            existing=before,
            loaded=loaded,
            now=now,
        )
        rows: list = []
        for kind, values in plan.values.items():
            row = before.get(kind)
            if row is None or any(getattr(row, f) != v for f, v in values.items()):
                upserts.append(
                    {
                        "tenant_id": tenant_id,
                        "ticket_id": ticket.pk,
                        "kind": kind,
                        "computed_at": now,
                        **values,
                    }
                )
            # What nearest_due reads; lighter than a model instance.
            rows.append(SimpleNamespace(**values))
        gone.extend(before[kind].pk for kind in plan.gone)
        for kind in plan.kept_breached:
            row = before[kind]
            if row.next_check_at is not None:
                unchecked.append(row.pk)
                row.next_check_at = None
            rows.append(row)
        checks.extend(row.next_check_at for row in rows if row.next_check_at is not None)
        due[ticket.pk] = nearest_due(ticket, rows)
        reminder = reminders.get(ticket.pk)
        wanted = reminder_values(ticket, chosen[ticket.pk], reminder)
        if wanted is None:
            if reminder is not None:
                forgotten.append(reminder.pk)
        elif reminder is None or any(getattr(reminder, f) != v for f, v in wanted.items()):
            reminded.append(Reminder(tenant_id=tenant_id, ticket_id=ticket.pk, **wanted))
        if wanted is not None and wanted["remind_at"] is not None:
            checks.append(wanted["remind_at"])
    _upsert(upserts)
    if gone:
        TicketTarget.objects.filter(pk__in=gone).delete()
    if unchecked:
        TicketTarget.objects.filter(pk__in=unchecked).update(next_check_at=None)
    if reminded:
        Reminder.objects.bulk_create(
            reminded,
            update_conflicts=True,
            unique_fields=["tenant", "ticket"],
            update_fields=list(_REMINDER_FIELDS),
        )
    if forgotten:
        Reminder.objects.filter(pk__in=forgotten).delete()
    if checks:
        work_due(kind=WORK_KIND, at=min(checks))
    # Only the due times that move go to the tickets app (it checks again).
    tickets_system_due_update(
        due={t.pk: due[t.pk] for t in tickets if due[t.pk] != t.due_at},
        source="sla",
        reason="SLA deadline recomputed",
    )
    return len(tickets), ids[-1]
