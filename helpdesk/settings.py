"""Settings, all read from the environment. A bad value stops start-up with a
message that names the variable, rather than running half-configured."""

import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key" if DEBUG else None)
if not DEBUG and (len(SECRET_KEY) < 16 or SECRET_KEY.startswith("dev-only")):
    raise ImproperlyConfigured("SECRET_KEY must be a long random value when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Fernet keys for secrets stored encrypted (IMAP passwords), newest first;
# empty: one key derived from SECRET_KEY (see helpdesk/secret_box.py).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "csp",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "helpdesk",
    "tickets",
    "dispatch",
    "sla",
    "knowledge",
    "reports",
]

MIDDLEWARE = [
    # First: whatever layer answers an error under /api/, the client gets JSON.
    "helpdesk.api.errors.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who gave a code from their authenticator in this session; then asks
    # for one from users who have an authenticator (helpdesk/two_factor.py).
    "django_otp.middleware.OTPMiddleware",
    "helpdesk.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a locked-out sign-in into the page that says so (helpdesk/signin.py).
    "axes.middleware.AxesMiddleware",
    # Last, so that the tenant's transaction and scope wrap only the view.
    "helpdesk.middleware.TenantMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "helpdesk.context_processors.tenancy",
            ],
        },
    }
]

# `manage.py runserver` serves every browser connection from a thread of its
# own, and keeps a persistent database connection open with each of them
# (after a burst, dozens of idle connections and then refused ones): under the
# development server a connection is closed after every request.
RUNNING_DEVSERVER = sys.argv[1:2] == ["runserver"]
DB_CONN_MAX_AGE = 0 if RUNNING_DEVSERVER else env_int("DB_CONN_MAX_AGE", 60)


DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 5)


def env_database(name: str, default: str | None = None) -> dict:
    try:
        database = dj_database_url.parse(
            env_str(name, default), conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a database URL: {exc}") from None
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must point at PostgreSQL (postgresql://...).")
    # A database that does not answer fails the request (503) after this long
    # instead of holding a web worker; a connect_timeout in the URL wins.
    database.setdefault("OPTIONS", {}).setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    return database


# Two roles (README, "Using your own servers"): the app connects with
# DATABASE_URL as a role that owns nothing, so that it cannot turn a table's
# row-level security off; `migrate` (and `flush`) connect with
# MIGRATE_DATABASE_URL as the role that owns the tables, and grant the app's
# role what it needs (helpdesk/db.py). The web and worker processes need no
# MIGRATE_DATABASE_URL.
DATABASES = {"default": env_database("DATABASE_URL", "postgresql://helpdesk@localhost/helpdesk")}
MIGRATE_DATABASE = None
if os.environ.get("MIGRATE_DATABASE_URL"):
    MIGRATE_DATABASE = env_database("MIGRATE_DATABASE_URL")
    if MIGRATE_DATABASE["NAME"] != DATABASES["default"]["NAME"]:
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL and DATABASE_URL must name the same database."
        )
    if not DATABASES["default"]["USER"] or not MIGRATE_DATABASE["USER"]:
        raise ImproperlyConfigured(
            "DATABASE_URL and MIGRATE_DATABASE_URL must each name their role (user@host)."
        )
    if MIGRATE_DATABASE["USER"] == DATABASES["default"]["USER"]:
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL must name the role that owns the tables, not the app's "
            "role: a role that owns a table can turn its row-level security off."
        )
