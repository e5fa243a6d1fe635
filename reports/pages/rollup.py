"""The report pages' daily rollups (`DailySpell`, `DailyReply`): what a
ticket's spells and replies add to them in Python (the handler), and the
SQL that counts them from all the page facts (the rebuild). The property
test holds the two together, as `reports.rollup` and `reports.facts` are
for the dashboard.

A spell counts on the day it ended, a reply on the day it was sent (the
help desk's time zone). A spell's group key is the ticket's group as its
current group spell says (the ticket's group when its facts were folded),
so the old rows' keys are known from the old rows alone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..facts import duration_bucket, duration_bucket_sql
from .models import DailyReply, DailySpell, ReplyFact, TicketSpell

SPELL_TABLE = DailySpell._meta.db_table
REPLY_TABLE = DailyReply._meta.db_table
SPELL_KEYS = ("tenant_id", "day", "kind", "value", "group_id", "bucket")
SPELL_COUNTS = ("spells", "seconds")
REPLY_KEYS = ("tenant_id", "day", "user_id", "group_id")
REPLY_COUNTS = ("replies",)

# What the rollups read of a spell and of a reply (old rows are read back
# in this shape from the DELETE that replaces them).
SPELL_COLUMNS = ("kind", "value", "ended_at", "seconds")
REPLY_COLUMNS = ("user_id", "group_id", "created_at")


def _day(moment: datetime, zone: ZoneInfo):
    return moment.astimezone(zone).date()


def current_group(spells) -> int | None:
    """The ticket's group by its current group spell ((kind, value,
    ended_at, ...) rows or `Spell`s); None for none."""
    for spell in spells:
        kind, value, ended_at = _spell_fields(spell)[:3]
        if kind == "group" and ended_at is None:
            return int(value) if value else None
    return None


def _spell_fields(spell) -> tuple:
    if isinstance(spell, tuple):
        return spell
    return tuple(getattr(spell, name) for name in SPELL_COLUMNS)


def _reply_fields(reply) -> tuple:
    if isinstance(reply, tuple):
        return reply
    return tuple(getattr(reply, name) for name in REPLY_COLUMNS)


def spell_contributions(spells, zone: ZoneInfo) -> dict[tuple, list[int]]:
    """{(day, kind, value, group_id, bucket): [spells, seconds]} of one
    ticket's spells (`Spell`s or rows in `SPELL_COLUMNS`' order)."""
    group_id = current_group(spells)
    rows: dict[tuple, list[int]] = {}
    for spell in spells:
        kind, value, ended_at, seconds = _spell_fields(spell)
        if ended_at is None:
            continue
        key = (_day(ended_at, zone), kind, value, group_id, duration_bucket(seconds))
        row = rows.setdefault(key, [0, 0])
        row[0] += 1
        row[1] += seconds
    return rows


def reply_contributions(replies, zone: ZoneInfo) -> dict[tuple, list[int]]:
    """{(day, user_id, group_id): [replies]} of one ticket's replies."""
    rows: dict[tuple, list[int]] = {}
    for reply in replies:
        user_id, group_id, created_at = _reply_fields(reply)
        row = rows.setdefault((_day(created_at, zone), user_id, group_id), [0])
        row[0] += 1
    return rows


def delta(before: dict[tuple, list[int]], after: dict[tuple, list[int]]) -> dict[tuple, list]:
    """What replacing `before` by `after` adds to each row (unchanged rows left out)."""
    changes = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        width = len(old or new)
        change = [b - a for a, b in zip(old or [0] * width, new or [0] * width, strict=True)]
        if any(change):
            changes[key] = change
    return changes


def insert_spells() -> str:
    """INSERT every ended spell's day rows (%(tenant)s, %(zone)s)."""
    return f"""
        INSERT INTO {SPELL_TABLE} ({", ".join(SPELL_KEYS)}, {", ".join(SPELL_COUNTS)})
        SELECT %(tenant)s, (s.ended_at AT TIME ZONE %(zone)s)::date AS day, s.kind, s.value,
               nullif(g.value, '')::bigint AS group_id,
               {duration_bucket_sql("s.seconds")} AS bucket, count(*), sum(s.seconds)
        FROM {TicketSpell._meta.db_table} s
        LEFT JOIN {TicketSpell._meta.db_table} g
            ON g.tenant_id = s.tenant_id AND g.ticket_id = s.ticket_id
               AND g.kind = 'group' AND g.ended_at IS NULL
        WHERE s.tenant_id = %(tenant)s AND s.ended_at IS NOT NULL
        GROUP BY 2, 3, 4, 5, 6 ORDER BY 2"""


def insert_replies() -> str:
    """INSERT every reply's day rows (%(tenant)s, %(zone)s)."""
    return f"""
        INSERT INTO {REPLY_TABLE} ({", ".join(REPLY_KEYS)}, {", ".join(REPLY_COUNTS)})
        SELECT %(tenant)s, (r.created_at AT TIME ZONE %(zone)s)::date AS day, r.user_id,
               r.group_id, count(*)
        FROM {ReplyFact._meta.db_table} r
        WHERE r.tenant_id = %(tenant)s
        GROUP BY 2, 3, 4 ORDER BY 2"""
