"""Mail we send: acknowledgements and public replies, threaded so that the
customer's answer finds its ticket again.

Every Message-ID we make names tenant, ticket and message and carries an HMAC
signature, so an inbound In-Reply-To or References header is proof of which
ticket a reply belongs to, without trusting the subject line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac

from helpdesk.handover import HandOver
from helpdesk.mail import tenant_sender
from helpdesk.ratelimit import sliding_window_hit
from helpdesk.tenancy import current_tenant

from .models import Contact, Message, OutboundEmail, Ticket
from .sweeps import outbound_recorded
from .web_form import plain_subject

# Mail we send without a person deciding to: capped against loops.
AUTOMATIC_KINDS = {OutboundEmail.Kind.ACKNOWLEDGEMENT}

_OUR_ID = re.compile(r"<?hd\.(\d+)\.(\d+)\.(\w+)\.([0-9a-f]{20})@([^>\s]+)>?")


# A key of its own, derived from SECRET_KEY (Django's salted HMAC): a
# signature made here is no use to any other signer of the app, and the key
# rotates with SECRET_KEY, the old one kept in SECRET_KEY_FALLBACKS while
# replies to older mail still come in.
_SIGNING_SALT = "helpdesk.mail.message-id"


def _signature(tenant_id: int, number: int, part: str, secret: str | None = None) -> str:
    text = f"{tenant_id}.{number}.{part}"
    return salted_hmac(_SIGNING_SALT, text, secret=secret, algorithm="sha256").hexdigest()[:20]


def message_id_for(tenant_id: int, number: int, part: str) -> str:
    """`part` is a message id, or "root" for the ticket's thread root."""
    sig = _signature(tenant_id, number, part)
    return f"<hd.{tenant_id}.{number}.{part}.{sig}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"


def _signed_by_us(tenant_id: int, number: int, part: str, sig: str) -> bool:
    return any(
        hmac.compare_digest(sig, _signature(tenant_id, number, part, secret))
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )


def ticket_number_from_ids(header_values: list[str]) -> int | None:
    """The ticket one of our signed ids names, for the current tenant."""
    tenant_id = current_tenant().pk
    for value in header_values:
        for match in _OUR_ID.finditer(value or ""):
            mail_tenant, number, part, sig = match.groups()[:4]
            if int(mail_tenant) == tenant_id and _signed_by_us(tenant_id, int(number), part, sig):
                return int(number)
    return None


def ids_in(text: str) -> list[str]:
    """Every Message-ID of ours quoted anywhere in a text (a bounce quotes the lost mail)."""
    return [match.group(0) for match in _OUR_ID.finditer(text)]


def is_our_message_id(value: str) -> bool:
    return bool(_OUR_ID.search(value or ""))


def _from_address() -> str:
    return tenant_sender(current_tenant())


@transaction.atomic
def outbound_for_message(*, message: Message, kind: str) -> OutboundEmail | None:
    """Record the mail a message causes (once), and send it after commit."""
    ticket = message.ticket
    to = [ticket.requester.email]
    cc = [email for email in ticket.cc_emails if email.lower() != to[0]]
    if kind == OutboundEmail.Kind.ACKNOWLEDGEMENT:
        cc = []  # an acknowledgement goes to the requester only
    # Addresses that bounced get no more mail.
    bounced = set(
        Contact.objects.filter(email__in=[*to, *cc], email_bounced_at__isnull=False).values_list(
            "email", flat=True
        )
    )
    to = [email for email in to if email.lower() not in bounced]
    # However many addresses a ticket gathered, one mail goes to at most
    # TICKET_MAX_CC of them besides the requester (no mail blasts).
    cc = [email for email in cc if email.lower() not in bounced][: settings.TICKET_MAX_CC]
    if not to and not cc:
        return None
    if kind in AUTOMATIC_KINDS and not _automatic_mail_allowed(ticket, [*to, *cc]):
        return None
    outbound, created = OutboundEmail.objects.get_or_create(
        tenant=current_tenant(),
        message=message,
        kind=kind,
        defaults={
            "ticket": ticket,
            "to": to,
            "cc": cc,
            "rfc_message_id": message_id_for(ticket.tenant_id, ticket.number, str(message.pk)),
        },
    )
    if created:
        outbound_recorded()  # the sweep's mark, should the hand-over be lost
        _hand_over_send.after_commit([(outbound.tenant_id, outbound.pk)])
    return outbound


