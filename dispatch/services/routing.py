"""Routing a ticket: rules, then the group's mode and strategy, under row
locks that keep every agent within capacity.

Locks, always in this order, so that two routers never deadlock:
1. the group members' `AgentStatus` rows, in user id order (every router
   of any group takes them in that one global order);
2. the ticket row (`ticket_system_update` locks it; the drain takes waiting
   tickets with SKIP LOCKED, so it never waits on one an agent holds).
Loads are read after the agents' rows are locked, so no other router can
add to them meanwhile; an agent's own edits only ever lower them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.models import Membership, SupportGroup, SupportGroupMember
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due
from tickets.models import Event, Message, Ticket
from tickets.models.ticket import URGENT_ORDER
from tickets.services import message_add, ticket_system_update, ticket_update

from .. import selectors
from ..models import AgentStatus, GroupDispatch, RoutingDecision, RoutingRule
from ..rules import evaluate
from ..strategies import Candidate, choose, filter_candidates, skill_score

logger = logging.getLogger(__name__)

SOURCE = "dispatch"
# The control-plane mark of tenants with tickets waiting for room.
WAITING_WORK = "dispatch_waiting"
ROUTABLE_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN)
# Waiting tickets one drain hands out at most (the rest at the next room or sweep).
DRAIN_BATCH = 200


def _display(user) -> str:
    return user.get_full_name() or user.get_username()


def statuses_locked(user_ids: list[int]) -> list[AgentStatus]:
    """The agents' status rows, made if missing, locked in user id order."""
    if not user_ids:
        return []
    tenant = current_tenant()
    AgentStatus.objects.bulk_create(
        [AgentStatus(tenant=tenant, user_id=user_id) for user_id in user_ids],
        ignore_conflicts=True,
    )
    return list(
        AgentStatus.objects.select_for_update(of=("self",))
        .filter(user_id__in=user_ids)
        .select_related("user")
        .order_by("user_id")
    )


def _candidates(statuses, loads, required: dict) -> list[Candidate]:
    candidates = []
    for status in statuses:
        score, missing = skill_score(status.skills or {}, required or {})
        candidates.append(
            Candidate(
                user_id=status.user_id,
                name=_display(status.user),
                availability=status.availability,
                capacity=status.capacity,
                load=loads.get(status.user_id, 0) + 0,
                last_assigned_at=status.last_assigned_at,
                skill_score=score,
                filtered=f"missing skill {', '.join(missing)}" if missing else "",
            )
        )
    return candidates


class _Context:
    """What one routing pass reads once: the tenant's settings and weights."""

    def __init__(self):
        self.config = selectors.dispatch_settings()
        self.weights = selectors.weights(self.config)
        self.now = timezone.now()


