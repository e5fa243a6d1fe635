"""Mail out: acknowledgements and replies, sent once, threaded so that the
customer's answer finds its ticket."""

from unittest import mock

import pytest
from django.core import mail as outbox
from django.core.mail.backends import locmem
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tests.tickets.test_intake import mail as raw_mail
from tickets import intake, mail, services, tasks
from tickets.models import Event, InboundEmail, Message, OutboundEmail, Ticket


@pytest.fixture(autouse=True)
def _memory_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _deliver(client, tenant, mailbox, raw):
    return client.post(
        reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id]),
        data=raw,
        content_type="message/rfc822",
        headers={"X-Helpdesk-Token": mailbox.token},
    )


@pytest.mark.django_db(transaction=True)
def test_mail_in_gets_an_acknowledgement_that_threads(client, tenant, mailbox, eager):
    assert _deliver(client, tenant, mailbox, raw_mail(subject="Printer on fire")).status_code == 202
    assert len(outbox.outbox) == 1
    ack = outbox.outbox[0]
    assert ack.to == ["pat@example.com"]
    assert ack.subject == "[ACME-1] Printer on fire"
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"
    with tenant_context(tenant):
        assert mail.ticket_number_from_ids([ack.extra_headers["Message-ID"]]) == 1
        assert OutboundEmail.objects.get().status == OutboundEmail.Status.SENT

    # The customer answers from another address, no ticket number in the subject:
    # the signed In-Reply-To still files it on the ticket.
    answer = raw_mail(
        sender="pat.private@example.net",
        subject="Re: your request",
        body="Still smoking.",
        extra=f"In-Reply-To: {ack.extra_headers['Message-ID']}\r\n",
    )
    _deliver(client, tenant, mailbox, answer)
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1
        assert Ticket.objects.get().messages.last().body_text == "Still smoking."
    assert len(outbox.outbox) == 1  # no acknowledgement for a follow-up


@pytest.mark.django_db(transaction=True)
def test_public_reply_goes_to_requester_and_ccs_once(tenant, agent, eager):
    with tenant_context(tenant):
        ticket = TicketFactory(
            requester=ContactFactory(email="pat@example.com"),
            cc_emails=["boss@example.com"],
            channel=Ticket.Channel.PHONE,  # logged by an agent: no acknowledgement
        )
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket, kind=Message.Kind.NOTE, body="internal only", author_user=agent
        )
        services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Please restart it.", author_user=agent
        )
    # One copy per recipient (each carries that recipient's own portal
    # link), each naming both as one mail would.
    assert [sent.recipients() for sent in outbox.outbox] == [
        ["pat@example.com"],
        ["boss@example.com"],
    ]
    for sent in outbox.outbox:
        assert (sent.to, sent.cc) == (["pat@example.com"], ["boss@example.com"])
        assert sent.subject == f"Re: [ACME-{ticket.number}] {ticket.subject}"
        assert "Please restart it." in sent.body and "internal only" not in sent.body
        assert sent.extra_headers["References"].startswith(f"<hd.{tenant.pk}.{ticket.number}.root.")
    with tenant_context(tenant):
        outbound = OutboundEmail.objects.get()
        # A retried task finds it sent and does not send again.
        assert mail.outbound_send(outbound_id=outbound.pk) == "already sent"
    assert len(outbox.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_an_auto_reply_becomes_a_ticket_but_is_never_acknowledged(client, tenant, mailbox, eager):
    raw = raw_mail(subject="Out of office", extra="Auto-Submitted: auto-replied\r\n")
    _deliver(client, tenant, mailbox, raw)
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1
    assert outbox.outbox == []


def test_our_own_mail_coming_back_is_quarantined_as_a_loop(client, tenant, mailbox):
    with tenant_context(tenant):
        ours = mail.message_id_for(tenant.pk, 7, "42")
    raw = raw_mail(subject="[ACME-7] looping").replace(
        b"Message-ID: <", f"Message-ID: {ours}\r\nX-Old-Id: <".encode(), 1
    )
    _deliver(client, tenant, mailbox, raw)
    with tenant_context(tenant):
        inbound = intake.inbound_process(inbound=InboundEmail.objects.get())
        assert inbound.status == "quarantined" and "mail loop" in inbound.reason
        assert Ticket.objects.count() == 0


def test_a_forged_thread_id_is_not_trusted(client, tenant, mailbox):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        genuine = mail.message_id_for(tenant.pk, ticket.number, "root")
    forged = genuine.replace(genuine.split(".")[4][:20], "0" * 20)
    raw = raw_mail(sender="mallory@evil.example", subject="hi", extra=f"In-Reply-To: {forged}\r\n")
    _deliver(client, tenant, mailbox, raw)
    with tenant_context(tenant):
        intake.inbound_process(inbound=InboundEmail.objects.get())
        assert ticket.messages.count() == 1
        assert Ticket.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_is_retried_and_stays_visible(tenant, agent, settings, eager):
    settings.EMAIL_BACKEND = "tests.tickets.test_email_out.RefusingBackend"
    with mock.patch.object(tasks.send_outbound_email, "delay"), tenant_context(tenant):
        ticket = TicketFactory(channel=Ticket.Channel.PHONE)
        message = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Hello", author_user=agent
        )
        outbound = mail.outbound_for_message(message=message, kind=OutboundEmail.Kind.REPLY)
    # Each failure is recorded, then retried by a task of its own (run at
    # once here: eager tasks skip the backoff's countdown).
    tasks.send_outbound_email.apply(kwargs={"tenant_id": tenant.pk, "outbound_id": outbound.pk})
    with tenant_context(tenant):
        outbound.refresh_from_db()
    assert outbound.status == OutboundEmail.Status.FAILED
    assert outbound.attempts == 7  # the first try and six retries
    assert "mail server said no" in outbound.last_error


