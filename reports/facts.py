"""Folding a ticket's events into its `TicketFact`: the one place that says
what each event means for the measures. Pure: no database, so the
incremental handler and the rebuild cannot disagree on what an event means.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
SOLVED_STATUSES = ("resolved", "closed")

# The Event columns a fold reads (plus the kind of the message an event
# added), in `EventRow`'s order.
EVENT_COLUMNS = (
    "id",
    "kind",
    "field",
    "old_value",
    "new_value",
    "actor_system",
    "created_at",
    "message__kind",
)


# Durations are counted in buckets: under a minute, then eight buckets per
# doubling from one minute up. A bucket's upper edge is 2^(1/8) (9.05%)
# above its lower edge; reading a percentile as the bucket's geometric
# middle is off by at most 2^(1/16) - 1 = 4.4% of the true value (30 s
# under a minute).
BUCKETS_PER_DOUBLING = 8
BUCKET_FLOOR_SECONDS = 60
# The buckets' lower edges in whole seconds, up to about two years (bucket
# k covers [EDGES[k-1], EDGES[k])): integers, so that Python and SQL put a
# time in the same bucket to the second.
BUCKET_EDGES = tuple(
    math.ceil(BUCKET_FLOOR_SECONDS * 2 ** (k / BUCKETS_PER_DOUBLING))
    for k in range(20 * BUCKETS_PER_DOUBLING + 1)
)


def duration_bucket(seconds: int) -> int:
    """The bucket of a time in seconds: how many lower edges it reaches."""
    return bisect.bisect_right(BUCKET_EDGES, seconds)


def duration_bucket_sql(column: str) -> str:
    """`duration_bucket` in SQL (width_bucket over the same edges)."""
    return f"width_bucket({column}, ARRAY[{','.join(map(str, BUCKET_EDGES))}]::int[])"


def bucket_value(bucket: int) -> float:
    """The time a bucket stands for: its geometric middle (30 s under a minute)."""
    if bucket == 0:
        return BUCKET_FLOOR_SECONDS / 2
    if bucket >= len(BUCKET_EDGES):
        return float(BUCKET_EDGES[-1])
    return math.sqrt(BUCKET_EDGES[bucket - 1] * BUCKET_EDGES[bucket])


def histogram_percentile(counts: dict[int, int], share: float) -> float | None:
    """The `share` percentile (nearest rank: the time within which at least
    that share of the tickets fell) of a histogram {bucket: count}."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return None  # not reached: the ranks end at the total


@dataclass(frozen=True)
class TargetRow:
    """What a fact takes from one of the SLA app's targets of its ticket."""

    kind: str
    business: bool
    met_at: datetime | None
    breached_at: datetime | None
    seconds_used: int


SLA_KINDS = {"first_response": "sla_first_response", "resolution": "sla_resolution"}
BUSINESS_SECONDS = {
    "first_response": "first_reply_business_seconds",
    "resolution": "resolution_business_seconds",
}


def take_targets(fact, targets: list[TargetRow], zone: ZoneInfo) -> None:
    """Set the fact's SLA outcomes and business times from the ticket's
    targets as the SLA app last computed them. A breach is decided when the
    target fell due, a target met when it was met; one still running has
    no outcome yet."""
    by_kind = {row.kind: row for row in targets}
    for kind, prefix in SLA_KINDS.items():
        row = by_kind.get(kind)
        outcome, at = "", None
        if row is not None and row.breached_at is not None:
            outcome, at = "breached", row.breached_at
        elif row is not None and row.met_at is not None:
            outcome, at = "met", row.met_at
        setattr(fact, prefix, outcome)
        setattr(fact, f"{prefix}_at", at)
        setattr(fact, f"{prefix}_day", at.astimezone(zone).date() if at else None)
        business = row is not None and row.business and row.met_at is not None
        setattr(fact, BUSINESS_SECONDS[kind], row.seconds_used if business else None)


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    field: str
    old_value: object
    new_value: object
    actor_system: str
    created_at: datetime
    message_kind: str | None


