"""Reads dispatch shares: a ticket's facts for rules, agents' loads, a
group's settings, the decisions shown on the ticket page and review queue."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count, Subquery
from django.utils import timezone

from helpdesk.models import SupportGroupMember
from helpdesk.tenancy import current_tenant
from tickets.models import InboundEmail, Message, Ticket
from tickets.models.ticket import OPEN_STATUS_VALUES, WAITING_STATUS_VALUES

from .models import (
    Acceptance,
    AgentStatus,
    DispatchSettings,
    GroupDispatch,
    RoutingDecision,
    RoutingRule,
)
from .rules import BusinessHours, TicketFacts
from .strategies import DEFAULT_WEIGHTS


def dispatch_settings() -> DispatchSettings:
    """The tenant's settings row, or an unsaved one with the defaults."""
    found = DispatchSettings.objects.first()
    return found or DispatchSettings(tenant=current_tenant())


def business_hours(config: DispatchSettings) -> BusinessHours:
    defaults = BusinessHours()
    return BusinessHours(
        days=frozenset(config.business_days) if config.business_days else defaults.days,
        start=config.business_start or defaults.start,
        end=config.business_end or defaults.end,
    )


def weights(config: DispatchSettings) -> dict[str, Decimal]:
    """The weight table: "4" (urgent, any channel) and "4:email" where the
    tenant set a channel's own weight."""
    table = dict(DEFAULT_WEIGHTS)
    table.update({str(k): Decimal(str(v)) for k, v in (config.priority_weights or {}).items()})
    for channel, row in (config.channel_weights or {}).items():
        table.update({f"{k}:{channel}": Decimal(str(v)) for k, v in row.items()})
    return table


def weight_of(priority, channel, table: dict[str, Decimal]) -> Decimal:
    found = table.get(f"{priority}:{channel}")
    return found if found is not None else table.get(str(priority), Decimal(1))


def ticket_weight(ticket: Ticket, table: dict[str, Decimal]) -> Decimal:
    return weight_of(ticket.priority, ticket.channel, table)


def ticket_facts(ticket: Ticket) -> TicketFacts:
    """What the rules read about `ticket`: two queries (its first message and
    requester; the mailbox it arrived in)."""
    first = (
        Message.objects.filter(ticket=ticket, kind=Message.Kind.CUSTOMER)
        .order_by("created_at", "pk")
        .values_list("body_text", flat=True)
        .first()
    )
    requester = ticket.requester
    mailbox = (
        InboundEmail.objects.filter(ticket=ticket)
        .order_by("pk")
        .values_list("mailbox_id", flat=True)
        .first()
    )
    zone = zoneinfo.ZoneInfo(ticket.tenant.time_zone)
    return TicketFacts(
        subject=ticket.subject,
        body=first or "",
        channel=ticket.channel,
        requester_email=requester.email,
        organization=requester.organization_id,
        category=ticket.category_id,
        tags=tuple(ticket.tags),
        priority=ticket.priority,
        type=ticket.type,
        mailbox=mailbox,
        arrived_local=timezone.localtime(ticket.created_at, zone),
    )


def facts_from_text(subject: str, body: str) -> TicketFacts:
    """Facts of a pasted subject and body (the tester), arriving now."""
    zone = zoneinfo.ZoneInfo(current_tenant().time_zone)
    return TicketFacts(subject=subject, body=body, arrived_local=timezone.localtime(None, zone))


def enabled_rules() -> list[RoutingRule]:
    return list(RoutingRule.objects.filter(is_enabled=True).order_by("position", "pk"))


def group_dispatch(group_id: int) -> GroupDispatch:
    found = GroupDispatch.objects.filter(group_id=group_id).first()
    return found or GroupDispatch(tenant=current_tenant(), group_id=group_id)


def group_member_ids(group_id: int) -> list[int]:
    return sorted(
        SupportGroupMember.objects.filter(group_id=group_id).values_list("user_id", flat=True)
    )


