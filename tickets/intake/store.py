"""Storing: the raw bytes are committed before anything reads them."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction

from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import current_tenant

from ..models import InboundEmail, Mailbox
from .parse import headline


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
    transaction.on_commit(lambda: inbound_schedule(tenant_id=inbound.tenant_id), robust=True)
    return inbound, True


def _scheduled_key(tenant_id: int) -> str:
    return f"intake:scheduled:{tenant_id}"


def inbound_schedule(*, tenant_id: int) -> None:
    """Make sure a batch task will process the tenant's stored mail.

    One waiting task drains everything stored before it starts, so a burst
    of mail costs one publish, not one per message. If Redis or the broker
    fails here, the beat sweep schedules the mail later.
    """
    from ..tasks import process_inbound_batch

    if redis_client().set(_scheduled_key(tenant_id), "1", nx=True, ex=60):
        process_inbound_batch.delay(tenant_id=tenant_id)


def inbound_schedule_taken(*, tenant_id: int) -> None:
    """A batch task started: mail stored from now on needs another one."""
    redis_client().delete(_scheduled_key(tenant_id))
