"""Images from other sites stay held on the ticket page, however the mail
spells their address: only the attachment URLs the page itself wrote for
`cid:` images load when the ticket opens."""

import pytest
from django.urls import reverse
from selectolax.lexbor import LexborHTMLParser

from helpdesk.tenancy import tenant_context
from tickets import services
from tickets.models import Attachment

# Each as it stands in the mail's HTML source; every one is an address a
# browser would fetch (or refuse) from somewhere that is not our page.
HELD = [
    "https://tracker.example/p.gif",
    "http://tracker.example/p.gif",
    "HTTPS://TRACKER.EXAMPLE/p.gif",
    "HtTp://tracker.example/p.gif",
    "//tracker.example/p.gif",
    "/&#9;/tracker.example/p.gif",
    "/&#10;/tracker.example/p.gif",
    "/&#13;/tracker.example/p.gif",
    "/&#x09;/tracker.example/p.gif",
    "/&Tab;/tracker.example/p.gif",
    "/&NewLine;/tracker.example/p.gif",
    "/\t/tracker.example/p.gif",
    "/\n/tracker.example/p.gif",
    "&#9;//tracker.example/p.gif",
    "\\\\tracker.example/p.gif",
    "/\\tracker.example/p.gif",
    "\\/tracker.example/p.gif",
    " https://tracker.example/p.gif",
    "&#1;https://tracker.example/p.gif",
    "ht&#9;tps://tracker.example/p.gif",
    "https:&#10;//tracker.example/p.gif",
    "http:tracker.example/p.gif",
    "https:/\\tracker.example/p.gif",
    "&#x68;ttps://tracker.example/p.gif",
    "&#104;ttps&#58;//tracker.example/p.gif",
    "/acme/tickets/1/attachments/1/?next=//tracker.example/p.gif",
]
# Not web addresses: never loaded, not even when asked.
DROPPED = [
    "javascript:fetch('//tracker.example/p.gif')",
    "java&#9;script:fetch('//tracker.example/p.gif')",
    "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'><image href='https://tracker.example/p.gif'/></svg>",
    "DATA:image/gif;base64,R0lGODlhAQABAAAAACw=",
    "cid:not-in-this-mail@tracker.example",
    "ftp://tracker.example/p.gif",
]
# Every other way HTML can make a browser fetch something on its own.
OTHER_CARRIERS = """
<img srcset="https://tracker.example/a.gif 1x, //tracker.example/b.gif 2x" alt="srcset">
<picture><source srcset="https://tracker.example/c.gif"><img src="/&#9;/tracker.example/d.gif" alt="picture"></picture>
<table background="https://tracker.example/e.gif"><tr><td background="//tracker.example/f.gif">cell</td></tr></table>
<div style="background-image:url(https://tracker.example/g.gif)">styled</div>
<p style="background:u&#114;l('//tracker.example/h.gif')">styled again</p>
<style>@import url(https://tracker.example/i.css); p { background: url(//tracker.example/j.gif) }</style>
<svg><image href="https://tracker.example/k.gif"></image><use href="https://tracker.example/l.svg#x"></use></svg>
<video poster="https://tracker.example/m.gif" src="https://tracker.example/n.mp4"></video>
<audio src="https://tracker.example/o.mp3"></audio>
<input type="image" src="https://tracker.example/p.gif">
<link rel="stylesheet" href="https://tracker.example/q.css">
<link rel="prefetch" href="https://tracker.example/r">
<object data="https://tracker.example/s.swf"></object>
<embed src="https://tracker.example/t.swf">
<iframe src="https://tracker.example/u.html"></iframe>
<meta http-equiv="refresh" content="0;url=https://tracker.example/v">
<base href="https://tracker.example/">
<img lowsrc="https://tracker.example/w.gif" dynsrc="https://tracker.example/x.gif" alt="old">
<image src="https://tracker.example/y.gif" alt="image tag">
<body background="https://tracker.example/z.gif">
<a href="https://tracker.example/link" ping="https://tracker.example/ping">a link</a>
"""


def _body(page) -> LexborHTMLParser:
    return LexborHTMLParser(page.content.decode()).css_first(".msg-body")


