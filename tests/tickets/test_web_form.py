"""The public web form: a ticket from anyone, no login, with the traps and
limits that keep bots out, on pages other sites may frame."""

import re
import threading
import time
import unicodedata

import pytest
from django.core import mail, signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import CategoryFactory
from tickets import services
from tickets.forms import WebRequestForm
from tickets.models import Attachment, Contact, Ticket


@pytest.fixture(autouse=True)
def _fresh_limits(settings):
    # Counters live in the (test-only) Redis; each test starts with none.
    cache.clear()
    settings.WEB_FORM_MIN_FILL_SECONDS = 0
    yield
    cache.clear()


@pytest.fixture
def categories(tenant):
    with tenant_context(tenant):
        hardware = CategoryFactory(name="Hardware")
        printers = CategoryFactory(name="Printers", parent=hardware)
    return hardware, printers


def form_url(tenant):
    return reverse("tickets:web_form", args=[tenant.slug])


def started(seconds_ago=60):
    return signing.dumps(time.time() - seconds_ago, salt=WebRequestForm.STARTED_SALT)


def submission(**overrides):
    data = {
        "requester_name": "Pat Lee",
        "requester_email": "Pat@Example.com",
        "subject": "Printer on fire",
        "body": "Smoke is coming out of tray 2.",
        "category": "",
        "website": "",
        "started": started(),
    }
    data.update(overrides)
    return data


def ticket_count(tenant):
    with tenant_context(tenant):
        return Ticket.objects.count()


def test_the_form_is_public_and_offers_the_tenants_categories(client, tenant, categories):
    response = client.get(form_url(tenant))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme Support" in page
    assert "Hardware › Printers" in page
    assert 'name="website"' in page and 'name="started"' in page
    assert "topbar" not in page


def test_unknown_tenant_is_404(client, db):
    assert client.get(reverse("tickets:web_form", args=["nobody"])).status_code == 404
    assert (
        client.post(reverse("tickets:web_form", args=["nobody"]), submission()).status_code == 404
    )


def test_submitting_opens_a_web_ticket_and_confirms_its_reference(client, tenant, categories):
    _, printers = categories
    response = client.post(form_url(tenant), submission(category=printers.pk), follow=True)
    assert response.status_code == 200
    with tenant_context(tenant):
        ticket = Ticket.objects.select_related("requester", "category").get()
        assert ticket.channel == Ticket.Channel.WEB
        assert (ticket.requester.email, ticket.requester.name) == ("pat@example.com", "Pat Lee")
        assert ticket.category == printers
        assert ticket.subject == "Printer on fire"
        assert "tray 2" in ticket.messages.get().body_text
    page = response.content.decode()
    assert f"ACME-{ticket.number}" in page
    assert "reply by email" in page
    # The number travels signed, never as a bare, guessable number in the URL.
    final_url = response.redirect_chain[-1][0]
    assert f"/{ticket.number}/" not in final_url


def test_attachments_are_stored(client, tenant):
    upload = SimpleUploadedFile("screen.png", b"\x89PNG fake", content_type="image/png")
    response = client.post(form_url(tenant), submission(attachments=[upload]))
    assert response.status_code == 302
    with tenant_context(tenant):
        attachment = Attachment.objects.get()
        assert attachment.filename == "screen.png"
        assert attachment.message.ticket.channel == Ticket.Channel.WEB


def test_a_blocked_file_type_is_refused_and_nothing_is_written(client, tenant):
    upload = SimpleUploadedFile("invoice.exe", b"MZ", content_type="application/octet-stream")
    response = client.post(form_url(tenant), submission(attachments=[upload]))
    assert response.status_code == 400
    assert ".exe files are not accepted" in response.content.decode()
    # What was typed is still there.
    assert "Smoke is coming out of tray 2." in response.content.decode()
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0
        assert Contact.objects.count() == 0
        assert Attachment.objects.count() == 0


def test_a_blocked_file_is_reported_with_every_other_mistake_at_once(client, tenant):
    upload = SimpleUploadedFile("setup.exe", b"MZ", content_type="application/octet-stream")
    response = client.post(
        form_url(tenant),
        submission(subject="", requester_email="not-an-address", attachments=[upload]),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"subject", "requester_email", "attachments"}
    assert "setup.exe: .exe files are not accepted." in errors["attachments"]
    assert ticket_count(tenant) == 0


