"""Automatic escalation on an SLA breach: a group that says so hands the
ticket to its next tier with a reason and a handover note, once per breach."""

from unittest import mock

import pytest
from django.db import transaction

from dispatch.models import BreachEscalation
from dispatch.services.breach import ticket_escalate_on_breach
from sla.services.alerts import BREACH_EVENT
from tests.factories import TicketFactory
from tickets.events import event_record
from tickets.models import Event

from .conftest import handle, make_agents, make_group

pytestmark = pytest.mark.django_db


def breach(ticket, target="resolution", cycle=1):
    return event_record(
        ticket=ticket, kind=BREACH_EVENT, actor_system="sla", reason="Resolution target breached",
        is_public=False, new_value={"target": target, "label": "Resolution", "cycle": cycle},
    )  # fmt: skip


@pytest.fixture
def tiers(in_tenant):
    l1_agent, l2_agent = make_agents(in_tenant, 2)
    l2 = make_group(in_tenant, [l2_agent], name="L2")
    l1 = make_group(in_tenant, [l1_agent], name="L1", escalation_group=l2, escalate_on_breach=True)
    return l1, l2, l1_agent, l2_agent


def test_a_breach_moves_the_ticket_to_the_next_tier_once(tiers):
    l1, l2, l1_agent, l2_agent = tiers
    ticket = TicketFactory(subject="Down", group=l1, assignee=l1_agent)
    handle(ticket)
    event = breach(ticket)
    with mock.patch("dispatch.tasks.route_ticket.delay") as route:
        with transaction.atomic():
            handle(ticket)
    ticket.refresh_from_db()
    assert ticket.group == l2 and ticket.assignee is None
    escalated = Event.objects.get(ticket=ticket, kind="dispatch_escalated")
    assert escalated.actor_system == "dispatch" and "Resolution target breached" in escalated.reason
    note = Event.objects.get(ticket=ticket, kind="dispatch_handover")
    assert "Escalated to L2" in note.new_value["note"] and "L1" in note.new_value["note"]
    assert route.call_count in (0, 1)  # the new tier's mode takes over after the commit
    # The same breach again (a handler run twice, a replayed event): nothing more.
    assert ticket_escalate_on_breach(event=event) is None
    assert Event.objects.filter(ticket=ticket, kind="dispatch_escalated").count() == 1
    assert BreachEscalation.objects.filter(ticket=ticket).count() == 1


def test_a_group_without_escalate_on_breach_keeps_the_ticket(in_tenant):
    agent, other = make_agents(in_tenant, 2)
    l2 = make_group(in_tenant, [other], name="L2")
    l1 = make_group(in_tenant, [agent], name="L1", escalation_group=l2)
    ticket = TicketFactory(subject="Down", group=l1, assignee=agent)
    breach(ticket)
    handle(ticket)
    ticket.refresh_from_db()
    assert ticket.group == l1 and ticket.assignee == agent
    assert not Event.objects.filter(ticket=ticket, kind="dispatch_escalated").exists()


def test_escalate_on_breach_needs_a_next_tier(in_tenant, admin_user):
    from django.core.exceptions import ValidationError

    from dispatch.services import group_dispatch_save

    group = make_group(in_tenant, [], name="Lonely")
    with pytest.raises(ValidationError, match="next tier"):
        group_dispatch_save(
            actor=admin_user, group=group, escalate_on_breach=True, escalation_group=None
        )
