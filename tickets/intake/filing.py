"""Filing: a parsed message becomes a new ticket, a follow-up, a copy of
mail filed before, or quarantined with its reason."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.models import Membership, Tenant
from helpdesk.tenancy import current_tenant, tenant_context

from .. import mail, services
from ..models import InboundEmail, Mailbox, Message, OutboundEmail, Ticket
from .parse import ParsedEmail, Unprocessable, parse_email, with_notes
from .store import inbound_schedule

logger = logging.getLogger(__name__)

# Raised in the middle of the work when the batch task's soft time limit is
# reached: it ends the batch, and is never taken for a fault of the mail.
_STOPS = (SoftTimeLimitExceeded,)


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


def _subject_token_number(subject: str, prefix: str) -> int | None:
    """The number in a subject token such as [ACME-1042]."""
    match = re.search(rf"\[{re.escape(prefix)}-(\d+)\]", subject, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def _ticket_by_subject_token(subject: str) -> Ticket | None:
    number = _subject_token_number(subject, current_tenant().ticket_prefix)
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
    (again, for an admin's "Process again"), in the caller's transaction.
    `force` is "File anyway": the rules that refuse a mail (size, loop,
    bounce) are set aside."""
    inbound = InboundEmail.objects.select_for_update().get(pk=inbound.pk)
    if inbound.status == InboundEmail.Status.PROCESSED:
        return inbound  # a retried task: done already
    inbound.attempts += 1
    parsed = _parse_stored(inbound, bytes(inbound.raw), force=force)
    if isinstance(parsed, ParsedEmail):
        original = _filed_copies([(inbound, parsed)]).get(inbound.copy_key)
        if original is not None and original.pk != inbound.pk:
            return _file_as_copy(inbound, parsed, original)
    return _file_one(inbound, parsed)


def inbound_process_pending(*, limit: int, tenant: Tenant | None = None) -> list[InboundEmail]:
    """File a batch of the tenant's stored mail (by default the current
    tenant's), oldest first: at most `limit` messages and
    INTAKE_BATCH_MAX_BYTES of raw mail, and always at least one.

    Run it outside a transaction (the batch task does): each step below then
    commits on its own. Inside one, the steps commit with it.

    1. The batch is claimed for INTAKE_CLAIM_SECONDS, reading ids and sizes,
       not the raw bytes: another worker takes the mail after it meanwhile,
       and the mail of a lost worker is taken again when the claim runs out.
    2. Each mail's attempt is counted and committed before its bytes are
       loaded and parsed, one mail at a time: a mail that stops the worker
       (its memory, a hang ended by the time limit) is seen to have been
       tried, and after INTAKE_MAX_ATTEMPTS tries it is quarantined unread.
    3. Consecutive mails that open new tickets are filed together (one
       `tickets_create`), any other mail alone, after the run before it (it
       may answer a mail of that run). Each filing is a transaction of its
       own: a bad mail is quarantined without undoing the rest, and the
       ticket counter is locked only while a run's numbers are reserved.

    Mail tried before is read last and alone: a mail that stops the worker
    holds back neither the mail after it nor the mail it was read with.
    """
    tenant = tenant or current_tenant()
    batch = _claim(tenant, limit)
    done: list[InboundEmail] = []
    try:
        fresh = [inbound for inbound in batch if not inbound.attempts]
        tried = sorted(
            (inbound for inbound in batch if inbound.attempts),
            key=lambda inbound: (inbound.attempts, inbound.received_at, inbound.pk),
        )
        run: list[tuple[InboundEmail, ParsedEmail | str]] = []
        for inbound in fresh:
            item = _read(tenant, inbound)
            if item is None:
                continue
            run.append(item)
            if not _opens_ticket_plainly(item[1], tenant.ticket_prefix):
                done += _file_in_order(tenant, run)
                run = []
        done += _file_in_order(tenant, run)
        for inbound in tried:
            if inbound.attempts >= settings.INTAKE_MAX_ATTEMPTS:
                done += _quarantine_unread(tenant, inbound)
                continue
            item = _read(tenant, inbound)
            if item is not None:
                done += _file_in_order(tenant, [item])
    finally:
        # Stopped early (the soft time limit, a failed write): the mail not
        # filed is given back for the next batch instead of waiting out the
        # claim. (A killed worker runs nothing more: its claim runs out.)
        _release(
            tenant, [inbound for inbound in batch if inbound.status == InboundEmail.Status.RECEIVED]
        )
    return done


