"""Automatic escalation on an SLA breach: a group with "escalate on breach"
hands the ticket to its next tier with a handover note, once per breach."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import SupportGroup
from helpdesk.tenancy import current_tenant
from tickets.events import event_record
from tickets.models import Event, Ticket
from tickets.services import ticket_system_update

from .. import selectors
from ..models import BreachEscalation, RoutingDecision
from .manual import ESCALATED_KIND, _route_later
from .routing import SOURCE

# The handover note's kind: an internal note on the timeline, by Routing.
HANDOVER_KIND = "dispatch_handover"


@transaction.atomic
def ticket_escalate_on_breach(*, event: Event) -> Ticket | None:
    """The SLA app recorded a breach (`event`): when the ticket's group says
    so, move the ticket to the group's next tier, unassigned, with the
    reason and a handover note; the new group's mode takes over. The breach
    (ticket, target, cycle) is claimed by a unique row first, so a handler
    run twice, or two breach events of one target, move it once."""
    ticket = Ticket.objects.select_related("tenant").get(pk=event.ticket_id)
    if not ticket.is_open or not ticket.group_id:
        return None
    cfg = selectors.group_dispatch(ticket.group_id)
    if not cfg.escalate_on_breach or not cfg.escalation_group_id:
        return None
    target = SupportGroup.objects.filter(pk=cfg.escalation_group_id).first()
    if target is None:
        return None
    value = event.new_value or {}
    try:
        with transaction.atomic():
            BreachEscalation.objects.create(
                tenant=current_tenant(), ticket=ticket, target=str(value.get("target", ""))[:20],
                cycle=int(value.get("cycle") or 0), from_group_id=ticket.group_id,
                to_group=target, created_at=timezone.now(),
            )  # fmt: skip
    except IntegrityError:
        return None  # this breach moved the ticket already
    label = value.get("label") or "SLA"
    from_name = ticket.group.name
    reason = f"{label} target breached: {from_name} escalates breached tickets"
    previous = ticket.assignee
    ticket = ticket_system_update(
        ticket=ticket, source=SOURCE, reason=reason, group=target, assignee=None
    )
    event_record(
        ticket=ticket, kind=ESCALATED_KIND, actor_system=SOURCE, reason=reason,
        new_value={"value": target.pk, "label": target.name},
    )  # fmt: skip
    holder = (previous.get_full_name() or previous.get_username()) if previous else "nobody"
    event_record(
        ticket=ticket, kind=HANDOVER_KIND, actor_system=SOURCE, is_public=False,
        reason=reason,
        new_value={
            "note": f"Escalated to {target.name} after the {label.lower()} target was "
            f"breached (it was with {holder} in {from_name}). Read the timeline for "
            "what was done so far.",
        },
    )  # fmt: skip
    transaction.on_commit(lambda: _route_later(ticket, RoutingDecision.Trigger.ESCALATION))
    return ticket
