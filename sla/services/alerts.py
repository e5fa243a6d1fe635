"""The sweep: targets whose next check is due get their at-risk or breach
alert, once.

Cost: the sweep reads only rows whose `next_check_at` has come (a partial
index on (tenant, next_check_at)), so it grows with the checks that are due,
not with open tickets; which tenants to enter it learns from the control
plane (`helpdesk.TenantWork`, kind "sla"), kept by `sla_recompute`.

Exactly once: an alert is acted on only by whoever inserts its `Alert` row
(unique per ticket, target, cycle and level), in the same transaction as the
notifications, the timeline event and the escalation; two sweeps at once
skip each other's locked rows, and a sweep that dies mid-run rolls back its
claims with its work, so the next beat does it again.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Membership
from helpdesk.notifications import notification_create
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_sweep_claim, work_sweep_next
from tickets.events import event_record
from tickets.models import Ticket
from tickets.services.tickets import ticket_system_update

from ..models import Alert, Policy, Reminder, TargetKind, TicketTarget
from .reminders import sla_remind
from .timers import CLOSED_STATUSES, WORK_KIND

# Rows one tenant's sweep takes; a full batch asks for another sweep at once.
SWEEP_BATCH = 500
BREACH_EVENT = "sla_breached"
State = TicketTarget.State


def _claim(ticket_id: int, kind: str, cycle: int, level: str, now: datetime) -> bool:
    """Insert an alert's row; False when it exists (someone acted already)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Alert._meta.db_table} (tenant_id, ticket_id, kind, cycle, level, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, ticket_id, kind, cycle, level) DO NOTHING RETURNING id",
            [current_tenant().pk, ticket_id, kind, cycle, level, now],
        )
        return cursor.fetchone() is not None


def _alert_claim(row: TicketTarget, level: str, now: datetime) -> bool:
    return _claim(row.ticket_id, row.kind, row.cycle, level, now)


def _dispatchers(tenant) -> list[int]:
    # Membership is on the control plane: filtered by tenant by hand.
    return list(
        Membership.objects.filter(
            tenant=tenant,
            role__in=[Membership.Role.DISPATCHER, Membership.Role.MANAGER, Membership.Role.ADMIN],
        ).values_list("user_id", flat=True)
    )


# The notification kind of each alert level (registered in sla/extensions.py).
NOTIFICATION_KINDS = {Alert.Level.AT_RISK: "sla_at_risk", Alert.Level.BREACHED: "sla_breached"}


def _notify(row: TicketTarget, ticket: Ticket, level: str, user_ids: set[int]) -> None:
    tenant = current_tenant()
    kind = TargetKind(row.kind).label.lower()
    due = timezone.localtime(row.due_at).strftime("%a %d %b %H:%M") if row.due_at else ""
    text = (
        f"#{ticket.number} {ticket.subject[:120]}: {kind} breached (due {due})"
        if level == Alert.Level.BREACHED
        else f"#{ticket.number} {ticket.subject[:120]}: {kind} at risk, due {due}"
    )
    url = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    for user_id in sorted(user_ids):
        # As each member chose for SLA alerts (in the app, by mail, or not).
        notification_create(
            user_id=user_id,
            text=text[:300],
            url=url,
            source_key=f"sla:{row.ticket_id}:{row.kind}:{row.cycle}:{level}",
            kind=NOTIFICATION_KINDS[level],
        )


