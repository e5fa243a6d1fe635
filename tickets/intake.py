"""Email intake: store the raw message first, parse it second.

The webhook commits the bytes before it answers, so a message is never lost;
parsing runs in a task and can fail without losing anything: the message is
quarantined with the reason, shown to admins, and can be processed again.
"""

from __future__ import annotations

import functools
import hashlib
import html as html_lib
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.template.defaultfilters import filesizeformat

from helpdesk.models import Membership
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import current_tenant

from . import mail, services
from .models import InboundEmail, Mailbox, Message, OutboundEmail, Ticket

logger = logging.getLogger(__name__)


class Unprocessable(Exception):
    """A message we keep but cannot turn into a ticket; the text is the reason."""


def inbound_store(*, mailbox: Mailbox, raw: bytes) -> tuple[InboundEmail, bool]:
    """Commit the raw bytes (once per distinct message); True when new.

    Processing is enqueued after the commit.
    """
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with transaction.atomic():
            inbound = InboundEmail.objects.create(
                tenant=current_tenant(),
                mailbox=mailbox,
                raw=raw,
                raw_sha256=digest,
                size=len(raw),
            )
    except IntegrityError:
        # Delivered before: the first copy is (or will be) processed.
        return InboundEmail.objects.get(mailbox=mailbox, raw_sha256=digest), False
    transaction.on_commit(lambda: inbound_schedule(tenant_id=inbound.tenant_id), robust=True)
    return inbound, True


def _scheduled_key(tenant_id: int) -> str:
    return f"intake:scheduled:{tenant_id}"


def inbound_schedule(*, tenant_id: int) -> None:
    """Make sure a batch task will process the tenant's stored mail.

    One waiting task drains everything stored before it starts, so a burst
    of mail costs one publish, not one per message. If Redis or the broker
    fails here, the beat sweep schedules the mail later.
    """
    from .tasks import process_inbound_batch

    if redis_client().set(_scheduled_key(tenant_id), "1", nx=True, ex=60):
        process_inbound_batch.delay(tenant_id=tenant_id)


def inbound_schedule_taken(*, tenant_id: int) -> None:
    """A batch task started: mail stored from now on needs another one."""
    redis_client().delete(_scheduled_key(tenant_id))


# ---------------------------------------------------------------- parsing


class _HeadersParsedOnce(EmailPolicy):
    """The stdlib's modern policy, except that MIME structure headers are
    parsed once.

    `policy.default` parses a header each time it is read, and walking the
    MIME tree reads each part's Content-Type a dozen times: that was most of
    the parsing time. Parsed headers are immutable, so equal ones are shared.
    Only structure headers are memoised: what people wrote (addresses,
    subjects) is not kept in the worker's memory after its mail.
    """

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value  # set by code, parsed already
        if name.lower() in _STRUCTURE_HEADERS:
            return _structure_header_parsed(name, value)
        return super().header_fetch_parse(name, value)


_STRUCTURE_HEADERS = {"content-type", "content-disposition", "content-transfer-encoding"}


@functools.lru_cache(maxsize=1024)
def _structure_header_parsed(name: str, value: str):
    return policy.default.header_fetch_parse(name, value)


PARSING_POLICY = _HeadersParsedOnce()


@dataclass
class ParsedEmail:
    sender_email: str
    sender_name: str
    subject: str
    text: str
    html: str | None
    cc: list[str] = field(default_factory=list)
    attachments: list[SimpleUploadedFile] = field(default_factory=list)
    message_id: str = ""
    # In-Reply-To and References: the mails this one answers.
    answers: list[str] = field(default_factory=list)
    # An auto-reply, list or bulk mail: never acknowledged automatically.
    is_automatic: bool = False
    # A delivery failure report: the addresses that failed, and why.
    bounced_to: list[str] = field(default_factory=list)
    bounce_reason: str = ""
    # Our Message-IDs anywhere in the mail (a bounce quotes the lost mail).
    quoted_ids: list[str] = field(default_factory=list)


AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
AUTOMATIC_MARKERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-Loop")


def _is_automatic(message: EmailMessage) -> bool:
    if str(message.get("Return-Path", "")).strip() == "<>":
        return True  # a null return path: generated mail that wants no answer
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if str(message.get("Precedence", "")).strip().lower() in AUTOMATIC_PRECEDENCE:
        return True
    return any(message.get(header) is not None for header in AUTOMATIC_MARKERS)


