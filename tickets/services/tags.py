"""Tags, as admins tidy them: rename one, or merge it into another, across
the tickets that have it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record

from ..models import Ticket
from .tickets import normalize_tags, ticket_system_update

REFUSAL = "Only admins rename tags."
# The system named on each ticket's timeline (tickets.extensions.system_actors).
TAGS_SYSTEM = "tags"
TAG_LIST_LIMIT = 500


def tag_counts(limit: int = TAG_LIST_LIMIT) -> list[tuple[str, int]]:
    """The current tenant's tags with how many tickets have each, most used first."""
    table = Ticket._meta.db_table
    with connection.cursor() as cursor:
        # Row-level security limits the rows to the current tenant.
        cursor.execute(
            f"SELECT tag, count(*) FROM {table}, unnest(tags) AS tag "  # noqa: S608 - table name
            "GROUP BY tag ORDER BY count(*) DESC, tag LIMIT %s",
            [limit],
        )
        return [(tag, count) for tag, count in cursor.fetchall()]


@transaction.atomic
def tag_rename(*, actor, old: str, new: str) -> int:
    """Rename tag `old` to `new` on every ticket that has it; when some
    tickets have `new` already, the two merge. Each ticket changes through
    ticket_system_update: one event on its timeline, saying who renamed
    what. Closed tickets keep their tags (they cannot change). Returns how
    many tickets changed; one audit entry for the whole."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    try:
        (old,) = normalize_tags([old]) or [""]
        (new,) = normalize_tags([new]) or [""]
    except ValueError as error:
        raise ValidationError({"new": "Give one tag."}) from error
    if not new:
        raise ValidationError({"new": "Give the new name."})
    if old == new:
        return 0
    merging = Ticket.objects.filter(tags__contains=[new]).exists()
    by = actor.get_full_name() or actor.username
    changed = 0
    for ticket in (
        Ticket.objects.filter(tags__contains=[old])
        .exclude(status=Ticket.Status.CLOSED)
        .order_by("pk")
    ):
        tags = [new if tag == old else tag for tag in ticket.tags]
        ticket_system_update(
            ticket=ticket,
            source=TAGS_SYSTEM,
            reason=f"{by} {'merged' if merging else 'renamed'} the tag “{old}” into “{new}”",
            tags=list(dict.fromkeys(tags)),
        )
        changed += 1
    audit_record(
        actor=actor,
        action="tag.merge" if merging else "tag.rename",
        target_type="tag",
        target_id=old,
        summary=f"{'Merged' if merging else 'Renamed'} the tag “{old}” into “{new}” "
        f"on {changed} ticket{'s' if changed != 1 else ''}",
        before={"tag": old},
        after={"tag": new},
    )
    return changed
