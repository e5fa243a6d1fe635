import html
import re

from django import template
from django.urls import reverse
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe

from ..quoting import split_quoted

register = template.Library()

_CID_SOURCE = re.compile(r'src="cid:([^"]*)"')
# nh3 escapes ">" inside attribute values, so an <img> tag ends at the first ">".
_IMAGE_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SOURCE = re.compile(r'\ssrc="([^"]*)"')
# Our own pages (the attachment view): a path, not "//host" or "/\\host".
_OWN_PATH = re.compile(r"^/[^/\\]")
REMOTE_IMAGES_HELD = (
    '<p class="callout-warning remote-images">Images from other sites are hidden: '
    "loading them can tell the sender that you opened this mail. "
    '<button type="button" class="link" data-load-remote-images>Show images</button></p>'
)


def _inline_image_urls(message, tenant_slug: str, ticket_number: int) -> dict[str, tuple]:
    """Content-ID -> (URL, file name) of the images sent inside the mail."""
    return {
        attachment.content_id: (
            reverse("tickets:attachment", args=[tenant_slug, ticket_number, attachment.pk]),
            attachment.filename,
        )
        for attachment in message.attachments.all()
        if attachment.content_id
    }


def _inline_images(body_html: str, message, tenant_slug: str, ticket_number: int) -> str:
    """Point `cid:` image sources at the stored parts of the same mail."""
    if "cid:" not in body_html:
        return body_html
    urls = _inline_image_urls(message, tenant_slug, ticket_number)

    def source(match: re.Match) -> str:
        url, _ = urls.get(html.unescape(match.group(1)), ("", ""))
        return f'src="{escape(url)}"'

    return _CID_SOURCE.sub(source, body_html)


def _inline_images_listed(message, tenant_slug: str, ticket_number: int) -> str:
    """The images the HTML shows in place, for the folded view, which shows
    the text version and so has no place for them."""
    shown = {html.unescape(cid) for cid in _CID_SOURCE.findall(message.body_html)}
    if not shown:
        return ""
    images = [
        f'<img src="{escape(url)}" alt="{escape(name)}">'
        for cid, (url, name) in _inline_image_urls(message, tenant_slug, ticket_number).items()
        if cid in shown
    ]
    return f'<p class="inline-images">{"".join(images)}</p>' if images else ""


def _remote_images_held(body_html: str) -> str:
    """Images from anywhere but this site wait for a click (app.js): a
    tracking pixel would otherwise report each time an agent opens the
    ticket. Whatever the source says, only our own paths load at once."""
    held = 0

    def hold(tag: re.Match) -> str:
        nonlocal held
        source = _SOURCE.search(tag.group(0))
        if source is None or not source.group(1) or _OWN_PATH.match(source.group(1)):
            return tag.group(0)
        held += 1
        before, after = tag.group(0)[: source.start()], tag.group(0)[source.end() :]
        return f'{before} data-remote-src="{source.group(1)}"{after}'

    body_html = _IMAGE_TAG.sub(hold, body_html)
    return REMOTE_IMAGES_HELD + body_html if held else body_html


@register.simple_tag(takes_context=True)
def message_body(context, message, ticket) -> str:
    """The message as HTML, with quoted earlier mail folded into a <details>,
    images sent inside the mail shown in place and images from other sites
    held back until asked for."""
    own, quoted = split_quoted(message.body_text)
    if not quoted:
        body = _inline_images(message.body_html, message, context["tenant"].slug, ticket.number)
        return mark_safe(_remote_images_held(body))  # noqa: S308 - sanitised with nh3 when stored
    return mark_safe(  # noqa: S308 - every part is escaped here
        linebreaks(escape(own))
        + _inline_images_listed(message, context["tenant"].slug, ticket.number)
        + '<details class="quoted"><summary>Show quoted text</summary>'
        + linebreaks(escape(quoted))
        + "</details>"
    )
