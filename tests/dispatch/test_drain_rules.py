"""A drain (freed room, the sweep) never hands out a ticket before its
routing rules have run: it runs them itself when they keep the ticket in
the group, and leaves the ticket to its own routing when they would move
it, send it to review or name an agent. The sweep routes, rules first,
tickets whose created event was lost."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import services
from dispatch.models import RoutingDecision, RoutingRule
from tests.factories import TicketFactory
from tickets.models import Ticket

from .conftest import handle, make_agents, make_group

pytestmark = pytest.mark.django_db


def rule(tenant, position, subject_word, actions):
    return RoutingRule.objects.create(
        tenant=tenant, name=f"Rule {position}", position=position,
        conditions=[{"field": "subject", "value": [subject_word]}], actions=actions,
    )  # fmt: skip


@pytest.fixture
def two_groups(in_tenant):
    first_agent, other_agent = make_agents(in_tenant, 2)
    first = make_group(in_tenant, [first_agent], name="Front desk")
    other = make_group(in_tenant, [other_agent], name="Billing")
    return first, first_agent, other, other_agent


def test_a_drain_never_hands_out_a_new_ticket_its_rules_send_elsewhere(in_tenant, two_groups):
    first, first_agent, other, other_agent = two_groups
    rule(in_tenant, 1, "refund", {"group": other.pk})
    ticket = TicketFactory(subject="refund please", group=first)
    # Before the created event's handler has run: room frees up, the sweep passes.
    assert services.group_drain(group_id=first.pk) == 0
    services.agent_groups_drain(user_id=first_agent.pk)
    services.waiting_sweep()
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.group == first
    assert not RoutingDecision.objects.filter(ticket=ticket).exists()
    handle(ticket)
    ticket.refresh_from_db()
    assert ticket.group == other and ticket.assignee == other_agent


def test_a_drain_leaves_review_and_named_agent_rules_to_the_tickets_own_routing(
    in_tenant, two_groups
):
    first, first_agent, other, other_agent = two_groups
    rule(in_tenant, 1, "tricky", {"review": True})
    rule(in_tenant, 2, "boss", {"assignee": other_agent.pk})
    tricky = TicketFactory(subject="tricky one", group=first)
    boss = TicketFactory(subject="boss here", group=first)
    assert services.group_drain(group_id=first.pk) == 0
    handle(tricky, boss)
    tricky.refresh_from_db(), boss.refresh_from_db()
    assert boss.assignee == other_agent
    assert tricky.assignee is None
    # Waiting for a dispatcher: freed room does not take it from them.
    assert services.group_drain(group_id=first.pk) == 0
    tricky.refresh_from_db()
    assert tricky.assignee is None


def test_a_drain_runs_rules_that_keep_the_ticket_in_the_group_once(
    in_tenant, two_groups, django_capture_on_commit_callbacks
):
    first, first_agent, _, _ = two_groups
    urgent = rule(in_tenant, 1, "outage", {"priority": 4, "add_tags": ["outage"]})
    ticket = TicketFactory(subject="outage now", group=first, priority=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.group_drain(group_id=first.pk) == 1
    ticket.refresh_from_db()
    assert ticket.assignee == first_agent
    assert (ticket.priority, ticket.tags) == (4, ["outage"])
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.outcome == "assigned" and [r["name"] for r in decision.rules] == ["Rule 1"]
    # The created event's handler comes late: the ticket is routed already.
    with django_capture_on_commit_callbacks(execute=True):
        handle(ticket)
    assert RoutingDecision.objects.filter(ticket=ticket).count() == 1
    urgent.refresh_from_db()
    assert urgent.match_count == 1


def test_the_sweep_runs_the_rules_of_a_ticket_whose_created_event_was_lost(in_tenant, two_groups):
    first, _, other, other_agent = two_groups
    rule(in_tenant, 1, "refund", {"group": other.pk})
    lost = TicketFactory(subject="refund please", group=first)
    no_group = TicketFactory(subject="refund too", group=None)
    young = TicketFactory(subject="refund later", group=None)
    long_ago = timezone.now() - timedelta(minutes=5)
    Ticket.objects.filter(pk__in=[lost.pk, no_group.pk]).update(created_at=long_ago)
    services.waiting_sweep()
    for ticket in (lost, no_group):
        ticket.refresh_from_db()
        assert ticket.group == other and ticket.assignee == other_agent
        decision = RoutingDecision.objects.get(ticket=ticket)
        assert decision.trigger == "sweep" and decision.rules[0]["name"] == "Rule 1"
    # A ticket just made gets its own handler's turn first.
    young.refresh_from_db()
    assert young.group is None
    assert not RoutingDecision.objects.filter(ticket=young).exists()


def test_new_tickets_of_a_group_go_out_together_with_the_first_handler(in_tenant, two_groups):
    first, first_agent, other, other_agent = two_groups
    second_agent = make_agents(in_tenant, 1)[0]
    from helpdesk.models import SupportGroupMember

    SupportGroupMember.objects.create(tenant=in_tenant, group=first, user=second_agent)
    rule(in_tenant, 1, "refund", {"group": other.pk})
    burst = [TicketFactory(subject=f"printer {n}", group=first) for n in range(4)]
    refund = TicketFactory(subject="refund please", group=first)
    handle(burst[0])
    for ticket in burst:
        ticket.refresh_from_db()
    # One drain for the group handed out every new ticket the rules keep there.
    assert {t.assignee for t in burst} == {first_agent, second_agent}
    assert all(RoutingDecision.objects.get(ticket=t).trigger == "created" for t in burst)
    refund.refresh_from_db()
    assert refund.assignee is None and refund.group == first
    handle(*burst[1:], refund)
    # The later handlers find their tickets routed; the refund goes by its rule.
    assert RoutingDecision.objects.filter(ticket__in=burst).count() == 4
    refund.refresh_from_db()
    assert refund.group == other and refund.assignee == other_agent