def _record(ticket, *, trigger, outcome, explanation, ctx, group_id=None, rules=(), **fields):
    return RoutingDecision.objects.create(
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


def _assigned_event_id(ticket) -> int | None:
    return (
        Event.objects.filter(ticket=ticket, kind=Event.Kind.ASSIGNED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


def _assign(ticket, candidate: Candidate, status: AgentStatus, reason: str, ctx) -> Ticket:
    ticket = ticket_system_update(ticket=ticket, source=SOURCE, reason=reason, assignee=status.user)
    status.last_assigned_at = ctx.now
    AgentStatus.objects.filter(pk=status.pk).update(last_assigned_at=ctx.now)
    candidate.load += ctx.weights.get(str(ticket.priority), 1)
    candidate.last_assigned_at = ctx.now
    return ticket


def _place(ticket, group_id, cfg, statuses, candidates, *, trigger, rules, ctx, review=False):
    """Give `ticket` (locked, unassigned) to the best member of its group by
    the group's mode and strategy, or record why nobody got it."""
    weight = selectors.ticket_weight(ticket, ctx.weights)
    reviewing = review or cfg.mode == GroupDispatch.Mode.SEMI_AUTOMATIC
    if reviewing:
        # Recommendations still waiting count as load: a dispatcher's queue
        # should not recommend the same agent for every ticket.
        pending = selectors.pending_recommendations([c.user_id for c in candidates], ctx.weights)
        for candidate in candidates:
            candidate.load += pending.get(candidate.user_id, 0)
    for candidate in candidates:
        if candidate.filtered.startswith("at capacity"):
            candidate.filtered = ""  # loads moved since: judged again below
        candidate.score = None
    _pass_over_decliners(ticket, cfg, candidates)
    eligible = filter_candidates(candidates, weight)
    winner, why = choose(cfg.strategy, eligible)
    records = [c.as_record() for c in candidates]
    common = {"group_id": group_id, "rules": rules, "candidates": records, "strategy": cfg.strategy}
    if reviewing:
        status = next((s for s in statuses if winner and s.user_id == winner.user_id), None)
        text = (
            f"Recommended {winner.name}: {why}. A dispatcher confirms."
            if winner
            else "Nobody in the group is online with room; a dispatcher chooses."
        )
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.REVIEW, explanation=text,
            ctx=ctx, winner=status.user if status else None, needs_review=True, **common,
        )  # fmt: skip
    if cfg.mode == GroupDispatch.Mode.CLAIM:
        text = "Claim group: members take tickets from the group queue, or the leader assigns."
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.CLAIM, explanation=text,
            ctx=ctx, **common,
        )  # fmt: skip
    if winner is None:
        reasons = sorted({c.filtered for c in candidates if c.filtered}) or ["no members"]
        text = f"Nobody could take it ({'; '.join(reasons)}): it waits in the group queue."
        work_due(kind=WAITING_WORK, at=ctx.now + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS))
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.WAITING, explanation=text,
            ctx=ctx, **common,
        )  # fmt: skip
    status = next(s for s in statuses if s.user_id == winner.user_id)
    text = f"{winner.name}: {why}."
    ticket = _assign(ticket, winner, status, f"{cfg.get_strategy_display()}: {why}", ctx)
    return _record(
        ticket, trigger=trigger, outcome=RoutingDecision.Outcome.ASSIGNED, explanation=text,
        ctx=ctx, winner=status.user, event_id=_assigned_event_id(ticket), **common,
    )  # fmt: skip


# -- acceptance: who declined a ticket (or let it lapse) is passed over -------


def _pass_over_decliners(ticket, cfg, candidates) -> None:
    """Mark the members who declined this ticket "declined" (a query only in
    groups that ask for acceptance; a drain reuses candidates, so the mark
    of the previous ticket is cleared first)."""
    for candidate in candidates:
        if candidate.filtered == "declined":
            candidate.filtered = ""
    if not cfg.accept_minutes:
        return
    declined = selectors.declined_by(ticket.pk)
    for candidate in candidates:
        if candidate.user_id in declined and not candidate.filtered:
            candidate.filtered = "declined"


# ---------------------------------------------------------------------------


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


@transaction.atomic
def ticket_route(*, ticket: Ticket, trigger: str, use_rules: bool = True):
    """Run the tenant's rules on `ticket`, apply their changes, then let its
    group's mode and strategy find it an agent (an escalated ticket skips
    the rules: they would send it back to the first tier). Safe to run
    again: a ticket with an assignee keeps it, and changes already made
    change nothing."""
    ticket = Ticket.objects.select_related("tenant", "requester").get(pk=ticket.pk)
    if not ticket.is_open:
        return None
    ctx = _Context()
    rule_set = selectors.enabled_rules() if use_rules else []
    hours = selectors.business_hours(ctx.config)
    evaluation = evaluate(rule_set, selectors.ticket_facts(ticket), hours)
    actions = evaluation.actions
    matched = [
        {"rule_id": s.rule_id, "name": s.name, "actions": s.actions} for s in evaluation.matched
    ]
    changes = _rule_changes(ticket, actions)
    group_id = changes["group"].pk if "group" in changes else ticket.group_id
    cfg = selectors.group_dispatch(group_id) if group_id else None
    # 1. the agents' rows, 2. the ticket (see the module's docstring).
    member_ids = selectors.group_member_ids(group_id) if group_id else []
    statuses = statuses_locked(member_ids)
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=ticket.pk)
    )
    if changes:
        names = ", ".join(f"“{m['name']}”" for m in matched)
        ticket = ticket_system_update(
            ticket=ticket, source=SOURCE, reason=f"Routing rule {names}", **changes
        )
    if matched:
        _count_matches_after_commit([m["rule_id"] for m in matched], ctx.now)
    if ticket.assignee_id:
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.KEPT, ctx=ctx,
            group_id=group_id, rules=matched,
            explanation="Already assigned by hand: routing leaves the assignee alone.",
        )  # fmt: skip
    if actions.get("assignee"):
        agent = _named_agent(actions["assignee"])
        if agent is not None:
            ticket = ticket_system_update(
                ticket=ticket, source=SOURCE, reason=f"Routing rule {matched[-1]['name']}",
                assignee=agent,
            )  # fmt: skip
            return _record(
                ticket, trigger=trigger, outcome=RoutingDecision.Outcome.ASSIGNED, ctx=ctx,
                group_id=group_id, rules=matched, winner=agent,
                event_id=_assigned_event_id(ticket),
                explanation=f"The rule “{matched[-1]['name']}” names {_display(agent)}.",
            )  # fmt: skip
    if not group_id:
        return _record(
            ticket, trigger=trigger, outcome=RoutingDecision.Outcome.NO_GROUP, ctx=ctx,
            rules=matched, explanation="No rule chose a group: it waits in Unassigned.",
        )  # fmt: skip
    candidates = _candidates(
        statuses, selectors.agent_loads(member_ids, ctx.config), cfg.required_skills
    )
    return _place(
        ticket, group_id, cfg, statuses, candidates, trigger=trigger, rules=matched, ctx=ctx,
        review=bool(actions.get("review")),
    )  # fmt: skip


