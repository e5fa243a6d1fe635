"""The event outbox: handlers run after commit, and the sweep finishes what
a dead worker or an unreachable broker left undone."""

import time
from unittest import mock

import pytest
from celery.contrib.testing.worker import start_worker

from helpdesk.celery import app as celery_app
from helpdesk.models import Notification
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events, services, tasks
from tickets.models import Event, EventHandlerFailure, EventHandlerRun


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, nothing catches it."""


@pytest.fixture
def recorded_handlers(monkeypatch):
    # Only these two handlers, so the test counts exactly what they did.
    monkeypatch.setattr(events, "_handlers", {})
    calls = {"steady": [], "flaky": []}

    @events.subscribe("test.steady", kinds=[Event.Kind.CREATED])
    def steady(event):
        calls["steady"].append(event.pk)

    @events.subscribe("test.flaky", kinds=[Event.Kind.CREATED])
    def flaky(event):
        calls["flaky"].append(event.pk)
        if len(calls["flaky"]) == 1:
            raise WorkerKilled

    return calls


@pytest.mark.django_db(transaction=True)
def test_sweep_completes_an_event_whose_worker_died(tenant, settings, recorded_handlers):
    celery_app.conf.task_always_eager = True
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    try:
        # The ticket commits; the handler run started after the commit dies.
        with pytest.raises(WorkerKilled), tenant_context(tenant):
            ticket = TicketFactory()
        with tenant_context(tenant):
            created = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
            assert created.processed_at is None
            assert list(
                EventHandlerRun.objects.filter(event=created).values_list("handler", flat=True)
            ) == ["test.steady"]

        assert tasks.sweep_unprocessed_events() >= 1

        with tenant_context(tenant):
            created.refresh_from_db()
            assert created.processed_at is not None
        assert recorded_handlers["steady"] == [created.pk]  # not run twice
        assert recorded_handlers["flaky"] == [created.pk, created.pk]
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_is_retried_and_its_failure_visible(tenant, settings, monkeypatch):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    monkeypatch.setattr(events, "_handlers", {})
    attempts = []

    @events.subscribe("test.broken", kinds=[Event.Kind.CREATED])
    def broken(event):
        attempts.append(event.pk)
        raise RuntimeError("mail server said no")

    try:
        with tenant_context(tenant):
            ticket = TicketFactory()
            created = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
        result = tasks.process_event.apply(kwargs={"tenant_id": tenant.pk, "event_id": created.pk})
        assert result.failed()
        with tenant_context(tenant):
            failure = EventHandlerFailure.objects.get(event=created, handler="test.broken")
            assert failure.attempts == 6  # the first run and five retries
            assert "mail server said no" in failure.last_error
            created.refresh_from_db()
            assert created.processed_at is None
            # Still failing after this many attempts: the sweep leaves it for a person.
            failure.attempts = tasks.MAX_HANDLER_ATTEMPTS
            failure.save()
        assert tasks.sweep_unprocessed_events() == 0
    finally:
        events.unsubscribe("test.broken")


@pytest.mark.django_db(transaction=True)
def test_assignment_notifies_the_assignee_through_a_real_worker(tenant, agent, dispatcher):
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        with tenant_context(tenant):
            ticket = TicketFactory()
            services.ticket_assign(
                ticket=ticket, actor=dispatcher, assignee=agent, expected_version=None
            )
        # The worker picks the event up from Redis after the commit.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with tenant_context(tenant):
                notes = list(Notification.objects.filter(user=agent))
            if notes:
                break
            time.sleep(0.2)
    assert len(notes) == 1
    assert ticket.reference in notes[0].text
    with tenant_context(tenant):
        assigned = Event.objects.get(ticket=ticket, kind=Event.Kind.ASSIGNED)
        assert assigned.processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_change_made_while_the_broker_is_down_still_commits_and_is_swept_later(
    tenant, settings, monkeypatch
):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    handled = []
    monkeypatch.setattr(events, "_handlers", {})
    events.subscribe("test.outage", kinds=[Event.Kind.CREATED])(lambda e: handled.append(e.pk))

    outage = ConnectionError("Redis is not answering")
    with mock.patch.object(tasks.process_event, "delay", side_effect=outage):
        with tenant_context(tenant):
            ticket = TicketFactory(subject="Made during an outage")
    with tenant_context(tenant):
        created = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
    assert created.processed_at is None  # the ticket is saved; handlers wait
    assert handled == []

    celery_app.conf.task_always_eager = True
    try:
        assert tasks.sweep_unprocessed_events() == 1
    finally:
        celery_app.conf.task_always_eager = False
    with tenant_context(tenant):
        created.refresh_from_db()
    assert created.processed_at is not None
    assert handled == [created.pk]
