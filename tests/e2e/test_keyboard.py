"""An agent's work from the keyboard alone, with live refreshes happening
meanwhile: focus stays where it was, shortcuts keep out of the way, and a
form sent back with errors says so where the keyboard is."""

import re

import pytest
from playwright.sync_api import expect

from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, TicketFactory
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement.id")


def tab_to(page, element_id: str, backwards: bool = False, most: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the element with this id has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(most):
        if focused_id(page) == element_id:
            return
        page.keyboard.press(key)
    raise AssertionError(f"#{element_id} never took focus; focus is on #{focused_id(page)}")


def wait_for_refresh(page, what: str) -> None:
    """Until the live refresh of `what` (a path part) has been answered and swapped."""
    with page.expect_response(
        lambda r: r.request.headers.get("hx-request") == "true" and what in r.url, timeout=10_000
    ):
        pass
    page.wait_for_timeout(200)  # swapped and settled


def test_a_day_from_the_keyboard_with_live_refreshes(
    page, live_server, tenant, agent, dispatcher, settings
):
    settings.QUEUE_REFRESH_SECONDS = 1
    settings.BOARD_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        first = TicketFactory(subject="Printer on fire", priority=4)
        second = TicketFactory(subject="VPN is down", priority=3)
    dispatcher.first_name, dispatcher.last_name = "Dana", "Dispatcher"
    dispatcher.save()

    # Sign in: the username field has focus, Enter sends.
    page.goto(f"{live_server.url}/accounts/login/")
    page.keyboard.type(dispatcher.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Unassigned", level=1)).to_be_visible()

    # The skip link is the first Tab stop and lands in the main content.
    page.keyboard.press("Tab")
    assert focused_id(page) == "" and page.evaluate("document.activeElement.className") == (
        "skip-link"
    )
    page.keyboard.press("Enter")
    assert focused_id(page) == "main"

    # j moves real focus to the first row; a refresh keeps it there.
    page.keyboard.press("j")
    assert focused_id(page) == f"row-{first.number}"
    wait_for_refresh(page, "/queues/")
    assert focused_id(page) == f"row-{first.number}"
    # Tab into the row's tick box, tick it; a refresh keeps both.
    page.keyboard.press("Tab")
    assert focused_id(page) == f"pick-{first.number}"
    page.keyboard.press("Space")
    wait_for_refresh(page, "/queues/")
    assert focused_id(page) == f"pick-{first.number}"
    expect(page.locator(f"#pick-{first.number}")).to_be_checked()

    # Bulk-assign it to Dana: back up to the bulk bar, choose, apply.
    tab_to(page, "bulk_assignee", backwards=True)
    page.keyboard.type("Dana")
    tab_to(page, "bulk-apply")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="1 ticket changed.")).to_be_visible()
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=first.pk).assignee == dispatcher

    # Open a ticket from the queue: j to its row, Enter.
    page.keyboard.press("j")
    assert focused_id(page) == f"row-{second.number}"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="VPN is down", level=1)).to_be_visible()

    # Reply: r to the message, type, Ctrl+Enter.
    page.keyboard.press("r")
    page.keyboard.type("Restarting the VPN gateway now.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status").filter(has_text="Reply sent.")).to_be_visible()

    # Change the status in Details: Tab to it, choose, Tab to Save, Enter.
    tab_to(page, "id_status")
    page.keyboard.type("Pending")
    tab_to(page, "details-save")
    page.keyboard.press("Enter")
    expect(page.locator(".ticket-head .status")).to_have_text("Pending")

    # The board: a card moved with its Move to… menu, a refresh in between.
    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    tab_to(page, f"card-move-{first.number}")
    wait_for_refresh(page, "/board/")
    assert focused_id(page) == f"card-move-{first.number}"
    page.keyboard.press("Enter")
    tab_to(page, f"card-{first.number}-to-on_hold")
    page.keyboard.press("Enter")
    on_hold = page.get_by_role("region", name="On hold")
    expect(on_hold.locator(f"#card-{first.number}")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text(f"ACME-{first.number} moved to On hold.")
    assert focused_id(page) == f"card-{first.number}"
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=first.pk).status == Ticket.Status.ON_HOLD


