"""The worker takes stored mail in batches: one publish per burst, one
transaction per batch, a bad message quarantined without undoing the rest,
and the events of a batch handed to their handlers together."""

import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import mail
from tickets import intake, services, tasks
from tickets.models import Contact, Event, InboundEmail, Organization, OutboundEmail, Ticket


def _store(tenant, mailbox, *raws):
    with tenant_context(tenant):
        for raw in raws:
            intake.inbound_store(mailbox=mailbox, raw=raw)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_mail_is_one_publish_and_every_message_is_filed(tenant, mailbox):
    redis_client().delete(f"intake:scheduled:{tenant.pk}")
    with mock.patch.object(tasks.process_inbound_batch, "delay") as publish:
        _store(tenant, mailbox, *[mail(subject=f"Burst {i}") for i in range(5)])
    assert publish.call_count == 1  # the others found a batch already scheduled
    tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    with tenant_context(tenant):
        assert Ticket.objects.count() == 5
        assert not InboundEmail.objects.filter(status="received").exists()
    # The batch task took the schedule: the next mail schedules a new one.
    with mock.patch.object(tasks.process_inbound_batch, "delay") as publish:
        _store(tenant, mailbox, mail(subject="Later"))
    assert publish.call_count == 1


def test_a_bad_message_is_quarantined_and_the_rest_of_its_batch_filed(tenant, mailbox):
    _store(
        tenant,
        mailbox,
        mail(subject="First"),
        mail(sender="Pat <pat@exa_mple.com>", subject="Bad sender"),
        mail(subject="Third"),
    )
    with tenant_context(tenant):
        done = intake.inbound_process_pending(limit=10)
        assert [inbound.status for inbound in done] == ["processed", "quarantined", "processed"]
        assert "no usable sender address" in done[1].reason
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["First", "Third"]


def _statements_to_file(tenant, mailbox, raws) -> int:
    _store(tenant, mailbox, *raws)
    with tenant_context(tenant), CaptureQueriesContext(connection) as queries:
        done = intake.inbound_process_pending(limit=50)
    assert [inbound.status for inbound in done] == ["processed"] * len(raws)
    return len(queries)


# Reading one mail is one step: its attempt counted and its bytes loaded by
# one UPDATE, committed. In a test's transaction the commit is a savepoint:
# SAVEPOINT, tenant set, UPDATE ... RETURNING, RELEASE, tenant set back.
STATEMENTS_TO_READ_A_MAIL = 5


def test_new_mail_is_filed_in_the_same_number_of_statements_for_3_or_30(tenant, mailbox):
    few = _statements_to_file(
        tenant, mailbox, [mail(sender=f"a{i}@example.com", subject=f"A{i}") for i in range(3)]
    )
    many = _statements_to_file(
        tenant, mailbox, [mail(sender=f"b{i}@example.com", subject=f"B{i}") for i in range(30)]
    )
    # Writing them: the same statements for 3 or 30.
    per_mail = STATEMENTS_TO_READ_A_MAIL
    assert many - 30 * per_mail == few - 3 * per_mail, (few, many)
    with tenant_context(tenant):
        tickets = list(Ticket.objects.order_by("number").prefetch_related("messages", "events"))
        assert [t.number for t in tickets] == list(range(1, 34))  # in order, none skipped
        assert [t.subject for t in tickets[3:6]] == ["B0", "B1", "B2"]
        for ticket in tickets:
            assert ticket.requester.email == ticket.messages.get().author_contact.email
            assert sorted(e.kind for e in ticket.events.all()) == ["created", "message_added"]
        filed = InboundEmail.objects.get(ticket=tickets[-1])
        assert filed.message == tickets[-1].messages.get()


