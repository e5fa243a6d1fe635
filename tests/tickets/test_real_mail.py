"""Mail as real senders and attackers send it (tests/tickets/mail_corpus):
nothing refused, nothing garbled, nothing slow, nothing amplified, nobody
writing into someone else's ticket."""

import base64
import time
import uuid

import pytest
from django.core import mail as outbox

from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import _post, _process_all, mail
from tests.tickets.test_mail_corpus import CORPUS
from tickets import intake, services
from tickets.models import InboundEmail, Message, OutboundEmail, Ticket


def _filed(client, tenant, mailbox, raw: bytes) -> Message:
    assert _post(client, tenant, mailbox, raw).status_code == 202
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.order_by("-pk").first()
        assert inbound.status == "processed", inbound.reason
        return (
            Message.objects.select_related("ticket__requester")
            .prefetch_related("attachments")
            .get(pk=inbound.message_id)
        )


def _corpus(client, tenant, mailbox, name: str) -> Message:
    return _filed(client, tenant, mailbox, (CORPUS / name).read_bytes())


# ---------------------------------------------------------------- nothing refused


def test_a_subject_without_a_body_is_filed_as_no_text(client, tenant, mailbox):
    message = _corpus(client, tenant, mailbox, "subject_only_no_body.eml")
    assert message.ticket.subject == "Call me back about invoice 7731"
    assert message.body_text == "(no text)"


@pytest.mark.parametrize(
    ("name", "email", "contact_name"),
    [
        ("quoted_local_part.eml", '"first last"@example.com', ""),
        ("empty_first_from.eml", "priya@example.net", "Priya Raman"),
        ("reply_to_only.eml", "jonas.berg@example.se", "Jonas Berg"),
        ("sender_only.eml", "ops@example.com", "Ops Robot Owner"),
        ("comment_form_name.eml", "kim.lee@example.com", "Kim Lee"),
    ],
)
def test_senders_as_real_mail_names_them(client, tenant, mailbox, name, email, contact_name):
    message = _corpus(client, tenant, mailbox, name)
    assert (message.ticket.requester.email, message.ticket.requester.name) == (email, contact_name)


def test_mail_with_no_usable_sender_anywhere_is_quarantined_with_the_reason(
    client, tenant, mailbox
):
    _post(client, tenant, mailbox, mail(sender="undisclosed-recipients:;"))
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
        assert inbound.status == "quarantined"
        assert inbound.reason.startswith("The message has no usable sender address")


@pytest.mark.parametrize("megabytes", [3, 12, 30])
def test_large_mail_is_stored_not_refused(client, tenant, mailbox, megabytes):
    photo = base64.encodebytes(b"\xff\xd8\xff\xe0" + b"\x37" * (megabytes * 1024 * 1024))
    raw = (
        b"From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: Photo\r\n"
        b"Message-ID: <big@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nThe photo of the meter.\r\n--b\r\n"
        b'Content-Type: image/jpeg; name="meter.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + photo
        + b"\r\n--b--\r\n"
    )
    assert len(raw) > megabytes * 1024 * 1024
    response = _post(client, tenant, mailbox, raw)
    assert response.status_code == 202
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
        assert inbound.size == len(raw)
        if megabytes < 25:  # under INBOUND_EMAIL_MAX_BYTES: a ticket
            assert inbound.status == "processed"
            body = Message.objects.get().body_text
            assert body.startswith("The photo of the meter.")
            if megabytes > 10:  # the photo alone is past ATTACHMENT_MAX_BYTES
                assert "meter.jpg is larger than 10 MB" in body
        else:  # kept, quarantined with the reason, as the README says
            assert inbound.status == "quarantined"
            assert inbound.reason.startswith("Larger than the limit for incoming mail")


def test_mail_past_the_hard_cap_gets_a_final_413_and_nothing_is_stored(
    client, tenant, mailbox, settings
):
    settings.INBOUND_EMAIL_HARD_MAX_BYTES = 2 * 1024 * 1024
    response = _post(client, tenant, mailbox, mail(body="x" * (3 * 1024 * 1024)))
    assert response.status_code == 413
    assert b"accepts mail up to 2.0" in response.content
    with tenant_context(tenant):
        assert not InboundEmail.objects.exists()


