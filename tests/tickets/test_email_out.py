"""Mail out: acknowledgements and replies, sent once, threaded so that the
customer's answer finds its ticket."""

import pytest
from django.core import mail as outbox
from django.urls import reverse

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tests.tickets.test_intake import mail as raw_mail
from tickets import intake, mail, services, tasks
from tickets.models import Event, InboundEmail, Message, OutboundEmail, Ticket


@pytest.fixture(autouse=True)
def _memory_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def mailbox(tenant):
    with tenant_context(tenant):
        box, token = intake.mailbox_create(name="Support", address="help@acme.example")
    box.token = token
    return box


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
    assert len(outbox.outbox) == 1
    sent = outbox.outbox[0]
    assert (sent.to, sent.cc) == (["pat@example.com"], ["boss@example.com"])
    assert sent.subject == f"Re: [ACME-{ticket.number}] {ticket.subject}"
    assert "Please restart it." in sent.body and "internal only" not in sent.body
    assert sent.extra_headers["References"].startswith(f"<hd.{tenant.pk}.{ticket.number}.root.")
    with tenant_context(tenant):
        outbound = OutboundEmail.objects.get()
        # A retried task finds it sent and does not send again.
        assert mail.outbound_send(outbound_id=outbound.pk) == "already sent"
    assert len(outbox.outbox) == 1


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
def test_a_failed_send_is_retried_and_stays_visible(tenant, agent, settings):
    settings.EMAIL_BACKEND = "tests.tickets.test_email_out.RefusingBackend"
    with tenant_context(tenant):
        ticket = TicketFactory(channel=Ticket.Channel.PHONE)
        message = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Hello", author_user=agent
        )
        outbound = mail.outbound_for_message(message=message, kind=OutboundEmail.Kind.REPLY)
    result = tasks.send_outbound_email.apply(
        kwargs={"tenant_id": tenant.pk, "outbound_id": outbound.pk}
    )
    assert result.failed()
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
