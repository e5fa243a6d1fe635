"""Notifications as an agent meets them: the bell counts what a colleague
just gave them, the list takes them to the ticket, and @ in a note offers
colleagues to mention, from the keyboard."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.celery import app as celery_app
from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, MembershipFactory, TicketFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def eager():
    """Event handlers run in the web process right after the commit, as a
    worker would a moment later."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def shot(tmp_path):
    """Screenshots for a person to look at (in HELPDESK_SCREENSHOTS, or the
    test's temporary folder)."""
    shots = Path(os.environ.get("HELPDESK_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return lambda page, name: page.screenshot(path=shots / f"notifications-{name}.png")


def test_the_bell_counts_a_ticket_a_colleague_just_assigned(
    page, log_in, browser, live_server, tenant, agent, dispatcher, settings, eager, shot
):
    settings.NOTIFICATION_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire", body="Smoke from tray 2.")
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")
    bell = page.locator("#bell")
    expect(bell).to_have_accessible_name("Notifications")

    # A colleague gives the agent the ticket, in another browser.
    context = browser.new_context()
    colleague = context.new_page()
    colleague.goto(f"{live_server.url}/accounts/login/")
    colleague.get_by_label("Username").fill(dispatcher.username)
    colleague.get_by_label("Password").fill(PASSWORD)
    colleague.get_by_role("button", name="Log in", exact=True).click()
    colleague.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    details = colleague.locator("#details-panel")
    details.get_by_label("Assignee").select_option(label=agent.get_full_name())
    details.get_by_role("button", name="Save changes").click()
    expect(colleague.get_by_role("status").first).to_contain_text("Saved.")
    context.close()

    # The agent's page has not reloaded: the bell says so by itself.
    expect(bell.locator(".bell-count")).to_contain_text("1")
    expect(bell).to_have_accessible_name(re.compile(r"^Notifications,\s*1 unread$"))
    shot(page, "bell-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "bell-phone")
    page.set_viewport_size({"width": 1366, "height": 768})

    bell.click()
    entry = page.get_by_role("link", name=f"assigned {ticket.reference} to you")
    expect(entry).to_be_visible()
    shot(page, "list-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "list-phone")
    page.set_viewport_size({"width": 1366, "height": 768})
    entry.click()
    expect(page.get_by_role("heading", name="Printer on fire")).to_be_visible()
    expect(bell.locator(".bell-count")).to_have_count(0)

    page.goto(f"{live_server.url}/{tenant.slug}/settings/notifications/")
    expect(page.get_by_role("group", name="Mentioned in a note")).to_be_visible()
    shot(page, "preferences-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "preferences-phone")


def test_at_in_a_note_offers_colleagues_from_the_keyboard(
    page, log_in, live_server, tenant, agent, shot
):
    MembershipFactory(
        tenant=tenant,
        role=Membership.Role.AGENT,
        user__username="pat",
        user__first_name="Pat",
        user__last_name="Lee",
    )
    MembershipFactory(
        tenant=tenant,
        role=Membership.Role.AGENT,
        user__username="paula",
        user__first_name="Paula",
        user__last_name="Diaz",
    )
    # The agent's generated name could start with "Pa" too: fixed here.
    agent.first_name, agent.last_name = "Ann", "Other"
    agent.save()
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire")
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    page.get_by_label("Internal note").check()
    box = page.get_by_label("Message")
    box.click()
    box.press_sequentially("Can you look, @pa")
    options = page.get_by_role("listbox", name="Colleagues to mention").get_by_role("option")
    expect(options).to_have_count(2)
    expect(box).to_have_attribute("aria-controls", "mention-list")
    expect(options.first).to_have_attribute("aria-selected", "true")
    shot(page, "mention-desktop")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "mention-1")
    box.press("Enter")
    expect(box).to_have_value("Can you look, @paula ")
    expect(page.get_by_role("listbox", name="Colleagues to mention")).to_be_hidden()
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile("."))
    # Escape closes the list and leaves the text as typed.
    box.press_sequentially("and @pa")
    expect(options).to_have_count(2)
    box.press("Escape")
    expect(options).to_have_count(0)
    expect(box).to_have_value("Can you look, @paula and @pa")
