"""Event batches run many handlers in one transaction (`process_events`):
a router that already holds an agent's claimed row from an earlier handler
of its batch must not wait for another agent's row, or two batches wait
for each other (a deadlock, the handler fails and is retried). Real
threads, each with its own connection and transaction, as two workers."""

import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection

from dispatch.models import RoutingDecision
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets.models import Ticket

from .conftest import make_agents, make_group


@pytest.mark.django_db(transaction=True)
def test_two_batches_routing_into_one_group_never_deadlock(tenant):
    with mock.patch("helpdesk.handover.publish_quietly"):
        with tenant_context(tenant):
            agents = make_agents(tenant, 2, capacity=1)
            group = make_group(tenant, agents, name="Two seats")
            requester = ContactFactory()
            tickets = [
                TicketFactory(subject=f"Batch {n}", group=group, requester=requester)
                for n in range(4)
            ]
        from dispatch.services import ticket_route

        both_placed = threading.Barrier(2, timeout=30)
        errors = []

        def batch(pair):
            try:
                with tenant_context(tenant):  # one batch: one transaction
                    ticket_route(ticket=pair[0], trigger="created")
                    both_placed.wait()
                    ticket_route(ticket=pair[1], trigger="created")
            except Exception as error:
                errors.append(repr(error))
            finally:
                connection.close()

        threads = [
            threading.Thread(target=batch, args=(pair,)) for pair in (tickets[0:2], tickets[2:4])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        with tenant_context(tenant):
            per_agent = Counter(
                Ticket.objects.filter(group=group, assignee__isnull=False).values_list(
                    "assignee_id", flat=True
                )
            )
            assert sorted(per_agent.values()) == [1, 1]
            waiting = RoutingDecision.objects.filter(outcome="waiting").count()
            assert waiting == 2
