"""Reads of the report pages. Every page reads the facts through these
functions only (raw SQL on the facts' tenant-first indexes), so moving the
facts to a read replica or a columnar store changes this module alone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from dispatch.models import AgentStatus
from dispatch.selectors import dispatch_settings, weights
from helpdesk.tenancy import current_tenant
from sla.models import TicketTarget
from tickets.models import Rating
from tickets.models.ticket import OPEN_STATUS_VALUES, WAITING_STATUS_VALUES

from .models import LoadSnapshot, ReplyFact, TicketSpell, TicketTagFact

FACTS = "reports_ticketfact"
SPELLS = TicketSpell._meta.db_table
REPLIES = ReplyFact._meta.db_table
TAGS = TicketTagFact._meta.db_table
SNAPSHOTS = LoadSnapshot._meta.db_table
TARGETS = TicketTarget._meta.db_table
RATINGS = Rating._meta.db_table
# A ticket that changed groups more than this many times bounced.
BOUNCES = 2


@dataclass(frozen=True)
class Filters:
    """What a report page is narrowed to (None is "any"): a period, and the
    tickets' group, assignee, channel and category as they are now."""

    start: datetime
    end: datetime
    group_id: int | None = None
    assignee_id: int | None = None
    channel: str | None = None
    category_id: int | None = None

    @property
    def previous_start(self) -> datetime:
        """The start of the period of the same length just before this one."""
        return self.start - (self.end - self.start)

    @property
    def narrowed(self) -> bool:
        return any(
            v is not None for v in (self.group_id, self.assignee_id, self.channel, self.category_id)
        )

    def on_facts(self, alias: str = "f") -> tuple[str, dict]:
        """Conditions on a `TicketFact` alias (tenant first) and their parameters."""
        parts = [f"{alias}.tenant_id = %(tenant)s"]
        params: dict = {"tenant": current_tenant().pk, "start": self.start, "end": self.end}
        for name in ("group_id", "assignee_id", "channel", "category_id"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{alias}.{name} = %({name})s")
                params[name] = value
        return " AND ".join(parts), params


def _all(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _facts_join(filters: Filters, alias: str) -> tuple[str, str, dict]:
    """A join to the tickets' facts when the filters need one (the filters
    are the tickets' current fields), its conditions and parameters."""
    where, params = filters.on_facts("f")
    if not filters.narrowed:
        return "", "TRUE", params
    join = f"JOIN {FACTS} f ON f.tenant_id = {alias}.tenant_id AND f.ticket_id = {alias}.ticket_id"
    return join, where, params


def _share(part, whole) -> float | None:
    return part / whole if whole else None


# Efficiency -----------------------------------------------------------------


@dataclass
class Efficiency:
    """One agent's or group's (or everyone's) work in the period."""

    key: int | None
    handled: int = 0
    reopened: int = 0
    resolution_median: float | None = None
    resolution_p90: float | None = None
    first_replies: int = 0
    first_reply_median: float | None = None
    first_reply_p90: float | None = None
    assign_to_reply_median: float | None = None
    assign_to_reply_p90: float | None = None
    replies: int = 0
    sla_met: int = 0
    sla_missed: int = 0

    @property
    def sla_share(self) -> float | None:
        return _share(self.sla_met, self.sla_met + self.sla_missed)


@dataclass
class EfficiencyReport:
    agents: list[Efficiency]
    groups: list[Efficiency]
    total: Efficiency


def _level(bits: int) -> str:
    # GROUPING(assignee, group): 1 when grouped by the agent, 2 by the group, 3 all.
    return {1: "agent", 2: "group", 3: "all"}[bits]


def efficiency(filters: Filters) -> EfficiencyReport:
    """Per agent and per group (the tickets' current ones) and in all:
    tickets solved in the period with their resolution times, reopenings
    and SLA targets met; first replies in the period with their times and
    the time from first assignment to first reply; public replies sent in
    the period (by their sender, in the group the ticket was in). Three
    statements, each grouped three ways at once."""
    rows: dict[tuple[str, int | None], Efficiency] = {}

    def row(level: str, key) -> Efficiency:
        return rows.setdefault((level, key), Efficiency(key=key))

    sets = "GROUPING SETS ((f.assignee_id), (f.group_id), ())"
    where, params = filters.on_facts("f")
    for bits, agent, group, handled, reopened, median, p90, met, missed in _all(
        f"""SELECT GROUPING(f.assignee_id, f.group_id), f.assignee_id, f.group_id,
                   count(*), count(*) FILTER (WHERE f.reopens > 0),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY f.resolution_seconds),
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY f.resolution_seconds),
                   coalesce(sum(t.met), 0), coalesce(sum(t.missed), 0)
            FROM {FACTS} f
            LEFT JOIN LATERAL (
                SELECT count(*) FILTER (WHERE breached_at IS NULL AND met_at IS NOT NULL) AS met,
                       count(*) FILTER (WHERE breached_at IS NOT NULL) AS missed
                FROM {TARGETS} tt WHERE tt.tenant_id = f.tenant_id AND tt.ticket_id = f.ticket_id
            ) t ON TRUE
            WHERE {where} AND f.resolved_at >= %(start)s AND f.resolved_at < %(end)s
            GROUP BY {sets}""",
        params,
    ):
        level = _level(bits)
        r = row(level, agent if level == "agent" else group)
        r.handled, r.reopened = handled, reopened
        r.resolution_median, r.resolution_p90 = median, p90
        r.sla_met, r.sla_missed = int(met), int(missed)

    assign_wait = "extract(epoch FROM f.first_reply_at - f.first_assigned_at)"
    for bits, agent, group, count, median, p90, wait_median, wait_p90 in _all(
        f"""SELECT GROUPING(f.assignee_id, f.group_id), f.assignee_id, f.group_id, count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY f.first_reply_seconds),
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY f.first_reply_seconds),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY {assign_wait})
                       FILTER (WHERE f.first_assigned_at <= f.first_reply_at),
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY {assign_wait})
                       FILTER (WHERE f.first_assigned_at <= f.first_reply_at)
            FROM {FACTS} f
            WHERE {where} AND f.first_reply_at >= %(start)s AND f.first_reply_at < %(end)s
            GROUP BY {sets}""",
        params,
    ):
        level = _level(bits)
        r = row(level, agent if level == "agent" else group)
        r.first_replies, r.first_reply_median, r.first_reply_p90 = count, median, p90
        r.assign_to_reply_median, r.assign_to_reply_p90 = wait_median, wait_p90

    # Replies are counted by who sent them and the group the ticket was in
    # then; the channel and category are the ticket's.
    conditions = ["r.tenant_id = %(tenant)s", "r.created_at >= %(start)s", "r.created_at < %(end)s"]
    reply_params = {"tenant": params["tenant"], "start": filters.start, "end": filters.end}
    join = ""
    if filters.assignee_id is not None:
        conditions.append("r.user_id = %(assignee_id)s")
        reply_params["assignee_id"] = filters.assignee_id
    if filters.group_id is not None:
        conditions.append("r.group_id = %(group_id)s")
        reply_params["group_id"] = filters.group_id
    if filters.channel is not None or filters.category_id is not None:
        join = f"JOIN {FACTS} f ON f.tenant_id = r.tenant_id AND f.ticket_id = r.ticket_id"
        for name in ("channel", "category_id"):
            if getattr(filters, name) is not None:
                conditions.append(f"f.{name} = %({name})s")
                reply_params[name] = getattr(filters, name)
    for bits, agent, group, count in _all(
        f"""SELECT GROUPING(r.user_id, r.group_id), r.user_id, r.group_id, count(*)
            FROM {REPLIES} r {join}
            WHERE {" AND ".join(conditions)}
            GROUP BY GROUPING SETS ((r.user_id), (r.group_id), ())""",
        reply_params,
    ):
        level = _level(bits)
        row(level, agent if level == "agent" else group).replies = count

    def listed(level):
        found = [r for (lv, _), r in rows.items() if lv == level]
        return sorted(found, key=lambda r: (-r.handled, -r.replies, r.key or 0))

    return EfficiencyReport(
        agents=listed("agent"),
        groups=listed("group"),
        total=rows.get(("all", None), Efficiency(None)),
    )


# Quality --------------------------------------------------------------------


@dataclass(frozen=True)
class RatingPoint:
    start: datetime
    ratings: int
    good: int
    mean_score: float | None  # of 1-5 ratings only

    @property
    def good_share(self) -> float | None:
        return _share(self.good, self.ratings)


@dataclass(frozen=True)
class CategoryRating:
    category_id: int | None
    ratings: int
    good: int

    @property
    def good_share(self) -> float | None:
        return _share(self.good, self.ratings)


@dataclass(frozen=True)
class RatingComment:
    id: int
    number: int
    subject: str
    is_good: bool
    score: int
    scale: str
    comment: str
    created_at: datetime


@dataclass
class QualityReport:
    solved: int
    reopened: int
    reopened_by_group: list[tuple[int | None, int, int]]
    trend: list[RatingPoint]
    ratings: int
    good: int
    categories: list[CategoryRating]
    comments: list[RatingComment]

    @property
    def reopen_share(self) -> float | None:
        return _share(self.reopened, self.solved)

    @property
    def good_share(self) -> float | None:
        return _share(self.good, self.ratings)


def _on_ratings(filters: Filters) -> tuple[str, str, dict]:
    """Conditions on ratings (alias `r`) in the period: the agent, group and
    category copied into each rating when it was given; the channel is the
    ticket's."""
    conditions = ["r.tenant_id = %(tenant)s", "r.created_at >= %(start)s", "r.created_at < %(end)s"]
    params = {"tenant": current_tenant().pk, "start": filters.start, "end": filters.end}
    for name, column in (
        ("assignee_id", "r.assignee_id"),
        ("group_id", "r.group_id"),
        ("category_id", "r.category_id"),
    ):
        if getattr(filters, name) is not None:
            conditions.append(f"{column} = %({name})s")
            params[name] = getattr(filters, name)
    join = ""
    if filters.channel is not None:
        join = f"JOIN {FACTS} f ON f.tenant_id = r.tenant_id AND f.ticket_id = r.ticket_id"
        conditions.append("f.channel = %(channel)s")
        params["channel"] = filters.channel
    return join, " AND ".join(conditions), params


def quality(filters: Filters, *, step: str = "week", comments: int = 20) -> QualityReport:
    """Reopen rate of the tickets solved in the period (in all and per
    group), satisfaction per `step` ("day" or "week", in the help desk's
    time zone), the worst-rated categories, and the latest comments."""
    where, params = filters.on_facts("f")
    by_group = _all(
        f"""SELECT GROUPING(f.group_id), f.group_id, count(*), count(*) FILTER (WHERE f.reopens > 0)
            FROM {FACTS} f
            WHERE {where} AND f.resolved_at >= %(start)s AND f.resolved_at < %(end)s
            GROUP BY GROUPING SETS ((f.group_id), ())""",
        params,
    )
    solved = reopened = 0
    groups = []
    for bits, group, count, again in by_group:
        if bits:
            solved, reopened = count, again
        else:
            groups.append((group, count, again))
    groups.sort(key=lambda g: (-_share(g[2], g[1]), -g[1]))

    join, where, params = _on_ratings(filters)
    zone = timezone.get_current_timezone_name()
    trend = [
        RatingPoint(timezone.make_aware(start, timezone.get_current_timezone()), *rest)
        for start, *rest in _all(
            f"""SELECT date_trunc(%(step)s, r.created_at AT TIME ZONE %(zone)s), count(*),
                       count(*) FILTER (WHERE r.is_good),
                       avg(r.score) FILTER (WHERE r.scale = 'five')
                FROM {RATINGS} r {join} WHERE {where}
                GROUP BY 1 ORDER BY 1""",
            {**params, "step": step, "zone": zone},
        )
    ]
    categories = [
        CategoryRating(*row)
        for row in _all(
            f"""SELECT r.category_id, count(*), count(*) FILTER (WHERE r.is_good)
                FROM {RATINGS} r {join} WHERE {where}
                GROUP BY r.category_id
                ORDER BY count(*) FILTER (WHERE r.is_good)::float / count(*), count(*) DESC
                LIMIT 10""",
            params,
        )
    ]
    latest = [
        RatingComment(*row)
        for row in _all(
            f"""SELECT r.id, t.number, t.subject, r.is_good, r.score, r.scale, r.comment,
                       r.created_at
                FROM {RATINGS} r {join}
                JOIN tickets_ticket t ON t.tenant_id = r.tenant_id AND t.id = r.ticket_id
                WHERE {where} AND r.comment <> ''
                ORDER BY r.created_at DESC, r.id DESC LIMIT {int(comments)}""",
            params,
        )
    ]
    return QualityReport(
        solved=solved,
        reopened=reopened,
        reopened_by_group=groups,
        trend=trend,
        ratings=sum(p.ratings for p in trend),
        good=sum(p.good for p in trend),
        categories=categories,
        comments=latest,
    )


def ratings_page(
    filters: Filters, *, before: int | None = None, limit: int = 2000
) -> tuple[list[RatingComment], int | None]:
    """One page of the ratings in the period, newest first (keyset on the
    rating's id), and the id to page on from (None on the last page): for
    the CSV export."""
    join, where, params = _on_ratings(filters)
    keyset = "" if before is None else "AND r.id < %(before)s"
    rows = _all(
        f"""SELECT r.id, t.number, t.subject, r.is_good, r.score, r.scale, r.comment,
                   r.created_at
            FROM {RATINGS} r {join}
            JOIN tickets_ticket t ON t.tenant_id = r.tenant_id AND t.id = r.ticket_id
            WHERE {where} {keyset} ORDER BY r.id DESC LIMIT {int(limit) + 1}""",
        {**params, "before": before},
    )
    page = [RatingComment(*row) for row in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


# Root causes ----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    key: object  # a category id or a tag
    now: int
    before: int

    @property
    def change(self) -> int:
        return self.now - self.before

    @property
    def change_share(self) -> float | None:
        return _share(self.change, self.before)


@dataclass
class CausesReport:
    categories: list[Change]
    tags: list[Change]

    @staticmethod
    def _moved(rows: list[Change], n: int, rising: bool) -> list[Change]:
        moved = [r for r in rows if (r.change > 0 if rising else r.change < 0)]
        return sorted(moved, key=lambda r: (-abs(r.change), str(r.key)))[:n]

    def grew(self, rows, n=5):
        return self._moved(rows, n, True)

    def fell(self, rows, n=5):
        return self._moved(rows, n, False)


def causes(filters: Filters, *, top: int = 15) -> CausesReport:
    """Tickets created per category and per tag in the period and in the
    period of the same length before it. Two statements."""
    where, params = filters.on_facts("f")
    params["previous"] = filters.previous_start
    counts = """count(*) FILTER (WHERE {c} >= %(start)s),
                count(*) FILTER (WHERE {c} < %(start)s)"""
    categories = [
        Change(*row)
        for row in _all(
            f"""SELECT f.category_id, {counts.format(c="f.created_at")}
                FROM {FACTS} f
                WHERE {where} AND f.created_at >= %(previous)s AND f.created_at < %(end)s
                GROUP BY f.category_id""",
            params,
        )
    ]
    join, where, params2 = _facts_join(filters, "g")
    tags = [
        Change(*row)
        for row in _all(
            f"""SELECT g.tag, {counts.format(c="g.created_at")}
                FROM {TAGS} g {join}
                WHERE g.tenant_id = %(tenant)s AND {where}
                  AND g.created_at >= %(previous)s AND g.created_at < %(end)s
                GROUP BY g.tag""",
            {**params2, "previous": filters.previous_start},
        )
    ]
    order = lambda r: (-r.now, -r.before, str(r.key))  # noqa: E731
    return CausesReport(categories=sorted(categories, key=order), tags=sorted(tags, key=order))


# Load -----------------------------------------------------------------------


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
    dispatch keeps for them: agents with a capacity or an open ticket.
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


# Stalls ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dwell:
    kind: str
    value: str
    spells: int
    median: float | None
    p90: float | None
    total: int
    now: int = 0  # open tickets there now
    now_median_age: float | None = None


@dataclass(frozen=True)
class Handoff:
    from_group: int
    to_group: int
    count: int


@dataclass(frozen=True)
class Bouncer:
    number: int
    subject: str
    handoffs: int
    group_id: int | None


@dataclass
class StallsReport:
    statuses: list[Dwell]
    groups: list[Dwell]
    handoffs: list[Handoff]
    handoff_total: int
    bouncers: list[Bouncer]


def stalls(filters: Filters, *, now: datetime | None = None, top: int = 50) -> StallsReport:
    """Time spent in each status and each group (spells that ended in the
    period, and the open tickets' current ones), hand-offs between groups in
    the period, and the tickets handed off more than `BOUNCES` times with
    one of them in the period. Four statements."""
    now = now or timezone.now()
    join, where, params = _facts_join(filters, "s")
    params = {**params, "now": now, "bounces": BOUNCES, "top": top}
    done = {
        (kind, value): row
        for kind, value, *row in _all(
            f"""SELECT s.kind, s.value, count(*),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.seconds),
                       percentile_cont(0.9) WITHIN GROUP (ORDER BY s.seconds), sum(s.seconds)
                FROM {SPELLS} s {join}
                WHERE s.tenant_id = %(tenant)s AND {where} AND s.ended_at IS NOT NULL
                  AND s.ended_at >= %(start)s AND s.ended_at < %(end)s
                GROUP BY 1, 2""",
            params,
        )
    }
    running = {
        (kind, value): row
        for kind, value, *row in _all(
            f"""SELECT s.kind, s.value, count(*),
                       percentile_cont(0.5) WITHIN GROUP (
                           ORDER BY extract(epoch FROM %(now)s - s.started_at))
                FROM {SPELLS} s {join}
                WHERE s.tenant_id = %(tenant)s AND {where} AND s.ended_at IS NULL
                  AND s.ticket_open
                GROUP BY 1, 2""",
            params,
        )
    }
    dwell = {"status": [], "group": []}
    for kind, value in set(done) | set(running):
        spells, median, p90, total = done.get((kind, value), (0, None, None, 0))
        current, age = running.get((kind, value), (0, None))
        dwell[kind].append(Dwell(kind, value, spells, median, p90, int(total or 0), current, age))
    for rows in dwell.values():
        rows.sort(key=lambda d: (-(d.total or 0), -d.now, d.value))
    handoffs = [
        Handoff(int(a), int(b), n)
        for a, b, n in _all(
            f"""SELECT s.previous, s.value, count(*) FROM {SPELLS} s {join}
                WHERE s.tenant_id = %(tenant)s AND {where} AND s.handoff
                  AND s.started_at >= %(start)s AND s.started_at < %(end)s
                GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""",
            params,
        )
    ]
    bouncers = [
        Bouncer(*row)
        for row in _all(
            f"""SELECT t.number, t.subject, b.handoffs, t.group_id FROM (
                    SELECT p.tenant_id, p.ticket_id, c.handoffs FROM (
                        SELECT DISTINCT s.tenant_id, s.ticket_id FROM {SPELLS} s {join}
                        WHERE s.tenant_id = %(tenant)s AND {where} AND s.handoff
                          AND s.started_at >= %(start)s AND s.started_at < %(end)s
                    ) p
                    CROSS JOIN LATERAL (
                        SELECT count(*) AS handoffs FROM {SPELLS} x
                        WHERE x.tenant_id = p.tenant_id AND x.ticket_id = p.ticket_id
                          AND x.kind = 'group' AND x.handoff
                    ) c
                    WHERE c.handoffs > %(bounces)s
                    ORDER BY c.handoffs DESC, p.ticket_id DESC LIMIT %(top)s
                ) b JOIN tickets_ticket t ON t.tenant_id = b.tenant_id AND t.id = b.ticket_id
                ORDER BY b.handoffs DESC, t.number DESC""",
            params,
        )
    ]
    return StallsReport(
        statuses=dwell["status"],
        groups=dwell["group"],
        handoffs=handoffs,
        handoff_total=sum(h.count for h in handoffs),
        bouncers=bouncers,
    )


# Channels and hours ---------------------------------------------------------


@dataclass
class ChannelsReport:
    channels: list[Change]
    # heatmap[weekday 0 = Monday][hour] = tickets created
    heatmap: list[list[int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.now for c in self.channels)

    @property
    def busiest(self) -> int:
        return max((n for day in self.heatmap for n in day), default=0)


def channels(filters: Filters) -> ChannelsReport:
    """Tickets created per channel in the period and the one before, and
    per hour of the week (the help desk's time zone) in the period. Two
    statements."""
    where, params = filters.on_facts("f")
    params["previous"] = filters.previous_start
    mix = [
        Change(*row)
        for row in _all(
            f"""SELECT f.channel, count(*) FILTER (WHERE f.created_at >= %(start)s),
                       count(*) FILTER (WHERE f.created_at < %(start)s)
                FROM {FACTS} f
                WHERE {where} AND f.created_at >= %(previous)s AND f.created_at < %(end)s
                GROUP BY 1""",
            params,
        )
    ]
    mix.sort(key=lambda c: (-c.now, -c.before, c.key))
    heatmap = [[0] * 24 for _ in range(7)]
    for weekday, hour, n in _all(
        f"""SELECT extract(isodow FROM local)::int - 1, extract(hour FROM local)::int, count(*)
            FROM (SELECT f.created_at AT TIME ZONE %(zone)s AS local FROM {FACTS} f
                  WHERE {where} AND f.created_at >= %(start)s AND f.created_at < %(end)s) AS c
            GROUP BY 1, 2""",
        {**params, "zone": timezone.get_current_timezone_name()},
    ):
        heatmap[weekday][hour] = n
    return ChannelsReport(channels=mix, heatmap=heatmap)
