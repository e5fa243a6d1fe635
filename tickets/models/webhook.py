"""Outgoing webhooks: where a tenant's ticket events are posted, each post
recorded before it is sent (a delivery) and every try kept (its attempts)."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from helpdesk import secret_box
from helpdesk.models import TenantOwned

from .event import Event


class Webhook(TenantOwned):
    """A URL that receives the tenant's ticket events, signed with its secret."""

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        SLACK = "slack", "Slack-compatible"

    # What a receiver may ask for; tickets.webhooks.payloads maps events to these.
    class EventName(models.TextChoices):
        CREATED = "ticket.created", "New ticket"
        CUSTOMER_REPLIED = "ticket.customer_replied", "Customer replied"
        AGENT_REPLIED = "ticket.agent_replied", "Public reply by an agent"
        NOTE_ADDED = "ticket.note_added", "Internal note"
        STATUS_CHANGED = "ticket.status_changed", "Status changed"
        ASSIGNED = "ticket.assigned", "Assigned"
        UPDATED = "ticket.updated", "Other field changed (priority, group, category, tags…)"

    name = models.CharField(max_length=80)
    url = models.URLField(max_length=500)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    events = ArrayField(models.CharField(max_length=40), default=list)
    is_active = models.BooleanField(default=True)
    # Encrypted with helpdesk.secret_box: it signs every post, so it must be
    # readable, and admins may look at it again.
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="webhook_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return secret_box.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = secret_box.encrypt(value)

    def event_labels(self) -> list[str]:
        labels = dict(self.EventName.choices)
        return [labels.get(name, name) for name in self.events]


class WebhookDelivery(TenantOwned):
    """One event (or a test) to post to one webhook: written by the event's
    handler, then sent by a task until it is delivered or given up. The body
    is fixed when it is written, so every try sends the same bytes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Given up"

    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    # NULL for a test post.
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    # Sent as X-Helpdesk-Delivery, so a receiver can drop a repeat.
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event_name = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next try is due (pending only).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the delivery until then while it posts (outlasts its timeout).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One delivery per event and webhook, however often its handler runs.
            models.UniqueConstraint(
                fields=["tenant", "webhook", "event"], name="webhookdelivery_once"
            ),
        ]
        indexes = [
            # For the composite foreign key when an event (its ticket) is deleted.
            models.Index(fields=["tenant", "event"], name="webhookdelivery_event_idx"),
            # The tenant's sweep: deliveries whose try is overdue.
            models.Index(
                fields=["tenant", "next_attempt_at"],
                name="webhookdelivery_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]


class WebhookAttempt(TenantOwned):
    """One post of a delivery and what came of it: the delivery log."""

    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    # NULL when no answer came (refused, timed out, connection failed).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The log of one webhook, newest first, paged by id.
            models.Index(fields=["tenant", "webhook", "-id"], name="webhookattempt_log_idx"),
            models.Index(fields=["tenant", "delivery"], name="webhookattempt_delivery_idx"),
        ]
