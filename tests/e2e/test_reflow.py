"""Reflow (WCAG 1.4.10): at 200% zoom on a 1280 px screen (640 CSS px) and
on a 320 px phone the queue, the ticket page and the board scroll one way
only, and show everything they show on a desktop. Screenshots of each go to
$HELPDESK_SHOTS (or the temp folder)/shots/a11y/ for people to look at."""

import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tests.test_query_budget import _no_hand_over

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("HELPDESK_SHOTS", tempfile.gettempdir())) / "shots" / "a11y"
# 1280 px at 200% is 640 CSS px wide; a 320 px phone at 1x.
SIZES = {
    "zoom200": {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2},
    "w320": {"viewport": {"width": 320, "height": 640}, "device_scale_factor": 1},
}
LONG_WORD = "Unbroken" + "x" * 150


@pytest.fixture
def narrow(browser, request):
    context = browser.new_context(**SIZES[request.param])
    page = context.new_page()
    page.size_name = request.param
    yield page
    context.close()


def sideways_overflow(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("narrow", list(SIZES), indirect=True)
def test_queue_ticket_and_board_reflow_without_losing_anything(narrow, live_server, tenant, agent):
    page = narrow
    with _no_hand_over(), tenant_context(tenant):
        requester = ContactFactory(name="Pat Requester")
        ticket = TicketFactory(subject=LONG_WORD, requester=requester, assignee=agent, tags=["vpn"])
        TicketFactory(subject="Printer on fire", requester=requester, assignee=agent, priority=4)
    from tickets import services

    with tenant_context(tenant):
        services.saved_view_create(owner=agent, name="Urgent", queue="mine", query="priority=4")

    from tests.e2e.test_accessibility import sign_in

    sign_in(page, live_server, agent)
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")
    row = page.locator(f"#row-{ticket.number}")
    # Each cell that lost its column header says what it is.
    expect(row.locator("td.requester")).to_have_text("Pat Requester")
    for cell, label in (
        ("requester", "Requester"),
        ("assignee", "Assignee"),
        ("updated", "Updated"),
    ):
        expect(row.locator(f"td.{cell}")).to_be_visible()
        before = row.locator(f"td.{cell}").evaluate(
            "cell => getComputedStyle(cell, '::before').content"
        )
        assert before == f'"{label}: "', (cell, before)
    expect(page.get_by_role("link", name="Urgent")).to_be_visible()
    # The top bar, once its availability switch and bell have loaded, keeps
    # every control on the screen: it wraps rather than running off the edge.
    expect(page.get_by_role("group", name="Your availability")).to_be_visible()
    expect(page.locator("#bell .bell-icon")).to_be_visible()
    width = page.viewport_size["width"]
    for control in (
        page.get_by_role("button", name="Offline"),
        page.get_by_role("link", name="Notifications"),
        page.get_by_role("button", name="Keyboard shortcuts"),
        page.get_by_role("button", name="Log out"),
    ):
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (control, box)
    page.screenshot(path=SHOTS / f"queue-{page.size_name}.png", full_page=True)
    assert sideways_overflow(page) <= 0, "the queue scrolls sideways"

    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    page.screenshot(path=SHOTS / f"ticket-{page.size_name}.png", full_page=True)
    assert sideways_overflow(page) <= 0, "the ticket page scrolls sideways"

    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    expect(page.locator(f"#card-move-{ticket.number}")).to_be_visible()
    page.screenshot(path=SHOTS / f"board-{page.size_name}.png", full_page=True)
    assert sideways_overflow(page) <= 0, "the board scrolls sideways"
