import threading

import pytest
from django.db import connection

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory
from tickets import services
from tickets.models import Contact, Ticket


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_get_twenty_distinct_numbers(tenant):
    with tenant_context(tenant):
        requester = ContactFactory()
    numbers, errors = [], []
    start = threading.Barrier(20)

    def create(i):
        try:
            start.wait()
            with tenant_context(tenant):
                ticket = services.ticket_create(
                    requester=requester, subject=f"Request {i}", body="Help"
                )
                numbers.append(ticket.number)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))
    with tenant_context(tenant):
        assert Ticket.objects.count() == 20


def test_numbers_are_per_tenant_and_shown_with_the_prefix(tenant, other_tenant):
    with tenant_context(tenant):
        first = services.ticket_create(requester=ContactFactory(), subject="A", body="a")
        second = services.ticket_create(requester=ContactFactory(), subject="B", body="b")
    with tenant_context(other_tenant):
        theirs = services.ticket_create(requester=ContactFactory(), subject="C", body="c")
    assert (first.number, second.number, theirs.number) == (1, 2, 1)
    assert second.reference == "ACME-2"
    assert theirs.reference == "GLX-1"


@pytest.mark.django_db(transaction=True)
def test_batches_opened_side_by_side_share_out_numbers_and_new_contacts(tenant):
    """Two workers filing mail at once: each batch gets its own run of
    numbers, and a new address in both batches becomes one contact."""
    numbers, errors = [], []
    start = threading.Barrier(4)

    def create(worker):
        try:
            start.wait()
            with tenant_context(tenant):
                tickets = services.tickets_create(
                    [
                        services.TicketDraft(
                            requester_email=email, subject=f"Worker {worker}", body="Help"
                        )
                        for email in ("both@example.com", f"w{worker}@example.com") * 3
                    ]
                )
                numbers.append([ticket.number for ticket in tickets])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(n for batch in numbers for n in batch) == list(range(1, 25))
    for batch in numbers:
        assert batch == list(range(batch[0], batch[0] + 6))  # one run each
    with tenant_context(tenant):
        assert Contact.objects.filter(email="both@example.com").count() == 1
        assert Ticket.objects.filter(requester__email="both@example.com").count() == 12
