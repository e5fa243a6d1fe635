"""Celery tasks of the ticket app: thin, idempotent, arguments are ids.

Tasks on one tenant's data run on `TenantTask`: called with `tenant_id=`,
their body runs inside that tenant's context (one transaction). Beat tasks
read the control plane only (helpdesk.tenant_work) and fan out one task
per tenant that has work due, so one tenant's failure never stops another's.

Two tasks enter the tenant per item instead, because each item must commit
before something outside the database happens: `poll_imap_mailbox` (a
message is flagged seen on the server only once it is stored) and
`send_outbound_emails` (a mail handed to the server is marked sent at once,
so a worker lost mid-batch sends no mail twice but the one it was on).

Every task has a soft time limit (the task stops cleanly and keeps what it
finished) and a hard one 30 s later (the worker process is replaced).
"""

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone

from helpdesk.handover import publish_quietly
from helpdesk.models import Tenant
from helpdesk.notifications import DIGEST_WORK
from helpdesk.tenancy import TenantTask, current_tenant, tenant_context
from helpdesk.tenant_work import tenants_due

from . import events, imap, intake, mail, notifications, services, sweeps
from .events import events_handed_over_together
from .models import Mailbox, OutboundEmail

logger = logging.getLogger(__name__)

# A mail is tried this many times before it is left failed (shown to agents).
MAIL_SEND_ATTEMPTS = 7
# Tenants one beat fans out to; the rest are due at the next beat.
FAN_OUT_LIMIT = 1000


def _limits(soft_seconds: int) -> dict:
    # The soft limit raises in the task, which stops and keeps what it
    # finished; the hard limit ends the worker process if even that hangs.
    return {"soft_time_limit": soft_seconds, "time_limit": soft_seconds + 30}


def _fan_out(kind: str, grace: int, task, *, expires: int, **kwargs) -> int:
    """Publish `task` once for each tenant whose `kind` of work was due
    `grace` seconds ago or more; their marks are leased until then."""
    now = timezone.now()
    tenant_ids = tenants_due(
        kind=kind,
        before=now - timedelta(seconds=grace),
        lease_until=now,
        limit=FAN_OUT_LIMIT,
    )
    for position, tenant_id in enumerate(tenant_ids):
        try:
            task.apply_async(kwargs={"tenant_id": tenant_id, **kwargs}, expires=expires)
        except Exception:
            # The broker is down: the others would wait for it too. Their
            # marks are leased, so they fall due again after the grace.
            logger.exception("%s sweep: %s tenants not swept", kind, len(tenant_ids) - position)
            return position
    return len(tenant_ids)


# Events --------------------------------------------------------------------


@shared_task(base=TenantTask, bind=True, **_limits(settings.EVENT_TASK_TIME_LIMIT_SECONDS))
def process_event(self, *, tenant_id: int, event_id: int) -> str:
    """Run the unfinished handlers of one event whose time has come. A
    failed handler is recorded and retried later by a task of its own."""
    report = events.events_run(event_ids=[event_id])
    return f"{len(report.failures)} handler(s) failed" if report.failures else "processed"


@shared_task(base=TenantTask, bind=True, **_limits(settings.EVENT_BATCH_TIME_LIMIT_SECONDS))
def process_events(self, *, tenant_id: int, event_ids: list[int]) -> str:
    """The same for many events (handed over together by bulk work and the
    sweep); mail they cause goes out together after the commit."""
    with mail.sends_together():
        report = events.events_run(event_ids=event_ids)
    stopped = " (stopped by the time limit; the rest handed over)" if report.stopped else ""
    return f"{len(event_ids)} events, {len(report.failures)} handler(s) failed{stopped}"


@shared_task(base=TenantTask, bind=True, **_limits(settings.EVENT_BATCH_TIME_LIMIT_SECONDS))
def process_events_express(self, *, tenant_id: int, event_ids: list[int]) -> str:
    """Run the express handlers of these events (routing a new ticket), on
    the `timers` queue, ahead of their batch of every handler."""
    with mail.sends_together():
        report = events.events_run(event_ids=event_ids, express=True)
    return f"{len(event_ids)} events, {len(report.failures)} express handler(s) failed"


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_unprocessed_events() -> int:
    """Fan out: one sweep per tenant whose events may be overdue (their
    task was lost: broker down, worker killed). Returns the tenants."""
    grace = settings.EVENT_SWEEP_GRACE_SECONDS
    return _fan_out(events.EVENTS_WORK, grace, sweep_tenant_events, expires=max(60, grace))


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_events(self, *, tenant_id: int) -> int:
    """Hand the tenant's overdue events to their handlers again."""
    return events.events_sweep()


# Mail in -------------------------------------------------------------------


