"""Handing out a group's waiting tickets in one pass (freed room, an agent
coming online, new tickets, the beat sweep): the members are read once, each
agent is claimed once, and the batch is written with a few statements.

New tickets are not drained by their created event's handler: it asks for
a drain of their group once its transaction commits (`group_drain_ask`),
and asks are coalesced, so a burst of new tickets of one group goes out in
one or a few drains (`group_drain_batches`, the `drain_group` task) of up to
DRAIN_BATCH tickets each, in short transactions of their own."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from helpdesk.handover import publish_quietly
from helpdesk.models import SupportGroupMember
from helpdesk.ratelimit import (
    REDIS_ERRORS,
    redis_client,
    redis_paused,
    redis_reachable,
    redis_unreachable,
)
from helpdesk.tenancy import current_tenant, tenant_context, tenant_memo
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

logger = logging.getLogger(__name__)
Trigger = RoutingDecision.Trigger
# Batches one drain task hands out at most before it asks for another drain
# (a task stays well inside its time limit; other groups get a turn).
DRAIN_TASK_BATCHES = 20


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


def _drain_batch(group_id: int, trigger: str) -> tuple[int, int, int, bool]:
    """One drain pass: (assigned, decisions written, tickets taken, whether
    tickets were left out because another transaction held them locked)."""
    with transaction.atomic():
        unassigned = Ticket.objects.filter(
            group_id=group_id, assignee__isnull=True, status__in=ROUTABLE_STATUSES
        )
        # Many drains find nothing (their tickets went out with an earlier
        # one): an index-only look first, before the members' loads are read.
        if not unassigned.exists():
            return 0, 0, 0, False
        cfg = selectors.group_dispatch(group_id)
        if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
            return 0, 0, 0, False
        ctx = _Context()
        statuses = group_statuses(group_id, ctx)
        overflow = _overflow_reader(cfg, ctx)
        lightest = ctx.weights.lightest
        room = _room_left(statuses, overflow, lightest)
        # Tickets waiting for a dispatcher are not the drain's; tickets whose
        # rules never ran get them run first (`_drain_rules`). With nobody
        # having room only those are taken (for their first decision): the
        # tickets that waited already are not locked for nothing.
        # NO KEY UPDATE: a ticket is not skipped because another transaction
        # inserted a row that refers to it (an event, a report's fact: they
        # hold KEY SHARE); routers' FOR UPDATE still excludes it.
        pending = unassigned.filter(~Exists(_decisions().filter(needs_review=True))).annotate(
            routed=Exists(_decisions())
        )
        if not room:
            pending = pending.filter(routed=False)
        waiting = list(
            pending.select_for_update(of=("self",), skip_locked=True, no_key=True)
            .select_related("tenant", "requester")
            .order_by(*URGENT_ORDER)[:DRAIN_BATCH]
        )
        # Fewer than there are: some were locked by another transaction (an
        # event batch refreshing the ticket's SLA clocks, say). They go out
        # with a drain soon after (`group_drain_batches`), not a sweep later.
        locked_out = len(waiting) < DRAIN_BATCH and pending[:DRAIN_BATCH].count() > len(waiting)
        if not waiting:
            return 0, 0, 0, locked_out
        held, decisions, assignments = set(), [], []
        rule_set = None
        for ticket in waiting:
            room = room and _room_left(statuses, overflow, lightest)
            if not room and ticket.routed:
                continue  # nobody has room for a ticket that waited already
            rules, ticket_trigger = [], _trigger_for(ticket, trigger)
            if not ticket.routed:
                if rule_set is None:
                    rule_set = selectors.routing_setup(group_id, rules=True)[1]
                verdict = _drain_rules(ticket, group_id, rule_set, ctx)
                if verdict is None:
                    continue
                ticket, rules = verdict
                ticket.routed = False
            handout = _place(
                ticket, group_id, cfg, ctx, trigger=ticket_trigger, rules=rules,
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
        _decisions_write(decisions)
        return len(assignments), len(decisions), len(waiting), locked_out


def _decisions_write(decisions: list[RoutingDecision]) -> None:
    """A drain's decisions with one INSERT from one JSON document. Not
    `bulk_create`: on Postgres it sends each column as an array literal,
    and quoting the candidate lists in a `jsonb[]` escapes every quote in
    them one by one (a sixth of a drain's CPU)."""
    if not decisions:
        return
    fields = [f for f in RoutingDecision._meta.concrete_fields if not f.primary_key]
    rows = [
        {
            f.column: value.isoformat() if isinstance(value, datetime) else value
            for f in fields
            for value in [getattr(decision, f.attname)]
        }
        for decision in decisions
    ]
    table = RoutingDecision._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns}"
            f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)",
            [json.dumps(rows)],
        )


def group_drain_batches(*, group_id: int) -> int:
    """The drain new tickets ask for (`drain_group` task): batches of
    DRAIN_BATCH, each in a short transaction of its own, as long as a full
    batch was decided. Running it again changes nothing that a first run
    did. Tickets another transaction held locked are drained again
    DRAIN_LOCKED_RETRY_SECONDS later. Returns how many tickets were
    assigned."""
    tenant, assigned = current_tenant(), 0
    for _ in range(DRAIN_TASK_BATCHES):
        with tenant_context(tenant):
            placed, decided, taken, locked_out = _drain_batch(group_id, Trigger.CREATED)
        assigned += placed
        if taken < DRAIN_BATCH or not decided:
            if locked_out:
                _drain_publish(tenant.pk, group_id, countdown=DRAIN_LOCKED_RETRY_SECONDS)
            return assigned
    # More than one task's share: the rest in another task, after other groups'.
    _drain_publish(tenant.pk, group_id)
    return assigned


