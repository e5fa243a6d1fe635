"""Sign-in throttling: by account and by address, on the sign-in page and
/admin/, with a message that says so and an unlock for staff."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from helpdesk import db
from tests.factories import PASSWORD, UserFactory
from tickets.management.commands import seed_demo

OFFICE = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


def sign_in(client, username, password, address=OFFICE, url=None):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def person(db):
    return UserFactory()


def test_sixty_wrong_passwords_then_the_right_one_does_not_sign_in(person, settings):
    client = Client()
    for _ in range(60):
        response = sign_in(client, person.username, "guess")
    response = sign_in(client, person.username, PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)
    page = response.content.decode()
    assert "Too many failed attempts: sign-in is locked for this account for 15 minutes." in page
    # The password was never checked: no "wrong password" message beside it.
    assert "correct username and password" not in page
    # Attempts made while locked are not counted: the lock does not grow with them.
    assert AccessAttempt.objects.get().failures_since_start == settings.SIGNIN_FAILURES_PER_ACCOUNT


def test_the_account_is_locked_from_every_address(person, settings):
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(Client(), person.username, "guess", address=OFFICE)
    client = Client()
    response = sign_in(client, person.username, PASSWORD, address=ELSEWHERE)
    assert response.status_code == 429 and not signed_in(client)


def test_fewer_failures_than_the_limit_still_sign_in(person, settings):
    client = Client()
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT - 1):
        assert sign_in(client, person.username, "guess").status_code == 200
    assert sign_in(client, person.username, PASSWORD).status_code == 302
    assert signed_in(client)
    # Signing in cleared the account's failures: a typo later starts from zero.
    client.post(reverse("logout"))
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT - 1):
        sign_in(client, person.username, "guess")
    assert sign_in(client, person.username, PASSWORD).status_code == 302


def test_one_address_guessing_many_accounts_is_locked(person, settings):
    for number in range(settings.SIGNIN_FAILURES_PER_ADDRESS):
        sign_in(Client(), f"someone{number}", "guess", address=OFFICE)
    client = Client()
    response = sign_in(client, person.username, PASSWORD, address=OFFICE)
    assert response.status_code == 429 and not signed_in(client)
    assert "sign-in is locked for this address for 15 minutes" in response.content.decode()
    # The account itself is not locked: from elsewhere it signs in.
    assert sign_in(client, person.username, PASSWORD, address=ELSEWHERE).status_code == 302


def test_the_lock_ends_after_the_lockout_period(person, settings):
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(Client(), person.username, "guess")
    client = Client()
    assert sign_in(client, person.username, PASSWORD).status_code == 429
    # Ten minutes on, the page says how long is left.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=10)
    )
    response = sign_in(client, person.username, PASSWORD)
    assert "for this account for 5 minutes" in response.content.decode()
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=6)
    )
    assert sign_in(client, person.username, PASSWORD).status_code == 302


def test_admin_sign_in_is_throttled_too(db, settings):
    staff = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    client = Client()
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(client, staff.username, "guess", url=url)
    response = sign_in(client, staff.username, PASSWORD, url=url)
    assert response.status_code == 429 and not signed_in(client)
    assert "sign-in is locked for this account" in response.content.decode()


def test_staff_unlock_an_account_in_the_admin(person, settings):
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(Client(), person.username, "guess")
    assert sign_in(Client(), person.username, PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert person.username in changelist.content.decode()
    attempt = AccessAttempt.objects.get(username=person.username)
    response = staff.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert sign_in(Client(), person.username, PASSWORD).status_code == 302


def test_operators_unlock_from_the_shell(person, settings):
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(Client(), person.username, "guess")
    assert sign_in(Client(), person.username, PASSWORD).status_code == 429
    call_command("axes_reset_username", person.username)
    assert sign_in(Client(), person.username, PASSWORD).status_code == 302


def test_attempts_are_control_plane_rows_outside_row_level_security(person, settings):
    # Sign-in happens before any tenant is known: the attempts must be
    # readable and writable with no tenant active, like Tenant and Membership.
    assert not any(model._meta.app_label == "axes" for model in db.tenant_owned_models())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname LIKE 'axes_%%' "
            "AND relkind = 'r'"
        )
        tables = dict(cursor.fetchall())
    assert "axes_accessattempt" in tables and not any(tables.values())
    for _ in range(settings.SIGNIN_FAILURES_PER_ACCOUNT):
        sign_in(Client(), person.username, "guess")
    assert AccessAttempt.objects.filter(username=person.username).exists()


def test_the_demo_logins_still_work(db, monkeypatch):
    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 2)
    call_command("seed_demo")
    client = Client()
    response = sign_in(client, "acme-agent", "demo-pass-2026")
    assert response.status_code == 302 and signed_in(client)
