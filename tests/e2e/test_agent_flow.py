"""An agent's day in a real browser: log in, answer, note, log a call, and
the wall between tenants as a URL typed by hand meets it."""

import re

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import services
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(subject="Printer on fire", body="Smoke from tray 2.")


@pytest.fixture
def ticket_url(live_server, tenant, ticket):
    return f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/"


def test_agent_logs_in_and_opens_a_queue(page, log_in, live_server, agent, ticket):
    log_in(agent)
    expect(page).to_have_url(f"{live_server.url}/acme/queues/mine/")
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    page.get_by_role("navigation", name="Queues").get_by_role("link", name="Unassigned").click()
    expect(page.get_by_role("heading", name="Unassigned")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Printer on fire")
    expect(row).to_contain_text(f"ACME-{ticket.number}")
    expect(row).to_contain_text("New")
    # The vendored htmx is served and runs (static files under the live server).
    page.wait_for_function("() => window.htmx !== undefined")


def test_public_reply_appears_in_the_timeline_and_opens_the_ticket(
    page, log_in, agent, ticket, ticket_url
):
    log_in(agent)
    page.get_by_role("navigation", name="Queues").get_by_role("link", name="Unassigned").click()
    page.get_by_role("link", name="Printer on fire").click()
    expect(page).to_have_url(ticket_url + "?from=unassigned")
    status = page.locator(".ticket-head .status")
    expect(status).to_have_text("New")

    page.get_by_label("Message").fill("Please unplug it and step back.")
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("status").filter(has_text="Reply sent.")).to_be_visible()
    reply = page.locator(".timeline .msg").filter(has_text="Please unplug it and step back.")
    expect(reply).to_contain_text("Public reply")
    expect(status).to_have_text("Open")


def test_internal_note_looks_different_from_a_customer_message(
    page, log_in, agent, ticket, ticket_url
):
    log_in(agent)
    page.goto(ticket_url)
    page.get_by_label("Internal note").check()
    page.get_by_label("Message").fill("Known fault with this model.")
    page.get_by_role("button", name="Add internal note").click()

    note = page.locator(".timeline .msg").filter(has_text="Known fault with this model.")
    expect(note).to_have_class(re.compile(r"\bmsg-note\b"))
    expect(note).to_contain_text("Internal note")
    customer = page.locator(".timeline .msg").filter(has_text="Smoke from tray 2.")
    background = "e => getComputedStyle(e).backgroundColor"
    assert note.evaluate(background) != customer.evaluate(background)
    # A note is not an answer: the ticket stays new.
    expect(page.locator(".ticket-head .status")).to_have_text("New")


def test_another_tenants_user_typing_our_ticket_url_gets_not_found(
    page, log_in, outsider, ticket, ticket_url
):
    log_in(outsider)
    response = page.goto(ticket_url)
    assert response.status == 404
    expect(page.get_by_role("heading", name=re.compile("not found", re.I))).to_be_visible()
    expect(page.get_by_text("Printer on fire")).to_have_count(0)


def test_agent_logs_a_phone_call_as_a_new_ticket(page, log_in, live_server, tenant, agent):
    log_in(agent)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New ticket").click()
    page.get_by_label("Customer email").fill("pat@example.com")
    page.get_by_label("Customer name").fill("Pat Lee")
    page.get_by_label("Subject").fill("Phone: cannot print")
    page.get_by_label("Description").fill("Called at 9:10, printer shows E42.")
    page.get_by_label("Channel").select_option(label="Phone")
    page.get_by_role("button", name="Create ticket").click()

    expect(page.get_by_role("heading", name="Phone: cannot print")).to_be_visible()
    with tenant_context(tenant):
        ticket = Ticket.objects.get(subject="Phone: cannot print")
    expect(page).to_have_url(f"{live_server.url}/acme/tickets/{ticket.number}/")
    expect(page.locator(".ticket-head .ref")).to_contain_text(f"ACME-{ticket.number} · via Phone")
    expect(page.locator(".timeline")).to_contain_text("printer shows E42")


def test_images_from_other_sites_load_only_when_the_agent_asks(
    page, log_in, live_server, tenant, agent
):
    pixel = "http://127.0.0.1:9/pixel.gif"
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Newsletter reply",
            body="See the picture.",
            requester_email="pat@example.com",
            body_html=f'<p>See the picture.</p><img src="{pixel}" alt="pixel">',
        )
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    image = page.locator(".msg-body img[alt=pixel]")
    expect(image).to_have_attribute("data-remote-src", pixel)
    assert image.get_attribute("src") is None
    page.get_by_role("button", name="Show images").click()
    expect(image).to_have_attribute("src", pixel)
    expect(page.get_by_role("button", name="Show images")).to_have_count(0)
