"""The customer portal: its per-tenant settings, ticket links, sign-in links
and satisfaction ratings."""

from django.conf import settings
from django.db import models

from helpdesk.models import SupportGroup, TenantOwned

from .contact import Contact
from .ticket import Category, Ticket


class PortalSettings(TenantOwned):
    """How a tenant's portal behaves; a tenant without a row has the defaults."""

    class RatingScale(models.TextChoices):
        GOOD_BAD = "good_bad", "Good or bad"
        FIVE = "five", "1 to 5"

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        GERMAN = "de", "Deutsch"

    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)
    # A solved ticket may be reopened from the portal for this many days;
    # after that a reply opens a follow-up ticket.
    reopen_days = models.PositiveSmallIntegerField(default=7)
    rating_scale = models.CharField(
        max_length=10, choices=RatingScale.choices, default=RatingScale.GOOD_BAD
    )
    # A rating may be changed for this many hours after it was first given.
    rating_change_hours = models.PositiveSmallIntegerField(default=72)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="portalsettings_one")]


class PortalLink(TenantOwned):
    """One recipient's link to one ticket. The token is `selector + verifier`:
    the selector finds the row, only the sha256 of the verifier is kept and
    it is compared in constant time, so the table never holds a usable link.

    The verifier is an HMAC of the secret key over the row's selector,
    ticket, address and `nonce` (tickets.portal.tokens), so every mail to
    the recipient can carry the same link again while the table still holds
    only its hash; revoking the row (a new row, a new nonce) retires it."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    email = models.CharField(max_length=254)
    selector = models.CharField(max_length=16)
    verifier_sha256 = models.CharField(max_length=64)
    # Empty on links whose verifier cannot be made again: those issued at
    # random before links were derived, or made with a secret key no longer
    # kept. They open as long as they are not revoked, but new mail carries
    # the recipient's derived link.
    nonce = models.CharField(max_length=24, blank=True, default="")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "selector"], name="portallink_selector"),
            # One live derived link per recipient and ticket: two mails sent
            # at once cannot hand one recipient two links.
            models.UniqueConstraint(
                fields=["tenant", "ticket", "email"],
                condition=models.Q(revoked_at__isnull=True) & ~models.Q(nonce=""),
                name="portallink_one_live",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "ticket"], name="portallink_ticket_idx"),
            # The tickets a signed-in customer was mailed about as a CC.
            models.Index(fields=["tenant", "email"], name="portallink_email_idx"),
        ]


class PortalSignIn(TenantOwned):
    """An emailed sign-in link: valid for a short while, used at most once."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    selector = models.CharField(max_length=16)
    verifier_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "selector"], name="portalsignin_selector")
        ]
        indexes = [models.Index(fields=["tenant", "contact"], name="portalsignin_contact_idx")]


class Rating(TenantOwned):
    """A customer's rating of one solved cycle of a ticket (`solved_at` is
    the cycle: reopened and solved again is another cycle). Who handled it,
    the group and the category are copied in when it is given, so that
    sums per agent, group, category and period read this table alone."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    solved_at = models.DateTimeField()
    scale = models.CharField(max_length=10, choices=PortalSettings.RatingScale.choices)
    # good/bad: 1 or 0; five: 1 to 5.
    score = models.PositiveSmallIntegerField()
    # The CSAT share counts good ratings: "good", or 4 and 5 of five.
    is_good = models.BooleanField()
    comment = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    group = models.ForeignKey(
        SupportGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "ticket", "solved_at"], name="rating_once_per_cycle"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "assignee", "created_at"], name="rating_assignee_idx"),
            models.Index(fields=["tenant", "group", "created_at"], name="rating_group_idx"),
            models.Index(fields=["tenant", "category", "created_at"], name="rating_category_idx"),
            models.Index(fields=["tenant", "created_at"], name="rating_period_idx"),
        ]
