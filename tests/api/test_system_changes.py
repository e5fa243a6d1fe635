"""An API client's read stays good through a deadline change a system
makes, and is stale after an assignment, as after an agent's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.tenancy import tenant_context
from tests.api.conftest import make_tickets, tickets_url
from tickets import services
from tickets.models import Ticket

pytestmark = pytest.mark.usefixtures(
    "dummy_extensions"
)  # registers "sla" ("dispatch" is the real app)


def test_a_patch_on_a_read_from_before_an_sla_deadline_change_goes_through(tenant, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    read = api(write_key).get(tickets_url(number=ticket.number)).json()
    with tenant_context(tenant):
        services.ticket_system_update(
            ticket=ticket,
            source="sla",
            reason="Standard policy",
            due_at=timezone.now() + timedelta(hours=4),
        )
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": read["version"], "priority": "low"}
    )
    assert response.status_code == 200
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
    assert ticket.priority == Ticket.Priority.LOW and ticket.due_at is not None


def test_a_patch_on_a_read_from_before_a_dispatch_assignment_is_stale(
    tenant, agent, write_key, api
):
    [ticket] = make_tickets(tenant, 1)
    read = api(write_key).get(tickets_url(number=ticket.number)).json()
    with tenant_context(tenant):
        services.ticket_system_update(
            ticket=ticket, source="dispatch", reason="Round robin", assignee=agent
        )
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": read["version"], "priority": "low"}
    )
    assert response.status_code == 409
    assert response.json()["changed_by"] == "Routing"
