import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, TicketFactory
from tickets import reply_stash, services
from tickets.models import Attachment, Contact, Event, Message, Ticket


def _text(response) -> str:
    """What a person reads in an HTML page: its text, tags gone, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", response.content.decode()).split())


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
    page = _text(client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])))
    assert "changed priority from Normal to Urgent" in page
    assert "changed type from Question to Incident" in page


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
    url = reverse("tenant_general", args=[tenant.slug])
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
    # The time zone is chosen from the IANA list: anything else is refused.
    assert "2-10 capital letters" in body and "Mars/Base is not one of the available" in body
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


# ---------------------------------------------------------------- merging stale edits


def _form_values(html: str, action: str) -> dict:
    """The values a browser would post from the form with this action, as
    the page rendered it (selected options, ticked boxes, hidden inputs)."""
    from selectolax.lexbor import LexborHTMLParser

    form = LexborHTMLParser(html).css_first(f'form[action="{action}"]')
    assert form is not None, f"no form posting to {action}"
    values: dict = {}
    for field in form.css("input, select, textarea"):
        name = field.attrs.get("name")
        kind = field.attrs.get("type", "")
        if not name or kind in ("submit", "file"):
            continue
        if kind in ("checkbox", "radio"):
            if "checked" in field.attrs:
                values.setdefault(name, []).append(field.attrs.get("value", "on"))
        elif field.tag == "select":
            chosen = field.css_first("option[selected]") or field.css_first("option")
            values[name] = chosen.attrs.get("value", "") if chosen else ""
        elif field.tag == "textarea":
            values[name] = field.text()
        else:
            values[name] = field.attrs.get("value", "")
    return values


@pytest.fixture
def billing(tenant):
    from tests.factories import SupportGroupFactory

    with tenant_context(tenant):
        return SupportGroupFactory(name="Billing")


def _open_details(client, tenant, ticket):
    """The Details form's values as the agent's page holds them."""
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    return _form_values(
        page.content.decode(), reverse("tickets:update", args=[tenant.slug, ticket.number])
    )


def test_stale_edit_of_another_field_is_merged_and_the_colleagues_change_stays(
    tenant, ticket, agent, dispatcher, billing, client, login
):
    form = _open_details(login(agent), tenant, ticket)
    with tenant_context(tenant):  # a colleague moves it to Billing meanwhile
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, group=billing
        )
    form["priority"] = "4"  # the agent changes only the priority
    response = client.post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]), form, follow=True
    )
    assert response.status_code == 200
    page = _text(response)
    assert f"Meanwhile {dispatcher.get_full_name()} changed group to Billing" in page
    with tenant_context(tenant):
        ticket.refresh_from_db()
        mine = list(Event.objects.filter(ticket=ticket, actor_user=agent).values_list("field"))
    assert (ticket.priority, ticket.group_id) == (4, billing.pk)
    assert mine == [("priority",)]  # nothing the agent did not touch was written


def test_stale_edit_of_the_same_field_is_refused_and_shows_both_values(
    tenant, ticket, agent, dispatcher, billing, client, login
):
    form = _open_details(login(agent), tenant, ticket)
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket,
            actor=dispatcher,
            expected_version=ticket.version,
            priority=3,
            group=billing,
        )
    form["priority"] = "1"
    url = reverse("tickets:update", args=[tenant.slug, ticket.number])
    response = client.post(url, form)
    assert response.status_code == 409
    page = _text(response)
    assert f"{dispatcher.get_full_name()} also changed priority" in page
    assert f"Also changed by {dispatcher.get_full_name()} to High; yours is selected" in page
    assert f"Changed by {dispatcher.get_full_name()} to Billing; kept" in page
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.priority, ticket.group_id) == (3, billing.pk)  # nothing of the agent's written

    # "Save again" as the refused page stands: the agent's priority, the
    # colleague's group (which the agent never touched) kept.
    retry = _form_values(response.content.decode(), url)
    assert retry["priority"] == "1" and retry["group"] == str(billing.pk)
    assert client.post(url, retry).status_code == 302
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.priority, ticket.group_id) == (1, billing.pk)


def test_a_page_without_its_opened_values_is_refused_when_stale_as_before(
    tenant, ticket, agent, dispatcher, billing, login
):
    client = login(agent)
    form = _open_details(client, tenant, ticket)
    del form["opened"]
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, group=billing
        )
    form["priority"] = "4"
    response = client.post(reverse("tickets:update", args=[tenant.slug, ticket.number]), form)
    assert response.status_code == 409
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.priority, ticket.group_id) == (2, billing.pk)


@pytest.mark.parametrize(
    "opened",
    ["not json", "[1, 2]", '{"status": 5, "group": "x", "tags": "a"}', '{"priority": true}'],
)
def test_tampered_opened_values_never_overwrite_a_colleague(
    tenant, ticket, agent, dispatcher, billing, login, opened
):
    client = login(agent)
    form = _open_details(client, tenant, ticket)
    form["opened"] = opened
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, group=billing
        )
    response = client.post(reverse("tickets:update", args=[tenant.slug, ticket.number]), form)
    assert response.status_code == 409
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.group_id == billing.pk


def test_saving_an_unchanged_panel_writes_nothing(tenant, ticket, agent, login):
    client = login(agent)
    form = _open_details(client, tenant, ticket)
    response = client.post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]), form, follow=True
    )
    assert "Nothing to save" in _text(response)
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.version == 1


# ---------------------------------------------------------------- one status rule


def test_assigning_from_the_ticket_page_opens_a_new_ticket_like_bulk_assign(
    tenant, agent, dispatcher, login
):
    with tenant_context(tenant):
        on_page, in_bulk = TicketFactory(), TicketFactory()
    client = login(dispatcher)
    form = _open_details(client, tenant, on_page)
    form["assignee"] = str(agent.pk)  # status stays "New" in the form
    client.post(reverse("tickets:update", args=[tenant.slug, on_page.number]), form)
    client.post(
        reverse("tickets:queue_bulk", args=[tenant.slug, "all"]),
        {"numbers": [in_bulk.number], "action": "assign", "assignee": agent.pk},
    )
    with tenant_context(tenant):
        on_page.refresh_from_db()
        in_bulk.refresh_from_db()
    assert (on_page.status, on_page.assignee) == ("open", agent)
    assert (in_bulk.status, in_bulk.assignee) == ("open", agent)


def test_assigning_with_a_chosen_status_keeps_that_status(tenant, ticket, agent, login):
    client = login(agent)
    form = _open_details(client, tenant, ticket)
    form.update(assignee=str(agent.pk), status="pending")
    client.post(reverse("tickets:update", args=[tenant.slug, ticket.number]), form)
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == ("pending", agent)


def test_a_page_from_before_the_merge_still_opens_an_assigned_ticket(tenant, ticket, agent, login):
    # Every field posted, status "new" among them: the service's rule applies.
    login(agent).post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]),
        {
            "version": ticket.version,
            "status": "new",
            "priority": "2",
            "type": "question",
            "assignee": agent.pk,
        },
    )
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.status == "open"


# ---------------------------------------------------------------- refused replies keep their files


def _reply_url(tenant, ticket):
    return reverse("tickets:reply", args=[tenant.slug, ticket.number])


def test_a_refused_reply_keeps_its_files_and_sending_again_attaches_them(
    tenant, ticket, agent, dispatcher, login
):
    client = login(agent)
    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, priority=4
        )
    refused = client.post(
        _reply_url(tenant, ticket),
        {
            "version": ticket.version,
            "kind": "reply",
            "body": "Logs attached.",
            "attachments": [SimpleUploadedFile("trace.log", b"line 1\nline 2\n", "text/plain")],
        },
    )
    assert refused.status_code == 409
    page = _text(refused)
    assert "Attached from your last try" in page and "trace.log" in page
    assert _count(tenant, Attachment) == 0

    # Send again as the page stands: no file chosen again.
    again = client.post(
        _reply_url(tenant, ticket),
        _form_values(refused.content.decode(), _reply_url(tenant, ticket)),
    )
    assert again.status_code == 302
    with tenant_context(tenant):
        attachment = Attachment.objects.get()
        assert attachment.filename == "trace.log"
        assert attachment.file.read() == b"line 1\nline 2\n"
        assert attachment.message.body_text == "Logs attached."
    # The kept copy went with the reply.
    days, _ = default_storage.listdir(f"reply-stash/{tenant.pk}")
    assert [default_storage.listdir(f"reply-stash/{tenant.pk}/{day}")[1] for day in days] == [[]]


def test_abandoned_kept_files_are_cleared_after_a_day(tenant):
    old = default_storage.save(f"reply-stash/{tenant.pk}/20200101/{'a' * 32}", ContentFile(b"x"))
    today = reply_stash.stash_uploads(
        tenant_id=tenant.pk, uploads=[SimpleUploadedFile("new.txt", b"y")], room=10
    )[0]
    assert not default_storage.exists(old)
    assert (
        reply_stash.stash_read(
            reply_stash.stash_token(tenant_id=tenant.pk, user_id=1, ticket_number=1, files=today),
            tenant_id=tenant.pk,
            user_id=1,
            ticket_number=1,
        )
        == today
    )


def test_a_kept_file_can_be_left_out_and_is_never_someone_elses(
    tenant, ticket, agent, dispatcher, login
):
    client = login(agent)
    refused = client.post(
        _reply_url(tenant, ticket),
        {
            "version": ticket.version,
            "kind": "note",
            "body": "",
            "attachments": [
                SimpleUploadedFile("a.txt", b"a"),
                SimpleUploadedFile("invoice.exe", b"MZ\x90\x00"),
                SimpleUploadedFile("b.txt", b"b"),
            ],
        },
    )
    assert refused.status_code == 400
    assert "Not attached: invoice.exe: .exe files are not accepted." in _text(refused)
    form = _form_values(refused.content.decode(), _reply_url(tenant, ticket))
    assert len(form["keep"]) == 2
    # The note mode survives the refusal.
    assert 'class="card composer is-note"' in refused.content.decode()

    # Another agent posting the same reference gets none of the files.
    stolen = login(dispatcher).post(_reply_url(tenant, ticket), {**form, "body": "Mine now"})
    assert stolen.status_code == 302
    assert _count(tenant, Attachment) == 0

    form["keep"] = form["keep"][1:]  # untick a.txt
    form["body"] = "Only b"
    form["version"] = ticket.version + 1
    assert login(agent).post(_reply_url(tenant, ticket), form).status_code == 302
    with tenant_context(tenant):
        assert list(Attachment.objects.values_list("filename", flat=True)) == ["b.txt"]