def _claim(tenant: Tenant, limit: int) -> list[InboundEmail]:
    """Claim the oldest waiting mail that no live batch holds, up to `limit`
    messages and INTAKE_BATCH_MAX_BYTES (at least one), without its bytes."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.INTAKE_CLAIM_SECONDS)
    with tenant_context(tenant):
        unclaimed = InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )
        waiting = list(
            unclaimed.order_by("received_at", "pk")
            .defer("raw")
            .select_for_update(skip_locked=True)[:limit]
        )
        batch, size = [], 0
        for inbound in waiting:
            if batch and size + inbound.size > settings.INTAKE_BATCH_MAX_BYTES:
                break
            batch.append(inbound)
            size += inbound.size
        InboundEmail.objects.filter(pk__in=[inbound.pk for inbound in batch]).update(
            claimed_until=until
        )
        if len(batch) < len(waiting) or (len(batch) == limit and unclaimed.exists()):
            # More is waiting: another worker can take it while this one works.
            transaction.on_commit(lambda: inbound_schedule(tenant_id=tenant.pk), robust=True)
    for inbound in batch:
        inbound.claimed_until = until
    return batch


def _release(tenant: Tenant, unfiled: list[InboundEmail]) -> None:
    if not unfiled:
        return
    try:
        with tenant_context(tenant):
            InboundEmail.objects.filter(
                pk__in=[inbound.pk for inbound in unfiled],
                status=InboundEmail.Status.RECEIVED,
                claimed_until=unfiled[0].claimed_until,
            ).update(claimed_until=None)
    except Exception:  # noqa: BLE001 - the claim runs out by itself
        logger.warning("claim on %d stored mails not given back", len(unfiled), exc_info=True)


def _read(tenant: Tenant, inbound: InboundEmail) -> tuple[InboundEmail, ParsedEmail | str] | None:
    """Count an attempt at the mail in a commit of its own, then load its
    bytes and parse them (in no transaction: parsing holds no lock). None
    when the mail is no longer this batch's: filed, or taken by another
    worker after this batch's claim ran out."""
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tickets_inboundemail SET attempts = attempts + 1 "
            "WHERE id = %s AND status = %s AND claimed_until = %s RETURNING attempts, raw",
            [inbound.pk, InboundEmail.Status.RECEIVED, inbound.claimed_until],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    inbound.attempts = row[0]
    return inbound, _parse_stored(inbound, bytes(row[1]))


def _lock_waiting(pks: list[int]) -> set[int]:
    """Lock those of the mails that still wait to be filed. One that another
    worker filed meanwhile (its claim had run out here) is left alone."""
    return set(
        InboundEmail.objects.filter(pk__in=pks, status=InboundEmail.Status.RECEIVED)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )


def _quarantine_unread(tenant: Tenant, inbound: InboundEmail) -> list[InboundEmail]:
    """Keep a mail whose reading stopped the worker INTAKE_MAX_ATTEMPTS
    times for an admin, without reading it again."""
    logger.warning("stored mail %s stopped the worker %d times", inbound.pk, inbound.attempts)
    with tenant_context(tenant):
        if not _lock_waiting([inbound.pk]):
            return []
        inbound.status = InboundEmail.Status.QUARANTINED
        inbound.reason = (
            f"It stopped the worker {inbound.attempts} times while being read; kept for an admin."
        )
        inbound.save(update_fields=["status", "reason"])
    return [inbound]