def _ticket_with(tenant, body_html: str):
    with tenant_context(tenant):
        return services.ticket_create(
            subject="Newsletter reply",
            body="See the picture.",
            requester_email="pat@example.com",
            body_html=body_html,
        )


def _fetching_attributes(body) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of everything on the page that names the
    tracker, other than the held source and a link's target."""
    found = []
    for node in body.css("*"):
        for name, value in node.attributes.items():
            if (name, node.tag) in (("data-remote-src", "img"), ("href", "a")):
                continue
            if value and "tracker" in value.lower():
                found.append((node.tag, name, value))
    return found


@pytest.mark.parametrize("source", HELD)
def test_every_spelling_of_another_site_is_held(tenant, agent, login, source):
    ticket = _ticket_with(tenant, f'<p>See the picture.</p><img alt="pixel" src="{source}">')
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = _body(page)
    image = body.css_first("img[alt=pixel]")
    assert "src" not in image.attributes
    assert "tracker.example/p.gif" in image.attributes["data-remote-src"].lower()
    assert _fetching_attributes(body) == []
    assert "Images from other sites are hidden" in body.text()


@pytest.mark.parametrize("source", DROPPED)
def test_sources_that_are_not_web_addresses_are_dropped(tenant, agent, login, source):
    ticket = _ticket_with(tenant, f'<p>See the picture.</p><img alt="pixel" src="{source}">')
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = _body(page)
    image = body.css_first("img[alt=pixel]")
    assert image.attributes.keys() == {"alt"}
    assert _fetching_attributes(body) == []
    # Nothing waits for "Show images" that it would load.
    assert "Images from other sites are hidden" not in body.text()


def test_no_other_attribute_or_element_fetches_anything(tenant, agent, login):
    ticket = _ticket_with(tenant, OTHER_CARRIERS)
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = _body(page)
    assert _fetching_attributes(body) == []
    assert body.css("picture, source, svg, video, audio, input, link, object, embed, iframe") == []
    assert body.css("meta, base, style, [style], [srcset], [background]") == []
    held = sorted(image.attributes["data-remote-src"] for image in body.css("img[data-remote-src]"))
    assert held == ["/\t/tracker.example/d.gif", "https://tracker.example/y.gif"]
    assert "a link" in body.text()


def test_only_this_mails_own_images_load_at_once(tenant, agent, login):
    with tenant_context(tenant):
        other = _ticket_with(tenant, "<p>Another ticket's image.</p>")
        ticket = _ticket_with(
            tenant,
            '<p>Ours:</p><img alt="ours" src="cid:shot@customer.example">'
            '<img alt="upper" src="CID:shot@customer.example">'
            '<img alt="elsewhere" src="cid:other@customer.example">',
        )
        Attachment.objects.create(
            tenant=tenant,
            message=ticket.messages.get(),
            storage_key="a" * 32,
            filename="shot.png",
            content_type="image/png",
            size=1,
            content_id="shot@customer.example",
        )
        Attachment.objects.create(
            tenant=tenant,
            message=other.messages.get(),
            storage_key="b" * 32,
            filename="other.png",
            content_type="image/png",
            size=1,
            content_id="other@customer.example",
        )
        ours = ticket.messages.get().attachments.get()
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = _body(page)
    url = reverse("tickets:attachment", args=[tenant.slug, ticket.number, ours.pk])
    assert body.css_first("img[alt=ours]").attributes["src"] == url
    assert body.css_first("img[alt=upper]").attributes["src"] == url
    # Another message's part is not this mail's to show.
    assert body.css_first("img[alt=elsewhere]").attributes.keys() == {"alt"}
    assert "Images from other sites are hidden" not in body.text()


def test_held_images_inside_the_folded_quote_are_held_too(tenant, agent, login):
    ticket = _ticket_with(
        tenant,
        "<div>Thanks!</div><div>On Mon, 23 Nov 2026 at 09:00, Shop &lt;news@shop.example&gt; wrote:</div>"
        '<blockquote><img alt="pixel" src="/&#10;/tracker.example/p.gif">Old news</blockquote>',
    )
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = _body(page)
    image = body.css_first("details.quoted img[alt=pixel]")
    assert "src" not in image.attributes
    assert image.attributes["data-remote-src"] == "/\n/tracker.example/p.gif"
    assert "Images from other sites are hidden" in body.text()
