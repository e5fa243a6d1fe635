"""In a real browser, which fixes up addresses as it parses them (tabs and
newlines dropped, "\\" read as "/"), a ticket holding a tracking mail
makes no request to another site until the agent clicks "Show images"."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.tickets.test_remote_images import DROPPED, HELD, OTHER_CARRIERS
from tickets import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A 1x1 transparent GIF, answered for the tracker so no request leaves the machine.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)


def test_no_request_leaves_the_site_until_the_agent_asks(page, log_in, live_server, tenant, agent):
    images = "".join(
        f'<p>Image {number}</p><img alt="pixel {number}" src="{source}">'
        for number, source in enumerate(HELD + DROPPED)
    )
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Your weekly newsletter",
            body="Newsletter",
            requester_email="news@shop.example",
            body_html=f"<p>Newsletter</p>{images}{OTHER_CARRIERS}",
        )
    ours = urlsplit(live_server.url).netloc
    log_in(agent)

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def answer(route):
        # Our own pages go through; anything else gets a local pixel.
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            route.fulfill(status=200, content_type="image/gif", body=PIXEL)

    page.route("**/*", answer)
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Images from other sites are hidden")).to_be_visible()

    elsewhere = [url for url in requested if urlsplit(url).netloc != ours]
    assert elsewhere == []
    assert [url for url in requested if "tracker" in url.lower()] == []
    assert any(urlsplit(url).path.endswith("/app.js") for url in requested)  # we do see requests

    before = len(requested)
    page.get_by_role("button", name="Show images").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("button", name="Show images")).to_have_count(0)
    after = [urlsplit(url) for url in requested[before:]]
    # Held web images load now, however they were spelled...
    tracker = {url.path for url in after if url.hostname == "tracker.example"}
    assert {"/p.gif", "/d.gif", "/y.gif"} <= tracker
    assert page.locator(".msg-body img[src]").count() >= len(HELD)
    # ...and only as web addresses: nothing else the mail named is fetched.
    assert {url.scheme for url in after} <= {"http", "https"}
    assert not any(
        url.path.endswith(("/a.gif", "/c.gif", "/e.gif", ".css", ".mp4")) for url in after
    )
