"""The report pages' Celery tasks: the daily load snapshot, fanned out per
help desk from the control plane."""

from __future__ import annotations

import logging

from celery import shared_task

from helpdesk.models import Tenant
from helpdesk.tenancy import TenantTask

logger = logging.getLogger(__name__)


@shared_task
def snapshot_agent_loads() -> int:
    """Beat: one load snapshot task per help desk (the tenants are read from
    the control plane; each task enters its own tenant). Returns how many."""
    tenant_ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    for position, tenant_id in enumerate(tenant_ids):
        try:
            load_snapshot_tenant.apply_async(kwargs={"tenant_id": tenant_id}, expires=3600)
        except Exception:
            # Broker down: the next beat writes the same day's snapshot.
            logger.exception("load snapshots: %s tenants not done", len(tenant_ids) - position)
            return position
    return len(tenant_ids)


@shared_task(base=TenantTask, bind=True)
def load_snapshot_tenant(self, *, tenant_id: int) -> int:
    """Write the tenant's load snapshot of today (replacing an earlier one)."""
    from .services import load_snapshot_take

    return load_snapshot_take()
