"""Claiming an agent for a ticket without locking the whole group.

A router reads the members' status rows and loads in one statement, with no
locks, and ranks them. It then claims the best one with one conditional
UPDATE: the row must still carry the `routing_version` read with the load
(no other router gave that agent a ticket since), still be online, with the
same capacity. The UPDATE bumps the version in the router's transaction, so
until it commits other routers skip that agent (SKIP LOCKED) or, once it
has, find the version moved and read again. So an agent's load is never
judged from a stale read, and several routers of one group work side by
side, each on another agent.

A router's claim runs in a savepoint: a refused claim is rolled back and
leaves no lock behind. A drain's claims need none (`savepoint=False`, one
statement instead of three): it never waits, and its conditions are checked
inside the locking subquery, so a row that no longer matches is not locked.
Only a row changed by a commit in the instant between the statement's
snapshot and its lock can stay locked, refused, until the drain commits;
other routers treat it as claimed (they skip it).

A router blocks on an agent's row only while its transaction holds no
other agent's row (`rows_held`: an event batch runs many handlers in one
transaction, so an earlier handler's claims are still held), and the holder
of a row never waits for another's: no deadlock.
Locks, in order: the ticket, then one agent's row.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

from helpdesk.tenancy import current_tenant

from ..models import AgentStatus
from ..strategies import Candidate

_TABLE = AgentStatus._meta.db_table


class _Refused(Exception):
    """The claim did not hold: roll its savepoint back."""


_UNCHANGED = "routing_version = %(version)s AND capacity = %(capacity)s AND availability = 'online'"


def claim(candidate: Candidate, now, *, wait: bool, savepoint: bool = True) -> bool:
    """Take `candidate` for one ticket if nothing changed since their row was
    read; with `wait`, wait for a router that holds it (else skip it).
    `savepoint=False` (a drain's claims, never waiting): one statement."""
    params = {
        "tenant": current_tenant().pk,
        "id": candidate.status_id,
        "version": candidate.version,
        "capacity": candidate.capacity,
        "now": now,
    }
    row = (
        "%(id)s"
        if wait
        else f"(SELECT id FROM {_TABLE} WHERE tenant_id = %(tenant)s AND id = %(id)s"
        f" AND {_UNCHANGED} FOR UPDATE SKIP LOCKED)"
    )
    sql = (
        f"UPDATE {_TABLE} SET routing_version = routing_version + 1,"
        f" last_assigned_at = %(now)s"
        f" WHERE tenant_id = %(tenant)s AND id = {row} AND {_UNCHANGED}"
    )
    if not savepoint and not wait:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            taken = cursor.rowcount == 1
    else:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                if cursor.rowcount != 1:
                    raise _Refused
            taken = True
        except _Refused:
            taken = False
    if not taken:
        return False
    candidate.version += 1
    candidate.last_assigned_at = now
    return True


def rows_held() -> bool:
    """Whether this transaction holds (or has written) any agent's status
    row: then a claim must not wait for another's, whoever holds that one
    may be waiting for ours."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid()"
            " AND locktype = 'relation' AND relation = %s::regclass"
            " AND mode IN ('RowShareLock', 'RowExclusiveLock'))",
            [_TABLE],
        )
        return cursor.fetchone()[0]


def version_bump(user_id: int, now=None) -> None:
    """An assignment made outside a claim (a dispatcher's, Get next): routers
    that read this agent's load before it read again."""
    values = {"routing_version": F("routing_version") + 1}
    if now is not None:
        values["last_assigned_at"] = now
    AgentStatus.objects.filter(user_id=user_id).update(**values)
