"""Email intake: the webhook stores first, the task parses second, and a
message that cannot be read is quarantined, never dropped."""

import uuid

import pytest
from django.urls import reverse

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import intake, services
from tickets.models import InboundEmail, Message, Ticket


def mail(
    *,
    sender="Pat Lee <pat@example.com>",
    subject="Printer on fire",
    body="Smoke is coming out of tray 2.",
    extra="",
    content_type="text/plain; charset=utf-8",
):
    headers = f"From: {sender}\r\n" if sender else ""
    return (
        f"{headers}To: help@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@example.com>\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n"
    ).encode()


def _post(client, tenant, mailbox, raw, token=None):
    return client.post(
        reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id]),
        data=raw,
        content_type="message/rfc822",
        headers={"X-Helpdesk-Token": mailbox.token if token is None else token},
    )


def _process_all(tenant):
    with tenant_context(tenant):
        for inbound in InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED):
            intake.inbound_process(inbound=inbound)


def test_webhook_stores_the_raw_bytes_and_processing_makes_a_ticket(client, tenant, mailbox):
    raw = mail()
    response = _post(client, tenant, mailbox, raw)
    assert response.status_code == 202
    with tenant_context(tenant):
        stored = InboundEmail.objects.get()
        assert bytes(stored.raw) == raw and stored.status == "received"
    _process_all(tenant)
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        assert (ticket.subject, ticket.channel) == ("Printer on fire", "email")
        assert ticket.requester.email == "pat@example.com"
        assert ticket.requester.name == "Pat Lee"
        assert "tray 2" in ticket.messages.get().body_text


def test_webhook_refuses_a_wrong_token_or_mailbox_with_404(client, tenant, mailbox, other_tenant):
    assert _post(client, tenant, mailbox, mail(), token="wrong").status_code == 404
    assert _post(client, other_tenant, mailbox, mail()).status_code == 404
    with tenant_context(tenant):
        assert InboundEmail.objects.count() == 0


def test_the_same_message_delivered_twice_makes_one_ticket(client, tenant, mailbox):
    raw = mail()
    assert _post(client, tenant, mailbox, raw).status_code == 202
    assert _post(client, tenant, mailbox, raw).status_code == 200
    _process_all(tenant)
    with tenant_context(tenant):
        assert InboundEmail.objects.count() == 1
        assert Ticket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_stored_message_is_processed_after_commit(client, tenant, mailbox):
    celery_app.conf.task_always_eager = True
    try:
        assert _post(client, tenant, mailbox, mail(subject="Eager path")).status_code == 202
    finally:
        celery_app.conf.task_always_eager = False
    with tenant_context(tenant):
        assert InboundEmail.objects.get().status == "processed"
        assert Ticket.objects.get().subject == "Eager path"


def test_reply_with_the_subject_token_from_the_requester_joins_the_ticket(
    client, tenant, mailbox, agent
):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="Which model?",
            author_user=agent,
            status_after=Ticket.Status.PENDING,
        )
    _post(
        client, tenant, mailbox, mail(subject=f"Re: [ACME-{ticket.number}] Printer", body="HP 4200")
    )
    _process_all(tenant)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert Ticket.objects.count() == 1
        assert ticket.messages.last().body_text == "HP 4200"
        assert ticket.status == Ticket.Status.OPEN


def test_a_stranger_using_someone_elses_token_gets_a_new_linked_ticket(client, tenant, mailbox):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
    _post(
        client, tenant, mailbox,
        mail(sender="mallory@evil.example", subject=f"Re: [ACME-{ticket.number}] add me"),
    )  # fmt: skip
    _process_all(tenant)
    with tenant_context(tenant):
        assert ticket.messages.count() == 1
        newer = Ticket.objects.exclude(pk=ticket.pk).get()
        assert newer.follow_up_of == ticket
        assert newer.requester.email == "mallory@evil.example"


