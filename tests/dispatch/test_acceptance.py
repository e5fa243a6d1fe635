"""Optional acceptance: an automatic assignee in such a group accepts,
declines with a reason, or lets the time run out; the last two send the
ticket to the next candidate, never back to them, once."""

import re
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from dispatch import selectors
from dispatch.models import Acceptance, RoutingDecision
from dispatch.services.acceptance import (
    acceptance_accept,
    acceptance_decline,
    acceptances_time_out,
)
from helpdesk.models import TenantWork
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets.models import Event

from .conftest import handle, make_agents, make_group

pytestmark = pytest.mark.django_db


def routed(**kw):
    """A new ticket routed, and its assignment's handlers run (as the worker would)."""
    ticket = TicketFactory(**kw)
    handle(ticket)
    handle(ticket)
    ticket.refresh_from_db()
    return ticket


@pytest.fixture
def accepting(in_tenant):
    agents = make_agents(in_tenant, 3, capacity=10)
    group = make_group(in_tenant, agents, name="Accepting", accept_minutes=10)
    return group, agents


def test_an_automatic_assignment_waits_until_the_assignee_accepts(accepting, in_tenant):
    group, agents = accepting
    ticket = routed(subject="Printer jam", group=group)
    first = ticket.assignee
    assert first in agents
    waiting = selectors.waiting_acceptance(ticket)
    assert waiting.user == first and waiting.state == "waiting"
    assert 9 <= (waiting.due_at - timezone.now()).total_seconds() / 60 <= 10
    # Queue rows and board cards show the badge; the tenant's sweep is due then.
    assert set(selectors.acceptance_badges([ticket])) == {ticket.pk}
    assert TenantWork.objects.get(tenant=in_tenant, kind="dispatch_acceptance").due_at
    other = next(a for a in agents if a != first)
    with pytest.raises(ValidationError, match="not for you"):
        acceptance_accept(ticket=ticket, user=other)
    acceptance_accept(ticket=ticket, user=first)
    assert Acceptance.objects.get(pk=waiting.pk).state == "accepted"
    assert selectors.acceptance_badges([ticket]) == {}
    event = Event.objects.get(ticket=ticket, kind="dispatch_accepted")
    assert event.actor_user == first and not event.is_public
    with pytest.raises(ValidationError, match="does not wait"):
        acceptance_accept(ticket=ticket, user=first)
    # Accepting changes nothing else: the ticket stays with them.
    ticket.refresh_from_db()
    assert ticket.assignee == first


def test_a_group_without_acceptance_and_a_manual_assignment_need_none(in_tenant, agent):
    agents = make_agents(in_tenant, 2)
    plain = make_group(in_tenant, agents, name="Plain")
    assert selectors.waiting_acceptance(routed(subject="x", group=plain)) is None
    accepting = make_group(in_tenant, agents, name="Accepting", accept_minutes=5)
    by_hand = TicketFactory(subject="by hand", group=accepting, assignee=agents[0])
    handle(by_hand)
    assert not Acceptance.objects.filter(ticket=by_hand).exists()


def test_declining_with_a_reason_sends_it_to_the_next_candidate_never_back(accepting):
    group, agents = accepting
    ticket = routed(subject="Printer jam", group=group)
    first = ticket.assignee
    with pytest.raises(ValidationError, match="Say why"):
        acceptance_decline(ticket=ticket, user=first, reason="   ")
    decision = acceptance_decline(ticket=ticket, user=first, reason="On leave from noon")
    ticket.refresh_from_db()
    second = ticket.assignee
    assert second in agents and second != first
    declined = Event.objects.get(ticket=ticket, kind="dispatch_declined")
    assert declined.actor_user == first and declined.reason == "On leave from noon"
    # The new decision says why the first agent was passed over.
    assert decision.trigger == "declined" and decision.winner == second
    filtered = {c["user_id"]: c["filtered"] for c in decision.candidates}
    assert filtered[first.pk] == "declined"
    # The next assignee is asked in turn; when all declined, it waits.
    handle(ticket)
    acceptance_decline(ticket=ticket, user=second, reason="Not my product")
    ticket.refresh_from_db()
    third = ticket.assignee
    assert third not in (first, second, None)
    handle(ticket)
    last = acceptance_decline(ticket=ticket, user=third, reason="Busy")
    ticket.refresh_from_db()
    assert ticket.assignee is None and last.outcome == "waiting"
    assert "declined" in last.explanation
    assert Event.objects.filter(ticket=ticket, kind="dispatch_declined").count() == 3


def test_a_wait_made_stale_by_hand_ends_without_passing_the_ticket_on(accepting, dispatcher):
    from tickets.services import ticket_update

    group, agents = accepting
    ticket = routed(subject="Printer jam", group=group)
    other = next(a for a in agents if a != ticket.assignee)
    ticket = ticket_update(ticket=ticket, actor=dispatcher, expected_version=None, assignee=other)
    handle(ticket)
    assert selectors.waiting_acceptance(ticket) is None
    assert selectors.acceptance_badges([ticket]) == {}
    Acceptance.objects.filter(ticket=ticket).update(due_at=timezone.now() - timedelta(seconds=1))
    acceptances_time_out()
    ticket.refresh_from_db()
    assert ticket.assignee == other
    assert Acceptance.objects.get(ticket=ticket).state == "cancelled"
    assert not Event.objects.filter(ticket=ticket, kind="dispatch_accept_timeout").exists()


