"""Extension points: what a higher app registers shows on the ticket page,
the queues, the board, the timeline, the portal and the settings home, at a
fixed cost in queries; the registries refuse what would break a page."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk.extensions import settings_sections, settings_sections_for
from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import events, extensions
from tickets.checks import extensions_check
from tickets.models import Event, Ticket


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", response.content.decode()).split())


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(requester=ContactFactory(name="Pat Lee"), tags=["vip"])


# ---------------------------------------------------------------- ticket page


def test_registered_panels_are_drawn_in_order_around_the_tickets_own(
    tenant, ticket, agent, login, dummy_extensions
):
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    html = page.content.decode()
    assert f"Loaded for {ticket.reference} by {agent.username}" in html
    # order 10 before the tickets app's requester panel (50), Details first of all.
    assert html.index('id="details-panel"') < html.index("Dummy panel 10")
    assert html.index("Dummy panel 10") < html.index("<h2>Requester</h2>")
    # The order-90 panel's loader said None for a ticket that is not urgent.
    assert "Dummy panel 90" not in html
    assert dummy_extensions.calls["panel"] == 1

    with tenant_context(tenant):
        Ticket.objects.filter(pk=ticket.pk).update(priority=Ticket.Priority.URGENT)
    html = login(agent).get(page.request["PATH_INFO"]).content.decode()
    assert html.index("<h2>Requester</h2>") < html.index("Dummy panel 90") and "Urgent work" in html


def test_the_requester_panel_is_the_tickets_apps_own_registration(tenant, ticket, agent, login):
    # Higher apps (SLA) add their own panels; the tickets app has these.
    own = [panel.name for panel in extensions.ticket_panels if panel.name.startswith("tickets.")]
    assert own == ["tickets.requester", "tickets.portal_links"]
    with tenant_context(tenant):
        TicketFactory(requester=ticket.requester, subject="An earlier printer fault")
    page = _text(login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number])))
    assert "Requester Pat Lee" in page
    assert "Other tickets" in page and "An earlier printer fault" in page


def test_a_registered_event_kind_is_drawn_by_its_template_and_is_internal_by_default(
    tenant, ticket, agent, login, dummy_extensions
):
    with tenant_context(tenant):
        escalated = events.event_record(
            ticket=ticket, kind="testext_escalated", new_value={"tier": 2}
        )
    assert escalated.is_public is False  # the kind's default
    page = _text(login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number])))
    assert "System escalated it to tier 2" in page


def test_recording_an_unregistered_kind_is_refused_and_writes_nothing(tenant, ticket):
    with tenant_context(tenant):
        before = Event.objects.count()
        with pytest.raises(extensions.UnregisteredEventKind):
            events.event_record(ticket=ticket, kind="no_app_registers_this")
        assert Event.objects.count() == before


def test_an_event_whose_kind_is_gone_is_shown_plainly_not_an_error(
    tenant, ticket, agent, login, settings
):
    gone = extensions.EventKind(name="gone_app_kind", label="Gone", template="x.html")
    with extensions.event_kinds.temporarily(gone), tenant_context(tenant):
        events.event_record(ticket=ticket, kind="gone_app_kind", field="tier")
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert page.status_code == 200
    assert "System recorded “gone_app_kind” on tier" in _text(page)


def test_the_tickets_apps_own_kinds_are_registered_and_drawn_as_before(
    tenant, ticket, agent, dispatcher, login
):
    assert {kind.name for kind in extensions.event_kinds} >= set(Event.Kind.values)
    with tenant_context(tenant):
        from tickets import services

        services.ticket_update(ticket=ticket, actor=dispatcher, expected_version=None, priority=4)
        services.ticket_assign(ticket=ticket, actor=agent, assignee=agent, expected_version=None)
        services.delivery_failed(ticket=ticket, addresses=["pat@example.com"], reason="550")
    page = _text(login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number])))
    assert "Pat Lee created the ticket" in page
    assert f"{dispatcher.get_full_name()} changed priority from Normal to Urgent" in page
    assert f"{agent.get_full_name()} took the ticket" in page
    assert f"{agent.get_full_name()} changed status from New to Open" in page
    assert "could not deliver mail to pat@example.com (550)" in page


# ---------------------------------------------------------------- queues and board


def test_a_registered_column_and_badge_show_on_the_queue(
    tenant, ticket, dispatcher, login, dummy_extensions
):
    with tenant_context(tenant):
        plain = TicketFactory()
    page = login(dispatcher).get(reverse("tickets:queue", args=[tenant.slug, "all"]))
    html = page.content.decode()
    assert '<th class="ext-column">Customer messages</th>' in html
    assert f"1 open for {ticket.reference}" in html and f"1 open for {plain.reference}" in html
    assert '<span class="tag ext-badge" title="Important customer">VIP</span>' in html
    assert html.count("ext-badge") == 1  # only the vip ticket has one
    assert dummy_extensions.calls == {"column": 1, "badge": 1}
    # The htmx refresh draws the same table.
    fresh = login(dispatcher).get(
        reverse("tickets:queue", args=[tenant.slug, "all"]), HTTP_HX_REQUEST="true"
    )
    assert "Customer messages" in fresh.content.decode() and "VIP" in fresh.content.decode()


def test_an_empty_queue_calls_no_loader_and_spans_every_column(
    tenant, agent, login, dummy_extensions
):
    page = login(agent).get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert 'colspan="9"' in page.content.decode()
    assert dummy_extensions.calls == {}


def test_a_column_costs_one_query_per_page_not_one_per_row(
    tenant, dispatcher, login, dummy_extensions, django_assert_max_num_queries
):
    client = login(dispatcher)
    url = reverse("tickets:queue", args=[tenant.slug, "all"])
    with tenant_context(tenant):
        TicketFactory(tags=["vip"])
    with django_assert_max_num_queries(60) as one_row:
        response = client.get(url)
    assert len(response.context["rows"]) == 1
    with tenant_context(tenant):
        for _ in range(29):
            TicketFactory(tags=["vip"], assignee=dispatcher)
    dummy_extensions.calls.clear()
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        response = client.get(url)
    assert len(response.context["rows"]) == 30
    assert response.content.decode().count("VIP</span>") == 30
    assert dummy_extensions.calls == {"column": 1, "badge": 1}


def test_each_registered_loader_adds_exactly_one_query_to_the_queue_page(
    tenant, dispatcher, login, settings
):
    from tests import extension_dummies

    client = login(dispatcher)
    url = reverse("tickets:queue", args=[tenant.slug, "all"])
    with tenant_context(tenant):
        for _ in range(5):
            TicketFactory(tags=["vip"])
    client.get(url)  # the session and the like settle first
    with CaptureQueriesContext(connection) as plain:
        client.get(url)
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], extension_dummies.TEMPLATES]}]
    with extension_dummies.registered(), CaptureQueriesContext(connection) as extended:
        client.get(url)
    assert len(extended) == len(plain) + 2  # the column's loader and the badge's


def test_a_registered_queue_filter_is_offered_and_narrows_the_queue(
    tenant, dispatcher, login, dummy_extensions
):
    with tenant_context(tenant):
        TicketFactory(subject="Gold customer", tags=["vip"])
        TicketFactory(subject="Anyone")
    client = login(dispatcher)
    url = reverse("tickets:queue", args=[tenant.slug, "all"])
    page = client.get(url)
    html = page.content.decode()
    assert '<label for="id_testext_vip">Customer rank</label>' in html
    assert '<option value="" selected>Any rank</option>' in html
    # Drawn before the order, after the built-in filters.
    fields = list(page.context["filter_form"].fields)
    assert fields[-2:] == ["testext_vip", "sort"]
    assert [t.subject for t in client.get(url, {"testext_vip": "vip"}).context["rows"]] == [
        "Gold customer"
    ]
    assert [t.subject for t in client.get(url, {"testext_vip": "plain"}).context["rows"]] == [
        "Anyone"
    ]
    assert len(client.get(url).context["rows"]) == 2


def test_a_queue_filter_needs_a_query_string_name():
    with pytest.raises(ValueError):
        extensions.QueueFilter(name="Has space", label="x", choices=(), narrow=lambda v: None)


def test_board_cards_show_badges_loaded_once_for_the_whole_board(
    tenant, dispatcher, login, dummy_extensions
):
    with tenant_context(tenant):
        vip_new = TicketFactory(tags=["vip"])
        vip_open = TicketFactory(tags=["vip"], assignee=dispatcher)
        TicketFactory()
    client = login(dispatcher)
    html = client.get(reverse("tickets:board", args=[tenant.slug])).content.decode()
    assert html.count("VIP</span>") == 2
    assert dummy_extensions.calls == {"badge": 1}  # five columns, one call
    # A card moved by drag and drop comes back with its badge.
    moved = client.post(
        reverse("tickets:move", args=[tenant.slug, vip_new.number]),
        {"status": "pending", "version": vip_new.version},
    )
    assert moved.status_code == 200 and "VIP</span>" in moved.content.decode()
    assert vip_open.number != vip_new.number


# ---------------------------------------------------------------- portal and settings


def test_portal_blocks_are_drawn_for_the_customer(tenant, ticket, dummy_extensions):
    template = Template("{% load ticket_extensions %}{% portal_blocks ticket contact %}")
    with tenant_context(tenant):
        html = template.render(Context({"ticket": ticket, "contact": ticket.requester}))
    assert f"Hello Pat Lee, about {ticket.reference}" in html


def test_the_settings_home_lists_every_registered_section_in_order(
    tenant, admin_user, login, dummy_extensions
):
    page = login(admin_user).get(reverse("tenant_settings", args=[tenant.slug]))
    html = page.content.decode()
    # The home's cards: the help desk's own settings (under its name) first.
    titles = re.findall(r'<li><a href="[^"]+"><strong>([^<]+)</strong>', html)
    assert titles == [
        "Acme Support",
        "People",
        "Groups",
        "Routing",
        "Categories",
        "Tags",
        "Canned responses",
        "Email set-up",
        "Mailboxes",
        "Customer portal",
        "SLA",
        "Quarantined mail",
        "Failed work",
        "Dummy routing rules",
        "Dummy for agents",
        "Webhooks",
        "Automations",
        "API keys",
        "Audit log",
    ]
    # The same list, from the same registry, in every settings page's navigation.
    nav = re.findall(r'<li><a href="[^"]+"(?: aria-current="page")?>([^<]+)</a></li>', html)
    assert nav == ["Overview", "Help desk", *titles[1:]]
    assert f'href="{reverse("tickets:mailboxes", args=[tenant.slug])}"' in html
    assert "Who gets which ticket." in html
    assert f'href="{reverse("tenant_settings", args=[tenant.slug])}" aria-current="page"' in html


def test_a_section_is_listed_only_for_the_roles_it_names(tenant, agent, dummy_extensions):
    membership = Membership.objects.select_related("tenant").get(user=agent)
    assert [item["section"].name for item in settings_sections_for(membership)] == [
        "testext.agents_too"
    ]


# ---------------------------------------------------------------- the registries


def test_a_duplicate_name_is_an_error_at_start_up():
    duplicate = extensions.EventKind(name="created", label="Again", template="x.html")
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        extensions.event_kinds.register(duplicate)
    assert extensions.event_kinds.get("created").label == "Created"
    with pytest.raises(ImproperlyConfigured):
        settings_sections.register(
            settings_sections.get("tickets.mailboxes").__class__(
                name="tickets.mailboxes", title="x", description="", url_name="x"
            )
        )


def test_a_registry_takes_only_its_own_kind_of_item():
    panel = extensions.TicketPanel(name="x", template="x.html", loader=lambda t, r: {})
    with pytest.raises(TypeError):
        extensions.queue_columns.register(panel)
    with pytest.raises(ValueError, match="template or a formatter"):
        extensions.QueueColumn(name="x", header="X", loader=lambda rows: {})
    with pytest.raises(ValueError, match="template or a formatter"):
        extensions.QueueBadge(
            name="x", label="X", loader=lambda rows: {}, template="x.html", formatter=str
        )
    with pytest.raises(ValueError):
        extensions.EventKind(name="k" * 41, label="Long", template="x.html")


def test_a_loader_that_answers_in_the_wrong_shape_is_named(tenant, ticket):
    column = extensions.QueueColumn(
        name="broken", header="Broken", loader=lambda rows: [1, 2], formatter=str
    )
    with extensions.queue_columns.temporarily(column), tenant_context(tenant):
        with pytest.raises(TypeError, match="broken"):
            extensions.rows_with_extension_values([ticket])


def test_the_system_check_names_a_missing_template():
    assert extensions_check(None) == []
    typo = extensions.TicketPanel(
        name="typo", template="tickets/panels/nope.html", loader=lambda t, r: {}
    )
    with extensions.ticket_panels.temporarily(typo):
        errors = extensions_check(None)
    assert [error.id for error in errors] == ["tickets.E001"]
    assert "nope.html" in errors[0].msg
