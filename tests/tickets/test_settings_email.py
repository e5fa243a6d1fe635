"""Settings, Email set-up: the address, the way in, the sender, a test mail."""

import socket

from django.core import mail
from django.urls import reverse

from helpdesk.models import Tenant


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_says_what_is_missing_and_who_mail_comes_from(tenant, admin_user, login):
    page = login(admin_user).get(reverse("tickets:email_setup", args=[tenant.slug]))
    text = page.content.decode()
    assert "Not set yet" in text and "helpdesk@localhost" in text
    assert reverse("tickets:mailboxes", args=[tenant.slug]) in text


def test_a_test_mail_goes_out_as_the_tenant_and_says_so(tenant, admin_user, login, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Tenant.objects.filter(pk=tenant.pk).update(support_email="help@acme.example")
    response = login(admin_user).post(
        reverse("tickets:email_setup", args=[tenant.slug]), {"to": "me@acme.example"}
    )
    assert "Sent to me@acme.example" in response.content.decode()
    assert [m.to for m in mail.outbox] == [["me@acme.example"]]
    assert mail.outbox[0].from_email == "Acme Support <help@acme.example>"


def test_a_mail_server_that_does_not_answer_is_reported_in_words(
    tenant, admin_user, login, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    response = login(admin_user).post(
        reverse("tickets:email_setup", args=[tenant.slug]), {"to": "me@acme.example"}
    )
    text = response.content.decode()
    assert response.status_code == 200 and "could not be sent" in text
    assert 'value="me@acme.example"' in text  # what was typed is kept
