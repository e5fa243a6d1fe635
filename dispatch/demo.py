"""Dispatch's demo data for `seed_demo` (acme): rules, one group per mode,
an L1 -> L2 pair, agents online with capacities and skills, and a few
new tickets routed so every mode shows something."""

from __future__ import annotations

from helpdesk.models import Membership, SupportGroup, SupportGroupMember
from tickets.models import Organization, Ticket
from tickets.services import ticket_create

from .models import AgentStatus, GroupDispatch, RoutingDecision, RoutingRule
from .services import statuses_locked, ticket_route

DEMO_TICKETS = [
    ("Refund for a double charge on my invoice", "I was charged twice, please refund.", None),
    ("Outage: the portal is down for everyone", "Nothing loads since 9:00.", None),
    ("Question about the export", "How do I export last month's tickets?", None),
]


def seed_dispatch_demo(tenant, stdout) -> None:
    if tenant.slug != "acme":
        return
    if RoutingRule.objects.exists():
        stdout.write(f"{tenant.name}: routing rules already there, not adding more")
        return
    groups = {g.name: g for g in SupportGroup.objects.all()}
    tier2, _ = SupportGroup.objects.get_or_create(tenant=tenant, name="Tier 2")
    memberships = list(Membership.objects.filter(tenant=tenant).select_related("user"))
    agents = [m.user for m in memberships]
    seniors = [m.user for m in memberships if m.role in ("admin", "manager")]
    for user in seniors:
        SupportGroupMember.objects.get_or_create(tenant=tenant, group=tier2, user=user)
    first_line, billing, technical = groups["First line"], groups["Billing"], groups["Technical"]
    dispatcher = next((m.user for m in memberships if m.role == "dispatcher"), None)
    for group, mode, strategy, extra in (
        (
            first_line,
            "automatic",
            "least_loaded",
            {"escalation_group": tier2, "escalate_on_breach": True},
        ),
        (billing, "semi", "round_robin", {}),
        (technical, "claim", "least_loaded", {"leader": dispatcher}),
        (tier2, "automatic", "round_robin", {"accept_minutes": 15}),
    ):
        GroupDispatch.objects.update_or_create(
            tenant=tenant, group=group, defaults={"mode": mode, "strategy": strategy, **extra}
        )
    statuses_locked([u.pk for u in agents])
    for position, user in enumerate(agents):
        AgentStatus.objects.filter(user=user).update(
            availability="online" if position % 4 != 3 else "away",
            capacity=15 + 5 * (position % 3),
            skills={"language:en": 3, "language:de": 1 + position % 3},
        )
    initech = Organization.objects.filter(name="Initech").first()
    rules = [
        (
            "Billing words go to Billing",
            [{"field": "text", "value": ["invoice", "refund", "charged twice", "billing"]}],
            {"group": billing.pk},
            False,
        ),  # noqa: E501
        (
            "Outages are urgent",
            [{"field": "text", "value": ["outage", "down for everyone"]}],
            {"priority": 4, "add_tags": ["outage"]},
            False,
        ),  # noqa: E501
        (
            "Everything else to First line",
            [{"field": "channel", "value": ["email", "web", "portal", "api", "phone", "chat"]}],
            {"group": first_line.pk},
            False,
        ),  # noqa: E501
    ]
    if initech:
        rules.insert(
            0,
            (
                "VIP: Initech goes to Tier 2",
                [{"field": "organization", "value": [initech.pk]}],
                {"group": tier2.pk, "add_tags": ["vip"]},
                True,
            ),
        )  # noqa: E501
    for position, (name, conditions, actions, stop) in enumerate(rules, start=1):
        RoutingRule.objects.create(
            tenant=tenant, name=name, position=position, conditions=conditions,
            actions=actions, stop=stop,
        )  # fmt: skip
    for subject, body, _ in DEMO_TICKETS:
        ticket = ticket_create(
            subject=subject, body=body, requester_email="pat.lee@example.com",
            requester_name="Pat Lee", channel=Ticket.Channel.EMAIL,
        )  # fmt: skip
        ticket_route(ticket=ticket, trigger=RoutingDecision.Trigger.CREATED)
    stdout.write(
        f"{tenant.name}: routing rules, groups in every dispatch mode (First line automatic, "
        "Billing semi-automatic, Technical claim, Tier 2 after First line on escalation or an "
        "SLA breach, accepting within 15 minutes), agents online"
    )
