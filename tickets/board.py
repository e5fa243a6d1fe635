"""The team kanban: open work by status, for one group or all of them."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

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
    per column plus one for the counts, whatever the board's size."""
    recently_resolved = Q(
        status=Ticket.Status.RESOLVED, resolved_at__gte=timezone.now() - RESOLVED_SHOWN_FOR
    )
    on_board = Ticket.objects.filter(OPEN_Q | recently_resolved).filter(filters or Q())
    counts = dict(on_board.values_list("status").annotate(n=Count("pk")).order_by())
    order = [key.order_expression() for key in SORTS["urgent"]]
    columns = []
    for status in COLUMNS:
        cards = list(
            on_board.filter(status=status)
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
    return columns
