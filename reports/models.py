"""Facts that reports read, kept as tickets change (DESIGN.md, "Scale").

Pages never add up tickets, messages and events at request time: a handler
of every ticket event folds the ticket's new events (and the SLA app's
targets of the ticket) into its `TicketFact` row, and adds what the row's
change adds or takes away to the daily rollups (`DailyVolume`,
`DailyDuration`). The `rebuild_report_facts` command folds every ticket's
events from scratch and arrives at the same rows.
"""

from django.conf import settings
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
    first_reply_day = models.DateField(null=True)

    # From the SLA app's targets of the ticket: business seconds used until
    # the target was met, when the policy counts business time (pauses left
    # out), and each target's outcome ("met", "breached", or "" while open)
    # with the moment it was decided (breached: when it fell due).
    first_reply_business_seconds = models.PositiveIntegerField(null=True)
    resolution_business_seconds = models.PositiveIntegerField(null=True)
    sla_first_response = models.CharField(max_length=8, blank=True, default="")
    sla_first_response_at = models.DateTimeField(null=True)
    sla_first_response_day = models.DateField(null=True)
    sla_resolution = models.CharField(max_length=8, blank=True, default="")
    sla_resolution_at = models.DateTimeField(null=True)
    sla_resolution_day = models.DateField(null=True)

    # The customer's latest rating (from the portal's "rated" events).
    rating_scale = models.CharField(max_length=10, blank=True, default="")
    rating_score = models.PositiveSmallIntegerField(null=True)
    rating_good = models.BooleanField(null=True)
    rated_at = models.DateTimeField(null=True)
    rated_day = models.DateField(null=True)

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
                fields=["tenant", "sla_first_response_at"],
                name="ticketfact_sla_fr_idx",
                condition=models.Q(sla_first_response_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "sla_resolution_at"],
                name="ticketfact_sla_res_idx",
                condition=models.Q(sla_resolution_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "rated_at"],
                name="ticketfact_rated_idx",
                condition=models.Q(rated_at__isnull=False),
            ),
            # The open backlog by status, age and assignee, read from the
            # index alone (with the filters' columns, so a filter does too).
            models.Index(
                fields=["tenant", "status", "created_at"],
                name="ticketfact_open_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
                include=[
                    "assignee_id",
                    "group_id",
                    "channel",
                    "priority",
                    "category_id",
                    "organization_id",
                ],
            ),
        ]


class DailyVolume(TenantOwned):
    """What happened on one day (the help desk's time zone), per group,
    channel, priority and category: the dashboard's and the trends' source.
    The handler adds what a fact's change adds or takes away (a row may fall
    to 0 and stay); the rebuild counts them from `TicketFact`.
    Each count is taken on the day of its own moment: created, assigned and
    routed on the creation day; solved and reopened on the day of the
    resolution that stands; SLA outcomes on the day they were decided;
    ratings on the day of the latest rating."""

    day = models.DateField()
    # Which slice of the day the row is in (reports.rollup.SLICES): "" by
    # group, channel, priority and category together; "assignee" by agent;
    # "organization" by organisation. A fact counts once in each.
    slice = models.CharField(max_length=12, default="", blank=True)
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    priority = models.PositiveSmallIntegerField()
    category_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    organization_id = models.BigIntegerField(null=True)
    created = models.PositiveIntegerField(default=0)
    solved = models.PositiveIntegerField(default=0)
    assigned = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    first_replies = models.PositiveIntegerField(default=0)
    sla_first_response_met = models.PositiveIntegerField(default=0)
    sla_first_response_breached = models.PositiveIntegerField(default=0)
    sla_resolution_met = models.PositiveIntegerField(default=0)
    sla_resolution_breached = models.PositiveIntegerField(default=0)
    ratings = models.PositiveIntegerField(default=0)
    ratings_good = models.PositiveIntegerField(default=0)
    # Ratings given on the 1-to-5 scale and the sum of their scores.
    ratings_five = models.PositiveIntegerField(default=0)
    score_five_sum = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["tenant", "day"], name="dailyvolume_day_idx")]
        # One row per day and dimensions (no group is a value too): the
        # handler adds to it in place.
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "slice",
                    "group_id",
                    "channel",
                    "priority",
                    "category_id",
                    "assignee_id",
                    "organization_id",
                ],
                name="dailyvolume_one_row",
                nulls_distinct=False,
            )
        ]


class DailyDuration(TenantOwned):
    """How many first replies and resolutions of one day (per group,
    channel, priority and category) took a time within one bucket: the
    histograms medians and 90th percentiles are read from, so a period's
    percentiles add up days, not tickets (`facts.duration_bucket`). A row
    may fall to 0 and stay."""

    class Measure(models.TextChoices):
        FIRST_REPLY = "first_reply", "First reply"
        RESOLUTION = "resolution", "Resolution"
        FIRST_REPLY_BUSINESS = "first_reply_business", "First reply, business time"
        RESOLUTION_BUSINESS = "resolution_business", "Resolution, business time"
        ASSIGN_TO_REPLY = "assign_to_reply", "First assignment to first reply"

    day = models.DateField()
    slice = models.CharField(max_length=12, default="", blank=True)
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    priority = models.PositiveSmallIntegerField()
    category_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    organization_id = models.BigIntegerField(null=True)
    measure = models.CharField(max_length=24, choices=Measure.choices)
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "slice",
                    "group_id",
                    "channel",
                    "priority",
                    "category_id",
                    "assignee_id",
                    "organization_id",
                    "measure",
                    "bucket",
                ],
                name="dailyduration_one_row",
                nulls_distinct=False,
            )
        ]
        # The period's histograms read from the index alone.
        indexes = [
            models.Index(
                fields=["tenant", "day"],
                name="dailyduration_day_idx",
                include=[
                    "slice",
                    "group_id",
                    "channel",
                    "priority",
                    "category_id",
                    "assignee_id",
                    "organization_id",
                    "measure",
                    "bucket",
                    "count",
                ],
            )
        ]


class HourlyVolume(TenantOwned):
    """How many tickets came in on one day in one hour (the help desk's time
    zone), per group, channel and category, as the tickets are now: the
    channel mix and the busiest hours of the week read it. Kept with the
    daily rollups (`facts.contributions`); a row may fall to 0 and stay."""

    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    group_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.BigIntegerField(null=True)
    created = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "hour", "group_id", "channel", "category_id"],
                name="hourlyvolume_one_row",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "day"],
                name="hourlyvolume_day_idx",
                include=["hour", "group_id", "channel", "category_id", "created"],
            )
        ]


class WeeklySummarySent(TenantOwned):
    """That a member was mailed the summary of the week starting `week_start`
    (a Monday in the help desk's time zone). Inserted in the transaction
    that records the mail: a second sweep of the same week finds the row
    and mails nothing, so each member gets one summary a week."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "week_start"], name="weeklysummary_once_a_week"
            )
        ]
