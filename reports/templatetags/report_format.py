from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as a person reads a wait: "45 min", "3 h 20 min", "2 d 4 h"."""
    if seconds is None:
        return "–"
    if float(seconds) < 60:
        return "<1 min"
    minutes = round(float(seconds) / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def percent(share) -> str:
    """A share (0..1) as a whole percentage; "–" when there is nothing to share."""
    if share is None:
        return "–"
    return f"{round(share * 100)}%"
