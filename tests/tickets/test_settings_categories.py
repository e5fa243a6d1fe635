"""Settings, Categories: two levels, ordered, archived (tickets keep theirs)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import selectors, services
from tickets.forms import TicketUpdateForm


def _labels(tenant, user):
    with tenant_context(tenant):
        return [label for _, label in selectors.tenant_choices(user=user).categories]


def test_admin_makes_two_levels_and_orders_them(tenant, admin_user, login):
    client = login(admin_user)
    url = reverse("tickets:categories", args=[tenant.slug])
    client.post(url, {"name": "Software"})
    client.post(url, {"name": "Hardware"})
    with tenant_context(tenant):
        hardware = selectors.Category.objects.get(name="Hardware")
    client.post(url, {"name": "Printers", "parent": hardware.pk})
    client.post(url, {"name": "Laptops", "parent": hardware.pk})
    # In the order made, not by name.
    assert _labels(tenant, admin_user) == [
        "Software",
        "Hardware",
        "Hardware › Printers",
        "Hardware › Laptops",
    ]
    change = reverse("tickets:category_change", args=[tenant.slug, hardware.pk])
    client.post(change, {"move": "up"})
    assert _labels(tenant, admin_user)[0] == "Hardware"
    page = client.get(reverse("tickets:new", args=[tenant.slug])).content.decode()
    assert page.index("Hardware › Printers") < page.index(">Software<")
    with tenant_context(tenant):
        printers = selectors.Category.objects.get(name="Printers")
        with pytest.raises(ValidationError, match="two levels"):
            services.category_create(actor=admin_user, name="Ink", parent=printers)
        with pytest.raises(ValidationError, match="already"):
            services.category_create(actor=admin_user, name="Printers", parent=hardware)


def test_an_archived_category_leaves_the_lists_and_stays_on_its_tickets(
    tenant, admin_user, agent, login
):
    with tenant_context(tenant):
        old = services.category_create(actor=admin_user, name="Fax")
        ticket = TicketFactory(category=old)
    client = login(admin_user)
    client.post(reverse("tickets:category_change", args=[tenant.slug, old.pk]), {"archived": "1"})
    assert "Fax" not in _labels(tenant, agent)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.category == old
        form = TicketUpdateForm.for_ticket(ticket, choices=selectors.tenant_choices(user=agent))
        assert (old.pk, "Fax (archived)") in form.fields["category"].choices
        assert AuditEntry.objects.filter(action="category.archive").exists()
    client.post(reverse("tickets:category_change", args=[tenant.slug, old.pk]), {"name": "Faxes"})
    client.post(reverse("tickets:category_change", args=[tenant.slug, old.pk]), {"archived": "0"})
    assert "Faxes" in _labels(tenant, agent)
