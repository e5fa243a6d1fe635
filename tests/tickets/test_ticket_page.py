"""Presence (who else is on a ticket), canned responses, and how messages show."""

import re

import pytest
from django.urls import reverse

from helpdesk import presence
from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, MembershipFactory, TicketFactory
from tickets import services
from tickets.models import CannedResponse


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(requester=ContactFactory(name="Pat Lee"))


@pytest.fixture(autouse=True)
def _fresh_presence():
    # Presence lives in the tests' Redis database; start each test with none.
    client = presence._redis()
    stale = client.keys("presence:*")
    if stale:
        client.delete(*stale)


def test_agents_see_each_other_on_a_ticket(tenant, ticket, agent, dispatcher, client, login):
    url = reverse("tickets:presence", args=[tenant.slug, ticket.number])
    alone = login(agent).post(url, {"replying": "0"})
    assert alone.content.decode().strip() == ""
    login(dispatcher).post(url, {"replying": "1"})
    seen_by_agent = login(agent).post(url, {"replying": "0"}).content.decode()
    assert f"{dispatcher.get_full_name()} is replying" in seen_by_agent
    seen_by_dispatcher = login(dispatcher).post(url, {"replying": "1"}).content.decode()
    assert f"{agent.get_full_name()} is viewing" in seen_by_dispatcher


def test_presence_does_not_cross_tenants(tenant, other_tenant, agent, outsider, login):
    with tenant_context(tenant):
        ours = TicketFactory()
    with tenant_context(other_tenant):
        theirs = TicketFactory()
    assert ours.number == theirs.number  # same number, different tenants
    login(outsider).post(reverse("tickets:presence", args=[other_tenant.slug, theirs.number]))
    page = login(agent).post(reverse("tickets:presence", args=[tenant.slug, ours.number]))
    assert outsider.get_full_name() not in page.content.decode()


def test_canned_response_is_filled_in_for_the_ticket(tenant, ticket, agent, login):
    with tenant_context(tenant):
        canned = CannedResponse.objects.create(
            tenant=tenant,
            title="Hello",
            body="Hi {requester_name}, about {ticket_number}: {unknown}. {agent_name}",
        )
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert "Insert canned response" in page.content.decode()
    text = client.get(
        reverse("tickets:canned_insert", args=[tenant.slug, ticket.number, canned.pk])
    ).content.decode()
    assert text == f"Hi Pat Lee, about ACME-{ticket.number}: {{unknown}}. {agent.get_full_name()}"


def test_admin_manages_canned_responses_and_bad_input_is_explained(tenant, admin_user, login):
    client = login(admin_user)
    url = reverse("tickets:canned_list", args=[tenant.slug])
    assert client.post(url, {"title": "Thanks", "body": "Thanks!"}).status_code == 302
    duplicate = client.post(url, {"title": "thanks", "body": "Again"})
    assert "already a canned response called" in duplicate.content.decode()
    empty = client.post(url, {"title": "", "body": ""})
    assert "This field is required" in empty.content.decode()
    with tenant_context(tenant):
        canned = CannedResponse.objects.get()
    client.post(
        reverse("tickets:canned_edit", args=[tenant.slug, canned.pk]),
        {"title": "Thank you", "body": "Thank you!"},
    )
    client.post(reverse("tickets:canned_delete", args=[tenant.slug, canned.pk]))
    with tenant_context(tenant):
        assert CannedResponse.objects.count() == 0


def test_agents_cannot_manage_canned_responses(tenant, agent, login):
    response = login(agent).post(
        reverse("tickets:canned_list", args=[tenant.slug]), {"title": "x", "body": "y"}
    )
    assert response.status_code == 403
    with tenant_context(tenant):
        assert CannedResponse.objects.count() == 0


def test_a_manager_is_not_an_admin_for_canned_responses(tenant, login):
    manager = MembershipFactory(tenant=tenant, role=Membership.Role.MANAGER).user
    response = login(manager).get(reverse("tickets:canned_list", args=[tenant.slug]))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "source",
    [
        "https://tracker.example/p.gif",
        "//tracker.example/p.gif",
        "\\\\tracker.example/p.gif",
        "/\\tracker.example/p.gif",
        " https://tracker.example/p.gif",
        "http:tracker.example/p.gif",
        "https:/\\tracker.example/p.gif",
    ],
)
def test_images_from_other_sites_are_held_back_until_asked(tenant, agent, login, source):
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Newsletter reply",
            body="See the picture.",
            requester_email="pat@example.com",
            body_html=f'<p>See the picture.</p><img alt="a>b" src="{source}">'
            '<p>Type src="https://tracker.example/x" in the box.</p>',
        )
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    html = page.content.decode()
    # The page itself never makes the browser fetch the tracker, however the
    # address is spelled.
    assert not re.search(r'<img[^>]*\ssrc="[^"]*tracker', html)
    assert re.search(r'<img[^>]*\sdata-remote-src="[^"]*tracker\.example/p\.gif"', html)
    assert "Images from other sites are hidden" in html
    # Text that merely looks like an attribute is left as written.
    assert 'Type src="https://tracker.example/x" in the box.' in html
