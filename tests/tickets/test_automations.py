"""Time-based automations: each kind acts on the tickets its conditions
pick, once per ticket and step however often (or however concurrently) the
beat runs it, through the ticket services, and says so on the timeline."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from helpdesk.models import Notification, TenantWork
from helpdesk.tenancy import tenant_context
from tests.factories import CategoryFactory, SupportGroupFactory, TicketFactory
from tickets import events, services
from tickets.automations import engine, tasks
from tickets.automations.services import automation_rule_create, automation_rule_update
from tickets.models import AutomationRun, Event, Message, OutboundEmail, Ticket


def _rule(admin, **fields):
    fields.setdefault("name", f"Rule {fields['kind']}")
    return automation_rule_create(actor=admin, **fields)


def _resolved(admin, days_ago, **fields):
    ticket = TicketFactory(**fields)
    services.ticket_change_status(
        ticket=ticket, actor=admin, status="resolved", expected_version=None
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        resolved_at=timezone.now() - timedelta(days=days_ago)
    )
    return ticket


def _untouched(ticket, **ago):
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now() - timedelta(**ago))


def _pending(admin, days_ago, **fields):
    ticket = TicketFactory(**fields)
    services.ticket_change_status(
        ticket=ticket, actor=admin, status="pending", expected_version=None
    )
    _untouched(ticket, days=days_ago)
    return ticket


def _assigned(admin, assignee, hours_ago, **fields):
    ticket = TicketFactory(**fields)
    services.ticket_assign(ticket=ticket, actor=admin, assignee=assignee, expected_version=None)
    _untouched(ticket, hours=hours_ago)
    return ticket


def _automation_events(ticket):
    return list(Event.objects.filter(ticket=ticket, actor_system="automations").order_by("pk"))


# ---------------------------------------------------------------- close


def test_resolved_tickets_are_closed_after_n_days_once(in_tenant, admin_user):
    rule = _rule(admin_user, name="Close solved after 3 days", kind="close_resolved", wait=3)
    old = _resolved(admin_user, days_ago=4, subject="Old")
    recent = _resolved(admin_user, days_ago=2, subject="Recent")

    report = engine.automations_run()
    again = engine.automations_run()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == Ticket.Status.CLOSED
    assert recent.status == Ticket.Status.RESOLVED
    assert report.acted == {"close": 1}
    assert again.acted == {}
    [event] = _automation_events(old)
    assert (event.field, event.new_value["value"]) == ("status", "closed")
    assert "Close solved after 3 days" in event.reason
    assert AutomationRun.objects.filter(rule=rule, ticket=old, step="close").count() == 1


def test_a_ticket_reopened_before_the_run_is_left_open(in_tenant, admin_user):
    _rule(admin_user, kind="close_resolved", wait=3)
    ticket = _resolved(admin_user, days_ago=5)
    services.ticket_change_status(
        ticket=ticket, actor=admin_user, status="open", expected_version=None
    )

    engine.automations_run()

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert _automation_events(ticket) == []


def test_conditions_pick_group_priority_and_category(in_tenant, admin_user):
    billing, sales = SupportGroupFactory(name="Billing"), SupportGroupFactory(name="Sales")
    hardware = CategoryFactory(name="Hardware")
    printers = CategoryFactory(name="Printers", parent=hardware)
    software = CategoryFactory(name="Software")
    _rule(
        admin_user,
        kind="close_resolved",
        wait=1,
        group=billing,
        priority=Ticket.Priority.HIGH,
        category=hardware,
    )
    fits = _resolved(admin_user, 2, group=billing, priority=3, category=printers)
    fits_top = _resolved(admin_user, 2, group=billing, priority=3, category=hardware)
    other_group = _resolved(admin_user, 2, group=sales, priority=3, category=printers)
    other_priority = _resolved(admin_user, 2, group=billing, priority=2, category=printers)
    other_category = _resolved(admin_user, 2, group=billing, priority=3, category=software)

    engine.automations_run()

    closed = set(Ticket.objects.filter(status="closed").values_list("pk", flat=True))
    assert closed == {fits.pk, fits_top.pk}
    assert not closed & {other_group.pk, other_priority.pk, other_category.pk}


def test_a_disabled_rule_does_nothing(in_tenant, admin_user):
    rule = _rule(admin_user, kind="close_resolved", wait=1)
    automation_rule_update(rule=rule, actor=admin_user, enabled=False)
    ticket = _resolved(admin_user, days_ago=3)

    engine.automations_run()

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED


# ---------------------------------------------------------------- pending


def test_pending_customer_is_reminded_then_the_ticket_resolved(in_tenant, admin_user):
    _rule(
        admin_user,
        name="Nudge quiet customers",
        kind="pending_reminder",
        wait=3,
        then_wait=2,
        message="Hi {requester_name}, any news on {ticket_reference}? We close it in {days} days.",
    )
    ticket = _pending(admin_user, days_ago=4, requester__name="Pat Lee")
    waiting = _pending(admin_user, days_ago=1)
    untouched_since = Ticket.objects.get(pk=ticket.pk).updated_at

    first = engine.automations_run()
    assert engine.automations_run().acted == {}

    ticket.refresh_from_db()
    assert first.acted == {"remind_customer": 1}
    assert ticket.status == Ticket.Status.PENDING
    # The reminder is no activity: the ticket's last change stays.
    assert ticket.updated_at == untouched_since
    [reminder] = Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY)
    assert (
        reminder.body_text == f"Hi Pat Lee, any news on {ticket.reference}? We close it in 2 days."
    )
    assert reminder.author_user is None
    [event] = _automation_events(ticket)
    assert event.kind == Event.Kind.MESSAGE_ADDED and event.is_public
    assert "Nudge quiet customers" in event.reason
    # It is mailed to the customer like any public reply.
    events.events_run(event_ids=[event.pk])
    [mail] = OutboundEmail.objects.filter(message=reminder)
    assert mail.to == [ticket.requester.email]
    assert not Message.objects.filter(ticket=waiting, kind=Message.Kind.REPLY).exists()

    # A day after the reminder: still waiting. Two days after: resolved.
    assert engine.automations_run(now=timezone.now() + timedelta(days=1)).acted == {}
    later = timezone.now() + timedelta(days=2, minutes=1)
    assert engine.automations_run(now=later).acted == {"remind_customer": 1, "resolve": 1}
    assert engine.automations_run(now=later).acted == {}
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED
    resolved = _automation_events(ticket)[-1]
    assert resolved.field == "status" and "after the reminder" in resolved.reason


def test_a_customer_who_answers_is_not_resolved(in_tenant, admin_user):
    _rule(admin_user, kind="pending_reminder", wait=3, then_wait=2)
    ticket = _pending(admin_user, days_ago=4)
    engine.automations_run()
    services.message_add(
        ticket=ticket, kind="customer", body="Still broken!", author_contact=ticket.requester
    )

    engine.automations_run(now=timezone.now() + timedelta(days=3))

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert [e.field for e in _automation_events(ticket)] == [""]  # the reminder only


def test_pending_again_starts_a_new_cycle(in_tenant, admin_user, agent):
    _rule(admin_user, kind="pending_reminder", wait=3, then_wait=5)
    ticket = _pending(admin_user, days_ago=4)
    engine.automations_run()
    services.message_add(
        ticket=ticket,
        kind="reply",
        body="Did that help?",
        author_user=agent,
        status_after="pending",
    )
    _untouched(ticket, days=4)

    engine.automations_run()

    reminders = Message.objects.filter(
        ticket=ticket, author_user__isnull=True, author_contact__isnull=True
    )
    assert reminders.count() == 2


# ---------------------------------------------------------------- idle


def test_the_assignee_of_an_idle_ticket_is_reminded_once_per_quiet_spell(
    in_tenant, admin_user, agent
):
    _rule(admin_user, name="Nothing for 4 hours", kind="idle_assignee", wait=4)
    idle = _assigned(admin_user, agent, hours_ago=5, subject="Printer on fire")
    busy = _assigned(admin_user, agent, hours_ago=2)
    pending = _assigned(admin_user, agent, hours_ago=9)
    services.ticket_change_status(
        ticket=pending, actor=agent, status="pending", expected_version=None
    )
    _untouched(pending, hours=9)

    engine.automations_run()
    engine.automations_run()

    [note] = Notification.objects.filter(user=agent)
    assert note.text == f"{idle.reference} has had no activity for 4 hours: Printer on fire"
    assert note.url.endswith(f"/tickets/{idle.number}/")
    [event] = _automation_events(idle)
    assert event.kind == engine.ASSIGNEE_REMINDED and not event.is_public
    assert "Nothing for 4 hours" in event.reason
    assert _automation_events(busy) == [] and _automation_events(pending) == []

    # Activity ends the quiet spell; the next one reminds again.
    services.message_add(ticket=idle, kind="note", body="Ordered a part", author_user=agent)
    about_idle = Notification.objects.filter(user=agent, text__startswith=idle.reference)
    engine.automations_run(now=timezone.now() + timedelta(hours=3))
    assert about_idle.count() == 1
    engine.automations_run(now=timezone.now() + timedelta(hours=5))
    assert about_idle.count() == 2


def test_the_timeline_names_the_automation(tenant, admin_user, agent, login):
    with tenant_context(tenant):
        _rule(admin_user, name="Close solved after 3 days", kind="close_resolved", wait=3)
        ticket = _resolved(admin_user, days_ago=4)
        engine.automations_run()
    page = login(agent).get(f"/{tenant.slug}/tickets/{ticket.number}/").content.decode()
    assert "Automation" in page
    assert "“Close solved after 3 days”: resolved more than 3 days ago" in page


# ---------------------------------------------------------------- twice at once


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_act_once(tenant, admin_user, agent):
    with tenant_context(tenant):
        _rule(admin_user, kind="idle_assignee", wait=4)
        _rule(admin_user, kind="close_resolved", wait=3)
        idle = _assigned(admin_user, agent, hours_ago=5)
        solved = _resolved(admin_user, days_ago=4)
    # Both runs list the first rule's tickets before either takes one. (A
    # run holds what it locked until it commits: the second then finds the
    # idle ticket unchanged, and only the run row tells it the step is done.)
    both_listed = threading.Barrier(2, timeout=10)
    original = engine._locked
    waited = set()

    def locked_after_both_listed(ticket_id, still):
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_listed.wait()
        return original(ticket_id, still)

    reports, errors = [], []

    def run():
        try:
            with tenant_context(tenant):
                reports.append(engine.automations_run())
        except Exception as exc:  # pragma: no cover - shown by the assert
            errors.append(exc)
        finally:
            connection.close()

    with (
        mock.patch.object(engine, "_locked", locked_after_both_listed),
        mock.patch("helpdesk.handover.publish_quietly"),
        mock.patch("tickets.events._hand_over.after_commit"),
    ):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert errors == []
    with tenant_context(tenant):
        assert Notification.objects.filter(user=agent).count() == 1
        assert len(_automation_events(idle)) == 1
        assert len(_automation_events(solved)) == 1
        assert AutomationRun.objects.count() == 2
    acted = [step for report in reports for step, n in report.acted.items() for _ in range(n)]
    assert sorted(acted) == ["close", "remind_assignee"]


# ---------------------------------------------------------------- beat


def test_beat_runs_only_tenants_with_rules_and_sets_the_next_run(tenant, admin_user, settings):
    due = TenantWork.objects.filter(tenant=tenant, kind="automations")
    assert not due.exists()
    with tenant_context(tenant):
        _rule(admin_user, kind="close_resolved", wait=3)
        ticket = _resolved(admin_user, days_ago=4)
    assert due.get().due_at <= timezone.now()

    with mock.patch.object(tasks.run_tenant_automations, "apply_async") as published:
        assert tasks.run_automations() == 1
    assert published.call_args.kwargs["kwargs"] == {"tenant_id": tenant.pk}
    assert tasks.run_tenant_automations(tenant_id=tenant.pk) == "close: 1"

    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.CLOSED
    next_run = due.get().due_at
    expected = timezone.now() + timedelta(seconds=settings.AUTOMATIONS_SWEEP_SECONDS)
    assert abs((next_run - expected).total_seconds()) < 30
    # Not due again before then.
    with mock.patch.object(tasks.run_tenant_automations, "apply_async") as published:
        assert tasks.run_automations() == 0


# ---------------------------------------------------------------- the plans


PLANS = {
    "close_resolved": (engine.close_resolved_candidates, "ticket_resolved_at_idx"),
    "pending_reminder": (engine.pending_candidates, "ticket_pending_idle_idx"),
    "idle_assignee": (engine.idle_assignee_candidates, "ticket_assigned_idle_idx"),
}


@pytest.mark.parametrize("kind", PLANS)
def test_each_rule_reads_its_tickets_by_a_tenant_first_index(in_tenant, admin_user, kind):
    query, index = PLANS[kind]
    rule = _rule(admin_user, kind=kind, wait=3, then_wait=2)
    with connection.cursor() as cursor:
        # An empty table is cheapest to scan whole: ask what plan the index gives.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        sql, params = query(rule, timezone.now()).values("pk")[:100].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print(f"\n{kind}:\n{plan}")
    assert index in plan
    assert f"tenant_id = {in_tenant.pk}" in plan.split(index)[1].split("\n  ")[0] or (
        "Index Cond: ((tenant_id =" in plan
    )
    if kind != "close_resolved":
        # The runs of this cycle are looked up by their unique key.
        assert "automationrun_once" in plan


def test_the_demo_shows_automations_and_an_example_webhook(db, monkeypatch):
    from django.core.management import call_command

    from helpdesk.models import Tenant
    from tickets.management.commands import seed_demo
    from tickets.models import AutomationRule, Webhook

    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 3)
    call_command("seed_demo")
    call_command("seed_demo")  # finds what the first run made
    with tenant_context(Tenant.objects.get(slug="acme")):
        kinds = sorted(AutomationRule.objects.values_list("kind", flat=True))
        assert kinds == ["close_resolved", "idle_assignee", "pending_reminder"]
        [webhook] = Webhook.objects.all()
        assert not webhook.is_active
