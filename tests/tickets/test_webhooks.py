"""Outgoing webhooks: posted once per event and webhook, signed, retried
with backoff, refused to private addresses at send time, and the settings
pages an admin runs them from."""

import json
import socket
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from helpdesk import netguard
from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events
from tickets import services as services_tickets
from tickets.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from tickets.webhooks import sender, services, tasks

from .webhook_receiver import start_receiver


@pytest.fixture
def receiver(settings):
    settings.ALLOW_PRIVATE_HOSTS = True  # the receiver is on loopback
    received, server = start_receiver()
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_hand_over():
    # No worker here: tests run the delivery task themselves.
    with mock.patch("tickets.webhooks.services.publish_quietly") as published:
        yield published


def _webhook(admin, url, **fields):
    fields = {"name": "Ops", "format": "json", "events": ["ticket.created"], **fields}
    return services.webhook_create(actor=admin, url=url, is_active=True, **fields)


def _deliveries_of_new_ticket(tenant, subject="Printer on fire"):
    """A new ticket, its event handled (deliveries written), and the deliveries."""
    with mock.patch("tickets.tasks.process_event.delay"), tenant_context(tenant):
        ticket = TicketFactory(subject=subject)
        event = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
    with tenant_context(tenant):
        events.events_run(event_ids=[event.pk])
        return ticket, list(WebhookDelivery.objects.filter(event=event))


def _deliver(tenant, delivery) -> str:
    return tasks.deliver_webhook(tenant_id=tenant.pk, delivery_id=delivery.pk)


def _time_passes(tenant, delivery):
    """The delivery's backoff is over."""
    with tenant_context(tenant):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )


def test_delivered_once_when_the_first_attempt_fails(
    tenant, admin_user, receiver, no_hand_over, django_capture_on_commit_callbacks
):
    receiver.answers = [500]
    with tenant_context(tenant):
        webhook, secret = _webhook(admin_user, receiver.url)
    ticket, [delivery] = _deliveries_of_new_ticket(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        assert _deliver(tenant, delivery) == "retry in 30 s"
    # Too early for the retry: nothing is posted.
    assert _deliver(tenant, delivery) == "not due"
    assert len(receiver.received) == 1
    _time_passes(tenant, delivery)
    assert _deliver(tenant, delivery) == "delivered"
    # The delivery is done: a repeated task, or the event's handler run
    # again, posts nothing more.
    assert _deliver(tenant, delivery) == "not due"
    with tenant_context(tenant):
        assert services.deliveries_record(event=delivery.event) == []
        delivery.refresh_from_db()
        log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))

    assert [r.answered for r in receiver.received] == [500, 200]
    first, second = receiver.received
    # The same post both times, with the same delivery id to drop repeats by.
    assert first.body == second.body
    assert first.headers["X-Helpdesk-Delivery"] == second.headers["X-Helpdesk-Delivery"]
    assert second.headers["X-Helpdesk-Event"] == "ticket.created"
    payload = json.loads(second.body)
    assert payload["event"] == "ticket.created"
    assert payload["ticket"]["reference"] == ticket.reference
    assert payload["ticket"]["subject"] == "Printer on fire"
    assert payload["ticket"]["url"].endswith(f"/acme/tickets/{ticket.number}/")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 2
    assert [(a.number, a.status_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert "answered 500" in log[0].error
    # Each failure scheduled its retry after the backoff.
    retries = [call for call in no_hand_over.call_args_list if call.kwargs.get("countdown")]
    assert [call.kwargs["countdown"] for call in retries] == [30]


def test_the_signature_verifies_with_the_secret_and_only_with_it(
    tenant, admin_user, receiver, no_hand_over
):
    with tenant_context(tenant):
        webhook, secret = _webhook(admin_user, receiver.url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    _deliver(tenant, delivery)
    [post] = receiver.received
    header = post.headers[sender.SIGNATURE_HEADER]

    assert sender.signature_verify(secret, header, post.body)
    assert not sender.signature_verify("whsec_wrong", header, post.body)
    assert not sender.signature_verify(secret, header, post.body + b" ")
    # A post replayed much later is refused.
    later = int(header.split(",")[0][2:]) + 3600
    assert not sender.signature_verify(secret, header, post.body, now=later)
    # A receiver checks it by hand as the settings page says.
    import hashlib
    import hmac

    timestamp, signature = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + post.body, hashlib.sha256
    ).hexdigest()
    assert signature == expected


def test_a_private_address_is_refused_at_send_time_without_the_setting(
    tenant, admin_user, receiver, settings, no_hand_over
):
    with tenant_context(tenant):
        _webhook(admin_user, receiver.url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    settings.ALLOW_PRIVATE_HOSTS = False

    assert _deliver(tenant, delivery) == "retry in 30 s"

    assert receiver.received == []
    with tenant_context(tenant):
        attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert not attempt.succeeded
    assert "private network" in attempt.error


def test_a_name_that_resolves_to_loopback_at_send_time_is_refused(
    tenant, admin_user, receiver, settings, monkeypatch, no_hand_over
):
    settings.ALLOW_PRIVATE_HOSTS = False
    answers = {"hooks.example.com": "93.184.216.34"}

    def lookup(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(netguard, "_lookup", lookup)
    url = f"http://hooks.example.com:{receiver.port}/in"
    with tenant_context(tenant):
        # Public when saved...
        _webhook(admin_user, url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    # ...and the name points at this machine when the post goes (rebinding).
    answers["hooks.example.com"] = "127.0.0.1"

    _deliver(tenant, delivery)

    assert receiver.received == []
    with tenant_context(tenant):
        assert "private network" in WebhookAttempt.objects.get(delivery=delivery).error
        # Saving a name that resolves to a private address is refused at once.
        with pytest.raises(ValidationError) as refused:
            _webhook(admin_user, url, name="Again")
    assert "private network" in str(refused.value)


def test_the_post_goes_to_the_address_that_was_checked(
    tenant, admin_user, receiver, monkeypatch, no_hand_over
):
    """The connection is made to the address netguard resolved, once; the
    Host header still names the host of the URL."""
    lookups = []

    def lookup(host, port):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(netguard, "_lookup", lookup)
    with tenant_context(tenant):
        _webhook(admin_user, f"http://hooks.example.com:{receiver.port}/in")
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    lookups.clear()

    assert _deliver(tenant, delivery) == "delivered"

    assert lookups == ["hooks.example.com"]
    assert receiver.received[0].headers["Host"] == f"hooks.example.com:{receiver.port}"


def test_given_up_after_the_last_attempt(tenant, admin_user, receiver, settings, no_hand_over):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.answers = [503, 503, 503]
    with tenant_context(tenant):
        _webhook(admin_user, receiver.url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)

    _deliver(tenant, delivery)
    _time_passes(tenant, delivery)
    assert _deliver(tenant, delivery) == "given up"
    with tenant_context(tenant):
        delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.next_attempt_at is None
    # However late a copy of its task comes, nothing more is posted.
    _time_passes(tenant, delivery)
    assert _deliver(tenant, delivery) == "not due"

    assert len(receiver.received) == 2


def test_only_active_webhooks_that_asked_for_the_event_get_it(
    tenant, admin_user, receiver, no_hand_over
):
    with tenant_context(tenant):
        wants, _ = _webhook(admin_user, receiver.url, name="New tickets")
        _webhook(admin_user, receiver.url, name="Replies", events=["ticket.customer_replied"])
        _webhook(admin_user, receiver.url, name="Off")
        Webhook.objects.filter(name="Off").update(is_active=False)
    _, deliveries = _deliveries_of_new_ticket(tenant)

    assert [d.webhook_id for d in deliveries] == [wants.pk]


def test_slack_format_posts_text_with_a_link(tenant, admin_user, receiver, no_hand_over):
    with tenant_context(tenant):
        _webhook(admin_user, receiver.url, format="slack")
    ticket, [delivery] = _deliveries_of_new_ticket(tenant, subject="Tom & Jerry <fight>")
    _deliver(tenant, delivery)

    text = json.loads(receiver.received[0].body)["text"]
    assert text.startswith(
        f"<http://127.0.0.1:8000/acme/tickets/{ticket.number}/|{ticket.reference}>"
    )
    assert "Tom &amp; Jerry &lt;fight&gt;" in text
    assert "new ticket from" in text


def test_a_lost_delivery_is_handed_over_by_the_sweep(tenant, admin_user, receiver, no_hand_over):
    with tenant_context(tenant):
        _webhook(admin_user, receiver.url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    no_hand_over.reset_mock()
    # Its task was lost (broker down): past its claim's length it is overdue.
    with tenant_context(tenant):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=services.claim_seconds() + 1)
        )
    with mock.patch("django.db.transaction.on_commit", lambda f, robust=False: f()):
        assert tasks.sweep_tenant_webhooks(tenant_id=tenant.pk) == 1
    [call] = no_hand_over.call_args_list
    assert call.kwargs["kwargs"] == {"tenant_id": tenant.pk, "delivery_id": delivery.pk}


# ------------------------------------------------------------- the pages


def test_admin_adds_a_webhook_and_sees_its_secret_once(tenant, admin_user, receiver, login):
    client = login(admin_user)
    url = reverse("tickets:webhooks", args=[tenant.slug])
    response = client.post(
        url,
        {
            "name": "Ops Slack",
            "url": receiver.url,
            "format": "slack",
            "events": ["ticket.created", "ticket.status_changed"],
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    with tenant_context(tenant):
        webhook = Webhook.objects.get(name="Ops Slack")
        assert AuditEntry.objects.filter(
            action="webhook.create", target_id=str(webhook.pk)
        ).exists()
    assert webhook.secret.startswith("whsec_")
    assert webhook.secret in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    # Not on the list again; admins can look at it on purpose (recorded).
    assert webhook.secret not in client.get(url).content.decode()
    edit = reverse("tickets:webhook_secret", args=[tenant.slug, webhook.pk])
    assert webhook.secret in client.post(edit, {"action": "show"}).content.decode()
    with tenant_context(tenant):
        assert AuditEntry.objects.filter(action="webhook.secret_shown").count() == 1


def test_bad_input_is_refused_with_its_reason_and_kept(tenant, admin_user, login, settings):
    settings.ALLOW_PRIVATE_HOSTS = False
    client = login(admin_user)
    response = client.post(
        reverse("tickets:webhooks", args=[tenant.slug]),
        {"name": "Local", "url": "http://10.0.0.5/hook", "format": "json", "events": []},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Choose at least one event" in page or "This field is required" in page
    assert 'value="http://10.0.0.5/hook"' in page
    response = client.post(
        reverse("tickets:webhooks", args=[tenant.slug]),
        {
            "name": "Local",
            "url": "http://10.0.0.5/hook",
            "format": "json",
            "events": ["ticket.created"],
        },
    )
    assert response.status_code == 400
    assert "private network" in response.content.decode()
    with tenant_context(tenant):
        assert not Webhook.objects.exists()


def test_send_test_shows_the_result_and_logs_it(tenant, admin_user, receiver, login):
    with tenant_context(tenant):
        webhook, secret = _webhook(admin_user, receiver.url, events=["ticket.assigned"])
    client = login(admin_user)
    response = client.post(reverse("tickets:webhook_test", args=[tenant.slug, webhook.pk]))
    page = response.content.decode()
    assert "Delivered: the receiver answered 200" in page
    [post] = receiver.received
    assert json.loads(post.body)["event"] == "test"
    assert sender.signature_verify(secret, post.headers[sender.SIGNATURE_HEADER], post.body)

    receiver.answers = [404]
    page = client.post(
        reverse("tickets:webhook_test", args=[tenant.slug, webhook.pk])
    ).content.decode()
    assert "Not delivered (404)" in page
    assert "The receiver answered 404" in page
    # Both in the log on the webhook's page, newest first.
    log = client.get(
        reverse("tickets:webhook_edit", args=[tenant.slug, webhook.pk])
    ).content.decode()
    assert log.index("404") < log.index("200 OK")


def test_the_delivery_log_is_paged_by_keyset(tenant, admin_user, login):
    from tickets.webhooks import selectors

    with tenant_context(tenant):
        webhook = Webhook(
            tenant=tenant, name="Busy", url="https://a.example/", events=["ticket.created"]
        )
        webhook.secret = "s"
        webhook.save()
        for i in range(selectors.LOG_PAGE_SIZE + 3):
            delivery = WebhookDelivery.objects.create(
                tenant=tenant, webhook=webhook, event_name="ticket.created",
                summary=f"post number {i:03}", body="{}", created_at=timezone.now(),
            )  # fmt: skip
            WebhookAttempt.objects.create(
                tenant=tenant, webhook=webhook, delivery=delivery, number=1,
                started_at=timezone.now(), duration_ms=1, status_code=200, succeeded=True,
            )  # fmt: skip
    client = login(admin_user)
    url = reverse("tickets:webhook_edit", args=[tenant.slug, webhook.pk])
    first = client.get(url).content.decode()
    assert "post number 052" in first and "post number 002" not in first
    older = first.split('href="?before=')[1].split('"')[0]
    second = client.get(f"{url}?before={older}").content.decode()
    assert "post number 002" in second and "post number 000" in second
    assert "post number 052" not in second
    assert 'href="?before=' not in second


def test_events_no_webhook_asks_for_queue_no_work(tenant, admin_user, agent, no_hand_over):
    with tenant_context(tenant):
        ticket = TicketFactory(channel="phone")
        services_tickets.message_add(ticket=ticket, kind="note", body="hm", author_user=agent)
        notes = Event.objects.filter(ticket=ticket, new_value__kind="note").order_by("pk")
        note = notes.get()
        # No webhooks: done the moment it is written.
        assert note.processed_at is not None
    with tenant_context(tenant):
        hook = Webhook(
            tenant=tenant, name="New only", url="https://a.example/", events=["ticket.created"]
        )
        hook.secret = "s"
        hook.save()
    with tenant_context(tenant):
        services_tickets.message_add(ticket=ticket, kind="note", body="again", author_user=agent)
        created_again = TicketFactory(channel="phone")
        second_note = notes.last()
        created = Event.objects.get(ticket=created_again, kind=Event.Kind.CREATED)
        # A note no webhook asked for is still done at once; a new ticket waits for its post.
        assert second_note.processed_at is not None
        assert created.processed_at is None


def test_a_webhook_turned_off_before_its_post_sends_nothing(
    tenant, admin_user, receiver, no_hand_over
):
    with tenant_context(tenant):
        webhook, _ = _webhook(admin_user, receiver.url)
    _, [delivery] = _deliveries_of_new_ticket(tenant)
    with tenant_context(tenant):
        services.webhook_update(webhook=webhook, actor=admin_user, is_active=False)

    assert _deliver(tenant, delivery) == "not due"

    assert receiver.received == []
    with tenant_context(tenant):
        delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "turned off" in delivery.last_error
