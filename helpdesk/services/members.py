"""People of a tenant: invitations, roles, deactivation. Every change is
recorded in the audit log; the last active admin can be neither demoted nor
deactivated."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from ..models import Invitation, Membership, Tenant
from ..permissions import require_role
from ..signals import member_deactivated
from ..tenancy import current_tenant
from . import audit_record

INVITATION_DAYS = 7
_INVITATION_SALT = "helpdesk.invitation"
REFUSAL = "Only admins manage the people of this help desk."


class InvitationInvalid(Exception):
    """A link that cannot be used; the message says why, in plain words."""


def _name(user) -> str:
    return user.get_full_name() or user.username


def _require_admin(actor) -> None:
    require_role(actor, Membership.Role.ADMIN, REFUSAL)


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})


# ---------------------------------------------------------------- invitations


def invitation_token(invitation: Invitation) -> str:
    """The signed part of the invitation's link. It names tenant and
    invitation; a link is good until the invitation expires, is revoked or
    is used (the row says which)."""
    return signing.dumps([invitation.tenant_id, invitation.pk], salt=_INVITATION_SALT)


def invitation_tenant_from_token(token: str) -> tuple[Tenant, int]:
    """The tenant and invitation id a link names, or InvitationInvalid."""
    try:
        tenant_id, invitation_id = signing.loads(
            token, salt=_INVITATION_SALT, max_age=timedelta(days=INVITATION_DAYS)
        )
    except signing.SignatureExpired as error:
        raise InvitationInvalid("This invitation has expired. Ask for a new one.") from error
    except (signing.BadSignature, TypeError, ValueError) as error:
        raise InvitationInvalid("This invitation link is not valid.") from error
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise InvitationInvalid("This invitation link is not valid.")
    return tenant, invitation_id


def invitation_get_usable(invitation_id: int) -> Invitation:
    """The current tenant's invitation, if it can still be used."""
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationInvalid("This invitation was withdrawn.")
    if invitation.accepted_at is not None:
        raise InvitationInvalid("This invitation was used already. Sign in instead.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("This invitation has expired. Ask for a new one.")
    return invitation


@transaction.atomic
def invitation_create(*, actor, email: str, role: str, accept_url_for) -> Invitation:
    """Invite `email` to the current tenant as `role`, and mail the link
    (after commit; `accept_url_for(token)` makes the absolute link). An
    earlier open invitation of the same address is replaced."""
    _require_admin(actor)
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({"email": "Enter an email address."}) from error
    _check_role(role)
    tenant = current_tenant()
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email, is_active=True).exists():
        raise ValidationError({"email": f"{email} is already a member of this help desk."})
    now = timezone.now()
    replaced = Invitation.objects.filter(
        email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        invited_by=actor,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    audit_record(
        actor=actor,
        action="invitation.create",
        target_type="invitation",
        target_id=invitation.pk,
        summary=f"Invited {email} as {Membership.Role(role).label}"
        + (" (replacing an earlier invitation)" if replaced else ""),
        after={"email": email, "role": role},
    )
    _mail_after_commit(invitation, accept_url_for(invitation_token(invitation)))
    return invitation


def _mail_after_commit(invitation: Invitation, accept_url: str) -> None:
    from ..handover import publish_quietly
    from ..tasks import invitation_send

    tenant_id, invitation_id = invitation.tenant_id, invitation.pk
    transaction.on_commit(
        lambda: publish_quietly(
            "invitation mail",
            invitation_send.delay,
            tenant_id=tenant_id,
            invitation_id=invitation_id,
            accept_url=accept_url,
        )
    )


@transaction.atomic
def invitation_resend(*, actor, invitation: Invitation, accept_url_for) -> Invitation:
    """Mail an open invitation again, valid for another 7 days."""
    _require_admin(actor)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError("This invitation was used or withdrawn; invite again.")
    invitation.expires_at = timezone.now() + timedelta(days=INVITATION_DAYS)
    invitation.save(update_fields=["expires_at"])
    audit_record(
        actor=actor,
        action="invitation.resend",
        target_type="invitation",
        target_id=invitation.pk,
        summary=f"Sent the invitation to {invitation.email} again",
    )
    _mail_after_commit(invitation, accept_url_for(invitation_token(invitation)))
    return invitation


@transaction.atomic
def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    """Withdraw an open invitation: its link stops working."""
    _require_admin(actor)
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if updated:
        audit_record(
            actor=actor,
            action="invitation.revoke",
            target_type="invitation",
            target_id=invitation.pk,
            summary=f"Withdrew the invitation to {invitation.email}",
        )
    invitation.refresh_from_db()
    return invitation


def invitation_existing_user(invitation: Invitation):
    """The user the invitation's address already belongs to, or None."""
    return (
        get_user_model()
        .objects.filter(email__iexact=invitation.email, is_active=True)
        .order_by("pk")
        .first()
    )


def _claim(invitation: Invitation, user) -> None:
    # One use: the conditional update lets one of two simultaneous accepts through.
    claimed = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(accepted_at=timezone.now(), accepted_by=user)
    if not claimed:
        raise InvitationInvalid("This invitation was used already. Sign in instead.")


def _join(invitation: Invitation, user) -> Membership:
    tenant = current_tenant()
    _claim(invitation, user)
    membership, created = Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": invitation.role}
    )
    before = None
    if not created:
        before = {"role": membership.role, "active": membership.is_active}
        membership.role = invitation.role
        membership.is_active, membership.deactivated_at = True, None
        membership.save(update_fields=["role", "is_active", "deactivated_at"])
    audit_record(
        actor=user,
        action="member.join",
        target_type="member",
        target_id=user.pk,
        summary=f"{_name(user)} accepted the invitation as {membership.get_role_display()}",
        before=before,
        after={"role": membership.role, "active": True},
    )
    return membership


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """An existing user (signed in as the invited address) joins the tenant."""
    if (user.email or "").lower() != invitation.email:
        raise InvitationInvalid(
            f"This invitation is for {invitation.email}; sign in as that user to accept it."
        )
    return _join(invitation, user)