def _value(stored):
    """An event's stored field value ({"value", "label"}) as the raw value."""
    if isinstance(stored, dict):
        return stored.get("value")
    return stored


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def fold(fact, events: list[EventRow], zone: ZoneInfo) -> bool:
    """Apply the `events` newer than `fact.last_event_id`, in id order, to
    `fact` (a TicketFact or anything with its attributes). True when any
    was applied."""
    changed = False
    for event in sorted(events, key=lambda e: e.id):
        if event.id <= fact.last_event_id:
            continue
        changed = True
        fact.last_event_id = event.id
        if event.kind == "message_added":
            if event.message_kind == "reply":
                fact.public_replies += 1
                if fact.first_reply_at is None:
                    fact.first_reply_at = event.created_at
                    fact.first_reply_day = event.created_at.astimezone(zone).date()
                    fact.first_reply_seconds = _seconds(fact.created_at, event.created_at)

        elif event.kind == "rated":
            # The latest rating stands (a changed one, or the next cycle's).
            rating = event.new_value or {}
            fact.rating_scale = rating.get("scale") or ""
            fact.rating_score = rating.get("score")
            fact.rating_good = bool(rating.get("is_good"))
            fact.rated_at = event.created_at
            fact.rated_day = event.created_at.astimezone(zone).date()

        elif event.field == "status":
            before, after = _value(event.old_value), _value(event.new_value)
            if after in SOLVED_STATUSES and before not in SOLVED_STATUSES:
                fact.resolved_at = event.created_at
                fact.resolved_day = event.created_at.astimezone(zone).date()
                fact.resolution_seconds = _seconds(fact.created_at, event.created_at)
                if fact.first_resolved_at is None:
                    fact.first_resolved_at = event.created_at
            elif before in SOLVED_STATUSES and after not in SOLVED_STATUSES:
                fact.reopens += 1
                fact.resolved_at = fact.resolved_day = fact.resolution_seconds = None
        elif event.field == "assignee":
            if _value(event.new_value) is not None and fact.first_assigned_at is None:
                fact.first_assigned_at = event.created_at
                fact.assigned_by_system = bool(event.actor_system)
        elif event.field == "group":
            before, after = _value(event.old_value), _value(event.new_value)
            if before is not None and after is not None and before != after:
                fact.group_moves += 1
    return changed


# What a fact adds to the daily rollups, mirroring `reports.rollup` (the
# SQL the rebuild counts with; the property test holds the two together):
# {(day, *key): [count per rollup.COUNTS]},
# {(day, *key, measure, bucket): 1}, the key as rollup.KEY_COLUMNS, and
# {(day, hour, *rollup.HOUR_KEYS): 1} for the hour the ticket came in.
COUNT_NAMES = (
    "created",
    "assigned",
    "routed",
    "solved",
    "reopened",
    "first_replies",
    "sla_first_response_met",
    "sla_first_response_breached",
    "sla_resolution_met",
    "sla_resolution_breached",
    "ratings",
    "ratings_good",
    "ratings_five",
    "score_five_sum",
)


def assign_to_reply_seconds(fact) -> int | None:
    """The time from the first assignment to the first reply (None when
    either is missing, or the reply came before anyone was assigned)."""
    assigned, replied = fact.first_assigned_at, fact.first_reply_at
    if assigned is None or replied is None or assigned > replied:
        return None
    return _seconds(assigned, replied)


Contributions = tuple[dict[tuple, list[int]], dict[tuple, int], dict[tuple, int]]