# Only for a throwaway database: the app refuses to run as a role that skips
# RLS or owns a table, and `migrate` refuses to run without MIGRATE_DATABASE_URL.
ALLOW_RLS_BYPASS_ROLE = env_bool("ALLOW_RLS_BYPASS_ROLE", False)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes, attempts stored in Postgres), for the sign-in
# page and /admin/ alike: this many failed attempts for one username, or from
# one address (REMOTE_ADDR: run behind a proxy that sets it, as for the web
# form), within the lockout period lock it for SIGNIN_LOCKOUT_MINUTES from the
# failure that reached the limit. An address gets a higher limit than an
# account: an office signs in from one address.
SIGNIN_FAILURES_PER_ACCOUNT = env_int("SIGNIN_FAILURES_PER_ACCOUNT", 5)
SIGNIN_FAILURES_PER_ADDRESS = env_int("SIGNIN_FAILURES_PER_ADDRESS", 20)
SIGNIN_LOCKOUT_MINUTES = env_int("SIGNIN_LOCKOUT_MINUTES", 15)
if min(SIGNIN_FAILURES_PER_ACCOUNT, SIGNIN_FAILURES_PER_ADDRESS, SIGNIN_LOCKOUT_MINUTES) < 1:
    raise ImproperlyConfigured(
        "SIGNIN_FAILURES_PER_ACCOUNT, SIGNIN_FAILURES_PER_ADDRESS and SIGNIN_LOCKOUT_MINUTES "
        "must each be at least 1."
    )
AXES_HANDLER = "helpdesk.signin.SigninAttemptHandler"
# Counted separately (not as pairs): the handler gives each its own limit.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = SIGNIN_FAILURES_PER_ACCOUNT
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_LOCKOUT_MINUTES)
# Attempts made while locked out are refused without being counted, so the
# lock ends when the page said it would, not later with every retry.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful sign-in clears that account's failures (not its address's).
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "helpdesk.signin.lockout_response"
# Only failures are kept; a row per successful sign-in would grow for ever.
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "helpdesk.signin.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Attachments: a size cap per file and a list of types never accepted.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_MAX_FILES = env_int("ATTACHMENT_MAX_FILES", 10)
# Attachment files are written before the transaction that records them; a
# file no row names this long after it was written is removed by the sweep
# (the transaction that wrote it rolled back, or its worker was lost).
ATTACHMENT_ORPHAN_GRACE_SECONDS = env_int("ATTACHMENT_ORPHAN_GRACE_SECONDS", 3600)
# Incoming mail larger than this is stored and quarantined, not parsed.
INBOUND_EMAIL_MAX_BYTES = env_int("INBOUND_EMAIL_MAX_BYTES", 25 * 1024 * 1024)
# The webhook reads mail up to this size (stored; quarantined past the limit
# above); past it, it answers 413, which mail relays treat as final.
INBOUND_EMAIL_HARD_MAX_BYTES = env_int("INBOUND_EMAIL_HARD_MAX_BYTES", 50 * 1024 * 1024)
if INBOUND_EMAIL_HARD_MAX_BYTES < INBOUND_EMAIL_MAX_BYTES:
    raise ImproperlyConfigured(
        "INBOUND_EMAIL_HARD_MAX_BYTES must be at least INBOUND_EMAIL_MAX_BYTES."
    )
