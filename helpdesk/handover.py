"""Committed rows handed to Celery tasks after commit: one task each, or,
inside `together()`, one task per tenant and chunk when the block ends.

A publish costs about as much as writing a ticket, so bulk work (a batch of
mail, a batch of event handlers) collects its rows and publishes them once.
Rows of a transaction that rolled back are never collected: callers hand
them over from `transaction.on_commit`. A hand-over never raises: the rows
are committed, so a broker that cannot be reached (Redis down) costs the
request nothing; the beat sweeps find the rows later and hand them over
again (`sweep_unprocessed_events`, `sweep_unsent_mail`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

from kombu.exceptions import OperationalError as BrokerUnreachable

from helpdesk.ratelimit import REDIS_ERRORS, redis_paused, redis_reachable, redis_unreachable

logger = logging.getLogger(__name__)


class HandOver:
    def __init__(
        self,
        what: str,
        publish_one: Callable[[int, int], None],
        publish_many: Callable[[int, list[int]], None],
        chunk: int,
    ):
        self.what = what
        self.publish_one = publish_one
        self.publish_many = publish_many
        self.chunk = chunk
        self._local = threading.local()
        self._failing = f"{what} not handed over (a sweep will)"

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
        if getattr(self._local, "collected", None) is not None:
            yield  # an outer block hands them over
            return
        self._local.collected = []
        try:
            yield
        finally:
            collected, self._local.collected = self._local.collected, None
            self._publish(collected)

    def _publish(self, rows: list[tuple[int, int]]) -> None:
        by_tenant: dict[int, list[int]] = {}
        for tenant_id, row_id in rows:
            by_tenant.setdefault(tenant_id, []).append(row_id)
        for tenant_id, ids in by_tenant.items():
            for start in range(0, len(ids), self.chunk):
                self._call(self.publish_many, tenant_id, ids[start : start + self.chunk])

    def _call(self, publish, *args) -> None:
        # The broker is the same Redis (CELERY_BROKER_URL = REDIS_URL).
        if redis_paused(self._failing):
            return
        try:
            publish(*args)
        except (BrokerUnreachable, *REDIS_ERRORS) as exc:
            # Broker down: logged once per outage, not once per request.
            redis_unreachable(self._failing, exc)
        except Exception:
            logger.exception("%s could not be handed over (a sweep will)", self.what)
        else:
            redis_reachable(self._failing)
