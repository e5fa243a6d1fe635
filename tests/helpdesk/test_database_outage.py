"""With Postgres unreachable, requests fail at once and clearly: 503 with
Retry-After (mail relays and API clients retry), never a hang or a bare 500."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from helpdesk import views
from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import mail
from tickets import services


@pytest.fixture
def database_down(tmp_path):
    """The app's next connection goes to a socket folder where no server runs."""
    settings_dict = connection.settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = str(tmp_path), "5432"
    try:
        yield
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved


@pytest.mark.django_db(transaction=True)
def test_with_postgres_down_every_channel_answers_503_with_retry_after(
    tenant, mailbox_token, database_down
):
    mailbox_id, token = mailbox_token
    client = Client(raise_request_exception=False)
    form = client.post(
        reverse("tickets:web_form", args=[tenant.slug]), {"requester_email": "pat@example.com"}
    )
    api = client.post(
        f"/api/v1/{tenant.slug}/tickets/",
        {"subject": "Hello"},
        content_type="application/json",
        headers={"Authorization": "Bearer hd_0_x"},
    )
    webhook = client.post(
        reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox_id]),
        data=mail(),
        content_type="message/rfc822",
        headers={"X-Helpdesk-Token": token},
    )
    health = client.get(reverse("healthz"))  # what a load balancer asks
    for response in (form, api, webhook, health):
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
    assert api.json() == {
        "errors": {"detail": ["The database cannot be reached just now. Try again shortly."]}
    }
    assert "Back in a moment" in form.content.decode()
    # The web form is framed by other sites: its error page may be too.
    assert "X-Frame-Options" not in form


@pytest.fixture
def mailbox_token(tenant):
    with tenant_context(tenant):
        box, token = services.mailbox_create(name="Support", address="help@acme.example")
    return box.public_id, token


def test_other_server_errors_stay_500(rf):
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = views.server_error(rf.get("/"))
    assert response.status_code == 500