class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server said no")


def test_notes_and_customer_messages_send_no_mail_and_queue_no_work(tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(channel=Ticket.Channel.PHONE)
        services.message_add(ticket=ticket, kind=Message.Kind.NOTE, body="hm", author_user=agent)
        services.message_add(
            ticket=ticket, kind=Message.Kind.CUSTOMER, body="more", author_contact=ticket.requester
        )
        added = Event.objects.filter(ticket=ticket, kind=Event.Kind.MESSAGE_ADDED)
        # No handler wants these events: they are done the moment they are written.
        assert all(event.processed_at is not None for event in added)
        assert OutboundEmail.objects.count() == 0


def _dsn(original_message_id: str, recipient: str = "pat@example.com") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: help@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Return-Path: <>\r\nMessage-ID: <dsn-1@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_message_id}\r\nSubject: [ACME-1] Printer\r\n"
        "--B--\r\n"
    ).encode()


def test_a_bounce_is_noted_on_its_ticket_and_stops_mail_to_the_address(
    client, tenant, mailbox, agent
):
    with tenant_context(tenant):
        ticket = TicketFactory(
            requester=ContactFactory(email="pat@example.com"), channel=Ticket.Channel.PHONE
        )
        lost = mail.message_id_for(tenant.pk, ticket.number, "1")
    _deliver(client, tenant, mailbox, _dsn(lost))
    with tenant_context(tenant):
        inbound = intake.inbound_process(inbound=InboundEmail.objects.get())
        assert inbound.status == "processed" and inbound.ticket == ticket
        failure = Event.objects.get(ticket=ticket, kind=Event.Kind.DELIVERY_FAILED)
        assert failure.new_value == {
            "addresses": ["pat@example.com"],
            "reason": "smtp; 550 5.1.1 No such user",
        }
        assert Ticket.objects.count() == 1  # not a new ticket
        # The next public reply is not mailed to the dead address.
        reply = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Hello?", author_user=agent
        )
        assert mail.outbound_for_message(message=reply, kind=OutboundEmail.Kind.REPLY) is None


def test_a_bounce_for_mail_we_do_not_know_is_quarantined(client, tenant, mailbox):
    _deliver(client, tenant, mailbox, _dsn("<unknown@elsewhere.example>"))
    with tenant_context(tenant):
        inbound = intake.inbound_process(inbound=InboundEmail.objects.get())
    assert inbound.status == "quarantined"
    assert "delivery failure report" in inbound.reason
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0