# Asking for a drain ----------------------------------------------------------

# A drain is enqueued to start at once: asks coalesce while it waits for a
# worker (the longer the queue, the more tickets one drain takes). No
# countdown: Celery holds a countdown task as an ETA task, and each one it
# holds lets the worker prefetch another task, which under load put the
# drains behind every event batch the worker had fetched meanwhile.
# How long an asked drain counts as pending when its task never starts (the
# task lost): then the next ask enqueues another. The beat sweep (marked by
# every ask) hands out what waited meanwhile.
DRAIN_PENDING_MS = 10_000
# A drain that found some of its group's tickets locked by another
# transaction drains again this much later (asked like any other drain).
DRAIN_LOCKED_RETRY_SECONDS = 2
_UNASKED = "group drain not asked (the waiting sweep drains the group)"


def _drain_key(tenant_id: int, group_id: int) -> str:
    return f"dispatch:drain:{tenant_id}:{group_id}"


def group_drain_ask(*, group_id: int) -> None:
    """A new ticket waits in `group_id` for its drain: ask for one when this
    transaction commits (once per group and transaction, however many of its
    tickets ask). The tenant's waiting sweep is marked due in this
    transaction, so a drain that is never asked (the worker killed after the
    commit) or never runs still comes."""
    memo = tenant_memo()
    if "dispatch.sweep_marked" not in memo:
        later = timezone.now() + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS)
        work_due(kind=WAITING_WORK, at=later)
        memo["dispatch.sweep_marked"] = True
    # One set per transaction: callbacks dropped with a rolled-back
    # savepoint never ask, the others ask once per group.
    asked = memo.setdefault("dispatch.drains_asked", set())
    tenant_id = current_tenant().pk

    def ask() -> None:
        if group_id not in asked:
            asked.add(group_id)
            _drain_publish(tenant_id, group_id)

    transaction.on_commit(ask, robust=True)


def _drain_publish(tenant_id: int, group_id: int, countdown: float | None = None) -> None:
    """Enqueue a drain of the group (`countdown` seconds later, if given)
    unless one is pending already (a Redis key, SET NX, deleted when its
    task starts: a drain that has not started yet will see every ticket
    committed before this ask). With Redis or the broker down nothing is
    lost: the ticket waits in its group and the tenant's waiting sweep
    comes soon."""
    from ..tasks import drain_group

    key = _drain_key(tenant_id, group_id)
    if redis_paused(_UNASKED):
        _sweep_soon(tenant_id)
        return
    try:
        if not redis_client().set(key, 1, nx=True, px=DRAIN_PENDING_MS):
            return  # pending: it will take this ticket
        redis_reachable(_UNASKED)
    except REDIS_ERRORS as exc:
        redis_unreachable(_UNASKED, exc)
        _sweep_soon(tenant_id)
        return
    kwargs = {"tenant_id": tenant_id, "group_id": group_id}
    if publish_quietly(_UNASKED, drain_group.apply_async, kwargs=kwargs, countdown=countdown):
        return
    with contextlib.suppress(*REDIS_ERRORS):  # else it expires
        redis_client().delete(key)  # the next ask tries again
    _sweep_soon(tenant_id)


def _sweep_soon(tenant_id: int) -> None:
    """No drain could be asked: the tenant's waiting sweep comes at its next beat."""
    try:
        with transaction.atomic():
            work_due(kind=WAITING_WORK, at=timezone.now(), tenant_id=tenant_id)
    except Exception:
        # The transaction that asked marked the sweep for later already.
        logger.exception("tenant %s: waiting sweep not moved earlier", tenant_id)


def group_drain_started(*, tenant_id: int, group_id: int) -> None:
    """A drain task starts: asks from now on enqueue a drain of their own
    (their tickets may commit after this drain has looked)."""
    try:
        redis_client().delete(_drain_key(tenant_id, group_id))
    except REDIS_ERRORS as exc:
        redis_unreachable(_UNASKED, exc)  # the key expires after DRAIN_PENDING_MS


def new_ticket_route(*, ticket: Ticket, trigger: str):
    """A new ticket: when its group would drain it (automatic, and its rules
    keep it there without review or a named agent), its group's drain hands
    it out with every other ticket waiting there, asked for after this
    commits (`group_drain_ask`); the drain runs its rules. Any other ticket
    (rules that send it elsewhere, to a review, to a named agent; a group
    not automatic; no group; assigned already) is routed on its own, rules
    first. Returns the decision, or None when the drain decides."""
    if RoutingDecision.objects.filter(ticket_id=ticket.pk).exists():
        # Decided already: a drain took it before this handler ran (a burst
        # of new tickets goes out with the first drain of their group), or
        # this handler ran before. Final without a lock: decisions stay.
        return None
    if ticket.group_id and not ticket.assignee_id and _drain_takes(ticket):
        group_drain_ask(group_id=ticket.group_id)
        return None
    return ticket_route(ticket=ticket, trigger=trigger, first=True)


def _may_send_elsewhere(actions: dict, group_id: int) -> bool:
    moved = actions.get("group") and str(actions["group"]) != str(group_id)
    return bool(moved or actions.get("review") or actions.get("assignee"))


def _drain_takes(ticket) -> bool:
    """Whether the ticket's group drains it (automatic, and the rules keep
    it there without review or a named agent); read only, no locks. When no
    enabled rule could send it elsewhere the rules are not run here: the
    drain runs them (once)."""
    config, rule_set, cfg = selectors.routing_setup(ticket.group_id, rules=True)
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
