"""Where tickets stall: time in each status and group, hand-offs, bounces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ...facts import histogram_percentile
from .common import BOUNCES, DAILY_SPELLS, FILTER_COLUMNS, SPELLS, Filters, _all, _facts_join


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


def _done_from_rollups(filters: Filters) -> dict[tuple[str, str], tuple]:
    """Spells that ended in the period, per status and group: how many,
    median and 90th percentile (nearest rank), seconds in all; from the
    daily rollup (kept by the ticket's group, channel, category and agent)."""
    where, params = filters.on_days("d", kept_by=FILTER_COLUMNS)
    found: dict[tuple[str, str], list] = {}
    for kind, value, bucket, spells, seconds in _all(
        f"""SELECT d.kind, d.value, d.bucket, sum(d.spells), sum(d.seconds)
            FROM {DAILY_SPELLS} d WHERE {where}
            GROUP BY 1, 2, 3 HAVING sum(d.spells) > 0""",
        params,
    ):
        entry = found.setdefault((kind, value), [{}, 0])
        entry[0][bucket] = int(spells)
        entry[1] += int(seconds)
    return {
        key: (
            sum(counts.values()),
            histogram_percentile(counts, 0.5),
            histogram_percentile(counts, 0.9),
            total,
        )
        for key, (counts, total) in found.items()
    }


def stalls(filters: Filters, *, now: datetime | None = None, top: int = 50) -> StallsReport:
    """Time spent in each status and each group (spells that ended in the
    period, and the open tickets' current ones), hand-offs between groups in
    the period, and the tickets handed off more than `BOUNCES` times with
    one of them in the period. Four statements; the ended spells from their
    daily rollup."""
    now = now or timezone.now()
    join, where, params = _facts_join(filters, "s")
    params = {**params, "now": now, "bounces": BOUNCES, "top": top}
    done = _done_from_rollups(filters)
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
