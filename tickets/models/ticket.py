"""The ticket record: tickets, their messages and files, numbering, categories."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Coalesce

from helpdesk.models import SupportGroup, TenantOwned

from ..validators import validate_mail_address
from .contact import Contact


class Category(TenantOwned):
    """Tenant-defined, two levels: a top category and its sub-categories."""

    name = models.CharField(max_length=80)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        db_constraint=False,
    )
    # Order among its siblings (lower first), set by the settings page.
    position = models.PositiveIntegerField(default=0)
    # Archived categories stay on the tickets that have them but leave the
    # choice lists.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["parent__name", "name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "parent", "name"],
                name="category_unique_name",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name


class TicketCounter(TenantOwned):
    """The last ticket number given out in a tenant; its row lock serialises numbering."""

    last_number = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="ticketcounter_one")]


OPEN_STATUS_VALUES = ("new", "open", "pending", "on_hold")
OPEN_Q = Q(status__in=OPEN_STATUS_VALUES)
# Waiting on the customer or a third party: nothing for an agent to do yet.
WAITING_STATUS_VALUES = ("pending", "on_hold")
# "Most urgent first": highest priority, tickets an agent can act on before
# those waiting on someone else, then the nearest due time, then the oldest.
URGENT_ORDER = (
    F("priority").desc(),
    F("waiting").asc(),
    Coalesce(F("due_at"), Cast(Value("infinity"), models.DateTimeField())).asc(),
    F("created_at").asc(),
    F("id").asc(),
)


class Ticket(TenantOwned):
    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        ON_HOLD = "on_hold", "On hold"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    # Where each status may go. Closed is final: a follow-up is a new ticket.
    TRANSITIONS = {
        Status.NEW: {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
        Status.OPEN: {Status.PENDING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
        Status.PENDING: {Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
        Status.ON_HOLD: {Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED},
        Status.RESOLVED: {Status.OPEN, Status.CLOSED},
        Status.CLOSED: set(),
    }
    OPEN_STATUSES = OPEN_STATUS_VALUES

    class Priority(models.IntegerChoices):
        LOW = 1, "Low"
        NORMAL = 2, "Normal"
        HIGH = 3, "High"
        URGENT = 4, "Urgent"

    class Type(models.TextChoices):
        QUESTION = "question", "Question"
        INCIDENT = "incident", "Incident"
        PROBLEM = "problem", "Problem"
        TASK = "task", "Task"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEB = "web", "Web form"
        PORTAL = "portal", "Portal"
        API = "api", "API"
        PHONE = "phone", "Phone"
        CHAT = "chat", "Chat"

    number = models.PositiveBigIntegerField()
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.QUESTION)
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    requester = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="tickets", db_constraint=False
    )
    cc_emails = ArrayField(
        models.CharField(max_length=254, validators=[validate_mail_address]),
        default=list,
        blank=True,
    )
    group = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    follow_up_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
        db_constraint=False,
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the next response or resolution is due; the SLA app keeps it current.
    due_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every change bumps it; an edit names the version it saw.
    version = models.PositiveIntegerField(default=1)
    # Stored, so that the queues' indexes can order by it (URGENT_ORDER).
    waiting = models.GeneratedField(
        expression=Q(status__in=WAITING_STATUS_VALUES),
        output_field=models.BooleanField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="ticket_unique_number"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "requester", "-created_at"], name="ticket_requester_idx"
            ),
            # A signed-in customer's tickets in the portal, a page at a time
            # by number (tickets.portal.selectors.contact_tickets).
            models.Index(
                fields=["tenant", "requester", "-number"], name="ticket_requester_number_idx"
            ),
            # The queues read open tickets, a small part of the table: partial
            # indexes in each queue's default order ("most urgent first").
            models.Index(
                F("tenant"), F("assignee"), *URGENT_ORDER,
                name="ticket_queue_mine_idx", condition=OPEN_Q,
            ),
            models.Index(
                F("tenant"), *URGENT_ORDER,
                name="ticket_queue_unassigned_idx", condition=OPEN_Q & Q(assignee__isnull=True),
            ),
            models.Index(
                F("tenant"), F("group"), *URGENT_ORDER,
                name="ticket_queue_group_idx", condition=OPEN_Q,
            ),
            models.Index(
                F("tenant"), *URGENT_ORDER, name="ticket_queue_open_idx", condition=OPEN_Q
            ),
            # Queue and board counts come from an index-only scan of this one.
            models.Index(
                fields=["tenant", "group", "assignee", "status"],
                name="ticket_open_counts_idx",
                condition=OPEN_Q,
            ),
            models.Index(
                fields=["tenant", "group", "resolved_at"],
                name="ticket_recently_resolved_idx",
                condition=Q(status="resolved"),
            ),
            # Automations (tickets.automations): resolved tickets by when,
            # waiting ones and assigned active ones by their last change.
            models.Index(
                fields=["tenant", "resolved_at"],
                name="ticket_resolved_at_idx",
                condition=Q(status="resolved"),
            ),
            models.Index(
                fields=["tenant", "updated_at"],
                name="ticket_pending_idle_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["tenant", "updated_at"],
                name="ticket_assigned_idle_idx",
                condition=Q(status__in=("new", "open"), assignee__isnull=False),
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"{self.tenant.ticket_prefix}-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]


class Message(TenantOwned):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer message"
        REPLY = "reply", "Public reply"
        NOTE = "note", "Internal note"

    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="messages",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    body_text = models.TextField()
    # Sanitised with nh3 before it is stored; safe to render as HTML.
    body_html = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ticket", "created_at"], name="message_ticket_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(author_user__isnull=True)
                | models.Q(author_contact__isnull=True),
                name="message_one_author",
            )
        ]

    @property
    def is_public(self) -> bool:
        return self.kind != self.Kind.NOTE

    @property
    def author_name(self) -> str:
        if self.author_user_id:
            return self.author_user.get_full_name() or self.author_user.username
        if self.author_contact_id:
            return self.author_contact.display_name
        return "System"


def attachment_path(instance: "Attachment", filename: str) -> str:
    # Random name on disk: the original name is kept in the row only.
    return f"attachments/{instance.tenant_id}/{instance.storage_key}"


class Attachment(TenantOwned):
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="attachments",
        db_constraint=False,
        db_index=False,
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    storage_key = models.CharField(max_length=64)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    # The Content-ID of a mail part, which the mail's HTML shows as <img src="cid:...">.
    content_id = models.CharField(max_length=250, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "message"], name="attachment_message_idx"),
            # The orphan sweep asks which of the files it found a row names.
            models.Index(fields=["tenant", "storage_key"], name="attachment_storage_key_idx"),
        ]
