from django import template
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe

from ..quoting import split_quoted

register = template.Library()


@register.filter
def message_body(message) -> str:
    """The message as HTML, with quoted earlier mail folded into a <details>."""
    own, quoted = split_quoted(message.body_text)
    if not quoted:
        return mark_safe(message.body_html)  # noqa: S308 - sanitised with nh3 when stored
    return mark_safe(  # noqa: S308 - every part is escaped here
        linebreaks(escape(own))
        + '<details class="quoted"><summary>Show quoted text</summary>'
        + linebreaks(escape(quoted))
        + "</details>"
    )
