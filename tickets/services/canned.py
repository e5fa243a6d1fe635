"""Canned responses that admins keep ready for agents."""

from django.core.exceptions import ValidationError
from django.db import transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.tenancy import current_tenant

from ..models import Ticket

CANNED_PLACEHOLDERS = ("requester_name", "ticket_number", "agent_name")


class _KeepUnknown(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def canned_response_render(*, canned, ticket: Ticket, agent) -> str:
    """The canned text with its placeholders filled in for this ticket."""
    values = _KeepUnknown(
        requester_name=ticket.requester.name or ticket.requester.email,
        ticket_number=ticket.reference,
        agent_name=agent.get_full_name() or agent.get_username(),
    )
    try:
        return canned.body.format_map(values)
    except (ValueError, IndexError):
        # A stray brace in the text: insert it as written.
        return canned.body


@transaction.atomic
def canned_response_save(*, actor, title: str, body: str, canned=None):
    """Create or change a canned response (admins only)."""
    from ..models import CannedResponse

    require_role(actor, Membership.Role.ADMIN, "Only admins manage canned responses.")
    title = " ".join((title or "").split())
    errors = {}
    if not title:
        errors["title"] = "Give it a title agents will recognise."
    if not (body or "").strip():
        errors["body"] = "Write the response text."
    duplicate = CannedResponse.objects.filter(title__iexact=title)
    if canned is not None:
        duplicate = duplicate.exclude(pk=canned.pk)
    if title and duplicate.exists():
        errors["title"] = f"There is already a canned response called “{title}”."
    if errors:
        raise ValidationError(errors)
    canned = canned or CannedResponse(tenant=current_tenant())
    canned.title, canned.body = title[:120], body
    canned.save()
    return canned


@transaction.atomic
def canned_response_delete(*, actor, canned) -> None:
    require_role(actor, Membership.Role.ADMIN, "Only admins manage canned responses.")
    canned.delete()
