"""Presence (who else is on a ticket), canned responses, and how messages show."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk import presence
from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, MembershipFactory, TicketFactory
from tickets import services
from tickets.models import Attachment, CannedResponse


def _text(response) -> str:
    """What a person reads in an HTML response: its text without the tags."""
    return re.sub(r"<[^>]+>", "", response.content.decode())


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
    seen_by_agent = _text(login(agent).post(url, {"replying": "0"}))
    assert f"{dispatcher.get_full_name()} is replying" in seen_by_agent
    seen_by_dispatcher = _text(login(dispatcher).post(url, {"replying": "1"}))
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


# ---------------------------------------------------------------- the live ticket page


def _poll_url(page_html: str) -> str:
    """The state URL the page polls, as the page carries it."""
    found = re.search(r'id="ticket-poll"[^>]*hx-get="([^"]+)"', page_html)
    assert found, "the page does not poll"
    return found.group(1).replace("&amp;", "&")


def _customer_writes(tenant, ticket, body):
    with tenant_context(tenant):
        return services.message_add(
            ticket=ticket, kind="customer", body=body, author_contact=ticket.requester
        )


def test_poll_is_empty_while_nothing_changes_and_brings_what_changed(
    tenant, ticket, agent, dispatcher, login
):
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    poll = _poll_url(page.content.decode())
    quiet = client.get(poll, HTTP_HX_REQUEST="true")
    assert quiet.status_code == 204 and quiet.content == b""

    with tenant_context(tenant):
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, priority=4
        )
    _customer_writes(tenant, ticket, "It is smoking now.")
    fresh = client.get(poll, HTTP_HX_REQUEST="true")
    assert fresh.status_code == 200
    html = fresh.content.decode()
    # The header and the new entries, marked, and said in words.
    assert 'id="ticket-summary" class="ticket-summary" hx-swap-oob="true"' in html
    assert "Urgent" in html
    assert 'hx-swap-oob="beforeend:#timeline"' in html
    assert "It is smoking now." in html and html.count('class="new-badge"') == 2
    text = _text(fresh)
    assert "1 new message from Pat Lee." in text
    assert f"{dispatcher.get_full_name()} changed priority." in text
    # The composer is never sent, only the version a reply is made on.
    assert 'id="composer"' not in html and "<textarea" not in html
    assert f'id="composer-version" value="{ticket.version + 2}" hx-swap-oob="true"' in html
    # The next poll asks from here on, and is quiet again.
    assert client.get(_poll_url(html), HTTP_HX_REQUEST="true").status_code == 204


def test_the_agents_own_changes_are_not_announced_as_new(tenant, ticket, agent, login):
    client = login(agent)
    poll = _poll_url(
        client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    )
    with tenant_context(tenant):
        services.message_add(ticket=ticket, kind="note", body="Own note", author_user=agent)
    html = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert "Own note" in html
    assert 'class="new-badge"' not in html
    assert re.search(r'<p id="ticket-live" hx-swap-oob="innerHTML">\s*</p>', html)


def test_poll_queries_are_few_and_do_not_grow_with_what_changed(
    tenant, ticket, agent, login, django_assert_max_num_queries
):
    client = login(agent)
    poll = _poll_url(
        client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    )
    with django_assert_max_num_queries(QUIET_POLL_QUERIES):
        assert client.get(poll).status_code == 204

    def changed_poll_queries(messages):
        for i in range(messages):
            with tenant_context(tenant):
                services.message_add(
                    ticket=ticket,
                    kind="customer",
                    body=f"update {i}",
                    author_contact=ticket.requester,
                    attachments=[SimpleUploadedFile(f"shot{i}.png", PNG, "image/png")],
                )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(poll)
        assert response.status_code == 200
        return len(queries)

    one = changed_poll_queries(1)
    ten = changed_poll_queries(10)
    assert one == ten <= CHANGED_POLL_QUERIES


def test_poll_of_another_tenants_ticket_is_not_found(tenant, other_tenant, outsider, login):
    with tenant_context(tenant):
        ours = TicketFactory(subject="Ours")
    response = login(outsider).get(
        reverse("tickets:state", args=[other_tenant.slug, ours.number]) + "?v=1&e=0"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("query", ["?v=x&e=y", "?v=&e=", "?e=-1", "?v=1&e=99999999999999999999"])
def test_poll_with_odd_parameters_still_answers(tenant, ticket, agent, login, query):
    response = login(agent).get(reverse("tickets:state", args=[tenant.slug, ticket.number]) + query)
    assert response.status_code == 200
    assert 'id="ticket-poll"' in response.content.decode()


# ---------------------------------------------------------------- what the page shows

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
# Session, user, membership, the tenant setting (set and reset, in a
# savepoint) are every page's; the ticket's state is one query more.
QUIET_POLL_QUERIES = 8
CHANGED_POLL_QUERIES = 15


def test_image_attachments_show_a_lazy_thumbnail_through_the_checked_view(
    tenant, ticket, agent, login
):
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket,
            kind="customer",
            body="Screenshot and the log",
            author_contact=ticket.requester,
            attachments=[
                SimpleUploadedFile("screen.png", PNG, "image/png"),
                SimpleUploadedFile("report.pdf", b"%PDF-1.4 ...", "application/pdf"),
                SimpleUploadedFile("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            ],
        )
        png = Attachment.objects.get(filename="screen.png")
    client = login(agent)
    html = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    url = reverse("tickets:attachment", args=[tenant.slug, ticket.number, png.pk])
    images = re.findall(r'<img class="attachment-thumb"[^>]*>', html)
    assert images == [
        f'<img class="attachment-thumb" src="{url}" alt="" loading="lazy" decoding="async">'
    ]
    assert " style=" not in html.split('<ol class="timeline"')[1].split("</ol>")[0]
    served = client.get(url)
    assert served["Content-Type"] == "image/png" and b"".join(served.streaming_content) == PNG
    assert login(TicketPageOutsider.get(tenant)).get(url).status_code == 404


class TicketPageOutsider:
    """An agent of another tenant, made on demand."""

    @staticmethod
    def get(tenant):
        from tests.factories import TenantFactory

        other = TenantFactory(slug="initech", name="Initech", ticket_prefix="INI")
        return MembershipFactory(tenant=other, role=Membership.Role.ADMIN).user


def test_an_image_shown_in_the_mail_itself_is_not_shown_twice(tenant, agent, login):
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Look",
            body="See below",
            requester_email="pat@example.com",
            body_html='<p>See below</p><img src="cid:shot@x" alt="shot">',
            attachments=[_with_content_id(SimpleUploadedFile("shot.png", PNG, "image/png"))],
        )
    html = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    assert 'class="attachment-thumb"' not in html.content.decode()


def _with_content_id(upload, content_id="shot@x"):
    upload.content_id = content_id
    return upload


HEBREW_SUBJECT = "המדפסת לא מדפיסה"
ARABIC_BODY = "الطابعة لا تعمل منذ الصباح"


def test_user_written_text_takes_its_own_direction_everywhere(tenant, agent, login):
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject=HEBREW_SUBJECT,
            body=ARABIC_BODY,
            requester_email="dana@example.com",
            requester_name="דנה כהן",
        )
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    assert f'<h1 dir="auto">{HEBREW_SUBJECT}</h1>' in page
    assert re.search(r'<div class="msg-body" dir="auto">\s*<p>' + ARABIC_BODY, page)
    assert '<strong dir="auto">דנה כהן</strong>' in page
    assert re.search(r'<textarea [^>]*dir="auto"', page)
    for url in (
        reverse("tickets:queue", args=[tenant.slug, "unassigned"]),
        reverse("tickets:list", args=[tenant.slug]),
    ):
        assert f'dir="auto">{HEBREW_SUBJECT}</a>' in client.get(url).content.decode()
    board = client.get(reverse("tickets:board", args=[tenant.slug])).content.decode()
    assert f'<p class="card-subject" dir="auto">{HEBREW_SUBJECT}</p>' in board
    found = client.get(reverse("tickets:search", args=[tenant.slug]), {"q": "המדפסת"})
    assert re.search(r'dir="auto">[^<]*<mark>המדפסת</mark>', found.content.decode())


def test_note_mode_is_unmistakable_without_javascript_too(tenant, ticket, agent, login):
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number])).content.decode()
    assert 'class="card composer"' in page
    assert 'data-note-label="Add internal note"' in page and ">Send</button>" in page
    refused = client.post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "kind": "note", "body": ""},
    ).content.decode()
    assert 'class="card composer is-note"' in refused
    assert ">Add internal note</button>" in refused
    assert "only agents see it" in refused


# ---------------------------------------------------------------- previous and next


def test_previous_and_next_follow_the_queue_the_agent_came_from(tenant, agent, login):
    with tenant_context(tenant):
        first = TicketFactory(subject="First", priority=4)
        second = TicketFactory(subject="Second", priority=3)
        third = TicketFactory(subject="Third", priority=1)
        TicketFactory(subject="Someone else's", priority=3, assignee=agent)
    client = login(agent)
    queue = client.get(reverse("tickets:queue", args=[tenant.slug, "unassigned"]))
    link = re.search(
        rf'href="([^"]*/tickets/{second.number}/\?from=[^"]+)"', queue.content.decode()
    )
    assert link, "queue rows link to the ticket with the queue they came from"
    page = client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert re.search(rf'href="[^"]*/tickets/{first.number}/\?from=unassigned" rel="prev"', page)
    assert re.search(rf'href="[^"]*/tickets/{third.number}/\?from=unassigned" rel="next"', page)
    assert "<kbd>n</kbd>" in page and "<kbd>p</kbd>" in page

    # Filters come along: among high and urgent tickets only, Second is last.
    filtered = client.get(
        reverse("tickets:detail", args=[tenant.slug, second.number]),
        {"from": "unassigned?priority=3&priority=4"},
    ).content.decode()
    assert f"/tickets/{first.number}/" in filtered
    assert 'rel="next"' not in filtered and f"/tickets/{third.number}/" not in filtered


@pytest.mark.parametrize("origin", ["", "nope", "all", "group-999", "unassigned?priority=x"])
def test_no_queue_or_one_the_agent_cannot_see_gives_no_broken_links(
    tenant, ticket, agent, login, origin
):
    response = login(agent).get(
        reverse("tickets:detail", args=[tenant.slug, ticket.number]), {"from": origin}
    )
    assert response.status_code == 200
    page = response.content.decode()
    if origin.startswith("unassigned"):
        assert 'class="ticket-nav"' in page
    else:
        assert 'class="ticket-nav"' not in page


def test_a_reply_sent_from_a_queue_comes_back_with_its_queue(tenant, ticket, agent, login):
    response = login(agent).post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {"version": ticket.version, "kind": "reply", "body": "On it.", "from": "unassigned"},
    )
    assert response["Location"].endswith(f"/tickets/{ticket.number}/?from=unassigned#composer")
