"""Load: open tickets and weighted load against capacity, now and per day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from dispatch.models import AgentStatus
from dispatch.selectors import dispatch_settings, weights
from helpdesk.models import SupportGroupMember
from helpdesk.tenancy import current_tenant
from tickets.models.ticket import OPEN_STATUS_VALUES, WAITING_STATUS_VALUES

from .common import FACTS, SNAPSHOTS, Filters, _all


@dataclass(frozen=True)
class AgentLoad:
    user_id: int
    open_tickets: int
    waiting: int
    load: Decimal
    capacity: int
    availability: str

    @property
    def load_share(self) -> float | None:
        return float(self.load) / self.capacity if self.capacity else None


def agent_loads(filters: Filters | None = None) -> list[AgentLoad]:
    """Each agent's open tickets and weighted load now (dispatch's weights:
    by priority, waiting tickets at its fraction), against the capacity
    dispatch keeps for them: agents with a capacity (in the group filtered
    to) or an open ticket (of the filtered ones).
    Three statements."""
    config = dispatch_settings()
    table = weights(config)
    fraction = Decimal(config.waiting_fraction or 0)
    if filters is None:
        where, params = "f.tenant_id = %(tenant)s", {"tenant": current_tenant().pk}
    else:
        where, params = filters.on_facts("f")
    counts: dict[int, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for user_id, priority, status, n in _all(
        f"""SELECT f.assignee_id, f.priority, f.status, count(*) FROM {FACTS} f
            WHERE {where} AND f.status = ANY(%(open)s) AND f.assignee_id IS NOT NULL
            GROUP BY 1, 2, 3""",
        {**params, "open": list(OPEN_STATUS_VALUES)},
    ):
        weight = table.get(str(priority), Decimal(1))
        entry = counts[user_id]
        entry[0] += n
        if status in WAITING_STATUS_VALUES:
            weight *= fraction
            entry[1] += n
        entry[2] += weight * n
    statuses = AgentStatus.objects.values_list("user_id", "capacity", "availability")
    if filters is not None and filters.assignee_id is not None:
        statuses = statuses.filter(user_id=filters.assignee_id)
    if filters is not None and filters.group_id is not None:
        # The group's members (in the same statement), and below whoever
        # holds its open tickets.
        members = SupportGroupMember.objects.filter(group_id=filters.group_id)
        statuses = statuses.filter(
            Q(user_id__in=members.values("user_id")) | Q(user_id__in=list(counts))
        )
    known = {user_id: (capacity, availability) for user_id, capacity, availability in statuses}
    default_capacity = AgentStatus._meta.get_field("capacity").default
    result = []
    for user_id in sorted(set(known) | set(counts)):
        capacity, availability = known.get(user_id, (default_capacity, "offline"))
        open_tickets, waiting, load = counts.get(user_id, (0, 0, Decimal(0)))
        result.append(
            AgentLoad(user_id, open_tickets, waiting, load.quantize(Decimal("0.01")), capacity,
                      availability)
        )  # fmt: skip
    return sorted(result, key=lambda a: (-(a.load_share or 0), -a.open_tickets, a.user_id))


@dataclass(frozen=True)
class LoadDay:
    day: object
    open_tickets: int
    load: Decimal
    capacity: int
    agents_over: int

    @property
    def load_share(self) -> float | None:
        return float(self.load) / self.capacity if self.capacity else None


def load_history(filters: Filters) -> list[LoadDay]:
    """The daily snapshots in the period, summed over the agents (or the
    one agent filtered to), with how many agents were over capacity."""
    conditions = ["tenant_id = %(tenant)s", "day >= %(first)s", "day <= %(last)s"]
    params = {
        "tenant": current_tenant().pk,
        "first": timezone.localdate(filters.start),
        "last": timezone.localdate(filters.end),
    }
    if filters.assignee_id is not None:
        conditions.append("user_id = %(user)s")
        params["user"] = filters.assignee_id
    return [
        LoadDay(*row)
        for row in _all(
            f"""SELECT day, sum(open_tickets), sum(load), sum(capacity),
                       count(*) FILTER (WHERE load > capacity)
                FROM {SNAPSHOTS} WHERE {" AND ".join(conditions)}
                GROUP BY day ORDER BY day DESC""",
            params,
        )
    ]
