"""Dispatch's Celery tasks: thin, idempotent, arguments are ids. The beat
sweep reads the control plane only and fans out to tenants with tickets
waiting for room (helpdesk.tenant_work). Group drains asked by new tickets
run on the `timers` queue, beside SLA's sweep: they do not wait behind the
event handlers that asked for them."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from helpdesk.tenancy import TenantTask
from helpdesk.tenant_work import tenants_due, work_sweep_claim, work_sweep_next
from tickets.models import Ticket

from . import services
from .services import acceptance, drain, drain_ask, presence
from .services.drain import unrouted_tickets

logger = logging.getLogger(__name__)
FAN_OUT_LIMIT = 1000


def _limits(soft_seconds: int) -> dict:
    return {"soft_time_limit": soft_seconds, "time_limit": soft_seconds + 30}


@shared_task(base=TenantTask, bind=True, **_limits(60))
def route_ticket(self, *, tenant_id: int, ticket_id: int, trigger: str) -> str:
    """Route one ticket (an escalation's new tier); a routed ticket stays as it is."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return "gone"
    decision = services.ticket_route(
        ticket=ticket, trigger=trigger, use_rules=trigger != "escalation"
    )
    return decision.outcome if decision else "closed"


@shared_task(base=TenantTask, bind=True, **_limits(60))
def drain_agent_groups(self, *, tenant_id: int, user_id: int) -> int:
    """An agent has room (came online, capacity raised): hand out waiting tickets."""
    return services.agent_groups_drain(user_id=user_id)


@shared_task(base=TenantTask, bind=True, atomic=False, **_limits(60))
def drain_groups(self, *, tenant_id: int, group_ids: list[int]) -> int:
    """New tickets wait in these groups: hand them out (with every other
    ticket waiting there), several groups and up to a batch of tickets per
    transaction. Asked by `group_drain_ask`."""
    drain_ask.group_drains_started(tenant_id=tenant_id, group_ids=group_ids)
    return drain.groups_drain_batches(group_ids=group_ids)


@shared_task(base=TenantTask, bind=True, atomic=False, **_limits(60))
def drain_group(self, *, tenant_id: int, group_id: int) -> int:
    """One group's drain, as asked before `drain_groups` (tasks still queued)."""
    drain_ask.group_drains_started(tenant_id=tenant_id, group_ids=[group_id])
    return drain.groups_drain_batches(group_ids=[group_id])


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_waiting_tickets() -> int:
    """Fan out: one drain per tenant with tickets waiting for room."""
    now = timezone.now()
    tenant_ids = tenants_due(
        kind=services.WAITING_WORK,
        before=now,
        lease_until=now + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS),
        limit=FAN_OUT_LIMIT,
    )
    for position, tenant_id in enumerate(tenant_ids):
        try:
            sweep_tenant_waiting.apply_async(kwargs={"tenant_id": tenant_id}, expires=60)
        except Exception:
            logger.exception("waiting sweep: %s tenants not swept", len(tenant_ids) - position)
            return position
    return len(tenant_ids)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_waiting(self, *, tenant_id: int) -> int:
    """Drain the tenant's groups; look again later while tickets still wait."""
    if not work_sweep_claim(kind=services.WAITING_WORK):
        return 0
    placed = services.waiting_sweep()
    still = (
        Ticket.objects.filter(
            assignee__isnull=True,
            status__in=services.routing.ROUTABLE_STATUSES,
            group__isnull=False,
        ).exists()
        or unrouted_tickets().exists()
    )
    later = timezone.now() + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS)
    work_sweep_next(kind=services.WAITING_WORK, at=later if still else None)
    return placed


def _fan_out(kind: str, task) -> int:
    now = timezone.now()
    tenant_ids = tenants_due(
        kind=kind,
        before=now,
        lease_until=now + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS),
        limit=FAN_OUT_LIMIT,
    )
    for position, tenant_id in enumerate(tenant_ids):
        try:
            task.apply_async(kwargs={"tenant_id": tenant_id}, expires=60)
        except Exception:
            logger.exception("%s sweep: %s tenants not swept", kind, len(tenant_ids) - position)
            return position
    return len(tenant_ids)


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_acceptances() -> int:
    """Fan out: one sweep per tenant with an acceptance falling due."""
    return _fan_out(acceptance.ACCEPTANCE_WORK, sweep_tenant_acceptances)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_acceptances(self, *, tenant_id: int) -> int:
    """Send tickets not accepted in time to the next candidate (each once)."""
    if not work_sweep_claim(kind=acceptance.ACCEPTANCE_WORK):
        return 0
    done, upcoming = acceptance.acceptances_time_out()
    work_sweep_next(kind=acceptance.ACCEPTANCE_WORK, at=upcoming)
    return done


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_idle_agents() -> int:
    """Fan out: one sweep per tenant with online agents who may have gone idle."""
    return _fan_out(presence.IDLE_WORK, sweep_tenant_idle)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_idle(self, *, tenant_id: int) -> int:
    """Set online agents idle past the tenant's minutes to away."""
    if not work_sweep_claim(kind=presence.IDLE_WORK):
        return 0
    flipped, upcoming = presence.idle_agents_away()
    work_sweep_next(kind=presence.IDLE_WORK, at=upcoming)
    return flipped
