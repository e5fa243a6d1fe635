"""Reads of the reports app. Every page reads the facts through these
functions only, so moving the facts to a read replica or a columnar store
(DESIGN.md, "Reports at scale") changes this module and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from helpdesk.tenancy import current_tenant

from . import rollup
from .facts import OPEN_STATUSES, histogram_percentile


def period_days(days: int, zone: ZoneInfo, *, now: datetime | None = None) -> tuple[date, date]:
    """A period of `days` whole days in the help desk's time zone, today the
    last (0 is today alone): the dashboard's and the report pages' periods,
    so a number and the list of tickets behind it count the same days."""
    today = timezone.localtime(now or timezone.now(), zone).date()
    return today - timedelta(days=max(days, 1) - 1), today


# Age bands of the open backlog: (label, lower bound in hours, upper bound).
AGE_BANDS = (
    ("Under a day", 0, 24),
    ("1 to 3 days", 24, 72),
    ("3 to 7 days", 72, 168),
    ("1 to 4 weeks", 168, 672),
    ("Over 4 weeks", 672, None),
)
# Filters the daily rollups' main slice is kept by (together); the agent and
# the organisation have a slice each (alone).
VOLUME_FILTERS = ("group_id", "channel", "priority", "category_id")
FILTER_NAMES = (*VOLUME_FILTERS, "assignee_id", "organization_id")


@dataclass(frozen=True)
class Filters:
    """What a report is narrowed to: whole days in the help desk's time
    zone, from `first_day` to `last_day`, and dimensions (None is "any")."""

    first_day: date
    last_day: date
    group_id: int | None = None
    assignee_id: int | None = None
    channel: str | None = None
    category_id: int | None = None
    priority: int | None = None
    organization_id: int | None = None

    @property
    def start(self) -> datetime:
        """The first day's start, as a moment (the facts' period bound)."""
        zone = ZoneInfo(current_tenant().time_zone)
        return datetime.combine(self.first_day, time(), zone)

    @property
    def end(self) -> datetime:
        zone = ZoneInfo(current_tenant().time_zone)
        return datetime.combine(self.last_day + timedelta(days=1), time(), zone)

    def conditions(self, *, period_column: str | None = None) -> tuple[str, dict]:
        """SQL conditions on `reports_ticketfact` (tenant first, so every
        read starts on a tenant index) and their parameters."""
        parts = ["tenant_id = %(tenant)s"]
        params: dict = {"tenant": current_tenant().pk}
        if period_column:
            parts.append(f"{period_column} >= %(start)s AND {period_column} < %(end)s")
            params.update(start=self.start, end=self.end)
        for name in FILTER_NAMES:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} = %({name})s")
                params[name] = value
        return " AND ".join(parts), params

    def rollup_conditions(self) -> tuple[str, dict] | None:
        """SQL conditions on the daily rollups: the slice that is kept by
        these filters (the four dimensions together, the agent alone or the
        organisation alone) and the filters' values; None when no slice is,
        and the facts must be read."""
        dimensions = any(getattr(self, name) is not None for name in VOLUME_FILTERS)
        by_agent, by_organization = self.assignee_id is not None, self.organization_id is not None
        if by_agent + by_organization + dimensions > 1:
            return None
        where, params = self.conditions()
        params["slice"] = "assignee" if by_agent else "organization" if by_organization else ""
        return f"{where} AND slice = %(slice)s", params


@dataclass(frozen=True)
class TrendDay:
    day: date
    created: int
    solved: int


@dataclass(frozen=True)
class Times:
    """Median and 90th percentile of one measure, and how many it covers."""

    median: float | None = None
    p90: float | None = None
    count: int = 0


@dataclass(frozen=True)
class SlaFigure:
    """Targets of one kind decided in the period: met and breached."""

    kind: str  # "first_response" or "resolution"
    label: str
    met: int
    breached: int

    @property
    def decided(self) -> int:
        return self.met + self.breached

    @property
    def met_share(self) -> float | None:
        return self.met / self.decided if self.decided else None

    @property
    def met_metric(self) -> str:
        """The list of the tickets behind `met` (reports.views.METRICS)."""
        return f"sla-{self.kind.replace('_', '-')}-met"

    @property
    def breached_metric(self) -> str:
        return f"sla-{self.kind.replace('_', '-')}-breached"


@dataclass
class Dashboard:
    new: int = 0
    solved: int = 0
    reopened_share: float | None = None
    first_reply: Times = field(default_factory=Times)
    resolution: Times = field(default_factory=Times)
    first_reply_business: Times = field(default_factory=Times)
    resolution_business: Times = field(default_factory=Times)
    routed_share: float | None = None
    assigned: int = 0
    sla: list[SlaFigure] = field(default_factory=list)
    ratings: int = 0
    ratings_good: int = 0
    good_share: float | None = None
    # The mean of ratings given on the 1-to-5 scale (None when none were).
    mean_score: float | None = None
    ratings_five: int = 0
    backlog_by_status: dict[str, int] = field(default_factory=dict)
    backlog_by_age: list[tuple[str, int]] = field(default_factory=list)
    backlog: int = 0
    unassigned: int = 0
    # Created and solved per day, when asked for.
    trend: list[TrendDay] | None = None

    # The old names of the first reply's figures, for the pages that read them.
    @property
    def first_reply_median(self) -> float | None:
        return self.first_reply.median

    @property
    def first_reply_p90(self) -> float | None:
        return self.first_reply.p90

    @property
    def first_replies(self) -> int:
        return self.first_reply.count

    @property
    def resolution_median(self) -> float | None:
        return self.resolution.median

    @property
    def resolution_p90(self) -> float | None:
        return self.resolution.p90


def _one(sql: str, params: dict) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _all(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _period_figures(
    filters: Filters, trend_first: date | None = None
) -> tuple[dict[str, int], dict[str, dict[int, int]], list[TrendDay] | None]:
    """The period's counts ({name: n}) and duration histograms ({measure:
    {bucket: n}}), and the created and solved per day from `trend_first`
    when asked: from the daily rollups (a row per day and dimensions, so the
    cost grows with days, not tickets) when the filters are ones they are
    kept by, else added up from the facts by the same SQL."""
    first = min(filters.first_day, trend_first or filters.first_day)
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in rollup.COUNTS)
    kept = filters.rollup_conditions()
    # One statement for the period's counts and the trend: the days' sums.
    if kept is not None:
        where, params = kept
        params.update(first=first, last=filters.last_day)
        rows = _all(
            f"""SELECT day, {sums} FROM reports_dailyvolume
                WHERE {where} AND day >= %(first)s AND day <= %(last)s GROUP BY day""",
            params,
        )
        params.update(first=filters.first_day)
        buckets = _all(
            f"""SELECT measure, bucket, sum(count) FROM reports_dailyduration
                WHERE {where} AND day >= %(first)s AND day <= %(last)s
                GROUP BY measure, bucket""",
            params,
        )
    else:
        where, params = filters.conditions()
        zone = ZoneInfo(current_tenant().time_zone)
        params.update(start=datetime.combine(first, time(), zone), end=filters.end)
        rows = _all(rollup.counts_select(rollup.in_period(where), by_day=True), params)
        params.update(start=filters.start)
        buckets = _all(rollup.durations_select(rollup.in_period(where)), params)
    by_day = {day: [int(n) for n in counts] for day, *counts in rows}
    counts = [0] * len(rollup.COUNTS)
    for day, values in by_day.items():
        if day >= filters.first_day:
            counts = [a + b for a, b in zip(counts, values, strict=True)]
    trend_days = None
    if trend_first is not None:
        created, solved = rollup.COUNTS.index("created"), rollup.COUNTS.index("solved")
        found = {day: (v[created], v[solved]) for day, v in by_day.items()}
        trend_days = _every_day(found, trend_first, filters.last_day)
    histograms: dict[str, dict[int, int]] = {}
    for measure, bucket, count in buckets:
        histograms.setdefault(measure, {})[bucket] = int(count)
    totals = dict(zip(rollup.COUNTS, counts, strict=True))
    return totals, histograms, trend_days


def _times(histogram: dict[int, int] | None) -> Times:
    if not histogram:
        return Times()
    return Times(
        median=histogram_percentile(histogram, 0.5),
        p90=histogram_percentile(histogram, 0.9),
        count=sum(histogram.values()),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def dashboard(
    filters: Filters, *, now: datetime | None = None, trend_first: date | None = None
) -> Dashboard:
    """The dashboard's figures for `filters`: the period's counts and
    histograms (two statements on the daily rollups, which also give the
    trend from `trend_first` when asked), and the open backlog (one
    statement on the facts' partial index of open tickets)."""
    now = now or timezone.now()
    counts, histograms, trend_days = _period_figures(filters, trend_first)
    result = Dashboard(
        trend=trend_days,
        new=counts["created"],
        solved=counts["solved"],
        assigned=counts["assigned"],
        reopened_share=_share(counts["reopened"], counts["solved"]),
        routed_share=_share(counts["routed"], counts["assigned"]),
        first_reply=_times(histograms.get("first_reply")),
        resolution=_times(histograms.get("resolution")),
        first_reply_business=_times(histograms.get("first_reply_business")),
        resolution_business=_times(histograms.get("resolution_business")),
        sla=[
            SlaFigure(
                "first_response",
                "First response",
                counts["sla_first_response_met"],
                counts["sla_first_response_breached"],
            ),
            SlaFigure(
                "resolution",
                "Resolution",
                counts["sla_resolution_met"],
                counts["sla_resolution_breached"],
            ),
        ],
        ratings=counts["ratings"],
        ratings_good=counts["ratings_good"],
        good_share=_share(counts["ratings_good"], counts["ratings"]),
        ratings_five=counts["ratings_five"],
        mean_score=_share(counts["score_five_sum"], counts["ratings_five"]),
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


def trend(filters: Filters, *, first_day: date, last_day: date) -> list[TrendDay]:
    """Tickets created and solved per day from `first_day` to `last_day`
    (every day listed, quiet ones as 0): from the daily volumes when the
    filters are ones they are kept by, else from the facts."""
    kept = filters.rollup_conditions()
    if kept is not None:
        where, params = kept
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
    return _every_day(found, first_day, last_day)


def _every_day(found: dict, first_day: date, last_day: date) -> list[TrendDay]:
    """Every day from `first_day` to `last_day`, quiet ones as 0."""
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
