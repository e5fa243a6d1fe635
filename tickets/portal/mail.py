"""Mail the portal sends of its own: "solved, please rate", fresh links
after an agent reset them, and sign-in links. Each recipient gets a copy
with a link made for them alone (tickets.mail.PersonalCopy)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from ..mail import PersonalCopy, _from_address, message_id_for
from ..models import Contact, Ticket
from .selectors import portal_settings
from .services import portal_link_issue, portal_ticket_url, rating_scores, signin_link_issue


def _recipients(ticket: Ticket) -> list[str]:
    """The requester and the CCs, less addresses that bounced."""
    addresses = [ticket.requester.email.lower()]
    for email in ticket.cc_emails[: settings.TICKET_MAX_CC]:
        if email.lower() not in addresses:
            addresses.append(email.lower())
    bounced = set(
        Contact.objects.filter(email__in=addresses, email_bounced_at__isnull=False).values_list(
            "email", flat=True
        )
    )
    return [email for email in addresses if email not in bounced]


def portal_ticket_mail(*, ticket: Ticket, template: str) -> int:
    """Mail `template` ("solved" or "links") about a ticket to its requester
    and CCs, each with their own link; returns how many copies went."""
    recipients = _recipients(ticket)
    if not recipients:
        return 0
    root = message_id_for(ticket.tenant_id, ticket.number, "root")
    headers = {"References": root, "In-Reply-To": root, "Auto-Submitted": "auto-generated"}
    copies = []
    with translation.override(portal_settings().language):
        subject = {
            "solved": translation.gettext("Solved"),
            "links": translation.gettext("Your link to this request"),
        }[template]
        for address in recipients:
            url = portal_ticket_url(
                ticket=ticket, token=portal_link_issue(ticket=ticket, email=address)
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
                to=[recipients[0]],
                cc=recipients[1:],
                headers=headers,
                envelope_to=address,
            )
            mail.attach_alternative(
                render_to_string(f"portal/email/{template}.html", context), "text/html"
            )
            copies.append(mail)
    return get_connection().send_messages(copies) or 0


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
