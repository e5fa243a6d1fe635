"""The SQL that adds facts up: one text for the daily rollups' rebuild and
the dashboard's reading of the facts themselves (for the filters the
rollups are not kept by), so the two cannot count differently. The
handler's own additions (`facts.contributions`) mirror it, and the
property test holds them together.

Every count is taken on the day (or within the period) of its own moment:
each branch below reads the facts whose moment of that kind falls there,
through the partial (tenant, moment) index of that moment.
"""

from __future__ import annotations

from collections.abc import Callable

from .facts import COUNT_NAMES, duration_bucket_sql

DIMENSIONS = ("group_id", "channel", "priority", "category_id")

# The counts of `DailyVolume`, in column order.
COUNTS = COUNT_NAMES

# (moment column, day column, {count: SQL value}) per kind of moment.
COUNT_BRANCHES = (
    (
        "created_at",
        "created_day",
        {
            "created": "1",
            "assigned": "(first_assigned_at IS NOT NULL)::int",
            "routed": "assigned_by_system::int",
        },
    ),
    ("resolved_at", "resolved_day", {"solved": "1", "reopened": "(reopens > 0)::int"}),
    ("first_reply_at", "first_reply_day", {"first_replies": "1"}),
    (
        "sla_first_response_at",
        "sla_first_response_day",
        {
            "sla_first_response_met": "(sla_first_response = 'met')::int",
            "sla_first_response_breached": "(sla_first_response = 'breached')::int",
        },
    ),
    (
        "sla_resolution_at",
        "sla_resolution_day",
        {
            "sla_resolution_met": "(sla_resolution = 'met')::int",
            "sla_resolution_breached": "(sla_resolution = 'breached')::int",
        },
    ),
    (
        "rated_at",
        "rated_day",
        {
            "ratings": "1",
            "ratings_good": "coalesce(rating_good, false)::int",
            "ratings_five": "(rating_scale = 'five')::int",
            "score_five_sum": "CASE WHEN rating_scale = 'five' THEN rating_score ELSE 0 END",
        },
    ),
)

# (measure, moment column, day column, seconds column) per histogram.
DURATION_BRANCHES = (
    ("first_reply", "first_reply_at", "first_reply_day", "first_reply_seconds"),
    ("resolution", "resolved_at", "resolved_day", "resolution_seconds"),
    ("first_reply_business", "first_reply_at", "first_reply_day", "first_reply_business_seconds"),
    ("resolution_business", "resolved_at", "resolved_day", "resolution_business_seconds"),
)

# A condition on the facts for one kind of moment: (moment column, day column) -> SQL.
Condition = Callable[[str, str], str]


def every_day(moment: str, day: str) -> str:
    """Every fact that has the moment (the rebuild)."""
    return f"tenant_id = %(tenant)s AND {moment} IS NOT NULL"


def in_period(where: str) -> Condition:
    """Facts matching `where` (tenant and filters) whose moment falls in
    [%(start)s, %(end)s)."""

    def condition(moment: str, day: str) -> str:
        return f"{where} AND {moment} >= %(start)s AND {moment} < %(end)s"

    return condition


def counts_select(condition: Condition, *, by_day: bool, dimensions: bool = True) -> str:
    """The `COUNTS` (summed) per day (and dimensions, unless not
    `dimensions`) when `by_day`, else in total."""
    keys = ("day", *(DIMENSIONS if dimensions else ())) if by_day else ()
    branches = []
    for moment, day, values in COUNT_BRANCHES:
        columns = [f"{day} AS day", *keys[1:]] if by_day else []
        columns += [f"{values.get(name, '0')} AS {name}" for name in COUNTS]
        branches.append(
            f"SELECT {', '.join(columns)} FROM reports_ticketfact WHERE {condition(moment, day)}"
        )
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in COUNTS)
    select = f"SELECT {', '.join((*keys, sums))} FROM ({' UNION ALL '.join(branches)}) AS b"
    return select + (f" GROUP BY {', '.join(keys)}" if keys else "")


def durations_select(condition: Condition, *, by_day: bool) -> str:
    """How many of each measure fell in each bucket, per day and dimensions
    when `by_day`: (day, dimensions..., measure, bucket, count)."""
    keys = ("day", *DIMENSIONS, "measure", "bucket") if by_day else ("measure", "bucket")
    branches = []
    for measure, moment, day, seconds in DURATION_BRANCHES:
        columns = [f"{day} AS day", *DIMENSIONS] if by_day else []
        columns += [f"'{measure}' AS measure", f"{duration_bucket_sql(seconds)} AS bucket"]
        branches.append(
            f"SELECT {', '.join(columns)} FROM reports_ticketfact"
            f" WHERE {condition(moment, day)} AND {seconds} IS NOT NULL"
        )
    return (
        f"SELECT {', '.join(keys)}, count(*) FROM ({' UNION ALL '.join(branches)}) AS b"
        f" GROUP BY {', '.join(keys)}"
    )


def insert_counts(condition: Condition) -> str:
    """INSERT the daily volumes of the facts `condition` takes."""
    columns = ", ".join(("tenant_id", "day", *DIMENSIONS, *COUNTS))
    # In day order: a period's rows then lie together on disk.
    return (
        f"INSERT INTO reports_dailyvolume ({columns}) SELECT %(tenant)s, * FROM"
        f" ({counts_select(condition, by_day=True)}) AS c ORDER BY day"
    )


def insert_durations(condition: Condition) -> str:
    """INSERT the daily duration histograms of the facts `condition` takes."""
    columns = ", ".join(("tenant_id", "day", *DIMENSIONS, "measure", "bucket", "count"))
    return (
        f"INSERT INTO reports_dailyduration ({columns}) SELECT %(tenant)s, * FROM"
        f" ({durations_select(condition, by_day=True)}) AS d ORDER BY day"
    )
