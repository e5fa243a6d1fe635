"""Reads the settings pages share."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Subquery

from .models import AuditEntry, Invitation, Membership, SupportGroup, SupportGroupMember
from .tenancy import current_tenant

AUDIT_PAGE_SIZE = 50


def member_list() -> list[Membership]:
    """The current tenant's members, active first, by name, with their user
    and `group_names` (one query; memberships are control-plane rows, so
    they are filtered by tenant here)."""
    tenant = current_tenant()
    members = list(
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .order_by("-is_active", "user__first_name", "user__last_name", "user__username")
    )
    names: dict[int, list[str]] = {}
    for user_id, group_name in (
        SupportGroupMember.objects.filter(group__archived_at__isnull=True)
        .order_by("group__name")
        .values_list("user_id", "group__name")
    ):
        names.setdefault(user_id, []).append(group_name)
    for member in members:
        member.group_names = names.get(member.user_id, [])
    return members


def member_get(membership_id: int) -> Membership | None:
    return (
        Membership.objects.filter(tenant=current_tenant(), pk=membership_id)
        .select_related("user", "tenant")
        .first()
    )


def invitations_open() -> list[Invitation]:
    """Invitations neither used nor withdrawn (expired ones too: they can be sent again)."""
    return list(
        Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )


def group_list() -> list[SupportGroup]:
    """Every group, active ones first, with `member_count`."""
    return list(
        SupportGroup.objects.annotate(member_count=Count("members")).order_by(
            F("archived_at").asc(nulls_first=True), "name"
        )
    )


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None


def audit_page(
    *, person: int | None = None, area: str = "", before: int | None = None,
    limit: int = AUDIT_PAGE_SIZE,
) -> AuditPage:  # fmt: skip
    """The audit log, newest first, a page at a time by keyset on
    (created_at, id); `before` is the last id of the previous page."""
    queryset = AuditEntry.objects.order_by("-created_at", "-pk")
    if person:
        queryset = queryset.filter(actor_id=person)
    if area:
        queryset = queryset.filter(target_type=area)
    if before:
        at = Subquery(AuditEntry.objects.filter(pk=before).values("created_at")[:1])
        queryset = queryset.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=before))
    rows = list(queryset[: limit + 1])
    next_before = rows[limit - 1].pk if len(rows) > limit else None
    return AuditPage(entries=rows[:limit], next_before=next_before)


def people_choices(*, active: bool | None = None) -> list[tuple[int, str]]:
    """(user id, name) of the tenant's members (only active ones, with
    `active=True`), for pickers."""
    members = Membership.objects.filter(tenant=current_tenant())
    if active is not None:
        members = members.filter(is_active=active)
    return [
        (m.user_id, m.user.get_full_name() or m.user.username)
        for m in members.select_related("user").order_by(
            "user__first_name", "user__last_name", "user__username"
        )
    ]
