"""Channel mix and the busiest hours of the week."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from .causes import Change, created_per
from .common import FACTS, HOUR_FILTERS, HOURS, Filters, _all


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
    statements, on the hourly rollup unless narrowed by agent (it is kept
    by group, channel and category)."""
    if filters.assignee_id is None:
        return _from_hours(filters)
    return _from_facts(filters)


def _from_hours(filters: Filters) -> ChannelsReport:
    where, params = filters.on_days("h", kept_by=HOUR_FILTERS)
    mix = created_per("channel", filters)
    mix.sort(key=lambda c: (-c.now, -c.before, c.key))
    heatmap = [[0] * 24 for _ in range(7)]
    for weekday, hour, n in _all(
        f"""SELECT extract(isodow FROM h.day)::int - 1, h.hour, sum(h.created)
            FROM {HOURS} h WHERE {where}
            GROUP BY 1, 2""",
        params,
    ):
        heatmap[weekday][hour] = int(n)
    return ChannelsReport(channels=mix, heatmap=heatmap)


def _from_facts(filters: Filters) -> ChannelsReport:
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
