"""Root causes: categories and tags against the period before."""

from __future__ import annotations

from dataclasses import dataclass

from .common import FACTS, HOUR_FILTERS, HOURS, TAGS, Filters, _all, _facts_join, _share


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


def created_per(column: str, filters: Filters) -> list[Change]:
    """Tickets created per `column` of the hourly rollup (a channel, a
    category) in the period and in as many days before it, narrowed by the
    filters it is kept by (group, channel, category)."""
    where, params = filters.on_days("h", kept_by=HOUR_FILTERS, previous=True)
    return [
        Change(key, int(now), int(before))
        for key, now, before in _all(
            f"""SELECT h.{column},
                       coalesce(sum(h.created) FILTER (WHERE h.day >= %(period_first)s), 0),
                       coalesce(sum(h.created) FILTER (WHERE h.day < %(period_first)s), 0)
                FROM {HOURS} h WHERE {where}
                GROUP BY 1 HAVING sum(h.created) > 0""",
            params,
        )
    ]


def causes(filters: Filters, *, top: int = 15) -> CausesReport:
    """Tickets created per category and per tag in the period and in as
    many days before it. Two statements; the categories from the hourly
    rollup unless narrowed by agent."""
    where, params = filters.on_facts("f")
    params["previous"] = filters.previous_start
    counts = """count(*) FILTER (WHERE {c} >= %(start)s),
                count(*) FILTER (WHERE {c} < %(start)s)"""
    if filters.assignee_id is None:
        categories = created_per("category_id", filters)
    else:
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
