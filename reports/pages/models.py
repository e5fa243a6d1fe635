"""Facts the report pages read, beside the dashboard's `TicketFact`.

Kept per ticket by `reports.pages.handlers` from its events (and rebuilt by
`rebuild_report_facts`): a ticket's status and group spells, its public
replies, its tags; their daily rollups (`DailySpell`, `DailyReply`, kept in
the same transaction, so a period's page reads days, not tickets); and a
daily snapshot of each agent's load written by a beat task. Loaded from
`ReportsConfig.ready()`; migrations in `reports`.
"""

from django.db import models

from helpdesk.models import TenantOwned


class TicketSpell(TenantOwned):
    """A stretch of time a ticket spent in one status or one group. The
    current spell has no end yet."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status"
        GROUP = "group", "Group"

    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=6, choices=Kind.choices)
    # Its place among the ticket's spells of this kind, from 0.
    seq = models.PositiveIntegerField()
    # A status, or a group's id as text ("" for no group).
    value = models.CharField(max_length=20)
    # What it came from (None for the first spell).
    previous = models.CharField(max_length=20, null=True)
    # A group spell that took the ticket from one group to another.
    handoff = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True)
    seconds = models.PositiveIntegerField(null=True)
    # The current spell of a ticket that is still open (refolded whenever
    # the ticket's status changes): the stays "there now" that count.
    ticket_open = models.BooleanField(default=False)

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket", "kind", "seq"], name="ticketspell_one_per_place"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "ended_at"],
                name="ticketspell_ended_idx",
                condition=models.Q(ended_at__isnull=False),
            ),
            # "There now" (count and age) read from the index alone.
            models.Index(
                fields=["tenant", "kind", "value"],
                name="ticketspell_current_idx",
                condition=models.Q(ended_at__isnull=True, ticket_open=True),
                include=["started_at"],
            ),
            models.Index(
                fields=["tenant", "started_at"],
                name="ticketspell_handoff_idx",
                condition=models.Q(handoff=True),
            ),
        ]


class ReplyFact(TenantOwned):
    """One public reply: who sent it, when, and the ticket's group then."""

    event_id = models.BigIntegerField()
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    user_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_id"], name="replyfact_one_per_event")
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="replyfact_period_idx"),
            models.Index(fields=["tenant", "ticket"], name="replyfact_ticket_idx"),
        ]


class TicketTagFact(TenantOwned):
    """One of a ticket's tags (as the ticket has them now), dated by the
    ticket's creation: what root causes count per period."""

    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    tag = models.CharField(max_length=40)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ticket", "tag"], name="tickettagfact_once")
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="tickettagfact_period_idx")]


class LoadSnapshot(TenantOwned):
    """An agent's open tickets and weighted load against capacity on one
    day (the help desk's time zone), as last seen that day."""

    day = models.DateField()
    user_id = models.BigIntegerField()
    open_tickets = models.PositiveIntegerField()
    load = models.DecimalField(max_digits=8, decimal_places=2)
    capacity = models.PositiveSmallIntegerField()
    taken_at = models.DateTimeField()

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "user_id"], name="loadsnapshot_one_per_day"
            )
        ]


class TicketPageKey(TenantOwned):
    """What a ticket's spells and replies are counted under in the daily
    rollups: its group, channel, category and agent when its page facts
    were last folded or keyed. A refold (or a new agent or category) takes
    the old rows' share out under this key and puts the new rows' in under
    the ticket's current one."""

    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket"], name="ticketpagekey_one_per_ticket"
            )
        ]


class DailySpell(TenantOwned):
    """The spells of one status or group that ended on one day (the help
    desk's time zone), per the ticket's group, channel, category and agent now
    (`TicketPageKey`) and per duration bucket (`reports.facts.duration_bucket`):
    how many, and their seconds in all. Where tickets stall reads a period's
    days of it. A row may fall to 0 and stay."""

    day = models.DateField()
    kind = models.CharField(max_length=6, choices=TicketSpell.Kind.choices)
    value = models.CharField(max_length=20)
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    bucket = models.PositiveSmallIntegerField()
    spells = models.IntegerField(default=0)
    seconds = models.BigIntegerField(default=0)

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "kind",
                    "value",
                    "group_id",
                    "channel",
                    "category_id",
                    "assignee_id",
                    "bucket",
                ],
                name="dailyspell_one_row",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "day"],
                name="dailyspell_day_idx",
                include=[
                    "kind",
                    "value",
                    "group_id",
                    "channel",
                    "category_id",
                    "assignee_id",
                    "bucket",
                    "spells",
                    "seconds",
                ],
            )
        ]


class DailyReply(TenantOwned):
    """Public replies sent on one day (the help desk's time zone) by one
    sender in one group (the ticket's group then), per the ticket's channel
    and category now (`TicketPageKey`). A row may fall to 0."""

    day = models.DateField()
    user_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.BigIntegerField(null=True)
    replies = models.IntegerField(default=0)

    class Meta:
        app_label = "reports"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "user_id", "group_id", "channel", "category_id"],
                name="dailyreply_one_row",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "day"],
                name="dailyreply_day_idx",
                include=["user_id", "group_id", "channel", "category_id", "replies"],
            )
        ]