def _decoded(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        # Unknown or lying charset: keep what can be read.
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def _bounce(message: EmailMessage, raw: bytes) -> tuple[list[str], str]:
    """The failed recipients and the reason, when this is a delivery failure report."""
    sender = str(message.get("From", "")).lower()
    is_report = (
        message.get_content_type() == "multipart/report"
        and message.get_param("report-type", "").lower() == "delivery-status"
    )
    if not is_report and not any(marker in sender for marker in BOUNCE_SENDERS):
        return [], ""
    text = raw.decode("utf-8", errors="replace")
    recipients = re.findall(r"(?im)^Final-Recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", text)
    reason = re.search(r"(?im)^Diagnostic-Code:\s*(.+)$", text)
    return (
        sorted({address.lower() for address in recipients}),
        (reason.group(1).strip() if reason else "The mail server did not deliver it.")[:500],
    )


def _leaf_parts(part: EmailMessage):
    """Every part that is not a multipart container, in order. An attached
    mail (message/rfc822) is one part: its own parts belong to it."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _leaf_parts(sub)
    else:
        yield part


_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote)\s*>")


def _html_text(html: str) -> str:
    """A readable text version of HTML mail: line breaks kept, tags dropped."""
    text = nh3.clean(_BLOCK_END.sub("\n", html), tags=set())
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", html_lib.unescape(text)).strip()


def _filename(text: str, fallback: str) -> str:
    name = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", text).strip(" ._")
    return name[:120] or fallback


def _attachment(part: EmailMessage) -> SimpleUploadedFile | None:
    """A mail part as a file: attached mails as .eml, inline images with
    their Content-ID so the HTML can show them in place."""
    if part.get_content_type() == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        subject = " ".join(str(inner.get("Subject", "")).split())
        name = _filename(part.get_filename() or subject, "Attached message")
        if not name.lower().endswith(".eml"):
            name += ".eml"
        return SimpleUploadedFile(name, inner.as_bytes(), "message/rfc822")
    payload = part.get_payload(decode=True)
    if payload is None:
        return None
    content_type = part.get_content_type()
    extension = mimetypes.guess_extension(content_type) or ".bin"
    upload = SimpleUploadedFile(
        _filename(part.get_filename() or "", f"attachment{extension}"), payload, content_type
    )
    upload.content_id = str(part.get("Content-ID", "")).strip().strip("<>")
    return upload


def _kept_attachments(parts: list[EmailMessage]) -> tuple[list[SimpleUploadedFile], list[str]]:
    """The files we keep, and a sentence for each we do not (the raw mail
    still holds them)."""
    kept, refused = [], []
    for part in parts:
        upload = _attachment(part)
        if upload is None:
            continue
        refusal = services.attachment_refusal(upload)
        if refusal is None and len(kept) >= settings.ATTACHMENT_MAX_FILES:
            refusal = f"{upload.name}: at most {settings.ATTACHMENT_MAX_FILES} files per message."
        if refusal:
            refused.append(refusal)
        else:
            kept.append(upload)
    return kept, refused


def parse_email(raw: bytes) -> ParsedEmail:
    """Read what intake needs from an RFC 822 message (stdlib, modern policy)."""
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
        limit = filesizeformat(settings.INBOUND_EMAIL_MAX_BYTES)
        raise Unprocessable(f"Larger than the limit for incoming mail ({limit}).")
    message = BytesParser(policy=PARSING_POLICY).parsebytes(raw)
    message_id = str(message.get("Message-ID", "")).strip()
    if mail.is_our_message_id(message_id):
        raise Unprocessable("Our own outgoing mail came back to us (a mail loop); not filed.")
    senders = getaddresses([str(value) for value in message.get_all("From", [])])
    sender_name, sender_email = senders[0] if senders else ("", "")
    if not sender_email or "@" not in sender_email:
        raise Unprocessable("The message has no sender address (From).")
    cc = [addr for _, addr in getaddresses([str(v) for v in message.get_all("Cc", [])]) if addr]
    bounced_to, bounce_reason = _bounce(message, raw)
    subject = " ".join(str(message.get("Subject", "")).split())

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    html = _decoded(html_part) if html_part is not None else None
    text = _decoded(text_part).strip() if text_part is not None else ""
    if not text and html:
        text = _html_text(html)
    others = []
    for part in _leaf_parts(message):
        if part is text_part or part is html_part:
            continue
        if part.get_content_maintype() == "multipart":
            # A multipart whose boundary is missing or wrong: its body is
            # unsplit text; better shown than lost.
            if not text:
                text = _decoded(part).strip()
            continue
        others.append(part)
    attachments, refused = _kept_attachments(others)
    if not text and not attachments and not bounced_to:
        raise Unprocessable("The message has no text and no attachments.")
    if refused:
        notice = "Not kept (the original mail is stored): " + " ".join(refused)
        text = f"{text}\n\n[{notice}]".strip()
        if html:
            html += f"<p><em>[{html_lib.escape(notice)}]</em></p>"
    return ParsedEmail(
        sender_email=sender_email.lower(),
        sender_name=sender_name,
        subject=subject or "(no subject)",
        text=text or "(see attachments)",
        html=html,
        cc=cc,
        attachments=attachments,
        message_id=message_id[:250],
        answers=re.findall(
            r"<[^<>\s]+>",
            " ".join(str(message.get(h, "")) for h in ("In-Reply-To", "References")),
        ),
        is_automatic=bool(bounced_to) or _is_automatic(message),
        bounced_to=bounced_to,
        bounce_reason=bounce_reason,
        quoted_ids=mail.ids_in(raw.decode("utf-8", errors="replace")) if bounced_to else [],
    )


def _ticket_answered(parsed: ParsedEmail) -> Ticket | None:
    """The ticket whose mail this one answers: our signed ids first, then the
    ids of mail stored in either direction."""
    if not parsed.answers:
        return None
    number = mail.ticket_number_from_ids(parsed.answers)
    if number is None:
        known = (
            InboundEmail.objects.filter(rfc_message_id__in=parsed.answers)
            .exclude(ticket=None)
            .values_list("ticket__number", flat=True)
            .first()
        )
        number = known or (
            OutboundEmail.objects.filter(rfc_message_id__in=parsed.answers)
            .values_list("ticket__number", flat=True)
            .first()
        )
    if number is None:
        return None
    return Ticket.objects.filter(number=number).select_related("requester").first()


def _subject_token_number(subject: str) -> int | None:
    """The number in a subject token such as [ACME-1042]."""
    prefix = re.escape(current_tenant().ticket_prefix)
    match = re.search(rf"\[{prefix}-(\d+)\]", subject, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def _ticket_by_subject_token(subject: str) -> Ticket | None:
    number = _subject_token_number(subject)
    if number is None:
        return None
    return Ticket.objects.filter(number=number).select_related("requester").first()


def _may_write_to(ticket: Ticket, sender: str) -> bool:
    """The subject token alone is trusted only from people on the ticket."""
    if sender == ticket.requester.email or sender in [c.lower() for c in ticket.cc_emails]:
        return True
    return Membership.objects.filter(tenant=current_tenant(), user__email__iexact=sender).exists()


@transaction.atomic
def inbound_process(*, inbound: InboundEmail) -> InboundEmail:
    """Turn one stored message into a ticket or a follow-up, or quarantine it
    (again, for an admin's "Process again")."""
    inbound = InboundEmail.objects.select_for_update().get(pk=inbound.pk)
    if inbound.status == InboundEmail.Status.PROCESSED:
        return inbound  # a retried task: done already
    return _file_stored(inbound, _parse_stored(inbound))


@transaction.atomic
def inbound_process_pending(*, limit: int) -> list[InboundEmail]:
    """Process up to `limit` stored messages of the current tenant, oldest
    first, in one transaction.

    Rows another worker is processing are skipped (SKIP LOCKED). All of the
    batch is parsed before anything is written, so the locks that writing
    takes (the ticket counter, tickets being replied to) are held only for
    the writing. Consecutive mails that open new tickets are written
    together (`tickets_create`); the others one at a time, each in its own
    savepoint, so a bad one is quarantined without undoing the rest.
    """
    batch = list(
        InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED)
        .order_by("received_at", "pk")
        .select_for_update(skip_locked=True)[:limit]
    )
    parsed_batch = [(inbound, _parse_stored(inbound)) for inbound in batch]
    if batch:
        services.ticket_numbering_lock()
    filed_copies = _filed_copies(parsed_batch)
    done, new_run = [], []
    for inbound, parsed in parsed_batch:
        key = _copy_key(inbound, parsed.message_id) if isinstance(parsed, ParsedEmail) else None
        original = filed_copies.get(key)
        if original is not None and original.status == InboundEmail.Status.RECEIVED:
            # Its first copy waits in the run: write the run, then point here.
            done += _file_new_together(new_run)
            new_run = []
        if original is not None and original.status == InboundEmail.Status.PROCESSED:
            done.append(_file_as_copy(inbound, parsed, original))
            continue
        if key is not None:
            filed_copies[key] = inbound
        if isinstance(parsed, ParsedEmail) and _opens_ticket_plainly(parsed):
            new_run.append((inbound, parsed))
            continue
        # Whatever threads or quarantines goes in order: it may answer a
        # mail of the run before it, so that run is written first.
        done += _file_new_together(new_run)
        new_run = []
        done.append(_file_stored(inbound, parsed))
    return done + _file_new_together(new_run)


def _copy_key(inbound: InboundEmail, message_id: str) -> tuple[str, str] | None:
    """What makes two stored mails the same mail: its Message-ID and its
    body. Relays and a second mailbox of ours add headers (Received,
    Delivered-To) and so change the raw bytes, never the body; a sender
    that reuses a Message-ID for another mail changes the body."""
    if not message_id:
        return None
    raw = bytes(inbound.raw)
    header_end = re.search(rb"\r?\n\r?\n", raw)
    body = raw[header_end.end() :] if header_end else b""
    return message_id, hashlib.sha256(body).hexdigest()


def _filed_copies(parsed_batch) -> dict[tuple[str, str], InboundEmail]:
    """Mail filed before whose Message-ID a mail of this batch repeats."""
    ids = {parsed.message_id for _, parsed in parsed_batch if isinstance(parsed, ParsedEmail)}
    ids.discard("")
    if not ids:
        return {}
    earlier = InboundEmail.objects.filter(
        rfc_message_id__in=ids, status=InboundEmail.Status.PROCESSED
    ).exclude(ticket=None)
    copies = {}
    for inbound in earlier.order_by("received_at", "pk"):
        copies.setdefault(_copy_key(inbound, inbound.rfc_message_id), inbound)
    return copies


def _file_as_copy(
    inbound: InboundEmail, parsed: ParsedEmail, original: InboundEmail
) -> InboundEmail:
    """The same mail again (sent to two of our addresses, or passed on by a
    relay): it joins what its first copy made instead of making another."""
    inbound.attempts += 1
    inbound.status = InboundEmail.Status.PROCESSED
    inbound.rfc_message_id = parsed.message_id
    inbound.ticket_id, inbound.message_id = original.ticket_id, original.message_id
    inbound.reason = f"A copy of mail already filed (stored mail #{original.pk})."
    inbound.save(update_fields=INBOUND_RESULT_FIELDS)
    return inbound


def _opens_ticket_plainly(parsed: ParsedEmail) -> bool:
    """A new request: it answers no mail and names no ticket."""
    return not (
        parsed.bounced_to or parsed.answers or _subject_token_number(parsed.subject) is not None
    )


def _file_new_together(run: list[tuple[InboundEmail, ParsedEmail]]) -> list[InboundEmail]:
    """Open a ticket for each mail of the run with one `tickets_create`. If
    any of them is refused, each is filed alone instead, so that only the bad
    one is quarantined, with its own reason."""
    if not run:
        return []
    try:
        with transaction.atomic():
            senders = services.contacts_get_or_create(
                [(parsed.sender_email, parsed.sender_name, "") for _, parsed in run]
            )
            for _, parsed in run:
                if senders[parsed.sender_email].email_bounced_at and not parsed.is_automatic:
                    services.contact_mail_works(email=parsed.sender_email)
            tickets = services.tickets_create(
                [_ticket_draft(parsed, senders[parsed.sender_email]) for _, parsed in run]
            )
    except Exception:  # noqa: BLE001 - refiled one by one just below
        logger.warning("filing %d new mails together failed; one by one", len(run), exc_info=True)
        return [_file_stored(inbound, parsed) for inbound, parsed in run]
    for (inbound, parsed), ticket in zip(run, tickets, strict=True):
        inbound.attempts += 1
        inbound.status, inbound.reason = InboundEmail.Status.PROCESSED, ""
        inbound.rfc_message_id = parsed.message_id
        inbound.ticket, inbound.message = ticket, ticket.first_message
    # One UPDATE from arrays: Django's bulk_update builds a CASE per row and
    # field, which took longer in Python than writing the tickets.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tickets_inboundemail AS inbound SET status = %s, reason = '', "
            "attempts = inbound.attempts + 1, rfc_message_id = filed.rfc_message_id, "
            "ticket_id = filed.ticket_id, message_id = filed.message_id "
            "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[]) "
            "AS filed (id, rfc_message_id, ticket_id, message_id) WHERE inbound.id = filed.id",
            [
                InboundEmail.Status.PROCESSED,
                [inbound.pk for inbound, _ in run],
                [inbound.rfc_message_id for inbound, _ in run],
                [inbound.ticket_id for inbound, _ in run],
                [inbound.message_id for inbound, _ in run],
            ],
        )
    return [inbound for inbound, _ in run]


