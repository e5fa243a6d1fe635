"""What every report page's reads share: the filters, the tables' names
and a cursor helper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from sla.models import TicketTarget
from tickets.models import Rating

from ...models import DailyDuration, DailyVolume, HourlyVolume
from ..models import DailyReply, DailySpell, LoadSnapshot, ReplyFact, TicketSpell, TicketTagFact

FACTS = "reports_ticketfact"
VOLUMES = DailyVolume._meta.db_table
DURATIONS = DailyDuration._meta.db_table
HOURS = HourlyVolume._meta.db_table
DAILY_SPELLS = DailySpell._meta.db_table
DAILY_REPLIES = DailyReply._meta.db_table
SPELLS = TicketSpell._meta.db_table
REPLIES = ReplyFact._meta.db_table
TAGS = TicketTagFact._meta.db_table
SNAPSHOTS = LoadSnapshot._meta.db_table
TARGETS = TicketTarget._meta.db_table
RATINGS = Rating._meta.db_table
# The filters' columns, as the facts and the rollups name them.
FILTER_COLUMNS = ("group_id", "assignee_id", "channel", "category_id")
# The columns the hourly rollup is kept by (not the agent).
HOUR_FILTERS = ("group_id", "channel", "category_id")
# A ticket that changed groups more than this many times bounced.
BOUNCES = 2


@dataclass(frozen=True)
class Filters:
    """What a report page is narrowed to (None is "any"): a period, and the
    tickets' group, assignee, channel and category as they are now."""

    start: datetime
    end: datetime
    group_id: int | None = None
    assignee_id: int | None = None
    channel: str | None = None
    category_id: int | None = None

    @property
    def days(self) -> tuple[date, date]:
        """The period's first and last day in the help desk's time zone (the
        daily rollups' days: a period starts at the beginning of a day)."""
        zone = timezone.get_current_timezone()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return self.start.astimezone(zone).date(), last

    @property
    def previous_days(self) -> tuple[date, date]:
        """The first and last day of as many days just before the period."""
        first, last = self.days
        return first - timedelta(days=(last - first).days + 1), first - timedelta(days=1)

    @property
    def previous_start(self) -> datetime:
        """The start of the period before: as many days before the start (the
        same time of day in the help desk's zone, whatever the clocks did)."""
        zone = timezone.get_current_timezone()
        local = self.start.astimezone(zone)
        day = self.previous_days[0]
        return datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone)

    @property
    def narrowed_by(self) -> set[str]:
        """The filters set (of group, assignee, channel, category)."""
        return {name for name in FILTER_COLUMNS if getattr(self, name) is not None}

    def on_days(
        self, alias: str, *, kept_by: tuple[str, ...] = (), previous: bool = False
    ) -> tuple[str, dict]:
        """Conditions on a daily rollup's alias (tenant first, then its days:
        from the period before too when `previous`; then the filters set
        among the columns it is `kept_by`) and their parameters."""
        first, last = self.days
        params = {
            "tenant": current_tenant().pk,
            "first": self.previous_days[0] if previous else first,
            "period_first": first,
            "last": last,
        }
        where = f"{alias}.tenant_id = %(tenant)s AND {alias}.day >= %(first)s"
        where += f" AND {alias}.day <= %(last)s"
        for name in kept_by:
            if getattr(self, name) is not None:
                where += f" AND {alias}.{name} = %({name})s"
                params[name] = getattr(self, name)
        return where, params

    @property
    def narrowed(self) -> bool:
        return bool(self.narrowed_by)

    def on_facts(self, alias: str = "f") -> tuple[str, dict]:
        """Conditions on a `TicketFact` alias (tenant first) and their parameters."""
        parts = [f"{alias}.tenant_id = %(tenant)s"]
        params: dict = {"tenant": current_tenant().pk, "start": self.start, "end": self.end}
        for name in FILTER_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{alias}.{name} = %({name})s")
                params[name] = value
        return " AND ".join(parts), params


def _all(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _facts_join(filters: Filters, alias: str) -> tuple[str, str, dict]:
    """A join to the tickets' facts when the filters need one (the filters
    are the tickets' current fields), its conditions and parameters."""
    where, params = filters.on_facts("f")
    if not filters.narrowed:
        return "", "TRUE", params
    join = f"JOIN {FACTS} f ON f.tenant_id = {alias}.tenant_id AND f.ticket_id = {alias}.ticket_id"
    return join, where, params


def _share(part, whole) -> float | None:
    return part / whole if whole else None