# ---------------------------------------------------------------- nothing garbled


@pytest.mark.parametrize(
    ("name", "subject", "body", "sender_name"),
    [
        (
            "utf8_without_charset.eml",
            "Anfrage über das Kontaktformular",
            "Grüße aus Köln! Die Rechnung über 120 € ist doppelt abgebucht worden.",
            "Jürgen Weiß",
        ),
        (
            "gb2312_label_gbk_text.eml",
            "打印机故障 镕",
            "您好，朱镕基路的门店打印机坏了。王珺",
            "王珺",
        ),
        (
            "iso2022jp_nec_ibm.eml",
            "①請求書の件",
            "髙橋です。①請求書 ②見積書 を送ってください。",
            "髙橋",
        ),
        (
            "shift_jis_needs_cp932.eml",
            "③番の商品",
            "お世話になります。③番の商品が届いていません。",
            "",
        ),
        (
            "ks_c_5601_needs_cp949.eml",
            "주문 취소 똠",
            "안녕하세요. 똠얌꿍 주문이 취소되지 않았습니다.",
            "김민수",
        ),
        (
            "latin1_label_cp1252_text.eml",
            "Facture – € en trop",
            "Bonjour, la facture indique “120 €” – c’est trop.",
            "Renée Dupré",
        ),
        ("label_iso_gb2312.eml", "退款申请", "我要申请退款，订单号 8812。", ""),
        (
            "label_utf8_misspelt.eml",
            "Contraseña",
            "No puedo cambiar la contraseña; dice «error».",
            "",
        ),
        ("label_x_unknown.eml", "Faktura", "Hei, fakturaen på 450 kr er feil – blåbær.", ""),
        (
            "raw_utf8_headers.eml",
            "Räkningen är fel – 请帮忙",
            "Hej! Räkningen är dubbel.",
            "Zoë Ångström",
        ),
    ],
)
def test_text_in_any_charset_is_read_exactly(
    client, tenant, mailbox, name, subject, body, sender_name
):
    message = _corpus(client, tenant, mailbox, name)
    assert message.ticket.subject == subject
    assert message.body_text == body
    assert message.ticket.requester.name == sender_name
    assert "\ufffd" not in message.ticket.subject + message.body_text


def test_text_between_attachments_is_all_body(client, tenant, mailbox):
    message = _corpus(client, tenant, mailbox, "apple_text_between_attachments.eml")
    assert message.body_text == (
        "Here is the front of the box:\n\nAnd the delivery note:\n\nThanks,\nPat"
    )
    assert sorted(a.filename for a in message.attachments.all()) == [
        "delivery-note.pdf",
        "front.jpg",
    ]


def test_html_parts_between_attachments_are_all_body(client, tenant, mailbox):
    message = _corpus(client, tenant, mailbox, "apple_html_between_attachments.eml")
    assert message.body_text == "The error appears here:\n\nAnd after clicking OK, this:"
    assert "<b>here</b>" in message.body_html
    assert "And after clicking OK, this:" in message.body_html
    assert [a.filename for a in message.attachments.all()] == ["error.jpg"]


# ---------------------------------------------------------------- nothing slow


def _html_mail(html: str) -> bytes:
    return mail(subject="Newsletter", body=html, content_type="text/html; charset=utf-8")


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 200_000 + "Hello from the bottom" + "</div>" * 200_000,
        "<p " + " ".join(f'a{i}="{i}"' for i in range(120_000)) + ">Hello from the bottom</p>",
        "<table>" + "<b>x</b>" * 200_000 + "Hello from the bottom",
        ("<div>" * 100 + "Hello from the bottom ") * 10_000,
    ],
    ids=["deep", "attributes", "table", "unclosed"],
)
def test_hostile_html_is_filed_quickly_as_text(client, tenant, mailbox, html):
    started = time.process_time()  # this process's CPU: other load does not count
    message = _filed(client, tenant, mailbox, _html_mail(html))
    assert time.process_time() - started < 5
    # Shown as the text version: none of the mail's own markup is kept.
    assert "<div" not in message.body_html and "a0=" not in message.body_html
    assert "Hello from the bottom" in message.body_text
    assert "[The HTML version of this mail is not shown (" in message.body_text


