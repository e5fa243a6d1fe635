from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Membership, SupportGroupMember
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, SupportGroupFactory, TicketFactory
from tickets import queues, services
from tickets.models import Event, SavedView, Ticket


def _numbers(response):
    return [
        int(n) for n in response.context["rows"] and [t.number for t in response.context["rows"]]
    ]


@pytest.fixture
def my_tickets(tenant, agent):
    """Tickets assigned to `agent` in a known urgency order."""
    now = timezone.now()
    with tenant_context(tenant):
        normal_old = TicketFactory(assignee=agent, priority=2)
        urgent = TicketFactory(assignee=agent, priority=4)
        normal_due_soon = TicketFactory(assignee=agent, priority=2)
        Ticket.objects.filter(pk=normal_due_soon.pk).update(due_at=now + timedelta(hours=1))
        low = TicketFactory(assignee=agent, priority=1)
        resolved = TicketFactory(assignee=agent, priority=4)
        services.ticket_change_status(
            ticket=resolved, actor=agent, status="resolved", expected_version=None
        )
        TicketFactory()  # unassigned, not mine
    return [urgent, normal_due_soon, normal_old, low, resolved]


def test_my_tickets_shows_open_ones_most_urgent_first(tenant, agent, my_tickets, login):
    urgent, due_soon, normal_old, low, resolved = my_tickets
    response = login(agent).get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert _numbers(response) == [urgent.number, due_soon.number, normal_old.number, low.number]
    assert response.context["counts"]["mine"] == 4
    assert response.context["counts"]["unassigned"] == 1


def test_tickets_waiting_on_someone_else_come_after_those_an_agent_can_act_on(tenant, agent, login):
    with tenant_context(tenant):
        waiting = TicketFactory(assignee=agent, priority=3)
        services.ticket_change_status(
            ticket=waiting, actor=agent, status="pending", expected_version=None
        )
        on_hold = TicketFactory(assignee=agent, priority=3)
        services.ticket_change_status(
            ticket=on_hold, actor=agent, status="on_hold", expected_version=None
        )
        actionable = TicketFactory(assignee=agent, priority=3)  # newer than both
        lower = TicketFactory(assignee=agent, priority=2)
    response = login(agent).get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    # Priority first, then what can be worked on now; waiting ones before lower priority.
    assert _numbers(response) == [actionable.number, waiting.number, on_hold.number, lower.number]
    with tenant_context(tenant):
        membership = Membership.objects.get(tenant=tenant, user=agent)
        queue = queues.queue_get(membership=membership, slug="mine")
        seen, cursor = [], None
        while True:
            rows, cursor = queues.queue_page(queue=queue, cursor=cursor, limit=1)
            seen += [t.number for t in rows]
            if cursor is None:
                break
    assert seen == _numbers(response)


def test_keyset_pages_cover_every_ticket_once(tenant, agent, my_tickets):
    with tenant_context(tenant):
        membership = Membership.objects.get(tenant=tenant, user=agent)
        queue = queues.queue_get(membership=membership, slug="mine")
        seen, cursor = [], None
        while True:
            rows, cursor = queues.queue_page(queue=queue, cursor=cursor, limit=2)
            seen += [t.number for t in rows]
            if cursor is None:
                break
    assert seen == [t.number for t in my_tickets[:4]]


@pytest.mark.parametrize("sort", sorted(queues.SORTS))
def test_every_sort_pages_without_gaps_or_repeats(tenant, dispatcher, sort):
    with tenant_context(tenant):
        for priority in (1, 2, 2, 3, 4, 4, 2):
            TicketFactory(priority=priority)
        membership = Membership.objects.get(tenant=tenant, user=dispatcher)
        queue = queues.queue_get(membership=membership, slug="all")
        everything, _ = queues.queue_page(queue=queue, sort=sort, limit=100)
        paged, cursor = [], None
        while True:
            rows, cursor = queues.queue_page(queue=queue, sort=sort, cursor=cursor, limit=3)
            paged += rows
            if cursor is None:
                break
    assert [t.pk for t in paged] == [t.pk for t in everything]
    assert len(paged) == 7


def test_filters_narrow_the_queue_and_status_widens_it(tenant, agent, my_tickets, login):
    urgent, *_, resolved = my_tickets
    client = login(agent)
    url = reverse("tickets:queue", args=[tenant.slug, "mine"])
    assert _numbers(client.get(url, {"priority": "4"})) == [urgent.number]
    assert _numbers(client.get(url, {"status": "resolved"})) == [resolved.number]


