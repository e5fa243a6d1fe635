"""Assignments people ask for: Get next, a dispatcher's review of a
recommendation, and escalation to the next tier. Each records its routing
decision, and locks the ticket before the agent's row, as routing does."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from helpdesk.models import SupportGroup
from tickets.models import Message, Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import message_add, ticket_update

from .. import selectors
from ..models import RoutingDecision
from .claims import version_bump
from .drain import groups_of
from .routing import ROUTABLE_STATUSES, _Context, _display, _record, statuses_locked

logger = logging.getLogger(__name__)


@transaction.atomic
def ticket_get_next(*, agent) -> Ticket | None:
    """Give `agent` the most urgent unassigned ticket of their groups. Rows
    another agent is taking at this moment are skipped (SKIP LOCKED), so two
    presses at once never get the same ticket."""
    ticket = (
        Ticket.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(
            group_id__in=groups_of(agent.pk),
            assignee__isnull=True,
            status__in=ROUTABLE_STATUSES,
        )
        .order_by(*URGENT_ORDER)
        .first()
    )
    if ticket is None:
        return None
    ticket = ticket_update(ticket=ticket, actor=agent, expected_version=None, assignee=agent)
    version_bump(agent.pk)
    _record(
        ticket, trigger=RoutingDecision.Trigger.GET_NEXT, outcome=RoutingDecision.Outcome.ASSIGNED,
        ctx=_Context(), group_id=ticket.group_id, winner=agent, assigned=True,
        explanation=f"{_display(agent)} took it with Get next: the most urgent unassigned "
        "ticket of their groups.",
    )  # fmt: skip
    return ticket


@transaction.atomic
def recommendation_review(*, decision: RoutingDecision, actor, assignee) -> tuple[Ticket, str]:
    """A dispatcher confirms a recommendation or picks another agent; the
    ticket is assigned as the dispatcher's own edit. Over capacity is allowed
    and said (the second value: a note for the dispatcher, or "")."""
    decision = RoutingDecision.objects.select_for_update().get(pk=decision.pk)
    if not decision.needs_review:
        raise ValidationError("This recommendation was already reviewed.")
    # The ticket, then the agent's row: the order routers lock them in.
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .get(pk=decision.ticket_id)
    )
    if ticket.assignee_id:
        raise ValidationError(f"{ticket.reference} was assigned meanwhile; nothing changed.")
    status = statuses_locked([assignee.pk])[0]
    ctx = _Context()
    load = selectors.agent_loads([assignee.pk], ctx.config).get(assignee.pk, 0)
    weight = selectors.ticket_weight(ticket, ctx.weights)
    ticket = ticket_update(ticket=ticket, actor=actor, expected_version=None, assignee=assignee)
    version_bump(assignee.pk, ctx.now)
    decision.needs_review = False
    decision.reviewed_by, decision.reviewed_at = actor, ctx.now
    decision.save(update_fields=["needs_review", "reviewed_by", "reviewed_at"])
    over = load + weight > status.capacity
    note = (
        f"{_display(assignee)} is now over capacity ({load + weight:g} of {status.capacity})."
        if over
        else ""
    )
    _record(
        ticket, trigger=RoutingDecision.Trigger.REVIEW, outcome=RoutingDecision.Outcome.ASSIGNED,
        ctx=ctx, group_id=decision.group_id, winner=assignee, assigned=True,
        explanation=(
            f"{_display(actor)} "
            + ("confirmed the recommendation" if assignee.pk == decision.winner_id
               else "chose another agent")
            + (f"; {note}" if note else ".")
        ),
    )  # fmt: skip
    return ticket, note


def reviews_pending():
    """Recommendations waiting for a dispatcher, most urgent ticket first."""
    return (
        RoutingDecision.objects.filter(
            needs_review=True,
            ticket__assignee__isnull=True,
            ticket__status__in=ROUTABLE_STATUSES,
        )
        .select_related("ticket", "ticket__tenant", "winner", "group")
        .order_by("-ticket__priority", "ticket__created_at", "pk")
    )


@transaction.atomic
def ticket_escalate(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """Move a ticket to its group's next tier with a handover note; the new
    group's mode takes over from there."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError(
            {"reason": "Say why it goes to the next tier: the note hands it over."}
        )
    cfg = selectors.group_dispatch(ticket.group_id) if ticket.group_id else None
    if cfg is None or cfg.escalation_group_id is None:
        raise ValidationError("This ticket's group names no next tier to escalate to.")
    target = SupportGroup.objects.get(pk=cfg.escalation_group_id)
    ticket = ticket_update(
        ticket=ticket, actor=actor, expected_version=None, group=target, assignee=None
    )
    from tickets.events import event_record

    event_record(
        ticket=ticket, kind=ESCALATED_KIND, actor_user=actor, reason=reason,
        new_value={"value": target.pk, "label": target.name},
    )  # fmt: skip
    message_add(
        ticket=ticket, kind=Message.Kind.NOTE, author_user=actor,
        body=f"Escalated to {target.name}: {reason}",
    )  # fmt: skip
    transaction.on_commit(lambda: _route_later(ticket, RoutingDecision.Trigger.ESCALATION))
    return ticket


ESCALATED_KIND = "dispatch_escalated"


def _route_later(ticket, trigger) -> None:
    from ..tasks import route_ticket

    try:
        route_ticket.delay(tenant_id=ticket.tenant_id, ticket_id=ticket.pk, trigger=trigger)
    except Exception:
        # The broker is down: the waiting sweep routes it later.
        logger.exception("routing of ticket %s not handed over", ticket.pk)
