import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import ApiKey, AuditEntry, Membership

# Notifications live in helpdesk.notifications; callers may import them from here.
from ..notifications import notification_create, notifications_mark_read  # noqa: F401
from ..permissions import require_role
from ..tenancy import current_tenant


def _display_name(user) -> str:
    return (user.get_full_name() or user.username)[:150] if getattr(user, "pk", None) else ""


def audit_record(
    *,
    actor,
    action: str,
    target_type: str,
    target_id,
    summary: str = "",
    detail=None,
    before=None,
    after=None,
) -> AuditEntry:
    """Record in the current tenant's audit log what `actor` (None: the
    system) did to something that is not a ticket (tickets have events).
    `before` and `after` are the values that changed (JSON), shown side by
    side in the audit log; the entry names the actor and the target in
    words, so it outlives both."""
    detail = dict(detail or {})
    if before is not None:
        detail["before"] = before
    if after is not None:
        detail["after"] = after
    return AuditEntry.objects.create(
        tenant=current_tenant(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=_display_name(actor),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=summary[:300],
        detail=detail,
    )


def audit_entries_for(*, target_type: str, target_id) -> list[AuditEntry]:
    """What was done to one thing, oldest first."""
    return list(
        AuditEntry.objects.filter(target_type=target_type, target_id=str(target_id))
        .select_related("actor")
        .order_by("created_at", "pk")
    )


def membership_set_keyboard_shortcuts(*, membership: Membership, enabled: bool) -> Membership:
    """Turn a member's single-key shortcuts on or off (their own preference: no audit entry)."""
    membership.keyboard_shortcuts = enabled
    membership.save(update_fields=["keyboard_shortcuts"])
    return membership


# ---------------------------------------------------------------- API keys

API_KEY_PREFIX_LENGTH = 8
# How stale last_used_at may get: writing it on every request would turn each
# read into a write on one hot row.
API_KEY_TOUCH_SECONDS = 60


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _require_admin(actor) -> None:
    # actor=None is the operator at the server (the create_api_key command).
    if actor is None:
        return
    require_role(actor, Membership.Role.ADMIN, "Only admins manage API keys.")


@transaction.atomic
def api_key_create(*, actor, name: str, scope: str) -> tuple[ApiKey, str]:
    """A new API key of the current tenant and the key itself (returned once, stored hashed)."""
    _require_admin(actor)
    name = " ".join((name or "").split())
    errors = {}
    if not name:
        errors["name"] = "Name the key after the system that will use it."
    if scope not in ApiKey.Scope.values:
        errors["scope"] = f"Unknown scope {scope!r}: use read or write."
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    raw_key = f"hd_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        tenant=current_tenant(),
        name=name[:80],
        prefix=prefix,
        key_hash=api_key_hash(raw_key),
        scope=scope,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="api_key.create",
        target_type="api_key",
        target_id=api_key.pk,
        summary=f"Made the API key “{api_key.name}” ({api_key.get_scope_display().lower()})",
        after={"name": api_key.name, "scope": scope, "key": f"hd_{prefix}_…"},
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, actor, api_key: ApiKey) -> ApiKey:
    """Stop a key from working, for good; revoking twice keeps the first time."""
    _require_admin(actor)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoke",
            target_type="api_key",
            target_id=api_key.pk,
            summary=f"Revoked the API key “{api_key.name}”",
            before={"active": True},
            after={"active": False},
        )
    return api_key


def api_key_for_token(raw_key: str) -> ApiKey | None:
    """The current tenant's key for this token (revoked ones too), or None."""
    if not raw_key.startswith("hd_"):
        return None
    return ApiKey.objects.filter(key_hash=api_key_hash(raw_key)).first()


def api_key_touch(api_key: ApiKey) -> None:
    """Record that a key was used, at most once a minute."""
    now = timezone.now()
    if (
        api_key.last_used_at
        and (now - api_key.last_used_at).total_seconds() < API_KEY_TOUCH_SECONDS
    ):
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


# The console's services, one module per kind of write (imported last: they
# use audit_record above).
from .groups import (  # noqa: E402
    group_create,
    group_member_add,
    group_member_remove,
    group_set_archived,
    group_update,
)
from .members import (  # noqa: E402
    InvitationInvalid,
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    member_change_role,
    member_deactivate,
    member_reactivate,
)
from .tenant import tenant_logo_remove, tenant_logo_set, tenant_update_settings  # noqa: E402

__all__ = [
    "InvitationInvalid",
    "api_key_create",
    "api_key_revoke",
    "audit_entries_for",
    "audit_record",
    "group_create",
    "group_member_add",
    "group_member_remove",
    "group_set_archived",
    "group_update",
    "invitation_accept",
    "invitation_accept_new_user",
    "invitation_create",
    "invitation_resend",
    "invitation_revoke",
    "member_change_role",
    "member_deactivate",
    "member_reactivate",
    "notification_create",
    "notifications_mark_read",
    "tenant_logo_remove",
    "tenant_logo_set",
    "tenant_update_settings",
]
