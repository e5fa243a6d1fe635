"""A manager's dashboard in the browser: the figures, the chart, the way to
the tickets behind a number, at desktop and phone sizes."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from reports.services import facts_rebuild
from tests.factories import TicketFactory, UserFactory, add_reply
from tickets import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shots(tmp_path) -> Path:
    """Where screenshots go: HELPDESK_SHOTS when set (to look at them), else
    the test's own folder."""
    folder = Path(os.environ.get("HELPDESK_SHOTS") or tmp_path) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_manager_reads_the_dashboard_and_opens_the_tickets_behind_a_number(
    page, log_in, live_server, tenant, agent, tmp_path
):
    shots = _shots(tmp_path)
    manager = UserFactory(first_name="Mara")
    Membership.objects.create(tenant=tenant, user=manager, role=Membership.Role.MANAGER)
    with tenant_context(tenant):
        solved = TicketFactory(subject="Invoice twice", assignee=agent, actor=agent)
        add_reply(solved, agent)
        solved.refresh_from_db()
        services.ticket_update(ticket=solved, actor=agent, expected_version=None, status="resolved")
        TicketFactory(subject="Nobody has me yet")
        facts_rebuild()
    log_in(manager)
    page.goto(f"{live_server.url}/{tenant.slug}/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("img", name="Created and solved, last 30 days")).to_be_visible()
    page.screenshot(path=shots / "dashboard-desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the dashboard is {wide}px wide on a phone"
    page.screenshot(path=shots / "dashboard-phone.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})

    waiting = page.locator(".tile", has_text="Waiting for assignment")
    waiting.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Open tickets nobody has")).to_be_visible()
    expect(page.get_by_role("cell", name="Nobody has me yet")).to_be_visible()
    expect(page.get_by_role("cell", name="Invoice twice")).to_have_count(0)
    page.screenshot(path=shots / "behind-a-number.png", full_page=True)
