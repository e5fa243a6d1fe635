import html
import re
from urllib.parse import unquote

import nh3
from django import template
from django.urls import reverse
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe
from selectolax.lexbor import LexborHTMLParser

from ..quoting import QUOTE_MARKER_CLASSES, QUOTE_MARKER_VALUES, split_quoted, split_quoted_html
from ..services.tickets import sanitize_html

register = template.Library()

_CID_SOURCE = re.compile(r'src="cid:([^"]*)"')
REMOTE_IMAGES_HELD = (
    '<p class="callout-warning remote-images">Images from other sites are hidden: '
    "loading them can tell the sender that you opened this mail. "
    '<button type="button" class="link" data-load-remote-images>Show images</button></p>'
)
QUOTE_OPEN = '<details class="quoted"><summary>Show quoted text</summary>'
QUOTE_CLOSE = "</details>"

# What the page may carry: what was stored (sanitize_html) plus the held
# image source. Checked once more on the way out, whatever happened between.
_SHOWN_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
_SHOWN_ATTRIBUTES["img"] = _SHOWN_ATTRIBUTES["img"] | {"data-remote-src"}
# A URL's scheme as a browser reads it: after dropping tabs and newlines
# anywhere and C0 controls and spaces around it (WHATWG URL parsing).
_URL_NOISE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


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


def _inline_images_listed(message, images: dict[str, tuple]) -> str:
    """The images the HTML shows in place, for the folded text view, which
    has no place for them."""
    shown = {html.unescape(cid) for cid in _CID_SOURCE.findall(message.body_html)}
    listed = [
        f'<img src="{escape(url)}" alt="{escape(name)}">'
        for cid, (url, name) in images.items()
        if cid in shown
    ]
    return f'<p class="inline-images">{"".join(listed)}</p>' if listed else ""


def _may_load_when_asked(source: str) -> bool:
    """A held source worth a "Show images" click: a web address, or one
    relative to this page, which the browser makes a web address."""
    source = _URL_NOISE.sub("", source).strip(_C0_AND_SPACE)
    scheme = _SCHEME.match(source)
    return scheme is None or scheme.group(1).lower() in ("http", "https")


def _shown(body_html: str, images: dict[str, tuple]) -> tuple[str, int]:
    """Stored HTML as the page shows it, and how many images wait for a click.

    An image keeps its `src` only when this function wrote it: the stored
    part of the same mail that a `cid:` source names. Every other source,
    however spelled (a tracking pixel behind "/&#9;/host", "\\\\host",
    "HTTPS:", ...), is moved to `data-remote-src`, which app.js loads only
    when the agent asks. nh3 then cleans the result once more and drops
    any `src` that is not ours, so nothing between can let one through.
    """
    tree = LexborHTMLParser(body_html)
    ours: set[str] = set()
    held = 0
    for image in tree.css("img"):
        source = image.attrs.get("src")
        if source is None:
            continue
        url = ""
        if source[:4].lower() == "cid:":
            url, _ = images.get(source[4:]) or images.get(unquote(source[4:])) or ("", "")
        if url:
            image.attrs["src"] = url
            ours.add(url)
            continue
        del image.attrs["src"]
        if source[:4].lower() != "cid:" and _may_load_when_asked(source):
            image.attrs["data-remote-src"] = source
            held += 1

    def attribute_allowed(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return value if value in ours else None
        if tag == "img" and attribute == "data-remote-src":
            return value if _may_load_when_asked(value) else None
        if attribute == "class":  # no empty class="" where a client's class was dropped
            kept = [name for name in value.split() if name in QUOTE_MARKER_CLASSES.get(tag, ())]
            return " ".join(kept) or None
        return value

    shown = nh3.clean(
        tree.body.inner_html if tree.body is not None else "",
        attributes=_SHOWN_ATTRIBUTES,
        attribute_filter=attribute_allowed,
        link_rel="noopener noreferrer nofollow",
        allowed_classes=QUOTE_MARKER_CLASSES,
        tag_attribute_values=QUOTE_MARKER_VALUES,
    )
    return shown, held


def _written_as_text(message) -> bool:
    """The message has no HTML of its own: its HTML is its text, as stored
    by services.tickets for plain-text mail, replies and notes."""
    return message.body_html == sanitize_html(linebreaks(escape(message.body_text)))


def _folded_text(own: str, quoted: str, images_listed: str) -> str:
    return (
        linebreaks(escape(own))
        + images_listed
        + QUOTE_OPEN
        + linebreaks(escape(quoted))
        + QUOTE_CLOSE
    )


@register.simple_tag(takes_context=True)
def message_body(context, message, ticket) -> str:
    """The message as HTML, with quoted earlier mail folded into a <details>,
    images sent inside the mail shown in place and images from other sites
    held back until asked for."""
    images = _inline_image_urls(message, context["tenant"].slug, ticket.number)
    if _written_as_text(message):
        own, quoted = split_quoted(message.body_text)
        if quoted:
            return mark_safe(_folded_text(own, quoted, ""))  # noqa: S308 - escaped here
        own_html, quoted_html = message.body_html, ""
    else:
        own_html, quoted_html = split_quoted_html(message.body_html)
        if not quoted_html:
            # Quoted in a shape only the text version shows: fold that, and
            # list the images the HTML showed in place.
            own, quoted = split_quoted(message.body_text)
            if quoted:
                listed = _inline_images_listed(message, images)
                return mark_safe(_folded_text(own, quoted, listed))  # noqa: S308 - escaped here
    own_html, held = _shown(own_html, images)
    if quoted_html:
        quoted_html, held_in_quote = _shown(quoted_html, images)
        held += held_in_quote
        own_html += QUOTE_OPEN + quoted_html + QUOTE_CLOSE
    # Both parts went through nh3 in _shown; the rest is our own markup.
    return mark_safe((REMOTE_IMAGES_HELD if held else "") + own_html)  # noqa: S308
