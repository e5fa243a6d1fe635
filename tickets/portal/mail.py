"""Mail the portal sends of its own: "solved, please rate", new links
after an agent reset them, and sign-in links. Each recipient gets a copy
with their own link (tickets.mail.PersonalCopy).

The first two go through the outbox (tickets.models.OutboundEmail), one row
per event and recipient, recorded in the event handler's transaction and
sent by the outbox's tasks and sweep like every other mail to customers. A
sign-in link is mailed by its own task: its token must not rest in a table."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_noop

from helpdesk.tenancy import current_tenant

from ..mail import PersonalCopy, _from_address, message_id_for, outbound_hand_over
from ..models import Contact, Event, OutboundEmail, Ticket
from ..sweeps import outbound_recorded
from .selectors import portal_settings
from .services import (
    portal_link_recipients,
    portal_link_token,
    portal_ticket_url,
    rating_scores,
    signin_link_issue,
)


def _recipients(ticket: Ticket) -> list[str]:
    """The requester and the CCs, less addresses that bounced."""
    addresses = portal_link_recipients(ticket)
    bounced = set(
        Contact.objects.filter(email__in=addresses, email_bounced_at__isnull=False).values_list(
            "email", flat=True
        )
    )
    return [email for email in addresses if email not in bounced]


# The portal's mail kinds, and the subject of each.
PORTAL_MAIL_SUBJECTS = {
    OutboundEmail.Kind.SOLVED: gettext_noop("Solved"),
    OutboundEmail.Kind.LINKS: gettext_noop("Your link to this request"),
}


@transaction.atomic
def portal_mail_record(*, ticket: Ticket, event: Event, kind: str, only: str = "") -> int:
    """Record mail `kind` ("solved" or "links") about `event` for the
    ticket's requester and each CC (or `only` that one of them), one outbox
    row per recipient, and send them after commit. Once per event, kind and
    recipient (outboundemail_event_once): a handler run again records
    nothing new. Returns how many rows were recorded now."""
    recipients = _recipients(ticket)
    message_id = message_id_for(ticket.tenant_id, ticket.number, f"event{event.pk}")
    created_ids = []
    for address in recipients:
        if only and address != only:
            continue
        outbound, created = OutboundEmail.objects.get_or_create(
            tenant=current_tenant(),
            event=event,
            kind=kind,
            recipient=address,
            defaults={
                "ticket": ticket,
                "to": recipients[:1],
                "cc": recipients[1:],
                "rfc_message_id": message_id,
            },
        )
        if created:
            created_ids.append((outbound.tenant_id, outbound.pk))
    if created_ids:
        outbound_recorded()  # the sweep's mark, should the hand-over be lost
        outbound_hand_over(created_ids)
    return len(created_ids)


def portal_mail_compose(outbound: OutboundEmail) -> EmailMultiAlternatives:
    """The copy of a recorded portal mail for its one recipient, with their
    link to the ticket (the same link as in their earlier mail)."""
    ticket = Ticket.objects.select_related("tenant", "requester").get(pk=outbound.ticket_id)
    root = message_id_for(ticket.tenant_id, ticket.number, "root")
    headers = {
        "Message-ID": outbound.rfc_message_id,
        "References": root,
        "In-Reply-To": root,
        "Auto-Submitted": "auto-generated",
    }
    template = outbound.kind
    with translation.override(portal_settings().language):
        subject = translation.gettext(PORTAL_MAIL_SUBJECTS[template])
        url = portal_ticket_url(
            ticket=ticket, token=portal_link_token(ticket=ticket, email=outbound.recipient)
        )
        context = {
            "ticket": ticket,
            "tenant": ticket.tenant,
            "portal_url": url,
            "rate_urls": [(score, f"{url}rate/?score={score}") for score in rating_scores()],
            "scale": portal_settings().rating_scale,
        }
        mail = PersonalCopy(
            subject=f"[{ticket.reference}] {subject}: {ticket.subject}",
            body=render_to_string(f"portal/email/{template}.txt", context),
            from_email=_from_address(),
            to=outbound.to,
            cc=outbound.cc,
            headers=headers,
            envelope_to=outbound.recipient,
        )
        mail.attach_alternative(
            render_to_string(f"portal/email/{template}.html", context), "text/html"
        )
    return mail


def portal_signin_mail_send(*, contact: Contact) -> None:
    """Mail a contact a fresh sign-in link."""
    token = signin_link_issue(contact=contact)
    tenant = contact.tenant
    url = settings.PUBLIC_BASE_URL + reverse("portal:signin", args=[tenant.slug, token])
    with translation.override(portal_settings().language):
        context = {
            "tenant": tenant,
            "signin_url": url,
            "minutes": settings.PORTAL_SIGNIN_MINUTES,
        }
        mail = PersonalCopy(
            subject=translation.gettext("Your sign-in link for %(name)s") % {"name": tenant.name},
            body=render_to_string("portal/email/signin.txt", context),
            from_email=_from_address(),
            to=[contact.email],
            headers={"Auto-Submitted": "auto-generated"},
            envelope_to=contact.email,
        )
        mail.send()
