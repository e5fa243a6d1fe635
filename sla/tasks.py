"""SLA's Celery tasks: thin, idempotent, tenant tasks run in their tenant."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.tenancy import TenantTask
from helpdesk.tenant_work import tenants_fan_out

from .services.alerts import sla_sweep
from .services.timers import WORK_KIND

logger = logging.getLogger(__name__)

# Tenants one beat fans out to; the rest are due at the next beat.
FAN_OUT_LIMIT = 1000
# A tenant's mark is leased this long while its sweep is queued.
SWEEP_LEASE_SECONDS = 60


def _limits(soft_seconds: int) -> dict:
    return {"soft_time_limit": soft_seconds, "time_limit": soft_seconds + 30}


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_sla_due() -> int:
    """Beat: one sweep per tenant whose SLA checks are due, learnt from the
    control plane (TenantWork) alone. Returns the tenants."""
    return tenants_fan_out(
        kind=WORK_KIND,
        task=sla_sweep_tenant,
        now=timezone.now(),
        lease_seconds=SWEEP_LEASE_SECONDS,
        limit=FAN_OUT_LIMIT,
        label="SLA sweep",
    )


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sla_sweep_tenant(self, *, tenant_id: int) -> dict:
    """Alert on the tenant's due SLA checks (a batch; a full batch asks for
    the next one at once)."""
    result = sla_sweep()
    if result["more"]:
        transaction.on_commit(lambda: sla_sweep_tenant.apply_async(kwargs={"tenant_id": tenant_id}))
    return result


@shared_task(
    base=TenantTask, bind=True, atomic=False, **_limits(settings.SLA_REAPPLY_TIME_LIMIT_SECONDS)
)
def sla_reapply(self, *, tenant_id: int, reapply_id: int) -> int:
    """Recompute every open ticket of the tenant after a settings edit."""
    from .services.settings import sla_reapply_run

    return sla_reapply_run(reapply_id=reapply_id)