def test_a_refused_keyboard_move_gives_the_drops_reason(page, log_in, live_server, tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Already solved")
        from tickets import services

        services.ticket_change_status(
            ticket=ticket, actor=agent, status="resolved", expected_version=None
        )
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    page.locator(f"#card-move-{ticket.number}").focus()
    page.keyboard.press("Enter")
    tab_to(page, f"card-{ticket.number}-to-on_hold")
    page.keyboard.press("Enter")
    expect(page.locator("#board-message")).to_have_text("A resolved ticket cannot become on hold.")
    expect(
        page.get_by_role("region", name="Resolved").locator(f"#card-{ticket.number}")
    ).to_be_visible()


def test_new_tickets_are_announced_and_live_updates_can_be_paused(
    page, log_in, live_server, tenant, agent, settings
):
    settings.QUEUE_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        TicketFactory(subject="Already waiting")
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/unassigned/")
    with tenant_context(tenant):
        TicketFactory(subject="Fresh one")
        TicketFactory(subject="Fresh two")
    expect(page.locator("#announcer")).to_have_text("2 new tickets", timeout=10_000)

    pause = page.get_by_role("button", name="Pause live updates")
    pause.click()
    expect(page.get_by_role("button", name="Resume live updates")).to_have_attribute(
        "aria-pressed", "true"
    )
    with tenant_context(tenant):
        TicketFactory(subject="Comes while paused")
    page.wait_for_timeout(2500)
    expect(page.get_by_role("row").filter(has_text="Comes while paused")).to_have_count(0)
    # Paused on every page until resumed; resuming catches up at once.
    page.reload()
    page.get_by_role("button", name="Resume live updates").click()
    expect(page.get_by_role("row").filter(has_text="Comes while paused")).to_be_visible()


def test_shortcuts_keep_off_links_and_buttons_and_can_be_turned_off(
    page, log_in, live_server, tenant, agent
):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Only one")
    log_in(agent)
    queue = f"{live_server.url}/{tenant.slug}/queues/unassigned/"
    page.goto(queue)
    # On the "Filters and order" toggle, j is not a shortcut: Enter opens the filters.
    page.locator(".filters summary").focus()
    page.keyboard.press("j")
    expect(page.locator("tr.is-focused")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator("details.filters")).to_have_attribute("open", "")

    # Off, from the list of shortcuts the top bar's button opens.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.get_by_role("button", name="Turn single-key shortcuts off").click()
    expect(
        page.get_by_role("status").filter(has_text="Single-key shortcuts are off.")
    ).to_be_visible()
    assert page.url == queue
    with tenant_context(tenant):
        assert not Membership.objects.get(user=agent, tenant=tenant).keyboard_shortcuts
    page.locator("body").press("j")
    page.keyboard.press("?")
    expect(page.locator("tr.is-focused")).to_have_count(0)
    expect(dialog).to_be_hidden()
    # The ticket page's r is off too; Ctrl+Enter is no single key and stays.
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    page.keyboard.press("r")
    expect(page.get_by_label("Message")).not_to_be_focused()


def test_a_form_sent_with_errors_says_so_in_the_title_and_takes_focus_to_a_summary(
    page, log_in, live_server, tenant, agent
):
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/new/")
    page.get_by_role("button", name="Create ticket").click()
    expect(page).to_have_title(re.compile(r"^Error: New ticket"))
    summary = page.get_by_role("alert").filter(has_text="There are")
    expect(summary).to_be_focused()
    # Each problem links to its field, and the field names its error.
    summary.get_by_role("link", name=re.compile("^Subject")).click()
    subject = page.get_by_label("Subject")
    expect(subject).to_be_focused()
    described = subject.get_attribute("aria-describedby")
    assert described and "id_subject_error" in described.split()
    expect(page.locator("#id_subject_error")).to_contain_text("This field is required.")
