"""Bulk edits from the queues, and saved views."""

from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.tenancy import current_tenant

from ..models import Ticket
from .tickets import normalize_tags, ticket_update


def tickets_bulk_update(*, numbers: Sequence[int], actor, **changes) -> tuple[int, list[str]]:
    """Apply one change to many tickets through ticket_update: one event per
    ticket, each ticket on its own, so one refusal does not undo the rest.

    `add_tag` adds a tag to the ones a ticket has. Returns how many tickets
    changed and a message per ticket that refused.
    """
    add_tag = changes.pop("add_tag", None)
    if add_tag is not None:
        add_tag = normalize_tags([add_tag])[0] if normalize_tags([add_tag]) else None
    changed, refusals = 0, []
    tickets = Ticket.objects.filter(number__in=list(numbers)).select_related("tenant")
    # In number order: two bulk edits of the same tickets lock them in the
    # same order, so one waits for the other instead of deadlocking.
    for ticket in tickets.order_by("number"):
        try:
            with transaction.atomic():
                # The row is locked before its tags are read, in the
                # transaction ticket_update (which takes the same lock)
                # writes them in: a tag someone added since the list was
                # read is kept, not overwritten from a stale copy.
                ticket = (
                    Ticket.objects.select_for_update(of=("self",))
                    .select_related("tenant")
                    .get(pk=ticket.pk)
                )
                before = ticket.version
                ticket_changes = dict(changes)
                if add_tag is not None and add_tag not in ticket.tags:
                    ticket_changes["tags"] = [*ticket.tags, add_tag]
                updated = ticket_update(
                    ticket=ticket, actor=actor, expected_version=None, **ticket_changes
                )
        except (ValidationError, PermissionDenied) as refusal:
            text = "; ".join(getattr(refusal, "messages", None) or [str(refusal)])
            refusals.append(f"{ticket.reference}: {text}")
        else:
            changed += updated.version != before
    return changed, refusals


@transaction.atomic
def saved_view_create(*, owner, name: str, queue: str, query: str, shared_with=None):
    """Save a queue's filters; only managers share a view with a group."""
    from ..models import SavedView

    if shared_with is not None:
        require_role(owner, Membership.Role.MANAGER, "Only managers share views with a group.")
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    return SavedView.objects.create(
        tenant=current_tenant(),
        owner=owner,
        name=name[:80],
        queue=queue[:40],
        query=query[:1000],
        shared_with=shared_with,
    )


@transaction.atomic
def saved_view_delete(*, view, actor) -> None:
    """Remove a saved view: its owner, or a manager for a shared one."""
    if view.owner_id != actor.pk:
        require_role(
            actor, Membership.Role.MANAGER, "Only the owner or a manager can remove this view."
        )
    view.delete()
