"""Drawing customers' and agents' words in the customer portal."""

import re

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from .ticket_tags import _shown

register = template.Library()

# nh3 writes every attribute double-quoted, with any quote inside escaped.
_HELD_SOURCE = re.compile(r'\sdata-remote-src="[^"]*"')


@register.simple_tag
def portal_message_body(message, base_url: str) -> str:
    """A public message's HTML as the portal shows it: cleaned once more on
    the way out (ticket_tags._shown), images sent inside the mail pointed at
    the link's own file URLs, images from other sites never loaded (the
    portal has no "Show images": their source is dropped, and the page's
    policy allows no other site's images anyway)."""
    images = {
        attachment.content_id: (f"{base_url}files/{attachment.pk}/", attachment.filename)
        for attachment in message.attachments.all()
        if attachment.content_id
    }
    shown, held = _shown(message.body_html, images)
    # The held source waits for a click on the agents' page; here it would
    # only carry the tracker's address into the customer's page source.
    shown = _HELD_SOURCE.sub("", shown)
    note = (
        format_html(
            '<p class="portal-note">{}</p>', gettext("Images from other sites are not shown.")
        )
        if held
        else ""
    )
    return mark_safe(note + shown)  # noqa: S308 - _shown cleaned it with nh3; the note is escaped