def test_time_running_out_passes_it_on_once(accepting):
    group, agents = accepting
    ticket = routed(subject="Printer jam", group=group)
    first = ticket.assignee
    Acceptance.objects.filter(ticket=ticket).update(due_at=timezone.now() - timedelta(seconds=1))
    done, upcoming = acceptances_time_out()
    assert done == 1 and upcoming is None  # the next assignee's wait starts with its event
    ticket.refresh_from_db()
    assert ticket.assignee not in (first, None)
    timeout = Event.objects.get(ticket=ticket, kind="dispatch_accept_timeout")
    assert timeout.actor_system == "dispatch" and timeout.new_value["value"] == first.pk
    assert RoutingDecision.objects.filter(ticket=ticket, trigger="timed_out").count() == 1
    # The sweep again: nothing is due, nothing changes.
    handle(ticket)
    assert acceptances_time_out()[0] == 0
    assert Event.objects.filter(ticket=ticket, kind="dispatch_accept_timeout").count() == 1
    assert selectors.waiting_acceptance(ticket).user == ticket.assignee


def test_the_assignee_accepts_or_declines_on_the_ticket_page(accepting, login, tenant):
    group, agents = accepting
    ticket = routed(subject="Printer jam", group=group)
    first = ticket.assignee
    client = login(first)
    panel = client.get(reverse("dispatch:why", args=[tenant.slug, ticket.number])).text
    assert "Waiting for acceptance" in panel and 'id="accept-ticket"' in panel
    queue = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).text
    assert "Awaiting acceptance" in queue
    board = client.get(reverse("tickets:board", args=[tenant.slug])).text
    assert board.count("Awaiting acceptance") == 1
    decline = reverse("dispatch:decline", args=[tenant.slug, ticket.number])
    response = client.post(decline, {"reason": ""}, follow=True)
    assert "Say why you decline" in response.text
    response = client.post(decline, {"reason": "Wrong language"}, follow=True)
    assert f"You declined {ticket.reference}" in response.text
    ticket.refresh_from_db()
    assert ticket.assignee not in (first, None)
    # Another member sees the wait but no buttons.
    handle(ticket)
    panel = login(first).get(reverse("dispatch:why", args=[tenant.slug, ticket.number])).text
    assert "Waiting for acceptance" in panel and 'id="accept-ticket"' not in panel


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_time_an_acceptance_out_once(tenant):
    with mock.patch("helpdesk.handover.publish_quietly"), tenant_context(tenant):
        agents = make_agents(tenant, 3)
        group = make_group(tenant, agents, name="Accepting", accept_minutes=10)
        ticket = routed(subject="Printer jam", group=group, requester=ContactFactory())
        first = ticket.assignee
        Acceptance.objects.filter(ticket=ticket).update(
            due_at=timezone.now() - timedelta(seconds=1)
        )
    results, errors = [], []
    start = threading.Barrier(2)

    def sweep():
        try:
            start.wait()
            with tenant_context(tenant):
                results.append(acceptances_time_out()[0])
        except Exception as error:
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    # Patched once, here: patching one name in two threads at once can leave
    # the other thread's mock in place for every later test.
    with mock.patch("helpdesk.handover.publish_quietly"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert sorted(results) == [0, 1]
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.assignee not in (first, None)
        assert Event.objects.filter(ticket=ticket, kind="dispatch_accept_timeout").count() == 1
        assert RoutingDecision.objects.filter(ticket=ticket, trigger="timed_out").count() == 1
        assigned = Event.objects.filter(ticket=ticket, kind="assigned").count()
        assert assigned == 3  # to the first, taken from them, to the next: no more


def _plan(queryset) -> str:
    with connection.cursor() as cursor:
        # An empty table is cheapest to scan whole: ask what plan the index gives.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_badges_and_the_sweep_read_acceptances_by_tenant_first_indexes(in_tenant):
    badges = Acceptance.objects.filter(ticket_id__in=[1, 2, 3], state="waiting")
    plan = _plan(badges)
    # Either tenant-first index serves it (the waiting rows' partial one is the smaller).
    assert "Seq Scan" not in plan and re.search(
        rf"Index Cond: \(+tenant_id = {in_tenant.pk}\b", plan
    )
    assert "acceptance_ticket_idx" in plan or "acceptance_due_idx" in plan
    due = Acceptance.objects.filter(state="waiting", due_at__lte=timezone.now()).order_by(
        "due_at", "pk"
    )[:200]
    plan = _plan(due)
    assert "acceptance_due_idx" in plan
    assert re.search(rf"Index Cond: \(+tenant_id = {in_tenant.pk}\b", plan)
