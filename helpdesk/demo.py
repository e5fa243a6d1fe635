"""What `seed_demo` adds for the settings console (a `DemoSeeder`): an open
invitation and an archived group, made through the services, so People,
Groups and the audit log have something to show."""

from __future__ import annotations

from .models import Invitation, Membership, SupportGroup
from .tenancy import current_tenant


def seed_console(tenant, stdout) -> None:
    from . import services

    admin = (
        Membership.objects.filter(tenant=tenant, role=Membership.Role.ADMIN, is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if admin is None or current_tenant().pk != tenant.pk:
        return
    if not Invitation.objects.exists():
        services.invitation_create(
            actor=admin.user,
            email=f"new.agent@{tenant.slug}.example",
            role=Membership.Role.AGENT,
            accept_url_for=lambda token: f"http://127.0.0.1:8000/accounts/invitation/{token}/",
        )
        stdout.write(f"{tenant.name}: invited new.agent@{tenant.slug}.example (see .data/mail/)")
    if not SupportGroup.objects.filter(name="Legacy desk").exists():
        group = services.group_create(
            actor=admin.user, name="Legacy desk", description="The old phone team."
        )
        services.group_set_archived(actor=admin.user, group=group, archived=True)
