"""Efficiency per agent and per group."""

from __future__ import annotations

from dataclasses import dataclass

from .common import FACTS, REPLIES, Filters, _all, _share


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
                   coalesce(sum((f.sla_first_response = 'met')::int
                                + (f.sla_resolution = 'met')::int), 0),
                   coalesce(sum((f.sla_first_response = 'breached')::int
                                + (f.sla_resolution = 'breached')::int), 0)
            FROM {FACTS} f
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
