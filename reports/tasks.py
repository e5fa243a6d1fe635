"""The reports app's Celery tasks: thin, idempotent, run in their tenant."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from helpdesk.models import Tenant, TenantWork
from helpdesk.tenancy import TenantTask
from helpdesk.tenant_work import tenants_due

from .weekly import WORK_KIND, weekly_summaries_send

logger = logging.getLogger(__name__)

FAN_OUT_LIMIT = 1000
SWEEP_LEASE_SECONDS = 600


def _limits(soft_seconds: int) -> dict:
    return {"soft_time_limit": soft_seconds, "time_limit": soft_seconds + 30}


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_weekly_summaries() -> int:
    """Beat: one task per tenant whose weekly summary is due, learnt from the
    control plane alone. A tenant without a mark yet gets one, due now (its
    sweep then sets it to next Monday). Returns the tenants."""
    now = timezone.now()
    work, tenants = TenantWork._meta.db_table, Tenant._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {work} (tenant_id, kind, due_at)"
            f" SELECT id, %s, %s FROM {tenants} ON CONFLICT (tenant_id, kind) DO NOTHING",
            [WORK_KIND, now],
        )
    tenant_ids = tenants_due(
        kind=WORK_KIND,
        before=now,
        lease_until=now + timedelta(seconds=SWEEP_LEASE_SECONDS),
        limit=FAN_OUT_LIMIT,
    )
    for position, tenant_id in enumerate(tenant_ids):
        try:
            weekly_summaries_tenant.apply_async(
                kwargs={"tenant_id": tenant_id}, expires=SWEEP_LEASE_SECONDS
            )
        except Exception:
            # Broker down: the leased marks fall due again after the lease.
            logger.exception("Weekly summaries: %s tenants not swept", len(tenant_ids) - position)
            return position
    return len(tenant_ids)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def weekly_summaries_tenant(self, *, tenant_id: int) -> int:
    """Mail last week's summary to the tenant's managers who asked for it."""
    return weekly_summaries_send()
