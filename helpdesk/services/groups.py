"""Support groups: create, rename, archive, members; each change audited."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Membership, SupportGroup, SupportGroupMember
from ..permissions import require_role
from ..tenancy import current_tenant
from . import audit_record

REFUSAL = "Only admins manage groups."


def _clean_name(name: str, *, exclude_pk=None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the group a name."})
    if len(name) > 80:
        raise ValidationError({"name": "At most 80 characters."})
    taken = SupportGroup.objects.filter(name=name).exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"name": f"There is a group called “{name}” already."})
    return name


@transaction.atomic
def group_create(*, actor, name: str, description: str = "") -> SupportGroup:
    """A new group of the current tenant."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    name = _clean_name(name)
    group = SupportGroup.objects.create(
        tenant=current_tenant(), name=name, description=(description or "").strip()[:200]
    )
    audit_record(
        actor=actor,
        action="group.create",
        target_type="group",
        target_id=group.pk,
        summary=f"Created the group “{name}”",
        after={"name": name, "description": group.description},
    )
    return group


@transaction.atomic
def group_update(*, actor, group: SupportGroup, name: str, description: str = "") -> SupportGroup:
    """Rename a group or change its description."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    group = SupportGroup.objects.select_for_update().get(pk=group.pk)
    name = _clean_name(name, exclude_pk=group.pk)
    description = (description or "").strip()[:200]
    before = {"name": group.name, "description": group.description}
    after = {"name": name, "description": description}
    if before == after:
        return group
    group.name, group.description = name, description
    group.save(update_fields=["name", "description"])
    audit_record(
        actor=actor,
        action="group.update",
        target_type="group",
        target_id=group.pk,
        summary=f"Renamed “{before['name']}” to “{name}”"
        if before["name"] != name
        else f"Changed the description of “{name}”",
        before={k: v for k, v in before.items() if v != after[k]},
        after={k: v for k, v in after.items() if v != before[k]},
    )
    return group


@transaction.atomic
def group_set_archived(*, actor, group: SupportGroup, archived: bool) -> SupportGroup:
    """Archive a group (it keeps its tickets and members but leaves the
    choice lists and queues) or bring it back."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    group = SupportGroup.objects.select_for_update().get(pk=group.pk)
    if (group.archived_at is not None) == archived:
        return group
    group.archived_at = timezone.now() if archived else None
    group.save(update_fields=["archived_at"])
    audit_record(
        actor=actor,
        action="group.archive" if archived else "group.restore",
        target_type="group",
        target_id=group.pk,
        summary=f"{'Archived' if archived else 'Restored'} the group “{group.name}”",
        before={"archived": not archived},
        after={"archived": archived},
    )
    return group


@transaction.atomic
def group_member_add(*, actor, group: SupportGroup, user_id: int) -> SupportGroupMember:
    """Put an active member of the tenant into a group."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    user = (
        get_user_model()
        .objects.filter(
            pk=user_id, memberships__tenant=current_tenant(), memberships__is_active=True
        )
        .first()
    )
    if user is None:
        raise ValidationError({"user": "Choose an active member of this help desk."})
    member, created = SupportGroupMember.objects.get_or_create(
        tenant=current_tenant(), group=group, user=user
    )
    if created:
        audit_record(
            actor=actor,
            action="group.member_add",
            target_type="group",
            target_id=group.pk,
            summary=f"Added {user.get_full_name() or user.username} to “{group.name}”",
            after={"member": user.username},
        )
    return member


@transaction.atomic
def group_member_remove(*, actor, group: SupportGroup, user_id: int) -> None:
    """Take someone out of a group."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    member = SupportGroupMember.objects.filter(group=group, user_id=user_id).select_related("user")
    member = member.first()
    if member is None:
        return
    member.delete()
    audit_record(
        actor=actor,
        action="group.member_remove",
        target_type="group",
        target_id=group.pk,
        summary=f"Took {member.user.get_full_name() or member.user.username} out of “{group.name}”",
        before={"member": member.user.username},
    )