@shared_task(
    base=TenantTask,
    bind=True,
    atomic=False,
    **_limits(settings.INTAKE_BATCH_TIME_LIMIT_SECONDS),
)
def process_inbound_batch(self, *, tenant_id: int) -> int:
    """Turn a batch of the tenant's stored mail into tickets and follow-ups.

    Not one transaction: each step of the batch commits on its own
    (intake.inbound_process_pending), so a mail's try is recorded before it
    is read. A batch that leaves mail behind schedules the next one, which a
    second worker may take (the claims keep them apart).
    """
    intake.inbound_schedule_taken(tenant_id=tenant_id)
    try:
        with events_handed_over_together():
            done = intake.inbound_process_pending(
                tenant=current_tenant(), limit=settings.INTAKE_BATCH_SIZE
            )
    except SoftTimeLimitExceeded:
        # What was filed stays filed; the rest goes to the next batch.
        intake.inbound_schedule(tenant_id=tenant_id)
        raise
    return len(done)


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_attachment_orphans() -> int:
    """Remove stored attachment files that no message names (a refused or
    interrupted write), after ATTACHMENT_ORPHAN_GRACE_SECONDS."""
    return services.attachments_sweep_orphans()


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_stored_mail(grace_seconds: int | None = None) -> int:
    """Fan out: one sweep per tenant whose stored mail may wait longer than
    it should (by default INTAKE_SWEEP_GRACE_SECONDS). Returns the tenants."""
    if grace_seconds is None:
        grace_seconds = settings.INTAKE_SWEEP_GRACE_SECONDS
    return _fan_out(
        sweeps.STORED_MAIL_WORK,
        grace_seconds,
        sweep_tenant_stored_mail,
        expires=max(60, grace_seconds),
        grace_seconds=grace_seconds,
    )


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_stored_mail(self, *, tenant_id: int, grace_seconds: int) -> bool:
    """Schedule the tenant's stored mail if it has waited too long."""
    return sweeps.stored_mail_sweep(grace_seconds=grace_seconds)


@worker_ready.connect
def sweep_stored_mail_at_worker_start(sender, **kwargs) -> None:
    """A worker that files mail has started, or restarted after a crash: mail
    stored while none ran is filed now, not at the next sweep or the next
    mail. Its task may have died with the last worker (taken and never
    acknowledged, Redis holds it back for an hour), and while the schedule
    mark of that task lasts new mail publishes no other."""
    if "intake" in sender.app.amqp.queues.consume_from:
        # On the intake queue: not behind a backlog of events and outgoing mail.
        sweep_stored_mail.apply_async(kwargs={"grace_seconds": 0}, queue="intake")


# Mail out ------------------------------------------------------------------


def _send_failed(*, tenant_id: int, outbound_id: int, error: Exception) -> str:
    """Record a failed send; retry it alone with backoff after the commit,
    or leave it failed after the last attempt."""
    failures = (
        OutboundEmail.objects.filter(pk=outbound_id).values_list("attempts", flat=True).first()
    ) or 0
    final = failures + 1 >= MAIL_SEND_ATTEMPTS
    if not mail.outbound_failed(outbound_id=outbound_id, error=error, final=final):
        return "sent by another worker"
    if final:
        logger.error("mail %s not sent after %s attempts: %s", outbound_id, failures + 1, error)
        return "failed"
    countdown = min(600, 10 * 2**failures)
    transaction.on_commit(
        lambda: publish_quietly(
            "mails",
            send_outbound_email.apply_async,
            kwargs={"tenant_id": tenant_id, "outbound_id": outbound_id},
            countdown=countdown,
        ),
        robust=True,
    )
    return f"retry in {countdown} s"


@shared_task(base=TenantTask, bind=True, **_limits(settings.MAIL_SEND_TIME_LIMIT_SECONDS))
def send_outbound_email(self, *, tenant_id: int, outbound_id: int) -> str:
    """Send one recorded mail; on failure record why and retry with backoff."""
    try:
        with transaction.atomic():
            return mail.outbound_send(outbound_id=outbound_id)
    except Exception as exc:
        logger.warning("mail %s not sent: %s", outbound_id, exc)
        return _send_failed(tenant_id=tenant_id, outbound_id=outbound_id, error=exc)