def test_mime_nested_a_thousand_levels_is_filed_with_what_can_be_read(client, tenant, mailbox):
    depth = 1000
    raw = b"From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: Deep\r\n"
    raw += b"Message-ID: <deep@example.com>\r\nMIME-Version: 1.0\r\n"
    for level in range(depth):
        raw += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\nAt the bottom.\r\n"
    for level in reversed(range(depth)):
        raw += f"--b{level}--\r\n".encode()
    started = time.process_time()  # this process's CPU: other load does not count
    message = _filed(client, tenant, mailbox, raw)
    assert time.process_time() - started < 5
    assert message.ticket.subject == "Deep"
    assert message.body_text.startswith("At the bottom.")
    assert "nested too deeply to read whole" in message.body_text


# ---------------------------------------------------------------- nothing amplified


@pytest.mark.django_db(transaction=True)
def test_five_thousand_ccs_are_capped_and_the_reply_goes_to_few(
    client, tenant, mailbox, agent, eager, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ccs = ", ".join(f"person{i}@example.org" for i in range(5000))
    raw = mail(extra=f"Cc: help@acme.example, {ccs}\r\n")
    message = _filed(client, tenant, mailbox, raw)
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        # Our own address is never a Cc: each reply would mail us.
        assert ticket.cc_emails == [f"person{i}@example.org" for i in range(20)]
        assert "[4980 more Cc addresses were not kept: a ticket keeps at most 20.]" in (
            message.body_text
        )
        outbox.outbox.clear()
        services.message_add(ticket=ticket, kind="reply", body="On it.", author_user=agent)
    # One copy per recipient (each with its own portal link), to 21 in all.
    copies = outbox.outbox
    assert len(copies) == 21
    assert len({address for copy in copies for address in copy.recipients()}) == 21
    assert all(len(copy.to) + len(copy.cc) == 21 for copy in copies)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["mailing_list_post.eml", "noreply_sender.eml"])
def test_lists_and_machines_are_filed_but_never_acknowledged(
    client, tenant, mailbox, eager, settings, name
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _post(client, tenant, mailbox, (CORPUS / name).read_bytes())
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1
        assert not OutboundEmail.objects.exists()
    assert outbox.outbox == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.org",
        "postmaster@example.org",
        "noreply@example.org",
        "no_reply+tag@example.org",
        "do-not-reply@example.org",
        "DoNotReply@example.org",
    ],
)
def test_machine_senders_get_no_acknowledgement(client, tenant, mailbox, eager, settings, sender):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _post(client, tenant, mailbox, mail(sender=sender))
    with tenant_context(tenant):
        assert not OutboundEmail.objects.exists()
    assert outbox.outbox == []


