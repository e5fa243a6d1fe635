"""Accounts: password reset from the mail the app sent (throttled, one
answer for every address), and the user's own sessions."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _memory_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _fresh_limits():
    # The limits live in Redis, across tests: each test starts with none used.
    from helpdesk.ratelimit import redis_client

    for key in redis_client().scan_iter(match="ratelimit:pwreset:*"):
        redis_client().delete(key)


@pytest.fixture
def pat(db):
    return UserFactory(username="pat", email="pat@example.com")


def _ask(client, email):
    return client.post(reverse("password_reset"), {"email": email})


def test_a_password_is_reset_from_the_mail_the_app_sent(client, pat):
    response = _ask(client, "PAT@example.com")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pat@example.com"]
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body)[1]
    form_url = client.get(link)["Location"]  # Django hides the token behind a redirect
    response = client.post(
        form_url, {"new_password1": "a-new-long-phrase-7", "new_password2": "a-new-long-phrase-7"}
    )
    assert response["Location"] == reverse("password_reset_complete")
    pat.refresh_from_db()
    assert pat.check_password("a-new-long-phrase-7")
    # The link works once.
    assert b"cannot be used" in Client().get(link, follow=True).content


def test_known_and_unknown_addresses_get_the_same_answer(client, pat):
    known, unknown = _ask(client, "pat@example.com"), _ask(client, "nobody@example.com")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [["pat@example.com"]]


def test_requests_past_the_limit_are_answered_alike_and_send_nothing(client, pat, settings):
    settings.PASSWORD_RESET_MAX_PER_ADDRESS = 2
    answers = {_ask(client, "pat@example.com")["Location"] for _ in range(4)}
    assert answers == {reverse("password_reset_done")}
    assert len(mail.outbox) == 2


def test_sign_out_everywhere_ends_every_session(pat, settings):
    laptop, phone = Client(), Client()
    for browser in (laptop, phone):
        browser.post(reverse("login"), {"username": "pat", "password": PASSWORD})
    page = laptop.get(reverse("account_sessions")).content.decode()
    assert page.count("<tr>") == 3  # the header row and two sessions
    assert "This browser" in page
    response = laptop.post(reverse("account_sessions"))
    assert response["Location"] == reverse("login")
    for browser in (laptop, phone):
        assert browser.get(reverse("account_sessions"))["Location"].startswith(reverse("login"))
