"""The customer portal: ticket links from the mail the app sent, what the
customer sees (and never sees), replies, solving, reopening, ratings, the
links' walls and the portal's headers."""

import re
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Notification
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import services
from tickets.models import (
    Event,
    Message,
    PortalLink,
    PortalSettings,
    PortalSignIn,
    Rating,
    Ticket,
)

LINK = re.compile(r"https?://[^/\s]+(/portal/[^\s\"<>]+?/t/\d+/[A-Za-z0-9_\-]{44}/)")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _memory_mail(settings, eager):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    django_mail.outbox = []


def links_in(message) -> list[str]:
    """The portal links in a mail we sent, text and HTML part, as paths."""
    found = LINK.findall(message.body)
    for html, _type in message.alternatives:
        found += LINK.findall(html)
    return list(dict.fromkeys(found))


def mail_to(address):
    """The copies of mail whose envelope goes to `address`, oldest first."""
    return [m for m in django_mail.outbox if m.recipients() == [address]]


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def pat_link():
    return links_in(mail_to("pat@example.com")[-1])[0]


# ---------------------------------------------------------------- links in mail


def test_the_acknowledgement_of_a_mail_carries_a_link_that_opens_the_ticket(client, tenant):
    with tenant_context(tenant):
        TicketFactory(requester=ContactFactory(email="sam@example.com"), subject="Laptop is slow")
    [ack] = django_mail.outbox
    [path] = links_in(ack)
    response = client.get(path)
    assert response.status_code == 200
    text = _text(response)
    assert "Laptop is slow" in text and "ACME-1" in text and "Received" in text


def test_each_recipient_gets_a_copy_with_their_own_link(client, tenant, emailed_ticket):
    pat, boss = mail_to("pat@example.com")[-1], mail_to("boss@example.com")[-1]
    # Both copies name everyone, as one mail would; each envelope holds one.
    assert (pat.to, pat.cc) == (boss.to, boss.cc) == (["pat@example.com"], ["boss@example.com"])
    [pat_path], [boss_path] = links_in(pat), links_in(boss)
    assert pat_path != boss_path
    assert client.get(pat_path).status_code == client.get(boss_path).status_code == 200
    # The table keeps no link: neither the token nor its verifier is stored.
    token = pat_path.rstrip("/").rsplit("/", 1)[1]
    with tenant_context(tenant):
        stored = list(PortalLink.objects.values_list("selector", "verifier_sha256", "email"))
    assert all(token not in selector + digest for selector, digest, _ in stored)
    assert all(token[12:] not in digest for _, digest, _ in stored)
    assert {email for *_, email in stored} == {"pat@example.com", "boss@example.com"}


def test_a_public_reply_mail_carries_the_link_but_a_web_form_acknowledgement_does_not(
    tenant, agent
):
    with tenant_context(tenant):
        ticket = TicketFactory(
            requester=ContactFactory(email="web@example.com"), channel=Ticket.Channel.WEB
        )
    [ack] = django_mail.outbox
    assert links_in(ack) == []  # anyone can type any address into the web form
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Hello", author_user=agent
        )
    assert len(links_in(django_mail.outbox[-1])) == 1


# ---------------------------------------------------------------- what the page shows


def test_the_page_shows_the_public_timeline_and_never_internal_things(
    client, tenant, agent, emailed_ticket
):
    agent.first_name, agent.last_name, agent.email = "Robin", "Zyxwa", "robin.zyxwa@acme.example"
    agent.save()
    path = pat_link()
    boss_token = links_in(mail_to("boss@example.com")[-1])[0].rstrip("/").rsplit("/", 1)[1]
    response = client.get(path)
    page = response.content.decode()
    text = _text(response)
    assert "Printer on fire" in text and "It smokes." in text and "Please unplug it." in text
    assert "In progress" in text  # Open, in the customer's words
    assert "Robin" in text  # who handles it: the first name only
    assert "Zyxwa" not in page and "robin.zyxwa" not in page
    assert "SECRET-NOTE" not in page and "internal.txt" not in page
    assert boss_token not in page
    assert "steps.txt" in page
    with tenant_context(tenant):
        note_file = Message.objects.get(kind=Message.Kind.NOTE).attachments.get()
        reply_file = Message.objects.get(kind=Message.Kind.REPLY).attachments.get()
    assert client.get(f"{path}files/{reply_file.pk}/").getvalue() == b"unplug"
    # The note's file under this link is the same 404 as any other miss.
    assert client.get(f"{path}files/{note_file.pk}/").status_code == 404


