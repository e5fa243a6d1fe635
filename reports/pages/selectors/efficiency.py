"""Efficiency per agent and per group."""

from __future__ import annotations

from dataclasses import dataclass

from ...facts import histogram_percentile
from .common import (
    DAILY_REPLIES,
    DURATIONS,
    FILTER_COLUMNS,
    VOLUMES,
    Filters,
    _all,
    _share,
)


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


MEASURES = {
    "resolution": ("resolution_median", "resolution_p90"),
    "first_reply": ("first_reply_median", "first_reply_p90"),
    "assign_to_reply": ("assign_to_reply_median", "assign_to_reply_p90"),
}


class _Rows(dict):
    def row(self, level: str, key) -> Efficiency:
        return self.setdefault((level, key), Efficiency(key=key))

    def at(self, bits: int, agent, group) -> Efficiency:
        level = _level(bits)
        return self.row(level, agent if level == "agent" else group)

    def report(self) -> EfficiencyReport:
        def listed(level):
            found = [r for (lv, _), r in self.items() if lv == level]
            return sorted(found, key=lambda r: (-r.handled, -r.replies, r.key or 0))

        return EfficiencyReport(
            agents=listed("agent"),
            groups=listed("group"),
            total=self.get(("all", None), Efficiency(None)),
        )


def efficiency(filters: Filters) -> EfficiencyReport:
    """Per agent and per group (the tickets' current ones) and in all:
    tickets solved in the period with their resolution times and
    reopenings; first replies in the period with their times and the time
    from first assignment to first reply; SLA targets met and missed in the
    period; public replies sent in the period (by their sender, in the group
    the ticket was in). Times are nearest-rank percentiles. Read from the
    daily rollups (the slice kept by agent, group, channel and category;
    the replies' by sender, group then, channel and category): three
    statements, each grouped three ways at once."""
    rows = _Rows()
    where, params = filters.on_days("v", kept_by=FILTER_COLUMNS)
    sets = "GROUPING SETS ((v.assignee_id), (v.group_id), ())"
    met = "sum(v.sla_first_response_met + v.sla_resolution_met)"
    missed = "sum(v.sla_first_response_breached + v.sla_resolution_breached)"
    for bits, agent, group, handled, reopened, first_replies, sla_met, sla_missed in _all(
        f"""SELECT GROUPING(v.assignee_id, v.group_id), v.assignee_id, v.group_id,
                   sum(v.solved), sum(v.reopened), sum(v.first_replies), {met}, {missed}
            FROM {VOLUMES} v
            WHERE {where} AND v.slice = 'agent_group'
            GROUP BY {sets}
            HAVING sum(v.solved) + sum(v.first_replies) + {met} + {missed} > 0""",
        params,
    ):
        r = rows.at(bits, agent, group)
        r.handled, r.reopened, r.first_replies = int(handled), int(reopened), int(first_replies)
        r.sla_met, r.sla_missed = int(sla_met), int(sla_missed)

    histograms: dict[tuple, dict[str, dict[int, int]]] = {}
    for bits, agent, group, measure, bucket, count in _all(
        f"""SELECT GROUPING(v.assignee_id, v.group_id), v.assignee_id, v.group_id,
                   v.measure, v.bucket, sum(v.count)
            FROM {DURATIONS} v
            WHERE {where} AND v.slice = 'agent_group'
              AND v.measure IN ('resolution', 'first_reply', 'assign_to_reply')
            GROUP BY GROUPING SETS ((v.assignee_id, v.measure, v.bucket),
                                    (v.group_id, v.measure, v.bucket), (v.measure, v.bucket))
            HAVING sum(v.count) > 0""",
        params,
    ):
        level = _level(bits)
        key = (level, agent if level == "agent" else group)
        histograms.setdefault(key, {}).setdefault(measure, {})[bucket] = int(count)
    for key, measures in histograms.items():
        if key not in rows:
            continue
        for measure, counts in measures.items():
            median, p90 = MEASURES[measure]
            setattr(rows[key], median, histogram_percentile(counts, 0.5))
            setattr(rows[key], p90, histogram_percentile(counts, 0.9))

    # Replies by their sender (the agent filter) and the group the ticket
    # was in then.
    where, params = filters.on_days("v", kept_by=("group_id", "channel", "category_id"))
    if filters.assignee_id is not None:
        where += " AND v.user_id = %(assignee_id)s"
        params["assignee_id"] = filters.assignee_id
    for bits, agent, group, count in _all(
        f"""SELECT GROUPING(v.user_id, v.group_id), v.user_id, v.group_id, sum(v.replies)
            FROM {DAILY_REPLIES} v
            WHERE {where}
            GROUP BY GROUPING SETS ((v.user_id), (v.group_id), ())
            HAVING sum(v.replies) > 0""",
        params,
    ):
        rows.at(bits, agent, group).replies = int(count)
    return rows.report()
