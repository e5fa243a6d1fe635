"""Celery tasks of the webhooks: one post per task, and the sweep."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from helpdesk.tenancy import TenantTask, current_tenant, tenant_context

from ..tasks import _fan_out, _limits
from . import services

# The post's timeout, twice over, and room to record it.
_DELIVER_SECONDS = 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30


@shared_task(base=TenantTask, bind=True, atomic=False, **_limits(_DELIVER_SECONDS))
def deliver_webhook(self, *, tenant_id: int, delivery_id: int) -> str:
    """Post one delivery if it is due: claimed and committed first, posted
    outside any transaction, then the attempt recorded (and a retry
    scheduled) in a transaction of its own."""
    with tenant_context(current_tenant()):
        job = services.delivery_claim(delivery_id=delivery_id)
    if job is None:
        return "not due"
    started_at = timezone.now()
    result = services.delivery_post(job)
    with tenant_context(current_tenant()):
        return services.delivery_attempt_record(job=job, result=result, started_at=started_at)


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_webhook_deliveries() -> int:
    """Fan out: one sweep per tenant whose deliveries may be overdue."""
    grace = services.claim_seconds()
    return _fan_out(services.WEBHOOKS_WORK, grace, sweep_tenant_webhooks, expires=60)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_webhooks(self, *, tenant_id: int) -> int:
    """Hand the tenant's overdue deliveries to their task again."""
    return services.deliveries_sweep()