def group_drain(*, group_id: int, trigger: str = RoutingDecision.Trigger.ROOM) -> int:
    """Hand the group's waiting tickets (most urgent first, then the oldest)
    to members with room, as long as someone has room. Returns how many."""
    with transaction.atomic():
        cfg = selectors.group_dispatch(group_id)
        if cfg.mode != GroupDispatch.Mode.AUTOMATIC:
            return 0
        member_ids = selectors.group_member_ids(group_id)
        statuses = statuses_locked(member_ids)
        if not any(s.availability == AgentStatus.Availability.ONLINE for s in statuses):
            return 0
        ctx = _Context()
        candidates = _candidates(
            statuses, selectors.agent_loads(member_ids, ctx.config), cfg.required_skills
        )
        waiting = list(
            Ticket.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(group_id=group_id, assignee__isnull=True, status__in=ROUTABLE_STATUSES)
            .select_related("tenant")
            .order_by(*URGENT_ORDER)[:DRAIN_BATCH]
        )
        lightest = min(ctx.weights.values())
        placed = 0
        for ticket in waiting:
            weight = selectors.ticket_weight(ticket, ctx.weights)
            if not filter_candidates([_fresh(c) for c in candidates], weight):
                if not filter_candidates([_fresh(c) for c in candidates], lightest):
                    break  # nobody has room for any ticket now
                continue  # a lighter ticket may still fit
            decision = _place(
                ticket, group_id, cfg, statuses, candidates, trigger=trigger, rules=[], ctx=ctx
            )
            placed += decision.outcome == RoutingDecision.Outcome.ASSIGNED
        return placed


def _fresh(candidate: Candidate) -> Candidate:
    """A copy to judge again: capacity is re-checked, skills and presence stay."""
    judged_again = candidate.filtered.startswith("at capacity") or candidate.filtered == "declined"
    kept = "" if judged_again else candidate.filtered
    return Candidate(**{**candidate.__dict__, "filtered": kept})


def groups_of(user_id: int) -> list[int]:
    return list(
        SupportGroupMember.objects.filter(user_id=user_id)
        .order_by("group_id")
        .values_list("group_id", flat=True)
    )


def agent_groups_drain(*, user_id: int) -> int:
    """Room freed for an agent: drain each of their groups."""
    return sum(group_drain(group_id=group_id) for group_id in groups_of(user_id))


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
    _record(
        ticket, trigger=RoutingDecision.Trigger.GET_NEXT, outcome=RoutingDecision.Outcome.ASSIGNED,
        ctx=_Context(), group_id=ticket.group_id, winner=agent, event_id=_assigned_event_id(ticket),
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
    ticket = Ticket.objects.get(pk=decision.ticket_id)
    if ticket.assignee_id:
        raise ValidationError(f"{ticket.reference} was assigned meanwhile; nothing changed.")
    status = statuses_locked([assignee.pk])[0]
    ctx = _Context()
    load = selectors.agent_loads([assignee.pk], ctx.config).get(assignee.pk, 0)
    weight = selectors.ticket_weight(ticket, ctx.weights)
    ticket = ticket_update(ticket=ticket, actor=actor, expected_version=None, assignee=assignee)
    AgentStatus.objects.filter(pk=status.pk).update(last_assigned_at=ctx.now)
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
        ctx=ctx, group_id=decision.group_id, winner=assignee,
        event_id=_assigned_event_id(ticket),
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
