"""The team kanban: open work by status, for one group or all of them."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from .extensions import rows_with_extension_values
from .models import OPEN_Q, Ticket
from .queues import SORTS

CARDS_PER_COLUMN = 30
COLUMNS = [
    Ticket.Status.NEW,
    Ticket.Status.OPEN,
    Ticket.Status.PENDING,
    Ticket.Status.ON_HOLD,
    Ticket.Status.RESOLVED,
]
# Resolved tickets stay on the board for a week, then only in the queues.
RESOLVED_SHOWN_FOR = timedelta(days=7)


def board_columns(*, filters: Q | None = None) -> list[dict]:
    """Each column's first cards (most urgent first) and its total: one query
    per column plus one for the counts, whatever the board's size; each card
    carries its registered badges (`board_cards_with_badges`)."""
    filters = filters or Q()
    recently_resolved = Q(
        status=Ticket.Status.RESOLVED, resolved_at__gte=timezone.now() - RESOLVED_SHOWN_FOR
    )
    # Two counts, each matching one partial index (open work: index-only).
    counts = dict(
        Ticket.objects.filter(OPEN_Q)
        .filter(filters)
        .values_list("status")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts[Ticket.Status.RESOLVED] = (
        Ticket.objects.filter(recently_resolved).filter(filters).count()
    )
    order = [key.order_expression() for key in SORTS["urgent"]]
    columns = []
    for status in COLUMNS:
        in_column = recently_resolved if status == Ticket.Status.RESOLVED else Q(status=status)
        cards = list(
            Ticket.objects.filter(in_column)
            .filter(filters)
            .select_related("tenant", "assignee")
            .order_by(*order)[:CARDS_PER_COLUMN]
        )
        columns.append(
            {
                "status": status,
                "label": Ticket.Status(status).label,
                "cards": cards,
                "count": counts.get(status, 0),
            }
        )
    board_cards_with_badges([card for column in columns for card in column["cards"]])
    return columns


def board_cards_with_badges(cards: list[Ticket]) -> list[Ticket]:
    """Cards with the registered badges (`tickets.extensions.queue_badges`):
    each badge's loader is called once for all the cards given."""
    return list(rows_with_extension_values(cards, columns=False))
