"""Customers: the people who write in and their companies."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from helpdesk.models import TenantOwned

from ..validators import validate_mail_address


class Organization(TenantOwned):
    """A customer's company; contacts join it by their email domain."""

    name = models.CharField(max_length=160)
    email_domains = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    # Signed-in contacts of this organisation see each other's tickets in the portal.
    portal_shares_tickets = models.BooleanField(default=False)
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

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            # Emails are stored lower-case (contact_get_or_create).
            models.UniqueConstraint(fields=["tenant", "email"], name="contact_unique_email"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email
