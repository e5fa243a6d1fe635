"""Copies of one mail (sent to two of our addresses, or passed on by a
relay) are shown on the ticket they joined: "also received via"."""

import re
from datetime import datetime

import pytest
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tests.tickets.test_intake import _post, _process_all, mail
from tickets import services
from tickets.models import InboundEmail, Ticket


def _relayed(raw: bytes, mx: str, address: str) -> bytes:
    """The copy a mailbox gets: its relay's headers on top of the same mail."""
    return (
        f"Received: from {mx} by mx.acme.example; Tue, 4 Mar 2025 10:00:00 +0000\r\n"
        f"Delivered-To: {address}\r\n"
    ).encode() + raw


@pytest.fixture
def sales(tenant):
    with tenant_context(tenant):
        box, token = services.mailbox_create(name="Sales", address="sales@acme.example")
    box.token = token
    return box


def test_a_ticket_shows_where_else_its_mail_arrived(client, tenant, mailbox, sales, agent, login):
    raw = mail(subject="Quote and a support question")
    assert (
        _post(client, tenant, mailbox, _relayed(raw, "mx1.example", mailbox.address)).status_code
        == 202
    )
    _process_all(tenant)
    assert (
        _post(client, tenant, sales, _relayed(raw, "mx2.example", sales.address)).status_code == 202
    )
    _process_all(tenant)
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        copy = InboundEmail.objects.get(mailbox=sales)
        assert ticket.messages.count() == 1 and copy.copy_of_id is not None
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    text = page.content.decode()
    assert text.count("Also received via") == 1
    line = re.search(r"Also received via (\S+) on <time datetime=\"([^\"]+)\">", text)
    assert line.group(1) == "sales@acme.example"
    assert datetime.fromisoformat(line.group(2)) == copy.received_at


def test_ticket_page_queries_do_not_grow_with_copies(
    client,
    tenant,
    mailbox,
    sales,
    agent,
    login,
    django_assert_num_queries,
    django_assert_max_num_queries,
):
    def send_twice(subject):
        raw = mail(subject=subject)
        _post(client, tenant, mailbox, _relayed(raw, "mx1.example", mailbox.address))
        _process_all(tenant)
        _post(client, tenant, sales, _relayed(raw, "mx2.example", sales.address))
        _process_all(tenant)

    send_twice("Printer on fire")
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
    url = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    viewer = login(agent)
    viewer.get(url)
    with django_assert_max_num_queries(50) as one:
        viewer.get(url)
    # Read now: each request the test client makes clears the query log.
    one_message = len(one.captured_queries)
    for n in range(4):
        send_twice(f"Re: [ACME-{ticket.number}] still on fire ({n})")
    with django_assert_num_queries(one_message):
        page = viewer.get(url)
    assert page.content.decode().count("Also received via sales@acme.example") == 5


def test_a_ticket_without_copies_says_nothing_of_them(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory()
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert "Also received via" not in page.content.decode()