@transaction.atomic
def outbound_for_digest(*, user, notifications) -> OutboundEmail | None:
    """Record one mail to an agent listing `notifications` (oldest first),
    its text written now, and send it after commit."""
    if not user.email or not notifications:
        return None
    tenant = current_tenant()
    count = len(notifications)
    context = {
        "tenant": tenant,
        "user": user,
        "notifications": notifications,
        "site_url": settings.SITE_URL,
        "preferences_url": settings.SITE_URL
        + reverse("notification_preferences", args=[tenant.slug]),
    }
    outbound = OutboundEmail.objects.create(
        tenant=tenant,
        kind=OutboundEmail.Kind.DIGEST,
        to=[user.email],
        subject=f"{tenant.name}: {count} new notification{pluralize(count)}"[:250],
        body_text=render_to_string("tickets/email/digest.txt", context),
        body_html=render_to_string("tickets/email/digest.html", context),
        rfc_message_id=make_msgid("digest", domain=settings.EMAIL_MESSAGE_ID_DOMAIN),
    )
    outbound_recorded()  # the sweep's mark, should the hand-over be lost
    _hand_over_send.after_commit([(outbound.tenant_id, outbound.pk)])
    return outbound


@transaction.atomic
def outbound_to_member(*, user, subject: str, body_text: str, body_html: str):
    """Record one mail to a member of the help desk about no one ticket (a
    summary another app writes), its text written now, and send it after
    commit, as a digest is sent. None when the member has no address."""
    if not user.email:
        return None
    outbound = OutboundEmail.objects.create(
        tenant=current_tenant(),
        kind=OutboundEmail.Kind.DIGEST,
        to=[user.email],
        subject=subject[:250],
        body_text=body_text,
        body_html=body_html,
        rfc_message_id=make_msgid("summary", domain=settings.EMAIL_MESSAGE_ID_DOMAIN),
    )
    outbound_recorded()  # the sweep's mark, should the hand-over be lost
    _hand_over_send.after_commit([(outbound.tenant_id, outbound.pk)])
    return outbound


def _send_one(tenant_id: int, outbound_id: int) -> None:
    from .tasks import send_outbound_email

    send_outbound_email.delay(tenant_id=tenant_id, outbound_id=outbound_id)


def _send_many(tenant_id: int, outbound_ids: list[int]) -> None:
    from .tasks import send_outbound_emails

    send_outbound_emails.delay(tenant_id=tenant_id, outbound_ids=outbound_ids)


_hand_over_send = HandOver("mails", _send_one, _send_many, chunk=100)
# Recorded mail (tenant id, outbound id) to send after commit; for the
# portal's own mail (tickets.portal.mail).
outbound_hand_over = _hand_over_send.after_commit
# Mail recorded within this block (and committed) is sent by one task per
# 100 when the block ends, over one connection to the mail server, instead
# of a task and a connection each: event handlers run in batches use it, as
# a batch of new tickets is a batch of acknowledgements.
sends_together = _hand_over_send.together


def _automatic_mail_allowed(ticket: Ticket, addresses: list[str]) -> bool:
    """Caps automatic mail per address and per ticket in sliding windows, so
    that a sender (or a loop we failed to spot) cannot make us mail without end."""
    tenant_id = current_tenant().pk
    limits = {f"automail:{tenant_id}:ticket:{ticket.pk}": settings.AUTO_MAIL_MAX_PER_TICKET}
    for address in addresses:
        # Hashed, so Redis holds no email addresses.
        digest = hashlib.sha256(address.lower().encode()).hexdigest()
        limits[f"automail:{tenant_id}:address:{digest}"] = settings.AUTO_MAIL_MAX_PER_ADDRESS
    # Runs in a worker: with Redis unreachable the handler fails and is
    # retried (or swept) later, rather than mail going out uncounted.
    return sliding_window_hit(
        limits, window_seconds=settings.AUTO_MAIL_WINDOW_SECONDS, if_unreachable="raise"
    )


def _compose_digest(outbound: OutboundEmail) -> EmailMultiAlternatives:
    mail = EmailMultiAlternatives(
        subject=outbound.subject,
        body=outbound.body_text,
        from_email=_from_address(),
        to=outbound.to,
        headers={
            "Message-ID": outbound.rfc_message_id,
            # Sent by a program: no out-of-office answers, no replies filed.
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        },
    )
    mail.attach_alternative(outbound.body_html, "text/html")
    return mail


