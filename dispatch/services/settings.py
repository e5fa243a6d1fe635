"""Admins' writes: routing rules, group dispatch settings, agents'
availability and capacity. Each validates, writes and records an
AuditEntry in one transaction."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from helpdesk.models import Membership, SupportGroup
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant
from tickets.models import Category, Mailbox, Organization

from ..models import AgentStatus, DispatchSettings, GroupDispatch, RoutingRule
from ..rules import rule_problems
from .routing import statuses_locked


def known_values() -> dict[str, set[str]]:
    """The ids rules may name now, by condition or action field."""

    def ids(model, **filters) -> set[str]:
        return {str(pk) for pk in model.objects.filter(**filters).values_list("pk", flat=True)}

    groups = ids(SupportGroup)
    categories = ids(Category)
    agents = {
        str(pk)
        for pk in Membership.objects.filter(tenant=current_tenant()).values_list(
            "user_id", flat=True
        )
    }
    return {
        "group": groups,
        "category": categories,
        "assignee": agents,
        "mailbox": ids(Mailbox),
        "organization": ids(Organization),
    }


@transaction.atomic
def rule_save(
    *, actor, rule: RoutingRule | None, name: str, match: str, conditions: list, actions: dict,
    stop: bool, is_enabled: bool = True,
) -> RoutingRule:  # fmt: skip
    """Make or change a rule; refused with every problem in words, nothing written."""
    name = " ".join((name or "").split())
    problems = [] if name else ["Give the rule a name."]
    problems += rule_problems(
        match=match, conditions=conditions, actions=actions, known=known_values()
    )
    if problems:
        raise ValidationError(problems)
    made = rule is None
    if made:
        last = RoutingRule.objects.aggregate(last=Max("position"))["last"]
        rule = RoutingRule(tenant=current_tenant(), position=(last or 0) + 1)
    rule.name, rule.match, rule.stop, rule.is_enabled = name[:120], match, stop, is_enabled
    rule.conditions, rule.actions = conditions, actions
    rule.save()
    audit_record(
        actor=actor, action="routing.rule_" + ("add" if made else "edit"),
        target_type="routing_rule", target_id=rule.pk, summary=f"Rule “{rule.name}”",
        detail={"match": match, "conditions": conditions, "actions": actions, "stop": stop},
    )  # fmt: skip
    return rule


@transaction.atomic
def rule_move(*, actor, rule: RoutingRule, direction: str) -> None:
    """Swap a rule with its neighbour above ("up") or below ("down")."""
    rules = list(RoutingRule.objects.select_for_update().order_by("position", "pk"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(rules):
        return
    rules[index], rules[other] = rules[other], rules[index]
    for position, each in enumerate(rules, start=1):
        if each.position != position:
            RoutingRule.objects.filter(pk=each.pk).update(position=position)
    audit_record(
        actor=actor, action="routing.rule_move", target_type="routing_rule",
        target_id=rule.pk, summary=f"Rule “{rule.name}” moved {direction}",
    )  # fmt: skip


@transaction.atomic
def rule_set_enabled(*, actor, rule: RoutingRule, enabled: bool) -> None:
    RoutingRule.objects.filter(pk=rule.pk).update(is_enabled=enabled)
    audit_record(
        actor=actor, action="routing.rule_" + ("enable" if enabled else "disable"),
        target_type="routing_rule", target_id=rule.pk, summary=f"Rule “{rule.name}”",
    )  # fmt: skip


@transaction.atomic
def rule_delete(*, actor, rule: RoutingRule) -> None:
    audit_record(
        actor=actor, action="routing.rule_delete", target_type="routing_rule",
        target_id=rule.pk, summary=f"Rule “{rule.name}”",
        detail={"conditions": rule.conditions, "actions": rule.actions},
    )  # fmt: skip
    rule.delete()


@transaction.atomic
def group_dispatch_save(*, actor, group: SupportGroup, **values) -> GroupDispatch:
    """Save a group's mode, strategy, leader, overflow and next tier."""
    for key in ("overflow_group", "escalation_group"):
        if values.get(key) is not None and values[key].pk == group.pk:
            raise ValidationError({key: "A group cannot hand tickets to itself."})
    leader = values.get("leader")
    if values.get("mode") == GroupDispatch.Mode.CLAIM and leader is not None:
        role = Membership.objects.filter(tenant=current_tenant(), user=leader).first()
        if role is None or not role.has_role(Membership.Role.DISPATCHER):
            raise ValidationError(
                {"leader": "A claim group's leader assigns tickets to others: choose a "
                 "dispatcher, manager or admin."}
            )  # fmt: skip
    if values.get("escalate_on_breach") and values.get("escalation_group") is None:
        raise ValidationError(
            {"escalate_on_breach": "Choose a next tier for escalation on SLA breach."}
        )
    cfg, _ = GroupDispatch.objects.get_or_create(tenant=current_tenant(), group=group)
    for key, value in values.items():
        setattr(cfg, key, value)
    cfg.save()
    audit_record(
        actor=actor, action="routing.group", target_type="support_group", target_id=group.pk,
        summary=f"Dispatch of {group.name}: {cfg.get_mode_display()}, {cfg.get_strategy_display()}",
    )  # fmt: skip
    return cfg


