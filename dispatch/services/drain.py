"""Handing out a group's waiting tickets in one pass (freed room, an agent
coming online, the beat sweep): the members are read once, each agent is
claimed once, and the batch is written with a few statements."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from helpdesk.models import SupportGroupMember
from helpdesk.tenant_work import work_due
from tickets.models import Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import tickets_system_assign

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision
from .routing import (
    DRAIN_BATCH,
    ROUTABLE_STATUSES,
    SOURCE,
    WAITING_WORK,
    _Context,
    _overflow_reader,
    _place,
    group_statuses,
    rules_apply,
    rules_evaluate,
    ticket_route,
)  # fmt: skip


def _decisions():
    """The ticket's routing decisions (tenant first: `decision_ticket_idx`)."""
    return RoutingDecision.objects.filter(tenant_id=OuterRef("tenant_id"), ticket_id=OuterRef("pk"))


def _drain_rules(ticket, group_id, rule_set, ctx):
    """A ticket that never had a decision: run the rules before it may go
    out with the batch. Rules that keep it in this group apply here (its
    decision records them); rules that move it, send it to review or name
    an agent leave it untouched for its own routing (the created event's
    handler, else the sweep). Returns the ticket and the matched rules, or
    None to skip it."""
    actions, matched, changes = rules_evaluate(ticket, rule_set, ctx)
    moved = "group" in changes and changes["group"].pk != group_id
    if moved or actions.get("review") or actions.get("assignee"):
        return None
    return rules_apply(ticket, matched, changes, ctx), matched


def unrouted_tickets():
    """Open unassigned tickets that never had a decision (their created
    event lost, or its handler still failing)."""
    return Ticket.objects.filter(assignee__isnull=True, status__in=ROUTABLE_STATUSES).filter(
        ~Exists(_decisions())
    )


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
        statuses = group_statuses(group_id, ctx)
        overflow = _overflow_reader(cfg, ctx)
        lightest = ctx.weights.lightest
        if not _room_left(statuses, overflow, lightest):
            return 0  # nobody has room: no ticket is locked for nothing
        # Tickets waiting for a dispatcher are not the drain's; tickets whose
        # rules never ran get them run first (`_drain_rules`).
        waiting = list(
            Ticket.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(group_id=group_id, assignee__isnull=True, status__in=ROUTABLE_STATUSES)
            .filter(~Exists(_decisions().filter(needs_review=True)))
            .annotate(routed=Exists(_decisions()))
            .select_related("tenant", "requester")
            .order_by(*URGENT_ORDER)[:DRAIN_BATCH]
        )
        if not waiting:
            return 0
        held, decisions, assignments = set(), [], []
        rule_set = None
        for ticket in waiting:
            if not _room_left(statuses, overflow, lightest):
                break  # nobody has room for any ticket now
            rules = []
            if not ticket.routed:
                if rule_set is None:
                    rule_set = selectors.routing_setup(group_id, rules=True)[1]
                verdict = _drain_rules(ticket, group_id, rule_set, ctx)
                if verdict is None:
                    continue
                ticket, rules = verdict
                ticket.routed = False
            handout = _place(
                ticket, group_id, cfg, ctx, trigger=trigger, rules=rules,
                drain=(statuses, overflow, held),
            )  # fmt: skip
            if handout is not None:
                decisions.append(handout[0])
                if handout[1] is not None:
                    assignments.append(handout[1])
        # The batch in a few statements: one UPDATE of the tickets, one INSERT
        # of their events, one of the decisions.
        events = tickets_system_assign(assignments=assignments, source=SOURCE)
        for decision in decisions:
            if decision.ticket_id in events:
                decision.event_id = events[decision.ticket_id].pk
        RoutingDecision.objects.bulk_create(decisions)
        return len(assignments)


def new_ticket_route(*, ticket: Ticket, trigger: str):
    """A new ticket: its group's drain hands it out with every other ticket
    waiting there (one batch write; the drain runs the rules of tickets that
    never had a decision, oldest and most urgent first, so a burst of new
    tickets of one group goes out in a few drains, whichever handler runs
    first). A ticket the drain did not decide (its rules send it elsewhere,
    another group, a review, a named agent; a group not automatic; no
    group) is routed on its own, rules first."""
    if ticket.group_id and not ticket.assignee_id and _drain_takes(ticket):
        group_drain(group_id=ticket.group_id, trigger=trigger)
        # The drain's tickets and claimed rows are held until the commit, so
        # no waiting on anyone: a ticket another drain holds is that drain's
        # (or, if it stopped short, the next drain's or the sweep's).
        mine = Ticket.objects.select_for_update(of=("self",), skip_locked=True)
        if not list(mine.filter(pk=ticket.pk).values_list("pk", flat=True)):
            work_due(
                kind=WAITING_WORK,
                at=timezone.now() + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS),
            )
            return None
        return ticket_route(ticket=ticket, trigger=trigger, first=True, wait=False)
    return ticket_route(ticket=ticket, trigger=trigger, first=True)


def _drain_takes(ticket) -> bool:
    """Whether the ticket's group drains it (automatic, and the rules keep
    it there without review or a named agent); read only, no locks."""
    config, rule_set, cfg = selectors.routing_setup(ticket.group_id, rules=True)
    if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
        return False
    ctx = _Context(config)
    actions, _, changes = rules_evaluate(ticket, rule_set, ctx)
    moved = "group" in changes and changes["group"].pk != ticket.group_id
    return not (moved or actions.get("review") or actions.get("assignee"))


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


def unrouted_route() -> int:
    """Run the rules, then route, for tickets that never had a decision and
    are older than the sweep's period (a created event's handler gets that
    long first). Each in its own transaction; `ticket_route(first=True)`
    does nothing for a ticket the handler routed meanwhile."""
    before = timezone.now() - timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS)
    ticket_ids = list(
        unrouted_tickets()
        .filter(created_at__lt=before)
        .order_by("created_at")
        .values_list("pk", flat=True)[:DRAIN_BATCH]
    )
    routed = 0
    for ticket_id in ticket_ids:
        decision = ticket_route(
            ticket=Ticket(pk=ticket_id), trigger=RoutingDecision.Trigger.SWEEP, first=True
        )
        routed += decision is not None
    return routed


def waiting_sweep() -> int:
    """Route the tickets whose rules never ran, then drain every group of
    the tenant that has tickets waiting (the beat's per-tenant half: a lost
    event never strands a ticket). Returns how many tickets were assigned
    by the drains."""
    unrouted_route()
    group_ids = (
        Ticket.objects.filter(
            assignee__isnull=True, status__in=ROUTABLE_STATUSES, group__isnull=False
        )
        .values_list("group_id", flat=True)
        .distinct()
        .order_by()
    )
    return sum(group_drain(group_id=g, trigger=RoutingDecision.Trigger.SWEEP) for g in group_ids)
