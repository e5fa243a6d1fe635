"""A signed-in customer's list of requests, a page at a time."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets.models import Organization
from tickets.portal import selectors
from tickets.portal.services import portal_link_token
from tickets.portal.views import SESSION_KEY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pat_and_tickets(tenant):
    """Pat with 21 tickets of their own, one of a colleague's (shared by
    their organisation), one they are copied on and were mailed about, one
    they are copied on but never mailed, and a stranger's."""
    with tenant_context(tenant):
        acme = Organization.objects.create(
            tenant=tenant, name="Acme Corp", portal_shares_tickets=True
        )
        pat = ContactFactory(email="pat@example.com", organization=acme)
        colleague = ContactFactory(email="lee@example.com", organization=acme)
        stranger = ContactFactory(email="kim@example.com")
        for i in range(10):
            TicketFactory(requester=pat, subject=f"Own {i:02d}")
        TicketFactory(requester=colleague, subject="Colleague ticket")
        copied = TicketFactory(requester=stranger, subject="Copied", cc_emails=[pat.email])
        portal_link_token(ticket=copied, email=pat.email)
        TicketFactory(requester=stranger, subject="Copied, not mailed", cc_emails=[pat.email])
        TicketFactory(requester=stranger, subject="Stranger's")
        for i in range(10, 21):
            TicketFactory(requester=pat, subject=f"Own {i:02d}")
    return pat


def _signed_in(client, tenant, contact):
    session = client.session
    session[SESSION_KEY.format(tenant_id=tenant.pk)] = contact.pk
    session.save()
    return client


def _subjects(response) -> list[str]:
    return re.findall(r'/tickets/\d+/" dir="auto">([^<]+)</a>', response.content.decode())


def _link(response, label) -> str | None:
    found = re.search(rf'href="(\?(?:before|after)=\d+)"[^>]*>{label}', response.content.decode())
    return found.group(1) if found else None


def test_the_list_pages_through_older_and_newer(client, tenant, pat_and_tickets, monkeypatch):
    monkeypatch.setattr(selectors, "MY_TICKETS_PAGE_SIZE", 10)
    _signed_in(client, tenant, pat_and_tickets)
    url = reverse("portal:my_tickets", args=[tenant.slug])
    first = client.get(url)
    assert _link(first, "← Newer") is None
    pages, response = [_subjects(first)], first
    while older := _link(response, "Older"):
        response = client.get(url + older)
        pages.append(_subjects(response))
    assert [len(page) for page in pages] == [10, 10, 3]
    seen = [subject for page in pages for subject in page]
    expected = [f"Own {i:02d}" for i in range(20, 9, -1)] + ["Copied", "Colleague ticket"]
    expected += [f"Own {i:02d}" for i in range(9, -1, -1)]
    assert seen == expected  # newest first, each once
    # And back: "Newer" from the last page gives the middle page again.
    middle = client.get(url + _link(response, "← Newer"))
    assert _subjects(middle) == pages[1]
    assert _subjects(client.get(url + _link(middle, "← Newer"))) == pages[0]
    # A cursor that is no number is the first page, not an error.
    assert _subjects(client.get(url + "?before=x")) == pages[0]


def test_the_list_costs_the_same_queries_whatever_the_page_size(
    client, tenant, pat_and_tickets, monkeypatch
):
    _signed_in(client, tenant, pat_and_tickets)
    url = reverse("portal:my_tickets", args=[tenant.slug])
    counts = {}
    for size in (3, 20):
        monkeypatch.setattr(selectors, "MY_TICKETS_PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert len(_subjects(response)) == size
        counts[size] = len(queries)
    assert counts[3] == counts[20] <= 12
