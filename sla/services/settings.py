"""SLA settings writes: calendars, closures and policies, each audited, and
the background run that applies an edit to every open ticket."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from helpdesk.tenancy import current_tenant, tenant_context
from tickets.models import Ticket

from ..models import Reapply
from .timers import policies_load, sla_recompute

# Tickets one step of a reapply recomputes in one transaction.
REAPPLY_CHUNK = 200


def sla_reapply_start(*, reason: str) -> Reapply:
    """Record a reapply run and hand it to a worker after the commit."""
    from ..tasks import sla_reapply

    run = Reapply.objects.create(
        tenant=current_tenant(),
        started_at=timezone.now(),
        reason=reason[:200],
        total=Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count(),
    )
    tenant_id = current_tenant().pk
    transaction.on_commit(
        lambda: sla_reapply.apply_async(kwargs={"tenant_id": tenant_id, "reapply_id": run.pk})
    )
    return run


def sla_reapply_run(*, reapply_id: int) -> int:
    """Recompute every open ticket, a chunk per transaction (keyset by id),
    with the progress on the Reapply row. Breaches stay breached."""
    tenant = current_tenant()
    after = 0
    done = 0
    while True:
        with tenant_context(tenant):
            loaded = policies_load()
            chunk = list(
                Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES, pk__gt=after)
                .order_by("pk")
                .only("pk")[:REAPPLY_CHUNK]
            )
            for ticket in chunk:
                sla_recompute(ticket=ticket, loaded=loaded)
            done += len(chunk)
            Reapply.objects.filter(pk=reapply_id).update(
                done=done, **({"finished_at": timezone.now()} if len(chunk) < REAPPLY_CHUNK else {})
            )
        if len(chunk) < REAPPLY_CHUNK:
            return done
        after = chunk[-1].pk