def test_the_ticket_page_shows_the_delivery_failure(client, tenant, mailbox, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        lost = mail.message_id_for(tenant.pk, ticket.number, "1")
    _deliver(client, tenant, mailbox, _dsn(lost))
    with tenant_context(tenant):
        intake.inbound_process(inbound=InboundEmail.objects.get())
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert "could not deliver mail to <b>pat@example.com</b>" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_acknowledgements_to_one_address_are_capped(client, tenant, mailbox, eager, settings):
    settings.AUTO_MAIL_MAX_PER_ADDRESS = 3
    for i in range(5):
        _deliver(client, tenant, mailbox, raw_mail(subject=f"Request {i}"))
    with tenant_context(tenant):
        assert Ticket.objects.count() == 5  # every request is filed
    assert len(outbox.outbox) == 3  # but only three acknowledgements go out
    _deliver(client, tenant, mailbox, raw_mail(sender="other@example.com", subject="Mine"))
    assert len(outbox.outbox) == 4  # another address is not affected


def test_automatic_mail_about_one_ticket_is_capped(tenant, agent, settings):
    settings.AUTO_MAIL_MAX_PER_TICKET = 2
    settings.AUTO_MAIL_MAX_PER_ADDRESS = 100
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        sent = []
        for i in range(4):
            message = services.message_add(
                ticket=ticket,
                kind=Message.Kind.CUSTOMER,
                body=f"Message {i}",
                author_contact=ticket.requester,
            )
            sent.append(
                mail.outbound_for_message(message=message, kind=OutboundEmail.Kind.ACKNOWLEDGEMENT)
            )
        assert [outbound is not None for outbound in sent] == [True, True, False, False]
        # Replies written by agents are never capped.
        reply = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="On it.", author_user=agent
        )
        assert mail.outbound_for_message(message=reply, kind=OutboundEmail.Kind.REPLY)
        other = TicketFactory(requester=ticket.requester)
        first = services.message_add(
            ticket=other, kind=Message.Kind.CUSTOMER, body="New", author_contact=other.requester
        )
        assert mail.outbound_for_message(message=first, kind=OutboundEmail.Kind.ACKNOWLEDGEMENT)


def test_a_bounced_address_is_mailed_again_once_its_owner_writes_in(
    client, tenant, mailbox, agent, login
):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        lost = mail.message_id_for(tenant.pk, ticket.number, "1")
    _deliver(client, tenant, mailbox, _dsn(lost))
    with tenant_context(tenant):
        intake.inbound_process(inbound=InboundEmail.objects.get())
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert "Mail to this address bounced" in page.content.decode()

    # An out-of-office from the address proves nothing; a real mail does.
    _deliver(
        client,
        tenant,
        mailbox,
        raw_mail(
            sender="pat@example.com", subject="Away", extra="Auto-Submitted: auto-replied\r\n"
        ),
    )
    _deliver(client, tenant, mailbox, raw_mail(sender="pat@example.com", subject="I'm back"))
    with tenant_context(tenant):
        away, back = InboundEmail.objects.exclude(ticket=ticket).order_by("pk")
        intake.inbound_process(inbound=away)
        ticket.requester.refresh_from_db()
        assert ticket.requester.email_bounced_at is not None
        intake.inbound_process(inbound=back)
        ticket.requester.refresh_from_db()
        assert ticket.requester.email_bounced_at is None
        reply = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Welcome back", author_user=agent
        )
        assert mail.outbound_for_message(message=reply, kind=OutboundEmail.Kind.REPLY)
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert "Mail to this address bounced" not in page.content.decode()


