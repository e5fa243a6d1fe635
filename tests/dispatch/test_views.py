"""Dispatch's pages as people use them: the rule editor (add, refuse bad
input, reorder, disable, delete), the tester, a group's settings, the
agent's page (availability, Get next), the review queue, escalation and
the "Why this agent" panel on the ticket page."""

import pytest
from django.urls import reverse

from dispatch.models import AgentStatus, GroupDispatch, RoutingDecision, RoutingRule
from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory

from .conftest import handle, make_agents, make_group

pytestmark = pytest.mark.django_db


def url(name, tenant, *args):
    return reverse(f"dispatch:{name}", args=[tenant.slug, *args])


@pytest.fixture
def billing(tenant):
    with tenant_context(tenant):
        agents = make_agents(tenant, 2)
        return make_group(tenant, agents, name="Billing")


def test_an_admin_adds_a_rule_and_it_routes_the_next_ticket(tenant, admin_user, login, billing):
    client = login(admin_user)
    response = client.post(
        url("rule_new", tenant),
        {"name": "Billing words", "match": "all", "is_enabled": "on",
         "cond_text": "invoice, refund", "cond_channel": ["email", "web"],
         "act_group": str(billing.pk), "act_add_tags": "billing"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(url("rules", tenant))
    assert (
        "Billing words" in page.text
        and "Subject or message contains “invoice” or “refund”" in page.text
    )  # noqa: E501
    with tenant_context(tenant):
        rule = RoutingRule.objects.get()
        assert rule.conditions == [
            {"field": "text", "value": ["invoice", "refund"]},
            {"field": "channel", "value": ["email", "web"]},
        ]
        assert rule.actions == {"group": billing.pk, "add_tags": ["billing"]}
        assert AuditEntry.objects.filter(action="routing.rule_add").exists()
        ticket = TicketFactory(subject="Where is my invoice?")
        handle(ticket)
        ticket.refresh_from_db()
        assert ticket.group == billing and ticket.tags == ["billing"]


def test_a_rule_without_conditions_or_with_unknown_fields_is_refused_and_nothing_is_lost(
    tenant, admin_user, login, billing
):
    client = login(admin_user)
    response = client.post(
        url("rule_new", tenant), {"name": "Empty", "match": "all", "act_group": str(billing.pk)}
    )  # noqa: E501
    assert response.status_code == 200
    assert "Give the rule at least one condition" in response.text
    assert 'value="Empty"' in response.text  # what was typed is still there
    response = client.post(
        url("rule_new", tenant),
        {
            "name": "Sneaky",
            "match": "all",
            "cond_text": "x",
            "act_group": str(billing.pk),
            "act_delete_everything": "1",
        },  # noqa: E501
    )
    assert "Unknown fields: act_delete_everything." in response.text
    response = client.post(
        url("rule_new", tenant),
        {"name": "Ghost", "match": "all", "cond_text": "x", "act_group": "999999"},  # noqa: E501
    )
    assert response.status_code == 200 and "Select a valid choice" in response.text
    with tenant_context(tenant):
        assert not RoutingRule.objects.exists()


def test_an_action_pointing_at_a_deleted_group_is_named_when_the_rule_is_saved_again(
    tenant, admin_user, login, billing
):
    from dispatch import services

    with tenant_context(tenant):
        doomed = make_group(tenant, [], name="Doomed")
        rule = RoutingRule.objects.create(
            tenant=tenant, name="Old", conditions=[{"field": "text", "value": ["x"]}],
            actions={"group": doomed.pk},
        )  # fmt: skip
        doomed.delete()
        with pytest.raises(Exception) as refused:
            services.rule_save(
                actor=admin_user, rule=rule, name="Old", match="all",
                conditions=rule.conditions, actions=rule.actions, stop=False,
            )  # fmt: skip
    assert "The group this rule sets no longer exists" in str(refused.value)


def test_rules_are_reordered_disabled_and_deleted(tenant, admin_user, login, billing):
    client = login(admin_user)
    with tenant_context(tenant):
        first, second = (
            RoutingRule.objects.create(
                tenant=tenant,
                name=name,
                position=i,
                conditions=[{"field": "text", "value": ["x"]}],
                actions={"group": billing.pk},
            )  # fmt: skip
            for i, name in enumerate(["First", "Second"], start=1)
        )
    client.post(url("rule_move", tenant, second.pk), {"direction": "up"})
    page = client.get(url("rules", tenant)).text
    assert page.index("Second") < page.index("First")
    client.post(url("rule_toggle", tenant, first.pk))
    client.post(url("rule_delete", tenant, second.pk))
    with tenant_context(tenant):
        assert list(RoutingRule.objects.values_list("name", "is_enabled")) == [("First", False)]


def test_the_tester_shows_each_rule_step_by_step(tenant, admin_user, login, billing):
    with tenant_context(tenant):
        RoutingRule.objects.create(
            tenant=tenant, name="Refunds", position=1,
            conditions=[{"field": "text", "value": ["refund"]}], actions={"group": billing.pk},
        )  # fmt: skip
        RoutingRule.objects.create(
            tenant=tenant, name="Phones", position=2,
            conditions=[{"field": "channel", "value": ["phone"]}], actions={"priority": 4},
        )  # fmt: skip
        ticket = TicketFactory(subject="A refund please", channel="email")
    client = login(admin_user)
    page = client.get(url("rule_tester", tenant), {"subject": "Refund!", "body": "now"}).text
    assert "1 rule match" in page
    assert "Refunds</strong>: matches" in page and "Phones</strong>: does not match" in page
    assert "Group: Billing" in page
    page = client.get(url("rule_tester", tenant), {"ticket": ticket.number}).text
    assert ticket.reference in page and "Refunds</strong>: matches" in page
    page = client.get(url("rule_tester", tenant), {"ticket": ""}).text
    assert "Give a ticket number, or a subject and a message." in page


def test_a_groups_dispatch_settings_are_saved(tenant, admin_user, login, billing):
    with tenant_context(tenant):
        tier2 = make_group(tenant, [], name="Tier 2")
        spare = make_group(tenant, [], name="Spare hands")
    client = login(admin_user)
    response = client.post(
        url("group_edit", tenant, billing.pk),
        {"mode": "semi", "strategy": "round_robin", "escalation_group": str(tier2.pk),
         "overflow_group": str(spare.pk), "overflow_after_minutes": "30",
         "skill_fallback_minutes": "20"},
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_context(tenant):
        cfg = GroupDispatch.objects.get(group=billing)
        assert (cfg.mode, cfg.strategy, cfg.escalation_group) == ("semi", "round_robin", tier2)
        assert (cfg.overflow_group, cfg.overflow_after_minutes) == (spare, 30)
        assert cfg.skill_fallback_minutes == 20
    response = client.post(
        url("group_edit", tenant, billing.pk),
        {"mode": "automatic", "strategy": "skill", "overflow_after_minutes": "-5"},
    )
    assert response.status_code == 200 and "greater than or equal to 0" in response.text
    response = client.post(
        url("group_edit", tenant, billing.pk), {"mode": "bogus", "strategy": "x"}
    )  # noqa: E501
    assert response.status_code == 200 and "Select a valid choice" in response.text


def test_an_agent_goes_online_and_gets_the_next_ticket(tenant, agent, login, billing):
    from helpdesk.models import SupportGroupMember

    with tenant_context(tenant):
        SupportGroupMember.objects.create(tenant=tenant, group=billing, user=agent)
        GroupDispatch.objects.create(tenant=tenant, group=billing, mode="claim")
        ticket = TicketFactory(subject="Take me", group=billing)
    client = login(agent)
    client.post(url("availability", tenant), {"availability": "online"})
    page = client.get(url("home", tenant)).text
    assert 'aria-pressed="true" class="primary">Online' in page
    response = client.post(url("get_next", tenant))
    assert response["Location"] == reverse("tickets:detail", args=[tenant.slug, ticket.number])
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.assignee == agent
        assert AgentStatus.objects.get(user=agent).availability == "online"
    response = client.post(url("get_next", tenant), follow=True)
    assert "Nothing is waiting in your groups." in response.text


def test_the_review_queue_confirms_and_changes_recommendations(tenant, dispatcher, login):
    with tenant_context(tenant):
        a, b = make_agents(tenant, 2)
        group = make_group(tenant, [a, b], name="Semi", mode="semi")
        first, second = (
            TicketFactory(subject="One", group=group),
            TicketFactory(subject="Two", group=group),
        )  # noqa: E501
        handle(first, second)
        one = RoutingDecision.objects.get(ticket=first)
        two = RoutingDecision.objects.get(ticket=second)
    client = login(dispatcher)
    page = client.get(url("review", tenant)).text
    assert first.reference in page and second.reference in page and "Online, 0/20" in page
    client.post(url("review_assign", tenant, one.pk), {"assignee": one.winner_id})
    other = b if two.winner_id == a.pk else a
    client.post(url("review_assign", tenant, two.pk), {"assignee": other.pk})
    with tenant_context(tenant):
        first.refresh_from_db(), second.refresh_from_db()
        assert first.assignee_id == one.winner_id and second.assignee == other
    assert "Nothing waits for review." in client.get(url("review", tenant)).text


def test_the_ticket_page_says_why_this_agent_and_escalates(tenant, agent, login):
    with tenant_context(tenant):
        helper = make_agents(tenant, 1)[0]
        l2 = make_group(tenant, [], name="Second line")
        l1 = make_group(tenant, [helper], name="First line", escalation_group=l2)
        ticket = TicketFactory(subject="Printer on fire", group=l1)
        handle(ticket)
    client = login(agent)
    detail = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    assert "Why this agent" in client.get(detail).text
    why = reverse("dispatch:why", args=[tenant.slug, ticket.number])
    page = client.get(why, HTTP_HX_REQUEST="true").text
    assert "least loaded (0 of 20)" in page and "<html" not in page
    assert 'Escalate to <span dir="auto">Second line</span>' in page
    assert "<html" in client.get(why).text  # without JavaScript: a page of its own
    response = client.post(url("escalate", tenant, ticket.number), {"reason": ""}, follow=True)
    assert "Say why it goes to the next tier" in response.text
    client.post(url("escalate", tenant, ticket.number), {"reason": "Needs L2"})
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.group == l2 and ticket.assignee is None
    assert "escalated it to" in client.get(detail).text
    assert "Re-route" not in client.get(why, HTTP_HX_REQUEST="true").text  # dispatchers only


def test_an_admin_sets_an_agents_capacity_and_skills(tenant, admin_user, agent, login):
    client = login(admin_user)
    page = url("agents", tenant)
    response = client.post(
        page, {"user": agent.pk, "capacity": "7", "skills": "language:de=3, tier2"}
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        status = AgentStatus.objects.get(user=agent)
        assert (status.capacity, status.skills) == (7, {"language:de": 3, "tier2": 1})
    listing = client.get(page).text
    assert 'value="language:de=3, tier2=1"' in listing, listing[listing.find("skills-") :][:300]
    response = client.post(page, {"user": agent.pk, "capacity": "-1"}, follow=True)
    assert "Capacity is a whole number from 0 to 500." in response.text
    with tenant_context(tenant):
        assert AgentStatus.objects.get(user=agent).capacity == 7


def test_get_next_is_one_button_on_the_agents_own_queue_and_dispatch_is_in_the_top_bar(
    tenant, agent, login, billing
):
    from helpdesk.models import SupportGroupMember

    with tenant_context(tenant):
        SupportGroupMember.objects.create(tenant=tenant, group=billing, user=agent)
        GroupDispatch.objects.create(tenant=tenant, group=billing, mode="claim")
        ticket = TicketFactory(subject="Take me from the queue", group=billing)
    client = login(agent)
    mine = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).text
    assert 'id="queue-get-next"' in mine
    assert f'action="{url("get_next", tenant)}"' in mine
    # Only on the agent's own queue, not on the others.
    other = client.get(reverse("tickets:queue", args=[tenant.slug, "unassigned"])).text
    assert 'id="queue-get-next"' not in other
    # The top bar names Dispatch, current on its own pages only.
    assert f'<a href="{url("home", tenant)}" >Dispatch</a>' in mine
    home = client.get(url("home", tenant)).text
    assert f'<a href="{url("home", tenant)}" aria-current="page">Dispatch</a>' in home
    response = client.post(url("get_next", tenant))
    assert response["Location"] == reverse("tickets:detail", args=[tenant.slug, ticket.number])
