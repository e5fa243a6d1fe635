"""Admins' changes to automation rules, each recorded in the audit log."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due

from ..models import AutomationRule, Ticket

# The control-plane mark (helpdesk.tenant_work) of tenants whose rules are due.
AUTOMATIONS_WORK = "automations"
RULE_FIELDS = (
    "name",
    "kind",
    "enabled",
    "wait",
    "then_wait",
    "group",
    "priority",
    "category",
    "message",
)
# The longest waits a rule may have: a year in days, a month in hours.
MAX_DAYS, MAX_HOURS = 365, 24 * 31


def _require_admin(actor) -> None:
    require_role(actor, Membership.Role.ADMIN, "Only admins change automations.")


def _check(rule: AutomationRule) -> None:
    rule.name = rule.name.strip()
    if not rule.name:
        raise ValidationError({"name": "Give the automation a name."})
    if rule.kind not in AutomationRule.Kind.values:
        raise ValidationError({"kind": "Choose what the automation does."})
    longest = MAX_HOURS if rule.kind == AutomationRule.Kind.IDLE_ASSIGNEE else MAX_DAYS
    if rule.wait is None or not 1 <= rule.wait <= longest:
        raise ValidationError({"wait": f"Give a number of {rule.wait_unit} from 1 to {longest}."})
    if rule.kind == AutomationRule.Kind.PENDING_REMINDER:
        if rule.then_wait is None or not 1 <= rule.then_wait <= MAX_DAYS:
            raise ValidationError(
                {"then_wait": f"Say after how many days (1 to {MAX_DAYS}) the ticket is resolved."}
            )
    else:
        rule.then_wait = None
        rule.message = ""
    for name in ("group", "category"):
        value = getattr(rule, name)
        if value is not None and value.tenant_id != current_tenant().pk:
            raise ValidationError({name: f"That {name} is not one of this help desk's."})
    if rule.priority is not None and rule.priority not in Ticket.Priority.values:
        raise ValidationError({"priority": "Unknown priority."})
    if AutomationRule.objects.filter(name=rule.name).exclude(pk=rule.pk).exists():
        raise ValidationError({"name": f"There is already an automation called {rule.name}."})


def _described(rule: AutomationRule) -> dict:
    described = {name: getattr(rule, name) for name in RULE_FIELDS}
    for name in ("group", "category"):
        described[name] = str(described[name]) if described[name] is not None else None
    return described


def _mark_due(rule: AutomationRule) -> None:
    if rule.enabled:
        # Its first run comes at the next beat.
        work_due(kind=AUTOMATIONS_WORK, at=timezone.now())


@transaction.atomic
def automation_rule_create(*, actor, **fields) -> AutomationRule:
    """Add an automation rule."""
    _require_admin(actor)
    rule = AutomationRule(tenant=current_tenant(), **fields)
    _check(rule)
    rule.save()
    _mark_due(rule)
    audit_record(
        actor=actor,
        action="automation.create",
        target_type="automation",
        target_id=rule.pk,
        summary=f"Added automation {rule.name}",
        detail={"after": _described(rule)},
    )
    return rule


@transaction.atomic
def automation_rule_update(*, rule: AutomationRule, actor, **fields) -> AutomationRule:
    """Change an automation rule (its kind stays)."""
    _require_admin(actor)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"not an automation field: {', '.join(sorted(unknown))}")
    rule = AutomationRule.objects.select_for_update().get(pk=rule.pk)
    before = _described(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    _check(rule)
    after = _described(rule)
    if after == before:
        return rule
    rule.save()
    _mark_due(rule)
    changes = {k: {"before": before[k], "after": after[k]} for k in after if after[k] != before[k]}
    audit_record(
        actor=actor,
        action="automation.update",
        target_type="automation",
        target_id=rule.pk,
        summary=f"Changed automation {rule.name}",
        detail={"changes": changes},
    )
    return rule


@transaction.atomic
def automation_rule_delete(*, rule: AutomationRule, actor) -> None:
    """Remove an automation rule; what it did stays on the tickets' timelines."""
    _require_admin(actor)
    audit_record(
        actor=actor,
        action="automation.delete",
        target_type="automation",
        target_id=rule.pk,
        summary=f"Removed automation {rule.name}",
        detail={"before": _described(rule)},
    )
    rule.delete()
