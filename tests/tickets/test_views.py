import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, TicketFactory
from tickets import services
from tickets.models import Attachment, Contact, Event, Message, Ticket


def _count(tenant, model):
    with tenant_context(tenant):
        return model.objects.count()


def test_agent_logs_a_phone_request_and_sees_it(tenant, agent, login):
    client = login(agent)
    response = client.post(
        reverse("tickets:new", args=[tenant.slug]),
        {
            "requester_email": "pat@example.com",
            "requester_name": "Pat Lee",
            "subject": "Phone: cannot print",
            "body": "Called at 9:10, printer shows E42.",
            "channel": "phone",
            "priority": "3",
            "type": "incident",
            "tags": "printer, vip",
            "assignee": agent.pk,
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
    assert response["Location"] == reverse("tickets:detail", args=[tenant.slug, ticket.number])
    assert (ticket.channel, ticket.priority, ticket.assignee) == ("phone", 3, agent)
    page = client.get(response["Location"])
    assert b"Phone: cannot print" in page.content
    assert b"printer shows E42" in page.content
    assert f"ACME-{ticket.number}".encode() in page.content


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"requester_email": "not-an-email"}, "requester_email", "Enter a valid email"),
        ({"subject": ""}, "subject", "This field is required"),
        ({"body": ""}, "body", "This field is required"),
        ({"priority": "9"}, "priority", "Select a valid choice"),
        ({"tags": "bad tag!"}, "tags", "tags use letters"),
        ({"cc_emails": "a@example.com, nope"}, "cc_emails", "is not an email address"),
    ],
)
def test_new_ticket_with_bad_input_explains_and_writes_nothing(
    tenant, agent, login, data, field, message
):
    valid = {
        "requester_email": "pat@example.com",
        "subject": "Help",
        "body": "Please",
        "channel": "phone",
        "priority": "2",
        "type": "question",
    }
    response = login(agent).post(reverse("tickets:new", args=[tenant.slug]), {**valid, **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert _count(tenant, Ticket) == 0
    assert _count(tenant, Event) == 0


def test_new_ticket_refuses_a_blocked_attachment_type(tenant, agent, login):
    response = login(agent).post(
        reverse("tickets:new", args=[tenant.slug]),
        {
            "requester_email": "pat@example.com",
            "subject": "Help",
            "body": "Please",
            "channel": "phone",
            "priority": "2",
            "type": "question",
            "attachments": [SimpleUploadedFile("invoice.exe", b"MZ...")],
        },
    )
    assert ".exe files are not accepted" in response.content.decode()
    assert _count(tenant, Ticket) == 0
    assert _count(tenant, Contact) == 0


def test_agent_assigning_someone_else_gets_a_clear_refusal(tenant, agent, dispatcher, login):
    response = login(agent).post(
        reverse("tickets:new", args=[tenant.slug]),
        {
            "requester_email": "pat@example.com",
            "subject": "Help",
            "body": "Please",
            "channel": "phone",
            "priority": "2",
            "type": "question",
            "assignee": dispatcher.pk,
        },
    )
    assert "dispatchers assign others" in response.content.decode()
    assert _count(tenant, Ticket) == 0


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(subject="Printer on fire")


def test_reply_and_note_appear_in_the_timeline(tenant, ticket, agent, login):
    client = login(agent)
    url = reverse("tickets:reply", args=[tenant.slug, ticket.number])
    client.post(url, {"version": ticket.version, "kind": "reply", "body": "Unplug it please."})
    client.post(url, {"version": ticket.version + 1, "kind": "note", "body": "Known fault."})
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    assert "Unplug it please." in page and "Known fault." in page
    assert 'class="msg msg-note"' in page
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.first_response_at is not None
        assert ticket.messages.count() == 3


def test_empty_reply_explains_and_writes_nothing(tenant, ticket, agent, login):
    response = login(agent).post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "kind": "reply", "body": ""},
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert _count(tenant, Message) == 1


def test_reply_on_a_stale_page_keeps_the_draft_and_shows_who_changed_it(
    tenant, ticket, agent, dispatcher, login
):
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, priority=4
        )
    response = login(agent).post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "kind": "reply", "body": "My long careful answer"},
    )
    page = response.content.decode()
    assert response.status_code == 409
    assert "was not saved" in page
    assert dispatcher.get_full_name() in page
    assert "My long careful answer" in page  # the draft is still in the box
    assert f'value="{ticket.version + 1}"' in page  # sending again uses the new version
    assert _count(tenant, Message) == 1