@shared_task(**_limits(settings.MAIL_BATCH_TIME_LIMIT_SECONDS))
def send_outbound_emails(*, tenant_id: int, outbound_ids: list[int]) -> str:
    """Send many recorded mails over one connection to the mail server. One
    that fails (the server refuses it, or cannot be reached) is recorded and
    retried on its own with backoff (`send_outbound_email`).

    Not a TenantTask: each mail commits as soon as the server took it (one
    transaction per mail), so a worker lost mid-batch sends none twice."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        logger.info("mails of tenant %s not sent: the tenant is gone", tenant_id)
        return "tenant gone"
    connection = get_connection()  # opened by the first mail that needs it
    sent = 0
    try:
        for position, outbound_id in enumerate(outbound_ids):
            try:
                with tenant_context(tenant):
                    result = mail.outbound_send(outbound_id=outbound_id, connection=connection)
                sent += result == "sent"
            except Exception as exc:
                logger.warning("mail %s not sent: %s", outbound_id, exc)
                connection.close()  # the next mail starts a fresh connection
                with tenant_context(tenant):
                    retry = mail.outbound_failed(outbound_id=outbound_id, error=exc, final=False)
                if retry:
                    publish_quietly(
                        "mails",
                        send_outbound_email.apply_async,
                        kwargs={"tenant_id": tenant_id, "outbound_id": outbound_id},
                        countdown=10,
                    )
                if isinstance(exc, SoftTimeLimitExceeded):
                    rest = outbound_ids[position + 1 :]
                    if rest:
                        publish_quietly(
                            "mails", send_outbound_emails.delay, tenant_id=tenant_id,
                            outbound_ids=rest,
                        )  # fmt: skip
                    break
    finally:
        connection.close()
    return f"sent {sent} of {len(outbound_ids)}"


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_unsent_mail() -> int:
    """Fan out: one sweep per tenant whose recorded mail may be unsent long
    after it should have gone. Returns the tenants."""
    grace = settings.MAIL_SWEEP_GRACE_SECONDS
    return _fan_out(sweeps.UNSENT_MAIL_WORK, grace, sweep_tenant_unsent_mail, expires=60)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def sweep_tenant_unsent_mail(self, *, tenant_id: int) -> int:
    """Hand the tenant's overdue unsent mail over again."""
    return sweeps.unsent_mail_sweep()


# Notification digests --------------------------------------------------------


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def send_notification_digests() -> int:
    """Fan out: one task per tenant with notifications waiting for a mail
    digest whose time has come. Returns the tenants."""
    return _fan_out(DIGEST_WORK, 0, send_tenant_notification_digests, expires=60)


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def send_tenant_notification_digests(self, *, tenant_id: int) -> int:
    """Record (and send after commit) each due digest of the tenant; safe
    to run twice: each member's digest is claimed first."""
    return notifications.digests_send()


# IMAP ----------------------------------------------------------------------


@shared_task(**_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def poll_imap_mailboxes() -> int:
    """Fan out: one task per tenant with IMAP mailboxes, which schedules a
    poll of each. Returns the tenants."""
    return _fan_out(
        sweeps.IMAP_POLL_WORK, 0, poll_tenant_mailboxes, expires=settings.IMAP_POLL_SECONDS
    )


@shared_task(base=TenantTask, bind=True, **_limits(settings.SWEEP_TIME_LIMIT_SECONDS))
def poll_tenant_mailboxes(self, *, tenant_id: int) -> int:
    """Schedule a poll of each of the tenant's active IMAP mailboxes."""
    return sweeps.imap_polls_schedule()


@shared_task(
    # The soft limit stops a poll that a trickling server keeps alive (each
    # read within IMAP_TIMEOUT_SECONDS, the whole never ending); the hard
    # limit ends the worker process if even that does not return.
    **_limits(settings.IMAP_POLL_TIME_LIMIT_SECONDS)
)
def poll_imap_mailbox(*, tenant_id: int, mailbox_id: int) -> int:
    """Fetch one mailbox's unseen mail into the intake (each message stored,
    committed, then marked seen). The outcome is kept on the mailbox, so an
    admin sees a wrong password or an unreachable server. No retry: the next
    scheduled poll is the retry, and a second poll of a mailbox that is still
    being polled does nothing.

    Not a TenantTask: a TenantTask's body is one transaction, and a message
    must be committed before the server is told it was seen."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        logger.info("mailbox %s not polled: its tenant is gone", mailbox_id)
        return 0
    with imap.mailbox_poll_claim(mailbox_id) as claimed:
        if not claimed:
            return 0
        with tenant_context(tenant):
            mailbox = (
                Mailbox.objects.filter(pk=mailbox_id, is_active=True).exclude(imap_host="").first()
            )
        if mailbox is None:
            return 0  # removed or switched off since the poll was scheduled
        try:
            stored = imap.imap_poll(mailbox=mailbox)
        except Exception as exc:
            with tenant_context(tenant):
                services.mailbox_poll_recorded(mailbox=mailbox, error=imap.describe_error(exc))
            raise
        with tenant_context(tenant):
            services.mailbox_poll_recorded(mailbox=mailbox)
    return stored


# The webhooks', automations' and portal's tasks live beside their code; imported here
# so that the worker (autodiscovery reads tickets.tasks) knows them.
from .automations import tasks as _automation_tasks  # noqa: E402, F401
from .portal import tasks as _portal_tasks  # noqa: E402, F401
from .webhooks import tasks as _webhook_tasks  # noqa: E402, F401
