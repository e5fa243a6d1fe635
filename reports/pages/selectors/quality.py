"""Quality: reopenings, satisfaction and what customers said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from helpdesk.tenancy import current_tenant

from .common import FACTS, FILTER_COLUMNS, RATINGS, VOLUMES, Filters, _all, _share


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


def _solved_by_group(filters: Filters) -> list[tuple]:
    """Tickets solved in the period and those of them reopened before, per
    group and in all ((GROUPING, group, solved, reopened) rows), from the
    daily rollup: its main slice, or the one kept by agent too."""
    where, params = filters.on_days("v", kept_by=FILTER_COLUMNS)
    params["slice"] = "agent_group" if filters.assignee_id is not None else ""
    return [
        (bits, group, int(solved), int(reopened))
        for bits, group, solved, reopened in _all(
            f"""SELECT GROUPING(v.group_id), v.group_id, sum(v.solved), sum(v.reopened)
                FROM {VOLUMES} v WHERE {where} AND v.slice = %(slice)s
                GROUP BY GROUPING SETS ((v.group_id), ())
                HAVING sum(v.solved) > 0""",
            params,
        )
    ]


def quality(filters: Filters, *, step: str = "week", comments: int = 20) -> QualityReport:
    """Reopen rate of the tickets solved in the period (in all and per
    group), satisfaction per `step` ("day" or "week", in the help desk's
    time zone), the worst-rated categories, and the latest comments."""
    by_group = _solved_by_group(filters)
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
