"""The fairness test: many workers routing at once never overfill an agent,
never give a ticket twice, spread work evenly, and hand the oldest waiting
ticket to whoever frees room. Real threads, each with its own connection
and transactions, as Celery workers would run."""

import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count

from dispatch.models import RoutingDecision
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import services as ticket_services
from tickets.models import Event, EventHandlerFailure, Ticket

from .conftest import handle, make_agents, make_group

WORKERS = 8
TICKETS = 200


def _in_threads(target, shares):
    errors = []

    def run(share):
        try:
            target(share)
        except Exception as error:  # reported below, with the thread's own traceback lost
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_two_hundred_concurrent_tickets_are_shared_fairly_within_capacity(tenant):
    with mock.patch("helpdesk.handover.publish_quietly"):
        with tenant_context(tenant):
            online = make_agents(tenant, 5, capacity=20)
            offline = make_agents(tenant, 1, capacity=20, availability="offline")[0]
            group = make_group(tenant, [*online, offline], name="Everyone")
            requester = ContactFactory()

        def create_and_route(numbers):
            for n in numbers:
                with tenant_context(tenant):
                    ticket = TicketFactory(subject=f"Ticket {n}", group=group, requester=requester)
                with tenant_context(tenant):  # the worker's own transaction
                    handle(ticket)

        _in_threads(create_and_route, [range(i, TICKETS, WORKERS) for i in range(WORKERS)])

        with tenant_context(tenant):
            # Every handler ran at the first try: no deadlock, no lock timeout.
            failures = list(EventHandlerFailure.objects.values_list("handler", "last_error")[:3])
            assert not failures, failures
            per_agent = Counter(
                Ticket.objects.filter(group=group, assignee__isnull=False).values_list(
                    "assignee_id", flat=True
                )
            )
            assert max(per_agent.values()) <= 20
            counts = [per_agent.get(agent.pk, 0) for agent in online]
            assert max(counts) - min(counts) <= 1
            assert sum(counts) == 100
            assert per_agent.get(offline.pk, 0) == 0
            # Nobody was given a ticket twice: one assignment event per assigned ticket.
            assigned_twice = (
                Event.objects.filter(kind="assigned", ticket__group=group)
                .values("ticket_id")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
            )
            assert not assigned_twice.exists()
            waiting = Ticket.objects.filter(group=group, assignee__isnull=True)
            assert waiting.count() == TICKETS - 100
            oldest = waiting.order_by("created_at", "pk").first()
            assert RoutingDecision.objects.filter(ticket=oldest, outcome="waiting").exists()

            # One agent resolves a ticket: the oldest waiting ticket goes to them.
            agent = online[2]
            done = Ticket.objects.filter(assignee=agent).first()
            ticket_services.ticket_change_status(
                ticket=done, actor=agent, status="resolved", expected_version=None
            )
        with tenant_context(tenant):
            handle(done)
        with tenant_context(tenant):
            oldest.refresh_from_db()
            assert oldest.assignee == agent
            assert Ticket.objects.filter(assignee=agent, status__in=["new", "open"]).count() == 20


@pytest.mark.django_db(transaction=True)
def test_agents_pressing_get_next_at_once_never_get_the_same_ticket(tenant):
    with mock.patch("helpdesk.handover.publish_quietly"):
        with tenant_context(tenant):
            agents = make_agents(tenant, 6)
            group = make_group(tenant, agents, name="Claimers", mode="claim")
            requester = ContactFactory()
            for n in range(12):
                TicketFactory(subject=f"Claim {n}", group=group, requester=requester)
        from dispatch.services import ticket_get_next

        got = []

        def press(agent):
            for _ in range(2):
                with tenant_context(tenant):
                    ticket = ticket_get_next(agent=agent)
                    got.append((agent.pk, ticket.pk if ticket else None))

        _in_threads(press, agents)
        taken = [ticket_id for _, ticket_id in got if ticket_id]
        assert len(taken) == len(set(taken)) == 12
        with tenant_context(tenant):
            assert not Ticket.objects.filter(group=group, assignee__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_drains_running_at_once_hand_each_waiting_ticket_out_once_within_capacity(tenant):
    with mock.patch("helpdesk.handover.publish_quietly"):
        with tenant_context(tenant):
            agents = make_agents(tenant, 5, capacity=10, availability="offline")
            group = make_group(tenant, agents, name="Drained")
            requester = ContactFactory()
            for n in range(60):
                TicketFactory(subject=f"Waiting {n}", group=group, requester=requester)
            from dispatch.models import AgentStatus

            AgentStatus.objects.filter(user__in=agents).update(availability="online")
        from dispatch.services import group_drain

        def drain(_):
            for _ in range(3):
                with tenant_context(tenant):
                    group_drain(group_id=group.pk)

        _in_threads(drain, range(WORKERS))
        with tenant_context(tenant):
            per_agent = Counter(
                Ticket.objects.filter(group=group, assignee__isnull=False).values_list(
                    "assignee_id", flat=True
                )
            )
            assert sorted(per_agent.values()) == [10] * 5
            assigned_twice = (
                Event.objects.filter(kind="assigned", ticket__group=group)
                .values("ticket_id")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
            )
            assert not assigned_twice.exists()
            assert RoutingDecision.objects.filter(outcome="assigned").count() == 50
