"""What tickets do when the core app changes a member."""

from __future__ import annotations

from ..models import Ticket
from ..models.ticket import OPEN_STATUS_VALUES

# The system named on the timeline when a member's tickets are unassigned
# (registered in tickets.extensions.system_actors).
MEMBERS_SYSTEM = "members"


def tickets_unassign_member(*, sender, membership, actor, **kwargs) -> int:
    """Receiver of helpdesk.signals.member_deactivated: the member's open
    tickets are unassigned, each through ticket_system_update (one event on
    each ticket, saying why), so routing and notifications follow."""
    from .tickets import ticket_system_update

    user = membership.user
    name = user.get_full_name() or user.username
    by = (actor.get_full_name() or actor.username) if actor is not None else "an admin"
    count = 0
    for ticket in Ticket.objects.filter(assignee=user, status__in=OPEN_STATUS_VALUES).order_by(
        "pk"
    ):
        ticket_system_update(
            ticket=ticket,
            source=MEMBERS_SYSTEM,
            reason=f"{name} was deactivated by {by}",
            assignee=None,
        )
        count += 1
    return count