# HTML mail past this size (or too complex) is shown as text: sanitising
# such HTML can take minutes. One mail gets this long to be read.
INBOUND_HTML_MAX_BYTES = env_int("INBOUND_HTML_MAX_BYTES", 1024 * 1024)
INBOUND_PARSE_SECONDS = env_int("INBOUND_PARSE_SECONDS", 5)
# Cc addresses a ticket keeps (and so the most a mail of ours is copied to).
TICKET_MAX_CC = env_int("TICKET_MAX_CC", 20)
# The public web form (/help/<tenant>/): submissions per hour per email
# address and per client IP, and the least time a person takes to fill it in.
# The customer portal (tickets/portal): where its links in mail point, and its limits.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
PORTAL_LOOKUPS_PER_IP = env_int("PORTAL_LOOKUPS_PER_IP", 120)
PORTAL_LOOKUP_WINDOW_SECONDS = env_int("PORTAL_LOOKUP_WINDOW_SECONDS", 600)
PORTAL_REPLIES_PER_LINK = env_int("PORTAL_REPLIES_PER_LINK", 20)
PORTAL_SIGNIN_PER_ADDRESS = env_int("PORTAL_SIGNIN_PER_ADDRESS", 5)
PORTAL_SIGNIN_PER_IP = env_int("PORTAL_SIGNIN_PER_IP", 20)
PORTAL_SIGNIN_MINUTES = env_int("PORTAL_SIGNIN_MINUTES", 15)
WEB_FORM_MAX_PER_ADDRESS = env_int("WEB_FORM_MAX_PER_ADDRESS", 5)
WEB_FORM_MAX_PER_IP = env_int("WEB_FORM_MAX_PER_IP", 20)
WEB_FORM_WINDOW_SECONDS = env_int("WEB_FORM_WINDOW_SECONDS", 3600)
WEB_FORM_MIN_FILL_SECONDS = env_int("WEB_FORM_MIN_FILL_SECONDS", 3)
# Acknowledgements mailed for web form tickets per client IP (across tenants)
# in the same window; past it tickets are still opened, without one.
WEB_FORM_MAX_ACKS_PER_IP = env_int("WEB_FORM_MAX_ACKS_PER_IP", 5)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Seconds every Redis client (rate limits, presence, cache, Celery's broker)
# waits to connect and for an answer. Redis holds nothing that must survive
# (DESIGN.md): when it is down, requests go on without it, so a dead or hung
# Redis must cost a request little.
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 0.5)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 1.0)
if not (0 < REDIS_CONNECT_TIMEOUT <= 30 and 0 < REDIS_SOCKET_TIMEOUT <= 30):
    raise ImproperlyConfigured(
        "REDIS_CONNECT_TIMEOUT and REDIS_SOCKET_TIMEOUT must be above 0 and at most 30 seconds."
    )
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "helpdesk",
        "OPTIONS": {
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish (`.delay()` after a commit) with the broker down fails within
# about two seconds instead of kombu's defaults (no socket timeout: a hung
# Redis blocks it for good); the beat sweeps hand the rows over later. One
# retry, so that a connection left dead by a Redis restart is replaced.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Workers wait out a Redis outage of any length, reconnecting, instead of
# exiting after 100 attempts.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Mail intake has a queue of its own, so new mail is filed while a backlog of
# outgoing mail and event handlers waits in the other; IMAP polling has a
# third, so slow or silent mail servers wait among themselves. A worker
# started without -Q takes every queue declared here (in turn); a busy site
# gives `-Q imap` and `-Q intake` workers of their own.
# `timers`: SLA's breach sweep, so a sweep's next batch does not wait behind
# the event handlers its own breaches just queued on `celery`; and the group
# drains that new tickets ask for (short, coalesced per group), so a ticket
# is handed out without waiting behind a backlog of event handlers; and the
# express event handlers (routing a new ticket, `subscribe(..., express=True)`),
# ahead of the rest of their events' handlers.
CELERY_TASK_QUEUES = (Queue("celery"), Queue("intake"), Queue("imap"), Queue("timers"))
CELERY_TASK_ROUTES = {
    "tickets.tasks.process_inbound_batch": {"queue": "intake"},
    "tickets.tasks.sweep_tenant_stored_mail": {"queue": "intake"},
    "tickets.tasks.poll_imap_mailboxes": {"queue": "imap"},
    "tickets.tasks.poll_tenant_mailboxes": {"queue": "imap"},
    "tickets.tasks.poll_imap_mailbox": {"queue": "imap"},
    "sla.tasks.sweep_sla_due": {"queue": "timers"},
    "sla.tasks.sla_sweep_tenant": {"queue": "timers"},
    "dispatch.tasks.drain_group": {"queue": "timers"},
    "dispatch.tasks.drain_groups": {"queue": "timers"},
    "tickets.tasks.process_events_express": {"queue": "timers"},
}
IMAP_POLL_SECONDS = env_int("IMAP_POLL_SECONDS", 60)
# Every IMAP network step (look-up, connect, each read and write) gives up
# after this long; a whole poll is stopped after IMAP_POLL_TIME_LIMIT_SECONDS
# (what it stored is kept, the rest waits for the next poll).
IMAP_TIMEOUT_SECONDS = env_int("IMAP_TIMEOUT_SECONDS", 30)
IMAP_POLL_TIME_LIMIT_SECONDS = env_int("IMAP_POLL_TIME_LIMIT_SECONDS", 120)
if IMAP_TIMEOUT_SECONDS < 1:
    raise ImproperlyConfigured("IMAP_TIMEOUT_SECONDS must be at least 1.")
if IMAP_POLL_TIME_LIMIT_SECONDS <= IMAP_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "IMAP_POLL_TIME_LIMIT_SECONDS must be longer than IMAP_TIMEOUT_SECONDS."
    )
