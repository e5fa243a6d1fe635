"""Running a tenant's automation rules (inside the tenant's context)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from helpdesk.services import notification_create
from helpdesk.tenancy import current_tenant

from .. import services
from ..events import event_record
from ..models import AutomationRule, AutomationRun, Category, Ticket

logger = logging.getLogger(__name__)

# The system name on the timeline (tickets.extensions.system_actors).
SOURCE = "automations"
# The event kind of a reminder to the assignee (tickets.extensions.event_kinds).
ASSIGNEE_REMINDED = "automation_reminded"
# Tickets one rule takes in one run; the rest wait for the next run, which
# is then due at once.
BATCH = 100

Kind = AutomationRule.Kind
Step = AutomationRun.Step

DEFAULT_REMINDER = (
    "Hello {requester_name},\n\n"
    "We are still waiting for your answer about {ticket_reference}. Simply reply to this "
    "mail and it reaches the team.\n\n"
    "If we do not hear from you in {days} days, we will take it that all is settled "
    "and mark the request resolved."
)
REMINDER_PLACEHOLDERS = ("requester_name", "ticket_reference", "days")


@dataclass
class RunReport:
    acted: dict[str, int] = field(default_factory=dict)
    # A rule that left tickets for the next run.
    more_waiting: bool = False

    def count(self, step: str) -> None:
        self.acted[step] = self.acted.get(step, 0) + 1


def reminder_text(rule: AutomationRule, ticket: Ticket) -> str:
    """The reminder's text, its placeholders filled in by plain substitution."""
    text = rule.message.strip() or DEFAULT_REMINDER
    values = {
        "requester_name": ticket.requester.name or "there",
        "ticket_reference": ticket.reference,
        "days": str(rule.then_wait or 0),
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _conditions(rule: AutomationRule) -> Q:
    condition = Q()
    if rule.group_id:
        condition &= Q(group_id=rule.group_id)
    if rule.priority:
        condition &= Q(priority=rule.priority)
    if rule.category_id:
        # A top category takes in its sub-categories.
        ids = [
            rule.category_id,
            *Category.objects.filter(parent_id=rule.category_id).values_list("pk", flat=True),
        ]
        condition &= Q(category_id__in=ids)
    return condition


def _claim(rule: AutomationRule, ticket: Ticket, step: str, cycle_at: datetime, now) -> int | None:
    """Insert the step's run row; its id, or None when this step of this
    cycle was taken already (or is being taken: the insert waits for that
    transaction, and finds its row if it commits)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AutomationRun._meta.db_table}"
            " (tenant_id, rule_id, ticket_id, step, cycle_at, acted_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [current_tenant().pk, rule.pk, ticket.pk, step, cycle_at, now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _locked(ticket_id: int, still: Q) -> Ticket | None:
    """The ticket, locked, if it still matches `still` (someone may have
    answered, reopened or changed it since it was listed)."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("tenant", "requester")
        .filter(still, pk=ticket_id)
        .first()
    )


def _why(rule: AutomationRule, text: str) -> str:
    return f"“{rule.name}”: {text}"


def _act(rule: AutomationRule, ticket_id: int, still: Q, step: str, cycle_at, now, act) -> bool:
    """Take one step on one ticket in a savepoint: lock and check it, claim
    the step, act. False when the ticket moved on, the step was taken, or
    the ticket refused the change (logged; tried again next run)."""
    try:
        with transaction.atomic():
            ticket = _locked(ticket_id, still)
            if ticket is None:
                return False
            run_id = _claim(rule, ticket, step, cycle_at, now)
            if run_id is None:
                return False
            act(ticket, run_id)
            return True
    except (ValidationError, services.TicketConflict) as exc:
        logger.warning("automation %s left ticket %s: %s", rule.pk, ticket_id, exc)
        return False


# -------------------------------------------------------------- the rules


def close_resolved_candidates(rule: AutomationRule, now) -> QuerySet:
    """Resolved tickets past the wait (index ticket_resolved_at_idx)."""
    cutoff = now - timedelta(days=rule.wait)
    return (
        Ticket.objects.filter(status=Ticket.Status.RESOLVED, resolved_at__lte=cutoff)
        .filter(_conditions(rule))
        .order_by("resolved_at")
    )


def _close_resolved(rule: AutomationRule, now, report: RunReport) -> None:
    cutoff = now - timedelta(days=rule.wait)
    rows = list(close_resolved_candidates(rule, now).values_list("pk", "resolved_at")[:BATCH])
    report.more_waiting |= len(rows) == BATCH

    def close(ticket: Ticket, run_id: int) -> None:
        days = "day" if rule.wait == 1 else "days"
        services.ticket_system_update(
            ticket=ticket,
            source=SOURCE,
            reason=_why(rule, f"resolved more than {rule.wait} {days} ago"),
            status=Ticket.Status.CLOSED,
        )

    for pk, resolved_at in rows:
        still = Q(status=Ticket.Status.RESOLVED, resolved_at=resolved_at, resolved_at__lte=cutoff)
        if _act(rule, pk, still & _conditions(rule), Step.CLOSE, resolved_at, now, close):
            report.count(Step.CLOSE)


