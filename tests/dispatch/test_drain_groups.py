"""The groups one transaction's new tickets ask for are drained by one task,
several groups to a transaction: the asks become one task, the writes of
the whole transaction are a fixed few statements whatever the number of
groups, an agent in two of the groups is not pushed past capacity by
assignments not written yet, a transaction stops taking groups once it has
a batch of tickets, a group whose agents other routers hold is drained
again soon after, and a group whose drain fails holds back none of the
others (drained with it, or swept with it)."""

import re
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dispatch import tasks
from dispatch.models import AgentStatus, RoutingDecision
from dispatch.services import drain, drain_ask
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events
from tickets.models import Event, Ticket

from .conftest import held_elsewhere, make_agents, make_group


def _forget_pending(tenant, groups):
    redis_client().delete(*(drain_ask._drain_key(tenant.pk, g.pk) for g in groups))


def _route_new(tickets):
    """The created events' handlers, with the drains they ask for not run."""
    ids = list(
        Event.objects.filter(ticket__in=tickets, processed_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    with mock.patch.object(drain, "group_drain_ask"):
        events.events_run(event_ids=ids)


def test_the_groups_one_transaction_asks_for_go_to_one_drain_task(
    in_tenant, django_capture_on_commit_callbacks
):
    agents = make_agents(in_tenant, 2)
    groups = [make_group(in_tenant, agents, name=f"Asked {n}") for n in range(3)]
    _forget_pending(in_tenant, groups)
    with mock.patch.object(tasks.drain_groups, "apply_async") as publish:
        with django_capture_on_commit_callbacks(execute=True):
            drain.group_drain_ask(group_id=groups[0].pk)
            drain.group_drain_ask(group_id=groups[1].pk)
            drain.group_drain_ask(group_id=groups[0].pk)
            # An ask whose savepoint rolls back loses none of the others.
            try:
                with transaction.atomic():
                    drain.group_drain_ask(group_id=groups[2].pk)
                    raise RuntimeError("the handler failed")
            except RuntimeError:
                pass
        assert publish.call_count == 1
        assert publish.call_args.kwargs["kwargs"]["group_ids"] == [g.pk for g in groups]
        # A group with its drain pending is left out of the next ask's task.
        drain_ask.group_drains_started(tenant_id=in_tenant.pk, group_ids=[groups[1].pk])
        with django_capture_on_commit_callbacks(execute=True):
            for group in groups:
                drain.group_drain_ask(group_id=group.pk)
        assert publish.call_count == 2
        assert publish.call_args.kwargs["kwargs"]["group_ids"] == [groups[1].pk]
    _forget_pending(in_tenant, groups)


def _statements(captured, pattern):
    return [q["sql"] for q in captured if re.match(pattern, q["sql"].lstrip())]


def _drain_counted(tenant, group_count):
    """Drain `group_count` new groups of one ticket and one agent each: the
    statements, and those that wrote the tickets, events and decisions."""
    groups = [
        make_group(tenant, make_agents(tenant, 1), name=f"Together {group_count}.{n}")
        for n in range(group_count)
    ]
    tickets = [TicketFactory(subject=f"Together {g.pk}", group=g) for g in groups]
    _route_new(tickets)
    with CaptureQueriesContext(connection) as captured:
        assert drain.groups_drain_batches(group_ids=[g.pk for g in groups]) == group_count
    assert not Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=None).exists()
    writes = [
        _statements(captured, pattern)
        for pattern in (
            r"UPDATE\s+tickets_ticket\b",
            r'INSERT INTO "?tickets_event"?',
            r'INSERT INTO "?dispatch_routingdecision"?',
        )
    ]
    return len(captured), [len(w) for w in writes]


def test_one_transaction_drains_the_groups_and_writes_them_together(in_tenant):
    few, few_writes = _drain_counted(in_tenant, 2)
    many, many_writes = _drain_counted(in_tenant, 6)
    # One UPDATE of the tickets, one INSERT of their events, one of the
    # decisions, however many groups.
    assert few_writes == many_writes == [1, 1, 1]
    # Each group more costs its look, its members, its tickets and one claim
    # (one UPDATE: a drain's claims take no savepoint); the rest is the
    # transaction's, once.
    assert many - few <= 4 * 4
    assert few <= 2 * 7 + 14
    assert RoutingDecision.objects.filter(outcome="assigned").count() == 8


def test_an_agent_in_two_groups_is_not_pushed_past_capacity_by_assignments_not_written_yet(
    in_tenant,
):
    (shared,) = make_agents(in_tenant, 1, capacity=1)
    first, second = (make_group(in_tenant, [shared], name=f"Shared {n}") for n in range(2))
    tickets = [
        TicketFactory(subject="One", group=first),
        TicketFactory(subject="Two", group=second),
    ]
    _route_new(tickets)
    assert drain.groups_drain_batches(group_ids=[first.pk, second.pk]) == 1
    assert Ticket.objects.filter(assignee=shared).count() == 1
    waiting = Ticket.objects.get(group=second)
    assert waiting.assignee is None
    # The ticket that waits has its decision: nobody had room.
    assert RoutingDecision.objects.get(ticket=waiting).outcome == "waiting"
    assert drain.groups_drain_batches(group_ids=[second.pk]) == 0


def test_a_transaction_stops_taking_groups_at_a_batch_and_a_full_share_goes_again(in_tenant):
    agents = make_agents(in_tenant, 2)
    groups = [make_group(in_tenant, agents, name=f"Budget {n}") for n in range(3)]
    sizes = (4, 2, 2)
    tickets = [
        TicketFactory(subject=f"Budget {n}", group=group)
        for group, size in zip(groups, sizes, strict=True)
        for n in range(size)
    ]
    _route_new(tickets)
    written = []
    system_assign = drain.tickets_system_assign

    def counted(*, assignments, source):
        written.append(len(assignments))
        return system_assign(assignments=assignments, source=source)

    with (
        mock.patch.object(drain, "DRAIN_BATCH", 3),
        mock.patch.object(drain, "tickets_system_assign", side_effect=counted),
    ):
        assert drain.groups_drain_batches(group_ids=[g.pk for g in groups]) == 8
    # The first group fills a batch on its own (3 of its 4); the next
    # transaction takes the second and third groups whole (4 tickets: a
    # group's share is not cut); the first group's last ticket goes after.
    assert written == [3, 4, 1]
    assert not Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=None).exists()


