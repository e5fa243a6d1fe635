"""Efficiency per agent and per group."""

from __future__ import annotations

from dataclasses import dataclass

from ...facts import histogram_percentile
from ...rollup import ASSIGN_TO_REPLY_SQL
from .common import (
    DAILY_REPLIES,
    DURATIONS,
    FACTS,
    REPLIES,
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


# What the rollups of efficiency are kept by: the agent and the group.
ROLLED = {"group_id", "assignee_id"}
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
    daily rollups (three statements, each grouped three ways at once), or
    from the tickets' facts when narrowed by channel or category (the
    rollups are not kept by those)."""
    if filters.narrowed_by <= ROLLED:
        return _from_rollups(filters)
    return _from_facts(filters)


def _from_rollups(filters: Filters) -> EfficiencyReport:
    rows = _Rows()
    where, params = filters.on_days("v")
    narrow = ""
    for name in ("group_id", "assignee_id"):
        if getattr(filters, name) is not None:
            narrow += f" AND v.{name} = %({name})s"
            params[name] = getattr(filters, name)
    sets = "GROUPING SETS ((v.assignee_id), (v.group_id), ())"
    met = "sum(v.sla_first_response_met + v.sla_resolution_met)"
    missed = "sum(v.sla_first_response_breached + v.sla_resolution_breached)"
    for bits, agent, group, handled, reopened, first_replies, sla_met, sla_missed in _all(
        f"""SELECT GROUPING(v.assignee_id, v.group_id), v.assignee_id, v.group_id,
                   sum(v.solved), sum(v.reopened), sum(v.first_replies), {met}, {missed}
            FROM {VOLUMES} v
            WHERE {where} AND v.slice = 'agent_group'{narrow}
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
            WHERE {where} AND v.slice = 'agent_group'{narrow}
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

    # Replies by their sender and the group the ticket was in then.
    narrow = "".join(
        f" AND v.{column} = %({name})s"
        for column, name in (("user_id", "assignee_id"), ("group_id", "group_id"))
        if getattr(filters, name) is not None
    )
    for bits, agent, group, count in _all(
        f"""SELECT GROUPING(v.user_id, v.group_id), v.user_id, v.group_id, sum(v.replies)
            FROM {DAILY_REPLIES} v
            WHERE {where}{narrow}
            GROUP BY GROUPING SETS ((v.user_id), (v.group_id), ())
            HAVING sum(v.replies) > 0""",
        params,
    ):
        rows.at(bits, agent, group).replies = int(count)
    return rows.report()


def _from_facts(filters: Filters) -> EfficiencyReport:
    """The same figures from the tickets' facts and the replies (four
    statements, each grouped three ways at once)."""
    rows = _Rows()
    sets = "GROUPING SETS ((f.assignee_id), (f.group_id), ())"
    where, params = filters.on_facts("f")
    for bits, agent, group, handled, reopened, median, p90 in _all(
        f"""SELECT GROUPING(f.assignee_id, f.group_id), f.assignee_id, f.group_id,
                   count(*), count(*) FILTER (WHERE f.reopens > 0),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY f.resolution_seconds),
                   percentile_disc(0.9) WITHIN GROUP (ORDER BY f.resolution_seconds)
            FROM {FACTS} f
            WHERE {where} AND f.resolved_at >= %(start)s AND f.resolved_at < %(end)s
            GROUP BY {sets}""",
        params,
    ):
        r = rows.at(bits, agent, group)
        r.handled, r.reopened = handled, reopened
        r.resolution_median, r.resolution_p90 = median, p90

    assign_wait = f"({ASSIGN_TO_REPLY_SQL.replace('first_', 'f.first_')})"
    for bits, agent, group, count, median, p90, wait_median, wait_p90 in _all(
        f"""SELECT GROUPING(f.assignee_id, f.group_id), f.assignee_id, f.group_id, count(*),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY f.first_reply_seconds),
                   percentile_disc(0.9) WITHIN GROUP (ORDER BY f.first_reply_seconds),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY {assign_wait}),
                   percentile_disc(0.9) WITHIN GROUP (ORDER BY {assign_wait})
            FROM {FACTS} f
            WHERE {where} AND f.first_reply_at >= %(start)s AND f.first_reply_at < %(end)s
            GROUP BY {sets}""",
        params,
    ):
        r = rows.at(bits, agent, group)
        r.first_replies, r.first_reply_median, r.first_reply_p90 = count, median, p90
        r.assign_to_reply_median, r.assign_to_reply_p90 = wait_median, wait_p90

    # SLA targets decided in the period (met, or fallen due unmet), through
    # the two outcomes' partial indexes.
    decided = [
        f"(f.sla_{kind}_at >= %(start)s AND f.sla_{kind}_at < %(end)s)"
        for kind in ("first_response", "resolution")
    ]
    counted = {
        outcome: " + ".join(
            f"(f.sla_{kind} = '{outcome}' AND f.sla_{kind}_at >= %(start)s"
            f" AND f.sla_{kind}_at < %(end)s)::int"
            for kind in ("first_response", "resolution")
        )
        for outcome in ("met", "breached")
    }
    for bits, agent, group, met, missed in _all(
        f"""SELECT GROUPING(f.assignee_id, f.group_id), f.assignee_id, f.group_id,
                   sum({counted["met"]}), sum({counted["breached"]})
            FROM {FACTS} f
            WHERE {where} AND ({" OR ".join(decided)})
            GROUP BY {sets}""",
        params,
    ):
        r = rows.at(bits, agent, group)
        r.sla_met, r.sla_missed = int(met or 0), int(missed or 0)

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
        rows.at(bits, agent, group).replies = count
    return rows.report()
