"""Ticket events: the timeline, the audit log and the outbox."""

from django.conf import settings
from django.db import models

from helpdesk.models import TenantOwned

from .contact import Contact
from .ticket import Message, Ticket


class Event(TenantOwned):
    """One change to a ticket: its timeline, its audit log and its outbox."""

    # The tickets app's own kinds, for its own code. `kind` is not limited
    # to them: any kind registered in tickets.extensions.event_kinds may be
    # recorded (tickets.events refuses the others).
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        FIELD_CHANGED = "field_changed", "Field changed"
        STATUS_CHANGED = "status_changed", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        MESSAGE_ADDED = "message_added", "Message added"
        DELIVERY_FAILED = "delivery_failed", "Delivery failed"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="events", db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=40)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # The API key a change came through (the JSON API), for the audit trail.
    actor_api_key = models.ForeignKey(
        "helpdesk.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # The system that made a change (`ticket_system_update`: "sla",
    # "dispatch"), when no person did; `reason` says why, in its words.
    actor_system = models.CharField(max_length=40, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    field = models.CharField(max_length=40, blank=True)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    # Customers see public events in the portal; internal notes are not public.
    is_public = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    # Set once every subscribed handler has finished.
    processed_at = models.DateTimeField(null=True, blank=True)
    # Until then, when its handlers are next due: its creation, then the
    # earliest retry of a failed handler. The sweep takes events whose time
    # is a grace period past (their own task is late or lost). NULL while
    # unprocessed: every unfinished handler was abandoned (admins see it).
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ticket", "created_at"], name="event_ticket_idx"),
            models.Index(
                fields=["tenant", "next_attempt_at"],
                name="event_due_idx",
                condition=models.Q(processed_at__isnull=True, next_attempt_at__isnull=False),
            ),
        ]


class EventHandlerRun(TenantOwned):
    """A handler that finished for an event. Inserted first, as the claim
    on the run (`INSERT ... ON CONFLICT DO NOTHING`), in the savepoint that
    holds the handler's work, so it commits with that work or not at all: a
    second worker waits on the claim, then skips a finished handler."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="handler_runs",
        db_constraint=False,
        db_index=False,
    )
    handler = models.CharField(max_length=100)
    # When the run that finished began (the row is written as its claim).
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event", "handler"], name="eventhandlerrun_once"
            )
        ]


class EventHandlerFailure(TenantOwned):
    """The latest failure of a handler on an event, kept visible (admins'
    Failed work page) until the handler succeeds."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="handler_failures",
        db_constraint=False,
        db_index=False,
    )
    handler = models.CharField(max_length=100)
    # Failed attempts since it was last (re)started; reset by "Run again".
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField()
    failed_at = models.DateTimeField()
    # When it may run again (its backoff); NULL once abandoned.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set after the last attempt: nothing runs it again until a person does.
    abandoned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event", "handler"], name="eventhandlerfailure_once"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "failed_at"], name="eventhandlerfailure_recent_idx")
        ]

    @property
    def is_abandoned(self) -> bool:
        return self.abandoned_at is not None

    def is_due(self, now) -> bool:
        """May the handler run again at `now`?"""
        if self.abandoned_at is not None:
            return False
        return self.next_attempt_at is None or self.next_attempt_at <= now
