"""Committed rows handed to Celery tasks after commit: one task each, or,
inside `together()`, one task per tenant and chunk when the block ends.

A publish costs about as much as writing a ticket, so bulk work (a batch of
mail, a batch of event handlers) collects its rows and publishes them once.
Rows of a transaction that rolled back are never collected: callers hand
them over with `after_commit`, which waits for the commit. A hand-over never
raises: the rows are committed, so a broker that cannot be reached (Redis
down) costs the request nothing; the beat sweeps find the rows later and
hand them over again (`sweep_unprocessed_events`, `sweep_unsent_mail`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

from django.db import connection, transaction
from kombu.exceptions import OperationalError as BrokerUnreachable

from helpdesk.ratelimit import REDIS_ERRORS, redis_paused, redis_reachable, redis_unreachable

logger = logging.getLogger(__name__)


def publish_quietly(what: str, publish: Callable, *args, **kwargs) -> bool:
    """Call `publish` (a `.delay` or `.apply_async`); never raise. False when
    the broker could not be reached (logged once per outage): the caller's
    rows are committed, and a sweep hands them over later."""
    failing = f"{what} not handed over (a sweep will)"
    # The broker is the same Redis (CELERY_BROKER_URL = REDIS_URL).
    if redis_paused(failing):
        return False
    try:
        publish(*args, **kwargs)
    except (BrokerUnreachable, *REDIS_ERRORS) as exc:
        # Broker down: logged once per outage, not once per request.
        redis_unreachable(failing, exc)
        return False
    except Exception:
        logger.exception("%s could not be handed over (a sweep will)", what)
        return False
    redis_reachable(failing)
    return True


class HandOver:
    def __init__(
        self,
        what: str,
        publish_one: Callable[..., None],
        publish_many: Callable[[int, list[int]], None],
        chunk: int,
    ):
        self.what = what
        # publish_one(tenant_id, row_id, countdown=None)
        self.publish_one = publish_one
        self.publish_many = publish_many
        self.chunk = chunk
        self._local = threading.local()

    def after_commit(self, rows: list[tuple[int, int]]) -> None:
        """Hand over (tenant_id, row id) pairs once the caller's transaction
        commits: into the `together()` block open now, if there is one.
        Nothing is handed over if the transaction (or the savepoint the rows
        were written in) rolls back."""
        if not rows:
            return
        collected = getattr(self._local, "collected", None)
        if collected is not None:
            transaction.on_commit(lambda: collected.extend(rows))
        else:
            transaction.on_commit(lambda: self(rows), robust=True)

    def later(self, tenant_id: int, row_id: int, *, countdown: float) -> None:
        """Hand one row over after commit, to run `countdown` seconds later
        (a retry's backoff)."""
        transaction.on_commit(
            lambda: self._call(self.publish_one, tenant_id, row_id, countdown=countdown),
            robust=True,
        )

    def __call__(self, rows: list[tuple[int, int]]) -> None:
        """Hand over (tenant_id, row id) pairs that have just committed."""
        collected = getattr(self._local, "collected", None)
        if collected is not None:
            collected.extend(rows)
        elif len(rows) == 1:
            self._call(self.publish_one, *rows[0])
        else:
            self._publish(rows)

    @contextmanager
    def together(self):
        """Rows handed over within the block go out together when it ends;
        if it ends inside a transaction (a task's tenant context), when that
        transaction commits."""
        if getattr(self._local, "collected", None) is not None:
            yield  # an outer block hands them over
            return
        collected = self._local.collected = []
        try:
            yield
        finally:
            self._local.collected = None
            if connection.in_atomic_block:
                # Registered after the rows' own hooks, so it runs after them
                # (they fill `collected`); dropped with them on a rollback.
                transaction.on_commit(lambda: self._publish(collected), robust=True)
            else:
                self._publish(collected)

    def _publish(self, rows: list[tuple[int, int]]) -> None:
        by_tenant: dict[int, list[int]] = {}
        for tenant_id, row_id in rows:
            by_tenant.setdefault(tenant_id, []).append(row_id)
        for tenant_id, ids in by_tenant.items():
            for start in range(0, len(ids), self.chunk):
                self._call(self.publish_many, tenant_id, ids[start : start + self.chunk])

    def _call(self, publish, *args, **kwargs) -> None:
        publish_quietly(self.what, publish, *args, **kwargs)
