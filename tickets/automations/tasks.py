"""Celery tasks of the automations: the beat fan-out and each tenant's run."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from helpdesk.tenancy import TenantTask
from helpdesk.tenant_work import work_sweep_claim, work_sweep_next

from ..events import events_handed_over_together
from ..models import AutomationRule
from ..tasks import _fan_out, _limits
from .engine import automations_run
from .services import AUTOMATIONS_WORK


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def run_automations() -> int:
    """Fan out: one run per tenant whose automations are due. Returns the tenants."""
    return _fan_out(AUTOMATIONS_WORK, 0, run_tenant_automations, expires=60)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def run_tenant_automations(self, *, tenant_id: int) -> str:
    """Run the tenant's enabled rules once and set when they are next due
    (never, once none is enabled)."""
    if not work_sweep_claim(kind=AUTOMATIONS_WORK):
        return "another run is in progress"
    rules = list(AutomationRule.objects.filter(enabled=True).order_by("pk"))
    with events_handed_over_together():
        report = automations_run(rules=rules)
    now = timezone.now()
    if not rules:
        next_at = None
    elif report.more_waiting:
        next_at = now  # the next beat takes the rest
    else:
        next_at = now + timedelta(seconds=settings.AUTOMATIONS_SWEEP_SECONDS)
    work_sweep_next(kind=AUTOMATIONS_WORK, at=next_at)
    return ", ".join(f"{step}: {n}" for step, n in report.acted.items()) or "nothing to do"
