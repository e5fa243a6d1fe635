"""The tenant's own settings: name, prefix, time zone, branding, support address, logo."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from ..models import Membership, Tenant
from ..permissions import require_role
from . import audit_record

TENANT_FIELDS = (
    "name",
    "ticket_prefix",
    "time_zone",
    "brand_color",
    "support_email",
    "require_two_factor",
)
LOGO_MAX_BYTES = 512 * 1024
# What a logo may be, known by its first bytes, never by its name or the
# browser's word: SVG is refused (it can carry script).
LOGO_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
LOGO_CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


def _require_admin(actor) -> None:
    require_role(actor, Membership.Role.ADMIN, "Only admins change the help desk's settings.")


@transaction.atomic
def tenant_update_settings(*, tenant: Tenant, actor, **fields) -> Tenant:
    """Change a tenant's name, prefix, time zone, colour or support address
    (admins only); what changed is recorded in the audit log."""
    _require_admin(actor)
    unknown = set(fields) - set(TENANT_FIELDS)
    if unknown:
        raise TypeError(f"not a tenant setting: {', '.join(sorted(unknown))}")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = {name: getattr(tenant, name) for name in fields}
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    changed = [name for name in fields if before[name] != getattr(tenant, name)]
    if not changed:
        return tenant
    tenant.save(update_fields=changed)
    audit_record(
        actor=actor,
        action="tenant.update",
        target_type="tenant",
        target_id=tenant.pk,
        summary=f"Changed {', '.join(Tenant._meta.get_field(n).verbose_name for n in changed)}",
        before={name: before[name] for name in changed},
        after={name: getattr(tenant, name) for name in changed},
    )
    return tenant


def logo_kind(head: bytes) -> str | None:
    """The image kind a file's first bytes show, or None."""
    for signature, kind in LOGO_SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@transaction.atomic
def tenant_logo_set(*, tenant: Tenant, actor, upload) -> Tenant:
    """Store a new logo (PNG, JPEG, GIF or WebP, at most LOGO_MAX_BYTES)."""
    _require_admin(actor)
    if upload.size > LOGO_MAX_BYTES:
        raise ValidationError({"logo": f"A logo may be at most {LOGO_MAX_BYTES // 1024} KB."})
    data = upload.read(LOGO_MAX_BYTES + 1)
    kind = logo_kind(data[:16])
    if kind is None:
        raise ValidationError({"logo": "A logo must be a PNG, JPEG, GIF or WebP image."})
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    old = tenant.logo.name
    tenant.logo.save(f"{tenant.slug}-{secrets.token_hex(8)}.{kind}", ContentFile(data), save=False)
    tenant.save(update_fields=["logo"])
    if old:
        # The old file goes only once the new one is committed.
        storage = tenant.logo.storage
        transaction.on_commit(lambda: storage.delete(old))
    audit_record(
        actor=actor,
        action="tenant.logo",
        target_type="tenant",
        target_id=tenant.pk,
        summary="Uploaded a new logo",
        before={"logo": old or None},
        after={"logo": tenant.logo.name},
    )
    return tenant


@transaction.atomic
def tenant_logo_remove(*, tenant: Tenant, actor) -> Tenant:
    """Remove the tenant's logo."""
    _require_admin(actor)
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    old = tenant.logo.name
    if not old:
        return tenant
    storage = tenant.logo.storage
    tenant.logo = ""
    tenant.save(update_fields=["logo"])
    transaction.on_commit(lambda: storage.delete(old))
    audit_record(
        actor=actor,
        action="tenant.logo",
        target_type="tenant",
        target_id=tenant.pk,
        summary="Removed the logo",
        before={"logo": old},
        after={"logo": None},
    )
    return tenant
