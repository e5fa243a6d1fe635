import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_scopes import ScopedManager


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Berlin).")


# First path segments the app uses itself; a tenant with one of these slugs
# would lose pages to them.
RESERVED_SLUGS = {
    "accounts", "admin", "api", "help", "inbound", "static", "media", "healthz", "csp-report",
    "portal",
}  # fmt: skip


def validate_tenant_slug(value: str) -> None:
    if value.lower() in RESERVED_SLUGS:
        raise ValidationError(f"“{value}” is used by the app itself; choose another.")


class Tenant(models.Model):
    """A support organisation: it owns its agents, customers, rules and numbering."""

    slug = models.SlugField(max_length=40, unique=True, validators=[validate_tenant_slug])
    name = models.CharField(max_length=120)
    ticket_prefix = models.CharField(
        max_length=10,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9]{1,9}$", "2-10 capital letters or digits.")],
        help_text="Shown before ticket numbers, as in ACME-1042.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    brand_color = models.CharField(
        "brand colour",
        max_length=7,
        default="#2557d6",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour such as #2557d6.")],
    )
    support_email = models.EmailField(
        "support address",
        blank=True,
        help_text="The address customers write to, and the sender of the mail we send them.",
    )
    # Stored under logos/ in the default storage, checked to be a PNG, JPEG,
    # GIF or WebP (never SVG: it can carry script) and served by tenant_logo.
    logo = models.FileField(upload_to="logos/", blank=True, max_length=200)
    require_two_factor = models.BooleanField(
        "require two-factor sign-in",
        default=False,
        help_text="Everyone must sign in with a code from an authenticator app as well.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one tenant. A user may belong to several tenants."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        DISPATCHER = "dispatcher", "Dispatcher"
        AGENT = "agent", "Agent"

    # Each role can do everything the roles after it can.
    RANK = {Role.AGENT: 1, Role.DISPATCHER: 2, Role.MANAGER: 3, Role.ADMIN: 4}

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    # Single-key shortcuts (j, k, x, r, /, ?) on or off for this member (WCAG
    # 2.1.4). Kept here because every tenant page reads the membership anyway.
    keyboard_shortcuts = models.BooleanField(default=True)
    # A deactivated member keeps their history but can no longer open this
    # tenant's pages (the middleware treats them as a stranger: 404).
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_tenant")
        ]
        indexes = [models.Index(fields=["user", "tenant"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"

    def has_role(self, minimum: str) -> bool:
        return self.RANK[self.role] >= self.RANK[minimum]


class TenantOwned(models.Model):
    """Base of every table that belongs to one tenant.

    The manager refuses to query outside a tenant scope, and a post-migrate
    step puts row-level security and tenant-matching foreign keys on the table.
    A foreign key from one tenant-owned table to another is declared with
    db_constraint=False: the (tenant_id, column) key added after migrate
    replaces Django's single-column one, which would check the same row twice.
    """

    # No index of its own: the (tenant_id, id) key and every other index of a
    # tenant-owned table start with tenant_id.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True


class SupportGroup(TenantOwned):
    """A team of agents that tickets can be given to."""

    name = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Archived groups keep their tickets and members but leave the choice
    # lists and the queues.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="supportgroup_unique_name")
        ]
        verbose_name = "group"

    def __str__(self) -> str:
        return self.name


class SupportGroupMember(TenantOwned):
    group = models.ForeignKey(
        SupportGroup,
        on_delete=models.CASCADE,
        related_name="members",
        db_constraint=False,
        db_index=False,
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "group", "user"], name="supportgroupmember_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="groupmember_user_idx")]


class Notification(TenantOwned):
    """Something an agent should look at: shown under the bell in the header
    (when the agent wants this kind in the app) and listed in their next
    mail digest (when they want it by mail)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # A name registered in helpdesk.extensions.notification_kinds.
    kind = models.CharField(max_length=60, default="", blank=True)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    # Which source produced it, so a re-run handler does not notify twice.
    source_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Shown under the bell; False when the user wants this kind by mail only.
    in_app = models.BooleanField(default=True)
    # Waiting for the user's next mail digest; cleared when a digest takes it.
    mail_pending = models.BooleanField(default=False)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "source_key"], name="notification_once_per_source"
            )
        ]
        indexes = [
            # The list, newest first, cut by keyset (created_at, id).
            models.Index(
                fields=["tenant", "user", "-created_at", "-id"],
                name="notification_inbox_idx",
                condition=models.Q(in_app=True),
            ),
            # The bell's count: unread rows only, a small part of the table.
            models.Index(
                fields=["tenant", "user"],
                name="notification_unread_idx",
                condition=models.Q(in_app=True, read_at__isnull=True),
            ),
            # The digest sweep: rows waiting for a mail, a handful at most.
            models.Index(
                fields=["tenant", "user", "created_at"],
                name="notification_mail_pending_idx",
                condition=models.Q(mail_pending=True),
            ),
        ]


class NotificationPreference(TenantOwned):
    """One user's choice for one kind of notification in one tenant: in the
    app, by mail, both or neither. No row: the kind's defaults."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=60)
    in_app = models.BooleanField()
    mail = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "kind"], name="notificationpreference_once"
            )
        ]


