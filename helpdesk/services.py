from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from .models import Membership, Notification, Tenant
from .tenancy import current_tenant


@transaction.atomic
def tenant_update_settings(*, tenant: Tenant, actor, **fields) -> Tenant:
    """Change a tenant's name, prefix, time zone or branding (admins only)."""
    membership = Membership.objects.get(tenant=tenant, user=actor)
    if not membership.has_role(Membership.Role.ADMIN):
        raise PermissionDenied("Only admins change the help desk's settings.")
    allowed = {"name", "ticket_prefix", "time_zone", "brand_color", "support_email"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"not a tenant setting: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save(update_fields=[*fields])
    return tenant


def notification_create(*, user_id: int, text: str, url: str, source_key: str) -> Notification:
    """Notify one user in the current tenant, once per source."""
    notification, _ = Notification.objects.get_or_create(
        tenant=current_tenant(),
        user_id=user_id,
        source_key=source_key,
        defaults={"text": text[:300], "url": url},
    )
    return notification


def notifications_mark_read(*, user) -> int:
    """Mark all of a user's notifications in the current tenant as read."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
