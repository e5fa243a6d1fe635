"""Reads dispatch shares: a ticket's facts for rules, agents' loads, a
group's settings, the decisions shown on the ticket page and review queue."""

from __future__ import annotations

import json
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Count, DecimalField, Subquery, Sum, Value, When
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
from .strategies import DEFAULT_WEIGHTS, LoadWeights

User = get_user_model()


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


def weights(config: DispatchSettings) -> LoadWeights:
    """The tenant's weight table: by priority, and by priority and channel
    where the tenant set a cell of its own (`{"email": {"1": "0.5"}}`; a
    plain number for a channel multiplies every priority's weight);
    pending and on-hold tickets at the waiting fraction."""
    table = dict(DEFAULT_WEIGHTS)
    table.update({str(k): Decimal(str(v)) for k, v in (config.priority_weights or {}).items()})
    cells: dict[str, dict[str, Decimal]] = {}
    for channel, row in (config.channel_weights or {}).items():
        if isinstance(row, dict):
            cells[str(channel)] = {str(k): Decimal(str(v)) for k, v in row.items()}
        else:
            cells[str(channel)] = {k: v * Decimal(str(row)) for k, v in table.items()}
    return LoadWeights(table, cells, Decimal(config.waiting_fraction or 0))


def ticket_weight(ticket: Ticket, table: LoadWeights) -> Decimal:
    """What `ticket` adds to its assignee's load while it is active."""
    return table.of(ticket.priority, ticket.channel)


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


def _from_row(model, data: dict):
    """A model instance from its row as JSON (`to_jsonb`), as if read by the ORM."""
    fields = model._meta.concrete_fields
    obj = model(**{f.attname: f.to_python(data[f.column]) for f in fields if f.column in data})
    obj._state.adding, obj._state.db = False, "default"
    return obj


def routing_setup(group_id: int | None, *, rules: bool):
    """What routing a ticket reads first, in one round trip: the tenant's
    settings, its enabled rules in order (when `rules`), and the settings of
    the group `group_id` (unsaved defaults for what has no row)."""
    config, rule_set, groups = routing_setup_many([group_id] if group_id else [], rules=rules)
    return config, rule_set, groups[group_id] if group_id else None


def routing_setup_many(group_ids: list[int], *, rules: bool):
    """`routing_setup` for several groups at once (a drain of many groups):
    the settings, the rules (when `rules`) and each group's settings by id."""
    tenant = current_tenant()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT to_jsonb(d) FROM {DispatchSettings._meta.db_table} d"
            f"         WHERE d.tenant_id = %(t)s LIMIT 1),"
            f" (SELECT jsonb_agg(to_jsonb(r) ORDER BY r.position, r.id)"
            f"  FROM {RoutingRule._meta.db_table} r"
            f"  WHERE r.tenant_id = %(t)s AND r.is_enabled AND %(rules)s),"
            f" (SELECT jsonb_agg(to_jsonb(g)) FROM {GroupDispatch._meta.db_table} g"
            f"  WHERE g.tenant_id = %(t)s AND g.group_id = ANY(%(g)s))",
            {"t": tenant.pk, "rules": rules, "g": list(group_ids)},
        )
        config, rule_rows, group_rows = (
            json.loads(v) if isinstance(v, str) else v for v in cursor.fetchone()
        )
    config = _from_row(DispatchSettings, config) if config else DispatchSettings(tenant=tenant)
    rule_set = [_from_row(RoutingRule, row) for row in rule_rows or []]
    found = {row["group_id"]: _from_row(GroupDispatch, row) for row in group_rows or []}
    groups = {
        group_id: found.get(group_id) or GroupDispatch(tenant=tenant, group_id=group_id)
        for group_id in group_ids
    }
    return config, rule_set, groups


def enabled_rules() -> list[RoutingRule]:
    return list(RoutingRule.objects.filter(is_enabled=True).order_by("position", "pk"))


def ticket_decided(ticket_id: int) -> bool:
    """Whether the ticket has a routing decision (`decision_ticket_idx`).
    Raw SQL: every new ticket's handler asks, and the ORM's compiling of
    the query cost seven times the statement's own time."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {RoutingDecision._meta.db_table}"
            " WHERE tenant_id = %s AND ticket_id = %s)",
            [current_tenant().pk, ticket_id],
        )
        return cursor.fetchone()[0]


def group_dispatch(group_id: int) -> GroupDispatch:
    found = GroupDispatch.objects.filter(group_id=group_id).first()
    return found or GroupDispatch(tenant=current_tenant(), group_id=group_id)


def group_member_ids(group_id: int) -> list[int]:
    return sorted(
        SupportGroupMember.objects.filter(group_id=group_id).values_list("user_id", flat=True)
    )


def weight_expression(table: LoadWeights):
    """A ticket row's weight in SQL, the same as `LoadWeights.of` in Python."""
    field = DecimalField(max_digits=12, decimal_places=3)
    expression = Case(
        *[When(priority=int(k), then=Value(v)) for k, v in table.priority.items() if k.isdigit()],
        default=Value(Decimal(1)),
        output_field=field,
    )
    cells = [
        When(priority=int(p), channel=channel, then=Value(v))
        for channel, row in table.channel.items()
        for p, v in row.items()
        if p.isdigit()
    ]
    if cells:
        expression = Case(*cells, default=expression, output_field=field)
    return Case(
        When(status__in=WAITING_STATUS_VALUES, then=expression * Value(table.waiting_fraction)),
        default=expression,
        output_field=field,
    )


