"""The leader of a ticket's group hears of a bad rating and of a breached
SLA target (the assignee hears of both from the portal and SLA)."""

from dispatch.handlers import tell_group_leader
from helpdesk.models import Notification
from tests.dispatch.conftest import make_agents, make_group
from tests.factories import TicketFactory
from tickets import events


def _ticket(tenant, assignee, leader):
    group = make_group(tenant, {assignee, leader}, name="Billing", leader=leader)
    return TicketFactory(subject="Refund twice", group=group, assignee=assignee)


def _event(ticket, kind, **new_value):
    return events.event_record(ticket=ticket, kind=kind, new_value=new_value)


def test_a_bad_rating_and_a_breach_reach_the_groups_leader_once_each(in_tenant):
    assignee, leader = make_agents(in_tenant, 2)
    ticket = _ticket(in_tenant, assignee, leader)
    bad = _event(ticket, "rated", is_good=False, score=1)
    breach = _event(ticket, "sla_breached", target="first_response", label="First response")
    for event in (bad, breach, bad):
        tell_group_leader(event)
    texts = sorted(Notification.objects.filter(user=leader).values_list("text", flat=True))
    assert texts == [
        f"Bad rating in your group on {ticket.reference}: Refund twice",
        f"SLA target breached in your group on {ticket.reference}: Refund twice",
    ]


def test_a_good_rating_does_not_reach_the_leader(in_tenant):
    assignee, leader = make_agents(in_tenant, 2)
    ticket = _ticket(in_tenant, assignee, leader)
    good = _event(ticket, "rated", is_good=True, score=5)
    assert [h.name for h in events.handlers_for(good) if h.name.startswith("dispatch.")] == []


def test_a_leader_who_has_the_ticket_is_not_told_twice(in_tenant):
    (leader,) = make_agents(in_tenant, 1)
    ticket = _ticket(in_tenant, leader, leader)
    tell_group_leader(_event(ticket, "rated", is_good=False, score=1))
    assert not Notification.objects.filter(user=leader, text__startswith="Bad rating").exists()