def _store_new_mail(tenant, mailbox, count):
    with tenant_context(tenant):
        for i in range(count):
            intake.inbound_store(
                mailbox=mailbox, raw=raw_mail(sender=f"c{i}@example.com", subject=f"Batch {i}")
            )


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_acknowledgements_goes_out_over_one_connection(tenant, mailbox, eager):
    with mock.patch.object(tasks.process_inbound_batch, "delay"):
        _store_new_mail(tenant, mailbox, 4)
    connections = []
    real_connection = tasks.get_connection

    def counted_connection(*args, **kwargs):
        connections.append(real_connection(*args, **kwargs))
        return connections[-1]

    with (
        mock.patch.object(tasks, "get_connection", side_effect=counted_connection),
        mock.patch.object(tasks.send_outbound_email, "delay") as one_by_one,
    ):
        tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert one_by_one.call_count == 0
    assert len(connections) == 1
    assert sorted(m.to[0] for m in outbox.outbox) == [f"c{i}@example.com" for i in range(4)]
    with tenant_context(tenant):
        assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_one_refused_mail_in_a_batch_is_retried_alone_and_the_rest_go(
    tenant, mailbox, eager, settings
):
    with mock.patch.object(tasks.process_inbound_batch, "delay"):
        _store_new_mail(tenant, mailbox, 3)
    real_send = locmem.EmailBackend.send_messages

    def refuse_c1(self, messages):
        if messages[0].to == ["c1@example.com"]:
            raise ConnectionRefusedError("550 mailbox unavailable")
        return real_send(self, messages)

    with (
        mock.patch.object(locmem.EmailBackend, "send_messages", refuse_c1),
        mock.patch.object(tasks.send_outbound_email, "apply_async") as retry_alone,
    ):
        tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert sorted(m.to[0] for m in outbox.outbox) == ["c0@example.com", "c2@example.com"]
    with tenant_context(tenant):
        refused = OutboundEmail.objects.get(to=["c1@example.com"])
        assert (refused.status, refused.attempts) == ("pending", 1)
        assert "550 mailbox unavailable" in refused.last_error
    retry_alone.assert_called_once()
    assert retry_alone.call_args.kwargs["kwargs"]["outbound_id"] == refused.pk


@pytest.mark.django_db(transaction=True)
def test_mail_no_task_took_is_sent_by_the_sweep(tenant, mailbox, eager, settings):
    settings.MAIL_SWEEP_GRACE_SECONDS = 0
    outage = ConnectionError("broker down")
    with (
        mock.patch.object(tasks.process_inbound_batch, "delay"),
        mock.patch.object(tasks.send_outbound_emails, "delay", side_effect=outage),
    ):
        _store_new_mail(tenant, mailbox, 2)
        tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert outbox.outbox == []
    with tenant_context(tenant):
        assert OutboundEmail.objects.filter(status="pending").count() == 2  # recorded, waiting
    assert tasks.sweep_unsent_mail() == 1  # the one tenant with mail waiting
    assert sorted(m.to[0] for m in outbox.outbox) == ["c0@example.com", "c1@example.com"]
    tasks.sweep_unsent_mail()  # the tenant's next look: nothing left to send
    assert len(outbox.outbox) == 2
    assert tasks.sweep_unsent_mail() == 0  # and after it the tenant is left alone


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_mail_server_leaves_each_mail_recorded_for_its_own_retry(
    tenant, mailbox, eager
):
    with mock.patch.object(tasks.process_inbound_batch, "delay"):
        _store_new_mail(tenant, mailbox, 2)
    down = ConnectionRefusedError("connection refused by smtp.example:587")
    with (
        mock.patch.object(locmem.EmailBackend, "open", side_effect=down),
        mock.patch.object(tasks.send_outbound_email, "apply_async") as retry_alone,
    ):
        tasks.process_inbound_batch.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert outbox.outbox == []
    assert retry_alone.call_count == 2
    with tenant_context(tenant):
        for outbound in OutboundEmail.objects.all():
            assert (outbound.status, outbound.attempts) == ("pending", 1)
            assert "connection refused" in outbound.last_error


def test_a_failure_reported_after_another_worker_sent_the_mail_changes_nothing(tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory()
        message = ticket.messages.get()
        outbound = OutboundEmail.objects.create(
            tenant=tenant, ticket=ticket, message=message, kind=OutboundEmail.Kind.ACKNOWLEDGEMENT,
            to=["pat@example.com"], status="sent",
        )  # fmt: skip
        assert not mail.outbound_failed(
            outbound_id=outbound.pk, error=TimeoutError("slow"), final=False
        )
        outbound.refresh_from_db()
        assert (outbound.status, outbound.attempts, outbound.last_error) == ("sent", 0, "")
