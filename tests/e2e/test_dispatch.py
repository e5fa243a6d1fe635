"""Dispatch in a real browser: the rule editor (add, reorder), the
dispatcher review queue (confirm one, change one), Get next, and the
lazy "Why this agent" panel."""

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dispatch.models import RoutingDecision, RoutingRule
from helpdesk.tenancy import tenant_context
from tests.dispatch.conftest import handle, make_agents, make_group
from tests.factories import TicketFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Screenshots for a person to look at (desktop and phone).
SHOTS = Path(tempfile.gettempdir()) / "shots" / "dispatch"
SHOTS.mkdir(parents=True, exist_ok=True)


def test_an_admin_adds_and_reorders_rules(page, log_in, live_server, tenant, admin_user):
    with tenant_context(tenant):
        billing = make_group(tenant, [], name="Billing")
        RoutingRule.objects.create(
            tenant=tenant, name="Everything else", position=1,
            conditions=[{"field": "channel", "value": ["email"]}], actions={"group": billing.pk},
        )  # fmt: skip
    log_in(admin_user)
    page.goto(f"{live_server.url}/{tenant.slug}/settings/routing/")
    page.get_by_role("link", name="Add a rule").click()
    page.get_by_label("Name").fill("Refunds")
    page.get_by_label("Subject or message contains").fill("refund, chargeback")
    page.get_by_label("Set group").select_option(label="Billing")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("Saved the rule “Refunds”.")).to_be_visible()
    page.get_by_role("button", name="Move “Refunds” up").click()
    rows = page.locator("table.routing-rules tbody tr")
    expect(rows.nth(0)).to_contain_text("Refunds")
    expect(rows.nth(1)).to_contain_text("Everything else")
    page.screenshot(path=f"{SHOTS}/rules-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/rules-phone.png", full_page=True)


def test_a_dispatcher_confirms_one_and_changes_one(page, log_in, live_server, tenant, dispatcher):
    with tenant_context(tenant):
        a, b = make_agents(tenant, 2)
        group = make_group(tenant, [a, b], name="Billing", mode="semi")
        first = TicketFactory(subject="Refund please", group=group)
        second = TicketFactory(subject="Invoice wrong", group=group)
        handle(first, second)
        recommended = RoutingDecision.objects.get(ticket=second).winner
    other = b if recommended == a else a
    log_in(dispatcher)
    page.goto(f"{live_server.url}/{tenant.slug}/dispatch/review/")
    page.screenshot(path=f"{SHOTS}/review-desktop.png", full_page=True)
    row = page.get_by_role("row").filter(has_text="Refund please")
    row.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("row").filter(has_text="Refund please")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="Invoice wrong")
    row.get_by_label(f"Agent for ACME-{second.number}").select_option(str(other.pk))
    row.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("Nothing waits for review.")).to_be_visible()
    with tenant_context(tenant):
        second.refresh_from_db()
        assert second.assignee == other


def test_get_next_and_why_this_agent(page, log_in, live_server, tenant, agent):
    from helpdesk.models import SupportGroupMember

    with tenant_context(tenant):
        group = make_group(tenant, [], name="Claimers", mode="claim")
        SupportGroupMember.objects.create(tenant=tenant, group=group, user=agent)
        ticket = TicketFactory(subject="Take me", group=group)
        handle(ticket)
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/dispatch/")
    page.get_by_role("button", name="Online").click()
    expect(page.get_by_text("You are online.", exact=True)).to_be_visible()
    page.screenshot(path=f"{SHOTS}/home-desktop.png", full_page=True)
    page.get_by_role("button", name="Get next ticket").click()
    expect(page.get_by_text(f"ACME-{ticket.number} is yours.")).to_be_visible()
    panel = page.locator("section.why-this-agent")
    expect(panel).to_contain_text("took it with Get next")
    page.screenshot(path=f"{SHOTS}/ticket-desktop.png", full_page=True)
