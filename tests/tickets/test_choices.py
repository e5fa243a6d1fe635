"""The drop-downs of the agent pages (groups, agents, categories), read once
per page for every form on it: what they offer, in what order, and that
nothing of another tenant's is offered or accepted."""

import pytest
from django.urls import reverse
from selectolax.lexbor import LexborHTMLParser

from helpdesk.models import SupportGroupMember
from helpdesk.tenancy import tenant_context
from tests.factories import (
    CategoryFactory,
    MembershipFactory,
    SupportGroupFactory,
    TicketFactory,
    UserFactory,
)


@pytest.fixture
def desk(tenant, other_tenant, dispatcher, outsider):
    """Groups, agents and categories of two tenants, named to sort apart."""
    dispatcher.first_name, dispatcher.last_name = "Dana", "Zimmer"
    dispatcher.save()
    people = {
        "ari": MembershipFactory(
            tenant=tenant, user=UserFactory(first_name="Ari", last_name="Ben-David")
        ).user,
        "nameless": MembershipFactory(
            tenant=tenant, user=UserFactory(username="zz-nameless", first_name="", last_name="")
        ).user,
        "gone": MembershipFactory(
            tenant=tenant, user=UserFactory(first_name="Aaron", is_active=False)
        ).user,
        # Hebrew, to check a right-to-left name is offered as it is.
        "noa": MembershipFactory(
            tenant=tenant, user=UserFactory(first_name="נועה", last_name="")
        ).user,
    }
    with tenant_context(other_tenant):
        theirs = SupportGroupFactory(name="Aardvark team (Globex)")
        CategoryFactory(name="Aardvark topic (Globex)")
    with tenant_context(tenant):
        support, billing = SupportGroupFactory(name="Support"), SupportGroupFactory(name="Billing")
        SupportGroupMember.objects.create(tenant=tenant, group=billing, user=dispatcher)
        hardware = CategoryFactory(name="Hardware")
        printers = CategoryFactory(name="Printers", parent=hardware)
        access = CategoryFactory(name="Access")
        ticket = TicketFactory(
            subject="Tray 2", group=billing, category=printers, assignee=people["ari"]
        )
    return {
        **people,
        "theirs": theirs,
        "support": support,
        "billing": billing,
        "hardware": hardware,
        "printers": printers,
        "access": access,
        "ticket": ticket,
    }


def _options(html: str, form_selector: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of a select in a form, as the page shows them."""
    page = LexborHTMLParser(html)
    form = page.css_first(form_selector)
    assert form is not None, form_selector
    select = form.css_first(f'select[name="{name}"]')
    assert select is not None, f"{form_selector} has no {name}"
    return [
        (option.attrs.get("value", ""), option.text(), "selected" in option.attrs)
        for option in select.css("option")
    ]


def _labels(options) -> list[str]:
    return [label for value, label, _ in options if value]


GROUPS = ["Billing", "Support"]
# By first name, last name, username (so a person without a name comes
# first), shown by full name, or by username when they have no name.
AGENTS = ["zz-nameless", "Ari Ben-David", "Dana Zimmer", "נועה"]
# In tree order: each top category (by position, then name) followed by its
# sub-categories (Settings, Categories orders them; all are at 0 here).
CATEGORIES = ["Access", "Hardware", "Hardware › Printers"]


def test_every_form_of_the_queue_page_offers_the_tenants_choices_in_order(
    tenant, dispatcher, desk, login
):
    html = (
        login(dispatcher)
        .get(
            reverse("tickets:queue", args=[tenant.slug, "all"]),
            {"group": desk["billing"].pk},
        )
        .content.decode()
    )
    filters = "form.filter-form"
    assert _labels(_options(html, filters, "group")) == GROUPS
    assert [label for _, label, chosen in _options(html, filters, "group") if chosen] == ["Billing"]
    assert _labels(_options(html, filters, "assignee")) == AGENTS
    assert _labels(_options(html, filters, "category")) == CATEGORIES
    assert _labels(_options(html, "#bulk-form", "group")) == GROUPS
    assert _labels(_options(html, "#bulk-form", "assignee")) == AGENTS
    # Each keeps its own empty choice.
    assert _options(html, filters, "group")[0][1] == "Any group"
    assert _options(html, "#bulk-form", "assignee")[0][1] == "Nobody"
    assert "Globex" not in html and "Aaron" not in html


def test_the_queue_nav_lists_only_the_members_groups_by_name(tenant, dispatcher, desk, login):
    client = login(dispatcher)
    page = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert [queue.label for queue in page.context["queues"]] == [
        "My tickets",
        "Unassigned",
        "Billing",
        "All",
    ]
    not_mine = reverse("tickets:queue", args=[tenant.slug, f"group-{desk['support'].pk}"])
    assert client.get(not_mine).status_code == 404
    theirs = reverse("tickets:queue", args=[tenant.slug, f"group-{desk['theirs'].pk}"])
    assert client.get(theirs).status_code == 404


def test_the_ticket_page_shows_the_tickets_values_among_the_choices(
    tenant, dispatcher, desk, login
):
    ticket = desk["ticket"]
    detail = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    html = login(dispatcher).get(detail, {"from": f"group-{desk['billing'].pk}"}).content.decode()
    details = f'form[action="{reverse("tickets:update", args=[tenant.slug, ticket.number])}"]'
    for name, labels, current in (
        ("group", GROUPS, "Billing"),
        ("assignee", AGENTS, "Ari Ben-David"),
        ("category", CATEGORIES, "Hardware › Printers"),
    ):
        options = _options(html, details, name)
        assert _labels(options) == labels
        assert [label for _, label, chosen in options if chosen] == [current]
    # Opened from a group queue the agent is in: its previous/next bar.
    assert 'class="ticket-nav"' in html and "Tickets in Billing" in html


def test_new_ticket_and_board_offer_the_same_choices(tenant, dispatcher, desk, login):
    client = login(dispatcher)
    new = client.get(reverse("tickets:new", args=[tenant.slug])).content.decode()
    form = "form[enctype]"
    assert _labels(_options(new, form, "group")) == GROUPS
    assert _labels(_options(new, form, "assignee")) == AGENTS
    assert _labels(_options(new, form, "category")) == CATEGORIES
    board = client.get(reverse("tickets:board", args=[tenant.slug])).content.decode()
    assert _labels(_options(board, "form.board-filters", "group")) == GROUPS
    assert _labels(_options(board, "form.board-filters", "assignee")) == AGENTS


def test_another_tenants_group_or_agent_posted_anyway_is_refused(
    tenant, dispatcher, outsider, desk, login
):
    ticket = desk["ticket"]
    client = login(dispatcher)
    for field, value in (("group", desk["theirs"].pk), ("assignee", outsider.pk)):
        response = client.post(
            reverse("tickets:update", args=[tenant.slug, ticket.number]),
            {
                "version": ticket.version,
                "status": ticket.status,
                "priority": ticket.priority,
                "type": ticket.type,
                field: value,
            },
        )
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.group_id == desk["billing"].pk and ticket.assignee_id == desk["ari"].pk


def test_an_inactive_user_with_a_session_gets_no_tenant_page(tenant, agent, login):
    client = login(agent)
    agent.is_active = False
    agent.save()
    response = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
