"""The workspace as agents use it together: the kanban and live queues."""

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, TicketFactory
from tickets import services
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _column(page, label):
    return page.get_by_role("region", name=label)


def test_dragging_a_card_changes_its_status_for_good(page, log_in, live_server, tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Drag me to pending")
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    card = _column(page, "New").locator(".card-ticket").filter(has_text="Drag me to pending")
    card.drag_to(_column(page, "Pending").locator(".cards"))
    moved = _column(page, "Pending").locator(".card-ticket").filter(has_text="Drag me to pending")
    expect(moved).to_have_attribute("data-version", str(ticket.version + 1))

    page.reload()
    expect(
        _column(page, "Pending").locator(".card-ticket").filter(has_text="Drag me to pending")
    ).to_be_visible()
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING


def test_a_refused_move_snaps_back_with_the_reason(page, log_in, live_server, tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Already solved")
        services.ticket_change_status(
            ticket=ticket, actor=agent, status="resolved", expected_version=None
        )
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    card = _column(page, "Resolved").locator(".card-ticket").filter(has_text="Already solved")
    card.drag_to(_column(page, "On hold").locator(".cards"))
    expect(page.locator("#board-message")).to_have_text("A resolved ticket cannot become on hold.")
    expect(
        _column(page, "Resolved").locator(".card-ticket").filter(has_text="Already solved")
    ).to_be_visible()


def test_a_ticket_logged_elsewhere_appears_in_the_open_queue(
    page, log_in, browser, live_server, tenant, agent, dispatcher, settings
):
    settings.QUEUE_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        TicketFactory(subject="Already waiting")
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/unassigned/")
    expect(page.get_by_role("row").filter(has_text="Already waiting")).to_be_visible()
    # The agent ticks a row; a refresh must not lose it.
    page.get_by_role("row").filter(has_text="Already waiting").get_by_role("checkbox").check()

    # A colleague logs a phone call in another browser.
    other = browser.new_context()
    colleague = other.new_page()
    colleague.goto(f"{live_server.url}/accounts/login/")
    colleague.get_by_label("Username").fill(dispatcher.username)
    colleague.get_by_label("Password").fill(PASSWORD)
    colleague.get_by_role("button", name="Log in", exact=True).click()
    colleague.goto(f"{live_server.url}/{tenant.slug}/tickets/new/")
    colleague.get_by_label("Customer email").fill("caller@example.com")
    colleague.get_by_label("Subject").fill("Phone: VPN is down")
    colleague.get_by_label("Description").fill("Whole office cannot connect.")
    colleague.get_by_role("button", name="Create ticket").click()
    expect(colleague.get_by_role("heading", name="Phone: VPN is down")).to_be_visible()
    other.close()

    fresh = page.get_by_role("row").filter(has_text="Phone: VPN is down")
    expect(fresh).to_be_visible(timeout=10_000)
    expect(fresh).to_have_class("is-new")
    expect(
        page.get_by_role("row").filter(has_text="Already waiting").get_by_role("checkbox")
    ).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")


def test_keyboard_moves_through_a_queue_and_opens_a_ticket(
    page, log_in, live_server, tenant, agent
):
    with tenant_context(tenant):
        TicketFactory(subject="First in line", priority=4)
        second = TicketFactory(subject="Second in line", priority=3)
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/unassigned/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("tr.is-focused")).to_contain_text("Second in line")
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        f"{live_server.url}/{tenant.slug}/tickets/{second.number}/?from=unassigned"
    )
    page.keyboard.press("r")
    expect(page.get_by_label("Message")).to_be_focused()


def test_question_mark_lists_the_shortcuts_and_escape_closes_them(
    page, log_in, live_server, tenant, agent
):
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next / previous ticket of the queue you came from")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Typing "?" into a field types it; it does not open the list.
    page.get_by_label("Search tickets").fill("")
    page.get_by_label("Search tickets").type("why?")
    expect(dialog).to_be_hidden()
