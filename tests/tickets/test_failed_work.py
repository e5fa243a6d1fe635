"""Failed work, as an admin sees it: event handlers that failed or were given
up on are listed with their error, and "Run again" (or `redrive_events`)
runs them again, recorded in the audit log."""

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import events, tasks
from tickets.models import Event, EventHandlerFailure

HOSTILE = "<script>alert('x')</script> refused by smtp.example: " + "x" * 5000


@pytest.fixture
def broken(monkeypatch, settings):
    """Handlers test.a and test.b, failing while their name is in the set;
    given up after one attempt. `broken.ran` lists what they did."""
    settings.EVENT_HANDLER_MAX_ATTEMPTS = 1
    monkeypatch.setattr(events.registry, "_handlers", {})
    failing = {"test.a", "test.b"}

    class Broken(set):
        ran: list

    state = Broken(failing)
    state.ran = []

    def handler(name):
        def run(event):
            """Tell the customer their request arrived."""
            if name in state:
                raise RuntimeError(HOSTILE)
            state.ran.append((name, event.pk))

        return run

    for name in ("test.a", "test.b"):
        events.subscribe(name, kinds=[Event.Kind.CREATED])(handler(name))
    return state


def _given_up(tenant, subject="Printer on fire"):
    """A ticket whose creation event's handlers failed and were given up on."""
    with mock.patch.object(tasks.process_event, "delay"), tenant_context(tenant):
        ticket = TicketFactory(subject=subject)
        event = Event.objects.get(ticket=ticket, kind=Event.Kind.CREATED)
    tasks.process_event.apply(kwargs={"tenant_id": tenant.pk, "event_id": event.pk}, throw=True)
    with tenant_context(tenant):
        assert EventHandlerFailure.objects.filter(event=event, abandoned_at__isnull=False).count()
    return ticket, event


def _failure(tenant, event, handler="test.a"):
    with tenant_context(tenant):
        return EventHandlerFailure.objects.get(event=event, handler=handler)


@pytest.mark.django_db(transaction=True)
def test_given_up_work_is_listed_and_run_again_runs_it(tenant, admin_user, login, broken, eager):
    ticket, event = _given_up(tenant)
    client = login(admin_user)
    page = client.get(reverse("tickets:failed_work", args=[tenant.slug]))
    html = page.content.decode()
    assert page.status_code == 200
    assert ticket.reference in html and "Printer on fire" in html
    assert reverse("tickets:detail", args=[tenant.slug, ticket.number]) in html
    assert "test.a" in html and "Tell the customer their request arrived." in html
    assert "Given up" in html
    # The error is shown as text, cut to a readable length.
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html
    assert "x" * 2001 not in html

    broken.clear()  # the cause is fixed
    failure = _failure(tenant, event)
    answer = client.post(
        reverse("tickets:failed_work_run_again", args=[tenant.slug]),
        {"failure": failure.pk},
        follow=True,
    )
    assert f"test.a on {ticket.reference} runs again shortly." in answer.content.decode()
    assert broken.ran == [("test.a", event.pk)]
    with tenant_context(tenant):
        assert not EventHandlerFailure.objects.filter(handler="test.a").exists()
        entry = AuditEntry.objects.get(action="event_handler.run_again")
    assert entry.actor == admin_user
    assert entry.target_type == "event" and entry.target_id == str(event.pk)
    assert ticket.reference in entry.summary
    assert entry.detail["abandoned"] is True and entry.detail["attempts"] == 1

    # test.b is still given up on: the event waits for it, and the page says so.
    html = client.get(reverse("tickets:failed_work", args=[tenant.slug])).content.decode()
    assert "test.b" in html and "test.a" not in html
    with tenant_context(tenant):
        event.refresh_from_db()
    assert event.processed_at is None

    # Clicked again after it ran: nothing to do, and the admin is told.
    again = client.post(
        reverse("tickets:failed_work_run_again", args=[tenant.slug]),
        {"failure": failure.pk},
        follow=True,
    )
    assert "finished since" in again.content.decode()
    assert broken.ran == [("test.a", event.pk)]


@pytest.mark.django_db(transaction=True)
def test_run_again_twice_before_it_ran_queues_it_once(tenant, admin_user, login, broken):
    _, event = _given_up(tenant)
    failure = _failure(tenant, event)
    client = login(admin_user)
    url = reverse("tickets:failed_work_run_again", args=[tenant.slug])
    with mock.patch.object(tasks.process_event, "delay") as handed_over:
        client.post(url, {"failure": failure.pk})
        second = client.post(url, {"failure": failure.pk}, follow=True)
    assert handed_over.call_count == 1
    assert "already waiting to run again" in second.content.decode()
    page = client.get(reverse("tickets:failed_work", args=[tenant.slug])).content.decode()
    assert "Waiting to run again" in page
    with tenant_context(tenant):
        assert AuditEntry.objects.filter(action="event_handler.run_again").count() == 1


@pytest.mark.django_db(transaction=True)
def test_another_tenants_failed_work_cannot_be_run_again(
    tenant, other_tenant, admin_user, login, broken
):
    _, theirs = _given_up(other_tenant, subject="Globex secret")
    failure = _failure(other_tenant, theirs)
    client = login(admin_user)
    page = client.get(reverse("tickets:failed_work", args=[tenant.slug])).content.decode()
    assert "Globex secret" not in page and "Nothing failed" in page
    with mock.patch.object(tasks.process_event, "delay") as handed_over:
        answer = client.post(
            reverse("tickets:failed_work_run_again", args=[tenant.slug]),
            {"failure": failure.pk},
            follow=True,
        )
    assert "nothing to run again" in answer.content.decode()
    handed_over.assert_not_called()
    assert _failure(other_tenant, theirs).abandoned_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_list_costs_the_same_queries_for_one_row_or_many(
    tenant, admin_user, login, broken, django_assert_max_num_queries
):
    _given_up(tenant)
    client = login(admin_user)
    url = reverse("tickets:failed_work", args=[tenant.slug])
    with django_assert_max_num_queries(20) as one:
        client.get(url)
    for n in range(5):
        _given_up(tenant, subject=f"Also failed {n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url)
    assert page.content.decode().count("Run again") == 12


@pytest.mark.django_db(transaction=True)
def test_redrive_runs_failed_work_again_for_one_tenant_or_handler(
    tenant, other_tenant, broken, eager
):
    _, ours = _given_up(tenant)
    _, theirs = _given_up(other_tenant)
    broken.clear()
    out = StringIO()

    call_command("redrive_events", "--tenant", tenant.slug, "--handler", "test.a", stdout=out)
    assert broken.ran == [("test.a", ours.pk)]
    assert "acme: 1 event(s) handed over again" in out.getvalue()
    assert _failure(tenant, ours, "test.b").abandoned_at is not None
    assert _failure(other_tenant, theirs, "test.a").abandoned_at is not None

    call_command("redrive_events", stdout=StringIO())
    assert sorted(broken.ran) == sorted(
        [("test.a", ours.pk), ("test.b", ours.pk), ("test.a", theirs.pk), ("test.b", theirs.pk)]
    )
    for each, event in ((tenant, ours), (other_tenant, theirs)):
        with tenant_context(each):
            event.refresh_from_db()
            assert event.processed_at is not None
            assert not EventHandlerFailure.objects.exists()
            entry = AuditEntry.objects.filter(action="event_handler.redrive").latest("pk")
            assert entry.actor is None  # the system, from the command line


def test_redrive_refuses_an_unknown_tenant(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("redrive_events", "--tenant", "nope")