# Hosts that tenant admins enter (IMAP servers) must resolve to public
# addresses only; turn on when the mail server is on the install's own network.
ALLOW_PRIVATE_HOSTS = env_bool("ALLOW_PRIVATE_HOSTS", False)
# Outgoing webhooks (tickets.webhooks): each post gives up after
# WEBHOOK_TIMEOUT_SECONDS; a failed one is tried again after
# WEBHOOK_RETRY_BASE_SECONDS, doubling up to WEBHOOK_RETRY_MAX_SECONDS, and
# given up after WEBHOOK_MAX_ATTEMPTS tries. Targets must resolve to public
# addresses unless ALLOW_PRIVATE_HOSTS is on.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 3600)
if WEBHOOK_TIMEOUT_SECONDS < 1 or WEBHOOK_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        "WEBHOOK_TIMEOUT_SECONDS and WEBHOOK_MAX_ATTEMPTS must be at least 1."
    )
# The address people reach the app at (no trailing slash), for links in
# webhook posts and in mail.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# How often each tenant's automations look for tickets to act on.
AUTOMATIONS_SWEEP_SECONDS = env_int("AUTOMATIONS_SWEEP_SECONDS", 300)
# All periodic work, in one place.
CELERY_BEAT_SCHEDULE = {
    "run-automations": {
        "task": "tickets.automations.tasks.run_automations",
        "schedule": 60,
    },
    "sweep-webhook-deliveries": {
        "task": "tickets.webhooks.tasks.sweep_webhook_deliveries",
        "schedule": 60,
    },
    "poll-imap-mailboxes": {
        "task": "tickets.tasks.poll_imap_mailboxes",
        "schedule": IMAP_POLL_SECONDS,
    },
    "sweep-unprocessed-events": {
        "task": "tickets.tasks.sweep_unprocessed_events",
        "schedule": env_int("EVENT_SWEEP_SECONDS", 60),
    },
    "sweep-unsent-mail": {
        "task": "tickets.tasks.sweep_unsent_mail",
        "schedule": env_int("MAIL_SWEEP_SECONDS", 60),
    },
    "sweep-stored-mail": {
        "task": "tickets.tasks.sweep_stored_mail",
        "schedule": env_int("INTAKE_SWEEP_SECONDS", 60),
    },
    "send-notification-digests": {
        "task": "tickets.tasks.send_notification_digests",
        "schedule": env_int("NOTIFICATION_MAIL_SWEEP_SECONDS", 60),
    },
    # SLA at-risk and breach alerts: fanned out to tenants with checks due.
    "sweep-sla-due": {
        "task": "sla.tasks.sweep_sla_due",
        "schedule": env_int("SLA_SWEEP_SECONDS", 30),
    },
    "sweep-waiting-tickets": {
        "task": "dispatch.tasks.sweep_waiting_tickets",
        "schedule": env_int("DISPATCH_SWEEP_SECONDS", 60),
    },
    "sweep-dispatch-acceptances": {
        "task": "dispatch.tasks.sweep_acceptances",
        "schedule": 30,
    },
    "sweep-idle-agents": {
        "task": "dispatch.tasks.sweep_idle_agents",
        "schedule": 60,
    },
    # Managers' weekly summary mail: fanned out to tenants whose Monday has come.
    "sweep-weekly-summaries": {
        "task": "reports.tasks.sweep_weekly_summaries",
        "schedule": env_int("WEEKLY_SUMMARY_SWEEP_SECONDS", 3600),
    },
    # Each agent's load against capacity, kept per day for the Load report.
    "snapshot-agent-loads": {
        "task": "reports.pages.tasks.snapshot_agent_loads",
        "schedule": env_int("LOAD_SNAPSHOT_SECONDS", 3600),
    },
    "sweep-attachment-orphans": {
        "task": "tickets.tasks.sweep_attachment_orphans",
        "schedule": 3600,
    },
}
# Stored mail is processed in batches of at most this many messages and this
# many bytes of raw mail (a batch always takes at least one message).
INTAKE_BATCH_SIZE = env_int("INTAKE_BATCH_SIZE", 100)
INTAKE_BATCH_MAX_BYTES = env_int("INTAKE_BATCH_MAX_BYTES", 50 * 1024 * 1024)
# A stored mail whose reading stopped the worker this many times (killed for
# its memory, or stopped at the time limit) is quarantined, not read again.
INTAKE_MAX_ATTEMPTS = env_int("INTAKE_MAX_ATTEMPTS", 3)
if INTAKE_MAX_ATTEMPTS < 2:
    # One try is counted against every mail of a batch that a crash cut
    # short; a mail needs a second try, on its own, before it is judged.
    raise ImproperlyConfigured("INTAKE_MAX_ATTEMPTS must be at least 2.")
