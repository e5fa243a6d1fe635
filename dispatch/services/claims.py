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

Each claim runs in a savepoint: a refused claim is rolled back and leaves
no lock behind. A router therefore blocks on an agent's row only while it
holds no other agent's row, and the holder of a row never waits for
another's: no deadlock. Locks, in order: the ticket, then one agent's row.
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


def claim(candidate: Candidate, now, *, wait: bool) -> bool:
    """Take `candidate` for one ticket if nothing changed since their row was
    read; with `wait`, wait for a router that holds it (else skip it)."""
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
        " FOR UPDATE SKIP LOCKED)"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET routing_version = routing_version + 1,"
                f" last_assigned_at = %(now)s"
                f" WHERE tenant_id = %(tenant)s AND id = {row}"
                f" AND routing_version = %(version)s AND capacity = %(capacity)s"
                f" AND availability = 'online'",
                params,
            )
            if cursor.rowcount != 1:
                raise _Refused
    except _Refused:
        return False
    candidate.version += 1
    candidate.last_assigned_at = now
    return True


def version_bump(user_id: int, now=None) -> None:
    """An assignment made outside a claim (a dispatcher's, Get next): routers
    that read this agent's load before it read again."""
    values = {"routing_version": F("routing_version") + 1}
    if now is not None:
        values["last_assigned_at"] = now
    AgentStatus.objects.filter(user_id=user_id).update(**values)
