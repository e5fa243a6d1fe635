"""The weights and business hours settings, the leader's assignment page of
claim groups, and the review queue's live refresh."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from dispatch import selectors
from dispatch.models import DispatchSettings, RoutingDecision
from helpdesk.models import AuditEntry, Membership
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, TicketFactory
from tickets.models import Event

from .conftest import make_agents, make_group

pytestmark = pytest.mark.django_db


def weights_url(tenant):
    return reverse("dispatch:weights", args=[tenant.slug])


def _form(**changes):
    data = {"w_4": "3", "w_3": "2", "w_2": "1", "w_1": "1", "waiting_fraction": "0"}
    data |= {"away_after_minutes": "15", "business_days": ["1", "2", "3", "4", "5"]}
    data |= {"business_start": "08:00", "business_end": "17:30"}
    return data | changes


def test_admins_set_weights_by_priority_and_channel_and_business_hours(tenant, admin_user, login):
    client = login(admin_user)
    page = client.get(weights_url(tenant)).text
    assert 'name="w_4_email"' in page and 'name="w_4"' in page
    response = client.post(weights_url(tenant), _form(w_4="4", w_4_phone="5", w_1_email="0.5"))
    assert response.status_code == 302
    with tenant_context(tenant):
        config = DispatchSettings.objects.get()
        assert config.priority_weights["4"] == "4"
        assert config.channel_weights == {"phone": {"4": "5"}, "email": {"1": "0.5"}}
        assert config.business_days == [1, 2, 3, 4, 5]
        assert config.business_start.isoformat() == "08:00:00"
        # Loads use the channel's own weight where one is set.
        agent = make_agents(tenant, 1)[0]
        TicketFactory(subject="call", priority=4, channel="phone", assignee=agent)
        TicketFactory(subject="mail", priority=4, channel="email", assignee=agent)
        TicketFactory(subject="low", priority=1, channel="email", assignee=agent)
        assert selectors.agent_loads([agent.pk], config)[agent.pk] == Decimal("9.5")
        entry = AuditEntry.objects.get(action="routing.weights")
        assert entry.after["channel_weights"] == {"phone": {"4": "5"}, "email": {"1": "0.5"}}
    page = client.get(weights_url(tenant)).text
    assert 'name="w_4_phone" id="id_w_4_phone" value="5"' in page


def test_bad_weights_and_hours_are_refused_with_a_message_and_nothing_saved(
    tenant, admin_user, login
):
    client = login(admin_user)
    response = client.post(weights_url(tenant), _form(business_end="07:00"))
    assert response.status_code == 200
    assert "The closing time comes after the opening time." in response.text
    response = client.post(weights_url(tenant), _form(w_4="-1", w_3_web="abc"))
    assert response.status_code == 200 and "error-summary" in response.text
    response = client.post(weights_url(tenant), _form(w_4="0", w_3="0", w_2="0", w_1="0"))
    assert "At least one priority weighs more than 0" in response.text
    response = client.post(weights_url(tenant), _form(colour="red"))
    assert "Unknown fields: colour." in response.text
    with tenant_context(tenant):
        assert not DispatchSettings.objects.exists()
        assert not AuditEntry.objects.filter(action="routing.weights").exists()


def test_a_claim_groups_leader_assigns_its_tickets_in_one_click(tenant, login):
    with tenant_context(tenant):
        leader = MembershipFactory(tenant=tenant, role=Membership.Role.DISPATCHER).user
        ann, bob = make_agents(tenant, 2, capacity=1)
        group = make_group(tenant, [ann, bob], name="Claimers", mode="claim", leader=leader)
        urgent = TicketFactory(subject="Urgent one", group=group, priority=4)
        calm = TicketFactory(subject="Calm one", group=group, priority=1)
        TicketFactory(subject="Bob's already", group=group, assignee=bob)
    client = login(leader)
    page = client.get(reverse("dispatch:leader", args=[tenant.slug])).text
    assert page.index("Urgent one") < page.index("Calm one")
    assert "Bob's already" not in page
    assert f'id="give-{urgent.number}-{ann.pk}"' in page and "1/1" in page  # Bob's load
    assign = reverse("dispatch:leader_assign", args=[tenant.slug, urgent.number])
    response = client.post(assign, {"assignee": ann.pk}, follow=True)
    assert f"{urgent.reference} went to" in response.text
    with tenant_context(tenant):
        urgent.refresh_from_db()
        assert urgent.assignee == ann
        assert Event.objects.get(ticket=urgent, kind="assigned").actor_user == leader
        decision = RoutingDecision.objects.get(ticket=urgent)
        assert decision.trigger == "leader" and decision.winner == ann
    # Over capacity is allowed, and said.
    response = client.post(
        reverse("dispatch:leader_assign", args=[tenant.slug, calm.number]),
        {"assignee": bob.pk},
        follow=True,
    )
    assert "is now over capacity (2 of 1)" in response.text
    # Taken meanwhile: refused, nothing changes.
    response = client.post(assign, {"assignee": bob.pk}, follow=True)
    assert "was taken meanwhile" in response.text


def test_only_the_leader_assigns_and_only_to_members(tenant, login, agent, dispatcher):
    with tenant_context(tenant):
        leader = MembershipFactory(tenant=tenant, role=Membership.Role.DISPATCHER).user
        member = make_agents(tenant, 1)[0]
        group = make_group(tenant, [member], name="Claimers", mode="claim", leader=leader)
        ticket = TicketFactory(subject="Claim me", group=group)
    assign = reverse("dispatch:leader_assign", args=[tenant.slug, ticket.number])
    assert login(agent).post(assign, {"assignee": member.pk}).status_code == 403
    # Another dispatcher is not this group's leader either.
    assert login(dispatcher).post(assign, {"assignee": member.pk}).status_code == 403
    assert (
        "You lead no claim group"
        in login(agent).get(reverse("dispatch:leader", args=[tenant.slug])).text
    )
    response = login(leader).post(assign, {"assignee": agent.pk}, follow=True)
    assert "Choose a member of the group." in response.text
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.assignee is None


def test_the_review_queue_refreshes_its_rows_alone(tenant, dispatcher, login):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Review me")
        RoutingDecision.objects.create(
            tenant=tenant, ticket=ticket, trigger="created", outcome="review",
            explanation="Recommended", needs_review=True, created_at=timezone.now(),
        )  # fmt: skip
    client = login(dispatcher)
    url = reverse("dispatch:review", args=[tenant.slug])
    page = client.get(url).text
    assert 'id="review-rows" data-live' in page and "data-live-toggle" in page
    rows = client.get(url, HTTP_HX_REQUEST="true").text
    assert rows.lstrip().startswith('<div id="review-rows"') and "<html" not in rows
    assert "Review me" in rows


def test_a_claim_groups_leader_must_be_able_to_assign_others(tenant, admin_user, agent):
    from django.core.exceptions import ValidationError

    from dispatch.services import group_dispatch_save

    with tenant_context(tenant):
        group = make_group(tenant, [agent], name="Claimers")
        with pytest.raises(ValidationError, match="choose a dispatcher"):
            group_dispatch_save(actor=admin_user, group=group, mode="claim", leader=agent)
        group_dispatch_save(actor=admin_user, group=group, mode="automatic", leader=agent)


def test_the_leader_page_costs_as_many_queries_for_many_tickets_as_for_one(tenant, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_context(tenant):
        leader = MembershipFactory(tenant=tenant, role=Membership.Role.DISPATCHER).user
        members = make_agents(tenant, 2)
        groups = [
            make_group(tenant, members, name=f"Claim {n}", mode="claim", leader=leader)
            for n in range(2)
        ]
        TicketFactory(subject="First", group=groups[0])
    client = login(leader)
    url = reverse("dispatch:leader", args=[tenant.slug])
    client.get(url)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = count()
    with tenant_context(tenant):
        more = make_agents(tenant, 5)
        for group in groups:
            for user in more:
                from helpdesk.models import SupportGroupMember

                SupportGroupMember.objects.create(tenant=tenant, group=group, user=user)
            for n in range(15):
                TicketFactory(subject=f"More {n}", group=group)
    # Outside production's transaction: a savepoint pair and the tenant's
    # reset are three more statements than the page sends (test_query_budget).
    assert count() == few <= 12 + 3


def test_a_group_asks_for_acceptance_and_escalates_on_breach_from_its_page(
    tenant, admin_user, login
):
    from dispatch.models import GroupDispatch

    with tenant_context(tenant):
        l1 = make_group(tenant, [], name="L1")
        l2 = make_group(tenant, [], name="L2")
    client = login(admin_user)
    edit = reverse("dispatch:group_edit", args=[tenant.slug, l1.pk])
    page = client.get(edit).text
    assert "Accept within (minutes)" in page and "Escalate on SLA breach" in page
    response = client.post(
        edit, {"mode": "automatic", "strategy": "least_loaded", "escalate_on_breach": "on"}
    )
    assert "Choose a next tier for escalation on SLA breach." in response.text
    response = client.post(
        edit, {"mode": "automatic", "strategy": "least_loaded", "accept_minutes": "0"}
    )
    assert "Ensure this value is greater than or equal to 1." in response.text
    response = client.post(
        edit,
        {"mode": "automatic", "strategy": "least_loaded", "accept_minutes": "10",
         "escalate_on_breach": "on", "escalation_group": str(l2.pk)},
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_context(tenant):
        cfg = GroupDispatch.objects.get(group=l1)
        assert (cfg.accept_minutes, cfg.escalate_on_breach, cfg.escalation_group) == (10, True, l2)
    assert 'value="10"' in client.get(edit).text


@pytest.mark.parametrize(
    ("role_now", "still_leads"),
    [
        (Membership.Role.AGENT, False),
        (Membership.Role.DISPATCHER, True),
        (Membership.Role.MANAGER, True),
    ],
)
def test_a_leader_whose_role_is_lowered_to_agent_assigns_no_more(
    tenant, login, role_now, still_leads
):
    with tenant_context(tenant):
        membership = MembershipFactory(tenant=tenant, role=Membership.Role.DISPATCHER)
        leader = membership.user
        member = make_agents(tenant, 1)[0]
        group = make_group(tenant, [member], name="Claimers", mode="claim", leader=leader)
        ticket = TicketFactory(subject="Claim me", group=group)
        membership.role = role_now
        membership.save()
    client = login(leader)
    page = client.get(reverse("dispatch:leader", args=[tenant.slug])).text
    assert ("Claim me" in page) is still_leads
    assign = reverse("dispatch:leader_assign", args=[tenant.slug, ticket.number])
    response = client.post(assign, {"assignee": member.pk})
    assert response.status_code == (302 if still_leads else 403)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert (ticket.assignee == member) is still_leads
