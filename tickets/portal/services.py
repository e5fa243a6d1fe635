"""Writes of the customer portal. Each validates, writes and records the
ticket event in one transaction, through the ticket services where one
exists (a customer's message is `message_add`, a follow-up `ticket_create`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.ratelimit import rate_limit_hit
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant

from ..events import event_build, event_record, events_record
from ..models import (
    Contact,
    Event,
    Message,
    PortalLink,
    PortalSettings,
    PortalSignIn,
    Rating,
    Ticket,
)
from ..services.contacts import contact_get_or_create
from ..services.tickets import (
    _apply_status,
    _display_value,
    _lock_current,
    message_add,
    ticket_create,
)
from . import tokens
from .selectors import portal_settings

LINKS_RESET = "portal_links_reset"
RATED = "rated"
# The notification kind of a bad rating, to the agent the ticket is assigned to.
BAD_RATING_KIND = "portal.bad_rating"


class PortalRateLimited(Exception):
    """Too many attempts in the window: the customer is asked to wait."""


# ---------------------------------------------------------------- links


def portal_link_token(*, ticket: Ticket, email: str) -> str:
    """The recipient's link to `ticket`, as a mail carries it: the same
    link in every mail until an agent revokes it, then a new one. The row
    keeps only the verifier's hash; the token is derived again for each
    mail (tokens.link_token_rebuild)."""
    tenant = current_tenant()
    email = email.strip().lower()
    link = (
        PortalLink.objects.filter(ticket=ticket, email=email, revoked_at__isnull=True)
        .exclude(nonce="")
        .only("selector", "nonce", "verifier_sha256")
        .first()
    )
    if link is not None:
        token = tokens.link_token_rebuild(
            tenant_id=tenant.pk, selector=link.selector, ticket_id=ticket.pk, email=email,
            nonce=link.nonce, digest=link.verifier_sha256,
        )  # fmt: skip
        if token is not None:
            return token
        # Made with a key no longer kept: it still opens (its hash is
        # stored) but cannot be made again, so it stands aside for a new one.
        PortalLink.objects.filter(pk=link.pk).update(nonce="")
    selector, nonce = tokens.selector_new(), tokens.nonce_new()
    token, digest = tokens.link_token_derive(
        tenant_id=tenant.pk, selector=selector, ticket_id=ticket.pk, email=email, nonce=nonce
    )
    try:
        with transaction.atomic():
            PortalLink.objects.create(
                tenant=tenant, ticket=ticket, email=email, selector=selector, nonce=nonce,
                verifier_sha256=digest, created_at=timezone.now(),
            )  # fmt: skip
    except IntegrityError:
        # Another mail to this recipient made their link a moment ago
        # (portallink_one_live): that one is theirs.
        return portal_link_token(ticket=ticket, email=email)
    return token


def portal_ticket_url(*, ticket: Ticket, token: str) -> str:
    """The absolute address of a ticket's portal page for a token, as mail carries it."""
    path = reverse("portal:ticket", args=[ticket.tenant.slug, ticket.number, token])
    return settings.PUBLIC_BASE_URL + path


def portal_link_recipients(ticket: Ticket) -> list[str]:
    """Who holds a link to a ticket from its mail: the requester and the
    CCs mail goes to (no query: the requester is loaded with the ticket)."""
    addresses = [ticket.requester.email.lower()]
    for email in ticket.cc_emails[: settings.TICKET_MAX_CC]:
        if email.lower() not in addresses:
            addresses.append(email.lower())
    return addresses


@transaction.atomic
def portal_links_reset(*, ticket: Ticket, actor, email: str = "") -> int:
    """Revoke every link to a ticket, or only `email`'s (the others keep
    theirs); the event's handler mails each recipient whose link was
    reset a new one (made when that mail is sent). Returns how many links
    were revoked."""
    email = (email or "").strip().lower()
    if email and email not in portal_link_recipients(ticket):
        raise ValidationError(_("%(email)s gets no mail about this ticket.") % {"email": email})
    now = timezone.now()
    links = PortalLink.objects.filter(ticket=ticket, revoked_at__isnull=True)
    if email:
        links = links.filter(email=email)
    revoked = links.update(revoked_at=now)
    event_record(
        ticket=ticket,
        kind=LINKS_RESET,
        actor_user=actor,
        is_public=False,
        new_value={"revoked": revoked, "email": email} if email else {"revoked": revoked},
        created_at=now,
    )
    return revoked


def lookup_allowed(ip: str) -> bool:
    """Count one token lookup against the client's address."""
    return rate_limit_hit(
        f"portal:{current_tenant().pk}:lookup:{ip}",
        limit=settings.PORTAL_LOOKUPS_PER_IP,
        window_seconds=settings.PORTAL_LOOKUP_WINDOW_SECONDS,
        what="portal lookups not counted",
    )