def test_a_filled_honeypot_looks_like_success_but_writes_nothing(client, tenant):
    response = client.post(form_url(tenant), submission(website="http://spam.example"), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "we have your request" in page
    assert "ACME-" not in page
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0
        assert Contact.objects.count() == 0


def test_a_post_faster_than_a_person_types_is_refused(client, tenant, settings):
    settings.WEB_FORM_MIN_FILL_SECONDS = 3
    too_quick = client.post(form_url(tenant), submission(started=started(seconds_ago=0)))
    assert too_quick.status_code == 400
    assert "quicker than we expected" in too_quick.content.decode()
    forged = client.post(form_url(tenant), submission(started="not-signed"))
    assert forged.status_code == 400
    assert ticket_count(tenant) == 0


def test_bad_input_shows_errors_keeps_the_text_and_writes_nothing(client, tenant):
    response = client.post(
        form_url(tenant), submission(requester_email="not-an-address", body="  ")
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert "This field is required." in page
    assert 'value="Printer on fire"' in page
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0
        assert Contact.objects.count() == 0


def test_another_tenants_categories_are_not_offered_or_accepted(
    client, tenant, other_tenant, categories
):
    with tenant_context(other_tenant):
        foreign = CategoryFactory(name="Globex secrets")
    assert "Globex secrets" not in client.get(form_url(tenant)).content.decode()
    response = client.post(form_url(tenant), submission(category=foreign.pk))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert ticket_count(tenant) == 0


def test_rate_limit_per_address(client, tenant, settings):
    settings.WEB_FORM_MAX_PER_ADDRESS = 2
    for n in range(2):
        assert client.post(form_url(tenant), submission(subject=f"Try {n}")).status_code == 302
    # The address is compared without regard to case.
    response = client.post(
        form_url(tenant), submission(requester_email="PAT@example.com", subject="Third try")
    )
    assert response.status_code == 429
    page = response.content.decode()
    assert "several requests in the last hour" in page
    assert 'value="Third try"' in page
    assert ticket_count(tenant) == 2
    # Another address from the same IP is still welcome.
    other = client.post(form_url(tenant), submission(requester_email="sam@example.com"))
    assert other.status_code == 302


def test_rate_limit_per_ip(client, tenant, settings):
    settings.WEB_FORM_MAX_PER_IP = 2
    for n in range(2):
        data = submission(requester_email=f"user{n}@example.com")
        assert client.post(form_url(tenant), data).status_code == 302
    response = client.post(form_url(tenant), submission(requester_email="user9@example.com"))
    assert response.status_code == 429
    assert ticket_count(tenant) == 2
    # Another client address is counted on its own.
    elsewhere = client.post(
        form_url(tenant), submission(requester_email="user9@example.com"), REMOTE_ADDR="10.1.2.3"
    )
    assert elsewhere.status_code == 302


def test_limits_are_counted_per_tenant(client, tenant, other_tenant, settings):
    settings.WEB_FORM_MAX_PER_ADDRESS = 1
    assert client.post(form_url(tenant), submission()).status_code == 302
    assert client.post(form_url(other_tenant), submission()).status_code == 302
    assert client.post(form_url(tenant), submission()).status_code == 429


def test_a_confirmation_link_for_another_tenant_or_forged_is_404(client, tenant, other_tenant):
    response = client.post(form_url(tenant), submission())
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert client.get(response["Location"]).status_code == 200
    sent_elsewhere = reverse("tickets:web_form_sent", args=[other_tenant.slug, token])
    assert client.get(sent_elsewhere).status_code == 404
    forged = reverse("tickets:web_form_sent", args=[tenant.slug, "1"])
    assert client.get(forged).status_code == 404


def test_the_form_may_be_framed_but_agent_pages_may_not(client, tenant, agent, login):
    assert "X-Frame-Options" not in client.get(form_url(tenant)).headers
    response = client.post(form_url(tenant), submission(), follow=True)
    assert "X-Frame-Options" not in response.headers
    login(agent)
    queue = client.get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert queue.status_code == 200
    assert queue.headers["X-Frame-Options"] == "DENY"


def test_csrf_protection_stays_on(tenant):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(form_url(tenant), submission()).status_code == 403
    strict.get(form_url(tenant))
    token = strict.cookies["csrftoken"].value
    response = strict.post(form_url(tenant), submission(csrfmiddlewaretoken=token))
    assert response.status_code == 302
    assert ticket_count(tenant) == 1


# The web form as a relay: a form token opens one ticket, the acknowledgement
# carries none of the sender's text but a short plain subject, and each IP
# causes only so many acknowledgements.


@pytest.fixture
def outbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    return mail.outbox


def fresh_token(client, tenant):
    """The token of the form as a visitor gets it: from the page."""
    page = client.get(form_url(tenant)).content.decode()
    return re.search(r'name="started" value="([^"]+)"', page).group(1)


def shown_reference(response):
    match = re.search(r'class="reference">([^<]+)<', response.content.decode())
    return match.group(1) if match else None


@pytest.mark.django_db(transaction=True)
def test_one_token_posted_25_times_to_other_addresses_opens_one_ticket_and_mails_once(
    client, tenant, eager, outbox
):
    token = fresh_token(client, tenant)
    responses = [
        client.post(
            form_url(tenant),
            submission(
                started=token,
                requester_email=f"stranger{n}@example.net",
                subject="You won! Claim at prize.example",
            ),
        )
        for n in range(25)
    ]
    assert responses[0].status_code == 302
    assert [r.status_code for r in responses[1:]] == [409] * 24
    page = responses[1].content.decode()
    assert "This form was already sent" in page
    # What was typed is kept, under a new token of its own.
    assert 'value="stranger1@example.net"' in page
    assert "Smoke is coming out of tray 2." in page
    assert re.search(r'name="started" value="([^"]+)"', page).group(1) != token
    assert ticket_count(tenant) == 1
    assert [m.to for m in outbox] == [["stranger0@example.net"]]


def test_the_new_token_of_a_refused_form_sends_it_as_a_request_of_its_own(client, tenant):
    token = fresh_token(client, tenant)
    assert client.post(form_url(tenant), submission(started=token)).status_code == 302
    refused = client.post(form_url(tenant), submission(started=token, subject="Second problem"))
    assert refused.status_code == 409
    new_token = re.search(r'name="started" value="([^"]+)"', refused.content.decode()).group(1)
    again = client.post(
        form_url(tenant), submission(started=new_token, subject="Second problem"), follow=True
    )
    assert shown_reference(again) == "ACME-2"
    with tenant_context(tenant):
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
            "Printer on fire",
            "Second problem",
        ]


def test_the_same_post_twice_is_one_ticket_and_both_see_its_number(client, tenant):
    data = submission(started=fresh_token(client, tenant))
    first = client.post(form_url(tenant), data, follow=True)
    second = client.post(form_url(tenant), data, follow=True)
    assert shown_reference(first) == shown_reference(second) == "ACME-1"
    assert ticket_count(tenant) == 1


@pytest.mark.django_db(transaction=True)
def test_ten_identical_posts_at_once_open_one_ticket(tenant, eager, outbox):
    data = submission(started=fresh_token(Client(), tenant))
    start = threading.Barrier(10)
    references, errors = [], []

    def post():
        try:
            start.wait()
            references.append(shown_reference(Client().post(form_url(tenant), data, follow=True)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Every click is shown the one ticket it made.
    assert references == ["ACME-1"] * 10
    assert ticket_count(tenant) == 1
    assert len(outbox) == 1


HOSTILE_SUBJECT = (
    "URGENT\u202e: your account is locked\u200b, verify at https://evil.example/login "
    "<a href='https://evil.example'>here</a> or www.evil.example or ｅｖｉｌ．ｅｘａｍｐｌｅ "
    "or mail boss@evil.example\u2028today\x1b[31m"
)
HOSTILE_BODY = (
    "Dear customer,\r\nWe noticed unusual sign-ins. Confirm your password at "
    "http://evil.example/reset within 24 hours.\n<script>alert(1)</script>\n"
    "<img src='https://evil.example/pixel.gif'>\n" + "Lorem ipsum dolor sit amet. " * 180
)


@pytest.mark.django_db(transaction=True)
def test_the_acknowledgement_of_a_hostile_request_repeats_only_a_short_plain_subject(
    client, tenant, eager, outbox
):
    assert len(HOSTILE_BODY) > 5000
    response = client.post(
        form_url(tenant),
        submission(
            requester_name="Security Team: call +1 555 0100, visit evil.example",
            requester_email="victim@example.org",
            subject=HOSTILE_SUBJECT,
            body=HOSTILE_BODY,
        ),
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        # The agents get everything that was sent.
        ticket = Ticket.objects.get()
        assert "evil.example/login" in ticket.subject
        assert "evil.example/reset" in ticket.messages.get().body_text
    [ack] = outbox
    html = ack.alternatives[0][0]
    assert ack.to == ["victim@example.org"]
    shown = ack.subject.removeprefix("[ACME-1] ")
    assert shown.startswith("URGENT: your account is locked, verify at [link removed]")
    assert len(shown) <= 60
    for text in (ack.subject, ack.body, html):
        assert "evil" not in text.lower()
        assert "ｅｖｉｌ" not in text
        assert "http" not in text and "www" not in text
        assert "sign-ins" not in text and "Lorem" not in text and "alert" not in text
        assert "Security Team" not in text and "555" not in text
        assert not any(unicodedata.category(char) == "Cf" for char in text)
    assert not any(unicodedata.category(char)[0] in "CZ" and char != " " for char in ack.subject)
    assert "<a" not in html and "<img" not in html and "<script" not in html
    assert len(ack.body) < 600


@pytest.mark.django_db(transaction=True)
def test_a_mail_request_is_acknowledged_without_its_body(tenant, eager, outbox):
    with tenant_context(tenant):
        services.ticket_create(
            channel=Ticket.Channel.EMAIL,
            requester_email="pat@example.com",
            subject="Printer on fire",
            body="Confirm your password at http://evil.example/reset",
        )
    [ack] = outbox
    for text in (ack.body, ack.alternatives[0][0]):
        assert "Printer on fire" in text
        assert "password" not in text and "evil" not in text


@pytest.mark.django_db(transaction=True)
def test_an_ip_gets_only_so_many_acknowledgements_but_every_request_is_kept(
    client, tenant, other_tenant, eager, outbox, settings
):
    settings.WEB_FORM_MAX_ACKS_PER_IP = 2
    for n in range(3):
        data = submission(started=fresh_token(client, tenant), requester_email=f"u{n}@example.com")
        response = client.post(form_url(tenant), data, follow=True)
        assert shown_reference(response) == f"ACME-{n + 1}"
    # Another tenant's form is no way round it: the mail comes from us either way.
    data = submission(started=fresh_token(client, other_tenant), requester_email="u9@example.com")
    assert client.post(form_url(other_tenant), data).status_code == 302
    assert ticket_count(tenant) == 3
    assert ticket_count(other_tenant) == 1
    assert [m.to for m in outbox] == [["u0@example.com"], ["u1@example.com"]]
    # Another client address has acknowledgements of its own.
    data = submission(started=fresh_token(client, tenant), requester_email="sam@example.com")
    assert client.post(form_url(tenant), data, REMOTE_ADDR="10.1.2.3").status_code == 302
    assert outbox[-1].to == ["sam@example.com"]


@pytest.mark.django_db(transaction=True)
def test_ipv6_addresses_of_one_network_share_the_acknowledgement_cap(
    client, tenant, eager, outbox, settings
):
    settings.WEB_FORM_MAX_ACKS_PER_IP = 1
    for n, ip in enumerate(["2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:2::1"]):
        data = submission(started=fresh_token(client, tenant), requester_email=f"u{n}@example.com")
        assert client.post(form_url(tenant), data, REMOTE_ADDR=ip).status_code == 302
    assert [m.to for m in outbox] == [["u0@example.com"], ["u2@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_request_is_kept_and_not_acknowledged(
    client, tenant, eager, outbox, caplog, own_redis
):
    data = submission(started=fresh_token(client, tenant))
    own_redis.stop()
    response = client.post(form_url(tenant), data, follow=True)
    assert shown_reference(response) == "ACME-1"
    assert ticket_count(tenant) == 1
    # The acknowledgement cap cannot count: no mail, so the form is no relay meanwhile.
    assert outbox == []
    assert "Redis unreachable, web form tickets opened without an acknowledgement" in caplog.text