def _file_in_order(
    tenant: Tenant, items: list[tuple[InboundEmail, ParsedEmail | str]]
) -> list[InboundEmail]:
    """File parsed mail in order: runs of new requests together, anything
    else alone after the run before it, and a copy of mail filed before
    joined to what that mail made."""
    if not items:
        return []
    with tenant_context(tenant):
        filed_copies = _filed_copies(items)
    done, new_run = [], []
    for inbound, parsed in items:
        key = inbound.copy_key or None
        original = filed_copies.get(key)
        if original is not None and original.status == InboundEmail.Status.RECEIVED:
            # Its first copy waits in the run: write the run, then point here.
            done += _file_new_together(tenant, new_run)
            new_run = []
        if original is not None and original.status == InboundEmail.Status.PROCESSED:
            done += _file_copy_alone(tenant, inbound, parsed, original)
            continue
        if key is not None:
            filed_copies[key] = inbound
        if _opens_ticket_plainly(parsed, tenant.ticket_prefix):
            new_run.append((inbound, parsed))
            continue
        # Whatever threads or quarantines goes in order: it may answer a
        # mail of the run before it, so that run is written first.
        done += _file_new_together(tenant, new_run)
        new_run = []
        done += _file_alone(tenant, inbound, parsed)
    return done + _file_new_together(tenant, new_run)


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


def _file_copy_alone(
    tenant: Tenant, inbound: InboundEmail, parsed: ParsedEmail, original: InboundEmail
) -> list[InboundEmail]:
    with tenant_context(tenant):
        if not _lock_waiting([inbound.pk]):
            return []
        return [_file_as_copy(inbound, parsed, original)]


def _file_as_copy(
    inbound: InboundEmail, parsed: ParsedEmail, original: InboundEmail
) -> InboundEmail:
    """The same mail again (sent to two of our addresses, or passed on by a
    relay): it joins what its first copy made instead of making another."""
    inbound.status = InboundEmail.Status.PROCESSED
    inbound.rfc_message_id = parsed.message_id
    inbound.ticket_id, inbound.message_id = original.ticket_id, original.message_id
    inbound.copy_of = original
    inbound.reason = f"A copy of mail already filed (stored mail #{original.pk})."
    inbound.save(update_fields=INBOUND_RESULT_FIELDS)
    return inbound


def _opens_ticket_plainly(parsed: ParsedEmail | str, prefix: str) -> bool:
    """A new request: it answers no mail and names no ticket."""
    return isinstance(parsed, ParsedEmail) and not (
        parsed.bounced_to
        or parsed.answers
        or _subject_token_number(parsed.subject, prefix) is not None
    )


def _file_new_together(
    tenant: Tenant, run: list[tuple[InboundEmail, ParsedEmail]]
) -> list[InboundEmail]:
    """Open a ticket for each mail of the run with one `tickets_create`, in a
    transaction of its own, the attachments staged before it. If any mail is
    refused, each is filed alone instead, so that only the bad one is
    quarantined, with its own reason."""
    if not run:
        return []
    try:
        _stage_files(tenant, run)
        with tenant_context(tenant):
            if len(_lock_waiting([inbound.pk for inbound, _ in run])) < len(run):
                raise _Gone  # some of it was filed by another worker: see which, one by one
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
            _record_filed_together(run, tickets)
    except _STOPS:
        raise
    except Exception as problem:  # noqa: BLE001 - refiled one by one just below
        if not isinstance(problem, _Gone):
            logger.warning(
                "filing %d new mails together failed; one by one", len(run), exc_info=True
            )
        return [filed for inbound, parsed in run for filed in _file_alone(tenant, inbound, parsed)]
    for (inbound, parsed), ticket in zip(run, tickets, strict=True):
        inbound.status, inbound.reason = InboundEmail.Status.PROCESSED, ""
        inbound.rfc_message_id = parsed.message_id
        inbound.ticket, inbound.message = ticket, ticket.first_message
    return [inbound for inbound, _ in run]


class _Gone(Exception):
    pass


def _record_filed_together(run, tickets) -> None:
    # One UPDATE from arrays: Django's bulk_update builds a CASE per row and
    # field, which took longer in Python than writing the tickets. The
    # attempts were counted when each mail was read.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tickets_inboundemail AS inbound SET status = %s, reason = '', "
            "rfc_message_id = filed.rfc_message_id, "
            "copy_key = filed.copy_key, ticket_id = filed.ticket_id, message_id = filed.message_id "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
            "AS filed (id, rfc_message_id, copy_key, ticket_id, message_id) "
            "WHERE inbound.id = filed.id",
            [
                InboundEmail.Status.PROCESSED,
                [inbound.pk for inbound, _ in run],
                [parsed.message_id for _, parsed in run],
                [inbound.copy_key for inbound, _ in run],
                [ticket.pk for ticket in tickets],
                [ticket.first_message.pk for ticket in tickets],
            ],
        )


