"""Categories, as admins keep them: two levels, ordered, archived rather
than deleted (tickets keep theirs). Every change is in the audit log."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant

from ..models import Category

REFUSAL = "Only admins manage categories."
CATEGORY_TARGET = "category"


def _clean_name(name: str, parent: Category | None, exclude_pk=None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the category a name."})
    if len(name) > 80:
        raise ValidationError({"name": "At most 80 characters."})
    if Category.objects.filter(parent=parent, name=name).exclude(pk=exclude_pk).exists():
        where = f"under “{parent.name}”" if parent else "at the top level"
        raise ValidationError({"name": f"There is a “{name}” {where} already."})
    return name


@transaction.atomic
def category_create(*, actor, name: str, parent: Category | None = None) -> Category:
    """A new category, last among its siblings; a sub-category's parent must be a top one."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    if parent is not None and parent.parent_id is not None:
        raise ValidationError({"parent": "Categories have two levels: choose a top category."})
    name = _clean_name(name, parent)
    last = Category.objects.filter(parent=parent).aggregate(last=Max("position"))["last"]
    category = Category.objects.create(
        tenant=current_tenant(),
        name=name,
        parent=parent,
        position=0 if last is None else last + 1,
    )
    audit_record(
        actor=actor,
        action="category.create",
        target_type=CATEGORY_TARGET,
        target_id=category.pk,
        summary=f"Created the category “{category}”",
        after={"name": str(category)},
    )
    return category


@transaction.atomic
def category_rename(*, actor, category: Category, name: str) -> Category:
    """Rename a category; tickets that have it show the new name."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    category = (
        Category.objects.select_for_update(of=("self",))
        .select_related("parent")
        .get(pk=category.pk)
    )
    name = _clean_name(name, category.parent, exclude_pk=category.pk)
    if name == category.name:
        return category
    before = str(category)
    category.name = name
    category.save(update_fields=["name"])
    audit_record(
        actor=actor,
        action="category.rename",
        target_type=CATEGORY_TARGET,
        target_id=category.pk,
        summary=f"Renamed “{before}” to “{category}”",
        before={"name": before},
        after={"name": str(category)},
    )
    return category


@transaction.atomic
def category_move(*, actor, category: Category, step: int) -> Category:
    """Move a category one place up (step -1) or down (+1) among its siblings."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    if step not in (-1, 1):
        raise ValueError("step is -1 or 1")
    siblings = list(
        Category.objects.select_for_update()
        .filter(parent_id=category.parent_id)
        .order_by("position", "name", "pk")
    )
    index = next(i for i, sibling in enumerate(siblings) if sibling.pk == category.pk)
    target = index + step
    if not 0 <= target < len(siblings):
        return siblings[index]
    siblings[index], siblings[target] = siblings[target], siblings[index]
    # Positions written afresh (0, 1, 2 ...): equal positions from before
    # ordering existed become a definite order.
    for position, sibling in enumerate(siblings):
        if sibling.position != position:
            sibling.position = position
            sibling.save(update_fields=["position"])
    moved = siblings[target]
    audit_record(
        actor=actor,
        action="category.move",
        target_type=CATEGORY_TARGET,
        target_id=moved.pk,
        summary=f"Moved “{moved.name}” {'up' if step < 0 else 'down'}",
        before={"place": index + 1},
        after={"place": target + 1},
    )
    return moved


@transaction.atomic
def category_set_archived(*, actor, category: Category, archived: bool) -> Category:
    """Archive a category (it leaves the choice lists; tickets keep it) or bring it back."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    category = (
        Category.objects.select_for_update(of=("self",))
        .select_related("parent")
        .get(pk=category.pk)
    )
    if (category.archived_at is not None) == archived:
        return category
    category.archived_at = timezone.now() if archived else None
    category.save(update_fields=["archived_at"])
    audit_record(
        actor=actor,
        action="category.archive" if archived else "category.restore",
        target_type=CATEGORY_TARGET,
        target_id=category.pk,
        summary=f"{'Archived' if archived else 'Restored'} the category “{category}”",
        before={"archived": not archived},
        after={"archived": archived},
    )
    return category
