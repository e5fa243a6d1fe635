"""What every task of the ticket app promises: a time limit, the tenant it
works for, and work finished before a time limit is kept."""

from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import TenantTask, tenant_context
from tests.factories import TicketFactory
from tickets import events, tasks
from tickets.models import Event, EventHandlerFailure

# Tasks that enter the tenant once per item: each item commits before
# something outside the database happens (tickets/tasks.py says why).
PER_ITEM = {"tickets.tasks.poll_imap_mailbox", "tickets.tasks.send_outbound_emails"}


def _ticket_tasks():
    celery_app.loader.import_default_modules()
    found = {name: task for name, task in celery_app.tasks.items() if name.startswith("tickets.")}
    assert len(found) >= 14, sorted(found)
    return found


def test_every_task_has_a_soft_and_a_hard_time_limit():
    for name, task in _ticket_tasks().items():
        assert task.soft_time_limit, name
        assert task.time_limit > task.soft_time_limit, name


def test_every_task_that_takes_a_tenant_runs_in_it():
    for name, task in _ticket_tasks().items():
        takes_tenant = "tenant_id" in task.run.__code__.co_varnames
        if takes_tenant and name not in PER_ITEM:
            assert isinstance(task, TenantTask), name


@pytest.mark.django_db(transaction=True)
def test_a_batch_stopped_by_its_time_limit_keeps_what_it_finished_and_hands_the_rest_over(
    tenant, monkeypatch
):
    monkeypatch.setattr(events.registry, "_handlers", {})
    ran, struck = [], []

    @events.subscribe("test.work", kinds=[Event.Kind.CREATED])
    def work(event):
        if len(ran) == 1 and not struck:
            struck.append(event.pk)
            raise SoftTimeLimitExceeded()  # the limit strikes during the second event
        ran.append(event.pk)

    with mock.patch.object(tasks.process_event, "delay"), tenant_context(tenant):
        tickets = [TicketFactory(subject=f"Batch {n}") for n in range(4)]
        ids = list(
            Event.objects.filter(ticket__in=tickets, kind=Event.Kind.CREATED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    with (
        mock.patch.object(tasks.process_events, "delay") as rest,
        mock.patch.object(tasks.process_event, "apply_async") as retry,
    ):
        result = tasks.process_events.apply(
            kwargs={"tenant_id": tenant.pk, "event_ids": ids}, throw=True
        )
    assert "stopped by the time limit" in result.result
    with tenant_context(tenant):
        done = Event.objects.filter(pk__in=ids, processed_at__isnull=False)
        assert list(done.values_list("pk", flat=True)) == ids[:1]  # kept
        failure = EventHandlerFailure.objects.get()
        assert failure.event_id == ids[1] and "time limit" in failure.last_error
    # The events not reached go to a task of their own; the stopped one is retried.
    rest.assert_called_once_with(tenant_id=tenant.pk, event_ids=ids[2:])
    assert retry.call_args.kwargs["kwargs"] == {"tenant_id": tenant.pk, "event_id": ids[1]}
    # Nothing of theirs stayed claimed: the task they went to runs them.
    tasks.process_events.apply(kwargs={"tenant_id": tenant.pk, "event_ids": ids[2:]}, throw=True)
    assert ran == [ids[0], *ids[2:]]
    with tenant_context(tenant):
        done = Event.objects.filter(pk__in=ids, processed_at__isnull=False)
        assert sorted(done.values_list("pk", flat=True)) == [ids[0], *ids[2:]]
