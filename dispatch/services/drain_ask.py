"""Asking for a group's drain: a new ticket's created event asks once its
transaction commits, and asks are coalesced per group while a drain is
pending (a Redis key), so a burst of new tickets goes out with one or a
few drains (`drain.groups_drain_batches`). The groups one transaction asks
for are drained by one task (`drain_groups`)."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.handover import publish_quietly
from helpdesk.ratelimit import (
    REDIS_ERRORS,
    redis_client,
    redis_paused,
    redis_reachable,
    redis_unreachable,
)
from helpdesk.tenancy import current_tenant, tenant_memo
from helpdesk.tenant_work import work_due

from .routing import WAITING_WORK

logger = logging.getLogger(__name__)

# A drain is enqueued to start at once: asks coalesce while it waits for a
# worker (the longer the queue, the more tickets one drain takes). No
# countdown: Celery holds a countdown task as an ETA task, and each one it
# holds lets the worker prefetch another task, which under load put the
# drains behind every event batch the worker had fetched meanwhile.
# How long an asked drain counts as pending when its task never starts (the
# task lost): then the next ask enqueues another. The beat sweep (marked by
# every ask) hands out what waited meanwhile.
DRAIN_PENDING_MS = 10_000
# A drain that found some of its group's tickets locked by another
# transaction, or every agent with room held by another router, drains the
# group again this much later (asked like any other drain).
DRAIN_LOCKED_RETRY_SECONDS = 2
_UNASKED = "group drain not asked (the waiting sweep drains the group)"


def _drain_key(tenant_id: int, group_id: int) -> str:
    return f"dispatch:drain:{tenant_id}:{group_id}"


def group_drain_ask(*, group_id: int) -> None:
    """A new ticket waits in `group_id` for its drain: ask for one when this
    transaction commits. However many tickets and groups a transaction asks
    for, it enqueues one drain task for them all (`_drains_publish`). The
    tenant's waiting sweep is marked due in this transaction, so a drain
    that is never asked (the worker killed after the commit) or never runs
    still comes."""
    memo = tenant_memo()
    if "dispatch.sweep_marked" not in memo:
        later = timezone.now() + timedelta(seconds=settings.DISPATCH_SWEEP_SECONDS)
        work_due(kind=WAITING_WORK, at=later)
        memo["dispatch.sweep_marked"] = True
    # The groups asked in this transaction, published by the first of its
    # callbacks to run: each ask adds one, so an ask in a savepoint rolled
    # back meanwhile loses none of the others (at worst a group is drained
    # that has nothing new).
    asked = memo.setdefault("dispatch.drains_asked", {})
    asked[group_id] = None
    tenant_id = current_tenant().pk

    def ask() -> None:
        groups = list(asked)
        asked.clear()
        if groups:
            _drains_publish(tenant_id, groups)

    transaction.on_commit(ask, robust=True)


def _drains_publish(tenant_id: int, group_ids: list[int], countdown: float | None = None) -> None:
    """Enqueue one drain task for the groups (`countdown` seconds later, if
    given) that have none pending already (a Redis key per group, SET NX,
    deleted when its task starts: a drain that has not started yet will see
    every ticket committed before this ask). With Redis or the broker down
    nothing is lost: the tickets wait in their groups and the tenant's
    waiting sweep comes soon."""
    from ..tasks import drain_groups

    if not group_ids:
        return
    if redis_paused(_UNASKED):
        _sweep_soon(tenant_id)
        return
    try:
        keys = {group_id: _drain_key(tenant_id, group_id) for group_id in group_ids}
        pipe = redis_client().pipeline(transaction=False)
        for key in keys.values():
            pipe.set(key, 1, nx=True, px=DRAIN_PENDING_MS)
        fresh = [
            group_id for group_id, set_now in zip(keys, pipe.execute(), strict=True) if set_now
        ]
        redis_reachable(_UNASKED)
    except REDIS_ERRORS as exc:
        redis_unreachable(_UNASKED, exc)
        _sweep_soon(tenant_id)
        return
    if not fresh:
        return  # every one pending: those drains will take these tickets
    kwargs = {"tenant_id": tenant_id, "group_ids": fresh}
    if publish_quietly(_UNASKED, drain_groups.apply_async, kwargs=kwargs, countdown=countdown):
        return
    with contextlib.suppress(*REDIS_ERRORS):  # else they expire
        redis_client().delete(*(keys[group_id] for group_id in fresh))  # the next ask tries again
    _sweep_soon(tenant_id)


def _sweep_soon(tenant_id: int) -> None:
    """No drain could be asked: the tenant's waiting sweep comes at its next beat."""
    try:
        with transaction.atomic():
            work_due(kind=WAITING_WORK, at=timezone.now(), tenant_id=tenant_id)
    except Exception:
        # The transaction that asked marked the sweep for later already.
        logger.exception("tenant %s: waiting sweep not moved earlier", tenant_id)


def group_drains_started(*, tenant_id: int, group_ids: list[int]) -> None:
    """A drain task starts: asks from now on enqueue a drain of their own
    (their tickets may commit after this drain has looked)."""
    if not group_ids:
        return
    try:
        redis_client().delete(*(_drain_key(tenant_id, group_id) for group_id in group_ids))
    except REDIS_ERRORS as exc:
        redis_unreachable(_UNASKED, exc)  # the keys expire after DRAIN_PENDING_MS
