"""Redis really down (its server killed, mid-test): what customers send is
answered and kept in Postgres, agents' pages work, and once Redis is back the
beat sweeps hand everything on to a real worker."""

import logging
import socket
import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core import mail as django_mail
from django.urls import reverse

from helpdesk import services as helpdesk_services
from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tests.outage import point_celery_at
from tests.tickets.test_intake import mail
from tests.tickets.test_web_form import fresh_token, shown_reference, submission
from tickets import tasks
from tickets.models import Event, EventHandlerFailure, InboundEmail, OutboundEmail, Ticket


@pytest.fixture
def outage_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WEB_FORM_MIN_FILL_SECONDS = 0
    # The sweeps take everything waiting, however new (the beat's grace is for production).
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    settings.INTAKE_SWEEP_GRACE_SECONDS = 0
    settings.MAIL_SWEEP_GRACE_SECONDS = 0
    django_mail.outbox = []
    return settings


def _post_mail(client, tenant, mailbox, raw):
    return client.post(
        reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id]),
        data=raw,
        content_type="message/rfc822",
        headers={"X-Helpdesk-Token": mailbox.token},
    )


def _wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _state(tenant):
    with tenant_context(tenant):
        return {
            "outbox": [m.to for m in django_mail.outbox],
            "outbound": list(OutboundEmail.objects.values_list("status", "to")),
            "events waiting": list(
                Event.objects.filter(processed_at__isnull=True).values_list("kind", "ticket_id")
            ),
        }


def _warnings(caplog, text):
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_nothing_sent_is_lost_and_the_sweeps_hand_it_on_when_it_is_back(
    client, tenant, mailbox, agent, login, own_redis, outage_settings, caplog
):
    with tenant_context(tenant):
        earlier = TicketFactory(subject="Opened before the outage")
    # Its acknowledgement task is published: it dies with the server below.
    assert own_redis.queued("celery") == 1
    token = fresh_token(client, tenant)
    own_redis.stop()

    # The web form: answered, stored, not acknowledged (its mail cap cannot count).
    sent = client.post(
        reverse("tickets:web_form", args=[tenant.slug]),
        submission(started=token, subject="Sent during the outage"),
        follow=True,
    )
    assert sent.status_code == 200
    assert shown_reference(sent) is not None

    # Mail through the webhook: 202 only once it is committed.
    raws = [mail(sender=f"Cust {n} <cust{n}@example.com>", subject=f"Mail {n}") for n in range(3)]
    assert [_post_mail(client, tenant, mailbox, raw).status_code for raw in raws] == [202] * 3

    # An agent's ticket page renders; presence shows nobody.
    agent_client = login(agent)
    page = agent_client.get(reverse("tickets:detail", args=[tenant.slug, earlier.number]))
    assert page.status_code == 200
    presence = agent_client.post(
        reverse("tickets:presence", args=[tenant.slug, earlier.number]), {"replying": "1"}
    )
    assert presence.status_code == 200
    assert presence.content.decode().strip() == ""

    with tenant_context(tenant):
        web = Ticket.objects.get(subject="Sent during the outage")
        assert web.channel == Ticket.Channel.WEB
        assert InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).count() == 3
        assert not OutboundEmail.objects.exists()
    # One warning per kind of call, not one per request.
    assert len(_warnings(caplog, "Redis unreachable, stored mail not scheduled")) == 1
    assert len(_warnings(caplog, "Redis unreachable, presence not shown")) == 1

    own_redis.start()
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        # What the beat runs every minute; each publishes to the broker, the worker does the rest.
        tasks.sweep_stored_mail.delay()

        def filed():
            with tenant_context(tenant):
                return not InboundEmail.objects.exclude(status=InboundEmail.Status.PROCESSED)

        assert _wait_for(filed)
        tasks.sweep_unprocessed_events.delay()
        tasks.sweep_unsent_mail.delay()

        def acknowledged():
            with tenant_context(tenant):
                unsent = OutboundEmail.objects.exclude(status=OutboundEmail.Status.SENT)
                waiting = Event.objects.filter(processed_at__isnull=True)
                return len(django_mail.outbox) == 4 and not unsent and not waiting

        assert _wait_for(acknowledged), _state(tenant)

    with tenant_context(tenant):
        filed = InboundEmail.objects.values_list("ticket__subject", flat=True)
        assert sorted(filed) == ["Mail 0", "Mail 1", "Mail 2"]
        acks = OutboundEmail.objects.filter(kind=OutboundEmail.Kind.ACKNOWLEDGEMENT)
        assert acks.count() == 4
    # The task lost with the server was swept up; the web form's ticket was
    # opened without an acknowledgement, as promised.
    assert sorted(m.to[0] for m in django_mail.outbox) == sorted(
        [earlier.requester.email] + [f"cust{n}@example.com" for n in range(3)]
    )
    assert not any("Sent during the outage" in m.subject for m in django_mail.outbox)


