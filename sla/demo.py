"""Demo data for seed_demo (registered in helpdesk.extensions.demo_seeders):
Acme gets a Berlin business calendar with German holidays, a 24/7 calendar
for urgent tickets, a VIP policy, and tickets in every SLA state."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from django.utils import timezone

from helpdesk.models import Membership, SupportGroup
from tickets.models import Contact, Ticket
from tickets.services import tickets as ticket_services

from .models import Calendar, Policy, PolicyTarget, TargetKind
from .services.timers import policies_load, sla_recompute

DEMO_TENANT = "acme"
H = 3600
# (name, position, calendar, conditions, business, {priority: (first, next, resolution) hours}, escalate)
POLICIES = [
    (
        "VIP customers",
        10,
        "24/7",
        # Nobody leaves a VIP waiting unheard for a working day.
        {"tags": ["vip"], "remind_after_hours": 8},
        False,
        {4: (0.5, 1, 8), 3: (1, 2, 12), 2: (2, 4, 24), 1: (4, 8, 48)},
        True,
    ),
    ("Urgent around the clock", 20, "24/7", {"priorities": [4]}, False, {4: (1, 2, 8)}, False),
    (
        "Standard business hours",
        30,
        "Berlin office",
        {},
        True,
        {3: (2, 2, 16), 2: (4, 4, 24), 1: (8, 8, 40)},
        False,
    ),
]
# (subject, priority, tags, minutes ago, pending): tickets whose SLA state is
# known whatever the day: 24/7 targets of the VIP policy.
TICKETS = [
    ("VIP: checkout fails for every customer", 4, ["vip"], 26, False),  # at risk
    ("VIP: invoices show the wrong VAT", 3, ["vip"], 180, False),  # breached
    ("VIP: add two seats to our plan", 2, ["vip"], 10, False),  # on track
    ("VIP: waiting for your export file", 2, ["vip"], 90, True),  # paused
]


def sla_demo_seed(tenant, stdout) -> None:
    """Calendars, policies and tickets in every SLA state (Acme only; safe
    to run again: a tenant that has the Berlin calendar is left alone)."""
    if tenant.slug != DEMO_TENANT or Calendar.objects.filter(name="Berlin office").exists():
        return
    hours = {str(day): [["09:00", "12:00"], ["13:00", "17:00"]] for day in range(5)}
    calendars = {
        "Berlin office": Calendar.objects.create(
            tenant=tenant,
            name="Berlin office",
            time_zone="Europe/Berlin",
            hours=hours,
            holiday_country="DE",
            holiday_subdivision="BE",
        ),
        "24/7": Calendar.objects.create(tenant=tenant, name="24/7", always_open=True),
    }
    second_line = SupportGroup.objects.order_by("name").last()
    for name, position, calendar, conditions, business, targets, escalate in POLICIES:
        policy = Policy.objects.create(
            tenant=tenant,
            name=name,
            position=position,
            calendar=calendars[calendar],
            escalate_priority=escalate,
            escalate_group=second_line if escalate else None,
            **conditions,
        )
        PolicyTarget.objects.bulk_create(
            [
                PolicyTarget(
                    tenant=tenant,
                    policy=policy,
                    priority=priority,
                    kind=kind,
                    seconds=int(h * H),
                    business=business,
                )
                for priority, trio in targets.items()
                for kind, h in zip(TargetKind.values, trio, strict=True)
            ]
        )
    requester = Contact.objects.order_by("pk").first()
    agent = Membership.objects.filter(tenant=tenant, role=Membership.Role.AGENT).first().user
    now = timezone.now()
    for subject, priority, tags, minutes_ago, pending in TICKETS:
        opened = now - timedelta(minutes=minutes_ago)
        # As seed_demo does: the services stamp their writes with the demo's clock.
        with mock.patch("django.utils.timezone.now", lambda opened=opened: opened):
            ticket = ticket_services.ticket_create(
                requester=requester,
                subject=subject,
                body=f"Hello,\n\n{subject}.\n\nThanks",
                channel=Ticket.Channel.EMAIL,
                priority=priority,
                tags=tags,
            )
            if pending:
                ticket_services.ticket_update(
                    ticket=ticket, actor=agent, expected_version=None, status=Ticket.Status.PENDING
                )
    loaded = policies_load()
    count = 0
    for ticket in Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).only("pk"):
        sla_recompute(ticket=ticket, loaded=loaded)
        count += 1
    stdout.write(
        f"{tenant.name}: SLA calendars (Berlin office, 24/7), {len(POLICIES)} policies, "
        f"deadlines on {count} open tickets"
    )
