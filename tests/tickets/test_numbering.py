import threading
import time
from unittest import mock

import pytest
from django.db import connection

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory
from tests.tickets.test_intake import mail
from tickets import intake, services
from tickets.intake import filing
from tickets.models import Contact, InboundEmail, Message, Ticket
from tickets.services.tickets import _next_ticket_numbers


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


def _store(tenant, mailbox, *raws):
    with tenant_context(tenant):
        for raw in raws:
            intake.inbound_store(mailbox=mailbox, raw=raw)


@pytest.mark.django_db(transaction=True)
def test_intake_takes_the_number_lock_only_to_number_new_tickets(tenant, mailbox):
    """While another creation holds the tenant's ticket counter, a reply is
    filed (replies never take it) and new mail waits only for its number."""
    with tenant_context(tenant):
        ticket = services.ticket_create(
            requester_email="pat@example.com", subject="Printer", body="It jams."
        )
    _store(
        tenant,
        mailbox,
        mail(sender="pat@example.com", subject=f"Re: [ACME-{ticket.number}] Printer"),
        mail(sender="sam@example.com", subject="Scanner"),
    )
    counter_held, release = threading.Event(), threading.Event()
    errors = []

    def hold_the_counter():
        try:
            with tenant_context(tenant):
                _next_ticket_numbers(tenant.pk, 0)  # as a creation in progress does
                counter_held.set()
                release.wait(30)
        finally:
            connection.close()

    def file_mail():
        try:
            intake.inbound_process_pending(tenant=tenant, limit=10)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_counter)
    holder.start()
    assert counter_held.wait(10)
    worker = threading.Thread(target=file_mail)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with tenant_context(tenant):
                replied = Message.objects.filter(ticket=ticket).count() == 2
            if replied:
                break
            time.sleep(0.05)
        assert replied  # committed while the counter is held
        assert worker.is_alive()  # the new mail waits for its number
        with tenant_context(tenant):
            assert Ticket.objects.count() == 1
    finally:
        release.set()
        holder.join()
        worker.join(30)
    assert errors == []
    with tenant_context(tenant):
        assert dict(Ticket.objects.values_list("subject", "number")) == {
            "Printer": 1,
            "Scanner": 2,
        }


@pytest.mark.django_db(transaction=True)
def test_two_intake_workers_filing_new_mail_and_replies_side_by_side_never_deadlock(
    tenant, mailbox, caplog
):
    """Each worker's batch holds new mail from the same new senders and
    replies to the same tickets, in opposite orders. Taking the counter for
    a run and keeping it while replying (or while adding the next run's
    contacts) would deadlock them; filing each run and reply in a
    transaction of its own, the counter taken last, does not."""
    with tenant_context(tenant):
        first = services.ticket_create(requester_email="one@example.com", subject="A", body="a")
        second = services.ticket_create(requester_email="two@example.com", subject="B", body="b")
    reply_first = dict(sender="one@example.com", subject=f"Re: [ACME-{first.number}]")
    reply_second = dict(sender="two@example.com", subject=f"Re: [ACME-{second.number}]")
    errors = []

    def file_mail():
        try:
            intake.inbound_process_pending(tenant=tenant, limit=4)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    claim = filing._claim
    both_claimed = threading.Barrier(2, timeout=20)

    def claim_then_wait(tenant, limit):
        batch = claim(tenant, limit)
        both_claimed.wait()  # both batches are filed at the same time
        return batch

    for round_ in range(4):
        x, y = f"x{round_}@example.com", f"y{round_}@example.com"
        _store(
            tenant,
            mailbox,
            # The first worker's batch...
            mail(sender=x, subject="New"), mail(**reply_first),
            mail(sender=y, subject="New"), mail(**reply_second),
            # ...and the second's.
            mail(sender=y, subject="New"), mail(**reply_second),
            mail(sender=x, subject="New"), mail(**reply_first),
        )  # fmt: skip
        with mock.patch.object(filing, "_claim", claim_then_wait):
            workers = [threading.Thread(target=file_mail) for _ in range(2)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
        assert errors == []
    # A deadlock Postgres broke would show as a run refiled one by one.
    assert [record.getMessage() for record in caplog.records if record.levelno >= 30] == []
    with tenant_context(tenant):
        assert not InboundEmail.objects.exclude(status="processed").exists()
        numbers = sorted(Ticket.objects.values_list("number", flat=True))
        assert numbers == list(range(1, 2 + 4 * 4 + 1))  # none twice, none skipped
        assert Message.objects.filter(ticket__in=[first, second]).count() == 2 + 4 * 4
        assert Contact.objects.filter(email__startswith="x").count() == 4
