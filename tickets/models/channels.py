"""Channels: mailboxes, mail in and out, and web form submissions."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from helpdesk import secret_box
from helpdesk.models import TenantOwned

from .ticket import Message, Ticket


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
    # Taken by a batch until then (intake.filing): other workers pass it by,
    # and if the worker is lost the mail is taken again after this time.
    claimed_until = models.DateTimeField(null=True, blank=True)
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
    """A mail we send, recorded before it is sent so that a retried task
    never sends it twice: to customers about a ticket (acknowledgements,
    replies), or to an agent (a notification digest, which names no ticket
    or message and carries its text, written when it was recorded)."""

    class Kind(models.TextChoices):
        ACKNOWLEDGEMENT = "ack", "Acknowledgement"
        REPLY = "reply", "Public reply"
        DIGEST = "digest", "Notification digest"
        SOLVED = "solved", "Solved, please rate"
        LINKS = "links", "New portal link"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    # The event a portal mail is about ("solved", "links"): those are
    # recorded once per event and recipient, each copy a row of its own.
    event = models.ForeignKey(
        "tickets.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    recipient = models.CharField(max_length=254, blank=True, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # A digest's own text (mail about a ticket is composed when sent).
    subject = models.CharField(max_length=250, blank=True, default="")
    body_text = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
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
            models.UniqueConstraint(
                fields=["tenant", "message", "kind"], name="outboundemail_once"
            ),
            models.UniqueConstraint(
                fields=["tenant", "event", "kind", "recipient"],
                condition=models.Q(event__isnull=False),
                name="outboundemail_event_once",
            ),
            # Only a digest is about no ticket; the rest name their message
            # or their event.
            models.CheckConstraint(
                condition=models.Q(kind="digest")
                | models.Q(ticket__isnull=False, message__isnull=False)
                | models.Q(ticket__isnull=False, event__isnull=False),
                name="outboundemail_ticket_mail_names_its_message",
            ),
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
