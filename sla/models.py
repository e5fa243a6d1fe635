"""SLA rows: calendars, policies with their targets, each ticket's targets
and the alerts sent about them."""

from __future__ import annotations

import math
from datetime import time

from django.contrib.postgres.fields import ArrayField
from django.db import models

from helpdesk.models import SupportGroup, TenantOwned, validate_time_zone
from tickets.models import Ticket

from .clock import ALWAYS_OPEN, CalendarSpec, Closure

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_PAUSE_STATUSES = [Ticket.Status.PENDING.value, Ticket.Status.ON_HOLD.value]


def default_pause_statuses() -> list[str]:
    return list(DEFAULT_PAUSE_STATUSES)


def _minutes(value: str | time) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Calendar(TenantOwned):
    """When the clock runs: weekly windows in a time zone, less holidays
    and closures. A 24/7 calendar runs always."""

    name = models.CharField(max_length=80)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    always_open = models.BooleanField(default=False)
    # {"0": [["09:00", "12:00"], ["13:00", "17:00"]], ...}: Monday is "0";
    # an end not after its start crosses midnight. Checked by the form.
    hours = models.JSONField(default=dict, blank=True)
    holiday_country = models.CharField(max_length=3, blank=True)
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="sla_calendar_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def windows(self) -> list[tuple[int, int, int]]:
        return [
            (int(day), _minutes(start), _minutes(end))
            for day, pairs in sorted(self.hours.items())
            for start, end in pairs
        ]

    def spec(self, closures=None) -> CalendarSpec:
        """The calendar as the clock's plain values; `closures` are this
        calendar's CalendarClosure rows (read with it by the caller)."""
        if self.always_open:
            return ALWAYS_OPEN
        rows = closures if closures is not None else list(self.closures.all())
        return CalendarSpec(
            time_zone=self.time_zone,
            windows=tuple(self.windows()),
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
            closures=tuple(
                Closure(
                    row.first_date,
                    row.last_date,
                    _minutes(row.start_time) if row.start_time else None,
                    (_minutes(row.end_time) or 1440) if row.end_time else None,
                )
                for row in sorted(rows, key=lambda r: (r.first_date, r.pk or 0))
            ),
        )


class CalendarClosure(TenantOwned):
    """The tenant's own holiday or closure: a date or a range, the whole
    day or part of it (each date of the range, local time)."""

    calendar = models.ForeignKey(
        Calendar,
        on_delete=models.CASCADE,
        related_name="closures",
        db_constraint=False,
        db_index=False,
    )
    name = models.CharField(max_length=80)
    first_date = models.DateField()
    last_date = models.DateField()
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["first_date", "id"]
        indexes = [
            models.Index(fields=["tenant", "calendar", "first_date"], name="sla_closure_cal_idx")
        ]


class Policy(TenantOwned):
    """Promises for the tickets it matches: the first active policy in
    `position` order whose every given condition holds (an empty condition
    holds for all)."""

    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    # Conditions. Rows are named by id (a deleted group or category then
    # simply matches nothing; the settings page says so).
    priorities = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    organization_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    category_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    group_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    channels = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    types = ArrayField(models.CharField(max_length=12), default=list, blank=True)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    calendar = models.ForeignKey(
        Calendar, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    pause_statuses = ArrayField(
        models.CharField(max_length=12), default=default_pause_statuses, blank=True
    )
    at_risk_percent = models.PositiveSmallIntegerField(default=80)
    # Escalation when a target is breached.
    escalate_priority = models.BooleanField(default=False)
    escalate_group = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    notify_user_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # Remind the assignee after this many hours without activity (None: never).
    remind_after_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "policies"
        indexes = [models.Index(fields=["tenant", "position"], name="sla_policy_order_idx")]

    def __str__(self) -> str:
        return self.name

    def matches(self, ticket: Ticket, organization_id: int | None) -> bool:
        return (
            (not self.priorities or ticket.priority in self.priorities)
            and (not self.organization_ids or organization_id in self.organization_ids)
            and (not self.category_ids or ticket.category_id in self.category_ids)
            and (not self.group_ids or ticket.group_id in self.group_ids)
            and (not self.channels or ticket.channel in self.channels)
            and (not self.types or ticket.type in self.types)
            and (not self.tags or bool(set(self.tags) & set(ticket.tags or ())))
        )


class TargetKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class PolicyTarget(TenantOwned):
    """How long one kind of target may take for one priority."""

    policy = models.ForeignKey(
        Policy,
        on_delete=models.CASCADE,
        related_name="targets",
        db_constraint=False,
        db_index=False,
    )
    priority = models.PositiveSmallIntegerField(choices=Ticket.Priority.choices)
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    seconds = models.PositiveIntegerField()
    # Business hours of the policy's calendar, or plain elapsed time.
    business = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "policy", "priority", "kind"], name="sla_policytarget_unique"
            ),
            models.CheckConstraint(condition=models.Q(seconds__gt=0), name="sla_target_positive"),
        ]


