import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk import services as helpdesk_services
from helpdesk.models import ApiKey
from helpdesk.tenancy import tenant_context
from tests.api.conftest import make_key, make_tickets, tickets_url
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    SupportGroupFactory,
    TicketFactory,
    add_reply,
)
from tickets import services
from tickets.models import Contact, Event, Message, Ticket

# ---------------------------------------------------------------- keys


def test_key_is_stored_hashed_and_shown_once(tenant, admin_user):
    api_key, raw = make_key(tenant, actor=admin_user)
    assert raw.startswith(f"hd_{api_key.prefix}_")
    assert len(api_key.prefix) == 8
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM helpdesk_apikey k")
        rows = " ".join(row[0] for row in cursor.fetchall())
    secret = raw.split("_", 2)[2]
    assert api_key.key_hash in rows
    assert raw not in rows and secret not in rows
    # Row-level security covers the keys too: no tenant active, no rows.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM helpdesk_apikey")
        assert cursor.fetchone()[0] == 0


def test_only_admins_create_or_revoke_keys(tenant, agent, admin_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        make_key(tenant, actor=agent)
    api_key, _ = make_key(tenant, actor=admin_user)
    with tenant_context(tenant), pytest.raises(PermissionDenied):
        helpdesk_services.api_key_revoke(actor=agent, api_key=api_key)


def test_create_api_key_command_prints_the_key_once(tenant, capsys):
    call_command("create_api_key", "acme", "Chat widget", "--scope", "write")
    raw = capsys.readouterr().out.splitlines()[1]
    with tenant_context(tenant):
        api_key = ApiKey.objects.get()
    assert api_key.scope == "write" and api_key.name == "Chat widget"
    assert api_key.key_hash == helpdesk_services.api_key_hash(raw)


def test_missing_unknown_and_revoked_keys_get_401_json(tenant, admin_user, api):
    api_key, raw = make_key(tenant, actor=admin_user)
    assert api(None).get(tickets_url()).status_code == 401
    response = api("hd_00000000_nope").get(tickets_url())
    assert response.status_code == 401
    assert response.json() == {"errors": {"detail": ["Invalid API key."]}}
    assert api(raw).get(tickets_url()).status_code == 200
    with tenant_context(tenant):
        helpdesk_services.api_key_revoke(actor=admin_user, api_key=api_key)
    # Revoked: the same answer as an unknown key, as the README promises.
    response = api(raw).get(tickets_url())
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": {"detail": ["Invalid API key."]}}


def test_last_used_is_recorded(tenant, write_key, api):
    api(write_key).get(tickets_url())
    with tenant_context(tenant):
        assert ApiKey.objects.get().last_used_at is not None


# ---------------------------------------------------------------- tenancy


def test_a_key_of_one_tenant_gets_nothing_of_another(tenant, other_tenant, write_key, api):
    make_tickets(tenant, 2)
    theirs = make_tickets(other_tenant, 3, subject="Globex secret")
    # Our key on their URL: unknown there.
    for response in (
        api(write_key).get(tickets_url("globex")),
        api(write_key).get(tickets_url("globex", theirs[0].number)),
        api(write_key).post(tickets_url("globex", 1, messages=True), {"body": "hi"}),
    ):
        assert response.status_code == 401
        assert "Globex" not in response.content.decode()
    # Our key on our URL: their numbers are not ours.
    assert api(write_key).get(tickets_url("acme", 3)).status_code == 404
    listed = api(write_key).get(tickets_url("acme")).json()["results"]
    assert [t["number"] for t in listed] == [2, 1]
    assert all("Globex" not in t["subject"] for t in listed)
    # An unknown tenant answers like a wrong key.
    assert api(write_key).get(tickets_url("nosuch")).status_code == 401


# ---------------------------------------------------------------- create


def test_create_ticket(tenant, write_key, api):
    response = api(write_key).post(
        tickets_url(),
        {
            "requester_email": "Pat@Example.com",
            "requester_name": "Pat",
            "subject": "Printer on fire",
            "body": "Smoke everywhere.",
            "channel": "phone",
            "priority": "urgent",
            "type": "incident",
            "tags": ["Hardware"],
            "cc_emails": ["boss@example.com"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1 and body["reference"] == "ACME-1"
    assert body["priority"] == "urgent" and body["channel"] == "phone"
    assert body["tags"] == ["hardware"]
    assert body["requester"] == {"email": "pat@example.com", "name": "Pat"}
    assert body["url"].endswith("/api/v1/acme/tickets/1/")
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        assert ticket.priority == Ticket.Priority.URGENT
        kinds = list(Event.objects.filter(ticket=ticket).values_list("kind", flat=True))
        created = Event.objects.select_related("actor_contact").get(
            ticket=ticket, kind=Event.Kind.CREATED
        )
    assert kinds == [Event.Kind.CREATED, Event.Kind.MESSAGE_ADDED]
    # The API key has no user: the ticket is recorded as the requester's.
    assert created.actor_user is None and created.actor_contact.email == "pat@example.com"


def test_create_defaults_to_the_api_channel(tenant, write_key, api):
    response = api(write_key).post(
        tickets_url(), {"requester_email": "a@example.com", "subject": "Hi", "body": "Help"}
    )
    assert response.status_code == 201
    assert response.json()["channel"] == "api"


def test_invalid_create_is_400_with_field_messages_and_writes_nothing(tenant, write_key, api):
    response = api(write_key).post(
        tickets_url(),
        {"requester_email": "not-an-email", "subject": "", "body": "x", "priority": "huge"},
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"requester_email", "subject", "priority"}
    assert all(isinstance(messages, list) for messages in errors.values())
    # A service refusal (bad tag) has the same shape.
    response = api(write_key).post(
        tickets_url(),
        {"requester_email": "a@example.com", "subject": "Hi", "body": "x", "tags": ["no way!"]},
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["tags"]
    with tenant_context(tenant):
        assert not Ticket.objects.exists()
        assert not Contact.objects.exists()
        assert not Event.objects.exists()


def test_read_key_cannot_write(tenant, read_key, api):
    [ticket] = make_tickets(tenant, 1)
    for response in (
        api(read_key).post(
            tickets_url(), {"requester_email": "a@example.com", "subject": "Hi", "body": "x"}
        ),
        api(read_key).patch(tickets_url(number=ticket.number), {"version": 1, "priority": "low"}),
        api(read_key).post(tickets_url(number=ticket.number, messages=True), {"body": "x"}),
    ):
        assert response.status_code == 403
        assert "read scope" in response.json()["errors"]["detail"][0]
    assert api(read_key).get(tickets_url(number=ticket.number)).status_code == 200
    with tenant_context(tenant):
        assert Ticket.objects.count() == 1
        assert Message.objects.count() == 1


# ---------------------------------------------------------------- read


def test_detail_shows_public_and_internal_messages(tenant, agent, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    with tenant_context(tenant):
        add_reply(ticket, agent, body="On it.")
        add_reply(ticket, agent, body="Customer is grumpy.", kind=Message.Kind.NOTE)
    response = api(write_key).get(tickets_url(number=ticket.number))
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [(m["kind"], m["is_public"]) for m in messages] == [
        ("customer", True),
        ("reply", True),
        ("note", False),
    ]
    assert messages[1]["author"]["username"] == agent.username
    assert messages[0]["author"]["type"] == "contact"
    assert response.json()["version"] == 3


def test_unknown_ticket_and_url_are_json_404(tenant, write_key, api):
    response = api(write_key).get(tickets_url(number=999))
    assert response.status_code == 404
    assert response.json() == {"errors": {"detail": ["No such ticket."]}}
    response = api(write_key).get("/api/v1/acme/nothing-here/")
    assert response.status_code == 404 and "errors" in response.json()


def test_wrong_method_is_json_405(tenant, write_key, api, client):
    response = client.delete(tickets_url(), headers={"Authorization": f"Bearer {write_key}"})
    assert response.status_code == 405
    assert "errors" in response.json()


def test_list_pages_through_every_ticket_once(tenant, write_key, api):
    make_tickets(tenant, 7)
    seen, url = [], tickets_url()
    params = {"limit": 3}
    while url:
        response = api(write_key).get(url, **params)
        assert response.status_code == 200
        page = response.json()
        seen += [t["number"] for t in page["results"]]
        url, params = page["next"], {}
    assert seen == [7, 6, 5, 4, 3, 2, 1]


def test_list_filters(tenant, agent, write_key, api):
    with tenant_context(tenant):
        pat = ContactFactory(email="pat@example.com")
        TicketFactory(requester=pat, priority=Ticket.Priority.HIGH)
        TicketFactory(requester=pat)
        mine = TicketFactory(assignee=agent)
        TicketFactory()

    def numbers(**params):
        response = api(write_key).get(tickets_url(), **params)
        assert response.status_code == 200, response.content
        return [t["number"] for t in response.json()["results"]]

    assert numbers(requester="PAT@example.com") == [2, 1]
    assert numbers(requester="pat@example.com", priority="high") == [1]
    assert numbers(assignee=agent.username) == [mine.number]
    assert numbers(assignee=str(agent.pk)) == [mine.number]
    assert numbers(status="open") == [mine.number]
    assert numbers(requester="nobody@example.com") == []
    response = api(write_key).get(tickets_url(), limit=101, status="bogus")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"limit", "status"}


def test_list_query_count_does_not_grow_with_the_page(tenant, agent, write_key, api):
    make_tickets(tenant, 12, assignee=agent)
    api(write_key).get(tickets_url())  # last_used_at written once, before measuring
    counts = []
    for limit in (2, 10):
        with CaptureQueriesContext(connection) as queries:
            assert len(api(write_key).get(tickets_url(), limit=limit).json()["results"]) == limit
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_list_query_count_is_bounded(tenant, agent, write_key, api, django_assert_max_num_queries):
    make_tickets(tenant, 30, assignee=agent)
    with django_assert_max_num_queries(10):
        response = api(write_key).get(tickets_url(), limit=25)
    assert len(response.json()["results"]) == 25


# ---------------------------------------------------------------- update


def test_patch_updates_fields_with_events(tenant, agent, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    with tenant_context(tenant):
        group = SupportGroupFactory(name="Billing")
    response = api(write_key).patch(
        tickets_url(number=ticket.number),
        {
            "version": 1,
            "priority": "high",
            "tags": ["vip"],
            "assignee": agent.username,
            "group": "Billing",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["priority"] == "high" and body["assignee"] == agent.username
    assert body["group"] == "Billing" and body["status"] == "open"
    assert body["version"] == 2
    with tenant_context(tenant):
        events = list(
            Event.objects.filter(ticket=ticket)
            .exclude(kind__in=[Event.Kind.CREATED, Event.Kind.MESSAGE_ADDED])
            .order_by("pk")
        )
    assert {e.field for e in events} == {"priority", "tags", "assignee", "group", "status"}
    # The key has no user: the changes are the system's.
    assert all(e.actor_user is None and e.actor_contact is None for e in events)
    # A group by id works too; null clears it.
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": 2, "group": str(group.pk)}
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": 2, "group": None}
    )
    assert response.json()["group"] is None and response.json()["version"] == 3


def test_stale_patch_is_409_with_the_current_version(tenant, agent, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    with tenant_context(tenant):
        add_reply(ticket, agent)  # version 1 -> 2
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": 1, "priority": "low"}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["current_version"] == 2
    assert body["changed_by"] == (agent.get_full_name() or agent.username)
    assert "version" in body["errors"]
    with tenant_context(tenant):
        assert Ticket.objects.get().priority == Ticket.Priority.NORMAL


def test_invalid_patch_is_400_and_writes_nothing(tenant, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    url = tickets_url(number=ticket.number)
    assert list(api(write_key).patch(url, {"priority": "low"}).json()["errors"]) == ["version"]
    response = api(write_key).patch(url, {"version": 1, "assignee": "ghost", "priority": "low"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["assignee"]
    # Allowed by the serializer, refused by the service: a closed ticket is not edited.
    api(write_key).patch(url, {"version": 1, "status": "closed"})
    response = api(write_key).patch(url, {"version": 2, "priority": "low"})
    assert response.status_code == 400
    assert "closed" in response.json()["errors"]["detail"][0]
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.priority == Ticket.Priority.NORMAL and ticket.version == 2


def test_assignee_must_be_an_agent_of_this_tenant(tenant, other_tenant, write_key, api):
    stranger = MembershipFactory(tenant=other_tenant).user
    [ticket] = make_tickets(tenant, 1)
    response = api(write_key).patch(
        tickets_url(number=ticket.number), {"version": 1, "assignee": stranger.username}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["assignee"]


# ---------------------------------------------------------------- messages


def test_customer_message_from_the_requester_or_another_email(tenant, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    url = tickets_url(number=ticket.number, messages=True)
    response = api(write_key).post(url, {"body": "Any news?"})
    assert response.status_code == 201, response.content
    assert response.json()["author"]["email"] == ticket.requester.email
    response = api(write_key).post(
        url, {"body": "I'm their colleague.", "author_email": "Sam@example.com"}
    )
    assert response.json()["author"] == {
        "type": "contact",
        "name": "sam@example.com",
        "email": "sam@example.com",
    }
    with tenant_context(tenant):
        events = Event.objects.filter(ticket=ticket, kind=Event.Kind.MESSAGE_ADDED)
        assert events.count() == 3
        assert events.order_by("-pk").first().actor_contact.email == "sam@example.com"


def test_agent_reply_and_note(tenant, agent, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    url = tickets_url(number=ticket.number, messages=True)
    response = api(write_key).post(url, {"kind": "note", "body": "FYI", "agent": agent.username})
    assert response.status_code == 201
    assert response.json()["is_public"] is False
    response = api(write_key).post(url, {"kind": "reply", "body": "Fixed", "agent": agent.username})
    assert response.json()["author"]["username"] == agent.username
    with tenant_context(tenant):
        ticket.refresh_from_db()
        note_event = Event.objects.select_related("actor_user").get(
            ticket=ticket, message__kind=Message.Kind.NOTE
        )
    assert ticket.first_response_at is not None and ticket.status == Ticket.Status.OPEN
    assert note_event.actor_user == agent and note_event.is_public is False


def test_message_input_errors(tenant, agent, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    url = tickets_url(number=ticket.number, messages=True)
    response = api(write_key).post(url, {"kind": "reply", "body": "Hi"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["agent"]
    response = api(write_key).post(url, {"kind": "reply", "body": "Hi", "agent": "ghost"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["agent"]
    response = api(write_key).post(url, {"body": "Hi", "agent": agent.username})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["agent"]
    response = api(write_key).post(url, {"body": ""})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["body"]
    response = api(write_key).post(url, {"body": "late", "version": 7})
    # Version 7 never was: nobody changed the ticket, the client sent a wrong number.
    assert response.status_code == 400 and list(response.json()["errors"]) == ["version"]
    assert "no version 7" in response.json()["errors"]["version"][0]
    with tenant_context(tenant):
        assert Message.objects.count() == 1


def test_refused_message_leaves_no_new_contact(tenant, write_key, api):
    [ticket] = make_tickets(tenant, 1)
    with tenant_context(tenant):
        services.ticket_update(ticket=ticket, actor=None, expected_version=None, status="closed")
    response = api(write_key).post(
        tickets_url(number=ticket.number, messages=True),
        {"body": "Hello?", "author_email": "new@example.com"},
    )
    assert response.status_code == 400
    with tenant_context(tenant):
        assert not Contact.objects.filter(email="new@example.com").exists()


# ---------------------------------------------------------------- schema and rate


def test_schema_lists_the_ticket_paths(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/{api_tenant}/tickets/",
        "/api/v1/{api_tenant}/tickets/{number}/",
        "/api/v1/{api_tenant}/tickets/{number}/messages/",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_rate_limit_per_key(tenant, admin_user, write_key, api, settings):
    settings.API_RATE = "3/min"
    for _ in range(3):
        assert api(write_key).get(tickets_url()).status_code == 200
    response = api(write_key).get(tickets_url())
    assert response.status_code == 429
    assert "errors" in response.json() and response["Retry-After"]
    # Counted per key: another key of the tenant still gets in.
    other = make_key(tenant, actor=admin_user)[1]
    assert api(other).get(tickets_url()).status_code == 200


# ---------------------------------------------------------------- the admins' page


def test_admin_makes_a_key_shown_once_and_revokes_it(tenant, admin_user, login, api):
    client = login(admin_user)
    url = f"/{tenant.slug}/settings/api-keys/"
    response = client.post(url, {"name": "Chat widget", "scope": "write"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    with tenant_context(tenant):
        api_key = ApiKey.objects.get()
    raw = re.search(rf"hd_{api_key.prefix}_[A-Za-z0-9_-]+", page).group()
    assert api_key.key_hash == helpdesk_services.api_key_hash(raw)
    assert api_key.created_by == admin_user and api_key.scope == "write"
    assert api(raw).get(tickets_url()).status_code == 200
    # Listed by prefix only afterwards.
    page = client.get(url).content.decode()
    assert f"hd_{api_key.prefix}_…" in page and raw not in page
    response = client.post(f"{url}{api_key.pk}/revoke/")
    assert response.status_code == 302
    assert api(raw).get(tickets_url()).status_code == 401


def test_keys_page_refuses_a_blank_name(tenant, admin_user, login):
    response = login(admin_user).post(
        f"/{tenant.slug}/settings/api-keys/", {"name": "  ", "scope": "read"}
    )
    assert response.status_code == 200
    with tenant_context(tenant):
        assert not ApiKey.objects.exists()


def test_the_audit_trail_names_the_api_key_a_change_came_through(
    tenant, admin_user, agent, api, login
):
    api_key, raw = make_key(tenant, actor=admin_user)
    created = (
        api(raw)
        .post(
            tickets_url(),
            {"requester_email": "pat@example.com", "subject": "Phoned in", "body": "Line is down."},
        )
        .json()
    )
    number, version = created["number"], created["version"]
    api(raw).patch(tickets_url(number=number), {"priority": "high", "version": version})
    with tenant_context(tenant):
        ticket = Ticket.objects.get(number=number)
        kinds = set(ticket.events.values_list("kind", "actor_api_key_id"))
        assert kinds == {
            ("created", api_key.pk),
            ("message_added", api_key.pk),
            ("field_changed", api_key.pk),
        }
        # A change made in the browser names no key.
        services.ticket_update(ticket=ticket, actor=agent, expected_version=None, priority=1)
        assert ticket.events.filter(actor_api_key=None).count() == 1
    page = login(agent).get(reverse("tickets:detail", args=["acme", number]))
    assert "via API key “Phone system”" in page.content.decode()
