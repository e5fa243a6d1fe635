"""What every report page's reads share: the filters, the tables' names
and a cursor helper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from helpdesk.tenancy import current_tenant
from sla.models import TicketTarget
from tickets.models import Rating

from ..models import LoadSnapshot, ReplyFact, TicketSpell, TicketTagFact

FACTS = "reports_ticketfact"
SPELLS = TicketSpell._meta.db_table
REPLIES = ReplyFact._meta.db_table
TAGS = TicketTagFact._meta.db_table
SNAPSHOTS = LoadSnapshot._meta.db_table
TARGETS = TicketTarget._meta.db_table
RATINGS = Rating._meta.db_table
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
    def previous_start(self) -> datetime:
        """The start of the period of the same length just before this one."""
        return self.start - (self.end - self.start)

    @property
    def narrowed(self) -> bool:
        return any(
            v is not None for v in (self.group_id, self.assignee_id, self.channel, self.category_id)
        )

    def on_facts(self, alias: str = "f") -> tuple[str, dict]:
        """Conditions on a `TicketFact` alias (tenant first) and their parameters."""
        parts = [f"{alias}.tenant_id = %(tenant)s"]
        params: dict = {"tenant": current_tenant().pk, "start": self.start, "end": self.end}
        for name in ("group_id", "assignee_id", "channel", "category_id"):
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
