"""A dashboard filter that is not one of the choices (another help desk's
organisation or agent, a word, a priority or period not offered) is left
out and said so, and stays out of the page's refresh and links; the other
filters still narrow the figures and lists."""

import pytest
from django.urls import reverse

from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import tenant_context
from reports.services import fact_refresh
from tests.factories import MembershipFactory, TicketFactory
from tickets.models import Category, Organization


@pytest.fixture
def two_groups(tenant, other_tenant):
    """An open ticket in group A and one in group B; another help desk's
    organisation, agent and category."""
    with tenant_context(tenant):
        first, second = (SupportGroup.objects.create(tenant=tenant, name=n) for n in "AB")
        for subject, group in (("In group A", first), ("In group B", second)):
            fact_refresh(ticket_id=TicketFactory(subject=subject, group=group).pk)
    with tenant_context(other_tenant):
        theirs = {
            "organization": Organization.objects.create(tenant=other_tenant, name="Hooli").pk,
            "category": Category.objects.create(tenant=other_tenant, name="Theirs").pk,
            "assignee": MembershipFactory(tenant=other_tenant, role=Membership.Role.AGENT).user_id,
        }
    return first, theirs


BAD = [
    ("organization", "theirs"),
    ("assignee", "theirs"),
    ("category", "theirs"),
    ("organization", "abc"),
    ("assignee", "-1"),
    ("category", "²"),
    ("priority", "9"),
    ("channel", "fax"),
    ("period", "365"),
]


def _value(theirs, name, value):
    return str(theirs[name]) if value == "theirs" else value


@pytest.mark.parametrize(("name", "value"), BAD)
def test_the_dashboard_says_which_filter_it_left_out_and_keeps_the_others(
    tenant, admin_user, login, two_groups, name, value
):
    group, theirs = two_groups
    client = login(admin_user)
    url = reverse("reports:dashboard", args=[tenant.slug])
    only_group = client.get(url, {"group": group.pk})
    response = client.get(url, {"group": group.pk, name: _value(theirs, name, value)})
    assert response.status_code == 200
    assert "Not one of the" in response.content.decode()
    assert response.context["figures"] == only_group.context["figures"]
    assert response.context["figures"].backlog == 1
    # The minute's refresh and the links to the tickets carry the filters
    # the figures were narrowed by, not the one left out.
    assert response.context["query"] == f"group={group.pk}"


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, v in BAD if v != "theirs"])
def test_a_ticket_list_keeps_the_good_filters_beside_a_bad_one(
    tenant, admin_user, login, two_groups, name, value
):
    group, theirs = two_groups
    client = login(admin_user)
    url = reverse("reports:tickets", args=[tenant.slug, "backlog"])
    page = client.get(url, {"group": group.pk, name: value}).content.decode()
    assert "In group A" in page
    assert "In group B" not in page
