"""Who handles a ticket: routing rules, each group's dispatch settings,
agents' availability and capacity, and the record of every decision."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from helpdesk.models import SupportGroup, TenantOwned
from tickets.models import Event, Ticket


class RoutingRule(TenantOwned):
    """One ordered rule: when its conditions hold, its actions apply.

    `conditions` is a list of {"field", "value", "negate"} (see
    `dispatch.rules.CONDITION_FIELDS`); `actions` a dict of what to set
    (`dispatch.rules.ACTION_FIELDS`). Both are checked by
    `dispatch.rules.rule_validate` before they are saved."""

    class Match(models.TextChoices):
        ALL = "all", "All conditions"
        ANY = "any", "Any condition"

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)
    is_enabled = models.BooleanField(default=True)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=list)
    actions = models.JSONField(default=dict)
    # Stop here: later rules are not looked at once this one matched.
    stop = models.BooleanField(default=False)
    match_count = models.PositiveBigIntegerField(default=0)
    last_matched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "position"], name="routingrule_order_idx")]

    def __str__(self) -> str:
        return self.name


class GroupDispatch(TenantOwned):
    """A group's dispatch settings (one row per group, made when first saved;
    a group without one is fully automatic, least loaded)."""

    class Mode(models.TextChoices):
        AUTOMATIC = "automatic", "Fully automatic"
        SEMI_AUTOMATIC = "semi", "Semi-automatic (a dispatcher confirms)"
        CLAIM = "claim", "Claim (members take tickets, or the leader assigns)"

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin"
        LEAST_LOADED = "least_loaded", "Least loaded"
        SKILL = "skill", "Best skill match"

    group = models.ForeignKey(
        SupportGroup, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AUTOMATIC)
    strategy = models.CharField(
        max_length=15, choices=Strategy.choices, default=Strategy.LEAST_LOADED
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where tickets go when nobody here has room (tried once, not chained).
    overflow_group = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # The next tier: where an agent's "Escalate" sends a ticket.
    escalation_group = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # Skills every assignee of this group's tickets needs ({"language:de": 1}).
    required_skills = models.JSONField(default=dict, blank=True)
    # Optional acceptance: an automatic assignee accepts within this many
    # minutes, or the ticket goes to the next candidate (None: off).
    accept_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    # A breached SLA target moves the ticket to the next tier by itself.
    escalate_on_breach = models.BooleanField(default=False)
    # Minutes nobody here has room before a ticket is offered to the overflow
    # group's members (0: at once).
    overflow_after_minutes = models.PositiveIntegerField(default=0)
    # Minutes a ticket waits for a member with the required skills before any
    # member may take it (empty: it waits for one).
    skill_fallback_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "group"], name="groupdispatch_one_per_group")
        ]


class AgentStatus(TenantOwned):
    """An agent's availability, capacity and skills.

    Routing reads these rows and the agents' loads without locks, then
    claims the winner's row with one conditional UPDATE that bumps
    `routing_version`: the claim only succeeds if no other router gave them
    a ticket since the read, so two workers never push an agent past capacity."""

    class Availability(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    availability = models.CharField(
        max_length=8, choices=Availability.choices, default=Availability.OFFLINE
    )
    capacity = models.PositiveSmallIntegerField(default=10)
    # {"language:de": 3, "product:billing": 2}: tenant-chosen names, level 1-5.
    skills = models.JSONField(default=dict, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    # The agent's last page or action here (written at most once a minute).
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Set away by the idle sweep, not by the agent: activity brings them back.
    idle_away = models.BooleanField(default=False)
    # Bumped by every routing assignment, in its transaction (see the docstring).
    routing_version = models.PositiveBigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="agentstatus_one_per_agent")
        ]


class DispatchSettings(TenantOwned):
    """A tenant's load weights and business hours (one row, made on first save)."""

    # Weight of a ticket by priority value ("4": urgent ...), as strings for JSON.
    priority_weights = models.JSONField(default=dict, blank=True)
    # Pending and on-hold tickets count at this fraction of their weight.
    waiting_fraction = models.DecimalField(max_digits=3, decimal_places=2, default=0)
    # Business hours until SLA calendars exist: ISO weekdays 1-7, from-to local time.
    business_days = models.JSONField(default=list, blank=True)
    business_start = models.TimeField(null=True, blank=True)
    business_end = models.TimeField(null=True, blank=True)
    # A ticket's weight by channel, over the priority row: {"email": {"4": 3}}
    # (a plain number for a channel multiplies every priority: {"phone": 2}).
    channel_weights = models.JSONField(default=dict, blank=True)
    # Online agents with no activity for this many minutes become away (None: never).
    away_after_minutes = models.PositiveSmallIntegerField(null=True, blank=True, default=15)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="dispatchsettings_one_per_tenant")
        ]


