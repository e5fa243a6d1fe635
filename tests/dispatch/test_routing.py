"""Routing end to end through the services and the ticket events: rules
applied, each strategy, each mode, capacity, waiting and freed room,
escalation, and what every decision records."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from dispatch import services
from dispatch.models import AgentStatus, RoutingDecision, RoutingRule
from helpdesk.models import TenantWork
from tests.factories import CategoryFactory, ContactFactory, TicketFactory
from tickets import services as ticket_services
from tickets.models import Event, Message, Organization, Ticket

from .conftest import handle, make_agents, make_group

pytestmark = pytest.mark.django_db


def rule(position, conditions, actions, **kw):
    from helpdesk.tenancy import current_tenant

    return RoutingRule.objects.create(
        tenant=current_tenant(), name=f"Rule {position}", position=position,
        conditions=conditions, actions=actions, **kw,
    )  # fmt: skip


def new_ticket(**kw):
    ticket = TicketFactory(**kw)
    handle(ticket)
    ticket.refresh_from_db()
    return ticket


def test_a_new_ticket_is_routed_by_the_rules_and_assigned_by_the_strategy(
    team, django_capture_on_commit_callbacks
):
    group, agents = team
    category = CategoryFactory(name="Invoices")
    billing = rule(
        1,
        [{"field": "text", "value": ["refund"]}],
        {"group": group.pk, "category": category.pk, "priority": 3, "type": "problem",
         "add_tags": ["billing"]},
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        ticket = new_ticket(subject="Need a REFUND", body="please", tags=["web"])
    assert ticket.group == group and ticket.category == category
    assert (ticket.priority, ticket.type, ticket.tags) == (3, "problem", ["web", "billing"])
    assert ticket.assignee in agents and ticket.status == "open"
    # Every change is an event by "Routing", with the rule as the reason.
    changed = Event.objects.filter(ticket=ticket, actor_system="dispatch")
    assert {e.field for e in changed} >= {"group", "category", "priority", "type", "tags"}
    assert "“Rule 1”" in changed.get(field="group").reason
    billing.refresh_from_db()
    assert billing.match_count == 1 and billing.last_matched_at is not None
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.outcome == "assigned" and decision.winner == ticket.assignee
    assert decision.rules[0]["name"] == "Rule 1"
    assert len(decision.candidates) == 3 and decision.event.field == "assignee"
    assert decision.trigger == "created"


def test_without_a_matching_rule_a_ticket_without_group_waits_in_unassigned(team):
    ticket = new_ticket(subject="Hello")
    assert ticket.assignee is None and ticket.group is None
    assert RoutingDecision.objects.get(ticket=ticket).outcome == "no_group"


def test_least_loaded_gives_to_the_agent_with_least_load_for_capacity(in_tenant):
    busy, free = make_agents(in_tenant, 2, capacity=10)
    group = make_group(in_tenant, [busy, free])
    for _ in range(3):
        TicketFactory(subject="old", group=group, assignee=busy)
    ticket = new_ticket(subject="new", group=group)
    assert ticket.assignee == free


def test_weights_count_priority_and_pending_counts_at_the_fraction(in_tenant):
    a, b = make_agents(in_tenant, 2, capacity=10)
    group = make_group(in_tenant, [a, b])
    TicketFactory(subject="urgent", group=group, assignee=a, priority=4)  # weight 3
    for _ in range(2):
        t = TicketFactory(subject="waiting", group=group, assignee=b)  # pending: weight 0
        ticket_services.ticket_change_status(
            ticket=t, actor=b, status="pending", expected_version=None
        )
    TicketFactory(subject="normal", group=group, assignee=b)  # weight 1
    ticket = new_ticket(subject="new", group=group)
    assert ticket.assignee == b
    decision = RoutingDecision.objects.get(ticket=ticket)
    loads = {c["user_id"]: c["load"] for c in decision.candidates}
    assert loads == {a.pk: 3.0, b.pk: 1.0}


def test_round_robin_takes_turns(in_tenant):
    agents = make_agents(in_tenant, 3)
    group = make_group(in_tenant, agents, strategy="round_robin")
    given = [new_ticket(subject=f"t{i}", group=group).assignee for i in range(6)]
    assert given[:3] == given[3:] and set(given) == set(agents)


def test_best_skill_match_and_missing_skills_are_filtered(in_tenant):
    de_low, de_high, none = make_agents(in_tenant, 3)
    AgentStatus.objects.filter(user=de_low).update(skills={"language:de": 1})
    AgentStatus.objects.filter(user=de_high).update(skills={"language:de": 3})
    group = make_group(
        in_tenant, [de_low, de_high, none], strategy="skill", required_skills={"language:de": 1}
    )
    ticket = new_ticket(subject="Hallo", group=group)
    assert ticket.assignee == de_high
    decision = RoutingDecision.objects.get(ticket=ticket)
    why = {c["user_id"]: c["filtered"] for c in decision.candidates}
    assert why[none.pk] == "missing skill language:de"


def test_offline_away_and_full_agents_get_nothing_and_the_ticket_waits(in_tenant):
    offline = make_agents(in_tenant, 1, availability="offline")[0]
    away = make_agents(in_tenant, 1, availability="away")[0]
    full = make_agents(in_tenant, 1, capacity=1)[0]
    group = make_group(in_tenant, [offline, away, full])
    TicketFactory(subject="fills", group=group, assignee=full)
    ticket = new_ticket(subject="nobody", group=group)
    assert ticket.assignee is None
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.outcome == "waiting"
    why = {c["user_id"]: c["filtered"] for c in decision.candidates}
    assert why == {offline.pk: "offline", away.pk: "away", full.pk: "at capacity (1 of 1)"}
    assert "waits in the group queue" in decision.explanation
    # The beat sweep knows the tenant has waiting tickets.
    assert TenantWork.objects.get(kind=services.WAITING_WORK).due_at is not None


def test_when_room_frees_the_oldest_waiting_ticket_goes_to_that_agent(in_tenant):
    agent = make_agents(in_tenant, 1, capacity=1)[0]
    group = make_group(in_tenant, [agent])
    first = new_ticket(subject="first", group=group)
    older = new_ticket(subject="older", group=group)
    newer = new_ticket(subject="newer", group=group)
    assert first.assignee == agent and older.assignee is None and newer.assignee is None
    ticket_services.ticket_change_status(
        ticket=first, actor=agent, status="resolved", expected_version=None
    )
    handle(first)
    older.refresh_from_db(), newer.refresh_from_db()
    assert older.assignee == agent and newer.assignee is None
    assert RoutingDecision.objects.filter(ticket=older).latest("pk").trigger == "room"


def test_an_urgent_waiting_ticket_goes_before_older_normal_ones(in_tenant):
    agent = make_agents(in_tenant, 1, capacity=3, availability="offline")[0]
    group = make_group(in_tenant, [agent])
    normal = new_ticket(subject="normal", group=group)
    urgent = new_ticket(subject="urgent", group=group, priority=4)
    with mock.patch("dispatch.tasks.drain_agent_groups.delay"):
        services.availability_set(user=agent, availability="online")
    services.agent_groups_drain(user_id=agent.pk)
    normal.refresh_from_db(), urgent.refresh_from_db()
    # Urgent weighs 3 = the whole capacity: it goes first, the normal one waits.
    assert urgent.assignee == agent and normal.assignee is None


def test_coming_online_and_raising_capacity_hand_out_waiting_tickets(
    in_tenant, django_capture_on_commit_callbacks
):
    agent = make_agents(in_tenant, 1, availability="offline", capacity=0)[0]
    group = make_group(in_tenant, [agent])
    ticket = new_ticket(subject="waiting", group=group)
    with mock.patch("dispatch.tasks.drain_agent_groups.delay") as drain:
        with django_capture_on_commit_callbacks(execute=True):
            services.availability_set(user=agent, availability="online")
            services.agent_capacity_set(actor=None, user=agent, capacity=5)
    assert drain.call_count == 2
    services.waiting_sweep()
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert RoutingDecision.objects.filter(ticket=ticket).latest("pk").trigger == "sweep"


def test_a_ticket_assigned_by_hand_is_never_taken_away(team, agent):
    group, agents = team
    rule(1, [{"field": "subject", "value": ["printer"]}], {"group": group.pk})
    ticket = new_ticket(subject="printer", assignee=agent)
    assert ticket.assignee == agent
    decision = services.ticket_route(ticket=ticket, trigger="reroute")
    ticket.refresh_from_db()
    assert ticket.assignee == agent and decision.outcome == "kept"


def test_routing_twice_changes_nothing(team):
    group, _ = team
    rule(1, [{"field": "subject", "value": ["printer"]}], {"group": group.pk, "add_tags": ["hw"]})
    ticket = new_ticket(subject="printer")
    before = Event.objects.filter(ticket=ticket).count()
    services.ticket_route(ticket=ticket, trigger="reroute")
    ticket.refresh_from_db()
    assert Event.objects.filter(ticket=ticket).count() == before
    assert ticket.tags == ["hw"]


def test_a_rule_can_name_an_agent_or_send_to_review(team, agent):
    group, agents = team
    rule(1, [{"field": "subject", "value": ["boss"]}], {"group": group.pk, "assignee": agent.pk})
    rule(2, [{"field": "subject", "value": ["tricky"]}], {"group": group.pk, "review": True})
    assert new_ticket(subject="boss here").assignee == agent
    tricky = new_ticket(subject="tricky one")
    assert tricky.assignee is None
    decision = RoutingDecision.objects.get(ticket=tricky)
    assert decision.outcome == "review" and decision.needs_review and decision.winner in agents


def test_stop_and_organisation_and_domain_conditions_on_real_tickets(team, in_tenant):
    group, _ = team
    vip_group = make_group(in_tenant, team[1], name="VIP")
    initech = Organization.objects.create(tenant=in_tenant, name="Initech")
    rule(1, [{"field": "organization", "value": [initech.pk]}], {"group": vip_group.pk}, stop=True)
    rule(2, [{"field": "requester_domain", "value": ["initech.example"]}], {"group": group.pk})
    vip = new_ticket(
        subject="hi", requester=ContactFactory(organization=initech, email="a@initech.example")
    )  # noqa: E501
    assert vip.group == vip_group
    other = new_ticket(subject="hi", requester=ContactFactory(email="b@initech.example"))
    assert other.group == group


def test_a_follow_up_is_routed_as_a_follow_up(team):
    group, _ = team
    rule(1, [{"field": "subject", "value": ["again"]}], {"group": group.pk})
    first = new_ticket(subject="first")
    follow = new_ticket(subject="again", follow_up_of=first)
    assert follow.group == group
    assert RoutingDecision.objects.get(ticket=follow).trigger == "follow_up"


def test_semi_automatic_recommends_and_a_dispatcher_confirms_or_picks_another(
    in_tenant, dispatcher_user
):
    a, b = make_agents(in_tenant, 2, capacity=1)
    group = make_group(in_tenant, [a, b], mode="semi", strategy="least_loaded")
    ticket = new_ticket(subject="please review", group=group)
    assert ticket.assignee is None
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.needs_review and decision.winner in (a, b)
    assert list(services.reviews_pending()) == [decision]
    # A waiting recommendation counts: the next one goes to the other agent.
    meanwhile = new_ticket(subject="and this", group=group)
    assert RoutingDecision.objects.get(ticket=meanwhile).winner not in (None, decision.winner)
    Ticket.objects.filter(pk=meanwhile.pk).update(status="closed")
    ticket, note = services.recommendation_review(
        decision=decision, actor=dispatcher_user, assignee=decision.winner
    )
    assert ticket.assignee == decision.winner and note == ""
    assert not list(services.reviews_pending())
    assigned = Event.objects.filter(ticket=ticket, field="assignee").latest("pk")
    assert assigned.actor_user == dispatcher_user
    with pytest.raises(ValidationError):
        services.recommendation_review(decision=decision, actor=dispatcher_user, assignee=a)
    # Another, over the chosen agent's capacity: allowed, and said.
    second = new_ticket(subject="another", group=group)
    other = RoutingDecision.objects.get(ticket=second)
    _, note = services.recommendation_review(
        decision=other, actor=dispatcher_user, assignee=ticket.assignee
    )
    assert "over capacity (2 of 1)" in note


def test_a_claim_group_leaves_tickets_for_members_and_get_next_takes_the_most_urgent(in_tenant):
    a, b = make_agents(in_tenant, 2)
    group = make_group(in_tenant, [a, b], mode="claim")
    low = new_ticket(subject="low", group=group, priority=1)
    high = new_ticket(subject="high", group=group, priority=3)
    assert low.assignee is None and high.assignee is None
    assert RoutingDecision.objects.get(ticket=low).outcome == "claim"
    assert services.ticket_get_next(agent=a) == high
    assert services.ticket_get_next(agent=b) == low
    assert services.ticket_get_next(agent=b) is None


def test_escalation_moves_the_ticket_to_the_next_tier_with_a_note(in_tenant):
    l1_agent = make_agents(in_tenant, 1)[0]
    l2_agent = make_agents(in_tenant, 1)[0]
    l2 = make_group(in_tenant, [l2_agent], name="L2")
    l1 = make_group(in_tenant, [l1_agent], name="L1", escalation_group=l2)
    ticket = new_ticket(subject="hard", group=l1)
    assert ticket.assignee == l1_agent
    with pytest.raises(ValidationError):
        services.ticket_escalate(ticket=ticket, actor=l1_agent, reason="  ")
    with mock.patch("dispatch.tasks.route_ticket.delay") as later:
        from django.db import transaction

        with transaction.atomic():
            services.ticket_escalate(ticket=ticket, actor=l1_agent, reason="Needs a database fix")
    ticket.refresh_from_db()
    assert ticket.group == l2 and ticket.assignee is None
    assert Event.objects.filter(
        ticket=ticket, kind="dispatch_escalated", reason="Needs a database fix"
    ).exists()  # noqa: E501
    note = Message.objects.filter(ticket=ticket, kind="note").latest("pk")
    assert "Escalated to L2: Needs a database fix" in note.body_text
    # The new tier's mode takes over (the task, run here).
    services.ticket_route(ticket=ticket, trigger="escalation", use_rules=False)
    ticket.refresh_from_db()
    assert ticket.assignee == l2_agent
    assert later.call_count in (0, 1)
    with pytest.raises(ValidationError):
        services.ticket_escalate(ticket=ticket, actor=l2_agent, reason="again")


def test_closed_tickets_are_not_routed(team):
    ticket = TicketFactory(subject="x")
    Ticket.objects.filter(pk=ticket.pk).update(
        status="closed", closed_at=timezone.now() - timedelta(1)
    )
    assert services.ticket_route(ticket=ticket, trigger="reroute") is None
