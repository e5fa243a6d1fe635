"""The event outbox: handlers run after commit, each claims its run before
it works, failures are retried with backoff and then left for a person, and
the sweep finishes what a dead worker or an unreachable broker left undone."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import IntegrityError, connection
from django.utils import timezone

from helpdesk.celery import app as celery_app
from helpdesk.models import Notification, TenantWork
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events, services, tasks
from tickets.models import Event, EventHandlerFailure, EventHandlerRun, Ticket


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, nothing catches it."""


@pytest.fixture
def only_these_handlers(monkeypatch):
    # Only the handlers a test subscribes, so it counts exactly what they did.
    monkeypatch.setattr(events.registry, "_handlers", {})


@pytest.fixture
def recorded_handlers(only_these_handlers):
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


def _ticket_with_event(tenant, subject="Printer on fire"):
    """A ticket whose creation event waits for its handlers (not handed over)."""
    with mock.patch.object(tasks.process_event, "delay"), tenant_context(tenant):
        ticket = TicketFactory(subject=subject)
        return Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)


def _run(tenant, event):
    """One delivery of the event's task; the retries it schedules are returned
    (kwargs of each publish), not run."""
    with mock.patch.object(tasks.process_event, "apply_async") as retries:
        tasks.process_event.apply(kwargs={"tenant_id": tenant.pk, "event_id": event.pk}, throw=True)
    return [call.kwargs for call in retries.call_args_list]


def _backoff_passes(tenant, event):
    """Move the event's retry times into the past, as if the backoff had passed."""
    past = timezone.now() - timedelta(seconds=1)
    with tenant_context(tenant):
        EventHandlerFailure.objects.filter(event=event, abandoned_at__isnull=True).update(
            next_attempt_at=past
        )
        Event.objects.filter(pk=event.pk, next_attempt_at__isnull=False).update(
            next_attempt_at=past
        )
    # The control plane's mark said "due at the retry" too.
    TenantWork.objects.filter(tenant=tenant, kind="events", due_at__isnull=False).update(
        due_at=past
    )


