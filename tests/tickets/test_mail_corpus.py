"""A corpus of real-world mail shapes (tests/tickets/mail_corpus/*.eml), each
delivered through the webhook and processed as the worker does, and what an
agent then sees on the ticket."""

from pathlib import Path

import pytest
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import _post, _process_all
from tickets.models import InboundEmail, Message, OutboundEmail, Ticket

CORPUS = Path(__file__).parent / "mail_corpus"


def _file(tenant, client, mailbox, name: str) -> Message:
    _post(client, tenant, mailbox, (CORPUS / name).read_bytes())
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
        assert inbound.status == "processed", inbound.reason
        return Message.objects.select_related("ticket").prefetch_related("attachments").get()


def _names(message: Message) -> list[str]:
    return sorted(a.filename for a in message.attachments.all())


def test_every_corpus_mail_is_filed(client, tenant, mailbox):
    names = sorted(path.name for path in CORPUS.glob("*.eml"))
    assert len(names) >= 9
    for name in names:
        _post(client, tenant, mailbox, (CORPUS / name).read_bytes())
    _process_all(tenant)
    with tenant_context(tenant):
        statuses = dict(InboundEmail.objects.values_list("rfc_message_id", "status"))
        assert set(statuses.values()) == {"processed"}, statuses
        assert Ticket.objects.count() == len(names)


def test_inline_image_shows_in_place_and_the_pdf_is_attached(
    client,
    tenant,
    mailbox,
    agent,
    login,
):
    message = _file(tenant, client, mailbox, "inline_image_and_pdf.eml")
    assert message.body_text == "The export fails, see the screenshot."
    assert _names(message) == ["attachment.png", "invoice.pdf"]
    image = next(a for a in message.attachments.all() if a.content_type == "image/png")
    assert image.content_id == "shot-1@customer.example"
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, message.ticket.number]))
    image_url = reverse("tickets:attachment", args=[tenant.slug, message.ticket.number, image.pk])
    html = page.content.decode()
    assert f'<img src="{image_url}" alt="screenshot">' in html
    assert "<b>fails</b>" in html
    served = login(agent).get(image_url)
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")


def test_a_forwarded_mail_is_kept_whole_as_an_eml_attachment(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "forwarded_message.eml")
    assert message.body_text == "Forwarding the shop's confirmation, the parcel never came."
    # Its own attachment stays inside it, not mixed into the customer's files.
    assert _names(message) == ["Your order 4411 has shipped.eml"]
    (eml,) = message.attachments.all()
    assert eml.content_type == "message/rfc822"
    content = eml.file.open("rb").read()
    assert b"Tracking: ZX-991" in content and b'filename="label.txt"' in content


def test_a_wrong_boundary_still_files_the_text(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "wrong_boundary.eml")
    assert "My invoice shows the wrong VAT number." in message.body_text


def test_a_missing_closing_boundary_keeps_text_and_attachment(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "missing_close_boundary.eml")
    assert message.body_text == "The mail client cut this message short."
    assert _names(message) == ["notes.txt"]


def test_a_blocked_attachment_is_left_out_with_a_note_and_the_rest_kept(
    client,
    tenant,
    mailbox,
):
    message = _file(tenant, client, mailbox, "blocked_attachment.eml")
    assert _names(message) == ["install.log"]
    assert "Attached is the installer" in message.body_text
    assert "[Not kept (the original mail is stored): setup.exe: .exe files are not accepted.]" in (
        message.body_text
    )
    with tenant_context(tenant):
        # The original, with the installer, is still there for an admin.
        assert b'filename="setup.exe"' in bytes(InboundEmail.objects.get().raw)


def test_latin1_quoted_printable_and_encoded_words(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "latin1_quoted_printable.eml")
    assert message.ticket.subject == "Rückerstattung für Bestellung 77"
    assert message.body_text == "Grüße, ich möchte mein Geld zurück."
    with tenant_context(tenant):
        assert message.ticket.requester.name == "Jörg Schäfer"


def test_html_only_mail_gets_a_readable_text_version(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "html_only_with_entities.eml")
    assert message.body_text == "Tom & Jerry's account\nis locked\nsince Monday."
    assert "<script" not in message.body_html and "color: red" not in message.body_text
    assert "Tom &amp; Jerry" in message.body_html


def test_rfc2231_file_names_are_decoded(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "rfc2231_filename.eml")
    assert _names(message) == ["Verträge 2026.pdf"]


def test_an_out_of_office_is_filed_but_not_acknowledged(client, tenant, mailbox):
    message = _file(tenant, client, mailbox, "out_of_office.eml")
    assert message.body_text == "I am away until Monday."
    with tenant_context(tenant):
        created = message.ticket.events.get(kind="created")
        assert created.new_value["acknowledge"] is False
        assert not OutboundEmail.objects.exists()


@pytest.mark.parametrize("name", ["inline_image_and_pdf.eml", "forwarded_message.eml"])
def test_another_tenant_cannot_fetch_the_parts(client, tenant, mailbox, outsider, login, name):
    message = _file(tenant, client, mailbox, name)
    attachment = message.attachments.all()[0]
    url = reverse("tickets:attachment", args=[tenant.slug, message.ticket.number, attachment.pk])
    assert login(outsider).get(url).status_code == 404


def test_a_reply_with_a_quote_keeps_its_inline_image_in_view(client, tenant, mailbox, agent, login):
    message = _file(tenant, client, mailbox, "reply_with_quote_and_inline_image.eml")
    (image,) = message.attachments.all()
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, message.ticket.number]))
    html = page.content.decode()
    image_url = reverse("tickets:attachment", args=[tenant.slug, message.ticket.number, image.pk])
    own, folded = html.split('<details class="quoted">', 1)
    # The quote is folded away; the new screenshot stays beside the new text,
    # where the mail's own HTML put it.
    assert "Still failing, here is the new screenshot." in own
    assert f'<img src="{image_url}" alt="new screenshot">' in own
    assert "Could you send a screenshot of the error?" in folded
