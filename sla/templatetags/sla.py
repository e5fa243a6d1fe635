"""Countdowns and durations in words, as static/js/countdown.js writes them."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime

register = template.Library()


def duration_words(seconds: int) -> str:
    """1h 12m, 3d 4h, 25m, 40s: the two largest units."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@register.filter
def sla_duration(seconds) -> str:
    return duration_words(seconds or 0)


@register.filter
def sla_countdown(due: datetime | None) -> str:
    """ "due in 1h 12m" or "breached 25m ago", as of now."""
    if due is None:
        return ""
    left = (due - timezone.now()).total_seconds()
    if left >= 0:
        return f"due in {duration_words(left)}"
    return f"breached {duration_words(-left)} ago"


@register.filter
def sla_iso(value) -> datetime | None:
    """A time an event stored as ISO text, as a datetime the `date` filter
    shows in the viewer's time zone (raw text would read in UTC)."""
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if value else None


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@register.filter
def sla_hours(calendar) -> str:
    """Mon 09:00-12:00, 13:00-17:00; Tue ..."""
    parts = []
    for day in range(7):
        pairs = calendar.hours.get(str(day)) or []
        if pairs:
            parts.append(f"{_DAYS[day]} " + ", ".join(f"{a}-{b}" for a, b in pairs))
    return "; ".join(parts) or "never open"


@register.filter
def sla_conditions(policy) -> str:
    """What a policy matches, in words."""
    from tickets.models import Ticket

    said = []
    if policy.priorities:
        said.append(
            "priority " + " or ".join(Ticket.Priority(p).label.lower() for p in policy.priorities)
        )
    if policy.channels:
        said.append("channel " + " or ".join(policy.channels))
    if policy.types:
        said.append("type " + " or ".join(policy.types))
    if policy.tags:
        said.append("tagged " + " or ".join(policy.tags))
    for name, ids in (
        ("organisation", policy.organization_ids),
        ("category", policy.category_ids),
        ("group", policy.group_ids),
    ):
        if ids:
            said.append(f"{name} ({len(ids)} chosen)")
    return "; ".join(said) or "every ticket"
