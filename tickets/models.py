import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Coalesce, Replace

from helpdesk import secret_box
from helpdesk.models import SupportGroup, TenantOwned

from .validators import validate_mail_address

# Text-search configuration of every search column and query. 'simple' (no
# stemming, no stop words) rather than 'english': tenants write in many
# languages, and what agents look up most (names, email addresses, error
# codes, order numbers) must match as typed, not as an English stem.
SEARCH_CONFIG = "simple"


def search_vector_field(*expressions, weight: str) -> models.GeneratedField:
    """A tsvector column Postgres computes from the row itself, so every write
    (services, bulk loads, raw SQL) keeps it current with no code to forget."""
    return models.GeneratedField(
        expression=SearchVector(*expressions, config=SEARCH_CONFIG, weight=weight),
        output_field=SearchVectorField(),
        db_persist=True,
    )


class Organization(TenantOwned):
    """A customer's company; contacts join it by their email domain."""

    name = models.CharField(max_length=160)
    email_domains = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="organization_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Contact(TenantOwned):
    """A customer person who asks for help."""

    email = models.CharField(max_length=254, validators=[validate_mail_address])
    name = models.CharField(max_length=160, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    # Set when mail to this address bounced: no more mail goes to it.
    email_bounced_at = models.DateTimeField(null=True, blank=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The address also as its parts, so "pat" or "example.com" finds pat@example.com.
    search_vector = search_vector_field(
        "name", "email", Replace("email", Value("@"), Value(" ")), weight="B"
    )

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            # Emails are stored lower-case (contact_get_or_create).
            models.UniqueConstraint(fields=["tenant", "email"], name="contact_unique_email"),
        ]
        indexes = [GinIndex(fields=["tenant", "search_vector"], name="contact_search_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


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
    # Weight A: a subject match outranks a mention in a message (weight D).
    search_vector = search_vector_field("subject", weight="A")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="ticket_unique_number"),
        ]
        indexes = [
            # btree_gin lets the tenant lead the index, as in every tenant index.
            GinIndex(fields=["tenant", "search_vector"], name="ticket_search_idx"),
            models.Index(
                fields=["tenant", "requester", "-created_at"], name="ticket_requester_idx"
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
    search_vector = search_vector_field("body_text", weight="D")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ticket", "created_at"], name="message_ticket_idx"),
            GinIndex(fields=["tenant", "search_vector"], name="message_search_idx"),
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
        indexes = [models.Index(fields=["tenant", "message"], name="attachment_message_idx")]


class Event(TenantOwned):
    """One change to a ticket: its timeline, its audit log and its outbox."""

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
    kind = models.CharField(max_length=20, choices=Kind.choices)
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


class SavedView(TenantOwned):
    """A queue with filters and a sort, saved by an agent for themself or
    shared by a manager with a group."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    queue = models.CharField(max_length=40)
    # The filter form's query string, as the queue page reads it.
    query = models.CharField(max_length=1000, blank=True)
    shared_with = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["tenant", "owner"], name="savedview_owner_idx")]


class CannedResponse(TenantOwned):
    """A reply text admins keep ready; {requester_name}, {ticket_number} and
    {agent_name} are filled in when an agent inserts it."""

    title = models.CharField(max_length=120)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "title"], name="cannedresponse_unique_title")
        ]

    def __str__(self) -> str:
        return self.title


class Mailbox(TenantOwned):
    """An address customers write to; mail reaches it through the inbound
    webhook or IMAP polling."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    address = models.EmailField()
    # sha256 of the webhook token; the token itself is shown once, when made.
    webhook_token_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    # IMAP polling (optional): beat fetches unseen mail and marks it seen
    # only after it is stored.
    imap_host = models.CharField(max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_ssl = models.BooleanField(default=True)
    imap_user = models.CharField(max_length=200, blank=True)
    # Fernet-encrypted (helpdesk.secret_box); read through imap_password.
    imap_password_encrypted = models.TextField(blank=True)
    imap_folder = models.CharField(max_length=200, default="INBOX")
    # The last poll, and why it failed (empty when it worked), for admins.
    imap_checked_at = models.DateTimeField(null=True, blank=True)
    imap_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "address"], name="mailbox_unique_address")
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    @property
    def imap_password(self) -> str:
        return secret_box.decrypt(self.imap_password_encrypted)

    @imap_password.setter
    def imap_password(self, value: str) -> None:
        self.imap_password_encrypted = secret_box.encrypt(value)

    @property
    def polls_imap(self) -> bool:
        return bool(self.imap_host)


class InboundEmail(TenantOwned):
    """A received message, stored as raw bytes before anything reads it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        QUARANTINED = "quarantined", "Quarantined"

    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    raw = models.BinaryField()
    raw_sha256 = models.CharField(max_length=64)
    # The Message-ID header, so that replies to this mail find its ticket.
    rfc_message_id = models.CharField(max_length=250, blank=True)
    size = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)
    # Read from the headers when stored, for admins' lists (the quarantine).
    sender = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    recipients = models.CharField(max_length=1000, blank=True)
    # What makes two stored mails one mail (filing.copy_key), and the first
    # copy when this is a later one: it joins what the first made and is
    # listed on the ticket ("also received via").
    copy_key = models.CharField(max_length=64, blank=True)
    copy_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip

    class Meta:
        constraints = [
            # The same bytes delivered twice (webhook retry, IMAP re-delivery) are one row.
            models.UniqueConstraint(
                fields=["tenant", "mailbox", "raw_sha256"], name="inboundemail_once"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "rfc_message_id"], name="inboundemail_msgid_idx"),
            models.Index(
                fields=["tenant", "copy_key"],
                name="inboundemail_copykey_idx",
                condition=~Q(copy_key=""),
            ),
            models.Index(
                fields=["tenant", "-received_at"],
                name="inboundemail_quarantine_idx",
                condition=Q(status="quarantined"),
            ),
            # Copies of a message's mail, for the ticket page.
            models.Index(
                fields=["tenant", "message"],
                name="inboundemail_copies_idx",
                condition=Q(copy_of__isnull=False),
            ),
            # Stored mail waiting for processing, oldest first.
            models.Index(
                fields=["tenant", "received_at"],
                name="inboundemail_waiting_idx",
                condition=Q(status="received"),
            ),
        ]


class OutboundEmail(TenantOwned):
    """A mail we send about a ticket, recorded before it is sent so that a
    retried task never sends it twice."""

    class Kind(models.TextChoices):
        ACKNOWLEDGEMENT = "ack", "Acknowledgement"
        REPLY = "reply", "Public reply"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    to = ArrayField(models.EmailField())
    cc = ArrayField(models.EmailField(), default=list, blank=True)
    rfc_message_id = models.CharField(max_length=250)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "message", "kind"], name="outboundemail_once")
        ]
        indexes = [
            models.Index(fields=["tenant", "rfc_message_id"], name="outboundemail_msgid_idx"),
            # The sweep for mail still unsent: a handful of rows at most.
            models.Index(
                fields=["tenant", "created_at"],
                name="outboundemail_unsent_idx",
                condition=models.Q(status="pending"),
            ),
        ]


class WebFormSubmission(TenantOwned):
    """A web form token that was used: the form is shown with a random token,
    and the token opens at most one ticket. The unique key is the check, so two
    posts of one form at the same moment still open one ticket."""

    # sha256 of the signed token as posted: the token itself is not kept.
    token_digest = models.CharField(max_length=64)
    # sha256 of what was typed: the same post again (a double click, a browser
    # retry) is shown its ticket; other text under the same token is refused.
    fingerprint = models.CharField(max_length=64)
    # Empty only inside the transaction that opens the ticket (the token is
    # claimed first), or after the ticket was deleted: the token stays used.
    ticket = models.ForeignKey(
        Ticket,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "token_digest"], name="webformsubmission_token_once"
            )
        ]
