import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context

from . import imap, intake, mail, services
from .events import events_handed_over_together, handlers_for
from .models import (
    Event,
    EventHandlerFailure,
    EventHandlerRun,
    InboundEmail,
    Mailbox,
    OutboundEmail,
)

logger = logging.getLogger(__name__)

MAX_HANDLER_ATTEMPTS = 8


@shared_task(bind=True, max_retries=5)
def process_event(self, *, tenant_id: int, event_id: int) -> str:
    """Run every subscribed handler that has not yet finished for one event."""
    tenant = Tenant.objects.get(pk=tenant_id)
    failed = _run_handlers(tenant, event_id)
    if failed is not None:
        raise self.retry(exc=failed, countdown=min(300, 5 * 2**self.request.retries))
    return "processed"


@shared_task(bind=True, max_retries=5)
def process_events(self, *, tenant_id: int, event_ids: list[int]) -> str:
    """The same for many events (handed over together by bulk work). A retry
    runs them all again; finished handlers and events are skipped."""
    tenant = Tenant.objects.get(pk=tenant_id)
    failed = None
    with mail.sends_together():
        for event_id in event_ids:
            failed = _run_handlers(tenant, event_id) or failed
    if failed is not None:
        raise self.retry(exc=failed, countdown=min(300, 5 * 2**self.request.retries))
    return f"processed {len(event_ids)}"


def _run_handlers(tenant: Tenant, event_id: int) -> Exception | None:
    """Run the handlers of one event that have not finished; the last failure, if any.

    Each handler runs in its own transaction together with its completion
    mark, so one failing handler does not undo another's work. The usual
    event has one handler left: then loading it, running the handler and
    marking the event processed share one transaction.
    """
    event, pending = None, []
    try:
        with tenant_context(tenant):
            event = Event.objects.filter(pk=event_id).first()
            if event is None or event.processed_at is not None:
                return None
            done = set(
                EventHandlerRun.objects.filter(event=event).values_list("handler", flat=True)
            )
            pending = [handler for handler in handlers_for(event) if handler.name not in done]
            if len(pending) == 1:
                failed = _run_handler(tenant, event, pending[0])
                if failed is None:
                    _mark_processed(event)
                return failed
    except Exception as exc:
        if len(pending) != 1:
            raise  # loading the event failed: the task fails and is retried
        # The commit itself failed (a deferred constraint, a lost connection):
        # recorded like a handler failure, so retries are counted and capped.
        logger.exception("event %s: handler results could not be committed", event_id)
        _record_failure(tenant, event, pending[0].name, exc)
        return exc
    failed = None
    for handler in pending:
        with tenant_context(tenant):
            failed = _run_handler(tenant, event, handler) or failed
    if failed is None:
        with tenant_context(tenant):
            _mark_processed(event)
    return failed


def _run_handler(tenant: Tenant, event: Event, handler) -> Exception | None:
    """One handler and its completion mark, in a savepoint of the caller's
    transaction; a failure is recorded instead."""
    try:
        with transaction.atomic():
            handler.func(event)
            EventHandlerRun.objects.create(tenant=tenant, event=event, handler=handler.name)
    except IntegrityError:
        return None  # another worker finished this handler first; its result stands
    except Exception as exc:
        logger.exception("handler %s failed on event %s", handler.name, event.pk)
        _record_failure(tenant, event, handler.name, exc)
        return exc
    return None


def _mark_processed(event: Event) -> None:
    EventHandlerFailure.objects.filter(event=event).delete()
    Event.objects.filter(pk=event.pk, processed_at__isnull=True).update(processed_at=timezone.now())


def _record_failure(tenant, event, handler_name: str, exc: Exception) -> None:
    with tenant_context(tenant):
        failure, _ = EventHandlerFailure.objects.get_or_create(
            tenant=tenant,
            event=event,
            handler=handler_name,
            defaults={"failed_at": timezone.now(), "last_error": ""},
        )
        failure.attempts += 1
        failure.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        failure.failed_at = timezone.now()
        failure.save()


@shared_task
def sweep_unprocessed_events(batch_size: int = 500) -> int:
    """Re-enqueue events whose handlers did not finish (broker down, worker killed)."""
    cutoff = timezone.now() - timedelta(seconds=settings.EVENT_SWEEP_GRACE_SECONDS)
    enqueued = 0
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            event_ids = list(
                Event.objects.filter(processed_at__isnull=True, created_at__lt=cutoff)
                .exclude(
                    Q(handler_failures__attempts__gte=MAX_HANDLER_ATTEMPTS),
                )
                .order_by("created_at")
                .values_list("pk", flat=True)[:batch_size]
            )
        for event_id in event_ids:
            process_event.delay(tenant_id=tenant.pk, event_id=event_id)
        enqueued += len(event_ids)
    return enqueued