class NotificationDigestState(TenantOwned):
    """When a user was last sent a mail digest in a tenant. The digest sweep
    claims a user by moving `last_sent_at` forward with a conditional
    update, so two sweeps never mail the same user twice in one window."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="notificationdigeststate_once")
        ]


class ApiKey(TenantOwned):
    """A tenant's key for the JSON API. Only the sha256 of the key is kept:
    the key itself is shown once, when it is made, and cannot be recovered."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    name = models.CharField(max_length=80)
    # The first characters of the key, stored in clear so a list can tell keys apart.
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key_hash"], name="apikey_unique_hash")
        ]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class AuditEntry(TenantOwned):
    """Something an admin (or the system) did that is not a ticket change:
    a quarantined mail filed anyway, a setting changed. Ticket changes are
    ticket events; this is the audit log for everything else."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The actor's name when the entry was written: kept when the user is deleted.
    actor_name = models.CharField(max_length=150, blank=True)
    # What was done, as a dotted name ("inbound.file_anyway"), and to what.
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="auditentry_recent_idx"),
            models.Index(
                fields=["tenant", "target_type", "target_id", "created_at"],
                name="auditentry_target_idx",
            ),
            models.Index(fields=["tenant", "actor", "-created_at"], name="auditentry_actor_idx"),
        ]

    @property
    def before(self):
        return (self.detail or {}).get("before")

    @property
    def after(self):
        return (self.detail or {}).get("after")


class Invitation(TenantOwned):
    """An invitation to join a tenant with a role, mailed as a signed link
    (helpdesk.invitations). Used once: `accepted_at` is set when it is."""

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "-created_at"],
                name="invitation_open_idx",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} as {self.role}"

    def is_usable(self, now) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class TenantWork(models.Model):
    """Control plane: when a tenant next has background work of one kind
    (events, stored mail, unsent mail, mailbox polls) due.

    A beat sweep reads this table alone to learn which tenants to sweep, and
    enters only those: it never reads tenant tables outside a tenant, nor
    opens a transaction per tenant every minute. Kinds are named by the apps
    that record the work (helpdesk/tenant_work.py keeps the row right).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=30)
    # The earliest time work of this kind became (or becomes) due; NULL: none
    # known. A sweep waits its kind's grace beyond it, since the work's own
    # task usually does it first.
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind"], name="tenantwork_one_per_kind")
        ]
        indexes = [
            models.Index(
                fields=["kind", "due_at"],
                name="tenantwork_due_idx",
                condition=models.Q(due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.tenant_id} due {self.due_at}"


class UserSession(models.Model):
    """Control plane: a signed-in session of a user (the session row itself
    says nothing of its user without decoding it), for the user's own list
    of sessions and "sign out everywhere"."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="usersession_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"
