"""SLA reads that pages share."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from tickets.models import Ticket

from .models import Policy, TargetKind, TicketTarget

State = TicketTarget.State
# Which of a ticket's targets its badge shows: the worst state, then the
# nearest due time.
_SEVERITY = {State.BREACHED: 0, State.AT_RISK: 1, State.ON_TRACK: 2, State.PAUSED: 3, State.MET: 4}


def _badge(row: TicketTarget) -> dict:
    return {
        "state": row.state,
        "words": State(row.state).label,
        "due_at": row.due_at,
        "target": TargetKind(row.kind).label,
    }


def sla_badges_for_rows(rows: Sequence[Ticket]) -> dict[int, dict]:
    """{ticket_id: badge} for a page of tickets: one query. A ticket whose
    targets are all met, or that has none, or is resolved, gets no badge."""
    open_ids = [row.pk for row in rows if row.status in Ticket.OPEN_STATUSES]
    if not open_ids:
        return {}
    best: dict[int, TicketTarget] = {}
    for target in TicketTarget.objects.filter(ticket__in=open_ids, met_at__isnull=True).only(
        "ticket_id", "kind", "state", "due_at"
    ):
        current = best.get(target.ticket_id)
        key = (_SEVERITY[target.state], target.due_at or timezone.now())
        if current is None or key < (_SEVERITY[current.state], current.due_at or timezone.now()):
            best[target.ticket_id] = target
    return {ticket_id: _badge(row) for ticket_id, row in best.items()}


def sla_targets_for_ticket(ticket: Ticket) -> list[TicketTarget]:
    order = {kind: i for i, kind in enumerate(TargetKind.values)}
    rows = list(TicketTarget.objects.filter(ticket=ticket).select_related("policy"))
    return sorted(rows, key=lambda row: order[row.kind])


def sla_panel_for_ticket(ticket: Ticket, request) -> dict | None:
    """The ticket page's SLA panel: each target with its due time and how it
    was counted (two queries: targets with their policy, its calendar)."""
    rows = sla_targets_for_ticket(ticket)
    if not rows:
        return None
    policy = next((row.policy for row in rows if row.policy is not None), None)
    calendar = policy and policy.calendar  # one query
    return {
        "sla_targets": [
            {
                "row": row,
                "label": TargetKind(row.kind).label,
                "words": State(row.state).label,
                "counted": (
                    f"business hours of {calendar.name}"
                    if row.business and calendar and not calendar.always_open
                    else "every hour (24/7)"
                ),
            }
            for row in rows
        ],
        "sla_policy": policy,
    }


def policies_ordered() -> list[Policy]:
    return list(Policy.objects.select_related("calendar").order_by("position", "id"))
