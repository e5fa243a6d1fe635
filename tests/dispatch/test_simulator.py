"""The simulator replays recorded tickets through a draft rule set: counts
per group beside what happened, named agents, and not one write."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dispatch.models import RoutingRule
from dispatch.simulator import simulate
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets.models import Ticket

from .conftest import make_agents, make_group

pytestmark = pytest.mark.django_db


def test_a_draft_rule_set_is_replayed_over_history_without_a_write(in_tenant):
    agent = make_agents(in_tenant, 1)[0]
    billing, support = (
        make_group(in_tenant, [], name="Billing"),
        make_group(in_tenant, [], name="Support"),
    )  # noqa: E501
    for n in range(3):
        TicketFactory(subject=f"Invoice {n} wrong", group=support)
    TicketFactory(subject="Printer broken", group=support)
    TicketFactory(subject="Old invoice", group=support)
    Ticket.objects.filter(subject="Old invoice").update(
        created_at=timezone.now() - timedelta(days=40)
    )
    drafts = [
        RoutingRule(name="Invoices", conditions=[{"field": "subject", "value": ["invoice"]}],
                    actions={"group": billing.pk}, match="all", is_enabled=True),
        RoutingRule(name="Printers", conditions=[{"field": "body", "value": ["zzz"]}, {"field": "subject", "value": ["printer"]}],  # noqa: E501
                    actions={"assignee": agent.pk}, match="any", is_enabled=True),
    ]  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        result = simulate(rules=drafts, days=30)
    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert not writes
    assert result.tickets == 4
    assert result.would_group == {billing.pk: 3, support.pk: 1}
    assert result.actual_group == {support.pk: 4}
    assert result.changed_group == 3
    assert result.would_agent == {agent.pk: 1}
    assert result.rule_matches == {"Invoices": 3, "Printers": 1}
    assert not RoutingRule.objects.exists()


def test_the_editor_simulates_a_draft_before_it_is_saved(tenant, admin_user, login):
    with tenant_context(tenant):
        billing = make_group(tenant, [], name="Billing")
        TicketFactory(subject="Invoice missing")
        TicketFactory(subject="Hello")
    response = login(admin_user).post(
        reverse("dispatch:rule_new", args=[tenant.slug]),
        {"name": "Invoices", "match": "all", "cond_subject": "invoice",
         "act_group": str(billing.pk), "simulate_days": "7", "simulate": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Simulation: 2 tickets of the last 7 days" in response.text
    assert "1 would land in another group" in response.text
    with tenant_context(tenant):
        assert not RoutingRule.objects.exists()