class RoutingDecision(TenantOwned):
    """Why a ticket went where it went (or nowhere): "Why this agent"."""

    class Trigger(models.TextChoices):
        CREATED = "created", "Ticket created"
        FOLLOW_UP = "follow_up", "Follow-up opened"
        REROUTE = "reroute", "Re-route requested"
        ROOM = "room", "Room freed up"
        SWEEP = "sweep", "Waiting-ticket sweep"
        ESCALATION = "escalation", "Escalated"
        REVIEW = "review", "Dispatcher review"
        GET_NEXT = "get_next", "Get next"
        DECLINED = "declined", "Declined by the assignee"
        TIMED_OUT = "timed_out", "Not accepted in time"
        LEADER = "leader", "Group leader assigned"

    class Outcome(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        WAITING = "waiting", "Waiting for room"
        REVIEW = "review", "Waiting for a dispatcher"
        CLAIM = "claim", "Left for the group to claim"
        NO_GROUP = "no_group", "No group"
        KEPT = "kept", "Already assigned by hand"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    group = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # [{"rule_id", "name", "actions"}] in the order they matched.
    rules = models.JSONField(default=list, blank=True)
    # [{"user_id", "name", "availability", "load", "capacity", "score", "filtered"}]
    candidates = models.JSONField(default=list, blank=True)
    strategy = models.CharField(max_length=15, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    explanation = models.CharField(max_length=500)
    # The assignment's timeline event, when one was made.
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    # Semi-automatic: the recommendation waits for a dispatcher until reviewed.
    needs_review = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ticket", "-created_at"], name="decision_ticket_idx"),
            models.Index(
                fields=["tenant", "created_at"],
                name="decision_review_idx",
                condition=Q(needs_review=True),
            ),
        ]


class Acceptance(TenantOwned):
    """An automatic assignment in a group that asks for acceptance: the
    assignee accepts, declines (with a reason) or lets the time run out;
    the last two send the ticket to the next candidate. Past rows say who
    declined a ticket, so routing passes them over."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for acceptance"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        TIMED_OUT = "timed_out", "Not accepted in time"
        CANCELLED = "cancelled", "No longer needed (assigned otherwise)"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(
        SupportGroup, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    # The assignment's event: one acceptance per assignment, however often
    # its handler runs.
    assigned_event_id = models.BigIntegerField()
    due_at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "assigned_event_id"], name="acceptance_one_per_assignment"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "ticket", "state"], name="acceptance_ticket_idx"),
            models.Index(
                fields=["tenant", "due_at"],
                name="acceptance_due_idx",
                condition=Q(state="waiting"),
            ),
        ]

    @property
    def is_waiting(self) -> bool:
        return self.state == self.State.WAITING


class BreachEscalation(TenantOwned):
    """One SLA breach that moved a ticket to the next tier: the unique key
    makes the move happen once per breach, however often its handler runs."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    target = models.CharField(max_length=20)
    cycle = models.PositiveIntegerField(default=0)
    from_group = models.ForeignKey(
        SupportGroup, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    to_group = models.ForeignKey(
        SupportGroup, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket", "target", "cycle"], name="breachescalation_once"
            ),
        ]
