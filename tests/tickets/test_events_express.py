"""Express handlers (`subscribe(..., express=True)`): someone waits for what
they do, so a task of their own runs them as soon as their event commits,
ahead of the event's batch of every handler. Each runs once whichever task
comes first; the batch alone settles the event; an express failure keeps
its backoff and is retried by the batch."""

import dataclasses
import threading
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events, tasks
from tickets.models import Event, EventHandlerFailure, EventHandlerRun

from .test_events import _backoff_passes, _run


@pytest.fixture
def route_and_figures(monkeypatch):
    """An express handler (routing) and an ordinary one (report figures);
    what each was called with. The router fails while `fail` is set."""
    monkeypatch.setattr(events.registry, "_handlers", {})
    calls = {"route": [], "figures": [], "fail": False}

    @events.subscribe(
        "test.route",
        kinds=[Event.Kind.CREATED],
        when=lambda event: "route" in event.ticket.subject,
        express=True,
    )
    def route(event):
        calls["route"].append(event.pk)
        if calls["fail"]:
            raise RuntimeError("router down")

    @events.subscribe("test.figures", kinds=[Event.Kind.CREATED])
    def figures(event):
        calls["figures"].append(event.pk)

    return calls


def _created(tenant, *subjects):
    """Tickets created in one transaction, as intake files a batch of mail;
    the created events and the order their tasks were published in."""
    published = mock.Mock()
    with (
        mock.patch.object(tasks.process_event, "delay", published.batch_one),
        mock.patch.object(tasks.process_events, "delay", published.batch),
        mock.patch.object(tasks.process_events_express, "delay", published.express),
        events.events_handed_over_together(),
        tenant_context(tenant),
    ):
        tickets = [TicketFactory(subject=subject) for subject in subjects]
    with tenant_context(tenant):
        created = [Event.objects.get(ticket=t, kind=Event.Kind.CREATED) for t in tickets]
    calls = [
        (name, kwargs.get("event_ids") or [kwargs["event_id"]])
        for name, _, kwargs in published.mock_calls
    ]
    return created, calls


def _express(tenant, event_ids):
    tasks.process_events_express.apply(
        kwargs={"tenant_id": tenant.pk, "event_ids": event_ids}, throw=True
    )


def _state(tenant, event):
    with tenant_context(tenant):
        event.refresh_from_db()
        runs = EventHandlerRun.objects.filter(event=event).values_list("handler", flat=True)
        return event.processed_at is not None, sorted(runs)


@pytest.mark.django_db(transaction=True)
def test_express_events_are_published_first_and_only_they_go_to_the_express_task(
    tenant, route_and_figures
):
    (routed, other), published = _created(tenant, "Please route me", "Just a question")
    assert published == [
        ("express", [routed.pk]),
        ("batch", [routed.pk, other.pk]),
    ]
    # Beside the group drains, not behind a backlog of batches.
    route = settings.CELERY_TASK_ROUTES["tickets.tasks.process_events_express"]
    assert route == {"queue": "timers"}


@pytest.mark.django_db(transaction=True)
def test_an_express_handler_runs_ahead_and_the_batch_finds_it_done(tenant, route_and_figures):
    calls = route_and_figures
    (event,), _ = _created(tenant, "route this one")

    _express(tenant, [event.pk])
    assert calls["route"] == [event.pk]
    assert calls["figures"] == []  # the rest waits for the batch
    # The express task does not settle the event: its other handlers wait.
    assert _state(tenant, event) == (False, ["test.route"])

    assert _run(tenant, event) == []
    assert calls["route"] == [event.pk]  # not twice
    assert calls["figures"] == [event.pk]
    assert _state(tenant, event) == (True, ["test.figures", "test.route"])

    _express(tenant, [event.pk])  # a late or repeated express task: nothing
    assert calls["route"] == [event.pk]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_comes_first_runs_the_express_handler_itself(tenant, route_and_figures):
    calls = route_and_figures
    (event,), _ = _created(tenant, "route this one")
    _run(tenant, event)
    assert calls["route"] == [event.pk]
    assert _state(tenant, event) == (True, ["test.figures", "test.route"])
    _express(tenant, [event.pk])
    assert calls["route"] == [event.pk]


@pytest.mark.django_db(transaction=True)
def test_a_failing_express_handler_keeps_its_backoff_and_the_batch_retries_it(
    tenant, route_and_figures
):
    calls = route_and_figures
    (event,), _ = _created(tenant, "route this one")
    calls["fail"] = True
    _express(tenant, [event.pk])
    with tenant_context(tenant):
        failure = EventHandlerFailure.objects.get(event=event)
        assert (failure.handler, failure.attempts) == ("test.route", 1)
        assert "router down" in failure.last_error

    # The batch runs the rest, leaves the router to its backoff and
    # schedules its retry for when that ends.
    calls["fail"] = False
    retries = _run(tenant, event)
    assert calls["route"] == [event.pk]
    assert calls["figures"] == [event.pk]
    assert _state(tenant, event) == (False, ["test.figures"])
    assert [r["kwargs"]["event_id"] for r in retries] == [event.pk]
    assert retries[0]["countdown"] > 0

    _backoff_passes(tenant, event)
    _run(tenant, event)
    assert calls["route"] == [event.pk, event.pk]
    assert calls["figures"] == [event.pk]
    assert _state(tenant, event) == (True, ["test.figures", "test.route"])
    with tenant_context(tenant):
        assert not EventHandlerFailure.objects.filter(event=event).exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_arriving_during_the_express_run_waits_for_it_and_runs_the_rest(
    tenant, monkeypatch, route_and_figures
):
    """Two workers at once: the batch's claim waits for the express run's
    commit, then finds the router done and runs only the rest."""
    calls = route_and_figures
    (event,), _ = _created(tenant, "route this one")
    express_inside, batch_may_finish = threading.Event(), threading.Event()
    handlers = events.registry._handlers
    slow = handlers["test.route"].func

    def route_slowly(ev):
        slow(ev)
        express_inside.set()
        batch_may_finish.wait(10)  # the batch starts meanwhile

    monkeypatch.setitem(
        handlers, "test.route", dataclasses.replace(handlers["test.route"], func=route_slowly)
    )
    errors = []

    def express_worker():
        try:
            _express(tenant, [event.pk])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=express_worker)
    thread.start()
    assert express_inside.wait(10)
    timer = threading.Timer(0.5, batch_may_finish.set)
    timer.start()
    _run(tenant, event)  # blocks on the router's claim until the express run commits
    thread.join(10)
    timer.cancel()
    assert errors == []
    assert calls["route"] == [event.pk]
    assert calls["figures"] == [event.pk]
    assert _state(tenant, event) == (True, ["test.figures", "test.route"])
