"""Filing: a parsed message becomes a new ticket, a follow-up, a copy of
mail filed before, or quarantined with its reason."""

from __future__ import annotations

import hashlib
import logging
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from helpdesk.models import Membership
from helpdesk.tenancy import current_tenant

from .. import mail, services
from ..models import InboundEmail, Mailbox, Message, OutboundEmail, Ticket
from .parse import ParsedEmail, Unprocessable, parse_email, with_notes

logger = logging.getLogger(__name__)


def _ticket_answered(parsed: ParsedEmail) -> tuple[Ticket | None, bool]:
    """The ticket whose mail this one answers, and whether that alone makes
    the sender trusted. Our signed ids and the ids of mail we sent are proof
    of having received our mail; the id of a customer's own mail is known to
    everyone who got that mail, so it counts only from people on the ticket
    (as the subject token does)."""
    if not parsed.answers:
        return None, False
    number = mail.ticket_number_from_ids(parsed.answers)
    if number is None:
        number = (
            OutboundEmail.objects.filter(rfc_message_id__in=parsed.answers)
            .values_list("ticket__number", flat=True)
            .first()
        )
    trusted = number is not None
    if number is None:
        number = (
            InboundEmail.objects.filter(rfc_message_id__in=parsed.answers)
            .exclude(ticket=None)
            .values_list("ticket__number", flat=True)
            .first()
        )
    if number is None:
        return None, False
    return Ticket.objects.filter(number=number).select_related("requester").first(), trusted


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
    """A subject token or a customer's Message-ID is trusted only from
    people on the ticket: its requester, a Cc, or an agent."""
    if sender == ticket.requester.email or sender in [c.lower() for c in ticket.cc_emails]:
        return True
    return Membership.objects.filter(tenant=current_tenant(), user__email__iexact=sender).exists()


@transaction.atomic
def inbound_process(*, inbound: InboundEmail, force: bool = False) -> InboundEmail:
    """Turn one stored message into a ticket or a follow-up, or quarantine it
    (again, for an admin's "Process again"). `force` is "File anyway": the
    rules that refuse a mail (size, loop, bounce) are set aside."""
    inbound = InboundEmail.objects.select_for_update().get(pk=inbound.pk)
    if inbound.status == InboundEmail.Status.PROCESSED:
        return inbound  # a retried task: done already
    parsed = _parse_stored(inbound, force=force)
    if isinstance(parsed, ParsedEmail):
        original = _filed_copies([(inbound, parsed)]).get(inbound.copy_key)
        if original is not None and original.pk != inbound.pk:
            return _file_as_copy(inbound, parsed, original)
    return _file_stored(inbound, parsed)


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
        key = inbound.copy_key or None
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


def copy_key(raw: bytes, parsed: ParsedEmail) -> str:
    """What makes two stored mails the same mail: Message-ID, sender,
    subject, date and body. Relays and a second mailbox of ours add headers
    (Received, Delivered-To) and so change the raw bytes, never these; a
    sender that reuses a Message-ID for another mail changes one of them.
    Mail without a Message-ID needs a date to be recognised; without either,
    two mails alike are two requests ("still broken", sent twice)."""
    if not parsed.message_id and not parsed.date:
        return ""
    header_end = re.search(rb"\r?\n\r?\n", raw)
    body = raw[header_end.end() :] if header_end else b""
    key = "\n".join((parsed.message_id, parsed.sender_email, parsed.subject, parsed.date)).encode(
        "utf-8", errors="surrogatepass"
    )
    return hashlib.sha256(key + b"\n" + hashlib.sha256(body).digest()).hexdigest()


def _filed_copies(parsed_batch) -> dict[str, InboundEmail]:
    """Mail filed before that a mail of this batch repeats, by copy key."""
    keys = {inbound.copy_key for inbound, _ in parsed_batch}
    keys.discard("")
    if not keys:
        return {}
    earlier = (
        InboundEmail.objects.filter(copy_key__in=keys, status=InboundEmail.Status.PROCESSED)
        .exclude(ticket=None)
        .defer("raw")
    )
    copies = {}
    for inbound in earlier.order_by("received_at", "pk"):
        copies.setdefault(inbound.copy_key, inbound)
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
    inbound.copy_of = original
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
            ours = _our_addresses()
            tickets = services.tickets_create(
                [_ticket_draft(parsed, senders[parsed.sender_email], ours) for _, parsed in run]
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
            "copy_key = filed.copy_key, ticket_id = filed.ticket_id, message_id = filed.message_id "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
            "AS filed (id, rfc_message_id, copy_key, ticket_id, message_id) "
            "WHERE inbound.id = filed.id",
            [
                InboundEmail.Status.PROCESSED,
                [inbound.pk for inbound, _ in run],
                [inbound.rfc_message_id for inbound, _ in run],
                [inbound.copy_key for inbound, _ in run],
                [inbound.ticket_id for inbound, _ in run],
                [inbound.message_id for inbound, _ in run],
            ],
        )
    return [inbound for inbound, _ in run]


# Not the raw bytes: they never change, and rewriting them costs.
INBOUND_RESULT_FIELDS = [
    "status", "reason", "attempts", "rfc_message_id", "copy_key", "copy_of", "ticket", "message",
]  # fmt: skip


def _parse_stored(inbound: InboundEmail, force: bool = False) -> ParsedEmail | str:
    """The parsed message, or why it cannot be read. Sets the row's copy key."""
    try:
        raw = bytes(inbound.raw)
        parsed = parse_email(raw, force=force)
        inbound.copy_key = copy_key(raw, parsed)
        return parsed
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
    # A reply to our mail is trusted; the id of a customer's mail or the
    # subject token only from people on the ticket.
    existing, trusted = _ticket_answered(parsed)
    if existing is None:
        existing = _ticket_by_subject_token(parsed.subject)
    if existing is not None and not trusted:
        trusted = _may_write_to(existing, parsed.sender_email)
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
    # New ticket; linked to the one it names when the sender may not add to
    # it, or when it is closed.
    draft = _ticket_draft(parsed, sender, _our_addresses(), follow_up_of=existing)
    ticket = services.tickets_create([draft])[0]
    return ticket, ticket.first_message


def _our_addresses() -> set[str]:
    """The tenant's own addresses: never kept as a Cc, or each reply would
    mail the help desk itself."""
    tenant = current_tenant()
    ours = set(Mailbox.objects.values_list("address", flat=True))
    if tenant.support_email:
        ours.add(tenant.support_email.lower())
    return ours


def _ticket_draft(parsed: ParsedEmail, sender, ours: set[str], follow_up_of=None):
    cc = [address for address in parsed.cc if address not in ours]
    text, html = parsed.text, parsed.html
    if len(cc) > settings.TICKET_MAX_CC:
        # Thousands of Cc addresses make every reply a mail blast.
        cap = settings.TICKET_MAX_CC
        note = f"{len(cc) - cap} more Cc addresses were not kept: a ticket keeps at most {cap}."
        text, html = with_notes(text, html, [note])
        cc = cc[:cap]
    return services.TicketDraft(
        requester=sender,
        subject=parsed.subject[:200],
        body=text,
        channel=Ticket.Channel.EMAIL,
        cc_emails=cc,
        attachments=parsed.attachments,
        follow_up_of=follow_up_of,
        acknowledge=not parsed.is_automatic,
        body_html=html,
    )


def inbound_quarantined():
    return InboundEmail.objects.filter(status=InboundEmail.Status.QUARANTINED).order_by(
        "-received_at"
    )