# ---------------------------------------------------------------- customer writes


def _contact_for(email: str) -> Contact:
    return contact_get_or_create(email=email)


def _reply_allowed(key: str) -> None:
    if not rate_limit_hit(
        f"portal:{current_tenant().pk}:reply:{key}",
        limit=settings.PORTAL_REPLIES_PER_LINK,
        window_seconds=3600,
        what="portal replies not counted",
    ):
        raise PortalRateLimited


def reopen_allowed(ticket: Ticket, now=None) -> bool:
    """May a customer still reopen this ticket (rather than open a follow-up)?"""
    if ticket.status == Ticket.Status.CLOSED:
        return False
    if ticket.status != Ticket.Status.RESOLVED or ticket.resolved_at is None:
        return True
    window = timedelta(days=portal_settings().reopen_days)
    return (now or timezone.now()) - ticket.resolved_at <= window


def portal_reply(
    *, ticket: Ticket, email: str, body: str, attachments: Sequence = (), limit_key: str
) -> tuple[Ticket, Message]:
    """A customer's message from the portal. On an open ticket, or a solved
    one within the tenant's reopen window, it is added (and reopens it);
    later, or on a closed ticket, it opens a follow-up ticket linked to
    this one. Returns (the ticket it went to, the message)."""
    if not (body or "").strip():
        raise ValidationError({"body": _("Write a message first.")})
    _reply_allowed(limit_key)
    contact = _contact_for(email)
    if reopen_allowed(ticket):
        message = message_add(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            body=body,
            author_contact=contact,
            attachments=attachments,
        )
        return ticket, message
    follow_up = ticket_create(
        subject=_("Follow-up: %(subject)s") % {"subject": ticket.subject},
        body=body,
        requester=contact,
        channel=Ticket.Channel.PORTAL,
        category=ticket.category,
        group=ticket.group,
        follow_up_of=ticket,
        attachments=attachments,
    )
    return follow_up, follow_up.first_message


def portal_ticket_create(
    *, contact: Contact, subject: str, body: str, category=None, attachments: Sequence = ()
) -> Ticket:
    """A signed-in customer opens a ticket from the portal (counted against
    the same limit as their replies)."""
    _reply_allowed(f"contact:{contact.pk}")
    return ticket_create(
        subject=subject,
        body=body,
        category=category,
        attachments=attachments,
        requester=contact,
        channel=Ticket.Channel.PORTAL,
    )


@transaction.atomic
def portal_solve(*, ticket: Ticket, email: str) -> Ticket:
    """The customer says their request is solved: the ticket is resolved,
    with the customer as the actor on its event."""
    contact = _contact_for(email)
    ticket = _lock_current(ticket, None)
    if ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        return ticket
    now = timezone.now()
    before = _display_value(ticket, "status")
    _apply_status(ticket, Ticket.Status.RESOLVED, now)
    ticket.version += 1
    ticket.updated_at = now
    ticket.save(update_fields=["status", "resolved_at", "closed_at", "version", "updated_at"])
    events_record(
        [
            event_build(
                ticket=ticket,
                kind=Event.Kind.STATUS_CHANGED,
                actor_contact=contact,
                field="status",
                old_value=before,
                new_value=_display_value(ticket, "status"),
                created_at=now,
            )
        ]
    )
    return ticket


# ---------------------------------------------------------------- ratings


def rating_scores() -> list[int]:
    """The scores the tenant's scale allows, best last."""
    scale = portal_settings().rating_scale
    return [0, 1] if scale == "good_bad" else [1, 2, 3, 4, 5]


def rating_changeable(rating: Rating | None, now=None) -> bool:
    if rating is None:
        return True
    window = timedelta(hours=portal_settings().rating_change_hours)
    return (now or timezone.now()) - rating.created_at <= window


