"""Numbers in query strings and forms are read one strict way: anything but
ASCII digits ("²", "٣", 5,000 digits) is treated as absent, never a 500."""

import pytest
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory

HOSTILE = ["²", "٣", "9" * 5000, "-1", "1e3", " 7", "0x10"]


@pytest.mark.parametrize("value", HOSTILE)
def test_pages_ignore_numbers_that_are_not_plain_digits(tenant, admin_user, login, value):
    with tenant_context(tenant):
        ticket = TicketFactory()
    client = login(admin_user)
    pages = [
        (reverse("tickets:list", args=[tenant.slug]), {"before": value}),
        (reverse("tickets:queue", args=[tenant.slug, "all"]), {"seen": value}),
        (reverse("tickets:search", args=[tenant.slug]), {"q": "printer", "limit": value}),
        (reverse("tickets:quarantine", args=[tenant.slug]), {"before": value}),
        (reverse("tickets:state", args=[tenant.slug, ticket.number]), {"v": value, "e": value}),
    ]
    for url, params in pages:
        response = client.get(url, params)
        assert response.status_code in (200, 204), (url, response.status_code)


@pytest.mark.parametrize("value", HOSTILE)
def test_bulk_numbers_that_are_not_plain_digits_change_nothing(tenant, agent, login, value):
    url = reverse("tickets:queue_bulk", args=[tenant.slug, "mine"])
    response = login(agent).post(
        url, {"numbers": [value], "action": "status", "status": "open"}, follow=True
    )
    assert response.status_code == 200
    assert "Nothing changed" in response.content.decode()
