"""Admins manage mailboxes in the browser: add, edit, new webhook token; the
IMAP password is stored encrypted and never shown again."""

import re
import socket
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse

from helpdesk import netguard
from helpdesk.tenancy import tenant_context
from tickets import services
from tickets.models import InboundEmail, Mailbox

RAW = b"From: pat@example.com\r\nSubject: Hello\r\n\r\nHi\r\n"


@pytest.fixture(autouse=True)
def _imap_hosts_resolve():
    """The IMAP hosts named here resolve to a public address, as a real
    provider's would (saving a mailbox looks its host up)."""

    def lookup(host, port):
        assert host.endswith(".acme.example"), host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    with mock.patch.object(netguard, "_lookup", lookup):
        yield


def _add(admin, tenant, **fields):
    data = {
        "name": "Billing",
        "address": "Billing@Acme.example",
        "is_active": "on",
        "imap_port": "993",
        "imap_folder": "INBOX",
        **fields,
    }
    return admin.post(reverse("tickets:mailboxes", args=[tenant.slug]), data)


def test_admin_adds_a_mailbox_and_sees_its_webhook_token_once(client, tenant, admin_user, login):
    admin = login(admin_user)
    page = _add(admin, tenant)
    assert page.status_code == 200
    html = page.content.decode()
    token = re.search(r"X-Helpdesk-Token: ([\w-]+)", html).group(1)
    assert "no-store" in page["Cache-Control"]
    with tenant_context(tenant):
        mailbox = Mailbox.objects.get()
    assert mailbox.address == "billing@acme.example"
    url = reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id])
    assert url in html
    # The token works for the webhook, and is not on the page again.
    client.logout()
    assert (
        client.post(url, RAW, "message/rfc822", headers={"X-Helpdesk-Token": token}).status_code
        == 202
    )
    again = login(admin_user).get(reverse("tickets:mailboxes", args=[tenant.slug]))
    assert token not in again.content.decode()


def test_a_second_mailbox_with_the_same_address_is_refused(tenant, admin_user, login):
    admin = login(admin_user)
    _add(admin, tenant)
    page = _add(admin, tenant, name="Again")
    assert page.status_code == 400
    assert "billing@acme.example already has a mailbox." in page.content.decode()
    with tenant_context(tenant):
        assert Mailbox.objects.count() == 1


def test_imap_needs_a_user_and_the_password_is_stored_encrypted(tenant, admin_user, login):
    admin = login(admin_user)
    page = _add(admin, tenant, imap_host="imap.acme.example")
    assert page.status_code == 400
    assert "IMAP polling needs a user name." in page.content.decode()
    _add(admin, tenant, imap_host="imap.acme.example", imap_user="billing", imap_password="s3cret!")
    with tenant_context(tenant):
        mailbox = Mailbox.objects.get()
        assert mailbox.imap_password == "s3cret!"
        with connection.cursor() as cursor:
            cursor.execute("SELECT imap_password_encrypted FROM tickets_mailbox")
            (stored,) = cursor.fetchone()
    assert "s3cret" not in stored and stored.startswith("gAAAA")  # a Fernet token
    edit = admin.get(reverse("tickets:mailbox_edit", args=[tenant.slug, mailbox.pk]))
    assert "s3cret" not in edit.content.decode()


def test_editing_without_a_password_keeps_it_and_clears_the_last_error(tenant, admin_user, login):
    with tenant_context(tenant):
        mailbox, _ = services.mailbox_create(
            name="Support",
            address="help@acme.example",
            imap_host="imap.acme.example",
            imap_user="help",
            imap_password="old-pass",
        )
        services.mailbox_poll_recorded(mailbox=mailbox, error="The IMAP server refused it.")
    admin = login(admin_user)
    url = reverse("tickets:mailbox_edit", args=[tenant.slug, mailbox.pk])
    assert "The IMAP server refused it." in admin.get(url).content.decode()
    response = admin.post(
        url,
        {
            "name": "Support",
            "address": "help@acme.example",
            "is_active": "on",
            "imap_host": "imap2.acme.example",
            "imap_port": "993",
            "imap_ssl": "on",
            "imap_user": "help",
            "imap_folder": "INBOX",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        mailbox.refresh_from_db()
    assert mailbox.imap_host == "imap2.acme.example"
    assert mailbox.imap_password == "old-pass"
    assert mailbox.imap_error == ""


def test_a_new_token_replaces_the_old_one_at_once(client, tenant, admin_user, login):
    with tenant_context(tenant):
        mailbox, old = services.mailbox_create(name="Support", address="help@acme.example")
    page = login(admin_user).post(
        reverse("tickets:mailbox_new_token", args=[tenant.slug, mailbox.pk])
    )
    new = re.search(r"X-Helpdesk-Token: ([\w-]+)", page.content.decode()).group(1)
    client.logout()
    url = reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id])
    assert (
        client.post(url, RAW, "message/rfc822", headers={"X-Helpdesk-Token": old}).status_code
        == 404
    )
    assert (
        client.post(url, RAW, "message/rfc822", headers={"X-Helpdesk-Token": new}).status_code
        == 202
    )
    with tenant_context(tenant):
        assert InboundEmail.objects.count() == 1


def test_an_inactive_mailbox_takes_no_mail(client, tenant, admin_user):
    with tenant_context(tenant):
        mailbox, token = services.mailbox_create(name="Support", address="help@acme.example")
        services.mailbox_update(mailbox=mailbox, actor=admin_user, is_active=False)
    url = reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id])
    assert (
        client.post(url, RAW, "message/rfc822", headers={"X-Helpdesk-Token": token}).status_code
        == 404
    )


def test_agents_may_not_change_mailboxes(tenant, agent):
    with tenant_context(tenant):
        mailbox, _ = services.mailbox_create(name="Support", address="help@acme.example")
        with pytest.raises(PermissionDenied):
            services.mailbox_update(mailbox=mailbox, actor=agent, name="Mine")
