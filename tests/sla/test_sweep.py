"""The sweep: at risk and breach alerts exactly once, escalation, and only
tenants with checks due are entered."""

from datetime import timedelta

from django.utils import timezone

from helpdesk.models import Notification, TenantWork
from helpdesk.tenancy import tenant_context
from sla import tasks
from sla.models import Alert, TargetKind, TicketTarget
from sla.services.alerts import sla_sweep
from sla.services.timers import sla_recompute
from tests.factories import SupportGroupFactory, TicketFactory
from tickets.models import Ticket

from .conftest import make_policy

State = TicketTarget.State


def _first(ticket):
    return TicketTarget.objects.get(ticket=ticket, kind=TargetKind.FIRST_RESPONSE)


def test_at_risk_then_breach_alert_once_each_and_escalate(in_tenant, always, agent, dispatcher):
    second_line = SupportGroupFactory(tenant=in_tenant, name="L2")
    make_policy(always, hours=(1, 2, 8), escalate_priority=True, escalate_group=second_line)
    ticket = TicketFactory(assignee=agent)
    sla_recompute(ticket=ticket)
    start = ticket.created_at

    # Nothing due yet.
    assert sla_sweep(now=start + timedelta(minutes=10))["checked"] == 0

    at_risk = start + timedelta(minutes=50)
    assert sla_sweep(now=at_risk)["acted"] == 1
    assert _first(ticket).state == State.AT_RISK
    assert Notification.objects.filter(user=agent, text__contains="at risk").count() == 1
    assert sla_sweep(now=at_risk)["acted"] == 0  # once

    late = start + timedelta(minutes=61)
    assert sla_sweep(now=late)["acted"] == 1
    assert sla_sweep(now=late)["acted"] == 0
    row = _first(ticket)
    assert row.state == State.BREACHED and row.breached_at == row.due_at
    assert Alert.objects.filter(ticket=ticket, level=Alert.Level.BREACHED).count() == 1
    breach = ticket.events.get(kind="sla_breached")
    assert breach.actor_system == "sla" and not breach.is_public
    assert Notification.objects.filter(user=agent, text__contains="breached").count() == 1
    assert Notification.objects.filter(user=dispatcher, text__contains="breached").count() == 1
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.HIGH
    assert ticket.group_id == second_line.pk

    # The escalation changed the priority: a recompute keeps the breach.
    sla_recompute(ticket=ticket, now=late)
    assert _first(ticket).state == State.BREACHED
    assert Alert.objects.filter(ticket=ticket).count() == 2


def test_a_second_sweep_of_the_same_due_rows_acts_on_nothing(in_tenant, always, agent):
    """Two sweeps at once: the alert row's unique key lets one act."""
    make_policy(always, hours=(1, 2, 8))
    ticket = TicketFactory(assignee=agent)
    sla_recompute(ticket=ticket)
    late = ticket.created_at + timedelta(hours=2)
    # The other sweep's claim, as if it committed first.
    Alert.objects.create(
        tenant=in_tenant,
        ticket=ticket,
        kind=TargetKind.FIRST_RESPONSE,
        cycle=1,
        level="breached",
        created_at=late,
    )
    sla_sweep(now=late)
    assert not ticket.events.filter(kind="sla_breached").exists()
    assert not Notification.objects.filter(user=agent, text__contains="breached").exists()


def test_met_targets_and_resolved_tickets_are_left_alone(in_tenant, always, agent):
    make_policy(always, hours=(1, 2, 8))
    ticket = TicketFactory(assignee=agent)
    sla_recompute(ticket=ticket)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED)
    assert sla_sweep(now=ticket.created_at + timedelta(days=3))["acted"] == 0
    assert not Alert.objects.exists()


def test_the_control_plane_mark_follows_the_next_check(in_tenant, always):
    make_policy(always, hours=(1, 2, 8))
    ticket = TicketFactory()
    sla_recompute(ticket=ticket)
    mark = TenantWork.objects.get(tenant=in_tenant, kind="sla")
    assert mark.due_at == _first(ticket).at_risk_at
    sla_sweep(now=ticket.created_at + timedelta(minutes=50))
    mark.refresh_from_db()
    # Next: the first response's due time.
    assert mark.due_at == _first(ticket).due_at


def test_the_beat_enters_only_tenants_with_checks_due(tenant, other_tenant, settings, monkeypatch):
    with tenant_context(tenant):
        from sla.models import Calendar

        make_policy(
            Calendar.objects.create(tenant=tenant, name="24/7", always_open=True), hours=(1, 2, 8)
        )
        ticket = TicketFactory()
        sla_recompute(ticket=ticket)
    swept = []
    monkeypatch.setattr(
        tasks.sla_sweep_tenant, "apply_async", lambda kwargs, **_: swept.append(kwargs["tenant_id"])
    )
    assert tasks.sweep_sla_due() == 0  # nothing due yet
    TenantWork.objects.filter(tenant=tenant, kind="sla").update(
        due_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.sweep_sla_due() == 1
    assert swept == [tenant.pk]
