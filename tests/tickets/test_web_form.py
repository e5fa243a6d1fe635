"""The public web form: a ticket from anyone, no login, with the traps and
limits that keep bots out, on pages other sites may frame."""

import time

import pytest
from django.core import signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import CategoryFactory
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