class PersonalCopy(EmailMultiAlternatives):
    """One recipient's copy of a mail: the headers name everyone (To, Cc),
    the envelope only this recipient, because the body carries a portal
    link made for them alone."""

    def __init__(self, *args, envelope_to: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.envelope_to = envelope_to

    def recipients(self) -> list[str]:
        return [self.envelope_to]


def _compose(outbound: OutboundEmail) -> list[EmailMultiAlternatives]:
    """The mail of a recorded outbound, one copy per recipient, each with
    that recipient's own link to the ticket in the portal."""
    from .portal.mail import portal_mail_compose
    from .portal.selectors import portal_settings
    from .portal.services import portal_link_token, portal_ticket_url

    if outbound.kind == OutboundEmail.Kind.DIGEST:
        # To an agent, about several tickets: no portal link.
        return [_compose_digest(outbound)]
    if outbound.event_id is not None:
        # The portal's mail about an event: one row per recipient.
        return [portal_mail_compose(outbound)]
    ticket = Ticket.objects.select_related("tenant", "requester").get(pk=outbound.ticket_id)
    message = Message.objects.select_related("author_user").get(pk=outbound.message_id)
    context = {"ticket": ticket, "message": message, "tenant": ticket.tenant}
    template = "ack" if outbound.kind == OutboundEmail.Kind.ACKNOWLEDGEMENT else "reply"
    subject = f"[{ticket.reference}] {ticket.subject}"
    if template == "ack" and ticket.channel == Ticket.Channel.WEB:
        # Anyone can type any address into the web form: its acknowledgement
        # repeats nothing they wrote but a short, plain subject (tickets/web_form.py).
        template, context["subject"] = "ack_web", plain_subject(ticket.subject)
        subject = f"[{ticket.reference}] {context['subject']}"
    if outbound.kind == OutboundEmail.Kind.REPLY:
        subject = f"Re: {subject}"
    root = message_id_for(ticket.tenant_id, ticket.number, "root")
    headers = {"Message-ID": outbound.rfc_message_id, "References": root, "In-Reply-To": root}
    if outbound.kind == OutboundEmail.Kind.ACKNOWLEDGEMENT:
        # RFC 3834, and Exchange's own header: no out-of-office answers to us.
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    copies = []
    with translation.override(portal_settings().language):
        for address in [*outbound.to, *outbound.cc]:
            # Not in the web form's acknowledgement: it goes to whatever
            # address was typed in, and a link would show that stranger the
            # sender's text after all. Their first reply's mail carries one.
            if template != "ack_web":
                token = portal_link_token(ticket=ticket, email=address)
                context["portal_url"] = portal_ticket_url(ticket=ticket, token=token)
            mail = PersonalCopy(
                subject=subject,
                body=render_to_string(f"tickets/email/{template}.txt", context),
                from_email=_from_address(),
                to=outbound.to,
                cc=outbound.cc,
                headers=headers,
                envelope_to=address,
            )
            mail.attach_alternative(
                render_to_string(f"tickets/email/{template}.html", context), "text/html"
            )
            copies.append(mail)
    return copies


def outbound_send(*, outbound_id: int, connection=None) -> str:
    """Send one recorded mail unless it went already.

    Runs in the caller's transaction: the conditional update locks the row
    until commit, so a second worker waits and then finds it sent. A worker
    killed after the mail server took the mail but before the commit leaves
    it pending, and it is sent again: at least once, never silently dropped.
    """
    claimed = OutboundEmail.objects.filter(
        pk=outbound_id, status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED]
    ).update(status=OutboundEmail.Status.SENDING)
    if not claimed:
        return "already sent"
    outbound = OutboundEmail.objects.get(pk=outbound_id)
    copies = _compose(outbound)
    if connection is None:
        connection = get_connection()  # a connection of its own
    else:
        connection.open()  # once per batch: a no-op while it stays open
    connection.send_messages(copies)
    outbound.status, outbound.sent_at = OutboundEmail.Status.SENT, timezone.now()
    outbound.attempts += 1
    outbound.last_error = ""
    outbound.save(update_fields=["status", "sent_at", "attempts", "last_error"])
    return "sent"


def outbound_failed(*, outbound_id: int, error: Exception, final: bool) -> bool:
    """Keep the failure visible; `final` when no retry is left. False when
    another worker sent the mail meanwhile: then there is nothing to retry."""
    outbound = (
        OutboundEmail.objects.select_for_update()
        .filter(pk=outbound_id)
        .exclude(status=OutboundEmail.Status.SENT)
        .first()
    )
    if outbound is None:
        return False
    outbound.attempts += 1
    outbound.last_error = f"{type(error).__name__}: {error}"[:2000]
    outbound.status = OutboundEmail.Status.FAILED if final else OutboundEmail.Status.PENDING
    outbound.save(update_fields=["attempts", "last_error", "status"])
    return True
