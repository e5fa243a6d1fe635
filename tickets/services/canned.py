"""Canned responses that admins keep ready for agents."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant

from ..models import Ticket

CANNED_PLACEHOLDERS = ("requester_name", "ticket_number", "agent_name")
# Anything in braces that looks like a placeholder. Only the names above are
# replaced, by plain substitution: never str.format on text an admin wrote,
# where "{requester_name.x}" raises and "{x:>30000000}" makes 30 MB.
_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,60})\}")


def canned_response_render(*, canned, ticket: Ticket, agent) -> str:
    """The canned text with its placeholders filled in for this ticket."""
    values = {
        "requester_name": ticket.requester.name or ticket.requester.email,
        "ticket_number": ticket.reference,
        "agent_name": agent.get_full_name() or agent.get_username(),
    }
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), canned.body)


def _unknown_placeholders(body: str) -> list[str]:
    return sorted({name for name in _PLACEHOLDER.findall(body) if name not in CANNED_PLACEHOLDERS})


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
    elif unknown := _unknown_placeholders(body):
        known = ", ".join("{" + name + "}" for name in CANNED_PLACEHOLDERS)
        names = ", ".join("{" + name + "}" for name in unknown)
        errors["body"] = f"Unknown placeholder {names}: use {known}."
    duplicate = CannedResponse.objects.filter(title__iexact=title)
    if canned is not None:
        duplicate = duplicate.exclude(pk=canned.pk)
    if title and duplicate.exists():
        errors["title"] = f"There is already a canned response called “{title}”."
    if errors:
        raise ValidationError(errors)
    before = {"title": canned.title, "body": canned.body} if canned is not None else None
    canned = canned or CannedResponse(tenant=current_tenant())
    canned.title, canned.body = title[:120], body
    canned.save()
    after = {"title": canned.title, "body": canned.body}
    if before != after:
        audit_record(
            actor=actor,
            action="canned.save" if before else "canned.create",
            target_type="canned",
            target_id=canned.pk,
            summary=f"{'Changed' if before else 'Created'} the canned response “{canned.title}”",
            before={k: v for k, v in before.items() if v != after[k]} if before else None,
            after={k: v for k, v in after.items() if not before or v != before[k]},
        )
    return canned


@transaction.atomic
def canned_response_delete(*, actor, canned) -> None:
    require_role(actor, Membership.Role.ADMIN, "Only admins manage canned responses.")
    audit_record(
        actor=actor,
        action="canned.delete",
        target_type="canned",
        target_id=canned.pk,
        summary=f"Deleted the canned response “{canned.title}”",
        before={"title": canned.title, "body": canned.body},
    )
    canned.delete()
