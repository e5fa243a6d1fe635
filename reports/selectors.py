"""Reads of the reports app. Every page reads the facts through these
functions only, so moving the facts to a read replica or a columnar store
(DESIGN.md, "Reports at scale") changes this module and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from helpdesk.tenancy import current_tenant

from .facts import OPEN_STATUSES

# Age bands of the open backlog: (label, lower bound in hours, upper bound).
AGE_BANDS = (
    ("Under a day", 0, 24),
    ("1 to 3 days", 24, 72),
    ("3 to 7 days", 72, 168),
    ("1 to 4 weeks", 168, 672),
    ("Over 4 weeks", 672, None),
)
# Filters the daily volumes are kept by; the others are read from the facts.
VOLUME_FILTERS = ("group_id", "channel", "priority", "category_id")


@dataclass(frozen=True)
class Filters:
    """What a report is narrowed to. None is "any"."""

    start: datetime
    end: datetime
    group_id: int | None = None
    assignee_id: int | None = None
    channel: str | None = None
    category_id: int | None = None
    priority: int | None = None
    organization_id: int | None = None

    def conditions(self, *, period_column: str | None = None) -> tuple[str, dict]:
        """SQL conditions on `reports_ticketfact` (tenant first, so every
        read starts on a tenant index) and their parameters."""
        parts = ["tenant_id = %(tenant)s"]
        params: dict = {"tenant": current_tenant().pk}
        if period_column:
            parts.append(f"{period_column} >= %(start)s AND {period_column} < %(end)s")
            params.update(start=self.start, end=self.end)
        for name in (
            "group_id",
            "assignee_id",
            "channel",
            "category_id",
            "priority",
            "organization_id",
        ):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} = %({name})s")
                params[name] = value
        return " AND ".join(parts), params

    @property
    def only_volume_filters(self) -> bool:
        return self.assignee_id is None and self.organization_id is None


@dataclass
class Dashboard:
    new: int = 0
    solved: int = 0
    reopened_share: float | None = None
    first_reply_median: float | None = None
    first_reply_p90: float | None = None
    first_replies: int = 0
    resolution_median: float | None = None
    resolution_p90: float | None = None
    routed_share: float | None = None
    assigned: int = 0
    backlog_by_status: dict[str, int] = field(default_factory=dict)
    backlog_by_age: list[tuple[str, int]] = field(default_factory=list)
    backlog: int = 0
    unassigned: int = 0


def _one(sql: str, params: dict) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _all(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def dashboard(filters: Filters, *, now: datetime | None = None) -> Dashboard:
    """The dashboard's figures for `filters`: four statements, each on one
    index of the facts (created, resolved, first reply, open backlog)."""
    now = now or timezone.now()
    result = Dashboard()

    where, params = filters.conditions(period_column="created_at")
    result.new, result.assigned, routed = _one(
        f"""SELECT count(*),
                   count(*) FILTER (WHERE first_assigned_at IS NOT NULL),
                   count(*) FILTER (WHERE assigned_by_system)
            FROM reports_ticketfact WHERE {where}""",
        params,
    )
    if result.assigned:
        result.routed_share = routed / result.assigned

    where, params = filters.conditions(period_column="resolved_at")
    result.solved, reopened, result.resolution_median, result.resolution_p90 = _one(
        f"""SELECT count(*), count(*) FILTER (WHERE reopens > 0),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds),
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution_seconds)
            FROM reports_ticketfact WHERE {where} AND resolved_at IS NOT NULL""",
        params,
    )
    if result.solved:
        result.reopened_share = reopened / result.solved

    where, params = filters.conditions(period_column="first_reply_at")
    result.first_replies, result.first_reply_median, result.first_reply_p90 = _one(
        f"""SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_seconds),
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY first_reply_seconds)
            FROM reports_ticketfact WHERE {where} AND first_reply_at IS NOT NULL""",
        params,
    )

    where, params = filters.conditions()
    bands = " ".join(
        f"WHEN %(now)s - created_at < interval '{high} hours' THEN {i}"
        for i, (_, _, high) in enumerate(AGE_BANDS)
        if high is not None
    )
    rows = _all(
        f"""SELECT status, CASE {bands} ELSE {len(AGE_BANDS) - 1} END AS band,
                   count(*), count(*) FILTER (WHERE assignee_id IS NULL)
            FROM reports_ticketfact
            WHERE {where} AND status = ANY(%(open)s)
            GROUP BY 1, 2""",
        {**params, "now": now, "open": list(OPEN_STATUSES)},
    )
    by_band = [0] * len(AGE_BANDS)
    for status, band, count, unassigned in rows:
        result.backlog_by_status[status] = result.backlog_by_status.get(status, 0) + count
        by_band[band] += count
        result.backlog += count
        result.unassigned += unassigned
    result.backlog_by_age = [(label, by_band[i]) for i, (label, *_) in enumerate(AGE_BANDS)]
    return result


@dataclass(frozen=True)
class TrendDay:
    day: date
    created: int
    solved: int


def trend(filters: Filters, *, first_day: date, last_day: date) -> list[TrendDay]:
    """Tickets created and solved per day from `first_day` to `last_day`
    (every day listed, quiet ones as 0): from the daily volumes when the
    filters are ones they are kept by, else from the facts."""
    if filters.only_volume_filters:
        where, params = filters.conditions()
        rows = _all(
            f"""SELECT day, sum(created), sum(solved) FROM reports_dailyvolume
                WHERE {where} AND day >= %(first)s AND day <= %(last)s
                GROUP BY day""",
            {**params, "first": first_day, "last": last_day},
        )
    else:
        where, params = filters.conditions()
        rows = _all(
            f"""SELECT day, sum(created), sum(solved) FROM (
                    SELECT created_day AS day, 1 AS created, 0 AS solved
                    FROM reports_ticketfact
                    WHERE {where} AND created_day >= %(first)s AND created_day <= %(last)s
                      AND created_at >= %(from)s
                    UNION ALL
                    SELECT resolved_day, 0, 1 FROM reports_ticketfact
                    WHERE {where} AND resolved_day >= %(first)s AND resolved_day <= %(last)s
                      AND resolved_at >= %(from)s
                ) AS days GROUP BY day""",
            {
                **params,
                "first": first_day,
                "last": last_day,
                "from": datetime.combine(first_day - timedelta(days=1), time(), UTC),
            },
        )
    found = {day: (int(created), int(solved)) for day, created, solved in rows}
    days = []
    day = first_day
    while day <= last_day:
        created, solved = found.get(day, (0, 0))
        days.append(TrendDay(day, created, solved))
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class FactTicket:
    id: int
    number: int
    subject: str
    status: str
    created_at: datetime


def fact_tickets(
    filters: Filters,
    *,
    period_column: str | None,
    condition: str,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[FactTicket], int | None]:
    """The tickets behind a figure, newest first: one page of `limit` and
    the id to page on from (None on the last page). `period_column` and
    `condition` come from the view's fixed list, never from a request."""
    where, params = filters.conditions(period_column=period_column)
    if condition:
        where += f" AND {condition}"
    if before is not None:
        where += " AND ticket_id < %(before)s"
        params["before"] = before
    rows = _all(
        f"""SELECT t.id, t.number, t.subject, t.status, t.created_at
            FROM (
                SELECT tenant_id, ticket_id FROM reports_ticketfact WHERE {where}
                ORDER BY ticket_id DESC LIMIT {limit + 1}
            ) AS f
            JOIN tickets_ticket t ON t.tenant_id = f.tenant_id AND t.id = f.ticket_id
            ORDER BY f.ticket_id DESC""",
        params,
    )
    tickets = [FactTicket(*row) for row in rows[:limit]]
    return tickets, (tickets[-1].id if len(rows) > limit else None)
