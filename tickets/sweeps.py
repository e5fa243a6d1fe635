"""The per-tenant halves of the beat sweeps for mail, and the control-plane
marks they rely on (helpdesk.tenant_work): whoever records mail to file or
to send, or saves a mailbox to poll, marks the tenant; the beat fans out to
marked tenants only (tickets.tasks), and each tenant's sweep below hands its
overdue rows to their tasks and sets the mark's next time, or clears it.

Events have theirs in tickets.events (`events_sweep`)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.handover import publish_quietly
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due, work_sweep_claim, work_sweep_next

from .models import InboundEmail, Mailbox, OutboundEmail

STORED_MAIL_WORK = "stored_mail"
UNSENT_MAIL_WORK = "unsent_mail"
IMAP_POLL_WORK = "imap_poll"


def stored_mail_recorded() -> None:
    """Mail was stored for the current tenant (in the caller's transaction)."""
    work_due(kind=STORED_MAIL_WORK, at=timezone.now())


def outbound_recorded() -> None:
    """Mail to send was recorded for the current tenant."""
    work_due(kind=UNSENT_MAIL_WORK, at=timezone.now())


def mailbox_saved(mailbox: Mailbox) -> None:
    """A mailbox was made or changed: one with IMAP settings is polled from
    the next beat on (the tenant's poll fan-out clears the mark when it
    finds none left)."""
    if mailbox.is_active and mailbox.imap_host:
        work_due(kind=IMAP_POLL_WORK, at=timezone.now())


def _on_commit_publish(what: str, publish, **kwargs) -> None:
    transaction.on_commit(lambda: publish_quietly(what, publish, **kwargs), robust=True)


def stored_mail_sweep(*, grace_seconds: int) -> bool:
    """Schedule the current tenant's stored mail if some has waited longer
    than `grace_seconds` (its publish was lost, or the worker that took it
    died). True when a batch was scheduled."""
    if not work_sweep_claim(kind=STORED_MAIL_WORK):
        return False
    from .tasks import process_inbound_batch

    now = timezone.now()
    oldest = (
        InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    overdue = oldest is not None and oldest <= now - timedelta(seconds=grace_seconds)
    if overdue:
        tenant_id = current_tenant().pk
        _on_commit_publish("stored mail", process_inbound_batch.delay, tenant_id=tenant_id)
        # Looked at again a grace period from now, in case this batch is lost too.
        oldest = now
    work_sweep_next(kind=STORED_MAIL_WORK, at=oldest)
    return overdue


def unsent_mail_sweep(*, batch_size: int = 500) -> int:
    """Hand over the current tenant's recorded mail that is still unsent
    MAIL_SWEEP_GRACE_SECONDS after it was recorded (the broker was down when
    it, or its retry, was handed over). The grace outlasts the longest retry
    backoff; sending twice is prevented by the claim in `outbound_send`."""
    if not work_sweep_claim(kind=UNSENT_MAIL_WORK):
        return 0
    from .tasks import send_outbound_emails

    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.MAIL_SWEEP_GRACE_SECONDS)
    pending = OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING)
    ids = list(
        pending.filter(created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if ids:
        _on_commit_publish(
            "mails",
            send_outbound_emails.delay,
            tenant_id=current_tenant().pk,
            outbound_ids=ids,
        )
    if len(ids) == batch_size:
        next_at = cutoff  # more are waiting: due at the next beat
    else:
        next_at = (
            pending.exclude(pk__in=ids)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if ids:
            # Looked at again a grace period from now: sent by then, or lost again.
            next_at = now if next_at is None else min(next_at, now)
    work_sweep_next(kind=UNSENT_MAIL_WORK, at=next_at)
    return len(ids)


def imap_polls_schedule() -> int:
    """Schedule a poll of each of the current tenant's active IMAP mailboxes;
    a poll not started before the next beat is dropped (it expires), so a
    backlog on the imap queue cannot grow by one task per mailbox a minute."""
    if not work_sweep_claim(kind=IMAP_POLL_WORK):
        return 0
    from .tasks import poll_imap_mailbox

    ids = list(
        Mailbox.objects.filter(is_active=True).exclude(imap_host="").values_list("pk", flat=True)
    )
    tenant_id = current_tenant().pk
    for mailbox_id in ids:
        _on_commit_publish(
            "mailbox poll",
            poll_imap_mailbox.apply_async,
            kwargs={"tenant_id": tenant_id, "mailbox_id": mailbox_id},
            expires=settings.IMAP_POLL_SECONDS,
        )
    # Polled at every beat while it has IMAP mailboxes; forgotten when none is left.
    work_sweep_next(kind=IMAP_POLL_WORK, at=timezone.now() if ids else None)
    return len(ids)
