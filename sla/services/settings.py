"""SLA settings writes: calendars, closures and policies, each audited, and
the background run that applies an edit to every open ticket."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant, tenant_context
from tickets.models import Ticket

from ..models import Calendar, CalendarClosure, Policy, PolicyTarget, Reapply
from .bulk import BATCH, sla_recompute_batch
from .timers import policies_load


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
    """Recompute every open ticket, a batch per transaction (keyset by id,
    `sla_recompute_batch`), with the progress on the Reapply row. Breaches
    stay breached."""
    tenant = current_tenant()
    after = 0
    done = 0
    while True:
        with tenant_context(tenant):
            # Read again for each batch: a second edit meanwhile applies to
            # the rest at once (and starts its own run for all).
            loaded = policies_load()
            count, last = sla_recompute_batch(after=after, loaded=loaded)
            done += count
            Reapply.objects.filter(pk=reapply_id).update(
                done=done, **({"finished_at": timezone.now()} if count < BATCH else {})
            )
        if count < BATCH:
            return done
        after = last


CALENDAR_FIELDS = (
    "name",
    "time_zone",
    "always_open",
    "hours",
    "holiday_country",
    "holiday_subdivision",
)
POLICY_FIELDS = (
    "name",
    "position",
    "active",
    "priorities",
    "channels",
    "types",
    "organization_ids",
    "category_ids",
    "group_ids",
    "tags",
    "pause_statuses",
    "at_risk_percent",
    "remind_after_hours",
    "escalate_priority",
)


def _policies_using(calendar: Calendar) -> bool:
    return Policy.objects.filter(calendar=calendar, active=True).exists()


@transaction.atomic
def sla_calendar_save(*, actor, calendar: Calendar | None, **fields) -> Calendar:
    """Make or change a calendar (fields checked by CalendarForm); open
    tickets under its policies are recomputed in the background."""
    values = {name: fields[name] for name in CALENDAR_FIELDS}
    if (
        Calendar.objects.filter(name=values["name"])
        .exclude(pk=getattr(calendar, "pk", None))
        .exists()
    ):
        raise ValidationError(f"There is a calendar named {values['name']} already.")
    created = calendar is None
    if created:
        calendar = Calendar.objects.create(tenant=current_tenant(), **values)
    else:
        for name, value in values.items():
            setattr(calendar, name, value)
        calendar.save()
    audit_record(
        actor=actor,
        action="sla.calendar_created" if created else "sla.calendar_changed",
        target_type="sla.calendar",
        target_id=calendar.pk,
        summary=f"SLA calendar {calendar.name}",
        detail={k: v for k, v in values.items()},
    )
    if not created and _policies_using(calendar):
        sla_reapply_start(reason=f"Calendar {calendar.name} changed")
    return calendar


@transaction.atomic
def sla_closure_add(*, actor, calendar: Calendar, **fields) -> CalendarClosure:
    """Add the tenant's own holiday or closure to a calendar."""
    closure = CalendarClosure.objects.create(tenant=current_tenant(), calendar=calendar, **fields)
    audit_record(
        actor=actor,
        action="sla.closure_added",
        target_type="sla.calendar",
        target_id=calendar.pk,
        summary=f"{calendar.name}: closed {closure.first_date}..{closure.last_date} ({closure.name})",
    )
    if _policies_using(calendar):
        sla_reapply_start(reason=f"Closure added to {calendar.name}")
    return closure


@transaction.atomic
def sla_closure_remove(*, actor, closure: CalendarClosure) -> None:
    """Remove a closure; open tickets are recomputed."""
    calendar = closure.calendar
    audit_record(
        actor=actor,
        action="sla.closure_removed",
        target_type="sla.calendar",
        target_id=calendar.pk,
        summary=f"{calendar.name}: closure {closure.name} removed",
    )
    closure.delete()
    if _policies_using(calendar):
        sla_reapply_start(reason=f"Closure removed from {calendar.name}")


@transaction.atomic
def sla_policy_save(
    *, actor, policy: Policy | None, calendar_id: int, escalate_group_id, targets, **fields
) -> Policy:
    """Make or change a policy and its targets ({(priority, kind): (seconds,
    business)}); open tickets are recomputed in the background."""
    values = {name: fields[name] for name in POLICY_FIELDS}
    calendar = Calendar.objects.get(pk=calendar_id)
    created = policy is None
    if created:
        policy = Policy(tenant=current_tenant())
    for name, value in values.items():
        setattr(policy, name, value)
    policy.calendar = calendar
    policy.escalate_group_id = escalate_group_id
    policy.save()
    PolicyTarget.objects.filter(policy=policy).delete()
    PolicyTarget.objects.bulk_create(
        [
            PolicyTarget(
                tenant=policy.tenant,
                policy=policy,
                priority=priority,
                kind=kind,
                seconds=seconds,
                business=business,
            )
            for (priority, kind), (seconds, business) in sorted(targets.items())
        ]
    )
    audit_record(
        actor=actor,
        action="sla.policy_created" if created else "sla.policy_changed",
        target_type="sla.policy",
        target_id=policy.pk,
        summary=f"SLA policy {policy.name}",
        detail={
            **{k: v for k, v in values.items()},
            "calendar": calendar.name,
            "targets": {f"{p}:{k}": s for (p, k), (s, _b) in targets.items()},
        },
    )
    sla_reapply_start(reason=f"Policy {policy.name} {'added' if created else 'changed'}")
    return policy
