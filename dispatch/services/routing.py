"""Routing a ticket: rules, then the group's mode and strategy.

Locks, always in this order, so that two routers never deadlock:
1. the ticket row (`ticket_route` locks it first and re-checks that nobody
   assigned it meanwhile; the drain takes waiting tickets with SKIP LOCKED);
2. one agent's `AgentStatus` row at a time, claimed for the ticket
   (`claims.claim`, which explains why the loads can be read without locks).
A new ticket that its group's drain takes is not routed by its created
event's handler: the handler asks for a drain of the group after its commit
(`drain.new_ticket_route`), which runs in transactions of its own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Subquery
from django.utils import timezone

from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due
from tickets.models import Event, Ticket
from tickets.services import ticket_system_update, tickets_system_assign

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision, RoutingRule
from ..rules import evaluate
from ..strategies import Candidate, filter_candidates, rank, skill_score, why
from .claims import claim, rows_held, version_bump

logger = logging.getLogger(__name__)

SOURCE = "dispatch"
# The control-plane mark of tenants with tickets waiting for room.
WAITING_WORK = "dispatch_waiting"
ROUTABLE_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN)
# Waiting tickets one drain hands out at most (the rest at the next room or sweep).
DRAIN_BATCH = 200
# Reads of a group a router makes while other routers keep taking the agents
# it chose, before the ticket waits for the sweep instead.
CLAIM_ROUNDS = 25


def _display(user) -> str:
    return user.get_full_name() or user.get_username()


def statuses_ensure(user_ids: list[int]) -> None:
    """Make the status rows these agents lack (offline, default capacity)."""
    if user_ids:
        tenant = current_tenant()
        AgentStatus.objects.bulk_create(
            [AgentStatus(tenant=tenant, user_id=user_id) for user_id in user_ids],
            ignore_conflicts=True,
        )


def statuses_locked(user_ids: list[int]) -> list[AgentStatus]:
    """The agents' status rows, made if missing, locked in user id order
    (an agent's own changes: availability, capacity)."""
    if not user_ids:
        return []
    statuses_ensure(user_ids)
    return list(
        AgentStatus.objects.select_for_update(of=("self",))
        .filter(user_id__in=user_ids)
        .select_related("user")
        .order_by("user_id")
    )


def group_statuses(group_id: int, ctx) -> list[AgentStatus]:
    """The members' status rows with their loads (`load`), read without locks.
    A load counts the tickets this pass gave the agent and has not written
    yet (`ctx.added`: a drain of several groups writes at its end)."""
    rows, members = selectors.group_statuses(group_id, ctx.weights)
    if len(rows) < members:
        statuses_ensure(selectors.group_member_ids(group_id))
        rows, _ = selectors.group_statuses(group_id, ctx.weights)
    for row in rows:
        row.load += ctx.added.get(row.user_id, 0)
    return rows


def candidates_for(ticket, statuses, cfg, *, skills: bool = True, via: str = "") -> list[Candidate]:
    """The agents of `statuses` as candidates for `ticket`, each marked with
    why they may not take it whatever their room (a missing skill, unless
    `skills` is off: the fallback to the whole group). Presence and room are
    judged after, in `strategies.filter_candidates`. Every per-ticket
    exclusion belongs here."""
    required = (cfg.required_skills or {}) if skills else {}
    # Who declined this ticket or let its acceptance lapse is passed over (a
    # query only in groups that ask for acceptance).
    declined = selectors.declined_by(ticket.pk) if cfg.accept_minutes else set()
    candidates = []
    for status in statuses:
        score, missing = skill_score(status.skills or {}, cfg.required_skills or {})
        missing = [name for name in missing if name in required]
        if missing:
            filtered = f"missing skill {', '.join(missing)}"
        elif status.user_id in declined:
            filtered = "declined"
        else:
            filtered = ""
        candidates.append(
            Candidate(
                user_id=status.user_id,
                name=_display(status.user),
                availability=status.availability,
                capacity=status.capacity,
                load=status.load + 0,
                last_assigned_at=status.last_assigned_at,
                skill_score=score,
                filtered=filtered,
                user=status.user,
                status_id=status.pk,
                version=status.routing_version,
                via=via,
            )
        )
    return candidates


class _Context:
    """What one routing pass reads once: the tenant's settings and weights."""

    def __init__(self, config=None):
        self.config = config or selectors.dispatch_settings()
        self.weights = selectors.weights(self.config)
        self.now = timezone.now()
        # Weight given to each agent (user id) and not written yet (a drain's).
        self.added: dict[int, object] = {}
        # Groups where a drain found agents with room all held by other routers.
        self.contended: set[int] = set()


def _record(ticket, *, trigger, outcome, explanation, ctx, group_id=None, rules=(), **fields):
    assigned = fields.pop("assigned", False)
    if assigned:
        # The assignment's event, found by the INSERT itself.
        fields["event_id"] = Subquery(
            Event.objects.filter(ticket_id=ticket.pk, kind=Event.Kind.ASSIGNED)
            .order_by("-pk")
            .values("pk")[:1]
        )
    decision = RoutingDecision.objects.create(
        tenant_id=ticket.tenant_id,
        ticket=ticket,
        trigger=trigger,
        outcome=outcome,
        group_id=group_id,
        rules=list(rules),
        explanation=explanation[:500],
        created_at=ctx.now,
        **fields,
    )
    if assigned:
        del decision.__dict__["event_id"]  # read from the row when asked for
    return decision


class _Pick:
    """Who may take a ticket: the ranked candidates, everyone considered, and
    what widened the choice (the skill fallback, the overflow group)."""

    def __init__(self, candidates, ranked, reason, notes):
        self.candidates, self.ranked, self.reason, self.notes = candidates, ranked, reason, notes


def _waited(ticket, group_id, ctx) -> timedelta:
    since = selectors.waiting_since(ticket.pk, group_id) or ctx.now
    return ctx.now - since


def _pick(ticket, group_id, cfg, statuses, ctx, weight, *, overflow=None) -> _Pick:
    """Rank who may take `ticket` by the group's strategy. Nobody with the
    required skills free for the group's fallback wait: the whole group.
    Nobody with room (for the overflow wait): the overflow group's members."""
    candidates = candidates_for(ticket, statuses, cfg)
    eligible = filter_candidates(candidates, weight)
    notes, waited = [], None
    skilled = any(not c.filtered.startswith("missing skill") for c in candidates)
    if not eligible and cfg.required_skills and cfg.skill_fallback_minutes is not None:
        waited = _waited(ticket, group_id, ctx)
        if waited >= timedelta(minutes=cfg.skill_fallback_minutes):
            whole = candidates_for(ticket, statuses, cfg, skills=False)
            eligible = filter_candidates(whole, weight)
            if eligible:
                candidates = whole
                notes.append(
                    f"no agent with the required skills was free for "
                    f"{cfg.skill_fallback_minutes} min, so the whole group may take it"
                    if skilled
                    else "no member has the required skills, so the whole group may take it"
                )
    if not eligible and cfg.overflow_group_id and overflow is not None:
        waited = waited if waited is not None else _waited(ticket, group_id, ctx)
        if waited >= timedelta(minutes=cfg.overflow_after_minutes):
            other_cfg, other_statuses, other_name = overflow()
            own = {c.user_id for c in candidates}
            extra = candidates_for(
                ticket, [s for s in other_statuses if s.user_id not in own], other_cfg,
                via="overflow",
            )  # fmt: skip
            eligible = filter_candidates(extra, weight)
            candidates = candidates + extra
            if eligible:
                after = (
                    f" for {cfg.overflow_after_minutes} min" if cfg.overflow_after_minutes else ""
                )
                notes.append(
                    f"nobody in the group had room{after}, so it was offered to the "
                    f"overflow group {other_name}"
                )
    ranked, reason = rank(cfg.strategy, eligible)
    return _Pick(candidates, ranked, reason, notes)


def _claim_best(ticket, group_id, cfg, ctx, weight, statuses, overflow, *, wait, held=None):
    """Claim the best agent of a fresh pick (None: nobody could be claimed)
    and the pick, whose candidates say why. `held`: the rows this drain has
    claimed already; it holds their locks, so they need no claim again."""
    pick = _pick(ticket, group_id, cfg, statuses, ctx, weight, overflow=overflow)
    for position, candidate in enumerate(pick.ranked):
        if held is not None and candidate.status_id in held:
            candidate.last_assigned_at = ctx.now
            return candidate, pick
        if claim(candidate, ctx.now, wait=wait and position == 0, savepoint=held is None):
            if held is not None:
                held.add(candidate.status_id)
            return candidate, pick
    return None, pick


def _overflow_reader(cfg, ctx):
    """Reads the overflow group's settings and members once, when first needed."""
    found = {}

    def read():
        if "rows" not in found:
            found["cfg"] = selectors.group_dispatch(cfg.overflow_group_id)
            found["rows"] = group_statuses(cfg.overflow_group_id, ctx)
            found["name"] = (
                SupportGroup.objects.filter(pk=cfg.overflow_group_id)
                .values_list("name", flat=True)
                .first()
            )
        return found["cfg"], found["rows"], found["name"]

    return read if cfg.overflow_group_id else None


def _event_reason(cfg, winner: Candidate) -> str:
    reason = why(cfg.strategy, winner)
    if winner.via:
        reason = f"overflow: {reason}"
    return f"{cfg.get_strategy_display()}: {reason}"


def _assign(ticket, winner: Candidate, cfg, weight) -> int:
    """Assign the (locked, unassigned) ticket to the winner; its event's id."""
    events = tickets_system_assign(
        assignments=[(ticket, winner.user, _event_reason(cfg, winner))], source=SOURCE
    )
    winner.load += weight
    return events[ticket.pk].pk


def _place(ticket, group_id, cfg, ctx, *, trigger, rules, review=False, drain=None):
    """Give `ticket` (locked, unassigned) to the best member of its group by
    the group's mode and strategy, or record why nobody got it. In a drain
    (`drain`: the group's rows, kept current by it) a ticket nobody can take
    is skipped without a record (None), and one that can is returned unwritten:
    (its decision, its assignment) for the drain's batch."""
    weight = selectors.ticket_weight(ticket, ctx.weights)
    reviewing = review or cfg.mode == GroupDispatch.Mode.SEMI_AUTOMATIC
    if drain is None:
        statuses = group_statuses(group_id, ctx)
        overflow, held = _overflow_reader(cfg, ctx), None
    else:
        statuses, overflow, held = drain
    common = {"group_id": group_id, "rules": rules, "strategy": cfg.strategy}
    if reviewing:
        # Recommendations still waiting count as load: a dispatcher's queue
        # should not recommend the same agent for every ticket.
        pending = selectors.pending_recommendations([s.user_id for s in statuses], ctx.weights)
        for status in statuses:
            status.load += pending.get(status.user_id, 0)
        pick = _pick(ticket, group_id, cfg, statuses, ctx, weight)
        winner = pick.ranked[0] if pick.ranked else None
        text = (
            f"Recommended {winner.name}: {pick.reason}. A dispatcher confirms."
            if winner
            else "Nobody in the group is online with room; a dispatcher chooses."
        )
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.REVIEW, explanation=text,
            ctx=ctx, winner_id=winner.user_id if winner else None, needs_review=True,
            candidates=[c.as_record() for c in pick.candidates], **common,
        )  # fmt: skip
    if cfg.mode == GroupDispatch.Mode.CLAIM:
        pick = _pick(ticket, group_id, cfg, statuses, ctx, weight)
        text = "Claim group: members take tickets from the group queue, or the leader assigns."
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.CLAIM, explanation=text,
            ctx=ctx, candidates=[c.as_record() for c in pick.candidates], **common,
        )  # fmt: skip
    winner, pick = _claim_best(
        ticket, group_id, cfg, ctx, weight, statuses, overflow, wait=False,
        held=held,
    )  # fmt: skip
    rounds = 1
    # Rows claimed by an earlier handler of this event batch are held until
    # it commits: waiting now could deadlock with another batch.
    wait = winner is None and bool(pick.ranked) and drain is None and not rows_held()
    while winner is None and pick.ranked and wait and rounds < CLAIM_ROUNDS:
        # Others took (or hold) every agent we chose: read again and wait
        # for the best one's holder if need be (no other row is held now).
        statuses = group_statuses(group_id, ctx)
        overflow = _overflow_reader(cfg, ctx)
        winner, pick = _claim_best(
            ticket, group_id, cfg, ctx, weight, statuses, overflow, wait=True
        )
        rounds += 1
    records = [c.as_record() for c in pick.candidates]
    if winner is None:
        if drain is not None and pick.ranked:
            # Someone has room but other routers hold them (or just took
            # them): the drain asks for another pass of the group shortly.
            ctx.contended.add(group_id)
        # A drain records nothing for a ticket that waited already; one whose
        # rules it just ran gets its "waits" decision in the drain's batch.
        if drain is not None and getattr(ticket, "routed", True):
            if pick.ranked:
                work_due(kind=WAITING_WORK, at=ctx.now)
            return None
        reasons = sorted({c.filtered for c in pick.candidates if c.filtered}) or ["no members"]
        if pick.ranked:
            reasons = ["every agent with room was being given other tickets"]
        text = f"Nobody could take it ({'; '.join(reasons)}): it waits in the group queue."
        work_due(kind=WAITING_WORK, at=ctx.now + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS))
        if drain is not None:
            return RoutingDecision(
                tenant_id=ticket.tenant_id, ticket=ticket, trigger=trigger,
                outcome=RoutingDecision.Outcome.WAITING, explanation=text[:500],
                created_at=ctx.now, candidates=records, **common,
            ), None  # fmt: skip
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.WAITING, explanation=text,
            ctx=ctx, candidates=records, **common,
        )  # fmt: skip
    notes = "".join(f" ({note})" for note in pick.notes)
    text = f"{winner.name}: {why(cfg.strategy, winner)}{notes}."
    if drain is not None:
        # Written for the whole batch at once by the drain (`_pass_write`).
        winner.load += weight
        ctx.added[winner.user_id] = ctx.added.get(winner.user_id, 0) + weight
        _keep_current(statuses, overflow, winner, weight)
        return RoutingDecision(
            tenant_id=ticket.tenant_id, ticket=ticket, trigger=trigger,
            outcome=RoutingDecision.Outcome.ASSIGNED, explanation=text[:500], created_at=ctx.now,
            winner_id=winner.user_id, candidates=records, **common,
        ), (ticket, winner.user, _event_reason(cfg, winner))  # fmt: skip
    event_id = _assign(ticket, winner, cfg, weight)
    return _record(
        ticket, trigger=trigger, outcome=RoutingDecision.Outcome.ASSIGNED, explanation=text,
        ctx=ctx, winner_id=winner.user_id, event_id=event_id, candidates=records, **common,
    )  # fmt: skip


