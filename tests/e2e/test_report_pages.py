"""The report pages in the browser: a manager moves between them, reads the
busiest hours and where tickets stall, at desktop and phone sizes."""

import os
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dispatch.models import AgentStatus
from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import tenant_context
from reports.pages.services import load_snapshot_take, page_facts_rebuild
from reports.services import facts_rebuild
from tests.factories import CategoryFactory, TicketFactory, UserFactory, add_reply
from tickets import services
from tickets.models import Rating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shots(tmp_path) -> Path:
    """Where screenshots go: HELPDESK_SHOTS when set (to look at them), else
    the test's own folder."""
    folder = Path(os.environ.get("HELPDESK_SHOTS") or tmp_path) / "report-pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def at(moment):
    with mock.patch("django.utils.timezone.now", lambda: moment):
        yield


def _history(tenant, agents):
    """Three weeks of tickets at office hours, some moved between groups,
    answered and solved, with their facts built."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    groups = [SupportGroup.objects.create(tenant=tenant, name=n) for n in ("Billing", "Hardware")]
    categories = [CategoryFactory(name=n) for n in ("Invoices", "Printers", "Log-in")]
    for i in range(42):
        created = now - timedelta(days=i % 20, hours=(i * 5) % 9 + 1)
        agent = agents[i % len(agents)]
        with at(created):
            ticket = TicketFactory(
                subject=f"Request {i}: {('invoice', 'paper jam', 'password')[i % 3]}",
                group=groups[i % 2],
                category=categories[i % 3],
                channel=("email", "web", "portal", "phone")[i % 4],
                tags=[("billing", "printer", "access")[i % 3]] + (["urgent"] if i % 5 == 0 else []),
                priority=1 + i % 4,
            )
        steps = [
            (timedelta(minutes=20 + 7 * i), "assign"),
            (timedelta(minutes=50 + 9 * i), "reply"),
        ]
        if i % 4 == 0:
            steps += [
                (timedelta(hours=2), "move"),
                (timedelta(hours=3), "back"),
                (timedelta(hours=4), "move"),
            ]
        if i % 3 != 0:
            steps.append((timedelta(hours=6 + i % 7), "resolve"))
        for offset, step in sorted(steps):
            with at(created + offset):
                ticket.refresh_from_db()
                if step == "assign":
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, assignee=agent
                    )
                elif step == "reply":
                    add_reply(ticket, agent)
                elif step in ("move", "back"):
                    services.ticket_update(
                        ticket=ticket,
                        actor=agent,
                        expected_version=None,
                        group=groups[(i + (step == "move")) % 2],
                    )
                else:
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, status="resolved"
                    )
        if i % 3 != 0 and i % 2 == 0:
            # Customers rate one solved ticket in three, now and then with words.
            good = i % 8 != 2
            comment = (
                (
                    "Sorted in minutes, thank you!"
                    if good
                    else "Took three tries to reach the right team."
                )
                if i % 4 == 2
                else ""
            )
            moment = created + timedelta(hours=7 + i % 7)
            Rating.objects.create(
                tenant=tenant,
                ticket=ticket,
                solved_at=moment - timedelta(hours=1),
                scale="five",
                score=5 if good else 2,
                is_good=good,
                comment=comment,
                assignee=agent,
                group=ticket.group,
                category=ticket.category,
                created_at=moment,
                updated_at=moment,
            )
    for agent, capacity in zip(agents, (4, 6, 8), strict=False):
        AgentStatus.objects.create(
            tenant=tenant, user=agent, capacity=capacity, availability="online"
        )
    facts_rebuild()
    page_facts_rebuild()
    load_snapshot_take()


def test_a_manager_reads_the_report_pages_on_a_desktop_and_a_phone(
    page, log_in, live_server, tenant, tmp_path
):
    shots = _shots(tmp_path)
    manager = UserFactory(first_name="Mara")
    Membership.objects.create(tenant=tenant, user=manager, role=Membership.Role.MANAGER)
    agents = []
    for name in ("Ada", "Ben", "Chloé"):
        user = UserFactory(first_name=name, last_name="Support")
        Membership.objects.create(tenant=tenant, user=user, role=Membership.Role.AGENT)
        agents.append(user)
    with tenant_context(tenant):
        _history(tenant, agents)
    log_in(manager)
    page.goto(f"{live_server.url}/{tenant.slug}/reports/channels/")
    expect(page.get_by_role("heading", name="Channels and hours", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Reports")
    expect(nav.get_by_role("link", name="Channels and hours")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("table", name="Tickets created per weekday")).to_be_visible()

    for name, heading in (
        ("channels", "Channels and hours"),
        ("stalls", "Where tickets stall"),
        ("efficiency", "Efficiency"),
        ("load", "Load"),
        ("quality", "Quality"),
        ("causes", "Root causes"),
    ):
        page.set_viewport_size({"width": 1366, "height": 768})
        page.goto(f"{live_server.url}/{tenant.slug}/reports/{name}/")
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        page.screenshot(path=shots / f"{name}-desktop.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"the {name} report is {wide}px wide on a phone"
        page.screenshot(path=shots / f"{name}-phone.png", full_page=True)

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/{tenant.slug}/reports/stalls/")
    expect(page.get_by_role("cell", name="Billing").first).to_be_visible()
    # Moves made later than now are not in the period: the newest bouncer
    # listed is ticket 4 of the history (number 5).
    bounced = page.get_by_role("region", name="Tickets that bounced")
    bounced.get_by_role("link", name=f"{tenant.ticket_prefix}-5", exact=True).click()
    expect(page.get_by_role("heading", name="Request 4: paper jam")).to_be_visible()
