"""Which tenants have background work due: one `TenantWork` row per tenant
and kind on the control plane, so beat sweeps fan out to the tenants that
have work instead of entering every tenant every minute.

- Whoever records work (an event, a stored mail, a mail to send) calls
  `work_due(kind, at)` in the same transaction: the row's `due_at` becomes
  the earlier of the two.
- A tenant's sweep (a task of its own) calls `work_sweep_claim(kind)`, looks
  at the tenant's rows, and sets the next time with `work_sweep_next`
  (NULL when nothing is left).

The race that would lose work: a sweep finds nothing and clears the mark
while a transaction that recorded work (without lowering the mark, because
it was already due) has not committed yet; the sweep does not see that work
and the mark no longer points at it. So recorders hold a shared advisory
lock on (tenant, kind) until they commit, and a sweep takes the exclusive
one before it looks: it waits for the recorders in flight (and sees their
rows), and recorders that come later wait for it and lower the mark it set.
Shared locks do not wait for each other, so recording costs no contention,
and the row itself is only written when the mark moves earlier. A sweep
only ever *tries* the exclusive lock (a few times, briefly): a sweep queued
behind a long transaction would make every new recorder of the tenant queue
behind it; a sweep that cannot get in leaves the mark due for the next beat.
"""

from __future__ import annotations

import logging
import time
import zlib
from datetime import datetime, timedelta

from django.db import connection, transaction

from .models import TenantWork
from .tenancy import current_tenant

_TABLE = TenantWork._meta.db_table
# How long a sweep tries to get in while recorders are in flight before it
# gives up until the next beat (a recorder's transaction is a request or a
# task: usually short), and how often it tries.
SWEEP_CLAIM_SECONDS = 2.0
SWEEP_CLAIM_INTERVAL = 0.05


def _lock_key(tenant_id: int, kind: str) -> int:
    # One bigint: the kind's checksum in the high half, the tenant in the low.
    high = zlib.crc32(f"tenant-work:{kind}".encode()) & 0x7FFFFFFF
    return (high << 32) | (tenant_id & 0xFFFFFFFF)


def _require_transaction() -> None:
    # Transaction-level locks are released at once outside a transaction.
    if not connection.in_atomic_block:
        raise RuntimeError("Tenant work is recorded and swept inside a transaction.")


def work_due(*, kind: str, at: datetime, tenant_id: int | None = None) -> None:
    """Record that the current tenant (or `tenant_id`) has work of `kind`
    due at `at`, in the caller's transaction."""
    _require_transaction()
    tenant_id = tenant_id if tenant_id is not None else current_tenant().pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_lock_key(tenant_id, kind)])
        # A statement of its own, after the lock: it must see a sweep that
        # committed while this one waited. The row is written (and locked)
        # only when the mark moves earlier, which is rare.
        cursor.execute(
            f"WITH lowered AS ("
            f"  UPDATE {_TABLE} SET due_at = %(at)s"
            f"  WHERE tenant_id = %(tenant)s AND kind = %(kind)s"
            f"  AND (due_at IS NULL OR due_at > %(at)s) RETURNING 1"
            f") INSERT INTO {_TABLE} (tenant_id, kind, due_at)"
            f" SELECT %(tenant)s, %(kind)s, %(at)s WHERE NOT EXISTS (SELECT 1 FROM lowered)"
            f" ON CONFLICT (tenant_id, kind) DO NOTHING",
            {"tenant": tenant_id, "kind": kind, "at": at},
        )


def work_sweep_claim(*, kind: str) -> bool:
    """Before a tenant's sweep looks at its rows: wait until no transaction
    recording work of `kind` is in flight, and hold later ones off until the
    sweep's transaction ends. False when that does not happen soon (the
    mark stays due, and the next beat tries again)."""
    _require_transaction()
    key = _lock_key(current_tenant().pk, kind)
    deadline = time.monotonic() + SWEEP_CLAIM_SECONDS
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(SWEEP_CLAIM_INTERVAL)


def work_sweep_next(*, kind: str, at: datetime | None) -> None:
    """Holding the claim: the tenant's work of `kind` is next due at `at`
    (None: there is none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET due_at = %s WHERE tenant_id = %s AND kind = %s",
            [at, current_tenant().pk, kind],
        )


def tenants_due(*, kind: str, before: datetime, lease_until: datetime, limit: int) -> list[int]:
    """The tenants whose work of `kind` was due by `before`, earliest first;
    their marks move to `lease_until`, so that a beat does not fan out to a
    tenant again while its sweep is still queued (a sweep that ran sets the
    mark itself; one that was lost leaves the lease, which falls due later).
    Reads the control plane only."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET due_at = %(lease)s WHERE id IN ("
            f"  SELECT id FROM {_TABLE} WHERE kind = %(kind)s AND due_at <= %(before)s"
            f"  ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
            f") RETURNING tenant_id, due_at",
            {"kind": kind, "before": before, "lease": lease_until, "limit": limit},
        )
        return [tenant_id for tenant_id, _ in cursor.fetchall()]


def tenants_fan_out(
    *, kind: str, task, now: datetime, lease_seconds: int, limit: int, label: str
) -> int:
    """A beat's half of a sweep: one `task(tenant_id=…)` per tenant whose
    work of `kind` is due, each leased `lease_seconds` (the task expires
    then). Returns how many were queued; with the broker down, the rest's
    leased marks simply fall due again after the lease."""
    tenant_ids = tenants_due(
        kind=kind, before=now, lease_until=now + timedelta(seconds=lease_seconds), limit=limit
    )
    for position, tenant_id in enumerate(tenant_ids):
        try:
            task.apply_async(kwargs={"tenant_id": tenant_id}, expires=lease_seconds)
        except Exception:
            logging.getLogger(__name__).exception(
                "%s: %s tenants not swept", label, len(tenant_ids) - position
            )
            return position
    return len(tenant_ids)
