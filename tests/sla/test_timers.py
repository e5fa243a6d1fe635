"""Each ticket's targets follow the ticket: created, replied to, paused,
resolved, reopened; the ticket's due time is the nearest active deadline."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from helpdesk.models import TenantWork
from sla.models import TargetKind, TicketTarget
from sla.services.timers import sla_recompute
from tests.factories import CategoryFactory, TicketFactory, add_reply
from tickets.models import Message, Ticket
from tickets.services import tickets as ticket_services

from .conftest import make_policy, run_handlers

State = TicketTarget.State
BERLIN = ZoneInfo("Europe/Berlin")


def targets(ticket) -> dict[str, TicketTarget]:
    return {row.kind: row for row in TicketTarget.objects.filter(ticket=ticket)}


def test_a_ticket_by_mail_gets_deadlines_and_they_follow_its_life(in_tenant, always, agent):
    make_policy(always, hours=(1, 2, 8))
    ticket = TicketFactory(channel=Ticket.Channel.EMAIL)
    run_handlers()
    rows = targets(ticket)
    assert set(rows) == {TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION}
    first = rows[TargetKind.FIRST_RESPONSE]
    # To the second: the clock drops fractions of a second.
    assert first.due_at == ticket.created_at.replace(microsecond=0) + timedelta(hours=1)
    assert first.state == State.ON_TRACK
    ticket.refresh_from_db()
    assert ticket.due_at == first.due_at

    # The first public reply meets the first response; the ticket is now due
    # at its resolution.
    add_reply(ticket, agent)
    run_handlers()
    rows = targets(ticket)
    assert rows[TargetKind.FIRST_RESPONSE].state == State.MET
    assert rows[TargetKind.FIRST_RESPONSE].met_at is not None
    ticket.refresh_from_db()
    assert ticket.due_at == rows[TargetKind.RESOLUTION].due_at

    # A customer message after the reply starts the next response.
    ticket_services.message_add(
        ticket=ticket,
        kind=Message.Kind.CUSTOMER,
        body="Still broken",
        author_contact=ticket.requester,
    )
    run_handlers()
    following = targets(ticket)[TargetKind.NEXT_RESPONSE]
    assert following.cycle == 1 and following.state == State.ON_TRACK
    assert following.due_at == following.started_at.replace(microsecond=0) + timedelta(hours=2)
    ticket.refresh_from_db()
    assert ticket.due_at == following.due_at

    # Pending pauses every running target: no deadline while it waits.
    ticket = ticket_services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.PENDING, expected_version=None
    )
    run_handlers()
    rows = targets(ticket)
    assert rows[TargetKind.RESOLUTION].state == State.PAUSED
    assert rows[TargetKind.NEXT_RESPONSE].state == State.PAUSED
    ticket.refresh_from_db()
    assert ticket.due_at is None

    # Resolved: no deadline; reopened: the resolution clock runs again.
    ticket = ticket_services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.RESOLVED, expected_version=None
    )
    run_handlers()
    assert targets(ticket)[TargetKind.RESOLUTION].state == State.MET
    ticket.refresh_from_db()
    assert ticket.due_at is None
    ticket = ticket_services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.OPEN, expected_version=None
    )
    run_handlers()
    resolution = targets(ticket)[TargetKind.RESOLUTION]
    assert resolution.state == State.ON_TRACK and resolution.met_at is None
    ticket.refresh_from_db()
    assert ticket.due_at is not None


def test_a_deadline_change_is_no_conflict_for_an_agents_open_edit(in_tenant, always, agent):
    make_policy(always)
    ticket = TicketFactory()
    version = Ticket.objects.get(pk=ticket.pk).version
    run_handlers()
    ticket.refresh_from_db()
    assert ticket.due_at is not None
    assert ticket.version == version
    # The agent's edit made against the version read before the deadline came.
    ticket_services.ticket_update(ticket=ticket, actor=agent, expected_version=version, priority=3)


def test_the_worked_example_in_berlin(in_tenant, berlin):
    make_policy(berlin, hours=(4, 2, 16))
    ticket = TicketFactory()
    # Friday 16:30 before Whit Monday (a German holiday), 2026.
    created = datetime(2026, 5, 22, 16, 30, tzinfo=BERLIN)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    rows = {row.kind: row for row in sla_recompute(ticket=ticket, now=created + timedelta(hours=1))}
    assert rows[TargetKind.FIRST_RESPONSE].due_at == datetime(2026, 5, 26, 13, 30, tzinfo=BERLIN)
    assert rows[TargetKind.FIRST_RESPONSE].seconds_used == 30 * 60


def test_pending_for_two_business_hours_moves_resolution_by_two_business_hours(
    in_tenant, berlin, agent
):
    make_policy(berlin, hours=(4, 2, 8))
    ticket = TicketFactory()
    created = datetime(2026, 6, 16, 9, 0, tzinfo=BERLIN)  # a Tuesday
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    before = {r.kind: r for r in sla_recompute(ticket=ticket, now=created)}
    assert before[TargetKind.RESOLUTION].due_at == datetime(2026, 6, 17, 10, 0, tzinfo=BERLIN)
    ticket_services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.PENDING, expected_version=None
    )
    ticket_services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.OPEN, expected_version=None
    )
    # The two status changes happened 10:00 and 13:00 (an hour of lunch between).
    events = list(ticket.events.filter(kind="status_changed").order_by("pk"))
    events[0].created_at = datetime(2026, 6, 16, 10, 0, tzinfo=BERLIN)
    events[1].created_at = datetime(2026, 6, 16, 13, 0, tzinfo=BERLIN)
    for event in events:
        event.save(update_fields=["created_at"])
    after = {
        r.kind: r
        for r in sla_recompute(ticket=ticket, now=datetime(2026, 6, 16, 14, 0, tzinfo=BERLIN))
    }
    assert after[TargetKind.RESOLUTION].due_at == datetime(2026, 6, 17, 12, 0, tzinfo=BERLIN)
    assert after[TargetKind.RESOLUTION].paused_seconds == 2 * 3600


def test_first_matching_policy_wins(in_tenant, always, berlin):
    billing = CategoryFactory(tenant=in_tenant, name="Billing")
    vip = make_policy(always, name="VIP", position=1, hours=(0.5, 1, 4), tags=["vip"])
    make_policy(always, name="Billing", position=2, hours=(2, 2, 8), category_ids=[billing.pk])
    make_policy(berlin, name="Everyone", position=3)
    tagged = TicketFactory(tags=["vip"], category=billing)
    billed = TicketFactory(category=billing)
    plain = TicketFactory()
    chosen = {
        ticket.pk: sla_recompute(ticket=ticket)[0].policy_id for ticket in (tagged, billed, plain)
    }
    assert chosen[tagged.pk] == vip.pk
    assert chosen[billed.pk] != vip.pk
    assert TicketTarget.objects.get(ticket=plain, kind=TargetKind.FIRST_RESPONSE).business


def test_recompute_is_idempotent_and_marks_the_control_plane(in_tenant, always):
    make_policy(always, hours=(1, 1, 8))
    ticket = TicketFactory()
    first = [(r.kind, r.due_at, r.next_check_at) for r in sla_recompute(ticket=ticket)]
    events = ticket.events.count()
    again = [(r.kind, r.due_at, r.next_check_at) for r in sla_recompute(ticket=ticket)]
    assert sorted(first) == sorted(again)
    assert ticket.events.count() == events  # nothing changed, nothing recorded
    work = TenantWork.objects.get(tenant=in_tenant, kind="sla")
    # At risk at 80% of the first response's hour.
    assert work.due_at == ticket.created_at.replace(microsecond=0) + timedelta(minutes=48)


def test_no_policy_no_deadline(in_tenant):
    ticket = TicketFactory()
    assert sla_recompute(ticket=ticket) == []
    ticket.refresh_from_db()
    assert ticket.due_at is None


@pytest.mark.parametrize("hours_late", [0.5, 3])
def test_states_on_track_at_risk_breached(in_tenant, always, hours_late):
    make_policy(always, hours=(1, 1, 8))
    ticket = TicketFactory()
    now = timezone.now() + timedelta(hours=hours_late)
    first = {r.kind: r for r in sla_recompute(ticket=ticket, now=now)}[TargetKind.FIRST_RESPONSE]
    expected = State.ON_TRACK if hours_late < 0.8 else State.BREACHED
    assert first.state == expected
    if expected == State.BREACHED:
        assert first.breached_at == first.due_at


def test_time_zone_of_the_deadline_is_exact(in_tenant, berlin):
    make_policy(berlin, hours=(1, 1, 1))
    ticket = TicketFactory()
    created = datetime(2026, 3, 27, 15, 30, tzinfo=UTC)  # Friday 16:30 CET
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    rows = {r.kind: r for r in sla_recompute(ticket=ticket, now=created)}
    # Half an hour on Friday, half an hour on Monday after the clocks went forward.
    assert rows[TargetKind.FIRST_RESPONSE].due_at == datetime(2026, 3, 30, 9, 30, tzinfo=BERLIN)


def test_seed_demo_shows_every_sla_state(db, monkeypatch, capsys):
    from django.core.management import call_command

    from helpdesk.models import Tenant
    from helpdesk.tenancy import tenant_context
    from tickets.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 4)
    call_command("seed_demo")
    assert "SLA calendars" in capsys.readouterr().out
    with tenant_context(Tenant.objects.get(slug="acme")):
        states = set(TicketTarget.objects.values_list("state", flat=True))
        assert {State.AT_RISK, State.BREACHED, State.ON_TRACK, State.PAUSED} <= states
        vip = Ticket.objects.get(subject__startswith="VIP: checkout")
        assert vip.due_at is not None


def test_a_batch_of_new_tickets_loads_the_policies_once_and_the_next_batch_sees_a_change(
    in_tenant, always
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sla.models import PolicyTarget
    from sla.services.settings import sla_reapply_start
    from sla.services.timers import policies_kept

    policy = make_policy(always, hours=(1, 2, 8))
    tickets = [TicketFactory(channel=Ticket.Channel.EMAIL) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        run_handlers()
    policy_reads = [q for q in queries if 'FROM "sla_policy"' in q["sql"]]
    assert len(policy_reads) == 1
    for ticket in tickets:
        assert TargetKind.FIRST_RESPONSE in targets(ticket)

    # Two hours to answer from now on: the next batch loads it.
    PolicyTarget.objects.filter(policy=policy, kind=TargetKind.FIRST_RESPONSE).update(seconds=7200)
    later = TicketFactory(channel=Ticket.Channel.EMAIL)
    run_handlers()
    first = targets(later)[TargetKind.FIRST_RESPONSE]
    assert first.due_at == later.created_at.replace(microsecond=0) + timedelta(hours=2)

    # An edit saved while a batch runs (it starts a reapply run, as every SLA
    # settings edit does) is seen by the batch's next recompute.
    with policies_kept():
        sla_recompute(ticket=tickets[0])
        PolicyTarget.objects.filter(policy=policy, kind=TargetKind.FIRST_RESPONSE).update(
            seconds=3 * 3600
        )
        sla_reapply_start(reason="Policy Standard changed")
        sla_recompute(ticket=later)
    first = targets(later)[TargetKind.FIRST_RESPONSE]
    assert first.due_at == later.created_at.replace(microsecond=0) + timedelta(hours=3)
