"""Handing out a group's waiting tickets in one pass (freed room, an agent
coming online, the beat sweep): the members are read once, each agent is
claimed once, and the batch is written with a few statements."""

from __future__ import annotations

from django.db import transaction

from helpdesk.models import SupportGroupMember
from tickets.models import Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import tickets_system_assign

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision
from .routing import (
    DRAIN_BATCH,
    ROUTABLE_STATUSES,
    SOURCE,
    _Context,
    _overflow_reader,
    _place,
    group_statuses,
)  # fmt: skip


def _room_left(statuses, overflow, weight) -> bool:
    """Whether anyone online in the group (or its overflow group) has room
    for a ticket of `weight`, skills aside: a drain stops when nobody has."""

    def any_room(rows) -> bool:
        return any(
            s.availability == AgentStatus.Availability.ONLINE and s.load + weight <= s.capacity
            for s in rows
        )

    return any_room(statuses) or (overflow is not None and any_room(overflow()[1]))


def group_drain(*, group_id: int, trigger: str = RoutingDecision.Trigger.ROOM) -> int:
    """Hand the group's waiting tickets (most urgent first, then the oldest)
    to members with room, as long as someone has room, in one pass: the
    members are read once and kept current as tickets go out. Returns how many."""
    with transaction.atomic():
        cfg = selectors.group_dispatch(group_id)
        if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
            return 0
        ctx = _Context()
        waiting = list(
            Ticket.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(group_id=group_id, assignee__isnull=True, status__in=ROUTABLE_STATUSES)
            .select_related("tenant")
            .order_by(*URGENT_ORDER)[:DRAIN_BATCH]
        )
        if not waiting:
            return 0
        statuses = group_statuses(group_id, ctx)
        overflow = _overflow_reader(cfg, ctx)
        lightest = ctx.weights.lightest
        held, decisions, assignments = set(), [], []
        for ticket in waiting:
            if not _room_left(statuses, overflow, lightest):
                break  # nobody has room for any ticket now
            handout = _place(
                ticket, group_id, cfg, ctx, trigger=trigger, rules=[],
                drain=(statuses, overflow, held),
            )  # fmt: skip
            if handout is not None:
                decisions.append(handout[0])
                assignments.append(handout[1])
        # The batch in a few statements: one UPDATE of the tickets, one INSERT
        # of their events, one of the decisions.
        events = tickets_system_assign(assignments=assignments, source=SOURCE)
        for decision in decisions:
            decision.event_id = events[decision.ticket_id].pk
        RoutingDecision.objects.bulk_create(decisions)
        return len(decisions)


def groups_of(user_id: int) -> list[int]:
    return list(
        SupportGroupMember.objects.filter(user_id=user_id)
        .order_by("group_id")
        .values_list("group_id", flat=True)
    )


def agent_groups_drain(*, user_id: int) -> int:
    """Room freed for an agent: drain each of their groups, and the groups
    that overflow into one of them."""
    own = groups_of(user_id)
    overflowing = GroupDispatch.objects.filter(overflow_group_id__in=own).values_list(
        "group_id", flat=True
    )
    group_ids = sorted(set(own) | set(overflowing))
    return sum(group_drain(group_id=group_id) for group_id in group_ids)


def waiting_sweep() -> int:
    """Drain every group of the tenant that has tickets waiting (the beat's
    per-tenant half: a lost event never strands a ticket)."""
    group_ids = (
        Ticket.objects.filter(
            assignee__isnull=True, status__in=ROUTABLE_STATUSES, group__isnull=False
        )
        .values_list("group_id", flat=True)
        .distinct()
        .order_by()
    )
    return sum(group_drain(group_id=g, trigger=RoutingDecision.Trigger.SWEEP) for g in group_ids)