@pytest.mark.django_db(transaction=True)
def test_our_acknowledgement_asks_for_no_automatic_answers(
    client, tenant, mailbox, eager, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _post(client, tenant, mailbox, mail())
    (ack,) = outbox.outbox
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"
    assert ack.extra_headers["X-Auto-Response-Suppress"] == "All"


# ---------------------------------------------------------------- nobody writes into another's ticket


def test_a_stranger_quoting_a_customers_message_id_opens_a_new_linked_ticket(
    client, tenant, mailbox
):
    first = mail(sender="Pat <pat@example.com>", subject="My invoice")
    message_id = next(
        line.split(b":", 1)[1].strip()
        for line in first.split(b"\r\n")
        if line.startswith(b"Message-ID")
    ).decode()
    _filed(client, tenant, mailbox, first)
    stranger = mail(
        sender="Eve <eve@evil.example>",
        subject="Re: My invoice",
        body="Please change the bank account to ours.",
        extra=f"In-Reply-To: {message_id}\r\n",
    )
    message = _filed(client, tenant, mailbox, stranger)
    with tenant_context(tenant):
        original = Ticket.objects.get(number=1)
        assert original.messages.count() == 1
        assert message.ticket.number == 2
        assert message.ticket.follow_up_of_id == original.pk
    requester = mail(
        sender="Pat <pat@example.com>",
        subject="Re: My invoice",
        body="Any news?",
        extra=f"In-Reply-To: {message_id}\r\n",
    )
    message = _filed(client, tenant, mailbox, requester)
    assert message.ticket.number == 1


# ---------------------------------------------------------------- copies


def _with(raw: bytes, **replace) -> bytes:
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def test_a_copy_through_another_relay_joins_its_first(client, tenant, mailbox):
    raw = mail(extra="Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n")
    _filed(client, tenant, mailbox, b"Received: from relay-a.example\r\n" + raw)
    _filed(client, tenant, mailbox, b"Received: from relay-b.example\r\n" + raw)
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1
        first, copy = InboundEmail.objects.order_by("pk")
        assert copy.copy_of_id == first.pk and copy.message_id == first.message_id


def test_same_message_id_and_body_but_another_sender_or_subject_is_another_ticket(
    client, tenant, mailbox
):
    message_id = f"<{uuid.uuid4()}@example.com>"
    base = (
        "From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: Refund\r\n"
        f"Message-ID: {message_id}\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
        "Content-Type: text/plain\r\n\r\nPlease refund order 12.\r\n"
    )
    _filed(client, tenant, mailbox, base.encode())
    _filed(client, tenant, mailbox, base.replace("pat@example.com", "sam@example.com").encode())
    _filed(client, tenant, mailbox, base.replace("Subject: Refund", "Subject: Other").encode())
    with tenant_context(tenant):
        assert Ticket.objects.count() == 3


def test_mail_without_message_id_arriving_twice_is_one_ticket(client, tenant, mailbox):
    raw = (
        b"From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: No id\r\n"
        b"Date: Tue, 03 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nHello.\r\n"
    )
    _filed(client, tenant, mailbox, b"Received: from a\r\n" + raw)
    _filed(client, tenant, mailbox, b"Received: from b\r\n" + raw)
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1


# ---------------------------------------------------------------- signing


def test_replies_to_mail_signed_before_a_key_rotation_still_thread(tenant, settings):
    with tenant_context(tenant):
        old_id = intake.parse.mail.message_id_for(tenant.pk, 7, "root")
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
        assert intake.parse.mail.ticket_number_from_ids([old_id]) == 7
        settings.SECRET_KEY_FALLBACKS = []
        assert intake.parse.mail.ticket_number_from_ids([old_id]) is None


def test_message_ids_are_not_signed_with_the_bare_secret_key(tenant, settings):
    import hashlib
    import hmac

    with tenant_context(tenant):
        ours = intake.parse.mail.message_id_for(tenant.pk, 7, "root")
    bare = hmac.new(settings.SECRET_KEY.encode(), f"{tenant.pk}.7.root".encode(), hashlib.sha256)
    assert bare.hexdigest()[:20] not in ours


def test_mime_nested_past_forty_levels_keeps_what_is_above(client, tenant, mailbox):
    raw = b"From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: Deep\r\n"
    raw += b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="top"\r\n\r\n'
    raw += b"--top\r\nContent-Type: text/plain\r\n\r\nNear the top.\r\n--top\r\n"
    for level in range(100):
        raw += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\nAt the bottom.\r\n"
    for level in reversed(range(100)):
        raw += f"--b{level}--\r\n".encode()
    raw += b"--top--\r\n"
    message = _filed(client, tenant, mailbox, raw)
    assert message.body_text == (
        "Near the top.\n\n[Parts nested deeper than 40 levels were not read.]"
    )


@pytest.mark.parametrize(
    "filename", ["invoice.pdf.exe.", "invoice.pdf.exe ", "a.exe::$DATA", "invoice\u202efdp.exe"]
)
def test_attachment_names_are_normalised_before_the_check(client, tenant, mailbox, filename):
    encoded = "=?utf-8?b?" + base64.b64encode(filename.encode()).decode() + "?="
    raw = (
        "From: Pat <pat@example.com>\r\nTo: help@acme.example\r\nSubject: Invoice\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n"
        f'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="{encoded}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()
    message = _filed(client, tenant, mailbox, raw)
    assert message.attachments.count() == 0
    assert ".exe files are not accepted." in message.body_text
