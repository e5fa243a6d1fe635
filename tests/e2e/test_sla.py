"""SLA as agents see it: amber and red badges with words and a live
countdown on the queue and the board, and the ticket page's SLA panel."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from sla.models import Calendar
from sla.services.timers import sla_recompute
from tests.factories import TicketFactory
from tests.sla.conftest import make_policy
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/shots/sla"  # noqa: S108 - screenshots to look at, nothing read back


def _desk(tenant, agent):
    with tenant_context(tenant):
        always = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        make_policy(always, hours=(1, 2, 8))
        tickets = {}
        for subject, minutes_ago in (
            ("Fresh request", 0),
            ("Nearly late", 52),
            ("Too late", 90),
        ):
            ticket = TicketFactory(subject=subject, assignee=agent)
            Ticket.objects.filter(pk=ticket.pk).update(
                created_at=ticket.created_at - timedelta(minutes=minutes_ago)
            )
            sla_recompute(ticket=ticket)
            tickets[subject] = ticket
        return tickets


def test_the_queue_shows_amber_and_red_with_words_and_a_live_countdown(
    page, log_in, live_server, tenant, agent
):
    tickets = _desk(tenant, agent)
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/mine/")

    def badge(subject):
        return page.locator("tr", has_text=subject).locator(".sla-state")

    expect(badge("Fresh request")).to_have_text(
        re.compile(r"On track · due in 59m|On track · due in 1h")
    )
    expect(badge("Nearly late")).to_have_text(re.compile(r"At risk · due in \d+m"))
    expect(badge("Nearly late")).to_have_class(re.compile("sla-at_risk"))
    expect(badge("Too late")).to_have_text(re.compile(r"Breached · breached 3\dm ago"))
    expect(badge("Too late")).to_have_class(re.compile("sla-breached"))
    # Colour as well as words: amber and red backgrounds.
    amber = badge("Nearly late").evaluate("e => getComputedStyle(e).backgroundColor")
    red = badge("Too late").evaluate("e => getComputedStyle(e).backgroundColor")
    assert amber != red
    # The countdown is live: the script rewrites it from its datetime.
    countdown = badge("Nearly late").locator("time[data-countdown]")
    countdown.evaluate("e => { e.textContent = 'stale'; }")
    page.evaluate("document.dispatchEvent(new Event('DOMContentLoaded'))")
    expect(countdown).to_have_text(re.compile(r"due in \d+m"))
    page.screenshot(path=f"{SHOTS}/queue-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/queue-phone.png", full_page=True)

    # At a glance on Mine: how many at risk and breached, each a filter.
    page.set_viewport_size({"width": 1366, "height": 768})
    glance = page.locator(".sla-glance")
    expect(glance.get_by_role("link", name="1 at risk")).to_have_class(re.compile("sla-at_risk"))
    glance.get_by_role("link", name="1 breached").click()
    expect(page.locator("tbody tr", has_text="Too late")).to_be_visible()
    expect(page.locator("tbody tr", has_text="Nearly late")).to_have_count(0)
    expect(page.get_by_label("SLA", exact=True)).to_have_value("breached")

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/{tenant.slug}/tickets/{tickets['Too late'].number}/")
    panel = page.locator(".sla-panel")
    expect(panel).to_contain_text("First response")
    expect(panel).to_contain_text("Breached")
    expect(panel).to_contain_text("1h target, counted around the clock (24/7)")
    page.screenshot(path=f"{SHOTS}/ticket-desktop.png", full_page=True)

    page.goto(f"{live_server.url}/{tenant.slug}/board/")
    expect(
        page.locator(".card-ticket", has_text="Too late").locator(".sla-breached")
    ).to_be_visible()


def test_an_admin_edits_a_policy_and_asks_what_if(page, log_in, live_server, tenant, admin_user):
    tenant.time_zone = "Europe/Berlin"
    tenant.save()
    with tenant_context(tenant):
        berlin = Calendar.objects.create(
            tenant=tenant,
            name="Berlin office",
            time_zone="Europe/Berlin",
            hours={str(d): [["09:00", "12:00"], ["13:00", "17:00"]] for d in range(5)},
            holiday_country="DE",
        )
        policy = make_policy(berlin, name="Office hours", hours=(4, 2, 16))
    log_in(admin_user)
    page.goto(f"{live_server.url}/{tenant.slug}/settings/sla/policies/{policy.pk}/")
    page.get_by_label("First response, normal priority").fill("0m")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".error").first).to_contain_text("A target of 0 can never be met")
    page.screenshot(path=f"{SHOTS}/policy-error-desktop.png", full_page=True)
    page.get_by_label("First response, normal priority").fill("4h")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("heading", name="SLA", exact=True)).to_be_visible()

    page.goto(f"{live_server.url}/{tenant.slug}/settings/sla/what-if/")
    page.get_by_label("Created at (your help desk's time zone)").fill("2026-05-22T16:30")
    page.get_by_role("button", name="Show deadlines").click()
    expect(page.locator(".sla-targets")).to_contain_text("Tue 26 May 2026, 13:30")
    page.screenshot(path=f"{SHOTS}/what-if-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/{tenant.slug}/settings/sla/policies/{policy.pk}/")
    page.screenshot(path=f"{SHOTS}/policy-phone.png", full_page=True)
    page.locator(".sla-target-table").screenshot(path=f"{SHOTS}/policy-targets-phone.png")
    expect(page.get_by_text("Resolution, urgent priority")).to_be_visible()