def agent_loads(user_ids: Iterable[int], config: DispatchSettings) -> dict[int, Decimal]:
    """Each agent's weighted load, in one query: open tickets by priority and
    channel; pending and on-hold ones count at the tenant's waiting fraction."""
    rows = (
        Ticket.objects.filter(assignee_id__in=list(user_ids), status__in=OPEN_STATUS_VALUES)
        .values("assignee_id")
        .annotate(load=Sum(weight_expression(weights(config))))
        .order_by()
    )
    return {row["assignee_id"]: plain(row["load"]) for row in rows}


def plain(value) -> Decimal:
    """A load as people write it: 3, 2.5 (SQL sums carry three decimals)."""
    value = Decimal(value or 0)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def _weight_sql(table: LoadWeights) -> tuple[str, list]:
    """`weight_expression` as SQL text over the alias `t`, with its parameters."""
    params: list = []
    whens = []
    for key, value in table.priority.items():
        if key.isdigit():
            whens.append("WHEN %s THEN %s::numeric")
            params += [int(key), str(value)]
    sql = f"(CASE t.priority {' '.join(whens)} ELSE 1 END)" if whens else "1"
    cells, cell_params = [], []
    for channel, row in table.channel.items():
        for key, value in row.items():
            if key.isdigit():
                cells.append("WHEN t.priority = %s AND t.channel = %s THEN %s::numeric")
                cell_params += [int(key), channel, str(value)]
    if cells:
        sql = f"(CASE {' '.join(cells)} ELSE {sql} END)"
        params = cell_params + params
    sql = (
        f"(CASE WHEN t.status IN ({', '.join(['%s'] * len(WAITING_STATUS_VALUES))})"
        f" THEN {sql} * %s::numeric ELSE {sql} END)"
    )
    # The text holds `sql` twice: its parameters come twice, in that order.
    return sql, [*WAITING_STATUS_VALUES, *params, str(table.waiting_fraction), *params]


@dataclass
class StatusRow:
    """An agent's status row as routing reads it: with their user and load."""

    pk: int
    user_id: int
    availability: str
    capacity: int
    skills: dict
    last_assigned_at: object
    routing_version: int
    load: Decimal
    user: object


def group_statuses(group_id: int, table: LoadWeights) -> tuple[list[StatusRow], int]:
    """The status rows of the group's members, each with its user and its
    current load, read together in one statement and without locks, so that
    a row's `routing_version` and its load belong together; and how many
    members the group has (more than rows: some have no row yet). Raw SQL:
    this is the hot read of every routing decision."""
    tenant_id = current_tenant().pk
    weight, weight_params = _weight_sql(table)
    open_marks = ", ".join(["%s"] * len(OPEN_STATUS_VALUES))
    sql = f"""
        SELECT s.id, s.user_id, s.availability, s.capacity, s.skills, s.last_assigned_at,
               s.routing_version, u.first_name, u.last_name, u.username,
               COALESCE((SELECT SUM({weight}) FROM {Ticket._meta.db_table} t
                         WHERE t.tenant_id = %s AND t.assignee_id = s.user_id
                         AND t.status IN ({open_marks})), 0),
               (SELECT count(*) FROM {SupportGroupMember._meta.db_table} c
                WHERE c.tenant_id = %s AND c.group_id = %s)
        FROM {SupportGroupMember._meta.db_table} m
        JOIN {AgentStatus._meta.db_table} s ON s.tenant_id = m.tenant_id AND s.user_id = m.user_id
        JOIN {User._meta.db_table} u ON u.id = s.user_id
        WHERE m.tenant_id = %s AND m.group_id = %s
        ORDER BY s.user_id
    """
    params = [*weight_params, tenant_id, *OPEN_STATUS_VALUES, tenant_id, group_id]
    params += [tenant_id, group_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = [
        StatusRow(
            pk=pk, user_id=user_id, availability=availability, capacity=capacity,
            skills=skills if isinstance(skills, dict) else json.loads(skills or "{}"),
            last_assigned_at=last, routing_version=version, load=plain(load),
            user=User(id=user_id, first_name=first, last_name=last_name, username=username),
        )
        for (pk, user_id, availability, capacity, skills, last, version, first, last_name,
             username, load, _) in found
    ]  # fmt: skip
    members = (
        found[0][-1] if found else SupportGroupMember.objects.filter(group_id=group_id).count()
    )
    return rows, members


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


def pending_recommendations(user_ids, table: LoadWeights) -> dict[int, Decimal]:
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
        .values_list("winner_id", "ticket__priority", "ticket__channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, priority, channel, n in rows:
        found[user_id] += table.of(priority, channel) * n
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
    rows = list(rows)
    if not rows:
        return {}
    # One query for any page with rows, assigned or not, so a page costs as
    # many queries for 30 rows as for one.
    assigned = {t.pk: t.assignee_id for t in rows if t.assignee_id}
    found = Acceptance.objects.filter(
        ticket_id__in=[t.pk for t in rows], state=Acceptance.State.WAITING
    )
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


def waiting_since(ticket_id: int, group_id: int):
    """When the ticket first waited for room in the group (None: never)."""
    return (
        RoutingDecision.objects.filter(
            ticket_id=ticket_id, group_id=group_id, outcome=RoutingDecision.Outcome.WAITING
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