# How long a batch holds the mail it took before another worker may take it:
# longer than the batch task may run, so only a lost worker's mail is retaken.
INTAKE_CLAIM_SECONDS = env_int("INTAKE_CLAIM_SECONDS", 600)
# Outgoing mail still unsent after this long is handed over again by the
# sweep; longer than the longest retry backoff of send_outbound_email (600 s).
MAIL_SWEEP_GRACE_SECONDS = env_int("MAIL_SWEEP_GRACE_SECONDS", 900)
# Stored mail still waiting after this long is scheduled again by the sweep.
INTAKE_SWEEP_GRACE_SECONDS = env_int("INTAKE_SWEEP_GRACE_SECONDS", 120)
# How often open queue and board pages fetch fresh rows.
QUEUE_REFRESH_SECONDS = env_int("QUEUE_REFRESH_SECONDS", 10)
BOARD_REFRESH_SECONDS = env_int("BOARD_REFRESH_SECONDS", 15)
# How often an open ticket page asks whether anything changed (204 when not).
TICKET_REFRESH_SECONDS = env_int("TICKET_REFRESH_SECONDS", 10)
# An event whose handlers are this long overdue (its task, or its retry's,
# was lost) is handed over again by the sweep.
EVENT_SWEEP_GRACE_SECONDS = env_int("EVENT_SWEEP_GRACE_SECONDS", 60)
# A failing event handler is retried after EVENT_RETRY_BASE_SECONDS, doubling
# up to EVENT_RETRY_MAX_SECONDS, and abandoned (listed for admins on the
# Failed work page, "Run again") after EVENT_HANDLER_MAX_ATTEMPTS attempts.
EVENT_HANDLER_MAX_ATTEMPTS = env_int("EVENT_HANDLER_MAX_ATTEMPTS", 8)
EVENT_RETRY_BASE_SECONDS = env_int("EVENT_RETRY_BASE_SECONDS", 5)
EVENT_RETRY_MAX_SECONDS = env_int("EVENT_RETRY_MAX_SECONDS", 300)
# Soft time limits of the background tasks, in seconds: the task stops and
# keeps what it finished; 30 s later the worker process is replaced.
EVENT_TASK_TIME_LIMIT_SECONDS = env_int("EVENT_TASK_TIME_LIMIT_SECONDS", 60)
EVENT_BATCH_TIME_LIMIT_SECONDS = env_int("EVENT_BATCH_TIME_LIMIT_SECONDS", 300)
INTAKE_BATCH_TIME_LIMIT_SECONDS = env_int("INTAKE_BATCH_TIME_LIMIT_SECONDS", 240)
MAIL_SEND_TIME_LIMIT_SECONDS = env_int("MAIL_SEND_TIME_LIMIT_SECONDS", 60)
MAIL_BATCH_TIME_LIMIT_SECONDS = env_int("MAIL_BATCH_TIME_LIMIT_SECONDS", 600)
SWEEP_TIME_LIMIT_SECONDS = env_int("SWEEP_TIME_LIMIT_SECONDS", 60)
# Recomputing every open ticket of a tenant after an SLA settings edit.
SLA_REAPPLY_TIME_LIMIT_SECONDS = env_int("SLA_REAPPLY_TIME_LIMIT_SECONDS", 3600)
# Tickets waiting for room in a group are handed out again this often by
# the beat sweep, in case the event that freed the room was lost.
DISPATCH_SWEEP_SECONDS = env_int("DISPATCH_SWEEP_SECONDS", 60)
for _name in (
    "EVENT_HANDLER_MAX_ATTEMPTS",
    "EVENT_TASK_TIME_LIMIT_SECONDS",
    "EVENT_BATCH_TIME_LIMIT_SECONDS",
    "INTAKE_BATCH_TIME_LIMIT_SECONDS",
    "MAIL_SEND_TIME_LIMIT_SECONDS",
    "MAIL_BATCH_TIME_LIMIT_SECONDS",
    "SWEEP_TIME_LIMIT_SECONDS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
del _name
if 0 < INTAKE_CLAIM_SECONDS <= INTAKE_BATCH_TIME_LIMIT_SECONDS + 30:
    # The batch's mail must be claimed for longer than the batch can live,
    # or a second worker takes mail the first is still filing. (0, claims
    # that lapse at once, is for tests that kill workers on purpose.)
    raise ImproperlyConfigured(
        "INTAKE_CLAIM_SECONDS must be longer than INTAKE_BATCH_TIME_LIMIT_SECONDS + 30."
    )
if EVENT_RETRY_BASE_SECONDS < 0 or EVENT_RETRY_MAX_SECONDS < EVENT_RETRY_BASE_SECONDS:
    raise ImproperlyConfigured(
        "EVENT_RETRY_BASE_SECONDS must be 0 or more, and EVENT_RETRY_MAX_SECONDS at least as long."
    )

# The JSON API (tickets/api): API keys only, JSON only, every view states its
# own permissions (a view that forgets is closed, not open), a rate per key.
API_RATE = env_str("API_RATE", "600/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", API_RATE):
    raise ImproperlyConfigured(f"API_RATE={API_RATE!r} is not a rate such as 600/min or 10/s.")
# A larger request body gets 413 before it is parsed.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
if not 1024 <= API_MAX_BODY_BYTES <= DATA_UPLOAD_MAX_MEMORY_SIZE:
    raise ImproperlyConfigured(
        f"API_MAX_BODY_BYTES must be between 1024 and {DATA_UPLOAD_MAX_MEMORY_SIZE} "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE)."
    )
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["helpdesk.api.parsers.BoundedJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["helpdesk.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["helpdesk.api.permissions.DenyAll"],
    "DEFAULT_THROTTLE_CLASSES": ["helpdesk.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "helpdesk.api.errors.exception_handler",
    # A body that is not an object is a message for the request as a whole.
    "NON_FIELD_ERRORS_KEY": "detail",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Help desk API",
    "DESCRIPTION": (
        "Tickets and their messages for chat, phone and other systems. Authenticate with "
        "`Authorization: Bearer <key>`; a key belongs to one tenant (the `api_tenant` "
        "in every path) and has the read or the write scope."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The one PATCH requires `version`; a "Patched" component would mark every field optional.
    "COMPONENT_SPLIT_PATCH": False,
    "PATH_CONVERTER_OVERRIDES": {
        # helpdesk.parsing.ID_MAX: at most 18 ASCII digits.
        "ticket_number": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
    },
    # Several fields are called "type" and "channel": give each set of choices its own name.
    "ENUM_NAME_OVERRIDES": {
        "TicketTypeEnum": "tickets.models.Ticket.Type",
        "TicketChannelEnum": "tickets.models.Ticket.Channel",
        "ApiChannelEnum": "tickets.api.serializers.API_CHANNELS",
        "AuthorTypeEnum": "tickets.api.serializers.AUTHOR_TYPES",
    },
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
# Password reset mails asked for per address and per client address, in a
# sliding window; past either, the page answers as always and sends nothing.
PASSWORD_RESET_MAX_PER_ADDRESS = env_int("PASSWORD_RESET_MAX_PER_ADDRESS", 3)
PASSWORD_RESET_MAX_PER_IP = env_int("PASSWORD_RESET_MAX_PER_IP", 10)
PASSWORD_RESET_WINDOW_SECONDS = env_int("PASSWORD_RESET_WINDOW_SECONDS", 3600)
# Seconds to wait for the mail server, per connection and command.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "helpdesk@localhost")
# Loop guard: at most this much automatic mail (acknowledgements) to one
# address, and about one ticket, in any sliding window of the given length.
AUTO_MAIL_MAX_PER_ADDRESS = env_int("AUTO_MAIL_MAX_PER_ADDRESS", 5)
AUTO_MAIL_MAX_PER_TICKET = env_int("AUTO_MAIL_MAX_PER_TICKET", 3)
AUTO_MAIL_WINDOW_SECONDS = env_int("AUTO_MAIL_WINDOW_SECONDS", 3600)
# The right-hand side of the Message-IDs we make (use a domain you own).
EMAIL_MESSAGE_ID_DOMAIN = env_str("EMAIL_MESSAGE_ID_DOMAIN", "helpdesk.localhost")
# Agents get at most one notification digest per this many minutes; the
# digest sweep looks every NOTIFICATION_MAIL_SWEEP_SECONDS.
NOTIFICATION_MAIL_MINUTES = env_int("NOTIFICATION_MAIL_MINUTES", 5)
if NOTIFICATION_MAIL_MINUTES < 1:
    raise ImproperlyConfigured("NOTIFICATION_MAIL_MINUTES must be at least 1.")
# How often an open page asks for the bell's unread count.
NOTIFICATION_REFRESH_SECONDS = env_int("NOTIFICATION_REFRESH_SECONDS", 30)

# Production safety: on unless DEBUG, each can be turned off for a plain-HTTP bench.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# "None" lets the web form post from inside another site's iframe; browsers
# accept such a cookie only when it is also Secure (so over HTTPS).
CSRF_COOKIE_SAMESITE = env_str("CSRF_COOKIE_SAMESITE", "Lax")
if CSRF_COOKIE_SAMESITE not in ("Lax", "Strict", "None"):
    raise ImproperlyConfigured(
        f"CSRF_COOKIE_SAMESITE={CSRF_COOKIE_SAMESITE!r}: use Lax, Strict or None."
    )
if CSRF_COOKIE_SAMESITE == "None" and not CSRF_COOKIE_SECURE:
    raise ImproperlyConfigured("CSRF_COOKIE_SAMESITE=None needs CSRF_COOKIE_SECURE on.")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# How many reverse proxies of ours stand in front of the app. 0 (the
# default): X-Forwarded-Proto and X-Forwarded-For are ignored, since any
# client can send them. Set it when a proxy terminates TLS (helpdesk/proxies.py).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
if TRUSTED_PROXY_HOPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles from this site
# only, no inline script, no eval, no plugins; the one inline style (the
# tenant's brand colour) carries the response's nonce. Images may come from
# other sites only once an agent asks ("Show images"): the page holds them
# until then. Violations are reported to /csp-report/ and logged.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:", "https:", "http:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": ["/csp-report/"],
    }
}
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
