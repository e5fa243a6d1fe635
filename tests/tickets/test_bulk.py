"""Bulk edits from the queues change each ticket through the same service as
a single edit, under that ticket's row lock."""

import contextlib
import threading
from unittest import mock

import pytest
from django.db import connection

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import services
from tickets.models import Event, Ticket
from tickets.services import bulk


@pytest.mark.django_db(transaction=True)
def test_two_bulk_tag_additions_at_once_keep_both_tags(tenant, agent, dispatcher):
    with tenant_context(tenant):
        numbers = [TicketFactory(tags=["vip"]).number for _ in range(3)]
    # Both edits have read the tickets before either writes: with tags taken
    # from that unlocked read, the second write would drop the first's tag.
    both_read = threading.Barrier(2, timeout=2)
    update = bulk.ticket_update

    def update_once_both_have_read(**kwargs):
        # Broken when the other one waits for this ticket's lock: go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return update(**kwargs)

    errors, results = [], []

    def add(tag, actor):
        try:
            with tenant_context(tenant):
                results.append(
                    services.tickets_bulk_update(numbers=numbers, actor=actor, add_tag=tag)
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(bulk, "ticket_update", update_once_both_have_read):
        writers = [
            threading.Thread(target=add, args=("outage", agent)),
            threading.Thread(target=add, args=("Billing", dispatcher)),
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(60)
    assert errors == []
    assert results == [(3, []), (3, [])]
    with tenant_context(tenant):
        for number in numbers:
            assert sorted(Ticket.objects.get(number=number).tags) == ["billing", "outage", "vip"]
        assert Event.objects.filter(field="tags").count() == 6


def test_a_tag_the_ticket_has_already_changes_nothing(tenant, in_tenant, agent):
    ticket = TicketFactory(tags=["vip", "outage"])
    assert services.tickets_bulk_update(numbers=[ticket.number], actor=agent, add_tag="outage") == (
        0,
        [],
    )
    ticket.refresh_from_db()
    assert (ticket.tags, ticket.version) == (["vip", "outage"], 1)
