"""Admins' actions on event handlers that failed: run them again. Each one
resets the handler's attempts, hands its event over to a worker and records
who did it in the audit log, in one transaction."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant

from ..events import events_run_again
from ..models import EventHandlerFailure

REFUSAL = "Only admins run failed work again."
# The audit log's target for a ticket event.
EVENT_TARGET = "event"


@transaction.atomic
def event_handler_run_again(*, failure_id: int, actor) -> EventHandlerFailure:
    """Run a failed or abandoned event handler again, now: its attempts
    start over (with their backoff and limit) and its event is handed over
    after the commit."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    # Locked: two admins clicking at once queue it once, and the second is told.
    failure = (
        EventHandlerFailure.objects.select_for_update(of=("self",))
        .select_related("event__ticket__tenant")
        .filter(pk=failure_id)
        .first()
    )
    if failure is None:
        raise ValidationError("This work has finished since: there is nothing to run again.")
    if failure.attempts == 0 and not failure.is_abandoned:
        raise ValidationError("This work is already waiting to run again.")
    detail = {
        "handler": failure.handler,
        "event_kind": failure.event.kind,
        "attempts": failure.attempts,
        "abandoned": failure.is_abandoned,
        "last_error": failure.last_error[:300],
    }
    events_run_again(failures=[failure])
    reference = failure.event.ticket.reference
    audit_record(
        actor=actor,
        action="event_handler.run_again",
        target_type=EVENT_TARGET,
        target_id=failure.event_id,
        summary=f"Ran {failure.handler} again on {reference} after {detail['attempts']} attempts",
        detail=detail,
    )
    return failure


@transaction.atomic
def event_handlers_redrive(*, handler: str | None = None, actor=None) -> list[int]:
    """Run every failed and abandoned handler of the current tenant (of
    `handler` only, if named) again; actor None is the system (the
    `redrive_events` command). Returns the ids of the events handed over."""
    if actor is not None:
        require_role(actor, Membership.Role.ADMIN, REFUSAL)
    failures = EventHandlerFailure.objects.select_for_update().order_by("pk")
    if handler:
        failures = failures.filter(handler=handler)
    failures = list(failures)
    if not failures:
        return []
    event_ids = events_run_again(failures=failures)
    audit_record(
        actor=actor,
        action="event_handler.redrive",
        target_type="tenant",
        target_id=current_tenant().pk,
        summary=f"Ran {len(failures)} failed handler(s) again on {len(event_ids)} event(s)",
        detail={
            "handler": handler or "",
            "handlers": sorted({failure.handler for failure in failures}),
            "abandoned": sum(failure.is_abandoned for failure in failures),
            "events": event_ids[:200],
        },
    )
    return event_ids