def test_mail_to_a_closed_ticket_opens_a_linked_follow_up(client, tenant, mailbox, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(requester=ContactFactory(email="pat@example.com"))
        services.ticket_change_status(
            ticket=ticket, actor=agent, status="closed", expected_version=None
        )
    _post(client, tenant, mailbox, mail(subject=f"Re: [ACME-{ticket.number}] again"))
    _process_all(tenant)
    with tenant_context(tenant):
        follow_up = Ticket.objects.exclude(pk=ticket.pk).get()
        assert follow_up.follow_up_of == ticket and follow_up.status == "new"


def test_html_only_mail_is_sanitised_and_gets_a_text_version(client, tenant, mailbox):
    body = '<p onclick="steal()">Hello <b>team</b><script>alert(1)</script></p>'
    _post(client, tenant, mailbox, mail(body=body, content_type="text/html; charset=utf-8"))
    _process_all(tenant)
    with tenant_context(tenant):
        message = Message.objects.get()
    assert "script" not in message.body_text and "Hello team" in message.body_text.replace(
        "  ", " "
    )


def test_encoded_words_and_an_unknown_charset_are_read(client, tenant, mailbox):
    raw = mail(
        sender="=?utf-8?q?Ren=C3=A9e_M=C3=BCller?= <renee@example.com>",
        subject="=?utf-8?b?w5xiZXJ3ZWlzdW5nIGZlaGx0?=",
        body="Gr\xfc\xdfe",
        content_type="text/plain; charset=x-unknown-charset",
    )
    _post(client, tenant, mailbox, raw)
    _process_all(tenant)
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        assert ticket.subject == "Überweisung fehlt"
        assert ticket.requester.name == "Renée Müller"
        assert ticket.messages.get().body_text.startswith("Gr")


def test_unreadable_mail_is_kept_quarantined_with_its_reason(client, tenant, mailbox, settings):
    _post(client, tenant, mailbox, mail(sender=""))
    settings.INBOUND_EMAIL_MAX_BYTES = 300
    _post(client, tenant, mailbox, mail(body="x" * 400))
    _process_all(tenant)
    with tenant_context(tenant):
        reasons = sorted(InboundEmail.objects.values_list("reason", flat=True))
        assert Ticket.objects.count() == 0
        assert InboundEmail.objects.filter(status="quarantined").count() == 2
    assert reasons == [
        "Larger than the limit for incoming mail (300\xa0bytes).",
        "The message has no usable sender address (From, Reply-To or Sender).",
    ]


def test_admin_sees_quarantine_and_reprocesses_after_a_fix(
    client, tenant, mailbox, admin_user, login, settings
):
    settings.INBOUND_EMAIL_MAX_BYTES = 300
    _post(client, tenant, mailbox, mail(body="y" * 400))
    _process_all(tenant)
    admin = login(admin_user)
    page = admin.get(reverse("tickets:quarantine", args=[tenant.slug])).content.decode()
    assert "Larger than the limit for incoming mail" in page
    settings.INBOUND_EMAIL_MAX_BYTES = 10_000  # the fix: a higher limit
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
    response = admin.post(
        reverse("tickets:quarantine_reprocess", args=[tenant.slug, inbound.pk]), follow=True
    )
    assert 'Filed as <a href="/acme/tickets/1/">ACME-1</a>.' in response.content.decode()
    with tenant_context(tenant):
        inbound.refresh_from_db()
        assert inbound.status == "processed" and inbound.attempts == 2


def test_quarantine_pages_are_for_admins_of_the_tenant(tenant, mailbox, agent, outsider, login):
    url = reverse("tickets:quarantine", args=[tenant.slug])
    assert login(agent).get(url).status_code == 403
    assert login(outsider).get(url).status_code == 404


def test_create_mailbox_command_prints_a_working_url_and_token(client, tenant, capsys):
    from django.core.management import call_command

    call_command("create_mailbox", tenant.slug, "Help@Acme.example")
    out = capsys.readouterr().out
    url = out.split("POST raw RFC 822 messages to ")[1].split()[0]
    token = out.split("X-Helpdesk-Token: ")[1].strip()
    response = client.post(
        url, data=mail(), content_type="message/rfc822", headers={"X-Helpdesk-Token": token}
    )
    assert response.status_code == 202
