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
    # Set once every subscribed handler has finished; the sweep looks for NULLs.
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ticket", "created_at"], name="event_ticket_idx"),
            models.Index(
                fields=["tenant", "created_at"],
                name="event_unprocessed_idx",
                condition=models.Q(processed_at__isnull=True),
            ),
        ]


class EventHandlerRun(TenantOwned):
    """A handler that finished for an event: written in the handler's own
    transaction, so a handler runs to completion at most once per event."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="handler_runs",
        db_constraint=False,
        db_index=False,
    )
    handler = models.CharField(max_length=100)
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event", "handler"], name="eventhandlerrun_once"
            )
        ]


class EventHandlerFailure(TenantOwned):
    """The latest failure of a handler on an event, kept visible until it succeeds."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="handler_failures",
        db_constraint=False,
        db_index=False,
    )
    handler = models.CharField(max_length=100)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField()
    failed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event", "handler"], name="eventhandlerfailure_once"
            )
        ]