def test_bad_filter_values_are_explained_not_fatal(tenant, agent, my_tickets, login):
    response = login(agent).get(
        reverse("tickets:queue", args=[tenant.slug, "mine"]),
        {"priority": "9", "created_from": "not-a-date", "after": "garbage"},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert "Enter a valid date" in response.content.decode()


def test_queue_page_query_count_is_constant(
    tenant, dispatcher, login, django_assert_max_num_queries
):
    client = login(dispatcher)
    url = reverse("tickets:queue", args=[tenant.slug, "all"])
    with tenant_context(tenant):
        for _ in range(3):
            TicketFactory(tags=["vip"])
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    with tenant_context(tenant):
        for _ in range(30):
            TicketFactory(tags=["vip"], assignee=dispatcher)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(response.context["rows"]) == 33


def test_live_refresh_returns_rows_and_counts_and_marks_new_tickets(
    tenant, agent, my_tickets, login
):
    client = login(agent)
    url = reverse("tickets:queue", args=[tenant.slug, "unassigned"])
    first = client.get(url)
    seen = first.context["seen"]
    with tenant_context(tenant):
        fresh = TicketFactory(subject="Brand new problem")
    response = client.get(url, {"seen": seen}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page  # a fragment, not the whole page
    assert 'id="queue-rows"' in page and 'id="queue-nav"' in page
    assert f'class="is-new" data-number="{fresh.number}"' in page


def test_agents_do_not_get_the_all_queue(tenant, agent, login):
    response = login(agent).get(reverse("tickets:queue", args=[tenant.slug, "all"]))
    assert response.status_code == 404


def test_group_queue_lists_the_groups_tickets_for_members(tenant, agent, login):
    with tenant_context(tenant):
        billing = SupportGroupFactory(name="Billing")
        SupportGroupMember.objects.create(tenant=tenant, group=billing, user=agent)
        in_group = TicketFactory(group=billing)
        TicketFactory()
    response = login(agent).get(reverse("tickets:queue", args=[tenant.slug, f"group-{billing.pk}"]))
    assert _numbers(response) == [in_group.number]
    assert response.context["counts"][f"group-{billing.pk}"] == 1


def test_bulk_action_changes_each_ticket_through_the_service(tenant, dispatcher, agent, login):
    with tenant_context(tenant):
        tickets = [TicketFactory() for _ in range(3)]
        closed = TicketFactory()
        services.ticket_change_status(
            ticket=closed, actor=agent, status="closed", expected_version=None
        )
    response = login(dispatcher).post(
        reverse("tickets:queue_bulk", args=[tenant.slug, "all"]),
        {
            "numbers": [t.number for t in tickets] + [closed.number],
            "action": "assign",
            "assignee": agent.pk,
        },
        follow=True,
    )
    page = response.content.decode()
    assert "3 tickets changed." in page
    assert f"{closed.reference}: A closed ticket cannot be edited" in page
    with tenant_context(tenant):
        assert set(Ticket.objects.filter(assignee=agent).values_list("number", flat=True)) == {
            t.number for t in tickets
        }
        assert Event.objects.filter(kind=Event.Kind.ASSIGNED, actor_user=dispatcher).count() == 3


def test_bulk_apply_with_nothing_ticked_says_so(tenant, agent, login):
    url = reverse("tickets:queue_bulk", args=[tenant.slug, "mine"])
    response = login(agent).post(url, {"action": "status", "status": "open"}, follow=True)
    assert "Nothing changed: tick the tickets to change first." in response.content.decode()


def test_bulk_add_tag_keeps_existing_tags(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory(tags=["vip"])
    login(agent).post(
        reverse("tickets:queue_bulk", args=[tenant.slug, "unassigned"]),
        {"numbers": [ticket.number], "action": "tag", "tag": "Outage"},
    )
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.tags == ["vip", "outage"]


def test_bulk_action_without_a_value_changes_nothing(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory()
    response = login(agent).post(
        reverse("tickets:queue_bulk", args=[tenant.slug, "unassigned"]),
        {"numbers": [ticket.number], "action": "status"},
        follow=True,
    )
    assert "Nothing changed" in response.content.decode()
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.version == 1


def test_bulk_action_cannot_reach_another_tenants_tickets(tenant, other_tenant, agent, login):
    with tenant_context(other_tenant):
        theirs = TicketFactory()
    login(agent).post(
        reverse("tickets:queue_bulk", args=[tenant.slug, "unassigned"]),
        {"numbers": [theirs.number], "action": "priority", "priority": "4"},
    )
    with tenant_context(other_tenant):
        theirs.refresh_from_db()
    assert theirs.priority == 2


def test_saved_views_are_private_unless_a_manager_shares_them(tenant, agent, login):
    with tenant_context(tenant):
        billing = SupportGroupFactory(name="Billing")
        SupportGroupMember.objects.create(tenant=tenant, group=billing, user=agent)
    manager = MembershipFactory(tenant=tenant, role=Membership.Role.MANAGER).user
    colleague = MembershipFactory(tenant=tenant, role=Membership.Role.AGENT).user
    url = reverse("tickets:saved_view_create", args=[tenant.slug])

    refused = login(agent).post(
        url, {"name": "Mine urgent", "queue": "mine", "query": "priority=4", "shared_with": billing.pk},
        follow=True,
    )  # fmt: skip
    assert "Only managers share views" in refused.content.decode()
    login(agent).post(url, {"name": "Mine urgent", "queue": "mine", "query": "priority=4"})
    login(manager).post(
        url, {"name": "Billing VIPs", "queue": "unassigned", "query": "tag=vip", "shared_with": billing.pk}
    )  # fmt: skip

    queue_url = reverse("tickets:queue", args=[tenant.slug, "mine"])
    names = {v.name for v in login(agent).get(queue_url).context["saved_views"]}
    assert names == {"Mine urgent", "Billing VIPs"}
    names = {v.name for v in login(colleague).get(queue_url).context["saved_views"]}
    assert names == set()

    with tenant_context(tenant):
        shared = SavedView.objects.get(name="Billing VIPs")
    response = login(agent).post(
        reverse("tickets:saved_view_delete", args=[tenant.slug, shared.pk])
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("role", "queue"),
    [("agent", "mine"), ("dispatcher", "unassigned"), ("manager", "all"), ("admin", "all")],
)
def test_each_role_lands_where_its_work_is(tenant, login, role, queue):
    user = MembershipFactory(tenant=tenant, role=role).user
    client = login(user)
    # A manager's /<tenant>/ is the reports dashboard (tests/reports).
    urls = [reverse("tickets:queues", args=[tenant.slug])]
    if role != "manager":
        urls.append(f"/{tenant.slug}/")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == reverse("tickets:queue", args=[tenant.slug, queue])
