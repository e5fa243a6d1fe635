"""The next promise on the customer portal's ticket page (sla/portal.py)."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import dateformat, timezone

from helpdesk.tenancy import tenant_context
from sla.models import Calendar, TargetKind, TicketTarget
from tests.factories import ContactFactory, TicketFactory, add_reply
from tickets.models import PortalSettings, Ticket
from tickets.portal.services import portal_link_token
from tickets.services import tickets as ticket_services

from .conftest import make_policy, run_handlers

# Words of the agents' side that must never reach the customer.
INTERNAL = ("Standard", "breach", "at risk", "First response", "Resolution", "%", "SLA")


def _promise(client, path) -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'<p class="portal-promise">(.*?)</p>', page.content.decode(), re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def _head(client, path) -> str:
    html = client.get(path).content.decode()
    return html[html.index('class="card portal-head"') : html.index('id="timeline-heading"')]


def test_the_customer_reads_the_next_promise_in_plain_words(client, tenant, agent):
    tenant.time_zone = "America/New_York"
    tenant.save(update_fields=["time_zone"])
    with tenant_context(tenant):
        always = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        make_policy(always, hours=(30, 2, 200))  # first reply within 30 hours
        ticket = TicketFactory(
            requester=ContactFactory(email="pat@example.com"), channel=Ticket.Channel.EMAIL
        )
        run_handlers()
        token = portal_link_token(ticket=ticket, email="pat@example.com")
        first = TicketTarget.objects.get(ticket=ticket, kind=TargetKind.FIRST_RESPONSE)
    path = reverse("portal:ticket", args=[tenant.slug, ticket.number, token])
    local = timezone.localtime(first.due_at, ZoneInfo("America/New_York"))
    assert _promise(client, path) == f"We aim to reply by {dateformat.format(local, 'D H:i T')}."
    head = _head(client, path)
    assert not any(word in head for word in INTERNAL)

    # Replied to: the next promise is the solution.
    with tenant_context(tenant):
        add_reply(ticket, agent)
        run_handlers()
        resolution = TicketTarget.objects.get(ticket=ticket, kind=TargetKind.RESOLUTION)
    local = timezone.localtime(resolution.due_at, ZoneInfo("America/New_York"))
    # More than a week away: the date is named too.
    assert _promise(client, path) == (
        f"We aim to solve this by {dateformat.format(local, 'D j M, H:i T')}."
    )

    # Waiting for the customer: the clock is paused, and the page says so.
    with tenant_context(tenant):
        ticket.refresh_from_db()
        ticket_services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.PENDING, expected_version=None
        )
        run_handlers()
    assert _promise(client, path) == "Paused while we wait for your reply."
    # In the tenant's language.
    with tenant_context(tenant):
        german = PortalSettings.objects.create(tenant=tenant, language="de")
    assert _promise(client, path) == "Pausiert, solange wir auf Ihre Antwort warten."
    with tenant_context(tenant):
        german.delete()

    # Back in progress and late: no time in the past, no word of a breach.
    with tenant_context(tenant):
        ticket.refresh_from_db()
        ticket_services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.OPEN, expected_version=None
        )
        run_handlers()
        TicketTarget.objects.filter(ticket=ticket).update(
            due_at=timezone.now() - timedelta(hours=1), state=TicketTarget.State.BREACHED
        )
    assert _promise(client, path) == "We are working on it and will solve it as soon as we can."
    assert not any(word in _head(client, path) for word in INTERNAL)

    # Solved: nothing more is promised.
    with tenant_context(tenant):
        ticket.refresh_from_db()
        ticket_services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.RESOLVED, expected_version=None
        )
    assert _promise(client, path) == ""


def test_a_ticket_without_targets_promises_nothing(client, tenant):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="sam@example.com"))
        token = portal_link_token(ticket=ticket, email="sam@example.com")
    path = reverse("portal:ticket", args=[tenant.slug, ticket.number, token])
    assert _promise(client, path) == ""
