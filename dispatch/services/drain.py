"""Handing out a group's waiting tickets in one pass (freed room, an agent
coming online, new tickets, the beat sweep): the members are read once, each
agent is claimed once, and the batch is written with a few statements.

New tickets are not drained by their created event's handler: it asks for
a drain of their group once its transaction commits (`drain_ask`). The
drain task (`groups_drain_batches`) drains its groups in short
transactions of about DRAIN_BATCH tickets, as many groups to one as that
reaches."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from helpdesk.bulk import rows_insert
from helpdesk.models import SupportGroupMember
from helpdesk.tenancy import current_tenant, tenant_context, tenant_memo
from tickets.models import Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import tickets_system_assign

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision
from .drain_ask import (
    DRAIN_LOCKED_RETRY_SECONDS,
    _drains_publish,
    group_drain_ask,
)  # fmt: skip
from .routing import (
    DRAIN_BATCH,
    ROUTABLE_STATUSES,
    SOURCE,
    _Context,
    _overflow_reader,
    _place,
    group_statuses,
    rules_apply,
    rules_evaluate,
    ticket_route,
)  # fmt: skip

Trigger = RoutingDecision.Trigger
logger = logging.getLogger(__name__)
# Batches one drain task hands out at most before it asks for another drain
# (a task stays well inside its time limit; other groups get a turn).
DRAIN_TASK_BATCHES = 20
# Groups whose settings a drain transaction reads at once, before it starts.
DRAIN_SETUP_GROUPS = 50


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


def _trigger_for(ticket, trigger: str) -> str:
    """A drain asked by new tickets records theirs as created (or as a
    follow-up); a ticket that had waited already got room."""
    if trigger != Trigger.CREATED:
        return trigger
    if ticket.routed:
        return Trigger.ROOM
    return Trigger.FOLLOW_UP if ticket.follow_up_of_id else Trigger.CREATED


def group_drain(*, group_id: int, trigger: str = Trigger.ROOM) -> int:
    """Hand the group's waiting tickets (most urgent first, then the oldest)
    to members with room, as long as someone has room, in one pass: the
    members are read once and kept current as tickets go out. Tickets that
    never had a decision get their rules run and, when nobody can take them,
    their "waits" decision. Returns how many were assigned."""
    return _drain_batch(group_id, trigger)[0]


class _Pass:
    """What one drain transaction shares across the groups it drains: the
    settings and weights (`ctx`; its `added` loads are the assignments made
    and not written yet, which a later group's read of the same agents adds),
    the rules, the agents' rows it holds claimed, and the decisions and
    assignments it writes together at its end (`_pass_write`)."""

    def __init__(self, group_ids=()):
        self.ctx: _Context | None = None
        self.rule_set = None
        # The settings, rules and groups' settings, read at once for the
        # groups the pass is given (`routing_setup_many`), else per group.
        self.setups: dict[int, GroupDispatch] = {}
        if group_ids:
            config, self.rule_set, self.setups = selectors.routing_setup_many(
                list(group_ids), rules=True
            )
            self.ctx = _Context(config)
        self.held: set[int] = set()
        self.decisions: list[RoutingDecision] = []
        self.assignments: list[tuple] = []


def _drain_batch(group_id: int, trigger: str) -> tuple[int, int, int, bool]:
    """One drain pass of one group in a transaction (or savepoint) of its
    own: see `_group_pass`."""
    with transaction.atomic():
        run = _Pass()
        result = _group_pass(group_id, trigger, run, DRAIN_BATCH)
        _pass_write(run)
        return result


def _group_pass(group_id: int, trigger: str, run: _Pass, limit: int) -> tuple[int, int, int, bool]:
    """Decide up to `limit` of the group's waiting tickets into `run` (written
    by `_pass_write`): (assigned, decisions, tickets taken, whether tickets
    were held back by other transactions: locked, or every agent with room
    held by another router)."""
    unassigned = Ticket.objects.filter(
        group_id=group_id, assignee__isnull=True, status__in=ROUTABLE_STATUSES
    )
    # Tickets waiting for a dispatcher are not the drain's; tickets whose
    # rules never ran get them run first (`_drain_rules`).
    pending = unassigned.filter(~Exists(_decisions().filter(needs_review=True))).annotate(
        routed=Exists(_decisions())
    )
    # How many there are to take, and of them how many never had a decision,
    # in one look before the members' loads are read: many drains find
    # nothing (their tickets went out with an earlier one).
    ahead = pending.order_by()[:limit].aggregate(
        every=Count("pk"), fresh=Count("pk", filter=Q(routed=False))
    )
    if not ahead["every"]:
        return 0, 0, 0, False
    cfg = run.setups.get(group_id)
    if cfg is None:
        # The settings, the group's and (the first time a ticket needs them)
        # the rules, in one read.
        rules = run.rule_set is None and ahead["fresh"] > 0
        config, rule_set, cfg = selectors.routing_setup(group_id, rules=rules)
        if rules:
            run.rule_set = rule_set
        if run.ctx is None:
            run.ctx = _Context(config)
    if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
        return 0, 0, 0, False
    ctx = run.ctx
    statuses = group_statuses(group_id, ctx)
    overflow = _overflow_reader(cfg, ctx)
    lightest = ctx.weights.lightest
    room = _room_left(statuses, overflow, lightest)
    # With nobody having room only the tickets whose rules never ran are
    # taken (for their first decision): those that waited already are not
    # locked for nothing.
    if not room:
        pending = pending.filter(routed=False)
    # NO KEY UPDATE: a ticket is not skipped because another transaction
    # inserted a row that refers to it (an event, a report's fact: they
    # hold KEY SHARE); routers' FOR UPDATE still excludes it.
    waiting = list(
        pending.select_for_update(of=("self",), skip_locked=True, no_key=True)
        .select_related("requester")
        .order_by(*URGENT_ORDER)[:limit]
    )
    tenant = current_tenant()
    for ticket in waiting:
        ticket.tenant = tenant  # the pass's own, not a copy a row
    # Fewer than there were: some were locked by another transaction (an
    # event batch refreshing the ticket's SLA clocks, say). They go out
    # with a drain soon after (`groups_drain_batches`), not a sweep later,
    # as do tickets whose agents with room other routers held (`_place`).
    held_back = len(waiting) < (ahead["every"] if room else ahead["fresh"])
    decided, assigned = len(run.decisions), len(run.assignments)
    for ticket in waiting:
        room = room and _room_left(statuses, overflow, lightest)
        if not room and ticket.routed:
            continue  # nobody has room for a ticket that waited already
        rules, ticket_trigger = [], _trigger_for(ticket, trigger)
        if not ticket.routed:
            if run.rule_set is None:  # a ticket that came after the look
                run.rule_set = selectors.routing_setup(group_id, rules=True)[1]
            verdict = _drain_rules(ticket, group_id, run.rule_set, ctx)
            if verdict is None:
                continue
            ticket, rules = verdict
            ticket.routed = False
        handout = _place(
            ticket, group_id, cfg, ctx, trigger=ticket_trigger, rules=rules,
            drain=(statuses, overflow, run.held),
        )  # fmt: skip
        if handout is not None:
            run.decisions.append(handout[0])
            if handout[1] is not None:
                run.assignments.append(handout[1])
    decided, assigned = len(run.decisions) - decided, len(run.assignments) - assigned
    return assigned, decided, len(waiting), held_back or group_id in ctx.contended


def _pass_write(run: _Pass) -> None:
    """A drain transaction's decisions and assignments in a few statements:
    one UPDATE of the tickets, one INSERT of their events, one of the
    decisions, whatever number of groups it drained."""
    if not run.decisions:
        return
    events = tickets_system_assign(assignments=run.assignments, source=SOURCE)
    for decision in run.decisions:
        if decision.ticket_id in events:
            decision.event_id = events[decision.ticket_id].pk
    rows_insert(run.decisions)


def groups_drain_batches(*, group_ids: list[int]) -> int:
    """The drains new tickets ask for (the `drain_groups` task): the groups
    are drained in transactions of their own, each going on to the next
    group until it has taken DRAIN_BATCH tickets (each group up to that
    many), so that groups with a ticket or two each go out together in one
    transaction. A group whose share was full is drained again after the
    others. Running it again changes nothing that a first run did. Groups
    with tickets other transactions held back (locked, or every agent with
    room held) are drained again DRAIN_LOCKED_RETRY_SECONDS later. A group
    whose pass fails does not hold back those of its transaction: they are
    drained again one to a transaction, and the failure is logged (the
    waiting sweep tries that group again). Returns how many tickets were
    assigned."""
    tenant, assigned = current_tenant(), 0
    queue = list(dict.fromkeys(group_ids))
    again, again_soon = [], []

    def after(group_id, placed, decided, taken, held_back) -> int:
        if taken == DRAIN_BATCH and decided:
            again.append(group_id)  # its share was full: more may wait
        elif held_back:
            again_soon.append(group_id)
        return placed

    for _ in range(DRAIN_TASK_BATCHES):
        again.clear()
        again_soon.clear()
        tried = []
        try:
            with tenant_context(tenant):
                run, taken_here, placed_here = _Pass(queue[:DRAIN_SETUP_GROUPS]), 0, 0
                # Each group takes up to a batch; the transaction stops taking
                # groups once it has a batch's worth of tickets (a group's
                # share is not cut short: its tickets would wait for another
                # pass).
                while queue and taken_here < DRAIN_BATCH:
                    group_id = queue.pop(0)
                    tried.append(group_id)
                    outcome = _group_pass(group_id, Trigger.CREATED, run, DRAIN_BATCH)
                    taken_here += outcome[2]
                    placed_here += after(group_id, *outcome)
                _pass_write(run)
            assigned += placed_here
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            # One group's failure must not hold back the others drained with
            # it: each again alone, and the failing one is left to the waiting
            # sweep (marked due by the transaction that asked).
            again.clear()
            again_soon.clear()
            assigned += _drain_alone(tenant, tried, after)
        if again_soon:
            _drains_publish(tenant.pk, again_soon, countdown=DRAIN_LOCKED_RETRY_SECONDS)
        queue += again
        if not queue:
            return assigned
    # More than one task's share: the rest in another task, after other groups'.
    _drains_publish(tenant.pk, queue)
    return assigned


def _drain_alone(tenant, group_ids: list[int], after) -> int:
    """Drain each group in a transaction of its own, logging those that
    fail; how many tickets were assigned."""

    def alone(group_id: int) -> int:
        with tenant_context(tenant):
            return after(group_id, *_drain_batch(group_id, Trigger.CREATED))

    return _each_group(group_ids, alone)


def _each_group(group_ids, drain_one) -> int:
    """`drain_one(group_id)` for each group, a failing one logged and the
    others drained all the same (each drain is a transaction or savepoint
    of its own)."""
    assigned = 0
    for group_id in group_ids:
        try:
            assigned += drain_one(group_id)
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            logger.exception("tenant %s: drain of group %s failed", current_tenant().pk, group_id)
    return assigned


def group_drain_batches(*, group_id: int) -> int:
    """`groups_drain_batches` for one group."""
    return groups_drain_batches(group_ids=[group_id])


def new_ticket_route(*, ticket: Ticket, trigger: str):
    """A new ticket: when its group would drain it (automatic, and its rules
    keep it there without review or a named agent), its group's drain hands
    it out with every other ticket waiting there, asked for after this
    commits (`group_drain_ask`); the drain runs its rules. Any other ticket
    (rules that send it elsewhere, to a review, to a named agent; a group
    not automatic; no group; assigned already) is routed on its own, rules
    first. Returns the decision, or None when the drain decides.

    An unassigned ticket its group drains is asked for without looking for
    a decision first (no statement): had a drain decided it already (it
    waits there), another drain of its group changes nothing."""
    if ticket.group_id and not ticket.assignee_id and _drain_takes(ticket):
        group_drain_ask(group_id=ticket.group_id)
        return None
    if selectors.ticket_decided(ticket.pk):
        # Decided already: a drain took it before this handler ran (a burst
        # of new tickets goes out with the first drain of their group), or
        # this handler ran before. Final without a lock: decisions stay.
        return None
    return ticket_route(ticket=ticket, trigger=trigger, first=True)


def _may_send_elsewhere(actions: dict, group_id: int) -> bool:
    moved = actions.get("group") and str(actions["group"]) != str(group_id)
    return bool(moved or actions.get("review") or actions.get("assignee"))


def _drain_takes(ticket) -> bool:
    """Whether the ticket's group drains it (automatic, and the rules keep
    it there without review or a named agent); read only, no locks. When no
    enabled rule could send it elsewhere the rules are not run here: the
    drain runs them (once). The group's setup is read once a transaction
    (an event batch asks for many tickets of few groups); the drain reads
    its own."""
    setups = tenant_memo().setdefault("dispatch.drain_setups", {})
    if ticket.group_id not in setups:
        setups[ticket.group_id] = selectors.routing_setup(ticket.group_id, rules=True)
    config, rule_set, cfg = setups[ticket.group_id]
    if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
        return False
    if not any(_may_send_elsewhere(rule.actions or {}, ticket.group_id) for rule in rule_set):
        return True
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
    # Not past a failing group: inside an event handler the failure is
    # recorded and the handler run again later, for every group at once.
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
        try:
            decision = ticket_route(
                ticket=Ticket(pk=ticket_id), trigger=RoutingDecision.Trigger.SWEEP, first=True
            )
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # a savepoint of its own: the others are routed all the same
            logger.exception("ticket %s not routed by the sweep", ticket_id)
            continue
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
    return _each_group(
        group_ids, lambda group_id: group_drain(group_id=group_id, trigger=Trigger.SWEEP)
    )
