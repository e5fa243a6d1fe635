"""Availability from the top bar, and "away" after the tenant's idle minutes."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from dispatch.models import AgentStatus, DispatchSettings
from dispatch.services.presence import agent_activity_note, idle_agents_away
from helpdesk.models import TenantWork
from helpdesk.tenancy import tenant_context

from .conftest import make_agents

pytestmark = pytest.mark.django_db


def _status(tenant, user):
    with tenant_context(tenant):
        return AgentStatus.objects.get(user=user)


def test_the_top_bar_switches_availability_in_one_click(tenant, agent, login):
    client = login(agent)
    page = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).text
    widget_url = reverse("dispatch:availability_widget", args=[tenant.slug])
    assert f'hx-get="{widget_url}"' in page
    widget = client.get(widget_url, HTTP_HX_REQUEST="true").text
    assert 'id="availability-offline"' in widget
    assert (
        'value="offline" id="availability-offline" class="availability-option availability-offline" aria-pressed="true"'
        in widget
    )  # noqa: E501
    with mock.patch("dispatch.tasks.drain_agent_groups.delay"):
        response = client.post(
            reverse("dispatch:availability", args=[tenant.slug]),
            {"availability": "online"},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"announce": "You are online."}
    assert (
        'value="online" id="availability-online" class="availability-option availability-online" aria-pressed="true"'
        in response.text
    )  # noqa: E501
    assert _status(tenant, agent).availability == "online"
    # The idle sweep will look at this tenant.
    assert TenantWork.objects.get(tenant=tenant, kind="dispatch_idle").due_at is not None
    # Without JavaScript the same form answers with the dispatch page.
    response = client.post(
        reverse("dispatch:availability", args=[tenant.slug]), {"availability": "away"}
    )
    assert response.status_code == 302 and _status(tenant, agent).availability == "away"


def test_idle_online_agents_become_away_and_come_back_with_their_next_action(in_tenant):
    DispatchSettings.objects.create(tenant=in_tenant, away_after_minutes=15)
    idle, busy = make_agents(in_tenant, 2)
    offline = make_agents(in_tenant, 1, availability="offline")[0]
    now = timezone.now()
    AgentStatus.objects.filter(user=idle).update(last_seen_at=now - timedelta(minutes=20))
    AgentStatus.objects.filter(user=busy).update(last_seen_at=now - timedelta(minutes=5))
    AgentStatus.objects.filter(user=offline).update(last_seen_at=now - timedelta(hours=5))
    flipped, upcoming = idle_agents_away()
    assert flipped == 1
    states = dict(AgentStatus.objects.values_list("user_id", "availability"))
    assert states == {idle.pk: "away", busy.pk: "online", offline.pk: "offline"}
    # Next look: when the busy one would be idle.
    assert abs((upcoming - (now + timedelta(minutes=10))).total_seconds()) < 5
    with mock.patch("dispatch.tasks.drain_agent_groups.delay"):
        assert agent_activity_note(user_id=idle.pk) is True
    assert AgentStatus.objects.get(user=idle).availability == "online"
    # An agent who chose "away" stays away, whatever they do.
    AgentStatus.objects.filter(user=busy).update(availability="away", idle_away=False)
    assert agent_activity_note(user_id=busy.pk) is False
    assert AgentStatus.objects.get(user=busy).availability == "away"


def test_a_tenant_may_turn_idle_away_off(in_tenant):
    DispatchSettings.objects.create(tenant=in_tenant, away_after_minutes=None)
    agent = make_agents(in_tenant, 1)[0]
    AgentStatus.objects.filter(user=agent).update(last_seen_at=timezone.now() - timedelta(days=1))
    assert idle_agents_away() == (0, None)
    assert AgentStatus.objects.get(user=agent).availability == "online"


def test_pages_note_activity_once_a_minute_and_polls_do_not(
    tenant, agent, login, django_capture_on_commit_callbacks
):
    with tenant_context(tenant):
        AgentStatus.objects.create(tenant=tenant, user=agent, availability="away", idle_away=True)
    client = login(agent)
    queues = reverse("tickets:queue", args=[tenant.slug, "mine"])
    cache.delete(f"dispatch:seen:{tenant.pk}:{agent.pk}")
    # A live refresh is not someone at the desk.
    client.get(queues, HTTP_HX_REQUEST="true")
    assert _status(tenant, agent).availability == "away"
    with (
        mock.patch("dispatch.tasks.drain_agent_groups.delay") as drain,
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.get(queues)
    status = _status(tenant, agent)
    assert status.availability == "online" and status.last_seen_at is not None
    assert drain.call_count == 1
    seen = status.last_seen_at
    client.get(queues)
    assert _status(tenant, agent).last_seen_at == seen  # written at most once a minute


def test_dispatchers_see_who_is_available(tenant, dispatcher, agent, login):
    with tenant_context(tenant):
        AgentStatus.objects.create(
            tenant=tenant, user=agent, availability="away", idle_away=True,
            last_seen_at=timezone.now(),
        )  # fmt: skip
    page = login(dispatcher).get(reverse("dispatch:home", args=[tenant.slug])).text
    assert "Who is available" in page and "(idle)" in page
    page = login(agent).get(reverse("dispatch:home", args=[tenant.slug])).text
    assert "Who is available" not in page
