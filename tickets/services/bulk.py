"""Bulk edits from the queues, a system's bulk deadline update, and saved
views."""

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.tenancy import current_tenant

from ..events import event_build, events_record
from ..extensions import system_actors
from ..models import Event, Ticket
from .tickets import due_display, normalize_tags, ticket_update


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
def tickets_system_due_update(
    *, due: Mapping[int, datetime | None], source: str, reason: str
) -> int:
    """Set many tickets' due time at once (ticket id -> due time or None),
    as `ticket_system_update(due_at=...)` does one by one: the same checks,
    one "Due time" event per ticket whose due time really changed, and, as
    for that system-only field, no `version` or `updated_at` bump.

    For a system that recomputes deadlines of a whole help desk (an SLA
    calendar edit): three statements per call whatever its size (lock and
    read, one UPDATE from arrays, one INSERT of the events). Returns how
    many tickets changed."""
    if source not in system_actors:
        raise ValueError(f"{source!r} is not registered in tickets.extensions.system_actors")
    if not (reason or "").strip():
        raise ValueError("a system change says why (reason)")
    for value in due.values():
        if value is not None and not (isinstance(value, datetime) and timezone.is_aware(value)):
            raise ValidationError({"due_at": "A due time is a date and time with a time zone."})
    if not due:
        return 0
    tenant = current_tenant()
    # Locked in id order, as other writers of many tickets take them, and
    # read under the lock: the old value on each event is the real one.
    current = dict(
        Ticket.objects.filter(pk__in=list(due))
        .order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", "due_at")
    )
    changed = [(pk, current[pk], due[pk]) for pk in sorted(current) if current[pk] != due[pk]]
    if not changed:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Ticket._meta.db_table} AS t SET due_at = v.due_at"
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, due_at)"
            " WHERE t.tenant_id = %s AND t.id = v.id",
            [[pk for pk, _, _ in changed], [after for _, _, after in changed], tenant.pk],
        )
    now = timezone.now()
    events_record(
        [
            event_build(
                ticket=Ticket(pk=pk, tenant_id=tenant.pk),
                kind=Event.Kind.FIELD_CHANGED,
                actor_system=source,
                reason=reason.strip(),
                field="due_at",
                old_value=due_display(before, tenant.time_zone),
                new_value=due_display(after, tenant.time_zone),
                created_at=now,
                # A deadline is the team's business, not the customer's.
                is_public=False,
            )
            for pk, before, after in changed
        ]
    )
    return len(changed)


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
