from django import template
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def age(value) -> str:
    """How long ago, in its largest unit only: "3 days", not "3 days, 4 hours"."""
    if not value:
        return ""
    return timesince(value, depth=1)