@transaction.atomic
def rating_record(*, ticket: Ticket, email: str, score: int, comment: str = "") -> Rating:
    """Record (or, within the tenant's window, change) the rating of a
    ticket's current solved cycle, and put it on the timeline."""
    settings_row = portal_settings()
    ticket = _lock_current(ticket, None)
    if (
        ticket.status not in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
        or not ticket.resolved_at
    ):
        raise ValidationError(_("This request is not solved yet, so there is nothing to rate."))
    if score not in rating_scores():
        raise ValidationError({"score": _("Choose one of the ratings.")})
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ValidationError({"comment": _("Keep the comment under 2000 characters.")})
    contact = _contact_for(email)
    now = timezone.now()
    rating = Rating.objects.filter(ticket=ticket, solved_at=ticket.resolved_at).first()
    if rating is not None and not rating_changeable(rating, now):
        raise ValidationError(_("This rating can no longer be changed."))
    scale = settings_row.rating_scale
    is_good = score == 1 if scale == "good_bad" else score >= 4
    before = {"score": rating.score, "scale": rating.scale} if rating else None
    if rating is None:
        rating = Rating(tenant=current_tenant(), ticket=ticket, solved_at=ticket.resolved_at)
        rating.created_at = now
    rating.contact = contact
    rating.scale, rating.score, rating.is_good, rating.comment = scale, score, is_good, comment
    # Who and what it rates, as they were when the ticket was solved.
    rating.assignee_id, rating.group_id = ticket.assignee_id, ticket.group_id
    rating.category_id = ticket.category_id
    rating.updated_at = now
    rating.save()
    event_record(
        ticket=ticket,
        kind=RATED,
        actor_contact=contact,
        old_value=before,
        new_value={
            "score": score,
            "scale": scale,
            "is_good": is_good,
            "comment": comment,
            "rating": rating.pk,
        },
        created_at=now,
    )
    return rating


# ---------------------------------------------------------------- sign-in


def signin_request(*, email: str, ip: str) -> bool:
    """Mail a sign-in link to a known contact's address (from a task, which
    makes the link); nothing for an unknown one. The caller answers the same
    either way. Returns whether a link goes out."""
    tenant = current_tenant()
    address = (email or "").strip().lower()
    digest = hashlib.sha256(address.encode()).hexdigest()
    per_address = rate_limit_hit(
        f"portal:{tenant.pk}:signin:address:{digest}",
        limit=settings.PORTAL_SIGNIN_PER_ADDRESS,
        window_seconds=3600,
    )
    per_ip = rate_limit_hit(
        f"portal:{tenant.pk}:signin:ip:{ip}",
        limit=settings.PORTAL_SIGNIN_PER_IP,
        window_seconds=3600,
    )
    if not (per_address and per_ip):
        raise PortalRateLimited
    contact = Contact.objects.filter(email=address, email_bounced_at__isnull=True).first()
    if contact is None:
        return False
    from .tasks import portal_signin_mail

    tenant_id, contact_id = tenant.pk, contact.pk
    transaction.on_commit(
        lambda: portal_signin_mail.delay(tenant_id=tenant_id, contact_id=contact_id)
    )
    return True


def signin_link_issue(*, contact: Contact) -> str:
    """A new sign-in link for a contact; returns the token (kept only hashed)."""
    token, selector, verifier = tokens.token_new()
    now = timezone.now()
    PortalSignIn.objects.create(
        tenant=current_tenant(),
        contact=contact,
        selector=selector,
        verifier_sha256=verifier,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.PORTAL_SIGNIN_MINUTES),
    )
    return token


@transaction.atomic
def signin_use(*, token: str) -> Contact | None:
    """Spend a sign-in link: its contact, or None when the link is wrong,
    used or expired (one answer for all three)."""
    parts = tokens.token_split(token)
    if parts is None:
        tokens.token_matches("", None)
        return None
    selector, verifier = parts
    row = (
        PortalSignIn.objects.select_for_update()
        .select_related("contact")
        .filter(selector=selector)
        .first()
    )
    if not tokens.token_matches(verifier, row.verifier_sha256 if row else None):
        return None
    now = timezone.now()
    if row.used_at is not None or row.expires_at < now:
        return None
    row.used_at = now
    row.save(update_fields=["used_at"])
    return row.contact


# ---------------------------------------------------------------- settings

PORTAL_SETTING_FIELDS = ("language", "reopen_days", "rating_scale", "rating_change_hours")


@transaction.atomic
def portal_settings_update(*, actor, **values) -> PortalSettings:
    """Change the tenant's portal settings; the change goes to the audit log."""
    unknown = set(values) - set(PORTAL_SETTING_FIELDS)
    if unknown:
        raise TypeError(f"not a portal setting: {', '.join(sorted(unknown))}")
    tenant = current_tenant()
    row, _created = PortalSettings.objects.select_for_update().get_or_create(tenant=tenant)
    before = {field: getattr(row, field) for field in PORTAL_SETTING_FIELDS}
    for field, value in values.items():
        setattr(row, field, value)
    row.full_clean(exclude=["tenant"])
    row.save()
    tenant._portal_settings = row
    changed = {f: [before[f], getattr(row, f)] for f in values if before[f] != getattr(row, f)}
    if changed:
        audit_record(
            actor=actor,
            action="portal_settings.update",
            target_type="portal_settings",
            target_id=row.pk,
            summary="Changed the customer portal settings: " + ", ".join(sorted(changed)),
            detail=changed,
        )
    return row
