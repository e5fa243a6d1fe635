"""No-activity reminders: a policy may ask to remind a ticket's assignee
after N hours in which nothing happened to the ticket.

Each open ticket under such a policy has one `Reminder` row, kept by the
recompute (both paths decide with `reminder_values`) and acted on by the SLA
sweep when its `remind_at` comes. Activity is the ticket's `updated_at`
(every message and every agent's or system's change of a field moves it;
a deadline does not). The sweep looks at the ticket again before it acts:
activity since the row was written starts a new cycle instead. A cycle's
reminder is sent once, by whoever inserts its `Alert` row. While the ticket
waits in one of its policy's pausing statuses (pending, on hold), nobody is
reminded: the customer has the next move.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.urls import reverse

from helpdesk.notifications import notification_create
from helpdesk.tenancy import current_tenant
from tickets.models import Ticket

from ..models import Reminder

if TYPE_CHECKING:
    from .timers import LoadedPolicy

CLOSED_STATUSES = (Ticket.Status.RESOLVED.value, Ticket.Status.CLOSED.value)
NO_ACTIVITY = "no_activity"
NOTIFICATION_KIND = "sla_reminder"


def reminder_values(
    ticket: Ticket, chosen: LoadedPolicy | None, row: Reminder | None
) -> dict | None:
    """The ticket's reminder row as it should be, or None for no reminder."""
    hours = chosen.policy.remind_after_hours if chosen is not None else None
    if not hours or ticket.status in CLOSED_STATUSES:
        return None
    after = hours * 3600
    waiting = ticket.status in chosen.policy.pause_statuses
    activity = ticket.updated_at
    if row is None or activity > row.activity_at:
        return {
            "cycle": 1 if row is None else row.cycle + 1,
            "activity_at": activity,
            "after_seconds": after,
            "reminded_at": None,
            "remind_at": None if waiting else activity + timedelta(seconds=after),
        }
    if waiting:
        remind_at = None
    elif row.reminded_at is not None:
        # Reminded this cycle: the sweep looks for new activity N hours on.
        remind_at = row.reminded_at + timedelta(seconds=after)
    else:
        remind_at = row.activity_at + timedelta(seconds=after)
    return {
        "cycle": row.cycle,
        "activity_at": row.activity_at,
        "after_seconds": after,
        "reminded_at": row.reminded_at,
        "remind_at": remind_at,
    }


def reminder_keep(ticket: Ticket, chosen: LoadedPolicy | None) -> datetime | None:
    """Bring one ticket's reminder row up to date (the one-ticket recompute);
    returns its next check."""
    row = Reminder.objects.filter(ticket=ticket).first()
    values = reminder_values(ticket, chosen, row)
    if values is None:
        if row is not None:
            row.delete()
        return None
    if row is None:
        Reminder.objects.create(tenant_id=ticket.tenant_id, ticket=ticket, **values)
    elif any(getattr(row, field) != value for field, value in values.items()):
        for field, value in values.items():
            setattr(row, field, value)
        row.save(update_fields=list(values))
    return values["remind_at"]


def sla_remind(row: Reminder, now: datetime, claim) -> bool:
    """Act on one due reminder (locked by the sweep): remind the assignee
    once per quiet spell. `claim(ticket_id, kind, cycle, level)` inserts the
    alert row and says whether this caller is the one to act."""
    ticket = row.ticket
    after = timedelta(seconds=row.after_seconds)
    if ticket.status in CLOSED_STATUSES:
        row.delete()
        return False
    if ticket.updated_at > row.activity_at:
        # Something happened since: a new quiet spell, counted from then.
        row.cycle += 1
        row.activity_at = ticket.updated_at
        row.reminded_at = None
        row.remind_at = ticket.updated_at + after
        if row.remind_at > now:
            row.save(update_fields=["cycle", "activity_at", "reminded_at", "remind_at"])
            return False
    if not ticket.assignee_id:
        # Nobody to remind; an assignment is activity and starts a new spell.
        row.remind_at = now + after
        row.save(update_fields=["cycle", "activity_at", "reminded_at", "remind_at"])
        return False
    row.reminded_at = now
    row.remind_at = now + after
    row.save(update_fields=["cycle", "activity_at", "reminded_at", "remind_at"])
    if not claim(row.ticket_id, NO_ACTIVITY, row.cycle, "reminder"):
        return False
    hours = row.after_seconds // 3600
    notification_create(
        user_id=ticket.assignee_id,
        text=f"#{ticket.number} {ticket.subject[:120]}: no activity for {hours} h"[:300],
        url=reverse("tickets:detail", args=[current_tenant().slug, ticket.number]),
        source_key=f"sla:{row.ticket_id}:{NO_ACTIVITY}:{row.cycle}",
        kind=NOTIFICATION_KIND,
    )
    return True
