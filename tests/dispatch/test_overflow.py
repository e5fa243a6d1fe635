"""When a group has nobody to take a ticket: its overflow group's members
(at once or after a wait), the whole group after the skill fallback wait;
and the channel's part in a ticket's weight. Also the claim itself: a
router whose read went stale never pushes an agent past capacity."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch import selectors, services
from dispatch.models import AgentStatus, DispatchSettings, RoutingDecision
from dispatch.services.claims import claim
from dispatch.strategies import Candidate
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory

from .conftest import handle, held_elsewhere, make_agents, make_group

pytestmark = pytest.mark.django_db


def new_ticket(**kw):
    ticket = TicketFactory(**kw)
    handle(ticket)
    ticket.refresh_from_db()
    return ticket


def waited(ticket, minutes):
    """As if the ticket had waited `minutes` since its first waiting decision."""
    first = RoutingDecision.objects.filter(ticket=ticket, outcome="waiting").earliest("created_at")
    first.created_at -= timedelta(minutes=minutes)
    first.save(update_fields=["created_at"])


@pytest.fixture
def full_group_with_overflow(in_tenant):
    """Billing: one agent, full. Support: one agent with room."""
    full = make_agents(in_tenant, 1, capacity=1)[0]
    helper = make_agents(in_tenant, 1, capacity=5)[0]
    support = make_group(in_tenant, [helper], name="Support")
    return full, helper, support


def test_a_full_group_offers_the_ticket_to_its_overflow_group_at_once(
    in_tenant, full_group_with_overflow
):
    full, helper, support = full_group_with_overflow
    billing = make_group(in_tenant, [full], name="Billing", overflow_group=support)
    TicketFactory(subject="fills", group=billing, assignee=full)
    ticket = new_ticket(subject="refund", group=billing)
    assert ticket.assignee == helper and ticket.group == billing
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.outcome == "assigned"
    assert "offered to the overflow group Support" in decision.explanation
    via = {c["user_id"]: c.get("via", "") for c in decision.candidates}
    assert via == {full.pk: "", helper.pk: "overflow"}


def test_overflow_after_a_wait_goes_out_with_the_sweep(in_tenant, full_group_with_overflow):
    full, helper, support = full_group_with_overflow
    billing = make_group(
        in_tenant, [full], name="Billing", overflow_group=support, overflow_after_minutes=10
    )
    TicketFactory(subject="fills", group=billing, assignee=full)
    ticket = new_ticket(subject="refund", group=billing)
    assert ticket.assignee is None  # not yet: Billing may free room within 10 minutes
    services.waiting_sweep()
    ticket.refresh_from_db()
    assert ticket.assignee is None
    waited(ticket, 11)
    assert services.waiting_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.assignee == helper
    decision = RoutingDecision.objects.filter(ticket=ticket).latest("pk")
    assert "nobody in the group had room for 10 min" in decision.explanation


def test_room_freed_in_the_overflow_group_drains_the_groups_that_overflow_into_it(
    in_tenant, full_group_with_overflow
):
    full, helper, support = full_group_with_overflow
    AgentStatus.objects.filter(user=helper).update(availability="offline")
    billing = make_group(in_tenant, [full], name="Billing", overflow_group=support)
    TicketFactory(subject="fills", group=billing, assignee=full)
    ticket = new_ticket(subject="refund", group=billing)
    assert ticket.assignee is None
    AgentStatus.objects.filter(user=helper).update(availability="online")
    assert services.agent_groups_drain(user_id=helper.pk) == 1
    ticket.refresh_from_db()
    assert ticket.assignee == helper


def test_without_a_skilled_agent_free_the_whole_group_takes_it_after_the_wait(in_tenant):
    skilled = make_agents(in_tenant, 1, availability="offline")[0]
    other = make_agents(in_tenant, 1)[0]
    AgentStatus.objects.filter(user=skilled).update(skills={"language:de": 2})
    group = make_group(
        in_tenant, [skilled, other], strategy="skill",
        required_skills={"language:de": 1}, skill_fallback_minutes=15,
    )  # fmt: skip
    ticket = new_ticket(subject="Hallo", group=group)
    assert ticket.assignee is None
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert {c["filtered"] for c in decision.candidates} == {"offline", "missing skill language:de"}
    waited(ticket, 16)
    services.waiting_sweep()
    ticket.refresh_from_db()
    assert ticket.assignee == other
    decision = RoutingDecision.objects.filter(ticket=ticket).latest("pk")
    assert "the whole group may take it" in decision.explanation


def test_a_ticket_weighs_by_priority_times_its_channel(in_tenant):
    DispatchSettings.objects.create(tenant=in_tenant, channel_weights={"phone": "2"})
    agent = make_agents(in_tenant, 1, capacity=5)[0]
    group = make_group(in_tenant, [agent])
    TicketFactory(subject="call", group=group, assignee=agent, channel="phone")  # 1 x 2
    TicketFactory(subject="mail", group=group, assignee=agent, channel="email")  # 1
    TicketFactory(subject="urgent call", group=group, assignee=agent, channel="phone", priority=4)
    config = selectors.dispatch_settings()
    assert selectors.agent_loads([agent.pk], config)[agent.pk] == 2 + 1 + 3 * 2
    rows, _ = selectors.group_statuses(group.pk, selectors.weights(config))
    assert rows[0].load == 9
    # Full (9 of 5): a new phone ticket waits, and its decision says why.
    ticket = new_ticket(subject="another call", group=group, channel="phone")
    assert ticket.assignee is None
    decision = RoutingDecision.objects.get(ticket=ticket)
    assert decision.candidates[0]["filtered"] == "at capacity (9 of 5)"


def test_a_claim_on_a_stale_read_is_refused_and_leaves_the_row_free(in_tenant):
    agent = make_agents(in_tenant, 1, capacity=1)[0]
    group = make_group(in_tenant, [agent])
    config = selectors.dispatch_settings()
    row = selectors.group_statuses(group.pk, selectors.weights(config))[0][0]

    def candidate():
        return Candidate(
            user_id=agent.pk, name="a", availability="online", capacity=1, load=row.load,
            last_assigned_at=None, status_id=row.pk, version=row.routing_version,
        )  # fmt: skip

    first, second = candidate(), candidate()
    assert claim(first, timezone.now(), wait=False)
    # Another router read the same row before that claim: its claim fails.
    assert not claim(second, timezone.now(), wait=True)
    # An agent gone offline since the read cannot be claimed either.
    AgentStatus.objects.filter(user=agent).update(availability="offline")
    assert not claim(first, timezone.now(), wait=False)


@pytest.mark.django_db(transaction=True)
def test_a_drains_claim_is_one_statement_and_a_refused_one_leaves_the_row_free(tenant):
    """A drain claims without a savepoint: one statement a claim. Refused
    (the row read went stale, or another router holds it), it returns at
    once and leaves the row unlocked for every other router."""
    with tenant_context(tenant):
        agents = make_agents(tenant, 2, capacity=3)
        group = make_group(tenant, agents)
        weights = selectors.weights(selectors.dispatch_settings())
        rows, _ = selectors.group_statuses(group.pk, weights)
        stale, held = sorted(rows, key=lambda row: row.user_id == agents[1].pk)

    def candidate(row, version):
        return Candidate(
            user_id=row.user_id, name="a", availability="online", capacity=3, load=0,
            last_assigned_at=None, status_id=row.pk, version=version,
        )  # fmt: skip

    def lock_from_elsewhere(row):
        """Whether another transaction can lock the row at once (NOWAIT)."""
        with held_elsewhere(
            tenant,
            lambda: list(AgentStatus.objects.select_for_update(nowait=True).filter(pk=row.pk)),
        ):
            return True

    holding = held_elsewhere(
        tenant, lambda: list(AgentStatus.objects.select_for_update().filter(pk=held.pk))
    )
    with holding, tenant_context(tenant), transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            # Read before another router's claim moved the version on.
            assert not claim(
                candidate(stale, stale.routing_version - 1), timezone.now(),
                wait=False, savepoint=False,
            )  # fmt: skip
            # Held by another router: skipped, not waited for.
            assert not claim(
                candidate(held, held.routing_version), timezone.now(),
                wait=False, savepoint=False,
            )  # fmt: skip
        assert len(queries) == 2
        assert not any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)
        # The refused claim locked nothing: another transaction takes the row.
        assert lock_from_elsewhere(stale)
        # A claim on a current read takes the agent, in one statement.
        with CaptureQueriesContext(connection) as queries:
            assert claim(
                candidate(stale, stale.routing_version), timezone.now(),
                wait=False, savepoint=False,
            )  # fmt: skip
        assert len(queries) == 1
    with tenant_context(tenant):
        assert AgentStatus.objects.get(pk=stale.pk).routing_version == stale.routing_version + 1
        assert AgentStatus.objects.get(pk=held.pk).routing_version == held.routing_version
