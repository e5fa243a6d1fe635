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
    """Each column's first cards (most urgent first) and its total, in three
    queries whatever the board's size: the two counts, and every column's
    cards in one UNION ALL whose branches each walk their own index with
    their own LIMIT. Each card carries its registered badges
    (`board_cards_with_badges`)."""
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
    branches = [
        Ticket.objects.filter(
            recently_resolved if status == Ticket.Status.RESOLVED else Q(status=status)
        )
        .filter(filters)
        .select_related("tenant", "assignee")
        .order_by(*order)[:CARDS_PER_COLUMN]
        for status in COLUMNS
    ]
    # UNION ALL promises no order of its own: the cards are put back in the
    # urgent order here (the same keys as `order`: a due time of NULL last).
    cards = sorted(branches[0].union(*branches[1:], all=True), key=_urgency)
    columns = [
        {
            "status": status,
            "label": Ticket.Status(status).label,
            "cards": [card for card in cards if card.status == status],
            "count": counts.get(status, 0),
        }
        for status in COLUMNS
    ]
    board_cards_with_badges(cards)
    return columns


def _urgency(ticket: Ticket) -> tuple:
    """A card's place in SORTS["urgent"]: priority (highest first), those an
    agent can act on before those waiting, the nearest due time (none last),
    the oldest, then the id."""
    return (
        -ticket.priority,
        ticket.waiting,
        ticket.due_at is None,
        ticket.due_at,
        ticket.created_at,
        ticket.pk,
    )


def board_cards_with_badges(cards: list[Ticket]) -> list[Ticket]:
    """Cards with the registered badges (`tickets.extensions.queue_badges`):
    each badge's loader is called once for all the cards given."""
    return list(rows_with_extension_values(cards, columns=False))
