"""Queue reads: which tickets a queue holds, in what order, a page at a time.

Pages are cut by keyset (the last row's sort key), never by OFFSET. The
"urgent" order mixes directions, so its cursor is an OR of comparisons that
Postgres applies as a filter while walking the queue's index in order: a deep
page walks the rows before it (cheap for open queues, which are small).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.db.models import Count, F, Q, Value
from django.db.models.fields import DateTimeField
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from helpdesk.models import Membership, SupportGroup, SupportGroupMember

from .extensions import rows_with_extension_values
from .models import OPEN_Q, Ticket

PAGE_SIZE = 50


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False
    # NULL sorts last, as if it were +infinity (a ticket with no due time).
    null_is_infinity: bool = False

    def order_expression(self):
        if self.null_is_infinity:
            return Coalesce(F(self.field), Cast(Value("infinity"), DateTimeField())).asc()
        return F(self.field).desc() if self.descending else F(self.field).asc()

    def after(self, value) -> Q:
        """Rows strictly after `value` in this key's order."""
        if self.null_is_infinity:
            if value is None:
                return Q(pk__in=[])
            return Q(**{f"{self.field}__gt": value}) | Q(**{f"{self.field}__isnull": True})
        return Q(**{f"{self.field}__{'lt' if self.descending else 'gt'}": value})

    def before(self, value) -> Q:
        """Rows strictly before `value` in this key's order."""
        if self.null_is_infinity:
            if value is None:
                return Q(**{f"{self.field}__isnull": False})
            return Q(**{f"{self.field}__lt": value})
        return Q(**{f"{self.field}__{'gt' if self.descending else 'lt'}": value})

    def reverse_expression(self):
        if self.null_is_infinity:
            return Coalesce(F(self.field), Cast(Value("infinity"), DateTimeField())).desc()
        return F(self.field).asc() if self.descending else F(self.field).desc()

    def equal(self, value) -> Q:
        if value is None:
            return Q(**{f"{self.field}__isnull": True})
        return Q(**{self.field: value})


# Each order ends in a unique key, so a cursor names exactly one position.
SORTS = {
    # Matches the ticket_queue_* partial indexes.
    "urgent": (
        SortKey("priority", descending=True),
        SortKey("waiting"),
        SortKey("due_at", null_is_infinity=True),
        SortKey("created_at"),
        SortKey("id"),
    ),
    "newest": (SortKey("number", descending=True),),
    "oldest": (SortKey("number"),),
    "updated": (SortKey("updated_at", descending=True), SortKey("id", descending=True)),
}
SORT_LABELS = {
    "urgent": "Most urgent",
    "newest": "Newest",
    "oldest": "Oldest",
    "updated": "Recently updated",
}
DATETIME_KEYS = {"due_at", "created_at", "updated_at"}


def encode_cursor(ticket: Ticket, sort: str) -> str:
    values = []
    for key in SORTS[sort]:
        value = getattr(ticket, key.field)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list | None:
    """The sort key a cursor carries, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        keys = SORTS[sort]
        if not isinstance(values, list) or len(values) != len(keys):
            return None
        return [
            datetime.fromisoformat(v) if key.field in DATETIME_KEYS and v is not None else v
            for key, v in zip(keys, values, strict=True)
        ]
    except (ValueError, TypeError):
        return None


def _after_cursor(sort: str, values: list) -> Q:
    keys = SORTS[sort]
    clauses = []
    for i, key in enumerate(keys):
        clause = key.after(values[i])
        for previous, value in zip(keys[:i], values[:i], strict=True):
            clause &= previous.equal(value)
        clauses.append(clause)
    return reduce(or_, clauses)


def _before_cursor(sort: str, values: list) -> Q:
    keys = SORTS[sort]
    clauses = []
    for i, key in enumerate(keys):
        clause = key.before(values[i])
        for previous, value in zip(keys[:i], values[:i], strict=True):
            clause &= previous.equal(value)
        clauses.append(clause)
    return reduce(or_, clauses)


@dataclass(frozen=True)
class Queue:
    """A named set of tickets (open ones, unless a status filter asks for
    resolved or closed); filters narrow it further."""

    slug: str
    label: str
    scope: Q
    default_sort: str = "urgent"


def queues_for(
    *, membership: Membership, groups: list[tuple[int, str]] | None = None
) -> list[Queue]:
    """The queues a member sees: their own, unassigned, their groups, and All
    for dispatchers and up. `groups`: the member's groups as (id, name) by
    name, when the caller has read them already (`selectors.tenant_choices`)."""
    user = membership.user
    queues = [
        Queue("mine", "My tickets", Q(assignee=user)),
        Queue("unassigned", "Unassigned", Q(assignee__isnull=True)),
    ]
    if groups is None:
        group_ids = SupportGroupMember.objects.filter(user=user).values("group_id")
        groups = (
            SupportGroup.objects.filter(pk__in=group_ids, archived_at__isnull=True)
            .order_by("name")
            .values_list("pk", "name")
        )
    for group_id, name in groups:
        queues.append(Queue(f"group-{group_id}", name, Q(group=group_id)))
    if membership.has_role(Membership.Role.DISPATCHER):
        queues.append(Queue("all", "All", Q()))
    return queues


def queue_get(*, membership: Membership, slug: str, queues: list[Queue] | None = None) -> Queue:
    """The member's queue named `slug` (among `queues`, when given), or 404."""
    for queue in queues if queues is not None else queues_for(membership=membership):
        if queue.slug == slug:
            return queue
    raise Http404("No such queue.")


