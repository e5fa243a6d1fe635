"""The report pages' daily rollups (`DailySpell`, `DailyReply`): what a
ticket's spells and replies add to them in Python (the handler), and the
SQL that counts them from all the page facts (the rebuild). The property
test holds the two together, as `reports.rollup` and `reports.facts` are
for the dashboard.

A spell counts on the day it ended, a reply on the day it was sent (the
help desk's time zone), under the ticket's key (`TicketPageKey`: its
group, channel, category and agent); a reply under the channel and
category only, with its sender and the group the ticket was in then."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..facts import duration_bucket, duration_bucket_sql
from .models import DailyReply, DailySpell, ReplyFact, TicketPageKey, TicketSpell

SPELL_TABLE = DailySpell._meta.db_table
REPLY_TABLE = DailyReply._meta.db_table
KEY_TABLE = TicketPageKey._meta.db_table
SPELL_KEYS = (
    "tenant_id", "day", "kind", "value", "group_id", "channel", "category_id", "assignee_id",
    "bucket",
)  # fmt: skip
SPELL_COUNTS = ("spells", "seconds")
REPLY_KEYS = ("tenant_id", "day", "user_id", "group_id", "channel", "category_id")
REPLY_COUNTS = ("replies",)
# A ticket's key: (group_id, channel, category_id, assignee_id).
KEY_COLUMNS = ("group_id", "channel", "category_id", "assignee_id")
Key = tuple[int | None, str, int | None, int | None]

# What the rollups read of a spell and of a reply (old rows are read back
# in this shape from the DELETE that replaces them).
SPELL_COLUMNS = ("kind", "value", "ended_at", "seconds")
REPLY_COLUMNS = ("user_id", "group_id", "created_at")


def _day(moment: datetime, zone: ZoneInfo):
    return moment.astimezone(zone).date()


def _spell_fields(spell) -> tuple:
    if isinstance(spell, tuple):
        return spell
    return tuple(getattr(spell, name) for name in SPELL_COLUMNS)


def _reply_fields(reply) -> tuple:
    if isinstance(reply, tuple):
        return reply
    return tuple(getattr(reply, name) for name in REPLY_COLUMNS)


def spell_contributions(spells, key: Key | None, zone: ZoneInfo) -> dict[tuple, list[int]]:
    """{(day, kind, value, group_id, channel, category_id, assignee_id,
    bucket): [spells, seconds]} of one ticket's spells (`Spell`s or rows in `SPELL_COLUMNS`'
    order) under the ticket's `key`."""
    rows: dict[tuple, list[int]] = {}
    if key is None:
        return rows
    for spell in spells:
        kind, value, ended_at, seconds = _spell_fields(spell)
        if ended_at is None:
            continue
        row = rows.setdefault(
            (_day(ended_at, zone), kind, value, *key, duration_bucket(seconds)), [0, 0]
        )
        row[0] += 1
        row[1] += seconds
    return rows


def reply_contributions(replies, key: Key | None, zone: ZoneInfo) -> dict[tuple, list[int]]:
    """{(day, user_id, group_id, channel, category_id): [replies]} of one
    ticket's replies (the group theirs, the channel and category the key's)."""
    rows: dict[tuple, list[int]] = {}
    if key is None:
        return rows
    for reply in replies:
        user_id, group_id, created_at = _reply_fields(reply)
        channel, category_id = key[1], key[2]
        row = rows.setdefault(
            (_day(created_at, zone), user_id, group_id, channel, category_id), [0]
        )
        row[0] += 1
    return rows


def insert_spells() -> str:
    """INSERT every ended spell's day rows (%(tenant)s, %(zone)s)."""
    return f"""
        INSERT INTO {SPELL_TABLE} ({", ".join(SPELL_KEYS)}, {", ".join(SPELL_COUNTS)})
        SELECT %(tenant)s, (s.ended_at AT TIME ZONE %(zone)s)::date AS day, s.kind, s.value,
               k.group_id, k.channel, k.category_id, k.assignee_id,
               {duration_bucket_sql("s.seconds")} AS bucket, count(*), sum(s.seconds)
        FROM {TicketSpell._meta.db_table} s
        JOIN {KEY_TABLE} k ON k.tenant_id = s.tenant_id AND k.ticket_id = s.ticket_id
        WHERE s.tenant_id = %(tenant)s AND s.ended_at IS NOT NULL
        GROUP BY 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 2"""


def insert_replies() -> str:
    """INSERT every reply's day rows (%(tenant)s, %(zone)s)."""
    return f"""
        INSERT INTO {REPLY_TABLE} ({", ".join(REPLY_KEYS)}, {", ".join(REPLY_COUNTS)})
        SELECT %(tenant)s, (r.created_at AT TIME ZONE %(zone)s)::date AS day, r.user_id,
               r.group_id, k.channel, k.category_id, count(*)
        FROM {ReplyFact._meta.db_table} r
        JOIN {KEY_TABLE} k ON k.tenant_id = r.tenant_id AND k.ticket_id = r.ticket_id
        WHERE r.tenant_id = %(tenant)s
        GROUP BY 2, 3, 4, 5, 6 ORDER BY 2"""


def insert_keys() -> str:
    """INSERT every ticket's key as it is now (%(tenant)s)."""
    return f"""
        INSERT INTO {KEY_TABLE} (tenant_id, ticket_id, {", ".join(KEY_COLUMNS)})
        SELECT t.tenant_id, t.id, {", ".join(f"t.{c}" for c in KEY_COLUMNS)}
        FROM tickets_ticket t WHERE t.tenant_id = %(tenant)s"""
