"""No-activity reminders: a policy's "remind the assignee after N hours"
reminds once per quiet spell, starts over after activity, and waits while
the ticket does."""

from datetime import timedelta

from helpdesk.models import Notification, TenantWork
from sla.models import Alert, Reminder
from sla.services.alerts import sla_sweep
from sla.services.bulk import sla_recompute_batch
from sla.services.timers import policies_load, sla_recompute
from tests.factories import TicketFactory, add_reply
from tickets.models import Ticket
from tickets.services import tickets as ticket_services

from .conftest import make_policy, run_handlers


def _reminders(agent):
    return Notification.objects.filter(user=agent, text__contains="no activity for 4 h")


def test_a_quiet_ticket_reminds_its_assignee_once_per_quiet_spell(in_tenant, always, agent):
    make_policy(always, hours=(100, 100, 500), remind_after_hours=4)
    ticket = TicketFactory(assignee=agent)
    sla_recompute(ticket=ticket)
    row = Reminder.objects.get(ticket=ticket)
    start = Ticket.objects.get(pk=ticket.pk).updated_at
    assert row.remind_at == start + timedelta(hours=4)
    # The control plane knows when to look.
    assert TenantWork.objects.get(kind="sla").due_at <= row.remind_at

    assert sla_sweep(now=start + timedelta(hours=3))["reminded"] == 0
    quiet = start + timedelta(hours=4, minutes=1)
    assert sla_sweep(now=quiet)["reminded"] == 1
    assert _reminders(agent).count() == 1
    # Twice at once, or again later with still nothing happening: no second.
    assert sla_sweep(now=quiet)["reminded"] == 0
    assert sla_sweep(now=quiet + timedelta(hours=5))["reminded"] == 0
    assert _reminders(agent).count() == 1
    assert Alert.objects.filter(ticket=ticket, level="reminder").count() == 1

    # A reply is activity: a new spell, counted from it, reminds again.
    add_reply(ticket, agent)
    run_handlers()
    replied = Ticket.objects.get(pk=ticket.pk).updated_at
    assert sla_sweep(now=replied + timedelta(hours=3))["reminded"] == 0
    assert sla_sweep(now=replied + timedelta(hours=4, minutes=1))["reminded"] == 1
    assert _reminders(agent).count() == 2
    assert Alert.objects.filter(ticket=ticket, level="reminder").count() == 2


def test_no_reminder_while_waiting_unassigned_or_without_the_setting(in_tenant, always, agent):
    make_policy(always, name="Reminding", position=1, remind_after_hours=4, tags=["remind"])
    make_policy(always, name="Quiet", position=2)
    waiting = TicketFactory(assignee=agent, tags=["remind"])
    ticket_services.ticket_change_status(
        ticket=waiting, actor=agent, status=Ticket.Status.PENDING, expected_version=None
    )
    nobody = TicketFactory(tags=["remind"])
    untouched = TicketFactory(assignee=agent)
    for ticket in (waiting, nobody, untouched):
        sla_recompute(ticket=ticket)
    assert Reminder.objects.get(ticket=waiting).remind_at is None
    assert not Reminder.objects.filter(ticket=untouched).exists()
    later = Ticket.objects.get(pk=nobody.pk).updated_at + timedelta(hours=5)
    assert sla_sweep(now=later)["reminded"] == 0
    assert not Notification.objects.filter(text__contains="no activity").exists()
    # Assigned later: a new spell from the assignment, then a reminder.
    ticket_services.ticket_update(ticket=nobody, actor=agent, expected_version=None, assignee=agent)
    run_handlers()
    assigned = Ticket.objects.get(pk=nobody.pk).updated_at
    assert sla_sweep(now=assigned + timedelta(hours=3))["reminded"] == 0
    assert sla_sweep(now=assigned + timedelta(hours=4, minutes=1))["reminded"] == 1


def test_bulk_and_one_by_one_keep_the_same_reminders(in_tenant, always, agent):
    policy = make_policy(always, remind_after_hours=4)
    tickets = [TicketFactory(assignee=agent) for _ in range(3)]
    loaded = policies_load()
    for ticket in tickets:
        sla_recompute(ticket=ticket, loaded=loaded)
    one_by_one = list(Reminder.objects.order_by("ticket_id").values_list("ticket_id", "remind_at"))
    policy.remind_after_hours = 8
    policy.save()
    Reminder.objects.all().delete()
    sla_recompute_batch(after=0, loaded=policies_load())
    bulk = dict(Reminder.objects.values_list("ticket_id", "remind_at"))
    assert {pk: at - timedelta(hours=4) for pk, at in bulk.items()} == dict(one_by_one)
    policy.remind_after_hours = None
    policy.save()
    sla_recompute_batch(after=0, loaded=policies_load())
    assert not Reminder.objects.exists()