def contributions(fact, zone: ZoneInfo) -> Contributions:
    """The rows of the daily rollups this fact counts in, and by how much
    (`zone`: the help desk's, for the hour the ticket came in)."""
    if fact is None:
        return {}, {}, {}
    # The key after the day of the fact's row in each slice (rollup.SLICES).
    slices = (
        ("", fact.group_id, fact.channel, fact.priority, fact.category_id, None, None),
        ("assignee", None, "", 0, None, fact.assignee_id, None),
        ("organization", None, "", 0, None, None, fact.organization_id),
        (
            "agent_group",
            fact.group_id,
            fact.channel,
            0,
            fact.category_id,
            fact.assignee_id,
            None,
        ),  # fmt: skip
    )
    counts: dict[tuple, list[int]] = {}

    def add(day, **values):
        for key in slices:
            row = counts.setdefault((day, *key), [0] * len(COUNT_NAMES))
            for name, value in values.items():
                row[COUNT_NAMES.index(name)] += int(value)

    add(
        fact.created_day,
        created=1,
        assigned=fact.first_assigned_at is not None,
        routed=fact.assigned_by_system,
    )
    if fact.resolved_at is not None:
        add(fact.resolved_day, solved=1, reopened=fact.reopens > 0)
    if fact.first_reply_at is not None:
        add(fact.first_reply_day, first_replies=1)
    if fact.sla_first_response_at is not None:
        add(
            fact.sla_first_response_day,
            sla_first_response_met=fact.sla_first_response == "met",
            sla_first_response_breached=fact.sla_first_response == "breached",
        )
    if fact.sla_resolution_at is not None:
        add(
            fact.sla_resolution_day,
            sla_resolution_met=fact.sla_resolution == "met",
            sla_resolution_breached=fact.sla_resolution == "breached",
        )
    if fact.rated_at is not None:
        five = fact.rating_scale == "five"
        add(
            fact.rated_day,
            ratings=1,
            ratings_good=bool(fact.rating_good),
            ratings_five=five,
            score_five_sum=(fact.rating_score or 0) if five else 0,
        )
    durations: dict[tuple, int] = {}
    for measure, moment, day, value in (
        ("first_reply", "first_reply_at", "first_reply_day", fact.first_reply_seconds),
        ("resolution", "resolved_at", "resolved_day", fact.resolution_seconds),
        (
            "first_reply_business",
            "first_reply_at",
            "first_reply_day",
            fact.first_reply_business_seconds,
        ),
        ("resolution_business", "resolved_at", "resolved_day", fact.resolution_business_seconds),
        ("assign_to_reply", "first_reply_at", "first_reply_day", assign_to_reply_seconds(fact)),
    ):
        if getattr(fact, moment) is not None and value is not None:
            for key in slices:
                row = (getattr(fact, day), *key, measure, duration_bucket(value))
                durations[row] = durations.get(row, 0) + 1
    hour = fact.created_at.astimezone(zone).hour
    hours = {(fact.created_day, hour, fact.group_id, fact.channel, fact.category_id): 1}
    return counts, durations, hours


def _delta_of(before: dict[tuple, int], after: dict[tuple, int]) -> dict[tuple, int]:
    return {
        key: after.get(key, 0) - before.get(key, 0)
        for key in set(before) | set(after)
        if after.get(key, 0) != before.get(key, 0)
    }


def rows_delta(before: dict[tuple, list[int]], after: dict[tuple, list[int]]) -> dict[tuple, list]:
    """What replacing rows `before` by `after` ({key: [count per column]})
    adds to each row; rows left as they were are not listed."""
    changes = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        width = len(old or new)
        change = [b - a for a, b in zip(old or [0] * width, new or [0] * width, strict=True)]
        if any(change):
            changes[key] = change
    return changes


def contributions_delta(before: Contributions, after: Contributions) -> Contributions:
    """What changing a fact from `before` to `after` (contributions) adds
    to each rollup row; rows it leaves as they were are not listed."""
    return (
        rows_delta(before[0], after[0]),
        _delta_of(before[1], after[1]),
        _delta_of(before[2], after[2]),
    )
