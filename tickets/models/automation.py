"""Time-based automations: a tenant's rules, and the record of each step a
rule took on a ticket (which is also what keeps it from acting twice)."""

from django.db import models

from helpdesk.models import SupportGroup, TenantOwned

from .ticket import Category, Ticket


class AutomationRule(TenantOwned):
    """One rule of a kind, with its waits and the tickets it applies to."""

    class Kind(models.TextChoices):
        CLOSE_RESOLVED = "close_resolved", "Close resolved tickets"
        PENDING_REMINDER = "pending_reminder", "Remind the customer, then resolve"
        IDLE_ASSIGNEE = "idle_assignee", "Remind the assignee of an idle ticket"

    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    # Days for the first two kinds, hours for the idle reminder (`wait_unit`).
    wait = models.PositiveIntegerField()
    # Pending reminder only: days after the reminder before the ticket is resolved.
    then_wait = models.PositiveIntegerField(null=True, blank=True)
    # Conditions: a ticket matches when each one set is equal.
    group = models.ForeignKey(
        SupportGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    priority = models.PositiveSmallIntegerField(
        choices=Ticket.Priority.choices, null=True, blank=True
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    # Pending reminder only: the mail the customer gets.
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="automationrule_unique_name")
        ]
        indexes = [models.Index(fields=["tenant", "enabled"], name="automationrule_enabled_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def wait_unit(self) -> str:
        return "hours" if self.kind == self.Kind.IDLE_ASSIGNEE else "days"


class AutomationRun(TenantOwned):
    """A step a rule took on a ticket in one cycle (the ticket's resolution,
    or its last change). Inserted ON CONFLICT DO NOTHING before the rule acts,
    in the same transaction: a second run of the same step finds the row and
    does nothing, a concurrent one waits for it."""

    class Step(models.TextChoices):
        CLOSE = "close", "Closed"
        REMIND_CUSTOMER = "remind_customer", "Reminded the customer"
        RESOLVE = "resolve", "Resolved"
        REMIND_ASSIGNEE = "remind_assignee", "Reminded the assignee"

    rule = models.ForeignKey(
        AutomationRule, on_delete=models.CASCADE, related_name="runs", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    step = models.CharField(max_length=20, choices=Step.choices)
    # What starts a cycle: when the ticket was resolved, or last changed.
    cycle_at = models.DateTimeField()
    acted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "rule", "ticket", "step", "cycle_at"],
                name="automationrun_once",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "ticket"], name="automationrun_ticket_idx"),
        ]