@transaction.atomic
def invitation_accept_new_user(
    *, invitation: Invitation, username: str, first_name: str, last_name: str, password: str
):
    """The invitee makes an account (their address is the invitation's) and joins."""
    User = get_user_model()
    username = (username or "").strip()
    errors = {}
    if not username:
        errors["username"] = "Choose a username."
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = "That username is taken; choose another."
    candidate = User(
        username=username, email=invitation.email, first_name=first_name, last_name=last_name
    )
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        errors["password1"] = error.messages
    if errors:
        raise ValidationError(errors)
    candidate.set_password(password)
    candidate.save()
    _join(invitation, candidate)
    return candidate


# ---------------------------------------------------------------- roles and status


def _lock_admins(tenant) -> list[Membership]:
    # Locks every active admin row, in one order: two admins demoting each
    # other at once cannot both pass the last-admin check.
    return list(
        Membership.objects.select_for_update()
        .filter(tenant=tenant, role=Membership.Role.ADMIN, is_active=True)
        .order_by("pk")
    )


def _guard_last_admin(membership: Membership, doing: str) -> None:
    admins = _lock_admins(membership.tenant_id)
    others = [admin for admin in admins if admin.pk != membership.pk]
    if membership.role == Membership.Role.ADMIN and membership.is_active and not others:
        raise ValidationError(
            f"{_name(membership.user)} is the last admin of this help desk and cannot be "
            f"{doing}. Make someone else an admin first."
        )


def _lock_member(membership: Membership) -> Membership:
    return (
        Membership.objects.select_for_update()
        .select_related("user", "tenant")
        .get(pk=membership.pk, tenant=current_tenant())
    )


@transaction.atomic
def member_change_role(*, actor, membership: Membership, role: str) -> Membership:
    """Give a member another role; the last active admin keeps theirs."""
    _require_admin(actor)
    _check_role(role)
    _lock_admins(current_tenant())
    membership = _lock_member(membership)
    if membership.role == role:
        return membership
    if role != Membership.Role.ADMIN:
        _guard_last_admin(membership, "demoted")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="member.role",
        target_type="member",
        target_id=membership.user_id,
        summary=f"{_name(membership.user)}: {Membership.Role(before).label} → "
        f"{membership.get_role_display()}",
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def member_deactivate(*, actor, membership: Membership) -> Membership:
    """Stop a member from using this tenant. Their history stays; their
    open tickets are unassigned (by tickets, through `member_deactivated`)."""
    _require_admin(actor)
    _lock_admins(current_tenant())
    membership = _lock_member(membership)
    if not membership.is_active:
        return membership
    _guard_last_admin(membership, "deactivated")
    membership.is_active, membership.deactivated_at = False, timezone.now()
    membership.save(update_fields=["is_active", "deactivated_at"])
    audit_record(
        actor=actor,
        action="member.deactivate",
        target_type="member",
        target_id=membership.user_id,
        summary=f"Deactivated {_name(membership.user)}",
        before={"active": True},
        after={"active": False},
    )
    member_deactivated.send(sender=Membership, membership=membership, actor=actor)
    return membership


@transaction.atomic
def member_reactivate(*, actor, membership: Membership) -> Membership:
    """Let a deactivated member use this tenant again, with their old role."""
    _require_admin(actor)
    membership = _lock_member(membership)
    if membership.is_active:
        return membership
    membership.is_active, membership.deactivated_at = True, None
    membership.save(update_fields=["is_active", "deactivated_at"])
    audit_record(
        actor=actor,
        action="member.reactivate",
        target_type="member",
        target_id=membership.user_id,
        summary=f"Reactivated {_name(membership.user)}",
        before={"active": False},
        after={"active": True},
    )
    return membership