def _keep_current(statuses, overflow, winner: Candidate, weight) -> None:
    """A drain goes on with the rows it read: the winner's row as now claimed."""
    rows = list(statuses) + (list(overflow()[1]) if overflow and winner.via else [])
    for status in rows:
        if status.pk == winner.status_id:
            status.load += weight
            status.routing_version = winner.version
            status.last_assigned_at = winner.last_assigned_at


def _rule_changes(ticket: Ticket, actions: dict) -> dict:
    changes = {}
    if actions.get("group"):
        group = SupportGroup.objects.filter(pk=actions["group"]).first()
        if group is not None:
            changes["group"] = group
    if actions.get("category"):
        from tickets.models import Category

        category = Category.objects.filter(pk=actions["category"]).first()
        if category is not None:
            changes["category"] = category
    if actions.get("priority"):
        changes["priority"] = int(actions["priority"])
    if actions.get("type"):
        changes["type"] = actions["type"]
    if actions.get("add_tags"):
        changes["tags"] = list(dict.fromkeys([*ticket.tags, *actions["add_tags"]]))
    return changes


def _count_matches_after_commit(rule_ids: list[int], now) -> None:
    """Count the matches in a short transaction of their own once the
    routing commits: a rule's row locked until every router's commit would
    make all tickets that match a popular rule wait for one another."""
    tenant = current_tenant()

    def count() -> None:
        from helpdesk.tenancy import tenant_context

        with tenant_context(tenant):
            RoutingRule.objects.filter(pk__in=sorted(rule_ids)).update(
                match_count=F("match_count") + 1, last_matched_at=now
            )

    transaction.on_commit(count, robust=True)


