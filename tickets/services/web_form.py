"""Tickets from the public web form: one per form token, within the limits,
acknowledged only while the sender's IP has acknowledgements left."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from helpdesk.ratelimit import rate_limit_hit, sliding_window_hit
from helpdesk.tenancy import current_tenant

from ..models import Category, Ticket, WebFormSubmission
from .tickets import ticket_create


class WebFormAlreadySent(Exception):
    """The form token opened a ticket already. `same` when this post is the
    one that did (a double click, a browser retry); `ticket` is its ticket."""

    def __init__(self, *, same: bool, ticket: Ticket | None):
        super().__init__("This form token was used already.")
        self.same = same
        self.ticket = ticket


class WebFormRateLimited(Exception):
    """Too many submissions from this address or IP in the window."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint(*, requester_email, requester_name, subject, body, category, attachments) -> str:
    typed = [
        requester_email.strip().lower(),
        requester_name,
        subject,
        body,
        category.pk if category else None,
        [(upload.name, upload.size) for upload in attachments],
    ]
    return _sha256(json.dumps(typed))


def _claim(token: str, fingerprint: str) -> WebFormSubmission:
    """Mark the token used, or raise WebFormAlreadySent.

    The unique key decides: a second post of the same token waits on it until
    the first one's transaction ends, then fails (the first opened a ticket)
    or goes on (the first was refused and rolled back).
    """
    digest = _sha256(token)
    try:
        with transaction.atomic():
            return WebFormSubmission.objects.create(
                tenant=current_tenant(), token_digest=digest, fingerprint=fingerprint
            )
    except IntegrityError:
        earlier = WebFormSubmission.objects.select_related("ticket").get(token_digest=digest)
        raise WebFormAlreadySent(
            same=earlier.fingerprint == fingerprint, ticket=earlier.ticket
        ) from None


def _within_limits(*, email: str, ip: str) -> bool:
    """Count this submission against the address and the IP; False when either is over."""
    tenant_id = current_tenant().pk
    window = settings.WEB_FORM_WINDOW_SECONDS
    # Hashed, so the cache holds no email addresses.
    address = _sha256(email.strip().lower())
    # What a customer sent is never lost to an outage of the counters: with
    # Redis unreachable both let the submission through (and log it).
    address_ok = rate_limit_hit(
        f"webform:{tenant_id}:address:{address}",
        limit=settings.WEB_FORM_MAX_PER_ADDRESS,
        window_seconds=window,
        what="web form limits not counted",
    )
    ip_ok = rate_limit_hit(
        f"webform:{tenant_id}:ip:{ip}",
        limit=settings.WEB_FORM_MAX_PER_IP,
        window_seconds=window,
        what="web form limits not counted",
    )
    return address_ok and ip_ok


def _ip_key(ip: str) -> str:
    # An IPv6 host usually holds a whole /64: count the network, not the address.
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _acknowledgement_allowed(ip: str) -> bool:
    """Count one acknowledgement against the IP; False once its window is full.

    Across tenants: the mail goes out from our servers whichever tenant's form
    was used. When Redis cannot count, no acknowledgement: the ticket is still
    opened and its number shown on the page, but the form must not become a
    mail relay while its guard is down.
    """
    return sliding_window_hit(
        {f"webform:acks:ip:{_ip_key(ip)}": settings.WEB_FORM_MAX_ACKS_PER_IP},
        window_seconds=settings.WEB_FORM_WINDOW_SECONDS,
        if_unreachable="refuse",
        what="web form tickets opened without an acknowledgement",
    )


@transaction.atomic
def web_form_ticket_create(
    *,
    token: str,
    client_ip: str,
    requester_email: str,
    requester_name: str,
    subject: str,
    body: str,
    category: Category | None = None,
    attachments: Sequence = (),
) -> Ticket:
    """Open a ticket from the web form, once per form token.

    Raises WebFormAlreadySent when the token opened a ticket before,
    WebFormRateLimited over the limits, ValidationError on bad input; then
    nothing is written and the token stays unused. Over the per-IP
    acknowledgement cap the ticket is opened without an acknowledgement.
    """
    fields = {
        "requester_email": requester_email,
        "requester_name": requester_name,
        "subject": subject,
        "body": body,
        "category": category,
        "attachments": attachments,
    }
    # The token first: a repeated post waits here and counts against nothing.
    submission = _claim(token, _fingerprint(**fields))
    if not _within_limits(email=requester_email, ip=client_ip):
        raise WebFormRateLimited
    ticket = ticket_create(
        channel=Ticket.Channel.WEB, acknowledge=_acknowledgement_allowed(client_ip), **fields
    )
    submission.ticket = ticket
    submission.save(update_fields=["ticket"])
    return ticket
