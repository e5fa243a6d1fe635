"""Facts that reports read, kept as tickets change (DESIGN.md, "Scale").

Pages never add up tickets, messages and events at request time: a handler
of every ticket event folds the ticket's new events into its `TicketFact`
row and recounts the `DailyVolume` rows of the days that row touched. The
`rebuild_report_facts` command folds every ticket's events from scratch and
arrives at the same rows.
"""

from django.db import models

from helpdesk.models import TenantOwned


class TicketFact(TenantOwned):
    """One ticket's measures, folded from its events. The dimensions
    (status, group, assignee ...) are the ticket's current ones."""

    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # The last event folded in (events of one ticket are written under the
    # ticket's lock, so their ids grow in the order they commit).
    last_event_id = models.BigIntegerField(default=0)

    # Dimensions, as the ticket is now.
    status = models.CharField(max_length=12)
    priority = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=10)
    category_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    organization_id = models.BigIntegerField(null=True)

    # Measures, from the events.
    created_at = models.DateTimeField()
    created_day = models.DateField()  # in the help desk's time zone
    first_reply_at = models.DateTimeField(null=True)
    first_reply_seconds = models.PositiveIntegerField(null=True)
    first_assigned_at = models.DateTimeField(null=True)
    # Whether the first assignment was made by a system (routing), not a person.
    assigned_by_system = models.BooleanField(default=False)
    first_resolved_at = models.DateTimeField(null=True)
    # The latest resolution still standing; cleared when the ticket reopens.
    resolved_at = models.DateTimeField(null=True)
    resolved_day = models.DateField(null=True)
    resolution_seconds = models.PositiveIntegerField(null=True)
    reopens = models.PositiveIntegerField(default=0)
    public_replies = models.PositiveIntegerField(default=0)
    # Moves from one group to another (not the first choice of a group).
    group_moves = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ticket"], name="ticketfact_one_per_ticket")
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="ticketfact_created_idx"),
            models.Index(
                fields=["tenant", "resolved_at"],
                name="ticketfact_resolved_idx",
                condition=models.Q(resolved_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "first_reply_at"],
                name="ticketfact_replied_idx",
                condition=models.Q(first_reply_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "status", "created_at"],
                name="ticketfact_open_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
        ]


class DailyVolume(TenantOwned):
    """Tickets created and solved on one day (the help desk's time zone),
    per group, channel, priority and category: the trends' source. Recounted
    from `TicketFact` for every day a fact moved in or out of."""

    day = models.DateField()
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    priority = models.PositiveSmallIntegerField()
    category_id = models.BigIntegerField(null=True)
    created = models.PositiveIntegerField(default=0)
    solved = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["tenant", "day"], name="dailyvolume_day_idx")]