def test_portal_headers(client, tenant, emailed_ticket):
    for response in (client.get(pat_link()), client.get(pat_link()[:-5] + "xxxx/")):
        assert response["X-Robots-Tag"].startswith("noindex")
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "no-referrer"
        csp = response["Content-Security-Policy"]
        assert "img-src 'self' data:;" in csp.replace("data: ", "data:;") or (
            "img-src 'self' data:" in csp and "https:" not in csp.split("img-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp


# ---------------------------------------------------------------- walls


def test_every_wrong_link_is_the_same_404(client, tenant, other_tenant, agent, emailed_ticket):
    path = pat_link()
    slug, number, token = re.match(r"/portal/([^/]+)/t/(\d+)/([^/]+)/", path).groups()
    with tenant_context(tenant):
        other = TicketFactory(requester=ContactFactory(email="kim@example.com"))
    other_path = links_in(mail_to("kim@example.com")[-1])[0]
    other_token = other_path.rstrip("/").rsplit("/", 1)[1]
    wrong = [
        f"/portal/{slug}/t/{number}/{token[:-1]}{'B' if token.endswith('A') else 'A'}/",  # one character off
        f"/portal/{slug}/t/{number}/{'A' * 44}/",  # unknown selector
        f"/portal/{slug}/t/{number}/short/",  # malformed
        f"/portal/{slug}/t/{number}/{other_token}/",  # another ticket's link
        f"/portal/{slug}/t/{other.number}/{token}/",  # this link on another number
        f"/portal/{slug}/t/{number}/{token}/solve/x/",
    ]
    bodies = set()
    for url in wrong:
        response = client.get(url)
        assert response.status_code == 404, url
        if not url.endswith("x/"):
            bodies.add(re.sub(rb'nonce="[^"]*"', b"", response.content))
    assert len(bodies) == 1  # one page: nothing tells a wrong token from a missing ticket
    # The same token under another tenant's URL.
    assert client.get(f"/portal/{other_tenant.slug}/t/{number}/{token}/").status_code == 404
    # A POST with a wrong token writes nothing.
    assert client.post(f"/portal/{slug}/t/{number}/{'A' * 44}/solve/").status_code == 404
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=emailed_ticket.pk).status == Ticket.Status.OPEN


def test_the_agent_revokes_and_reissues_links(tenant, agent, login, emailed_ticket):
    client = Client()  # the customer's browser; the agent has their own
    old = pat_link()
    assert client.get(old).status_code == 200
    agent_client = login(agent)
    response = agent_client.post(
        reverse("tickets:portal_links_reset", args=[tenant.slug, emailed_ticket.number])
    )
    assert response.status_code == 302
    assert client.get(old).status_code == 404
    new = pat_link()
    assert new != old and client.get(new).status_code == 200
    assert len(mail_to("boss@example.com")) == 2  # the CC got a fresh one too
    with tenant_context(tenant):
        event = Event.objects.get(kind="portal_links_reset")
    assert event.actor_user == agent and not event.is_public
    # Agents see the panel; the portal page never shows the event.
    page = agent_client.get(reverse("tickets:detail", args=[tenant.slug, emailed_ticket.number]))
    assert "Revoke all links and mail new ones" in page.content.decode()
    assert "reset the customer links" in page.content.decode()


def test_token_lookups_are_rate_limited(client, tenant, settings, emailed_ticket):
    settings.PORTAL_LOOKUPS_PER_IP = 3
    path = pat_link()
    codes = [client.get(path, REMOTE_ADDR="203.0.113.9").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# ---------------------------------------------------------------- writes


def test_reply_with_an_attachment_reaches_the_agent(client, tenant, agent, login, emailed_ticket):
    path = pat_link()
    response = client.post(
        f"{path}reply/",
        {
            "body": "Unplugged, still warm.",
            "attachments": SimpleUploadedFile("photo.png", b"\x89PNG fake", "image/png"),
        },
    )
    assert response.status_code == 302
    page = client.get(path).content.decode()
    assert "Unplugged, still warm." in page and "photo.png" in page
    with tenant_context(tenant):
        message = Message.objects.filter(kind=Message.Kind.CUSTOMER).latest("created_at")
        assert message.author_contact.email == "pat@example.com"
        assert message.attachments.get().filename == "photo.png"
        assert Event.objects.filter(message=message, kind="message_added").exists()
    agent_page = login(agent).get(
        reverse("tickets:detail", args=[tenant.slug, emailed_ticket.number])
    )
    assert "Unplugged, still warm." in agent_page.content.decode()


def test_a_bad_reply_keeps_the_text(client, tenant, emailed_ticket):
    path = pat_link()
    response = client.post(
        f"{path}reply/",
        {"body": "Here is the log", "attachments": SimpleUploadedFile("x.exe", b"MZ", "")},
    )
    assert response.status_code == 400
    assert "Here is the log" in response.content.decode()
    with tenant_context(tenant):
        assert not Message.objects.filter(body_text="Here is the log").exists()


def test_solve_rate_and_the_agent_sees_the_rating(client, tenant, agent, login, emailed_ticket):
    path = pat_link()
    assert client.post(f"{path}solve/").status_code == 302
    with tenant_context(tenant):
        ticket = Ticket.objects.get(pk=emailed_ticket.pk)
        assert ticket.status == Ticket.Status.RESOLVED
        solved = Event.objects.filter(kind="status_changed").latest("pk")
        assert solved.actor_contact.email == "pat@example.com"
    assert "Solved" in _text(client.get(path))
    # The solved mail asks for a rating; following its link records nothing.
    solved_mail = mail_to("pat@example.com")[-1]
    rate_links = re.findall(r"(/portal/\S+?/rate/\?score=\d)", solved_mail.body)
    assert len(rate_links) == 2  # good or bad, the default scale
    bad = next(url for url in rate_links if url.endswith("score=0"))
    assert client.get(bad).status_code == 200
    with tenant_context(tenant):
        assert not Rating.objects.exists()
    response = client.post(bad.split("?")[0], {"score": "0", "comment": "Took ages"})
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    with tenant_context(tenant):
        rating = Rating.objects.get()
        assert (rating.score, rating.is_good, rating.assignee_id) == (0, False, agent.pk)
        assert rating.solved_at == ticket.resolved_at
        # A bad rating tells the agent who handled it.
        assert Notification.objects.filter(user=agent, text__startswith="Bad rating").exists()
    # Changed within the window: the same row.
    client.post(f"{path}rate/", {"score": "1", "comment": ""})
    with tenant_context(tenant):
        assert Rating.objects.get().is_good
    agent_page = (
        login(agent)
        .get(reverse("tickets:detail", args=[tenant.slug, emailed_ticket.number]))
        .content.decode()
    )
    assert "rated the help" in agent_page and "Took ages" in agent_page


def test_one_rating_per_solved_cycle_and_the_change_window(client, tenant, agent, emailed_ticket):
    path = pat_link()
    client.post(f"{path}solve/")
    client.post(f"{path}rate/", {"score": "1"})
    with tenant_context(tenant):
        Rating.objects.update(created_at=timezone.now() - timedelta(days=30))
    response = client.post(f"{path}rate/", {"score": "0"})
    assert response.status_code == 400 and "can no longer be changed" in response.content.decode()
    with tenant_context(tenant):
        assert Rating.objects.get().score == 1
    # Reopened by a reply, solved again: a new cycle asks again.
    client.post(f"{path}reply/", {"body": "It came back."})
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=emailed_ticket.pk).status == Ticket.Status.OPEN
    client.post(f"{path}solve/")
    client.post(f"{path}rate/", {"score": "0"})
    with tenant_context(tenant):
        assert sorted(Rating.objects.values_list("score", flat=True)) == [0, 1]


def test_after_the_reopen_window_a_reply_opens_a_linked_follow_up(client, tenant, emailed_ticket):
    path = pat_link()
    client.post(f"{path}solve/")
    with tenant_context(tenant):
        PortalSettings.objects.create(tenant=tenant, reopen_days=2)
        Ticket.objects.filter(pk=emailed_ticket.pk).update(
            resolved_at=timezone.now() - timedelta(days=3)
        )
    response = client.post(f"{path}reply/", {"body": "Same again."})
    assert response.status_code == 302
    with tenant_context(tenant):
        old = Ticket.objects.get(pk=emailed_ticket.pk)
        follow_up = Ticket.objects.get(follow_up_of=old)
        assert old.status == Ticket.Status.RESOLVED
        assert follow_up.messages.get().body_text == "Same again."
    assert response["Location"].startswith(f"/portal/{tenant.slug}/t/{follow_up.number}/")
    assert client.get(response["Location"]).status_code == 200


def test_the_ticket_page_costs_few_queries(
    client, tenant, emailed_ticket, django_assert_max_num_queries
):
    path = pat_link()
    client.get(path)
    with django_assert_max_num_queries(12):
        assert client.get(path).status_code == 200


def test_the_tenants_language_picks_the_portals_words(client, tenant, emailed_ticket):
    with tenant_context(tenant):
        PortalSettings.objects.create(tenant=tenant, language="de")
    response = client.get(pat_link())
    page = response.content.decode()
    assert 'lang="de"' in page
    assert "In Bearbeitung" in page and "Antworten" in page


# ---------------------------------------------------------------- sign-in


def test_sign_in_by_link_lists_own_tickets_and_opens_a_new_one(client, tenant, emailed_ticket):
    with tenant_context(tenant):
        TicketFactory(requester=ContactFactory(email="kim@example.com"), subject="Kim's own")
    django_mail.outbox = []
    home = reverse("portal:home", args=[tenant.slug])
    known = client.post(home, {"email": "Pat@Example.com"})
    unknown = client.post(home, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert _text(known) == _text(unknown)
    [signin_mail] = django_mail.outbox
    assert signin_mail.recipients() == ["pat@example.com"]
    path = re.search(r"(/portal/\S+/signin/\S+/)", signin_mail.body).group(1)
    # A GET (a mail scanner) does not spend it.
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302
    listing = _text(client.get(response["Location"]))
    assert "Printer on fire" in listing and "Kim's own" not in listing
    assert client.get(reverse("portal:my_ticket", args=[tenant.slug, 1])).status_code == 200
    kims = reverse("portal:my_ticket", args=[tenant.slug, emailed_ticket.number + 1])
    assert client.get(kims).status_code == 404
    response = client.post(
        reverse("portal:new_ticket", args=[tenant.slug]),
        {"subject": "Toner", "body": "Out of toner."},
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        new = Ticket.objects.get(subject="Toner")
        assert (new.channel, new.requester.email) == ("portal", "pat@example.com")
    # Used once: a second use is the expired page.
    client.post(reverse("portal:signout", args=[tenant.slug]))
    again = client.post(path)
    assert again.status_code == 404 and "does not work" in again.content.decode()
    assert client.get(reverse("portal:my_tickets", args=[tenant.slug])).status_code == 302


def test_an_expired_or_other_tenants_sign_in_link_is_refused(client, tenant, other_tenant):
    with tenant_context(tenant):
        ContactFactory(email="pat@example.com")
    client.post(reverse("portal:home", args=[tenant.slug]), {"email": "pat@example.com"})
    path = re.search(r"(/portal/\S+/signin/\S+/)", django_mail.outbox[-1].body).group(1)
    token = path.rstrip("/").rsplit("/", 1)[1]
    other = reverse("portal:signin", args=[other_tenant.slug, token])
    assert client.post(other).status_code == 404
    with tenant_context(tenant):
        PortalSignIn.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.post(path).status_code == 404


# ---------------------------------------------------------------- the cast of every portal URL

# url name -> (arguments after the tenant, methods it answers)
LINK_URLS = {
    "portal:ticket": ((), "GET"),
    "portal:link:reply": ((), "POST"),
    "portal:link:solve": ((), "POST"),
    "portal:link:rate": ((), "GET POST"),
    "portal:link:file": (("file",), "GET"),
}
SIGNED_IN_URLS = {
    "portal:my_ticket": ((), "GET"),
    "portal:mine:reply": ((), "POST"),
    "portal:mine:solve": ((), "POST"),
    "portal:mine:rate": ((), "GET POST"),
    "portal:mine:file": (("file",), "GET"),
}
OPEN_URLS = {
    "portal:home",
    "portal:signin",
    "portal:signout",
    "portal:logo",
    "portal:my_tickets",
    "portal:new_ticket",
}


def test_every_portal_url_is_in_the_cast():
    from helpdesk.checks import url_entries

    names = {e.name for e in url_entries() if e.name and e.name.startswith("portal:")}
    assert names == set(LINK_URLS) | set(SIGNED_IN_URLS) | OPEN_URLS


def test_the_cast_of_every_link_url(client, tenant, other_tenant, agent, login, emailed_ticket):
    path = pat_link()
    number, token = re.match(r"/portal/[^/]+/t/(\d+)/([^/]+)/", path).groups()
    with tenant_context(tenant):
        file_id = Message.objects.get(kind=Message.Kind.REPLY).attachments.get().pk
        other = TicketFactory(requester=ContactFactory(email="kim@example.com"))
    other_token = links_in(mail_to("kim@example.com")[-1])[0].rstrip("/").rsplit("/", 1)[1]
    with tenant_context(other_tenant):
        foreign = TicketFactory(requester=ContactFactory(email="pat@example.com"))
    foreign_token = links_in(mail_to("pat@example.com")[-1])[0].rstrip("/").rsplit("/", 1)[1]
    assert foreign.number == int(number)  # same number in both tenants: only the token differs

    def url(name, slug, num, tok, extra):
        args = [slug, num, tok, *[file_id for _ in extra]]
        return reverse(name, args=args)

    for name, (extra, methods) in LINK_URLS.items():
        ok = url(name, tenant.slug, number, token, extra)
        wrong = [
            url(name, tenant.slug, number, "A" * 44, extra),  # wrong token
            url(name, tenant.slug, number, other_token, extra),  # another ticket's
            url(name, other_tenant.slug, number, token, extra),  # under another tenant
            url(name, tenant.slug, number, foreign_token, extra),  # another tenant's token
            url(name, tenant.slug, other.number, token, extra),  # another ticket's number
        ]
        method = methods.split()[0].lower()
        for bad in wrong:
            assert getattr(client, method)(bad).status_code == 404, (name, bad)
        if "GET" not in methods:
            assert client.get(ok).status_code == 405, name
        else:
            assert client.get(ok).status_code == 200, name
    # Revoked: every URL of the link is 404.
    login(agent).post(reverse("tickets:portal_links_reset", args=[tenant.slug, number]))
    customer = Client()
    for name, (extra, methods) in LINK_URLS.items():
        method = methods.split()[0].lower()
        revoked = url(name, tenant.slug, number, token, extra)
        assert getattr(customer, method)(revoked).status_code == 404, name
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=emailed_ticket.pk).status == Ticket.Status.OPEN


def test_the_cast_of_every_signed_in_url(client, tenant, emailed_ticket):
    with tenant_context(tenant):
        file_id = Message.objects.get(kind=Message.Kind.REPLY).attachments.get().pk
    for name, (extra, methods) in SIGNED_IN_URLS.items():
        args = [tenant.slug, emailed_ticket.number, *[file_id for _ in extra]]
        method = methods.split()[0].lower()
        # Not signed in: the same 404 as a wrong link.
        assert getattr(client, method)(reverse(name, args=args)).status_code == 404, name
    assert client.get(reverse("portal:my_tickets", args=[tenant.slug])).status_code == 302
    assert client.get(reverse("portal:new_ticket", args=[tenant.slug])).status_code == 302
    assert client.post(reverse("portal:signin", args=[tenant.slug, "A" * 44])).status_code == 404
    assert client.get(reverse("portal:signout", args=[tenant.slug])).status_code == 405
    assert client.get("/portal/no-such-tenant/").status_code == 404


def test_seed_demo_prints_a_portal_link_that_opens(client, monkeypatch, capsys):
    from django.core.management import call_command

    from tickets.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 6)
    call_command("seed_demo")
    out = capsys.readouterr().out
    path = LINK.search(out).group(1)
    assert "customer portal" in out
    response = client.get(path)
    assert response.status_code == 200 and "Conversation" in response.content.decode()


def test_link_forms_work_without_a_referrer_and_signed_in_forms_keep_csrf(tenant, emailed_ticket):
    # Under Referrer-Policy: no-referrer a browser posts the page's forms
    # with `Origin: null`; the link's token is what protects them.
    browser = Client(enforce_csrf_checks=True)
    path = pat_link()
    response = browser.post(f"{path}reply/", {"body": "From a phone."}, HTTP_ORIGIN="null")
    assert response.status_code == 302
    # Pages without a token in their URL keep the CSRF check and tell other
    # sites nothing (same-origin).
    home = reverse("portal:home", args=[tenant.slug])
    assert browser.get(home)["Referrer-Policy"] == "same-origin"
    assert browser.post(home, {"email": "pat@example.com"}).status_code == 403


def test_blocks_other_apps_register_are_drawn_for_the_link_holder(
    client, tenant, emailed_ticket, dummy_extensions
):
    # Where the SLA app's "next promise" goes (tickets.extensions.portal_blocks).
    page = client.get(pat_link()).content.decode()
    assert f"Hello Pat Doe, about ACME-{emailed_ticket.number}" in page


def test_the_agents_own_csat_shows_on_their_queue(client, tenant, agent, login, emailed_ticket):
    path = pat_link()
    client.post(f"{path}solve/")
    client.post(f"{path}rate/", {"score": "1"})
    with tenant_context(tenant):
        other = TicketFactory(requester=ContactFactory(email="kim@example.com"), assignee=agent)
    kim = links_in(mail_to("kim@example.com")[-1])[0]
    client.post(f"{kim}solve/")
    client.post(f"{kim}rate/", {"score": "0"})
    assert other.number
    page = _text(login(agent).get(reverse("tickets:queue", args=[tenant.slug, "mine"])))
    assert "Your CSAT: 50% of 2 ratings" in page


def test_what_people_wrote_is_escaped_and_remote_images_are_never_loaded(client, tenant):
    with tenant_context(tenant):
        TicketFactory(
            requester=ContactFactory(email="sam@example.com"),
            body="see image",
            body_html='<p>see <img src="https://tracker.example/p.gif"> image</p>'
            "<script>alert('x')</script>",
        )
    path = links_in(mail_to("sam@example.com")[-1])[0]
    client.post(f"{path}reply/", {"body": "<script>alert('y')</script> <b>bold?</b>"})
    page = client.get(path).content.decode()
    assert "tracker.example" not in page
    assert "Images from other sites are not shown." in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;y&#x27;)&lt;/script&gt;" in page or "&lt;script&gt;" in page


def test_magic_link_requests_and_replies_are_rate_limited(client, tenant, settings, emailed_ticket):
    path = pat_link()
    settings.PORTAL_SIGNIN_PER_ADDRESS = 2
    home = reverse("portal:home", args=[tenant.slug])
    codes = [client.post(home, {"email": "pat@example.com"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    settings.PORTAL_REPLIES_PER_LINK = 2
    codes = [client.post(f"{path}reply/", {"body": f"Again {n}"}).status_code for n in range(3)]
    assert codes == [302, 302, 429]


def test_admins_set_the_portal_and_the_change_is_audited(client, tenant, admin_user, agent, login):
    from helpdesk.models import AuditEntry

    url = reverse("tickets:portal_settings", args=[tenant.slug])
    admin = login(admin_user)
    assert admin.get(url).status_code == 200
    response = admin.post(
        url,
        {"language": "de", "reopen_days": "3", "rating_scale": "five", "rating_change_hours": "24"},
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        row = PortalSettings.objects.get()
        assert (row.language, row.reopen_days, row.rating_scale) == ("de", 3, "five")
        entry = AuditEntry.objects.get(action="portal_settings.update")
        assert entry.actor == admin_user and "language" in entry.summary
    # A bad value is shown with its error; nothing changes.
    response = admin.post(
        url,
        {"language": "xx", "reopen_days": "3", "rating_scale": "five", "rating_change_hours": "24"},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    with tenant_context(tenant):
        assert PortalSettings.objects.get().language == "de"
    assert login(agent).get(url).status_code == 403


def test_the_portal_shows_the_help_desks_logo_served_safely(client, tenant, other_tenant):
    from django.core.files.base import ContentFile

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    tenant.logo.save("brand.png", ContentFile(png))
    logo_url = reverse("portal:logo", args=[tenant.slug])
    page = client.get(reverse("portal:home", args=[tenant.slug])).content.decode()
    assert f'<img class="brand-logo" src="{logo_url}" alt="">' in page
    response = client.get(logo_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == png
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    # A help desk without a logo shows its mark, and has no logo to fetch.
    other_home = client.get(reverse("portal:home", args=[other_tenant.slug])).content.decode()
    assert "brand-logo" not in other_home and "brand-mark" in other_home
    assert client.get(reverse("portal:logo", args=[other_tenant.slug])).status_code == 404