def test_stale_field_edit_is_refused_not_overwritten(tenant, ticket, agent, dispatcher, login):
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, priority=4
        )
    response = login(agent).post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "status": "open", "priority": "1", "type": "question"},
    )
    assert response.status_code == 409
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.priority == 4 and ticket.status == "new"


def test_invalid_status_change_explains_and_changes_nothing(tenant, ticket, agent, login):
    with tenant_context(tenant):
        services.ticket_change_status(
            ticket=ticket, actor=agent, status="resolved", expected_version=None
        )
        ticket.refresh_from_db()
    response = login(agent).post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "status": "pending", "priority": "2", "type": "question"},
    )
    assert response.status_code == 400
    assert "cannot become pending" in response.content.decode()
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.status == "resolved"


def test_field_edit_shows_in_the_timeline(tenant, ticket, agent, login):
    client = login(agent)
    client.post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "status": "open", "priority": "4", "type": "incident"},
    )
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    assert "changed priority from <b>Normal</b> to <b>Urgent</b>" in page
    assert "changed type from <b>Question</b> to <b>Incident</b>" in page


def test_attachment_is_served_to_members_only_as_a_download(tenant, ticket, agent, login):
    client = login(agent)
    client.post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {
            "version": ticket.version,
            "kind": "reply",
            "body": "Log attached",
            "attachments": [SimpleUploadedFile("trace.html", b"<script>x</script>", "text/html")],
        },
    )
    with tenant_context(tenant):
        attachment = Attachment.objects.get()
    response = client.get(
        reverse("tickets:attachment", args=[tenant.slug, ticket.number, attachment.pk])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="trace.html"')
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"<script>x</script>"
    # The same attachment id under another ticket of the tenant is not found.
    with tenant_context(tenant):
        other = TicketFactory()
    response = client.get(
        reverse("tickets:attachment", args=[tenant.slug, other.number, attachment.pk])
    )
    assert response.status_code == 404


def test_ticket_list_pages_by_keyset_with_constant_queries(
    tenant, agent, login, django_assert_max_num_queries
):
    with tenant_context(tenant):
        for _ in range(12):
            TicketFactory()
    client = login(agent)
    url = reverse("tickets:list", args=[tenant.slug])
    with django_assert_max_num_queries(9):
        first = client.get(url + "?before=13")
    with tenant_context(tenant):
        for _ in range(40):
            TicketFactory()
    with django_assert_max_num_queries(9):
        client.get(url)
    assert "ACME-12" in first.content.decode() and "ACME-13" not in first.content.decode()


def test_ticket_page_queries_do_not_grow_with_the_timeline(
    tenant, ticket, agent, login, django_assert_max_num_queries
):
    client = login(agent)
    url = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    with tenant_context(tenant):
        for i in range(15):
            services.message_add(
                ticket=ticket,
                kind=Message.Kind.NOTE if i % 2 else Message.Kind.REPLY,
                body=f"message {i}",
                author_user=agent,
                attachments=[SimpleUploadedFile(f"f{i}.txt", b"x")],
            )
    with django_assert_max_num_queries(20):
        response = client.get(url)
    assert "message 14" in response.content.decode()


def test_admin_changes_settings_and_bad_values_are_explained(tenant, admin_user, login):
    client = login(admin_user)
    url = reverse("tenant_settings", args=[tenant.slug])
    bad = client.post(
        url,
        {
            "name": "Acme",
            "ticket_prefix": "a b",
            "time_zone": "Mars/Base",
            "brand_color": "#123456",
        },
    )
    body = bad.content.decode()
    assert "2-10 capital letters" in body and "not a known time zone" in body
    tenant.refresh_from_db()
    assert tenant.ticket_prefix == "ACME"
    good = client.post(
        url,
        {
            "name": "Acme Care",
            "ticket_prefix": "CARE",
            "time_zone": "Europe/Paris",
            "brand_color": "#123456",
        },
    )
    assert good.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.name, tenant.ticket_prefix) == ("Acme Care", "CARE")


def test_login_with_a_wrong_password_explains(client, agent):
    response = client.post(reverse("login"), {"username": agent.username, "password": "nope"})
    assert "Please enter a correct username and password" in response.content.decode()


def test_home_offers_every_tenant_of_a_user_in_several(tenant, other_tenant, agent, login):
    MembershipFactory(tenant=other_tenant, user=agent, role=Membership.Role.AGENT)
    page = login(agent).get(reverse("home")).content.decode()
    assert "Acme Support" in page and "Globex" in page