def pending_candidates(rule: AutomationRule, now) -> QuerySet:
    """Pending tickets untouched for the wait that were not reminded in
    this cycle less than `then_wait` days ago (index ticket_pending_idle_idx),
    each with when it was reminded in this cycle, if it was."""
    reminded = AutomationRun.objects.filter(
        rule=rule, ticket=OuterRef("pk"), step=Step.REMIND_CUSTOMER, cycle_at=OuterRef("updated_at")
    )
    solve_cutoff = now - timedelta(days=rule.then_wait or 0)
    return (
        Ticket.objects.filter(
            status=Ticket.Status.PENDING, updated_at__lte=now - timedelta(days=rule.wait)
        )
        .filter(_conditions(rule))
        .exclude(Exists(reminded.filter(acted_at__gt=solve_cutoff)))
        .annotate(reminded_at=Subquery(reminded.values("acted_at")[:1]))
        .order_by("updated_at")
    )


def _pending_reminder(rule: AutomationRule, now, report: RunReport) -> None:
    rows = list(
        pending_candidates(rule, now).values_list("pk", "updated_at", "reminded_at")[:BATCH]
    )
    report.more_waiting |= len(rows) == BATCH
    then_days = "day" if rule.then_wait == 1 else "days"

    def remind(ticket: Ticket, run_id: int) -> None:
        services.ticket_system_reply(
            ticket=ticket,
            source=SOURCE,
            reason=_why(rule, f"no answer for {rule.wait} days; reminded the customer"),
            body=reminder_text(rule, ticket),
        )

    def resolve(ticket: Ticket, run_id: int) -> None:
        services.ticket_system_update(
            ticket=ticket,
            source=SOURCE,
            reason=_why(rule, f"no answer {rule.then_wait} {then_days} after the reminder"),
            status=Ticket.Status.RESOLVED,
        )

    for pk, updated_at, reminded_at in rows:
        # Nothing happened since it was listed: same status, same last change.
        still = Q(status=Ticket.Status.PENDING, updated_at=updated_at) & _conditions(rule)
        if reminded_at is None:
            step, act = Step.REMIND_CUSTOMER, remind
        else:
            step, act = Step.RESOLVE, resolve
        if _act(rule, pk, still, step, updated_at, now, act):
            report.count(step)


def idle_assignee_candidates(rule: AutomationRule, now) -> QuerySet:
    """New or open assigned tickets untouched for the wait whose assignee
    was not reminded in this cycle (index ticket_assigned_idle_idx)."""
    reminded = AutomationRun.objects.filter(
        rule=rule, ticket=OuterRef("pk"), step=Step.REMIND_ASSIGNEE, cycle_at=OuterRef("updated_at")
    )
    return (
        Ticket.objects.filter(
            status__in=(Ticket.Status.NEW, Ticket.Status.OPEN),
            assignee__isnull=False,
            updated_at__lte=now - timedelta(hours=rule.wait),
        )
        .filter(_conditions(rule))
        .exclude(Exists(reminded))
        .order_by("updated_at")
    )


def _idle_assignee(rule: AutomationRule, now, report: RunReport) -> None:
    rows = list(idle_assignee_candidates(rule, now).values_list("pk", "updated_at")[:BATCH])
    report.more_waiting |= len(rows) == BATCH
    hours = "hour" if rule.wait == 1 else "hours"

    def remind(ticket: Ticket, run_id: int) -> None:
        text = f"{ticket.reference} has had no activity for {rule.wait} {hours}: {ticket.subject}"
        notification_create(
            user_id=ticket.assignee_id,
            text=text,
            url=reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number]),
            source_key=f"automation:{run_id}",
        )
        assignee = ticket.assignee
        event_record(
            ticket=ticket,
            kind=ASSIGNEE_REMINDED,
            actor_system=SOURCE,
            reason=_why(rule, f"no activity for {rule.wait} {hours}"),
            is_public=False,
            new_value={
                "value": assignee.pk,
                "label": assignee.get_full_name() or assignee.username,
            },
            created_at=now,
        )

    for pk, updated_at in rows:
        still = (
            Q(status__in=(Ticket.Status.NEW, Ticket.Status.OPEN), assignee__isnull=False)
            & Q(updated_at=updated_at)
            & _conditions(rule)
        )
        if _act(rule, pk, still, Step.REMIND_ASSIGNEE, updated_at, now, remind):
            report.count(Step.REMIND_ASSIGNEE)


RUNNERS = {
    Kind.CLOSE_RESOLVED: _close_resolved,
    Kind.PENDING_REMINDER: _pending_reminder,
    Kind.IDLE_ASSIGNEE: _idle_assignee,
}


def automations_run(*, now: datetime | None = None, rules=None) -> RunReport:
    """Run the current tenant's enabled rules (or `rules`) once, at `now`."""
    now = now or timezone.now()
    report = RunReport()
    if rules is None:
        rules = AutomationRule.objects.filter(enabled=True).order_by("pk")
    for rule in rules:
        RUNNERS[AutomationRule.Kind(rule.kind)](rule, now, report)
    return report
