import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from helpdesk.tenancy import tenant_context
from tests.factories import SupportGroupFactory, TicketFactory
from tickets import services
from tickets.models import Event, Ticket


@pytest.fixture
def board_tickets(tenant, agent):
    with tenant_context(tenant):
        new = TicketFactory(subject="Fresh one")
        pending = TicketFactory(subject="Waiting on customer")
        services.ticket_change_status(
            ticket=pending, actor=agent, status="pending", expected_version=None
        )
        closed = TicketFactory(subject="Long gone")
        services.ticket_change_status(
            ticket=closed, actor=agent, status="closed", expected_version=None
        )
    return new, pending, closed


def test_board_shows_columns_with_cards_and_counts(tenant, agent, board_tickets, login):
    response = login(agent).get(reverse("tickets:board", args=[tenant.slug]))
    columns = {c["status"]: c for c in response.context["columns"]}
    assert [t.subject for t in columns["new"]["cards"]] == ["Fresh one"]
    assert columns["pending"]["count"] == 1
    assert "Long gone" not in response.content.decode()


def test_board_filters_by_group(tenant, agent, login):
    with tenant_context(tenant):
        billing = SupportGroupFactory(name="Billing")
        TicketFactory(subject="Billing thing", group=billing)
        TicketFactory(subject="Other thing")
    page = login(agent).get(reverse("tickets:board", args=[tenant.slug]), {"group": billing.pk})
    assert "Billing thing" in page.content.decode() and "Other thing" not in page.content.decode()


def test_board_queries_do_not_grow_with_cards(tenant, agent, login, django_assert_max_num_queries):
    client = login(agent)
    url = reverse("tickets:board", args=[tenant.slug])
    with tenant_context(tenant):
        TicketFactory()
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    with tenant_context(tenant):
        for _ in range(25):
            TicketFactory(assignee=agent)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


def test_dropping_a_card_changes_the_status_through_the_service(
    tenant, agent, board_tickets, login
):
    new, *_ = board_tickets
    response = login(agent).post(
        reverse("tickets:move", args=[tenant.slug, new.number]),
        {"status": "pending", "version": new.version},
    )
    assert response.status_code == 200
    assert f'data-version="{new.version + 1}"' in response.content.decode()
    with tenant_context(tenant):
        new.refresh_from_db()
        assert new.status == "pending"
        assert Event.objects.filter(ticket=new, kind=Event.Kind.STATUS_CHANGED).count() == 1


def test_invalid_drop_is_refused_with_a_sentence(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory()
        ticket = services.ticket_change_status(
            ticket=ticket, actor=agent, status="resolved", expected_version=None
        )
    response = login(agent).post(
        reverse("tickets:move", args=[tenant.slug, ticket.number]),
        {"status": "on_hold", "version": ticket.version},
    )
    assert response.status_code == 400
    assert response.content.decode() == "A resolved ticket cannot become on hold."
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED


def test_drop_on_a_stale_card_is_refused(tenant, agent, dispatcher, board_tickets, login):
    new, *_ = board_tickets
    with tenant_context(tenant):
        services.ticket_update(ticket=new, actor=dispatcher, expected_version=None, priority=4)
    response = login(agent).post(
        reverse("tickets:move", args=[tenant.slug, new.number]),
        {"status": "open", "version": new.version},
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert "after the board was loaded, so it was not moved" in text
    assert "below" not in text  # the board has no ticket "below"


@pytest.mark.parametrize("version", ["²", "9" * 5000, "-1", "1e3", ""])
def test_a_malformed_version_is_refused_in_words(tenant, agent, board_tickets, login, version):
    new, *_ = board_tickets
    response = login(agent).post(
        reverse("tickets:move", args=[tenant.slug, new.number]),
        {"status": "open", "version": version},
    )
    assert response.status_code == 400
    assert "reload the page" in response.content.decode()


def test_each_column_shows_the_most_urgent_first(tenant, agent, login):
    """Priority first, then the nearest due time (none last), then the oldest."""
    now = timezone.now()
    with tenant_context(tenant):
        low = TicketFactory(subject="Low", priority=1)
        later = TicketFactory(subject="Due later", priority=2)
        no_due_old = TicketFactory(subject="No due time, older", priority=2)
        no_due_new = TicketFactory(subject="No due time, newer", priority=2)
        soon = TicketFactory(subject="Due soon", priority=2)
        urgent = TicketFactory(subject="Urgent", priority=4)
        Ticket.objects.filter(pk=later.pk).update(due_at=now + timedelta(hours=5))
        Ticket.objects.filter(pk=soon.pk).update(due_at=now + timedelta(hours=1))
        waiting = TicketFactory(subject="Waiting", priority=4)
        services.ticket_change_status(
            ticket=waiting, actor=agent, status="pending", expected_version=None
        )
    response = login(agent).get(reverse("tickets:board", args=[tenant.slug]))
    columns = {c["status"]: c for c in response.context["columns"]}
    assert [t.subject for t in columns["new"]["cards"]] == [
        t.subject for t in (urgent, soon, later, no_due_old, no_due_new, low)
    ]
    assert [t.subject for t in columns["pending"]["cards"]] == ["Waiting"]
    shown = re.findall(r'<p class="card-subject" dir="auto">([^<]+)</p>', response.content.decode())
    assert shown[:6] == ["Urgent", "Due soon", "Due later", *shown[3:5], "Low"]