def _breach_acts(
    row: TicketTarget, ticket: Ticket, policy: Policy | None, dispatchers: list[int]
) -> None:
    tenant = current_tenant()
    label = TargetKind(row.kind).label
    event_record(
        ticket=ticket,
        kind=BREACH_EVENT,
        actor_system="sla",
        reason=f"{label} target breached",
        is_public=False,
        new_value={
            "target": row.kind,
            "label": label,
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "cycle": row.cycle,
        },
    )
    users = {ticket.assignee_id} if ticket.assignee_id else set()
    users |= set(dispatchers)
    if policy is not None and policy.notify_user_ids:
        members = set(
            Membership.objects.filter(
                tenant=tenant, user_id__in=policy.notify_user_ids
            ).values_list("user_id", flat=True)
        )
        users |= members
    _notify(row, ticket, Alert.Level.BREACHED, users)
    if policy is None:
        return
    changes = {}
    if policy.escalate_priority and ticket.priority < Ticket.Priority.URGENT:
        changes["priority"] = ticket.priority + 1
    if policy.escalate_group_id and policy.escalate_group_id != ticket.group_id:
        changes["group"] = policy.escalate_group
    if changes and ticket.status not in CLOSED_STATUSES:
        ticket_system_update(
            ticket=ticket,
            source="sla",
            reason=f"Escalated: {label.lower()} target breached",
            **changes,
        )


def sla_check(row: TicketTarget, now: datetime, dispatchers: list[int] | None = None) -> str | None:
    """Act on one due row: the alert it has reached (once), and its next
    check. Returns the level acted on, if any. `dispatchers`: the tenant's
    dispatchers, managers and admins, when the caller read them already."""
    ticket = row.ticket
    if ticket.status in CLOSED_STATUSES or row.met_at is not None or row.due_at is None:
        row.next_check_at = None
        row.save(update_fields=["next_check_at"])
        return None
    level = None
    if now >= row.due_at and row.alerted != Alert.Level.BREACHED:
        level = Alert.Level.BREACHED
    elif row.at_risk_at and now >= row.at_risk_at and row.alerted == "":
        level = Alert.Level.AT_RISK
    if level == Alert.Level.BREACHED:
        row.alerted, row.state = level, State.BREACHED
        row.breached_at = row.breached_at or row.due_at
        row.next_check_at = None
    elif level == Alert.Level.AT_RISK:
        row.alerted, row.state = level, State.AT_RISK
        row.next_check_at = row.due_at
    else:
        row.next_check_at = {"": row.at_risk_at, "at_risk": row.due_at}.get(row.alerted)
    row.save(update_fields=["alerted", "state", "breached_at", "next_check_at"])
    if level is None or not _alert_claim(row, level, now):
        return None
    if dispatchers is None:
        dispatchers = _dispatchers(current_tenant())
    if level == Alert.Level.BREACHED:
        _breach_acts(row, ticket, row.policy, dispatchers)
    else:
        users = {ticket.assignee_id} if ticket.assignee_id else set(dispatchers)
        _notify(row, ticket, level, users)
    return level


def sla_sweep(*, now: datetime | None = None) -> dict:
    """One tenant's sweep (inside its context and one transaction): the due
    rows of a batch, then the tenant's next check on the control plane."""
    now = now or timezone.now()
    if not work_sweep_claim(kind=WORK_KIND):
        return {"checked": 0, "acted": 0, "more": True}
    rows = list(
        TicketTarget.objects.filter(next_check_at__lte=now)
        .select_related("ticket", "policy")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("next_check_at")[:SWEEP_BATCH]
    )
    dispatchers = _dispatchers(current_tenant()) if rows else []
    acted = sum(1 for row in rows if sla_check(row, now, dispatchers))
    # No-activity reminders due, from their own partial index.
    reminders = list(
        Reminder.objects.filter(remind_at__lte=now)
        .select_related("ticket")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("remind_at")[:SWEEP_BATCH]
    )

    def claim(ticket_id, kind, cycle, level):
        return _claim(ticket_id, kind, cycle, level, now)

    reminded = sum(1 for row in reminders if sla_remind(row, now, claim))
    more = len(rows) == SWEEP_BATCH or len(reminders) == SWEEP_BATCH
    following = [
        model.objects.filter(**{f"{field}__isnull": False})
        .order_by(field)
        .values_list(field, flat=True)
        .first()
        for model, field in ((TicketTarget, "next_check_at"), (Reminder, "remind_at"))
    ]
    following = min((at for at in following if at is not None), default=None)
    work_sweep_next(kind=WORK_KIND, at=now if more else following)
    return {
        "checked": len(rows) + len(reminders),
        "acted": acted,
        "reminded": reminded,
        "more": more,
    }
