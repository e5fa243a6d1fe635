"""SLA reads that pages share."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from tickets.models import OPEN_Q, Ticket

from .models import Policy, TargetKind, TicketTarget

State = TicketTarget.State
# Which of a ticket's targets its badge shows: the worst state, then the
# nearest due time.
_SEVERITY = {State.BREACHED: 0, State.AT_RISK: 1, State.ON_TRACK: 2, State.PAUSED: 3, State.MET: 4}


def _badge(row: TicketTarget) -> dict:
    return {
        "state": row.state,
        "words": State(row.state).label,
        "due_at": row.due_at,
        "target": TargetKind(row.kind).label,
    }


def sla_badges_for_rows(rows: Sequence[Ticket]) -> dict[int, dict]:
    """{ticket_id: badge} for a page of tickets: one query. A ticket whose
    targets are all met, or that has none, or is resolved, gets no badge."""
    open_ids = [row.pk for row in rows if row.status in Ticket.OPEN_STATUSES]
    if not open_ids:
        return {}
    best: dict[int, TicketTarget] = {}
    for target in TicketTarget.objects.filter(ticket__in=open_ids, met_at__isnull=True).only(
        "ticket_id", "kind", "state", "due_at"
    ):
        current = best.get(target.ticket_id)
        key = (_SEVERITY[target.state], target.due_at or timezone.now())
        if current is None or key < (_SEVERITY[current.state], current.due_at or timezone.now()):
            best[target.ticket_id] = target
    return {ticket_id: _badge(row) for ticket_id, row in best.items()}


# The queue filter's states, in the order the badge ranks them.
FILTER_STATES = (State.BREACHED, State.AT_RISK, State.ON_TRACK, State.PAUSED)


def _running(state: str):
    """A ticket's targets not met yet in `state` (for Exists). Served by
    sla_target_state_idx (tenant, state, ticket) for a semi-join from the
    targets, or by the one-per-kind key (tenant, ticket, kind) per ticket."""
    return TicketTarget.objects.filter(ticket_id=OuterRef("pk"), met_at__isnull=True, state=state)


def sla_queue_condition(state: str) -> Q:
    """Tickets whose SLA badge shows `state`: a running target in it, and
    none in a worse one (the badge shows the worst)."""
    condition = Q(Exists(_running(state)))
    for worse in FILTER_STATES[: FILTER_STATES.index(State(state))]:
        condition &= ~Q(Exists(_running(worse)))
    return condition


def sla_counts_for_assignee(*, user_id: int) -> dict[str, int]:
    """How many of an agent's open tickets are at risk and how many are
    breached, by their badge: one query, from the agent's own queue index."""
    return Ticket.objects.filter(OPEN_Q, assignee_id=user_id).aggregate(
        breached=Count("pk", filter=sla_queue_condition(State.BREACHED)),
        at_risk=Count("pk", filter=sla_queue_condition(State.AT_RISK)),
    )


def sla_targets_for_ticket(ticket: Ticket) -> list[TicketTarget]:
    order = {kind: i for i, kind in enumerate(TargetKind.values)}
    rows = list(TicketTarget.objects.filter(ticket=ticket).select_related("policy__calendar"))
    return sorted(rows, key=lambda row: order[row.kind])


def sla_panel_for_ticket(ticket: Ticket, request) -> dict:
    """The ticket page's SLA panel: a frame whose body SLA's own view fills
    (no query on the ticket page)."""
    return {}


def sla_panel_body(ticket: Ticket) -> dict:
    """Each target with its due time and how it was counted (one query:
    targets with their policy and its calendar)."""
    rows = sla_targets_for_ticket(ticket)
    policy = next((row.policy for row in rows if row.policy is not None), None)
    calendar = policy.calendar if policy else None
    return {
        "sla_targets": [
            {
                "row": row,
                "label": TargetKind(row.kind).label,
                "words": State(row.state).label,
                "counted": (
                    f"in the business hours of {calendar.name} ({calendar.time_zone})"
                    if row.business and calendar and not calendar.always_open
                    else "around the clock (24/7)"
                ),
            }
            for row in rows
        ],
        "sla_policy": policy,
    }


def policies_ordered() -> list[Policy]:
    return list(Policy.objects.select_related("calendar").order_by("position", "id"))


def what_if(*, created_at, priority, channel, type, organization, category, group, tags) -> dict:
    """Which policy a ticket with these fields would get, when each target
    would be due, and the open windows and holidays from its creation to its
    last deadline (at most two weeks laid out)."""
    from datetime import datetime, time, timedelta

    from .clock import ALWAYS_OPEN, business_add, holiday_names, open_intervals
    from .services.timers import policies_load, policy_for

    ticket = Ticket(
        priority=priority,
        channel=channel,
        type=type,
        category_id=category,
        group_id=group,
        tags=[t.strip().lower() for t in (tags or "").split(",") if t.strip()],
    )
    loaded = policies_load()
    chosen = policy_for(ticket, loaded, organization_id=organization)
    if chosen is None:
        return {"policy": None}
    targets = []
    for kind in TargetKind.values:
        target = chosen.targets.get((priority, kind))
        if target is None:
            continue
        spec = chosen.spec if target.business else ALWAYS_OPEN
        targets.append(
            {
                "label": TargetKind(kind).label,
                "seconds": target.seconds,
                "business": target.business,
                # Next response counts from each customer message, not from creation.
                "due_at": business_add(spec, created_at, target.seconds)
                if kind != TargetKind.NEXT_RESPONSE
                else None,
            }
        )
    last = max((t["due_at"] for t in targets if t["due_at"]), default=created_at)
    end = min(last, created_at + timedelta(days=14)) + timedelta(days=1)
    spec = chosen.spec
    zone = timezone.get_current_timezone()
    days: dict = {}
    day = timezone.localtime(created_at).date()
    while day <= timezone.localtime(end).date():
        days[day] = {"date": day, "windows": [], "holiday": ""}
        day += timedelta(days=1)
    first_midnight = timezone.make_aware(
        datetime.combine(timezone.localtime(created_at).date(), time()), zone
    )
    for start, stop in open_intervals(spec, first_midnight, end):
        local = start.astimezone(zone)
        if local.date() in days:
            days[local.date()]["windows"].append((local, stop.astimezone(zone)))
    if spec.holiday_country:
        years = {d.year for d in days}
        for when, name in holiday_names(
            spec.holiday_country, spec.holiday_subdivision, years
        ).items():
            if when in days:
                days[when]["holiday"] = name
    for closure in spec.closures:
        for d, entry in days.items():
            if closure.first <= d <= closure.last:
                entry["holiday"] = entry["holiday"] or "Closed (own closure)"
    return {
        "policy": chosen.policy,
        "calendar_always": spec.always_open,
        "targets": targets,
        "days": list(days.values()),
    }
