"""The bulk recompute after a policy or calendar edit decides exactly as the
one-ticket recompute does, on tickets in every SLA situation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sla.models import Calendar, PolicyTarget, TargetKind, TicketTarget
from sla.services.bulk import sla_recompute_batch
from sla.services.timers import policies_load, sla_recompute
from tests.factories import TicketFactory, add_reply
from tickets.models import Event, Message, Ticket
from tickets.services import tickets as ticket_services
from tickets.services import tickets_system_due_update

from .conftest import make_policy

State = TicketTarget.State
FIELDS = [
    f.attname
    for f in TicketTarget._meta.concrete_fields
    if f.attname not in ("id", "tenant_id", "ticket_id", "kind")
]


def _snapshot():
    targets = {
        (row.ticket_id, row.kind): tuple(getattr(row, f) for f in FIELDS)
        for row in TicketTarget.objects.all()
    }
    due = dict(Ticket.objects.values_list("pk", "due_at"))
    return targets, due


def _due_events() -> int:
    return Event.objects.filter(field="due_at").count()


@pytest.fixture
def mix(in_tenant, always, berlin, agent):
    """Tickets of two policies and none, on track, at risk, breached, met,
    paused, waiting for a next response, recomputed an hour ago."""
    vip = make_policy(always, name="VIP", position=1, hours=(0.5, 1, 4), tags=["vip"])
    make_policy(berlin, name="Mail", position=2, hours=(4, 2, 16), channels=["email"])
    make_policy(always, name="Urgent web", position=3, hours=(1, 1, 2), priorities=[4])
    tickets = [
        TicketFactory(),
        TicketFactory(tags=["vip"]),
        TicketFactory(tags=["vip"], priority=4),
        TicketFactory(channel=Ticket.Channel.WEB),  # no policy applies
        TicketFactory(channel=Ticket.Channel.WEB, priority=4),
    ]
    replied = TicketFactory(tags=["vip"])
    add_reply(replied, agent)
    ticket_services.message_add(
        ticket=replied,
        kind=Message.Kind.CUSTOMER,
        body="Still broken",
        author_contact=replied.requester,
    )
    paused = TicketFactory()
    ticket_services.ticket_change_status(
        ticket=paused, actor=agent, status=Ticket.Status.PENDING, expected_version=None
    )
    back = TicketFactory(tags=["vip"])
    for status in (Ticket.Status.ON_HOLD, Ticket.Status.OPEN):
        ticket_services.ticket_change_status(
            ticket=back, actor=agent, status=status, expected_version=None
        )
    tickets += [replied, paused, back]
    # Created at various times before now, some long ago.
    now = timezone.now()
    for age, ticket in enumerate(tickets):
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=ticket.created_at - timedelta(minutes=50 * age)
        )
    # Answered as soon as it came: met whatever the time of day (made older,
    # its reply could fall after a due time on the Berlin office's hours).
    met = TicketFactory()
    add_reply(met, agent)
    tickets.append(met)
    loaded = policies_load()
    for ticket in tickets:
        sla_recompute(ticket=ticket, loaded=loaded, now=now + timedelta(minutes=40))
    return {"tickets": tickets, "vip": vip, "now": now}


def test_bulk_recompute_matches_the_one_ticket_recompute(mix, berlin):
    now = mix["now"]
    before = list(TicketTarget.objects.all())
    before_due = dict(Ticket.objects.values_list("pk", "due_at"))
    states = {row.state for row in before}
    assert {State.BREACHED, State.MET, State.PAUSED, State.ON_TRACK} <= states
    # The edit: the VIP policy drops its first response; the office opens
    # 08:00-18:00, Saturdays too.
    PolicyTarget.objects.filter(policy=mix["vip"], kind=TargetKind.FIRST_RESPONSE).delete()
    Calendar.objects.filter(pk=berlin.pk).update(
        hours={str(day): [["08:00", "18:00"]] for day in range(6)}
    )
    later = now + timedelta(hours=3)
    open_tickets = list(Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).order_by("pk"))

    events = _due_events()
    loaded = policies_load()
    for ticket in open_tickets:
        sla_recompute(ticket=ticket, loaded=loaded, now=later)
    one_by_one, one_by_one_due = _snapshot()
    one_by_one_events = _due_events() - events

    # Back to an hour ago, then the bulk path, in batches of three.
    TicketTarget.objects.all().delete()
    TicketTarget.objects.bulk_create(before)
    for pk, due in before_due.items():
        Ticket.objects.filter(pk=pk).update(due_at=due)
    events = _due_events()
    after, done = 0, 0
    while True:
        count, last = sla_recompute_batch(after=after, loaded=policies_load(), now=later, limit=3)
        done += count
        if count < 3:
            break
        after = last
    bulk, bulk_due = _snapshot()

    assert done == len(open_tickets)
    assert bulk == one_by_one
    assert bulk_due == one_by_one_due
    assert _due_events() - events == one_by_one_events > 0
    # The VIP first responses breached an hour ago are still breached,
    # though the policy has no first response any more.
    kept = [
        row
        for (ticket_id, kind), row in bulk.items()
        if kind == TargetKind.FIRST_RESPONSE and ticket_id == mix["tickets"][1].pk
    ]
    assert kept and kept[0][FIELDS.index("state")] == State.BREACHED


def test_bulk_recompute_twice_writes_nothing_the_second_time(mix):
    later = mix["now"] + timedelta(hours=1)
    sla_recompute_batch(after=0, loaded=policies_load(), now=later)
    computed = dict(TicketTarget.objects.values_list("pk", "computed_at"))
    events = Event.objects.count()
    sla_recompute_batch(after=0, loaded=policies_load(), now=later)
    assert dict(TicketTarget.objects.values_list("pk", "computed_at")) == computed
    assert Event.objects.count() == events


def test_a_batch_costs_the_same_queries_whatever_its_size(mix):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(limit: int) -> int:
        TicketTarget.objects.all().delete()
        Ticket.objects.update(due_at=None)
        loaded = policies_load()
        with CaptureQueriesContext(connection) as captured:
            count, _ = sla_recompute_batch(after=0, loaded=loaded, now=mix["now"], limit=limit)
        assert count == min(limit, len(mix["tickets"]))
        return len(captured.captured_queries)

    # Tickets, targets, reminders, status changes, messages, the upsert,
    # the control plane's mark (2), the tickets app's lock, update and
    # events, the savepoints (4) of the two services' transactions, and the
    # hand-over of the due-time events to the reports handler (2).
    assert queries(3) == queries(1000) <= 17
    assert Ticket.objects.filter(due_at__isnull=False).count() > 3


def test_the_bulk_due_update_checks_what_it_writes(in_tenant):
    ticket = TicketFactory()
    with pytest.raises(ValueError):
        tickets_system_due_update(due={ticket.pk: None}, source="nobody", reason="x")
    with pytest.raises(Exception, match="time zone"):
        tickets_system_due_update(
            due={ticket.pk: timezone.now().replace(tzinfo=None)}, source="sla", reason="x"
        )
    due = timezone.now() + timedelta(hours=2)
    version = Ticket.objects.get(pk=ticket.pk).version
    assert tickets_system_due_update(due={ticket.pk: due}, source="sla", reason="Test") == 1
    assert tickets_system_due_update(due={ticket.pk: due}, source="sla", reason="Test") == 0
    ticket.refresh_from_db()
    assert ticket.due_at == due and ticket.version == version
    event = Event.objects.get(ticket=ticket, field="due_at")
    assert event.actor_system == "sla" and not event.is_public
    # Reports keep SLA outcomes in their facts: their handler takes the event.
    assert event.processed_at is None