def test_new_mail_written_together_keeps_senders_organisations_and_bounce_marks(tenant, mailbox):
    with tenant_context(tenant):
        globex = Organization.objects.create(
            tenant=tenant, name="Globex", email_domains=["globex.example"]
        )
        Contact.objects.create(
            tenant=tenant, email="back@example.com", email_bounced_at="2026-01-01T00:00Z"
        )
    _store(
        tenant,
        mailbox,
        mail(sender="Ann <ann@globex.example>", subject="One"),
        mail(sender="Ann <ann@globex.example>", subject="Two"),
        mail(sender="back@example.com", subject="I am reachable again"),
    )
    with tenant_context(tenant):
        intake.inbound_process_pending(limit=10)
        ann = Contact.objects.get(email="ann@globex.example")
        assert (ann.name, ann.organization) == ("Ann", globex)
        assert ann.tickets.count() == 2  # one contact for both mails
        assert Contact.objects.get(email="back@example.com").email_bounced_at is None


def test_a_reply_in_the_same_batch_as_its_request_joins_it(tenant, mailbox):
    first = mail(subject="Printer on fire")
    message_id = first.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    reply = mail(subject="Re: Printer on fire", extra=f"In-Reply-To: {message_id}\r\n")
    _store(tenant, mailbox, first, reply)
    with tenant_context(tenant):
        intake.inbound_process_pending(limit=10)
        ticket = Ticket.objects.get()
        assert ticket.messages.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_hands_its_events_over_in_one_task(tenant, mailbox, eager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with mock.patch.object(tasks.process_inbound_batch, "delay"):
        _store(
            tenant,
            mailbox,
            *[mail(subject=f"Batch {i}", sender=f"c{i}@example.com") for i in range(4)],
        )
    with mock.patch.object(tasks.process_event, "delay") as one_by_one:
        tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert one_by_one.call_count == 0
    with tenant_context(tenant):
        # Handled all the same: each new ticket's acknowledgement went out.
        assert OutboundEmail.objects.filter(status="sent").count() == 4
        assert not Event.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_mail_whose_publish_was_lost_is_swept_up(tenant, mailbox, eager, settings):
    settings.INTAKE_SWEEP_GRACE_SECONDS = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    redis_client().delete(f"intake:scheduled:{tenant.pk}")
    outage = ConnectionError("broker down")
    with mock.patch.object(tasks.process_inbound_batch, "delay", side_effect=outage):
        _store(tenant, mailbox, mail(subject="Stored during an outage"))
    with tenant_context(tenant):
        assert InboundEmail.objects.get().status == "received"  # kept, waiting
    assert tasks.sweep_stored_mail() == 1
    with tenant_context(tenant):
        assert Ticket.objects.get().subject == "Stored during an outage"


@pytest.mark.parametrize("same_batch", [True, False])
def test_one_mail_sent_to_two_of_our_addresses_makes_one_ticket(tenant, mailbox, same_batch):
    with tenant_context(tenant):
        sales, _ = services.mailbox_create(name="Sales", address="sales@acme.example")
    first = mail(subject="Quote and support question")
    # The copy for the second address: a relay added its own headers on top.
    second = b"Delivered-To: sales@acme.example\r\nReceived: from relay.example\r\n" + first
    with tenant_context(tenant):
        intake.inbound_store(mailbox=mailbox, raw=first)
        if not same_batch:
            intake.inbound_process_pending(limit=10)
        intake.inbound_store(mailbox=sales, raw=second)
        intake.inbound_process_pending(limit=10)
        ticket = Ticket.objects.get()
        assert ticket.messages.count() == 1
        copy = InboundEmail.objects.get(mailbox=sales)
        assert (copy.status, copy.ticket) == ("processed", ticket)
        assert "copy of mail already filed" in copy.reason


def test_a_reused_message_id_on_different_mail_is_not_taken_for_a_copy(tenant, mailbox):
    first = mail(subject="Printer", body="The printer jams.")
    message_id = re.search(rb"Message-ID: (\S+)", first).group(1)
    second = re.sub(
        rb"Message-ID: \S+", b"Message-ID: " + message_id, mail(subject="Scanner", body="Slow.")
    )
    _store(tenant, mailbox, first)
    with tenant_context(tenant):
        intake.inbound_process_pending(limit=10)
    _store(tenant, mailbox, second)
    with tenant_context(tenant):
        intake.inbound_process_pending(limit=10)
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["Printer", "Scanner"]