def agent_loads(user_ids: Iterable[int], config: DispatchSettings) -> dict[int, Decimal]:
    """Each agent's weighted load, in one query: open tickets by priority;
    pending and on-hold ones count at the tenant's waiting fraction."""
    table = weights(config)
    fraction = Decimal(config.waiting_fraction or 0)
    loads: dict[int, Decimal] = defaultdict(Decimal)
    rows = (
        Ticket.objects.filter(assignee_id__in=list(user_ids), status__in=OPEN_STATUS_VALUES)
        .values_list("assignee_id", "priority", "channel", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, priority, channel, status, n in rows:
        weight = weight_of(priority, channel, table)
        if status in WAITING_STATUS_VALUES:
            weight *= fraction
        loads[user_id] += weight * n
    return loads


def latest_decision(ticket: Ticket) -> RoutingDecision | None:
    """The ticket's latest decision, with its group's next tier (`next_tier_id`,
    `next_tier_name`) read in the same query: the ticket page's panel."""
    tier = GroupDispatch.objects.filter(group_id=ticket.group_id, escalation_group__isnull=False)
    return (
        RoutingDecision.objects.filter(ticket=ticket)
        .select_related("group")
        .annotate(
            next_tier_id=Subquery(tier.values("escalation_group_id")[:1]),
            next_tier_name=Subquery(tier.values("escalation_group__name")[:1]),
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def members_by_group(group_ids) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    rows = SupportGroupMember.objects.filter(group_id__in=list(group_ids)).order_by("user_id")
    for group_id, user_id in rows.values_list("group_id", "user_id"):
        found[group_id].append(user_id)
    return found


def memberships_of(user_ids):
    from helpdesk.models import Membership

    return Membership.objects.filter(
        tenant=current_tenant(), user_id__in=list(user_ids)
    ).select_related("user")


def pending_recommendations(user_ids, table: dict[str, Decimal]) -> dict[int, Decimal]:
    """The weight of tickets recommended to each agent and still waiting for
    a dispatcher, in one query."""
    found: dict[int, Decimal] = defaultdict(Decimal)
    rows = (
        RoutingDecision.objects.filter(
            needs_review=True,
            winner_id__in=list(user_ids),
            ticket__assignee__isnull=True,
            ticket__status__in=("new", "open"),
        )
        .values_list("winner_id", "ticket__priority")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, priority, n in rows:
        found[user_id] += table.get(str(priority), Decimal(1)) * n
    return found


def waiting_acceptance(ticket: Ticket) -> Acceptance | None:
    """The acceptance the ticket's assignee still owes, if any (one query)."""
    if not ticket.assignee_id:
        return None
    return (
        Acceptance.objects.filter(
            ticket=ticket, state=Acceptance.State.WAITING, user_id=ticket.assignee_id
        )
        .select_related("user")
        .order_by("-pk")
        .first()
    )


def declined_by(ticket_id: int) -> set[int]:
    """Who declined the ticket or let its acceptance lapse: routing passes them over."""
    return set(
        Acceptance.objects.filter(
            ticket_id=ticket_id,
            state__in=(Acceptance.State.DECLINED, Acceptance.State.TIMED_OUT),
        ).values_list("user_id", flat=True)
    )


def acceptance_badges(rows) -> dict[int, Acceptance]:
    """Queue rows and board cards: the tickets whose assignee has not
    accepted yet, in one query for the whole page."""
    assigned = {t.pk: t.assignee_id for t in rows if t.assignee_id}
    if not assigned:
        return {}
    found = Acceptance.objects.filter(ticket_id__in=list(assigned), state=Acceptance.State.WAITING)
    return {
        a.ticket_id: a
        for a in found.only("ticket_id", "user_id", "due_at")
        if assigned.get(a.ticket_id) == a.user_id
    }


def acceptances_owed(user) -> list[Acceptance]:
    """The tickets waiting for `user` to accept them, the soonest due first."""
    return list(
        Acceptance.objects.filter(
            user=user, state=Acceptance.State.WAITING, ticket__assignee_id=user.pk
        )
        .select_related("ticket")
        .order_by("due_at")[:50]
    )


def team_presence():
    """Every agent with a status row: availability and last activity, for
    dispatchers (one query; members who left the help desk are not shown)."""
    from helpdesk.models import Membership

    active = Membership.objects.filter(tenant=current_tenant(), is_active=True).values("user_id")
    return list(
        AgentStatus.objects.filter(user_id__in=active)
        .select_related("user")
        .order_by("availability", "user__first_name", "user__username")
    )
