"""Filters of the report pages (reports.pages)."""

from django import template

register = template.Library()


@register.filter
def signed(number) -> str:
    """A change with its sign: "+3", "−2" (a true minus), "0"."""
    if number is None:
        return "–"
    if number > 0:
        return f"+{number}"
    if number < 0:
        return f"−{abs(number)}"
    return "0"


@register.filter
def hours(seconds) -> str:
    """A total of seconds in hours, as a manager adds up time: "12.5 h"."""
    if not seconds:
        return "0 h"
    value = seconds / 3600
    return f"{value:.1f} h" if value < 100 else f"{round(value)} h"


@register.simple_tag
def report_page_list():
    """The report pages as (url name, label), for the sub-navigation."""
    from reports.pages.views import PAGES

    return PAGES
