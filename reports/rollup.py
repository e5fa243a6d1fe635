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
# A rollup row's key after its day: the slice it belongs to, then every
# dimension (those the slice is not kept by hold NULL, "" or 0).
KEY_COLUMNS = ("slice", *DIMENSIONS, "assignee_id", "organization_id")
# The rollups keep three slices of each day: by the four dimensions above
# together (""), by the ticket's agent, by its organisation, and by its
# agent, group, channel and category together (the report pages' rows per
# agent and group, narrowed by any of those). Each fact counts once in each.
# {slice: {key column: SQL value}}.
SLICES = {
    "": {
        "group_id": "group_id",
        "channel": "channel",
        "priority": "priority",
        "category_id": "category_id",
        "assignee_id": "NULL::bigint",
        "organization_id": "NULL::bigint",
    },
    "assignee": {
        "group_id": "NULL::bigint",
        "channel": "''",
        "priority": "0",
        "category_id": "NULL::bigint",
        "assignee_id": "assignee_id",
        "organization_id": "NULL::bigint",
    },
    "organization": {
        "group_id": "NULL::bigint",
        "channel": "''",
        "priority": "0",
        "category_id": "NULL::bigint",
        "assignee_id": "NULL::bigint",
        "organization_id": "organization_id",
    },
    "agent_group": {
        "group_id": "group_id",
        "channel": "channel",
        "priority": "0",
        "category_id": "category_id",
        "assignee_id": "assignee_id",
        "organization_id": "NULL::bigint",
    },
}

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

# The time from the first assignment to the first reply, as
# `facts.assign_to_reply_seconds` counts it.
ASSIGN_TO_REPLY_SQL = (
    "CASE WHEN first_assigned_at <= first_reply_at"
    " THEN floor(extract(epoch FROM first_reply_at - first_assigned_at))::int END"
)

# (measure, moment column, day column, seconds column or SQL) per histogram.
DURATION_BRANCHES = (
    ("first_reply", "first_reply_at", "first_reply_day", "first_reply_seconds"),
    ("resolution", "resolved_at", "resolved_day", "resolution_seconds"),
    ("first_reply_business", "first_reply_at", "first_reply_day", "first_reply_business_seconds"),
    ("resolution_business", "resolved_at", "resolved_day", "resolution_business_seconds"),
    ("assign_to_reply", "first_reply_at", "first_reply_day", ASSIGN_TO_REPLY_SQL),
)

# What the hourly rollup (`HourlyVolume`: tickets created per day and hour
# in the help desk's time zone) is kept by after the day and the hour.
HOUR_KEYS = ("group_id", "channel", "category_id")

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


def _key_columns(slice_name: str) -> list[str]:
    return [f"'{slice_name}' AS slice"] + [
        f"{SLICES[slice_name][name]} AS {name}" for name in KEY_COLUMNS[1:]
    ]


def counts_select(condition: Condition, *, by_day: bool, slice_name: str | None = None) -> str:
    """The `COUNTS` (summed) per day (and the key of `slice_name`'s rows,
    when given) when `by_day`, else in total."""
    keyed = by_day and slice_name is not None
    keys = (("day", *(KEY_COLUMNS if keyed else ()))) if by_day else ()
    branches = []
    for moment, day, values in COUNT_BRANCHES:
        columns = [f"{day} AS day"] if by_day else []
        columns += _key_columns(slice_name) if keyed else []
        columns += [f"{values.get(name, '0')} AS {name}" for name in COUNTS]
        branches.append(
            f"SELECT {', '.join(columns)} FROM reports_ticketfact WHERE {condition(moment, day)}"
        )
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in COUNTS)
    select = f"SELECT {', '.join((*keys, sums))} FROM ({' UNION ALL '.join(branches)}) AS b"
    return select + (f" GROUP BY {', '.join(keys)}" if keys else "")


def durations_select(condition: Condition, *, slice_name: str | None = None) -> str:
    """How many of each measure fell in each bucket: per day and the key of
    `slice_name`'s rows when given ((day, key..., measure, bucket, count)),
    else in total ((measure, bucket, count))."""
    keyed = slice_name is not None
    keys = ("day", *KEY_COLUMNS, "measure", "bucket") if keyed else ("measure", "bucket")
    branches = []
    for measure, moment, day, seconds in DURATION_BRANCHES:
        columns = [f"{day} AS day", *_key_columns(slice_name)] if keyed else []
        columns += [f"'{measure}' AS measure", f"{duration_bucket_sql(seconds)} AS bucket"]
        branches.append(
            f"SELECT {', '.join(columns)} FROM reports_ticketfact"
            f" WHERE {condition(moment, day)} AND {seconds} IS NOT NULL"
        )
    return (
        f"SELECT {', '.join(keys)}, count(*) FROM ({' UNION ALL '.join(branches)}) AS b"
        f" GROUP BY {', '.join(keys)}"
    )


def insert_counts(condition: Condition, slice_name: str) -> str:
    """INSERT the daily volumes of one slice of the facts `condition` takes."""
    columns = ", ".join(("tenant_id", "day", *KEY_COLUMNS, *COUNTS))
    # In day order: a period's rows then lie together on disk.
    return (
        f"INSERT INTO reports_dailyvolume ({columns}) SELECT %(tenant)s, * FROM"
        f" ({counts_select(condition, by_day=True, slice_name=slice_name)}) AS c ORDER BY day"
    )


def insert_durations(condition: Condition, slice_name: str) -> str:
    """INSERT the duration histograms of one slice of the facts `condition` takes."""
    columns = ", ".join(("tenant_id", "day", *KEY_COLUMNS, "measure", "bucket", "count"))
    return (
        f"INSERT INTO reports_dailyduration ({columns}) SELECT %(tenant)s, * FROM"
        f" ({durations_select(condition, slice_name=slice_name)}) AS d ORDER BY day"
    )


def insert_hours() -> str:
    """INSERT the tickets created per day and hour (the help desk's time
    zone, %(zone)s) of every fact."""
    keys = ", ".join(HOUR_KEYS)
    return (
        f"INSERT INTO reports_hourlyvolume (tenant_id, day, hour, {keys}, created)"
        f" SELECT %(tenant)s, created_day,"
        f" extract(hour FROM created_at AT TIME ZONE %(zone)s)::int AS hour, {keys}, count(*)"
        f" FROM reports_ticketfact WHERE tenant_id = %(tenant)s"
        f" GROUP BY created_day, hour, {keys} ORDER BY created_day"
    )