def _after_room(user_id: int) -> None:
    from ..tasks import drain_agent_groups

    tenant_id = current_tenant().pk
    transaction.on_commit(
        lambda: drain_agent_groups.delay(tenant_id=tenant_id, user_id=user_id), robust=True
    )


@transaction.atomic
def availability_set(*, user, availability: str) -> AgentStatus:
    """An agent goes online, away or offline; going online hands them waiting tickets."""
    if availability not in AgentStatus.Availability.values:
        raise ValidationError({"availability": "Choose online, away or offline."})
    status = statuses_locked([user.pk])[0]
    came_online = (
        availability == AgentStatus.Availability.ONLINE and status.availability != availability
    )
    now = timezone.now()
    status.availability, status.changed_at = availability, now
    # The agent's own choice: the idle sweep's "away" no longer applies.
    status.last_seen_at, status.idle_away = now, False
    status.save(update_fields=["availability", "changed_at", "last_seen_at", "idle_away"])
    if availability == AgentStatus.Availability.ONLINE:
        from .presence import idle_watch

        idle_watch(now)
    if came_online:
        _after_room(user.pk)
    return status


@transaction.atomic
def agent_capacity_set(*, actor, user, capacity: int, skills: dict | None = None) -> AgentStatus:
    """Set an agent's capacity (and skills); a raised capacity hands out waiting tickets."""
    if not isinstance(capacity, int) or not 0 <= capacity <= 500:
        raise ValidationError({"capacity": "Capacity is a whole number from 0 to 500."})
    status = statuses_locked([user.pk])[0]
    raised = capacity > status.capacity
    status.capacity = capacity
    if skills is not None:
        status.skills = skills
    status.save(update_fields=["capacity", "skills"])
    audit_record(
        actor=actor, action="routing.capacity", target_type="user", target_id=user.pk,
        summary=f"Capacity of {user.get_username()} set to {capacity}",
    )  # fmt: skip
    if raised:
        _after_room(user.pk)
    return status


def _settings_values(config: DispatchSettings) -> dict:
    return {
        "priority_weights": config.priority_weights or {},
        "channel_weights": config.channel_weights or {},
        "waiting_fraction": str(config.waiting_fraction),
        "away_after_minutes": config.away_after_minutes,
        "business_days": list(config.business_days or []),
        "business_start": config.business_start.isoformat() if config.business_start else None,
        "business_end": config.business_end.isoformat() if config.business_end else None,
    }


@transaction.atomic
def dispatch_settings_save(
    *, actor, priority_weights: dict, channel_weights: dict, waiting_fraction,
    away_after_minutes, business_days: list, business_start, business_end,
) -> DispatchSettings:  # fmt: skip
    """Save the tenant's weights (priority, and channel by priority where it
    differs), waiting fraction, idle minutes and business hours; audited
    with what changed."""
    problems = []
    for table in [priority_weights, *channel_weights.values()]:
        for value in table.values():
            if not 0 <= Decimal(value) <= 50:
                problems.append("A weight is a number from 0 to 50.")
    if not any(Decimal(v) > 0 for v in priority_weights.values()):
        problems.append("At least one priority weighs more than 0, or nobody would ever be full.")
    if (business_start is None) != (business_end is None):
        problems.append("Give both the opening and the closing time, or neither.")
    elif business_start is not None and business_start >= business_end:
        problems.append("The closing time comes after the opening time.")
    if problems:
        raise ValidationError(sorted(set(problems)))
    config, _ = DispatchSettings.objects.select_for_update().get_or_create(tenant=current_tenant())
    before = _settings_values(config)
    config.priority_weights, config.channel_weights = priority_weights, channel_weights
    config.waiting_fraction, config.away_after_minutes = waiting_fraction, away_after_minutes
    config.business_days = sorted(set(business_days))
    config.business_start, config.business_end = business_start, business_end
    config.save()
    after = _settings_values(config)
    changed = [key for key in after if after[key] != before[key]]
    if changed:
        audit_record(
            actor=actor, action="routing.weights", target_type="dispatch_settings",
            target_id=config.pk, summary="Weights and business hours",
            before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
        )  # fmt: skip
    return config