# Not the raw bytes: they never change, and rewriting them costs.
INBOUND_RESULT_FIELDS = ["status", "reason", "attempts", "rfc_message_id", "ticket", "message"]


def _parse_stored(inbound: InboundEmail) -> ParsedEmail | str:
    """The parsed message, or why it cannot be read."""
    try:
        return parse_email(bytes(inbound.raw))
    except Unprocessable as problem:
        return str(problem)
    except Exception as problem:  # noqa: BLE001 - kept, shown to admins, reprocessable
        return f"Could not be read: {type(problem).__name__}: {problem}"[:2000]


def _file_stored(inbound: InboundEmail, parsed: ParsedEmail | str) -> InboundEmail:
    inbound.attempts += 1
    inbound.status, inbound.reason = InboundEmail.Status.QUARANTINED, ""
    if isinstance(parsed, str):
        inbound.reason = parsed
    else:
        inbound.rfc_message_id = parsed.message_id
        try:
            with transaction.atomic():
                ticket, message = _file_parsed(parsed)
        except (Unprocessable, ValidationError) as problem:
            inbound.reason = "; ".join(getattr(problem, "messages", None) or [str(problem)])
        except Exception as problem:  # noqa: BLE001 - kept, shown to admins, reprocessable
            inbound.reason = f"Could not be filed: {type(problem).__name__}: {problem}"[:2000]
        else:
            inbound.status = InboundEmail.Status.PROCESSED
            inbound.ticket, inbound.message = ticket, message
    inbound.save(update_fields=INBOUND_RESULT_FIELDS)
    return inbound


