"""New tickets of a group that drains them go out with the group's drain,
asked for once their event batch commits and coalesced per group: a burst
of them is handed out by one drain, each ticket's rules are read once, a
drain task run twice changes nothing, and with Redis down the ticket waits
in its group until the beat sweep hands it out."""

import logging
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch import selectors, tasks
from dispatch.models import RoutingDecision, RoutingRule
from dispatch.services import WAITING_WORK, drain, drain_ask, waiting_sweep
from helpdesk.celery import app as celery_app
from helpdesk.models import TenantWork
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import events
from tickets import tasks as ticket_tasks
from tickets.models import Event, EventHandlerRun, Ticket
from tickets.services import ticket_assign

from .conftest import held_elsewhere, make_agents, make_group


def _event_ids(tickets):
    return list(
        Event.objects.filter(ticket__in=tickets, processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_new_tickets_goes_out_in_one_drain_reading_each_tickets_rules_once(
    tenant, eager_celery
):
    # Events are not handed to Celery here (the test runs their handlers as
    # one batch); the drain the batch asks for is, and runs at once (eager).
    with mock.patch("helpdesk.handover.publish_quietly"):
        with tenant_context(tenant):
            agents = make_agents(tenant, 4, capacity=20)
            group = make_group(tenant, agents, name="Burst")
            RoutingRule.objects.create(
                tenant=tenant, name="Urgent printers", position=1,
                conditions=[{"field": "subject", "value": ["printer"]}], actions={"priority": 1},
            )  # fmt: skip
            requester = ContactFactory()
            tickets = [
                TicketFactory(subject=f"printer {n} jams", group=group, requester=requester)
                for n in range(40)
            ]
        redis_client().delete(drain_ask._drain_key(tenant.pk, group.pk))
        drains = mock.patch.object(drain, "groups_drain_batches", wraps=drain.groups_drain_batches)
        facts = mock.patch.object(selectors, "ticket_facts", wraps=selectors.ticket_facts)
        setups = mock.patch.object(selectors, "routing_setup", wraps=selectors.routing_setup)
        with drains as drained, facts as read, setups as set_up:
            with tenant_context(tenant):  # one event batch, as `process_events` runs it
                events.events_run(event_ids=_event_ids(tickets))
                # Nothing is handed out before the batch commits.
                assert not Ticket.objects.filter(group=group, assignee__isnull=False).exists()
        assert drained.call_count == 1
        assert read.call_count == 40  # the drain's; the handlers did not read them
        # The handlers read the group's setup once for the batch; the drain
        # read it with its groups' (`routing_setup_many`).
        assert set_up.call_count == 1
        with tenant_context(tenant):
            assigned = Ticket.objects.filter(group=group, assignee__isnull=False)
            assert assigned.count() == 40
            assert set(assigned.values_list("priority", flat=True)) == {1}
            per_agent = assigned.values("assignee_id").annotate(n=Count("id"))
            assert sorted(row["n"] for row in per_agent) == [10, 10, 10, 10]
            decisions = RoutingDecision.objects.filter(ticket__group=group)
            assert decisions.count() == 40
            assert set(decisions.values_list("trigger", "outcome")) == {("created", "assigned")}
            assert all(d.rules and d.rules[0]["name"] == "Urgent printers" for d in decisions)


def test_asks_are_coalesced_until_the_drain_starts_then_a_new_ask_gets_its_own(in_tenant):
    group = make_group(in_tenant, make_agents(in_tenant, 1), name="Coalesced")
    redis_client().delete(drain_ask._drain_key(in_tenant.pk, group.pk))
    with mock.patch.object(tasks.drain_groups, "apply_async") as publish:
        drain_ask._drains_publish(in_tenant.pk, [group.pk])
        drain_ask._drains_publish(in_tenant.pk, [group.pk])
        assert publish.call_count == 1
        assert publish.call_args.kwargs["kwargs"] == {
            "tenant_id": in_tenant.pk,
            "group_ids": [group.pk],
        }
        # The drain starts: a ticket committed now may be after its look.
        drain_ask.group_drains_started(tenant_id=in_tenant.pk, group_ids=[group.pk])
        drain_ask._drains_publish(in_tenant.pk, [group.pk])
        assert publish.call_count == 2
    redis_client().delete(drain_ask._drain_key(in_tenant.pk, group.pk))


def test_a_drain_task_run_twice_changes_nothing_the_first_did(in_tenant):
    agents = make_agents(in_tenant, 2, capacity=3)
    group = make_group(in_tenant, agents, name="Twice")
    tickets = [TicketFactory(subject=f"Twice {n}", group=group) for n in range(8)]
    with mock.patch.object(drain, "group_drain_ask"):
        events.events_run(event_ids=_event_ids(tickets))
    assert tasks.drain_groups(tenant_id=in_tenant.pk, group_ids=[group.pk]) == 6

    def state():
        return (
            sorted(Ticket.objects.filter(group=group).values_list("pk", "assignee_id")),
            sorted(RoutingDecision.objects.values_list("ticket_id", "outcome")),
            Event.objects.filter(kind="assigned").count(),
        )

    before = state()
    assert tasks.drain_groups(tenant_id=in_tenant.pk, group_ids=[group.pk]) == 0
    assert state() == before
    # The two nobody had room for wait with a decision that says so.
    assert [outcome for _, outcome in before[1]].count("waiting") == 2


def test_new_tickets_handlers_ask_for_their_groups_drain_with_one_statement_in_all(in_tenant):
    """The created handlers of a batch's new tickets read their group's setup
    once and ask for its drain with no statement a ticket; a ticket its
    drain decided already (it waits, nobody had room) only asks again, which
    changes nothing."""
    group = make_group(in_tenant, make_agents(in_tenant, 1, capacity=1), name="Asks")
    tickets = [TicketFactory(subject=f"Asks {n}", group=group) for n in range(6)]
    with mock.patch.object(drain, "group_drain_ask") as ask:
        with CaptureQueriesContext(connection) as queries:
            for ticket in tickets:
                assert drain.new_ticket_route(ticket=ticket, trigger="created") is None
    assert len(queries) == 1  # the group's setup
    assert ask.call_count == 6
    assert tasks.drain_groups(tenant_id=in_tenant.pk, group_ids=[group.pk]) == 1
    decided = RoutingDecision.objects.filter(ticket__in=tickets).values_list("outcome", flat=True)
    assert sorted(decided) == ["assigned"] + ["waiting"] * 5
    before = sorted(RoutingDecision.objects.values_list("pk", "ticket_id", "outcome"))
    waiting = Ticket.objects.filter(group=group, assignee__isnull=True).first()
    with mock.patch.object(drain, "group_drain_ask") as ask:
        drain.new_ticket_route(ticket=waiting, trigger="created")
    assert ask.call_count == 1
    assert tasks.drain_groups(tenant_id=in_tenant.pk, group_ids=[group.pk]) == 0
    assert sorted(RoutingDecision.objects.values_list("pk", "ticket_id", "outcome")) == before


def test_a_ticket_assigned_by_hand_before_its_drain_keeps_its_assignee(in_tenant, team):
    group, agents = team
    ticket = TicketFactory(subject="Mine", group=group)
    with mock.patch.object(drain, "group_drain_ask") as ask:
        events.events_run(event_ids=_event_ids([ticket]))
    ask.assert_called_once_with(group_id=group.pk)
    ticket_assign(ticket=ticket, actor=agents[2], assignee=agents[2], expected_version=None)
    tasks.drain_groups(tenant_id=in_tenant.pk, group_ids=[group.pk])
    ticket.refresh_from_db()
    assert ticket.assignee == agents[2]
    assert Event.objects.filter(ticket=ticket, kind="assigned").count() == 1  # the hand's


def test_rules_that_name_an_agent_still_route_the_ticket_at_once(in_tenant, team):
    group, agents = team
    RoutingRule.objects.create(
        tenant=in_tenant, name="VIP", position=1, actions={"assignee": agents[1].pk},
        conditions=[{"field": "subject", "value": ["vip"]}],
    )  # fmt: skip
    vip, plain = TicketFactory(subject="vip here", group=group), TicketFactory(group=group)
    with mock.patch.object(drain, "group_drain_ask") as ask:
        events.events_run(event_ids=_event_ids([vip, plain]))
    vip.refresh_from_db()
    assert vip.assignee == agents[1]
    ask.assert_called_once_with(group_id=group.pk)  # the plain one's


def test_with_redis_down_the_new_ticket_waits_in_its_group_and_the_sweep_hands_it_out(
    in_tenant, team, own_redis, caplog, django_capture_on_commit_callbacks
):
    group, agents = team
    ticket = TicketFactory(subject="Printer", group=group)
    own_redis.stop()
    caplog.set_level(logging.WARNING, logger="helpdesk.ratelimit")
    with django_capture_on_commit_callbacks(execute=True):
        events.events_run(event_ids=_event_ids([ticket]))
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.group == group
    assert any("group drain not asked" in r.getMessage() for r in caplog.records)
    # The tenant's waiting sweep is due now, not a sweep period later.
    mark = TenantWork.objects.get(tenant_id=in_tenant.pk, kind=WAITING_WORK)
    assert mark.due_at <= timezone.now()
    assert waiting_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.assignee in agents
    assert RoutingDecision.objects.get(ticket=ticket).outcome == "assigned"


@pytest.mark.django_db(transaction=True)
def test_a_new_ticket_is_handed_out_before_its_events_batch_runs(tenant, eager_celery):
    """Routing is an express handler: while the batch of every handler of
    the new ticket's event waits (behind a backlog of report figures and
    SLA clocks), the ticket's express task and its group's drain assign it."""
    with (
        mock.patch.object(ticket_tasks.process_event, "delay") as batch_one,
        mock.patch.object(ticket_tasks.process_events, "delay"),
    ):
        with tenant_context(tenant):
            agents = make_agents(tenant, 2)
            group = make_group(tenant, agents, name="Express")
        redis_client().delete(drain_ask._drain_key(tenant.pk, group.pk))
        with tenant_context(tenant):
            ticket = TicketFactory(subject="Printer on fire", group=group)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.assignee in agents
        created = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
        assert created.processed_at is None  # its batch is still to come
        assert batch_one.call_args.kwargs["event_id"] == created.pk
        ran = EventHandlerRun.objects.filter(event=created).values_list("handler", flat=True)
        assert list(ran) == ["dispatch.route_new_ticket"]
        assert RoutingDecision.objects.get(ticket=ticket).outcome == "assigned"


@pytest.mark.django_db(transaction=True)
def test_a_ticket_locked_by_another_transaction_goes_out_with_a_drain_soon_after(tenant):
    """An event batch refreshing a new ticket's SLA clocks holds its row
    while the group's drain runs: the drain hands out the others and asks
    for another drain a moment later, which hands that one out too."""
    with tenant_context(tenant):
        agents = make_agents(tenant, 2)
        group = make_group(tenant, agents, name="Locked")
        free, held = (TicketFactory(subject=f"Locked {n}", group=group) for n in range(2))
    redis_client().delete(drain_ask._drain_key(tenant.pk, group.pk))
    with (
        held_elsewhere(tenant, lambda: Ticket.objects.select_for_update().get(pk=held.pk)),
        mock.patch.object(tasks.drain_groups, "apply_async") as publish,
    ):
        with tenant_context(tenant):
            assert drain.group_drain_batches(group_id=group.pk) == 1
    assert publish.call_count == 1
    assert publish.call_args.kwargs["countdown"] == drain.DRAIN_LOCKED_RETRY_SECONDS
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=free.pk).assignee in agents
        assert Ticket.objects.get(pk=held.pk).assignee is None
    redis_client().delete(drain_ask._drain_key(tenant.pk, group.pk))
    with mock.patch.object(tasks.drain_groups, "apply_async") as publish:
        with tenant_context(tenant):  # the drain asked for
            assert drain.group_drain_batches(group_id=group.pk) == 1
    assert publish.call_count == 0  # nothing was held back this time
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=held.pk).assignee in agents
