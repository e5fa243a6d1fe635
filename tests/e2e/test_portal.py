"""The portal as a customer meets it: the link in a mail the app sent,
on a phone, then the agent's side of what the customer did."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail as django_mail
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, ContactFactory, TicketFactory
from tickets import services
from tickets.models import Message
from tickets.portal import selectors as portal_selectors

from .conftest import DESKTOP
from .test_accessibility import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path) -> Path:
    """Screenshots for a person to look at (in HELPDESK_SCREENSHOTS, or the
    test's temporary folder)."""
    folder = Path(os.environ.get("HELPDESK_SCREENSHOTS") or tmp_path) / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def mailed(settings, live_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_BASE_URL = live_server.url
    django_mail.outbox = []
    celery_app.conf.task_always_eager = True
    yield django_mail.outbox
    celery_app.conf.task_always_eager = False


def _link(message) -> str:
    return re.search(r"(http://\S+/portal/\S+?/t/\d+/\S{44}/)", message.body).group(1)


def test_a_customer_follows_the_mail_link_replies_solves_and_rates(
    page, browser, live_server, tenant, agent, mailed, shots
):
    agent.first_name = "Robin"
    agent.save()
    with tenant_context(tenant):
        ticket = TicketFactory(
            requester=ContactFactory(email="pat@example.com", name="Pat Doe"),
            subject="Printer on fire",
            body="Smoke is coming out of tray 2.",
            assignee=agent,
        )
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.NOTE,
            body="INTERNAL: replace the unit, do not tell them yet",
            author_user=agent,
        )
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="Please unplug it and send us a photo of the label.",
            author_user=agent,
            attachments=[SimpleUploadedFile("safety.txt", b"stand back", "text/plain")],
        )
    reply_mail = [m for m in mailed if m.subject.startswith("Re:")][-1]
    link = _link(reply_mail)

    page.set_viewport_size(PHONE)
    page.goto(link)
    expect(page.get_by_role("heading", name="Printer on fire")).to_be_visible()
    expect(page.locator(".portal-status")).to_have_text("In progress")
    expect(page.locator(".portal-facts")).to_contain_text("Robin")
    expect(page.locator(".portal-timeline")).to_contain_text("send us a photo of the label")
    expect(page.get_by_role("link", name="safety.txt")).to_be_visible()
    assert "INTERNAL" not in page.content()
    page.screenshot(path=shots / "ticket-phone.png", full_page=True)

    page.get_by_label("Your message").fill("Unplugged. Photo attached.")
    page.get_by_label("Attachments").set_input_files(
        {"name": "label.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\nfake"}
    )
    page.get_by_role("button", name="Send", exact=True).click()
    timeline = page.locator(".portal-timeline")
    expect(timeline).to_contain_text("Unplugged. Photo attached.")
    expect(page.get_by_role("link", name="label.png")).to_be_visible()

    page.get_by_role("button", name="This is solved").click()
    expect(page.locator(".portal-status")).to_have_text("Solved")
    page.screenshot(path=shots / "solved-phone.png", full_page=True)
    page.get_by_label("Good").check()
    page.get_by_label("Anything you want to tell us? (optional)").fill("Quick and kind.")
    page.get_by_role("button", name="Send rating").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you")
    page.screenshot(path=shots / "rated-phone.png", full_page=True)

    page.set_viewport_size(DESKTOP)
    page.goto(link)
    expect(timeline).to_contain_text("Rated: good")
    page.screenshot(path=shots / "ticket-desktop.png", full_page=True)

    # The solved mail the app sent asks for a rating too.
    assert any("How did we do?" in m.body for m in mailed)

    # The agent sees the reply, its file and the rating.
    context = browser.new_context(viewport=DESKTOP)
    agent_page = context.new_page()
    agent_page.goto(f"{live_server.url}/accounts/login/")
    agent_page.get_by_label("Username").fill(agent.username)
    agent_page.get_by_label("Password").fill(PASSWORD)
    agent_page.get_by_role("button", name="Log in", exact=True).click()
    agent_page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")
    agent_timeline = agent_page.locator(".timeline")
    expect(agent_timeline).to_contain_text("Unplugged. Photo attached.")
    expect(agent_timeline).to_contain_text("label.png")
    expect(agent_timeline).to_contain_text("rated the help")
    expect(agent_timeline).to_contain_text("Quick and kind.")
    agent_page.screenshot(path=shots / "agent-desktop.png", full_page=True)
    context.close()


def test_sign_in_page_and_list_on_a_phone(page, live_server, tenant, mailed, shots, monkeypatch):
    monkeypatch.setattr(portal_selectors, "MY_TICKETS_PAGE_SIZE", 2)
    with tenant_context(tenant):
        pat = ContactFactory(email="pat@example.com")
        TicketFactory(requester=pat, subject="Printer jams")
        TicketFactory(requester=pat, subject="Laptop slow")
        TicketFactory(requester=pat, subject="VPN drops")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/portal/{tenant.slug}/")
    page.screenshot(path=shots / "signin-phone.png", full_page=True)
    page.get_by_label("Your email").fill("pat@example.com")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If we know this address")
    signin = re.search(r"(http://\S+/signin/\S+/)", mailed[-1].body).group(1)
    page.goto(signin)
    page.get_by_role("button", name="Sign in and see my requests").click()
    expect(page.get_by_role("heading", name="Your requests")).to_be_visible()
    expect(page.locator(".portal-list")).to_contain_text("VPN drops")
    expect(page.locator(".portal-list")).not_to_contain_text("Printer jams")
    page.screenshot(path=shots / "list-phone.png", full_page=True)
    page.get_by_role("link", name="Older →").click()
    expect(page.locator(".portal-list")).to_contain_text("Printer jams")
    page.screenshot(path=shots / "list-older-phone.png", full_page=True)
    assert_accessible(page, "portal list, older page")
    page.get_by_role("link", name="← Newer").click()
    page.get_by_role("link", name="VPN drops").click()
    expect(page.locator(".portal-status")).to_have_text("Received")


def test_the_next_promise_on_a_phone_and_a_desktop(page, live_server, tenant, agent, mailed, shots):
    from sla.models import Calendar
    from tests.sla.conftest import make_policy

    with tenant_context(tenant):
        always = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        make_policy(always, hours=(4, 2, 24))
        TicketFactory(
            requester=ContactFactory(email="pat@example.com", name="Pat Doe"),
            subject="Cannot print invoices from the billing system since this morning",
            body="Every invoice comes out blank.",
        )
    link = _link(mailed[-1])
    page.set_viewport_size(PHONE)
    page.goto(link)
    expect(page.locator(".portal-promise")).to_contain_text("We aim to reply by")
    page.screenshot(path=shots / "promise-phone.png", full_page=True)
    assert_accessible(page, "portal ticket with its promise")
    page.set_viewport_size(DESKTOP)
    page.goto(link)
    expect(page.locator(".portal-promise")).to_be_visible()
    page.screenshot(path=shots / "promise-desktop.png", full_page=True)