def _file_bounce(parsed: ParsedEmail) -> Ticket:
    """A delivery failure: note it on the ticket whose mail bounced and stop
    mailing the address."""
    number = mail.ticket_number_from_ids(parsed.quoted_ids)
    ticket = Ticket.objects.filter(number=number).first() if number else None
    if ticket is None:
        raise Unprocessable("A delivery failure report for mail we cannot find.")
    services.delivery_failed(
        ticket=ticket, addresses=parsed.bounced_to, reason=parsed.bounce_reason
    )
    return ticket


def _file_parsed(parsed: ParsedEmail) -> tuple[Ticket, Message | None]:
    if parsed.bounced_to:
        return _file_bounce(parsed), None
    sender = services.contact_get_or_create(email=parsed.sender_email, name=parsed.sender_name)
    if sender.email_bounced_at and not parsed.is_automatic:
        services.contact_mail_works(email=sender.email)
    # A reply to our mail (signed or stored ids) is trusted; the subject token
    # alone only from people on the ticket.
    existing = _ticket_answered(parsed)
    trusted = existing is not None
    if existing is None:
        existing = _ticket_by_subject_token(parsed.subject)
        trusted = existing is not None and _may_write_to(existing, parsed.sender_email)
    if trusted and existing.status != Ticket.Status.CLOSED:
        message = services.message_add(
            ticket=existing,
            kind=Message.Kind.CUSTOMER,
            body=parsed.text,
            body_html=parsed.html,
            author_contact=sender,
            attachments=parsed.attachments,
        )
        return existing, message
    # New ticket; linked to the one named in the subject when the sender may
    # not add to it, or when it is closed.
    ticket = services.tickets_create([_ticket_draft(parsed, sender, follow_up_of=existing)])[0]
    return ticket, ticket.first_message


def _ticket_draft(parsed: ParsedEmail, sender, follow_up_of: Ticket | None = None):
    return services.TicketDraft(
        requester=sender,
        subject=parsed.subject[:200],
        body=parsed.text,
        channel=Ticket.Channel.EMAIL,
        cc_emails=parsed.cc,
        attachments=parsed.attachments,
        follow_up_of=follow_up_of,
        acknowledge=not parsed.is_automatic,
        body_html=parsed.html,
    )


def inbound_quarantined():
    return InboundEmail.objects.filter(status=InboundEmail.Status.QUARANTINED).order_by(
        "-received_at"
    )