@shared_task(bind=True, max_retries=5)
def process_inbound_batch(self, *, tenant_id: int) -> int:
    """Turn a batch of the tenant's stored mail into tickets and follow-ups.

    A full batch first schedules the next one, so a second worker can take
    it (SKIP LOCKED keeps them apart) while this one works.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    intake.inbound_schedule_taken(tenant_id=tenant_id)
    size = settings.INTAKE_BATCH_SIZE
    with events_handed_over_together():
        with tenant_context(tenant):
            if InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED)[size:].exists():
                intake.inbound_schedule(tenant_id=tenant_id)
            done = intake.inbound_process_pending(limit=size)
    return len(done)


@shared_task
def sweep_stored_mail(grace_seconds: int | None = None) -> int:
    """Schedule tenants whose stored mail waits longer than it should (the
    publish after storing failed, or the worker was lost); by default longer
    than INTAKE_SWEEP_GRACE_SECONDS."""
    if grace_seconds is None:
        grace_seconds = settings.INTAKE_SWEEP_GRACE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    scheduled = 0
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            waiting = InboundEmail.objects.filter(
                status=InboundEmail.Status.RECEIVED, received_at__lt=cutoff
            ).exists()
        if waiting:
            process_inbound_batch.delay(tenant_id=tenant.pk)
            scheduled += 1
    return scheduled


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


@shared_task(bind=True, max_retries=6)
def send_outbound_email(self, *, tenant_id: int, outbound_id: int) -> str:
    """Send one recorded mail; on failure record why and retry with backoff."""
    tenant = Tenant.objects.get(pk=tenant_id)
    try:
        with tenant_context(tenant):
            return mail.outbound_send(outbound_id=outbound_id)
    except Exception as exc:
        final = self.request.retries >= self.max_retries
        with tenant_context(tenant):
            if not mail.outbound_failed(outbound_id=outbound_id, error=exc, final=final):
                return "sent by another worker"
        if final:
            raise
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries)) from exc


@shared_task
def send_outbound_emails(*, tenant_id: int, outbound_ids: list[int]) -> str:
    """Send many recorded mails over one connection to the mail server. One
    that fails (the server refuses it, or cannot be reached) is recorded and
    retried on its own with backoff (`send_outbound_email`)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    connection = get_connection()  # opened by the first mail that needs it
    sent = 0
    try:
        for outbound_id in outbound_ids:
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
                    send_outbound_email.apply_async(
                        kwargs={"tenant_id": tenant_id, "outbound_id": outbound_id},
                        countdown=10,
                    )
    finally:
        connection.close()
    return f"sent {sent} of {len(outbound_ids)}"


@shared_task
def sweep_unsent_mail(batch_size: int = 500) -> int:
    """Hand over recorded mail that is still unsent long after it should have
    gone: the broker was down when it was handed over, or when its retry was.
    The grace outlasts the longest retry backoff; sending twice is prevented
    by the claim in `outbound_send`, not by the sweep."""
    cutoff = timezone.now() - timedelta(seconds=settings.MAIL_SWEEP_GRACE_SECONDS)
    scheduled = 0
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            ids = list(
                OutboundEmail.objects.filter(
                    status=OutboundEmail.Status.PENDING, created_at__lt=cutoff
                )
                .order_by("created_at")
                .values_list("pk", flat=True)[:batch_size]
            )
        if ids:
            send_outbound_emails.delay(tenant_id=tenant.pk, outbound_ids=ids)
        scheduled += len(ids)
    return scheduled


@shared_task
def poll_imap_mailboxes() -> int:
    """Fan out: one poll task per active mailbox with IMAP settings.

    A poll not started before the next fan-out is dropped (it expires), so
    a backlog on the imap queue cannot grow by one task per mailbox a minute.
    """
    enqueued = 0
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            ids = list(
                Mailbox.objects.filter(is_active=True)
                .exclude(imap_host="")
                .values_list("pk", flat=True)
            )
        for mailbox_id in ids:
            poll_imap_mailbox.apply_async(
                kwargs={"tenant_id": tenant.pk, "mailbox_id": mailbox_id},
                expires=settings.IMAP_POLL_SECONDS,
            )
        enqueued += len(ids)
    return enqueued


@shared_task(
    # The soft limit stops a poll that a trickling server keeps alive (each
    # read within IMAP_TIMEOUT_SECONDS, the whole never ending); the hard
    # limit ends the worker process if even that does not return.
    soft_time_limit=settings.IMAP_POLL_TIME_LIMIT_SECONDS,
    time_limit=settings.IMAP_POLL_TIME_LIMIT_SECONDS + 30,
)
def poll_imap_mailbox(*, tenant_id: int, mailbox_id: int) -> int:
    """Fetch one mailbox's unseen mail into the intake (each message stored,
    committed, then marked seen). The outcome is kept on the mailbox, so an
    admin sees a wrong password or an unreachable server. No retry: the next
    scheduled poll is the retry, and a second poll of a mailbox that is still
    being polled does nothing."""
    tenant = Tenant.objects.get(pk=tenant_id)
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
