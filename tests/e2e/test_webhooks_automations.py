"""An admin sets up a webhook and an automation in a real browser: the
forms work from their labels, "Send test" shows what the receiver answered,
and both pages fit a desktop and a phone (screenshots kept in the folder
HELPDESK_SHOTS names, else in the test's tmp_path)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import CategoryFactory, SupportGroupFactory
from tests.tickets.webhook_receiver import start_receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("HELPDESK_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shoot(page, shots, name):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.screenshot(path=shots / f"{name}-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / f"{name}-phone.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})


@pytest.fixture
def receiver(settings):
    settings.ALLOW_PRIVATE_HOSTS = True  # the receiver is on loopback
    received, server = start_receiver()
    yield received
    server.shutdown()
    server.server_close()


def test_admin_adds_a_webhook_and_sends_a_test(
    page, log_in, live_server, tenant, admin_user, receiver, shots
):
    log_in(admin_user)
    page.goto(f"{live_server.url}/{tenant.slug}/settings/webhooks/")
    page.get_by_label("Name").fill("Ops Slack")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Format").select_option("slack")
    page.get_by_label("Customer replied").check()
    page.get_by_role("button", name="Add webhook").click()

    expect(page.get_by_role("status")).to_contain_text("Ops Slack was added")
    expect(page.locator(".secret-box code")).to_contain_text("whsec_")
    _shoot(page, shots, "webhooks")

    page.get_by_role("link", name="Edit, test, log of Ops Slack").click()
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".test-result")).to_contain_text("Delivered: the receiver answered 200")
    expect(page.locator("table.delivery-log")).to_contain_text("200 OK")
    assert len(receiver.received) == 1
    receiver.answers = [500]
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".test-result")).to_contain_text("Not delivered (500)")
    _shoot(page, shots, "webhook-edit")


def test_admin_adds_an_automation_with_conditions(
    page, log_in, live_server, tenant, admin_user, shots
):
    with tenant_context(tenant):
        SupportGroupFactory(name="Billing")
        CategoryFactory(name="Invoices")
    log_in(admin_user)
    page.goto(f"{live_server.url}/{tenant.slug}/settings/automations/")
    page.get_by_label("Name").fill("Nudge quiet customers")
    page.get_by_label("What it does").select_option("pending_reminder")
    page.get_by_label("After (N)").fill("3")
    page.get_by_label("Then resolve after (M days)").fill("4")
    page.get_by_label("Only in group").select_option(label="Billing")
    page.get_by_label("Only with priority").select_option(label="High")
    page.get_by_role("button", name="Add automation").click()

    expect(page.locator(".flash")).to_contain_text("Added the automation “Nudge quiet customers”")
    item = page.locator(".rule-list li").filter(has_text="Nudge quiet customers")
    expect(item).to_contain_text("then resolves it 4 days later")
    expect(item).to_contain_text("Only tickets in Billing with high priority")

    # Bad input keeps what was typed and says what is wrong.
    page.get_by_label("Name").fill("Close solved")
    page.get_by_label("What it does").select_option("close_resolved")
    page.get_by_label("After (N)").fill("400")
    page.get_by_role("button", name="Add automation").click()
    expect(page.locator(".field.has-error")).to_contain_text("from 1 to 365")
    expect(page.get_by_label("Name")).to_have_value("Close solved")
    page.get_by_label("After (N)").fill("3")
    page.get_by_role("button", name="Add automation").click()
    expect(page.locator(".rule-list li")).to_have_count(2)
    _shoot(page, shots, "automations")


def test_the_timeline_says_which_automation_acted(
    page, log_in, live_server, tenant, admin_user, agent, shots
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import TicketFactory
    from tickets import services
    from tickets.automations import engine
    from tickets.automations.services import automation_rule_create
    from tickets.models import Ticket

    with tenant_context(tenant):
        automation_rule_create(
            actor=admin_user, name="Nudge quiet customers", kind="pending_reminder", wait=3,
            then_wait=2,
        )  # fmt: skip
        ticket = TicketFactory(subject="Printer on fire", requester__name="Pat Lee")
        services.message_add(
            ticket=ticket, kind="reply", body="Could you send a photo of the display?",
            author_user=agent, status_after="pending",
        )  # fmt: skip
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now() - timedelta(days=4))
        engine.automations_run()
        engine.automations_run(now=timezone.now() + timedelta(days=2, minutes=1))
    log_in(admin_user)
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/")

    reminder = page.locator(".msg-reply").filter(has_text="still waiting for your answer")
    expect(reminder).to_contain_text("Automation")
    expect(reminder).to_contain_text("“Nudge quiet customers”: no answer for 3 days")
    expect(page.locator(".change").filter(has_text="Resolved")).to_contain_text(
        "“Nudge quiet customers”: no answer 2 days after the reminder"
    )
    _shoot(page, shots, "timeline")