def _named_agent(user_id) -> object | None:
    membership = (
        Membership.objects.filter(tenant=current_tenant(), user_id=user_id)
        .select_related("user")
        .first()
    )
    return membership.user if membership else None


def rules_evaluate(ticket: Ticket, rule_set, ctx) -> tuple[dict, list[dict], dict]:
    """The rules' verdict on `ticket`: their merged actions, the rules that
    matched, and the ticket changes they ask for (nothing written yet)."""
    if not rule_set:
        return {}, [], {}
    hours = selectors.business_hours(ctx.config)
    evaluation = evaluate(rule_set, selectors.ticket_facts(ticket), hours)
    matched = [
        {"rule_id": s.rule_id, "name": s.name, "actions": s.actions} for s in evaluation.matched
    ]
    return evaluation.actions, matched, _rule_changes(ticket, evaluation.actions)


def rules_apply(ticket: Ticket, matched: list[dict], changes: dict, ctx) -> Ticket:
    """Write the rules' changes (events by "Routing", the rules as reason)
    and count their matches once this commits."""
    if changes:
        names = ", ".join(f"“{m['name']}”" for m in matched)
        ticket = ticket_system_update(
            ticket=ticket, source=SOURCE, reason=f"Routing rule {names}", **changes
        )
    if matched:
        _count_matches_after_commit([m["rule_id"] for m in matched], ctx.now)
    return ticket