@pytest.mark.django_db(transaction=True)
def test_a_group_whose_agents_other_routers_hold_is_drained_again_soon_after(tenant):
    """Another drain holds (has claimed, not yet committed) every agent of
    the group that has room: the ticket gets its "waits" decision and the
    group is asked again a moment later, not left for the beat sweep."""
    with tenant_context(tenant):
        agents = make_agents(tenant, 2)
        group = make_group(tenant, agents, name="Held")
        ticket = TicketFactory(subject="Held agents", group=group)
        _route_new([ticket])
    holding = held_elsewhere(
        tenant, lambda: list(AgentStatus.objects.select_for_update().filter(user__in=agents))
    )
    with holding, mock.patch.object(tasks.drain_groups, "apply_async") as publish:
        with tenant_context(tenant):
            _forget_pending(tenant, [group])
            assert drain.groups_drain_batches(group_ids=[group.pk]) == 0
    assert publish.call_count == 1
    assert publish.call_args.kwargs["kwargs"]["group_ids"] == [group.pk]
    assert publish.call_args.kwargs["countdown"] == drain_ask.DRAIN_LOCKED_RETRY_SECONDS
    with tenant_context(tenant):
        decision = RoutingDecision.objects.get(ticket=ticket)
        assert decision.outcome == "waiting"
        assert "being given other tickets" in decision.explanation
        _forget_pending(tenant, [group])
        # The drain asked for, once the other router has committed.
        assert drain.groups_drain_batches(group_ids=[group.pk]) == 1
        assert Ticket.objects.get(pk=ticket.pk).assignee in agents


def _failing_for(group):
    """`_group_pass`, raising for `group` as a bug or bad data would."""
    real = drain._group_pass

    def group_pass(group_id, *args, **kwargs):
        if group_id == group.pk:
            raise RuntimeError("a group's pass failed")
        return real(group_id, *args, **kwargs)

    return mock.patch.object(drain, "_group_pass", side_effect=group_pass)


def test_a_group_whose_drain_fails_holds_back_none_of_the_groups_drained_with_it(in_tenant, caplog):
    agents = make_agents(in_tenant, 2)
    groups = [make_group(in_tenant, agents, name=f"Fails {n}") for n in range(3)]
    tickets = [TicketFactory(subject=f"Fails {n}", group=g) for n, g in enumerate(groups)]
    _route_new(tickets)
    broken = groups[1]
    with _failing_for(broken), caplog.at_level("ERROR", logger="dispatch.services.drain"):
        assert drain.groups_drain_batches(group_ids=[g.pk for g in groups]) == 2
    assigned = dict(
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("group_id", "assignee_id")
    )
    assert assigned[groups[0].pk] in {a.pk for a in agents}
    assert assigned[groups[2].pk] in {a.pk for a in agents}
    assert assigned[broken.pk] is None
    assert f"drain of group {broken.pk} failed" in caplog.text
    # Once the group's drain works again, its ticket goes out too.
    assert drain.groups_drain_batches(group_ids=[broken.pk]) == 1


def test_the_waiting_sweep_drains_every_other_group_when_one_fails(in_tenant, caplog):
    agents = make_agents(in_tenant, 2)
    groups = [make_group(in_tenant, agents, name=f"Swept {n}") for n in range(3)]
    tickets = [TicketFactory(subject=f"Swept {n}", group=g) for n, g in enumerate(groups)]
    _route_new(tickets)
    with _failing_for(groups[0]), caplog.at_level("ERROR", logger="dispatch.services.drain"):
        assert drain.waiting_sweep() == 2
    waiting = Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee__isnull=True)
    assert list(waiting.values_list("group_id", flat=True)) == [groups[0].pk]
    assert f"drain of group {groups[0].pk} failed" in caplog.text