# Not the raw bytes: they never change, and rewriting them costs.
INBOUND_RESULT_FIELDS = [
    "status", "reason", "attempts", "rfc_message_id", "copy_key", "copy_of", "ticket", "message",
]  # fmt: skip


def _parse_stored(inbound: InboundEmail, raw: bytes, force: bool = False) -> ParsedEmail | str:
    """The parsed message, or why it cannot be read. Sets the row's copy key."""
    try:
        parsed = parse_email(raw, force=force)
        inbound.copy_key = copy_key(raw, parsed)
        return parsed
    except Unprocessable as problem:
        return str(problem)
    except _STOPS:
        raise
    except Exception as problem:  # noqa: BLE001 - kept, shown to admins, reprocessable
        return f"Could not be read: {type(problem).__name__}: {problem}"[:2000]


def _filing_failure(problem: Exception) -> str:
    """Why a mail could not be filed, as the quarantine shows it."""
    if isinstance(problem, (Unprocessable, ValidationError)):
        return "; ".join(getattr(problem, "messages", None) or [str(problem)])
    return f"Could not be filed: {type(problem).__name__}: {problem}"[:2000]


def _with_files_staged(tenant: Tenant, parsed: ParsedEmail) -> ParsedEmail:
    """The mail with its attachments written to storage (StagedAttachment),
    before the transaction that files it. A bounce keeps none."""
    if not parsed.attachments or parsed.bounced_to:
        return parsed
    staged = services.attachments_stage(parsed.attachments, tenant_id=tenant.pk)
    return dataclasses.replace(parsed, attachments=staged)


def _stage_files(tenant: Tenant, run: list[tuple[InboundEmail, ParsedEmail]]) -> None:
    # In place: what was staged before a failure is kept for the refiling.
    for index, (inbound, parsed) in enumerate(run):
        run[index] = (inbound, _with_files_staged(tenant, parsed))


def _discard_files(parsed: ParsedEmail | str) -> None:
    """Remove staged files that no row came to name."""
    if isinstance(parsed, ParsedEmail):
        services.attachments_discard(
            [file for file in parsed.attachments if isinstance(file, services.StagedAttachment)]
        )


def _file_alone(
    tenant: Tenant, inbound: InboundEmail, parsed: ParsedEmail | str
) -> list[InboundEmail]:
    """File one mail in a transaction of its own, its attachments staged
    before it; quarantined with the reason when it cannot be filed."""
    if isinstance(parsed, ParsedEmail):
        try:
            parsed = _with_files_staged(tenant, parsed)
        except _STOPS:
            raise
        except Exception as problem:  # noqa: BLE001 - kept, shown to admins, reprocessable
            parsed = _filing_failure(problem)
    try:
        with tenant_context(tenant):
            filed = _file_one(inbound, parsed) if _lock_waiting([inbound.pk]) else None
    except BaseException:
        _discard_files(parsed)
        raise
    if filed is None or filed.status != InboundEmail.Status.PROCESSED:
        _discard_files(parsed)
    return [filed] if filed is not None else []


def _file_one(inbound: InboundEmail, parsed: ParsedEmail | str) -> InboundEmail:
    """File one parsed mail in the current transaction, or quarantine it
    with the reason."""
    inbound.status, inbound.reason = InboundEmail.Status.QUARANTINED, ""
    if isinstance(parsed, str):
        inbound.reason = parsed
    else:
        inbound.rfc_message_id = parsed.message_id
        try:
            with transaction.atomic():
                ticket, message = _file_parsed(parsed)
        except _STOPS:
            raise
        except Exception as problem:  # noqa: BLE001 - kept, shown to admins, reprocessable
            inbound.reason = _filing_failure(problem)
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