def queue_counts(*, user) -> dict[str, int]:
    """Open tickets per queue in one query: an index-only scan of the small
    partial index ticket_open_counts_idx, not of the ticket table."""
    rows = (
        Ticket.objects.filter(OPEN_Q)
        .values("group_id")
        # Count columns of the index (tenant_id is never NULL), not id: reading
        # id would turn the index-only scan into a heap scan.
        .annotate(
            total=Count("*"),
            mine=Count("tenant", filter=Q(assignee=user)),
            unassigned=Count("tenant", filter=Q(assignee__isnull=True)),
        )
        .order_by()
    )
    counts = {"mine": 0, "unassigned": 0, "all": 0}
    for row in rows:
        counts["mine"] += row["mine"]
        counts["unassigned"] += row["unassigned"]
        counts["all"] += row["total"]
        if row["group_id"] is not None:
            counts[f"group-{row['group_id']}"] = row["total"]
    return counts


def queue_page(
    *,
    queue: Queue,
    filters: Q | None = None,
    include_closed: bool = False,
    sort: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Ticket], str | None]:
    """One page of a queue; returns the rows and the cursor of the next page.

    Each row carries the values of the registered queue columns and badges
    (`tickets.extensions`), each loader called once for the whole page."""
    sort = sort if sort in SORTS else queue.default_sort
    queryset = (
        Ticket.objects.filter(queue.scope)
        .filter(Q() if include_closed else OPEN_Q)
        .filter(filters or Q())
        .select_related("tenant", "requester", "assignee", "group")
        .order_by(*(key.order_expression() for key in SORTS[sort]))
    )
    values = decode_cursor(cursor, sort) if cursor else None
    if values is not None:
        queryset = queryset.filter(_after_cursor(sort, values))
    rows = list(queryset[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1], sort) if len(rows) > limit else None
    return list(rows_with_extension_values(rows[:limit])), next_cursor


def queue_neighbours(
    *,
    queue: Queue,
    ticket: Ticket,
    filters: Q | None = None,
    include_closed: bool = False,
    sort: str | None = None,
) -> tuple[int | None, int | None]:
    """The numbers of the tickets just before and just after `ticket` in the
    queue's order (with its filters), or None at either end: two one-row
    reads by keyset from the ticket's own sort key, sent as one query (a
    UNION ALL, each branch walking the queue's index on its own), so they
    work whether or not the ticket is still in the queue."""
    sort = sort if sort in SORTS else queue.default_sort
    values = [getattr(ticket, key.field) for key in SORTS[sort]]
    rows = (
        Ticket.objects.filter(queue.scope)
        .filter(Q() if include_closed else OPEN_Q)
        .filter(filters or Q())
    )
    following = (
        rows.filter(_after_cursor(sort, values))
        .annotate(side=Value("next"))
        .values_list("side", "number")
        .order_by(*(key.order_expression() for key in SORTS[sort]))[:1]
    )
    previous = (
        rows.filter(_before_cursor(sort, values))
        .annotate(side=Value("previous"))
        .values_list("side", "number")
        .order_by(*(key.reverse_expression() for key in SORTS[sort]))[:1]
    )
    found = dict(following.union(previous, all=True))
    return found.get("previous"), found.get("next")
