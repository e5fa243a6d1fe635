"""Storing: the raw bytes are committed before anything reads them."""

from __future__ import annotations

import hashlib
from contextlib import suppress

from django.db import IntegrityError, transaction

from helpdesk.ratelimit import (
    REDIS_ERRORS,
    redis_client,
    redis_paused,
    redis_reachable,
    redis_unreachable,
)
from helpdesk.tenancy import current_tenant

from ..models import InboundEmail, Mailbox
from ..sweeps import stored_mail_recorded
from .parse import headline

_NOT_SCHEDULED = "stored mail not scheduled (the intake sweep will)"


def inbound_store(*, mailbox: Mailbox, raw: bytes) -> tuple[InboundEmail, bool]:
    """Commit the raw bytes (once per distinct message); True when new.

    Processing is enqueued after the commit.
    """
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with transaction.atomic():
            inbound = InboundEmail.objects.create(
                tenant=current_tenant(),
                mailbox=mailbox,
                raw=raw,
                raw_sha256=digest,
                size=len(raw),
                **headline(raw),
            )
    except IntegrityError:
        # Delivered before: the first copy is (or will be) processed.
        return InboundEmail.objects.get(mailbox=mailbox, raw_sha256=digest), False
    stored_mail_recorded()  # the sweep's mark, should the publish below be lost
    transaction.on_commit(lambda: inbound_schedule(tenant_id=inbound.tenant_id), robust=True)
    return inbound, True


def _scheduled_key(tenant_id: int) -> str:
    return f"intake:scheduled:{tenant_id}"


def inbound_schedule(*, tenant_id: int) -> None:
    """Make sure a batch task will process the tenant's stored mail.

    One waiting task drains everything stored before it starts, so a burst
    of mail costs one publish, not one per message. Never raises: the mail
    is committed already, and if Redis or the broker fails here the beat
    sweep (`sweep_stored_mail`) schedules it later.
    """
    from ..tasks import process_inbound_batch

    key = _scheduled_key(tenant_id)
    if redis_paused(_NOT_SCHEDULED):
        return
    try:
        first = redis_client().set(key, "1", nx=True, ex=60)
    except REDIS_ERRORS as exc:
        redis_unreachable(_NOT_SCHEDULED, exc)
        return
    if not first:
        return  # a batch task is waiting already: it will take this mail
    try:
        process_inbound_batch.delay(tenant_id=tenant_id)
    except Exception as exc:  # the broker's errors are kombu's, not redis-py's
        redis_unreachable(_NOT_SCHEDULED, exc)
        # No task is waiting after all: let the next mail stored try again
        # (if Redis cannot be told, the flag expires within a minute).
        with suppress(*REDIS_ERRORS):
            redis_client().delete(key)
        return
    redis_reachable(_NOT_SCHEDULED)


def inbound_schedule_taken(*, tenant_id: int) -> None:
    """A batch task started: mail stored from now on needs another one.

    Filing needs Postgres only: if Redis cannot be told, the batch goes on
    and the flag expires by itself within a minute."""
    if redis_paused("intake schedule flag not cleared"):
        return
    try:
        redis_client().delete(_scheduled_key(tenant_id))
    except REDIS_ERRORS as exc:
        redis_unreachable("intake schedule flag not cleared", exc)