def _two_deliveries(tenant, event, *, second_after: float = 0.0) -> list[Exception]:
    """Two deliveries of the event's task at once (a retry and the sweep, a
    task redelivered), each on its own database connection, the second
    `second_after` seconds after the first; their errors. The retries they
    schedule are not run."""
    start = threading.Barrier(2)
    errors = []

    def worker(delay):
        try:
            start.wait()
            time.sleep(delay)
            tasks.process_event.apply(
                kwargs={"tenant_id": tenant.pk, "event_id": event.pk}, throw=True
            )
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(d,)) for d in (0.0, second_after)]
    with mock.patch.object(tasks.process_event, "apply_async"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return errors


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
            # The dead worker's transaction took its half-done run with it.
            assert not EventHandlerRun.objects.filter(event=created).exists()

        assert tasks.sweep_unprocessed_events() == 1

        with tenant_context(tenant):
            created.refresh_from_db()
            assert created.processed_at is not None
            runs = EventHandlerRun.objects.filter(event=created)
            assert sorted(runs.values_list("handler", flat=True)) == ["test.flaky", "test.steady"]
        assert recorded_handlers["flaky"] == [created.pk, created.pk]
    finally:
        celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_is_retried_with_backoff_then_given_up_and_kept_visible(
    tenant, settings, only_these_handlers
):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    attempts = []

    @events.subscribe("test.broken", kinds=[Event.Kind.CREATED])
    def broken(event):
        attempts.append(event.pk)
        raise RuntimeError("mail server said no")

    created = _ticket_with_event(tenant)
    countdowns = []
    for _ in range(settings.EVENT_HANDLER_MAX_ATTEMPTS):
        retries = _run(tenant, created)
        countdowns += [round(retry["countdown"]) for retry in retries]
        _backoff_passes(tenant, created)
    # Waiting longer each time, up to the longest wait; none after the last.
    assert countdowns == [5, 10, 20, 40, 80, 160, 300]
    assert len(attempts) == settings.EVENT_HANDLER_MAX_ATTEMPTS
    with tenant_context(tenant):
        failure = EventHandlerFailure.objects.get(event=created, handler="test.broken")
        assert failure.attempts == 8
        assert failure.abandoned_at is not None and failure.next_attempt_at is None
        assert "mail server said no" in failure.last_error
        created.refresh_from_db()
        assert created.processed_at is None and created.next_attempt_at is None
    # Given up: neither another delivery nor the sweep runs it again.
    _run(tenant, created)
    with mock.patch.object(tasks.sweep_tenant_events, "apply_async") as sweeps:
        tasks.sweep_unprocessed_events()
    for call in sweeps.call_args_list:
        tasks.sweep_tenant_events.apply(kwargs=call.kwargs["kwargs"], throw=True)
    assert len(attempts) == settings.EVENT_HANDLER_MAX_ATTEMPTS


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cause", ["unique", "foreign key"])
def test_a_handler_whose_own_write_breaks_a_constraint_is_retried_not_marked_done(
    tenant, agent, only_these_handlers, cause
):
    """An IntegrityError raised by a handler's own work is a failure like any
    other: its work is undone, the run is not marked done, and it runs again."""

    @events.subscribe("test.notify", kinds=[Event.Kind.CREATED])
    def notify(event):
        user_id = agent.pk if cause == "unique" else 987654321  # no such user
        Notification.objects.create(
            tenant_id=event.tenant_id, user_id=user_id, text="New ticket", source_key="same"
        )

    created = _ticket_with_event(tenant)
    with tenant_context(tenant):
        # Already there: the handler's insert breaks the unique constraint.
        Notification.objects.create(tenant=tenant, user=agent, text="Old", source_key="same")
    retries = _run(tenant, created)

    assert [retry["kwargs"]["event_id"] for retry in retries] == [created.pk]
    with tenant_context(tenant):
        assert not EventHandlerRun.objects.filter(event=created).exists()
        failure = EventHandlerFailure.objects.get(event=created)
        assert failure.attempts == 1
        assert failure.last_error.startswith("IntegrityError")
        created.refresh_from_db()
        assert created.processed_at is None
        assert Notification.objects.count() == 1  # the handler's work was undone

        # The cause is fixed; once the backoff has passed the retry does the work.
        Notification.objects.all().delete()
    if cause == "foreign key":
        events.unsubscribe("test.notify")

        @events.subscribe("test.notify", kinds=[Event.Kind.CREATED])
        def notify_fixed(event):
            Notification.objects.create(
                tenant_id=event.tenant_id, user_id=agent.pk, text="New", source_key="same"
            )

    _backoff_passes(tenant, created)
    assert _run(tenant, created) == []
    with tenant_context(tenant):
        created.refresh_from_db()
        assert created.processed_at is not None
        assert Notification.objects.filter(source_key="same").count() == 1
        assert not EventHandlerFailure.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_retry_that_comes_before_its_backoff_leaves_the_handler_alone(
    tenant, only_these_handlers
):
    calls = []

    @events.subscribe("test.flaky", kinds=[Event.Kind.CREATED])
    def flaky(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise IntegrityError("duplicate key value violates unique constraint")

    created = _ticket_with_event(tenant)
    _run(tenant, created)
    # Delivered again at once (a duplicate delivery): the backoff holds, and
    # the retry the failure scheduled stands (none is added).
    assert _run(tenant, created) == []
    assert calls == [created.pk]
    _backoff_passes(tenant, created)
    _run(tenant, created)
    assert calls == [created.pk, created.pk]
    with tenant_context(tenant):
        created.refresh_from_db()
        assert created.processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_event_run_each_handler_once(tenant, agent, only_these_handlers):
    """Two deliveries of one event at the same moment (a retry and the sweep,
    a task redelivered), each on its own database connection."""
    calls = []

    @events.subscribe("test.slow", kinds=[Event.Kind.CREATED])
    def slow(event):
        calls.append(("slow", threading.get_ident()))
        time.sleep(0.5)  # the other worker arrives while this one works
        Notification.objects.create(
            tenant_id=event.tenant_id,
            user_id=agent.pk,
            text="x",
            source_key=f"slow:{event.pk}",
        )

    @events.subscribe("test.quick", kinds=[Event.Kind.CREATED])
    def quick(event):
        calls.append(("quick", threading.get_ident()))

    created = _ticket_with_event(tenant)
    errors = _two_deliveries(tenant, created)
    assert errors == []
    assert sorted(name for name, _ in calls) == ["quick", "slow"]
    with tenant_context(tenant):
        created.refresh_from_db()
        assert created.processed_at is not None
        assert EventHandlerRun.objects.filter(event=created).count() == 2
        assert not EventHandlerFailure.objects.exists()
        assert Notification.objects.filter(source_key=f"slow:{created.pk}").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_sweep_leaves_an_event_whose_backoff_has_not_passed(
    tenant, settings, only_these_handlers, eager
):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    calls = []

    @events.subscribe("test.flaky", kinds=[Event.Kind.CREATED])
    def flaky(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise ConnectionError("downstream is down")

    created = _ticket_with_event(tenant)
    _run(tenant, created)  # fails; its retry is due in 5 s
    assert calls == [created.pk]

    tasks.sweep_unprocessed_events()
    assert calls == [created.pk]  # not taken: its retry is not due yet
    _backoff_passes(tenant, created)
    tasks.sweep_unprocessed_events()
    assert calls == [created.pk, created.pk]
    with tenant_context(tenant):
        created.refresh_from_db()
        assert created.processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_sweep_visits_only_tenants_with_events_due(
    tenant, other_tenant, settings, only_these_handlers
):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    events.subscribe("test.noop", kinds=[Event.Kind.CREATED])(lambda event: None)
    created = _ticket_with_event(tenant)
    with mock.patch.object(tasks.sweep_tenant_events, "apply_async") as sweeps:
        assert tasks.sweep_unprocessed_events() == 1
    assert [call.kwargs["kwargs"] for call in sweeps.call_args_list] == [{"tenant_id": tenant.pk}]
    with mock.patch.object(tasks.process_event, "delay") as handed_over:
        tasks.sweep_tenant_events.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    handed_over.assert_called_once_with(tenant_id=tenant.pk, event_id=created.pk)

    # Done: the next sweep finds nothing, and after it the tenant is not visited.
    _run(tenant, created)
    tasks.sweep_tenant_events.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    assert TenantWork.objects.get(tenant=tenant, kind="events").due_at is None
    with mock.patch.object(tasks.sweep_tenant_events, "apply_async") as sweeps:
        assert tasks.sweep_unprocessed_events() == 0
    assert not TenantWork.objects.filter(tenant=other_tenant).exists()


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
    tenant, settings, only_these_handlers
):
    settings.EVENT_SWEEP_GRACE_SECONDS = 0
    handled = []
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


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_waited_on_a_failing_handler_leaves_it_to_its_backoff(
    tenant, only_these_handlers
):
    """The first delivery's handler fails while a second delivery waits on
    its claim: the second sees the failure just recorded and does not run
    the handler again at once."""
    calls = []

    @events.subscribe("test.failing", kinds=[Event.Kind.CREATED])
    def failing(event):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # the other worker arrives and waits on this claim
        raise RuntimeError("mail server said no")

    created = _ticket_with_event(tenant)
    errors = _two_deliveries(tenant, created, second_after=0.2)
    assert errors == []
    assert len(calls) == 1
    with tenant_context(tenant):
        failure = EventHandlerFailure.objects.get(event=created, handler="test.failing")
        assert failure.attempts == 1
        assert failure.next_attempt_at > timezone.now()
        assert not EventHandlerRun.objects.filter(event=created).exists()
        created.refresh_from_db()
        assert created.processed_at is None


def test_a_batch_costs_two_statements_a_handler_run_and_a_few_for_the_batch(
    tenant, only_these_handlers
):
    """The runner's bookkeeping (claims, failures, marking events done) is
    a fixed number of statements a batch; each handler run adds only its
    savepoint."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    ran = []

    @events.subscribe("test.one", kinds=[Event.Kind.CREATED])
    def one(event):
        ran.append(event.pk)

    @events.subscribe("test.two", kinds=[Event.Kind.CREATED])
    def two(event):
        ran.append(event.pk)

    def batch_statements(size):
        created = [_ticket_with_event(tenant, subject=f"Batch {n}") for n in range(size)]
        with CaptureQueriesContext(conn) as queries:
            tasks.process_events.apply(
                kwargs={"tenant_id": tenant.pk, "event_ids": [e.pk for e in created]}, throw=True
            )
        with tenant_context(tenant):
            assert not Event.objects.filter(
                pk__in=[e.pk for e in created], processed_at__isnull=True
            ).exists()
        return len(queries)

    one_event, ten_events = batch_statements(1), batch_statements(10)
    assert len(ran) == 2 * 11
    assert ten_events - one_event == 9 * 2 * 2


def test_a_refresh_runs_once_for_a_tickets_events_in_one_batch(tenant, agent, only_these_handlers):
    """A handler that reads the ticket as committed (a refresh) runs once
    for a ticket's events in one batch, and sees all of them; per-event
    handlers still run for each; a later change runs the refresh again."""
    refreshes, each = [], []

    @events.subscribe("test.refresh", once_per_ticket=True)
    def refresh(event):
        ticket = Ticket.objects.get(pk=event.ticket_id)
        refreshes.append((ticket.pk, ticket.priority, ticket.assignee_id))

    @events.subscribe("test.each")
    def per_event(event):
        each.append(event.kind)

    not_handed = (
        mock.patch.object(tasks.process_event, "delay"),
        mock.patch.object(tasks.process_events, "delay"),
    )
    with not_handed[0], not_handed[1], tenant_context(tenant):
        first, second = TicketFactory(subject="One"), TicketFactory(subject="Two")
        first = services.ticket_update(
            ticket=first, actor=agent, expected_version=None, priority=Ticket.Priority.URGENT
        )
        services.ticket_assign(ticket=first, actor=agent, assignee=agent, expected_version=None)
        batch = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    tasks.process_events.apply(kwargs={"tenant_id": tenant.pk, "event_ids": batch}, throw=True)

    assert sorted(refreshes) == sorted(
        [(first.pk, Ticket.Priority.URGENT, agent.pk), (second.pk, second.priority, None)]
    )
    assert len(each) == len(batch) >= 4
    with tenant_context(tenant):
        assert not Event.objects.filter(processed_at__isnull=True).exists()
        assert EventHandlerRun.objects.filter(handler="test.refresh").count() == len(batch)

    with not_handed[0], not_handed[1], tenant_context(tenant):
        services.ticket_update(
            ticket=first, actor=agent, expected_version=None, priority=Ticket.Priority.LOW
        )
        later = list(Event.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
    tasks.process_events.apply(kwargs={"tenant_id": tenant.pk, "event_ids": later}, throw=True)
    assert refreshes[-1] == (first.pk, Ticket.Priority.LOW, agent.pk)
    assert len(refreshes) == 3


def test_a_refresh_runs_after_what_another_handler_did_for_the_tickets_events(
    tenant, agent, only_these_handlers
):
    """The refresh runs at the ticket's last event in the batch, after every
    handler of the earlier ones: what they changed is in it (SLA targets
    met by a reply, read by the report figures)."""
    written, seen = [], []

    @events.subscribe("test.writer", when=lambda event: event.kind == Event.Kind.FIELD_CHANGED)
    def writer(event):
        written.append(event.pk)

    @events.subscribe("test.refresh", once_per_ticket=True)
    def refresh(event):
        seen.append((event.pk, list(written)))

    with mock.patch.object(tasks.process_event, "delay"), tenant_context(tenant):
        ticket = TicketFactory()
        services.ticket_update(
            ticket=ticket, actor=agent, expected_version=None, priority=Ticket.Priority.HIGH
        )
        batch = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    tasks.process_events.apply(kwargs={"tenant_id": tenant.pk, "event_ids": batch}, throw=True)
    assert written == [batch[-1]]
    assert seen == [(batch[-1], written)]


def test_a_refresh_that_fails_is_recorded_once_and_the_tickets_other_events_wait_for_it(
    tenant, agent, only_these_handlers
):
    """A failing refresh is recorded on the event it ran at; the ticket's
    earlier events in the batch are not marked done by it, and the next
    delivery runs them while the failed one waits for its backoff."""
    calls = []

    @events.subscribe("test.refresh", once_per_ticket=True)
    def refresh(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise RuntimeError("lost the connection to the report store")

    with mock.patch.object(tasks.process_event, "delay"), tenant_context(tenant):
        ticket = TicketFactory()
        services.ticket_update(
            ticket=ticket, actor=agent, expected_version=None, priority=Ticket.Priority.HIGH
        )
        batch = list(Event.objects.order_by("pk").values_list("pk", flat=True))

    def deliver():
        with mock.patch.object(tasks.process_event, "apply_async"):
            tasks.process_events.apply(
                kwargs={"tenant_id": tenant.pk, "event_ids": batch}, throw=True
            )

    def state():
        with tenant_context(tenant):
            return (
                sorted(EventHandlerFailure.objects.values_list("event_id", flat=True)),
                sorted(EventHandlerRun.objects.values_list("event_id", flat=True)),
                sorted(
                    Event.objects.filter(processed_at__isnull=False).values_list("pk", flat=True)
                ),
            )

    assert len(batch) >= 2
    deliver()
    assert calls == [batch[-1]]
    assert state() == ([batch[-1]], [], [])
    deliver()  # the failed one is in its backoff; the others run
    assert calls == [batch[-1], batch[-2]]
    assert state() == ([batch[-1]], batch[:-1], batch[:-1])
    _backoff_passes(tenant, Event(pk=batch[-1]))
    deliver()
    assert calls == [batch[-1], batch[-2], batch[-1]]
    assert state() == ([], batch, batch)
