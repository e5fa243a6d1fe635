import threading
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connection

from dispatch.models import AgentStatus, GroupDispatch
from dispatch.services import drain
from helpdesk.models import Membership, SupportGroupMember
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, SupportGroupFactory
from tickets import events
from tickets.models import Event


def make_agents(tenant, n, *, availability="online", capacity=20, role="agent"):
    users = []
    for i in range(n):
        user = MembershipFactory(tenant=tenant, role=role, user__first_name=f"Agent{i}").user
        AgentStatus.objects.create(
            tenant=tenant, user=user, availability=availability, capacity=capacity
        )
        users.append(user)
    return users


def make_group(tenant, members, name=None, **dispatch):
    group = SupportGroupFactory(**({"name": name} if name else {}))
    for user in members:
        SupportGroupMember.objects.create(tenant=tenant, group=group, user=user)
    if dispatch:
        GroupDispatch.objects.create(tenant=tenant, group=group, **dispatch)
    return group


@contextmanager
def held_elsewhere(tenant, lock):
    """While the block runs, another transaction (a thread on a connection
    of its own) holds the rows that `lock()` selects FOR UPDATE."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with tenant_context(tenant):
                lock()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def handle(*tickets):
    """Run the committed-event handlers of these tickets' new events, then
    the group drains they asked for, as the workers would after the commit
    (here in the caller's transaction)."""
    ids = list(
        Event.objects.filter(ticket__in=tickets, processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    asked = []
    with mock.patch.object(
        drain, "group_drain_ask", side_effect=lambda *, group_id: asked.append(group_id)
    ):
        events.events_run(event_ids=ids)
    if asked:  # one task for the groups one transaction asked for
        drain.groups_drain_batches(group_ids=list(dict.fromkeys(asked)))


@pytest.fixture
def team(in_tenant):
    """Three online agents (capacity 20) in one automatic, least-loaded group."""
    agents = make_agents(in_tenant, 3)
    group = make_group(in_tenant, agents, name="Support")
    return group, agents


@pytest.fixture
def dispatcher_user(tenant):
    return MembershipFactory(tenant=tenant, role=Membership.Role.DISPATCHER).user