class TicketTarget(TenantOwned):
    """One promise on one ticket, as last computed: when it is due, when it
    was met or breached, and how much of it is used."""

    class State(models.TextChoices):
        ON_TRACK = "on_track", "On track"
        AT_RISK = "at_risk", "At risk"
        BREACHED = "breached", "Breached"
        MET = "met", "Met"
        PAUSED = "paused", "Paused"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    policy = models.ForeignKey(
        Policy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    # Next response restarts with each customer message after a reply.
    cycle = models.PositiveIntegerField(default=1)
    target_seconds = models.PositiveIntegerField()
    business = models.BooleanField(default=True)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    seconds_used = models.PositiveIntegerField(default=0)
    paused_seconds = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices)
    # The last alert the sweep sent for this cycle: "", "at_risk", "breached".
    alerted = models.CharField(max_length=10, blank=True, default="")
    # When the sweep next looks at this row (at risk, then due); NULL: never.
    next_check_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket", "kind"], name="sla_tickettarget_one_per_kind"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "next_check_at"],
                name="sla_target_check_idx",
                condition=models.Q(next_check_at__isnull=False),
            ),
            # The queues' SLA filter: tickets with a running target in a state.
            models.Index(
                fields=["tenant", "state", "ticket"],
                name="sla_target_state_idx",
                condition=models.Q(met_at__isnull=True),
            ),
        ]

    @property
    def used_share(self) -> int:
        return min(999, math.floor(100 * self.seconds_used / self.target_seconds))


class Alert(TenantOwned):
    """An at-risk or breach alert that was acted on: at most one per ticket,
    target, cycle and level, whoever runs the sweep and however often."""

    class Level(models.TextChoices):
        AT_RISK = "at_risk", "At risk"
        BREACHED = "breached", "Breached"
        REMINDER = "reminder", "Reminder"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    # A target's kind, or NO_ACTIVITY for a reminder.
    kind = models.CharField(
        max_length=16, choices=[*TargetKind.choices, ("no_activity", "No activity")]
    )
    cycle = models.PositiveIntegerField()
    level = models.CharField(max_length=10, choices=Level.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket", "kind", "cycle", "level"], name="sla_alert_once"
            )
        ]


class Reminder(TenantOwned):
    """The no-activity reminder of an open ticket whose policy asks for one.
    A cycle is one quiet spell, counted from `activity_at` (the ticket's
    last change then); its reminder is sent at most once (an `Alert`)."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    cycle = models.PositiveIntegerField(default=1)
    activity_at = models.DateTimeField()
    after_seconds = models.PositiveIntegerField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    # When the sweep next looks (NULL: not while the ticket waits).
    remind_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ticket"], name="sla_reminder_one_per_ticket")
        ]
        indexes = [
            models.Index(
                fields=["tenant", "remind_at"],
                name="sla_reminder_due_idx",
                condition=models.Q(remind_at__isnull=False),
            )
        ]


class Reapply(TenantOwned):
    """A background run that recomputes every open ticket after a calendar
    or policy edit, with its progress for the settings page."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-started_at"], name="sla_reapply_recent_idx")]
