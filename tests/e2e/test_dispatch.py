"""Dispatch in a real browser: the rule editor (add, reorder), the
dispatcher review queue (confirm one, change one), Get next, the lazy
"Why this agent" panel, accepting and declining an automatic assignment,
and the top bar's availability switch."""

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dispatch.models import RoutingDecision, RoutingRule
from helpdesk.tenancy import tenant_context
from tests.dispatch.conftest import handle, make_agents, make_group
from tests.factories import TicketFactory
from tickets.models import Ticket

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
    page.locator("main").get_by_role("button", name="Online").click()
    expect(page.get_by_text("You are online.", exact=True)).to_be_visible()
    page.screenshot(path=f"{SHOTS}/home-desktop.png", full_page=True)
    page.get_by_role("button", name="Get next ticket").click()
    expect(page.get_by_text(f"ACME-{ticket.number} is yours.")).to_be_visible()
    panel = page.locator("section.why-this-agent")
    expect(panel).to_contain_text("took it with Get next")
    page.screenshot(path=f"{SHOTS}/ticket-desktop.png", full_page=True)


def test_the_top_bar_switches_availability_in_one_click(page, log_in, live_server, tenant, agent):
    from dispatch.models import AgentStatus
    from tests.e2e.test_accessibility import assert_accessible

    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")
    switch = page.get_by_role("group", name="Your availability")
    expect(switch.get_by_role("button", name="Offline")).to_have_attribute("aria-pressed", "true")
    assert_accessible(page, "the queue with the availability switch")
    switch.get_by_role("button", name="Online").click()
    expect(switch.get_by_role("button", name="Online")).to_have_attribute("aria-pressed", "true")
    expect(switch.get_by_role("button", name="Offline")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#announcer")).to_have_text("You are online.")
    # Focus stays on the button pressed, though the switch was redrawn.
    expect(switch.get_by_role("button", name="Online")).to_be_focused()
    page.screenshot(path=f"{SHOTS}/availability-desktop.png")
    with tenant_context(tenant):
        assert AgentStatus.objects.get(user=agent).availability == "online"
    page.reload()
    expect(
        page.get_by_role("group", name="Your availability").get_by_role("button", name="Online")
    ).to_have_attribute("aria-pressed", "true")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/availability-phone.png")
    page.get_by_role("group", name="Your availability").get_by_role("button", name="Away").click()
    expect(page.locator("#announcer")).to_have_text("You are away.")
    with tenant_context(tenant):
        assert AgentStatus.objects.get(user=agent).availability == "away"


def test_an_assignee_declines_and_the_next_accepts(page, log_in, live_server, tenant):
    from dispatch.models import Acceptance

    with tenant_context(tenant):
        first, second = make_agents(tenant, 2)
        group = make_group(tenant, [first, second], name="Accepting", accept_minutes=10)
        ticket = TicketFactory(subject="Printer jam", group=group)
        handle(ticket)
        handle(ticket)
        ticket.refresh_from_db()
        declining = ticket.assignee
    accepting = second if declining == first else first
    detail = f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/"
    log_in(declining)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")
    expect(page.get_by_role("row").filter(has_text="Printer jam")).to_contain_text(
        "Awaiting acceptance"
    )
    page.goto(detail)
    panel = page.locator("section.why-this-agent")
    expect(panel).to_contain_text("Waiting for acceptance")
    page.screenshot(path=f"{SHOTS}/acceptance-desktop.png", full_page=True)
    # A reason is required: the browser says so before anything is sent.
    panel.get_by_role("button", name="Decline").click()
    expect(panel.get_by_label("Or decline: why?")).to_be_focused()
    panel.get_by_label("Or decline: why?").fill("I am off from noon")
    panel.get_by_role("button", name="Decline").click()
    expect(page.get_by_text(f"You declined ACME-{ticket.number}.")).to_be_visible()
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.assignee == accepting
        handle(ticket)  # the worker: the next assignee's wait starts
    page.get_by_role("button", name="Log out").click()
    log_in(accepting)
    page.goto(f"{live_server.url}/{tenant.slug}/dispatch/")
    expect(page.locator(".to-accept")).to_contain_text("Printer jam")
    page.goto(detail)
    page.locator("section.why-this-agent").get_by_role("button", name="Accept").click()
    expect(page.get_by_text(f"You accepted ACME-{ticket.number}.")).to_be_visible()
    timeline = page.locator("main")
    expect(timeline).to_contain_text("declined the ticket")
    expect(timeline).to_contain_text("I am off from noon")
    expect(timeline).to_contain_text("accepted the ticket")
    with tenant_context(tenant):
        states = sorted(Acceptance.objects.filter(ticket=ticket).values_list("state", flat=True))
        assert states == ["accepted", "declined"]


def test_the_review_queue_refreshes_itself_keeping_focus_and_a_choice_in_progress(
    page, log_in, live_server, tenant, dispatcher, settings
):
    settings.QUEUE_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        a, b = make_agents(tenant, 2)
        group = make_group(tenant, [a, b], name="Billing", mode="semi")
        first = TicketFactory(subject="Refund please", group=group)
        handle(first)
    log_in(dispatcher)
    page.goto(f"{live_server.url}/{tenant.slug}/dispatch/review/")
    with tenant_context(tenant):
        decision = RoutingDecision.objects.get(ticket=first)
    page.locator(f"#confirm-{decision.pk}").focus()
    with tenant_context(tenant):
        second = TicketFactory(subject="Invoice wrong", group=group)
        handle(second)
    expect(page.get_by_role("row").filter(has_text="Invoice wrong")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("1 new recommendation")
    expect(page.locator(f"#confirm-{decision.pk}")).to_be_focused()
    # A dispatcher choosing another agent is not interrupted by a refresh.
    row = page.get_by_role("row").filter(has_text="Refund please")
    picker = row.get_by_label(f"Agent for ACME-{first.number}")
    other = b if decision.winner == a else a
    picker.select_option(str(other.pk))
    with tenant_context(tenant):
        TicketFactory(subject="Third one", group=group)
        handle(*Ticket.objects.filter(subject="Third one"))
    page.wait_for_timeout(2500)
    expect(page.get_by_role("row").filter(has_text="Third one")).to_have_count(0)
    expect(picker).to_have_value(str(other.pk))
    row.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("row").filter(has_text="Third one")).to_be_visible()
