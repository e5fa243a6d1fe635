"""Claim groups' leaders: the group's unassigned tickets beside each
member's load, and the leader's one-click assignment (`ticket_update`, the
leader's own edit, with a routing decision that says so)."""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk.models import Membership
from helpdesk.tenancy import current_tenant
from tickets.models import Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import ticket_update

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision
from .routing import ROUTABLE_STATUSES, statuses_locked

# Unassigned tickets the leader's page lists at most (all groups together).
BOARD_LIMIT = 100
DEFAULT_CAPACITY = AgentStatus._meta.get_field("capacity").default


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _may_lead(leader) -> bool:
    """Whether `leader` still assigns others: a claim group's leader is
    chosen among dispatchers, and one whose role was lowered since (or who
    left) leads nothing until an admin chooses again."""
    membership = Membership.objects.filter(
        tenant=current_tenant(), user=leader, is_active=True
    ).first()
    return membership is not None and membership.has_role(Membership.Role.DISPATCHER)


def leader_board(*, leader) -> list[dict]:
    """The claim groups `leader` leads, each with its unassigned tickets
    (most urgent first) and its members' load, capacity and availability.
    A fixed number of queries, whatever the number of groups and tickets."""
    if not _may_lead(leader):
        return []
    groups = {
        cfg.group_id: cfg.group
        for cfg in GroupDispatch.objects.filter(leader=leader, mode=GroupDispatch.Mode.CLAIM)
        .select_related("group")
        .order_by("group__name", "group_id")
    }
    group_ids = list(groups)
    if not group_ids:
        return []
    tickets = (
        Ticket.objects.filter(
            group_id__in=group_ids, assignee__isnull=True, status__in=ROUTABLE_STATUSES
        )
        .select_related("tenant")
        .order_by(*URGENT_ORDER)[:BOARD_LIMIT]
    )
    by_group = defaultdict(list)
    for ticket in tickets:
        by_group[ticket.group_id].append(ticket)
    members = selectors.members_by_group(group_ids)
    user_ids = {uid for ids in members.values() for uid in ids}
    statuses = {s.user_id: s for s in AgentStatus.objects.filter(user_id__in=user_ids)}
    loads = selectors.agent_loads(user_ids, selectors.dispatch_settings())
    users = {m.user_id: m.user for m in selectors.memberships_of(user_ids)}
    board = []
    for group_id in group_ids:
        people = []
        for uid in members.get(group_id, []):
            if uid not in users:
                continue
            status = statuses.get(uid)
            people.append(
                {
                    "user": users[uid],
                    "name": _name(users[uid]),
                    "load": loads.get(uid, 0),
                    "capacity": status.capacity if status else DEFAULT_CAPACITY,
                    "availability": status.get_availability_display() if status else "Offline",
                }
            )
        board.append({"group": groups[group_id], "tickets": by_group[group_id], "members": people})
    return board


@transaction.atomic
def leader_assign(*, ticket: Ticket, leader, assignee_id: int) -> tuple[Ticket, str]:
    """The leader of the ticket's claim group gives it to a member. Over
    capacity is allowed and said (the second value: a note, or "")."""
    cfg = selectors.group_dispatch(ticket.group_id) if ticket.group_id else None
    leads = cfg is not None and cfg.leader_id == leader.pk and cfg.mode == GroupDispatch.Mode.CLAIM
    if not leads or not _may_lead(leader):
        raise PermissionDenied("Only the leader of the ticket's claim group assigns it here.")
    if assignee_id not in selectors.group_member_ids(ticket.group_id):
        raise ValidationError("Choose a member of the group.")
    status = statuses_locked([assignee_id])[0]
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    if ticket.assignee_id:
        raise ValidationError(f"{ticket.reference} was taken meanwhile; nothing changed.")
    if ticket.status not in ROUTABLE_STATUSES:
        raise ValidationError(f"{ticket.reference} is not waiting to be assigned.")
    config = selectors.dispatch_settings()
    load = selectors.agent_loads([assignee_id], config).get(assignee_id, 0)
    weight = selectors.ticket_weight(ticket, selectors.weights(config))
    ticket = ticket_update(ticket=ticket, actor=leader, expected_version=None, assignee=status.user)
    now = timezone.now()
    AgentStatus.objects.filter(pk=status.pk).update(last_assigned_at=now)
    over = load + weight > status.capacity
    note = (
        f"{_name(status.user)} is now over capacity ({load + weight:g} of {status.capacity})."
        if over
        else ""
    )
    RoutingDecision.objects.create(
        tenant_id=ticket.tenant_id, ticket=ticket, trigger=RoutingDecision.Trigger.LEADER,
        outcome=RoutingDecision.Outcome.ASSIGNED, group_id=ticket.group_id, winner=status.user,
        strategy="", created_at=now,
        explanation=f"{_name(leader)}, the group's leader, gave it to {_name(status.user)}"
        + (f"; {note}" if note else "."),
    )  # fmt: skip
    return ticket, note
