"""Mailboxes: the addresses customers write to, managed by admins."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk import netguard
from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant

from .. import sweeps
from ..models import Mailbox

# Fields an admin edits; the IMAP password separately (blank keeps the old one).
MAILBOX_FIELDS = (
    "name",
    "address",
    "is_active",
    "imap_host",
    "imap_port",
    "imap_ssl",
    "imap_user",
    "imap_folder",
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mailbox_token_matches(mailbox: Mailbox, token: str) -> bool:
    return hmac.compare_digest(mailbox.webhook_token_hash, token_hash(token or ""))


def _check(mailbox: Mailbox, *, check_host: bool = True) -> None:
    mailbox.address = mailbox.address.strip().lower()
    mailbox.imap_host = mailbox.imap_host.strip()
    if mailbox.imap_host and not mailbox.imap_user:
        raise ValidationError({"imap_user": "IMAP polling needs a user name."})
    mailbox.full_clean(exclude=["tenant", "webhook_token_hash"], validate_unique=False)
    if not 1 <= mailbox.imap_port <= 65535:
        raise ValidationError({"imap_port": "A port is a number from 1 to 65535."})
    taken = Mailbox.objects.filter(address=mailbox.address).exclude(pk=mailbox.pk).exists()
    if taken:
        raise ValidationError({"address": f"{mailbox.address} already has a mailbox."})
    if mailbox.imap_host and check_host:
        # Refused here so the admin hears it at once; each poll checks again
        # when it connects, since DNS answers change.
        try:
            netguard.resolve(mailbox.imap_host, mailbox.imap_port)
        except netguard.HostRefused as exc:
            raise ValidationError({"imap_host": str(exc)}) from None


def _refuse_non_admin(actor) -> None:
    # actor None: the system (a management command).
    if actor is not None:
        require_role(actor, Membership.Role.ADMIN, "Only admins manage mailboxes.")


@transaction.atomic
def mailbox_create(
    *, name: str, address: str, actor=None, imap_password: str = "", **fields
) -> tuple[Mailbox, str]:
    """A new mailbox and its webhook token (returned once, stored hashed)."""
    _refuse_non_admin(actor)
    token = secrets.token_urlsafe(32)
    mailbox = Mailbox(
        tenant=current_tenant(),
        name=name,
        address=address,
        webhook_token_hash=token_hash(token),
        **{field: value for field, value in fields.items() if field in MAILBOX_FIELDS},
    )
    mailbox.imap_password = imap_password
    _check(mailbox)
    mailbox.save()
    sweeps.mailbox_saved(mailbox)
    audit_record(
        actor=actor,
        action="mailbox.create",
        target_type="mailbox",
        target_id=mailbox.pk,
        summary=f"Added the mailbox {mailbox.address}",
        after={"name": mailbox.name, "address": mailbox.address},
    )
    return mailbox, token


@transaction.atomic
def mailbox_update(*, mailbox: Mailbox, actor, imap_password: str = "", **changes) -> Mailbox:
    """Change a mailbox's settings; an empty IMAP password keeps the stored one."""
    _refuse_non_admin(actor)
    mailbox = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    imap_changed = host_changed = False
    before, after = {}, {}
    for field, value in changes.items():
        if field not in MAILBOX_FIELDS:
            raise ValidationError({field: "This field cannot be changed here."})
        changed = getattr(mailbox, field) != value
        if changed:
            before[field], after[field] = getattr(mailbox, field), value
        imap_changed |= field.startswith("imap_") and changed
        host_changed |= field == "imap_host" and changed
        setattr(mailbox, field, value)
    if imap_password:
        mailbox.imap_password = imap_password
        imap_changed = True
    if imap_changed:
        # The last poll's error was about the old settings.
        mailbox.imap_error, mailbox.imap_checked_at = "", None
    # The host is looked up only when it changes: renaming a mailbox does not
    # wait for (or fail on) DNS.
    _check(mailbox, check_host=host_changed)
    mailbox.save()
    sweeps.mailbox_saved(mailbox)
    if imap_password:
        before["imap_password"], after["imap_password"] = "(hidden)", "(changed)"
    if after:
        audit_record(
            actor=actor,
            action="mailbox.update",
            target_type="mailbox",
            target_id=mailbox.pk,
            summary=f"Changed the mailbox {mailbox.address}",
            before=before,
            after=after,
        )
    return mailbox


@transaction.atomic
def mailbox_new_token(*, mailbox: Mailbox, actor) -> str:
    """Replace the webhook token (the old one stops working at once)."""
    _refuse_non_admin(actor)
    token = secrets.token_urlsafe(32)
    Mailbox.objects.filter(pk=mailbox.pk).update(webhook_token_hash=token_hash(token))
    audit_record(
        actor=actor,
        action="mailbox.new_token",
        target_type="mailbox",
        target_id=mailbox.pk,
        summary=f"Made a new webhook token for {mailbox.address} (the old one stopped working)",
    )
    return token


def mailbox_poll_recorded(*, mailbox: Mailbox, error: str = "") -> None:
    """Remember the last IMAP poll and why it failed, for the admin page."""
    Mailbox.objects.filter(pk=mailbox.pk).update(
        imap_checked_at=timezone.now(), imap_error=error[:2000]
    )
