"""The simulator: the tenant's tickets of the last N days replayed through
a draft rule set, before it is saved. Rows are streamed in chunks (never
all in memory), only the columns the rules need are read, and nothing is
written."""

from __future__ import annotations

import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Left
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from tickets.models import InboundEmail, Message, Ticket

from . import selectors
from .rules import TicketFacts, evaluate

CHUNK = 2000
# Rules read at most this much of a message (a pasted log must not slow the replay).
BODY_CHARS = 4000


@dataclass
class Simulation:
    days: int
    tickets: int = 0
    seconds: float = 0.0
    # group id (None: no group) -> tickets: where the draft rules would put them / where they went.
    would_group: Counter = field(default_factory=Counter)
    actual_group: Counter = field(default_factory=Counter)
    would_agent: Counter = field(default_factory=Counter)  # named by a rule
    review: int = 0
    rule_matches: Counter = field(default_factory=Counter)
    changed_group: int = 0


def simulate(*, rules, days: int) -> Simulation:
    """Replay the last `days` of tickets through `rules` (objects as
    `RoutingRule`, saved or not). Where a rule sets no group, the ticket's
    own group counts, as routing would leave it."""
    started = time.monotonic()
    result = Simulation(days=days)
    fields = {c["field"] for rule in rules if rule.is_enabled for c in rule.conditions}
    tickets = Ticket.objects.filter(created_at__gte=timezone.now() - timedelta(days=days))
    columns = [
        "subject", "channel", "requester__email", "requester__organization_id", "category_id",
        "tags", "priority", "type", "created_at", "group_id",
    ]  # fmt: skip
    if fields & {"body", "text"}:
        first = Message.objects.filter(ticket=OuterRef("pk"), kind=Message.Kind.CUSTOMER)
        body = first.order_by("created_at", "pk").values("body_text")[:1]
        tickets = tickets.annotate(body=Left(Subquery(body), BODY_CHARS))
        columns.append("body")
    if "mailbox" in fields:
        mailbox = InboundEmail.objects.filter(ticket=OuterRef("pk")).order_by("pk")
        tickets = tickets.annotate(mailbox=Subquery(mailbox.values("mailbox_id")[:1]))
        columns.append("mailbox")
    hours = selectors.business_hours(selectors.dispatch_settings())
    zone = zoneinfo.ZoneInfo(current_tenant().time_zone)
    rules = list(rules)
    for row in tickets.order_by().values_list(*columns).iterator(chunk_size=CHUNK):
        values = dict(zip(columns, row, strict=True))
        facts = TicketFacts(
            subject=values["subject"],
            body=values.get("body") or "",
            channel=values["channel"],
            requester_email=values["requester__email"],
            organization=values["requester__organization_id"],
            category=values["category_id"],
            tags=tuple(values["tags"]),
            priority=values["priority"],
            type=values["type"],
            mailbox=values.get("mailbox"),
            arrived_local=values["created_at"].astimezone(zone),
        )
        evaluation = evaluate(rules, facts, hours)
        actions = evaluation.actions
        would = actions.get("group") or values["group_id"]
        result.tickets += 1
        result.would_group[would] += 1
        result.actual_group[values["group_id"]] += 1
        result.changed_group += would != values["group_id"]
        if actions.get("assignee"):
            result.would_agent[actions["assignee"]] += 1
        result.review += bool(actions.get("review"))
        for step in evaluation.matched:
            result.rule_matches[step.name] += 1
    result.seconds = time.monotonic() - started
    return result