@pytest.mark.django_db(transaction=True)
def test_the_api_creates_a_ticket_with_redis_down(client, tenant, admin_user, own_redis, settings):
    with tenant_context(tenant):
        _, key = helpdesk_services.api_key_create(actor=admin_user, name="CRM", scope="write")
    own_redis.stop()
    response = client.post(
        f"/api/v1/{tenant.slug}/tickets/",
        {"requester_email": "pat@example.com", "subject": "Via the API", "body": "Hello"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.content
    with tenant_context(tenant):
        assert Ticket.objects.filter(subject="Via the API").exists()


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_costs_one_request_a_second_and_the_next_ones_nothing(
    client, tenant, mailbox, outage_settings
):
    """A Redis that accepts connections and never answers (frozen, or a
    half-open network path): the first call gives up after its socket
    timeout, and the process leaves Redis alone for a few seconds."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    before = celery_app.conf.broker_url
    outage_settings.REDIS_URL = url
    caches = outage_settings.CACHES
    outage_settings.CACHES = {"default": {**caches["default"], "LOCATION": url}}
    point_celery_at(url)
    token = fresh_token(client, tenant)
    seconds = []
    try:
        for n in range(3):
            started = time.monotonic()
            stored = _post_mail(client, tenant, mailbox, mail(subject=f"While Redis hangs {n}"))
            seconds.append(time.monotonic() - started)
            assert stored.status_code == 202
        started = time.monotonic()
        form = client.post(
            reverse("tickets:web_form", args=[tenant.slug]),
            submission(started=token, subject="Form while Redis hangs"),
        )
        seconds.append(time.monotonic() - started)
    finally:
        point_celery_at(before)
        silent.close()
    assert form.status_code == 302
    # One socket timeout (1 s), then nothing: not kombu's endless wait, nor
    # a timeout for each of the four Redis calls a web form post makes.
    assert seconds[0] < 2.5, seconds
    assert max(seconds[1:]) < 0.5, seconds
    with tenant_context(tenant):
        assert Ticket.objects.filter(subject="Form while Redis hangs").exists()
        assert InboundEmail.objects.filter(subject__startswith="While Redis hangs").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_mail_loop_guard_is_never_skipped_an_acknowledgement_waits_for_redis(
    tenant, own_redis, outage_settings, eager
):
    # Retried as soon as the sweep looks (no backoff), to keep the test short.
    outage_settings.EVENT_RETRY_BASE_SECONDS = 0
    own_redis.stop()
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Mailed in while Redis was down")
        created = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
    # The worker ran its handlers: the acknowledgement cannot be counted, so
    # it is not sent uncounted; the handler failed and is retried later.
    with tenant_context(tenant):
        assert not OutboundEmail.objects.exists()
        failure = EventHandlerFailure.objects.get(event=created)
        assert failure.last_error.startswith(redis.ConnectionError.__name__)

    own_redis.start()
    assert tasks.sweep_unprocessed_events() == 1
    assert [m.to for m in django_mail.outbox] == [[ticket.requester.email]]
    with tenant_context(tenant):
        created.refresh_from_db()
        assert created.processed_at is not None