@transaction.atomic
def ticket_route(*, ticket: Ticket, trigger: str, use_rules: bool = True, first: bool = False):
    """Run the tenant's rules on `ticket`, apply their changes, then let its
    group's mode and strategy find it an agent (an escalated ticket skips
    the rules: they would send it back to the first tier). Safe to run
    again: a ticket with an assignee keeps it, and changes already made
    change nothing. With `first` (a new ticket, the sweep's unrouted ones),
    a ticket that has a decision already is left alone (None)."""
    # 1. the ticket (see the module's docstring): nobody assigns it meanwhile.
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("tenant", "requester")
        .get(pk=ticket.pk)
    )
    if not ticket.is_open:
        return None
    if first and selectors.ticket_decided(ticket.pk):
        return None  # routed already (read after the lock: the other router committed)
    # The settings, rules and group settings in one read (the group's may change).
    config, rule_set, cfg = selectors.routing_setup(ticket.group_id, rules=use_rules)
    ctx = _Context(config)
    actions, matched, changes = rules_evaluate(ticket, rule_set, ctx)
    group_id = changes["group"].pk if "group" in changes else ticket.group_id
    ticket = rules_apply(ticket, matched, changes, ctx)
    if ticket.assignee_id:
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.KEPT, ctx=ctx,
            group_id=group_id, rules=matched,
            explanation="Already assigned: routing leaves the assignee alone.",
        )  # fmt: skip
    if actions.get("assignee"):
        agent = _named_agent(actions["assignee"])
        if agent is not None:
            ticket = ticket_system_update(
                ticket=ticket, source=SOURCE, reason=f"Routing rule {matched[-1]['name']}",
                assignee=agent,
            )  # fmt: skip
            version_bump(agent.pk, ctx.now)
            return _record(
                ticket, trigger=trigger, outcome=RoutingDecision.Outcome.ASSIGNED, ctx=ctx,
                group_id=group_id, rules=matched, winner=agent, assigned=True,
                explanation=f"The rule “{matched[-1]['name']}” names {_display(agent)}.",
            )  # fmt: skip
    if not group_id:
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.NO_GROUP, ctx=ctx,
            rules=matched, explanation="No rule chose a group: it waits in Unassigned.",
        )  # fmt: skip
    if cfg is None or cfg.group_id != group_id:
        cfg = selectors.group_dispatch(group_id)
    return _place(
        ticket, group_id, cfg, ctx, trigger=trigger, rules=matched,
        review=bool(actions.get("review")),
    )  # fmt: skip
