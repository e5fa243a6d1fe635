"""Each ticket's targets, recomputed from the ticket and its history.

`sla_recompute` is idempotent: it derives everything (which policy, when
each target started, the pauses, when it was met) from the ticket, its
messages and its status changes, never from the order in which events
arrive, so running it twice or late changes nothing. What it keeps from the
rows it finds is only what must not be taken back: a breach of the same
cycle stays a breach after a policy edit that would give more time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from helpdesk.tenant_work import work_due
from tickets.models import Event, Message, Ticket
from tickets.services.tickets import ticket_system_update

from ..clock import ALWAYS_OPEN, CalendarSpec, business_add, business_count
from ..models import (
    Calendar,
    CalendarClosure,
    Policy,
    PolicyTarget,
    Reapply,
    TargetKind,
    TicketTarget,
)
from .reminders import CLOSED_STATUSES, reminder_keep

WORK_KIND = "sla"
State = TicketTarget.State


@dataclass
class LoadedPolicy:
    policy: Policy
    spec: CalendarSpec
    targets: dict[tuple[int, str], PolicyTarget]


def policies_load() -> list[LoadedPolicy]:
    """The current tenant's active policies in order, with their targets and
    their calendars as clock specs: three queries, whatever the count."""
    policies = list(Policy.objects.filter(active=True).order_by("position", "id"))
    if not policies:
        return []
    calendars = {c.pk: c for c in Calendar.objects.filter(pk__in={p.calendar_id for p in policies})}
    closures: dict[int, list[CalendarClosure]] = {}
    for row in CalendarClosure.objects.filter(calendar__in=list(calendars)):
        closures.setdefault(row.calendar_id, []).append(row)
    targets: dict[int, dict] = {}
    for row in PolicyTarget.objects.filter(policy__in=policies):
        targets.setdefault(row.policy_id, {})[(row.priority, row.kind)] = row
    return [
        LoadedPolicy(
            policy,
            calendars[policy.calendar_id].spec(closures.get(policy.calendar_id, [])),
            targets.get(policy.pk, {}),
        )
        for policy in policies
    ]


# Inside `policies_kept()`: [newest reapply run, policies] once loaded.
_kept: ContextVar[list | None] = ContextVar("sla_policies_kept", default=None)


@contextmanager
def policies_kept() -> Iterator[None]:
    """Within this block (a batch of events) `policies_current` loads the
    policies once, and again only after an edit."""
    token = _kept.set([])
    try:
        yield
    finally:
        _kept.reset(token)


def policies_current() -> list[LoadedPolicy]:
    """The tenant's policies as they stand now. Inside `policies_kept()` the
    ones loaded earlier in the block serve as long as no SLA settings edit
    has committed since (each starts a Reapply run in its transaction): one
    query, not four. Called after the ticket's lock, so a recompute that
    waited on a reapply run's lock sees the edit that started it."""
    kept = _kept.get()
    if kept is None:
        return policies_load()
    newest = Reapply.objects.order_by("-started_at", "-pk").values_list("pk", flat=True).first()
    if not kept or kept[0] != newest:
        kept[:] = [newest, policies_load()]
    return kept[1]


_UNSET = object()


def policy_for(
    ticket: Ticket, loaded: list[LoadedPolicy], organization_id=_UNSET
) -> LoadedPolicy | None:
    """The first of the loaded policies that matches the ticket."""
    if organization_id is _UNSET:
        organization_id = ticket.requester.organization_id if ticket.requester_id else None
    for item in loaded:
        if item.policy.matches(ticket, organization_id):
            return item
    return None


def _status_changes(ticket: Ticket) -> list[tuple[datetime, object, object]]:
    """The ticket's status changes in order: [(at, old, new)]."""
    return list(
        Event.objects.filter(ticket=ticket, kind=Event.Kind.STATUS_CHANGED)
        .order_by("created_at", "id")
        .values_list("created_at", "old_value", "new_value")
    )


def _status_spans(ticket: Ticket, changes) -> list[tuple[datetime, datetime | None, str]]:
    """The ticket's statuses over time: [(from, to, status)], the last open."""

    def value(raw):
        return raw.get("value") if isinstance(raw, dict) else raw

    spans = []
    since = ticket.created_at
    status = value(changes[0][1]) if changes else ticket.status
    for at, _old, new in changes:
        spans.append((since, at, status))
        since, status = at, value(new)
    spans.append((since, None, ticket.status))
    return spans


def _pauses(spans, statuses) -> list[tuple[datetime, datetime | None]]:
    return [(start, end) for start, end, status in spans if status in statuses]


@dataclass
class Clocked:
    kind: str
    cycle: int
    started_at: datetime
    met_at: datetime | None
    pause_statuses: frozenset[str]


RESPONSE_KINDS = (Message.Kind.CUSTOMER.value, Message.Kind.REPLY.value)


def _response_messages(ticket: Ticket) -> list[tuple[str, datetime]]:
    """The ticket's customer messages and public replies in order: [(kind, at)]."""
    return list(
        Message.objects.filter(ticket=ticket, kind__in=RESPONSE_KINDS)
        .order_by("created_at", "id")
        .values_list("kind", "created_at")
    )


def _response_cycles(messages) -> Clocked | None:
    """The current next-response cycle: started by a customer message that
    follows an agent's public reply, met by the next public reply."""
    cycle, started, met, replied = 0, None, None, False
    for kind, at in messages:
        if kind == Message.Kind.REPLY:
            if started is not None and met is None:
                met = at
            replied = True
        elif replied and (started is None or met is not None):
            cycle, started, met = cycle + 1, at, None
    if not cycle:
        return None
    return Clocked(TargetKind.NEXT_RESPONSE, cycle, started, met, frozenset())


def _clocked(ticket: Ticket, loaded: LoadedPolicy, messages) -> list[Clocked]:
    pausing = frozenset(loaded.policy.pause_statuses) | frozenset(CLOSED_STATUSES)
    resolved = ticket.resolved_at if ticket.status in CLOSED_STATUSES else None
    out = [
        Clocked(TargetKind.FIRST_RESPONSE, 1, ticket.created_at, ticket.first_response_at, pausing),
        Clocked(TargetKind.RESOLUTION, 1, ticket.created_at, resolved, pausing),
    ]
    following = _response_cycles(messages)
    if following is not None:
        following.pause_statuses = pausing
        out.append(following)
    return out


def _evaluate(
    clocked: Clocked,
    target: PolicyTarget,
    spec: CalendarSpec,
    spans,
    at_risk_percent: int,
    now: datetime,
    before: TicketTarget | None,
) -> dict:
    """The row's values for one target at `now`."""
    spec = spec if target.business else ALWAYS_OPEN
    end = clocked.met_at or now
    pauses = [
        (start, stop)
        for start, stop in _pauses(spans, clocked.pause_statuses)
        if start < end and (stop is None or stop > clocked.started_at)
    ]
    # A pause that the met time ends, ends there (the first response of a
    # ticket that is then resolved).
    pauses = [(start, stop if stop is not None and stop <= end else end) for start, stop in pauses]
    used = business_count(spec, clocked.started_at, end, pauses)
    running = business_count(spec, clocked.started_at, end)
    paused_now = clocked.met_at is None and any(
        start <= now and stop >= now for start, stop in pauses
    )
    open_pauses = pauses
    if paused_now:
        # Still paused: the deadline is not known until the clock runs again.
        open_pauses = [(s, None if t >= now else t) for s, t in pauses]
    try:
        due = business_add(spec, clocked.started_at, target.seconds, open_pauses)
        risk_seconds = max(1, math.ceil(target.seconds * at_risk_percent / 100))
        at_risk = business_add(spec, clocked.started_at, risk_seconds, open_pauses)
    except ValueError:
        due = at_risk = None
    same_cycle = before is not None and before.cycle == clocked.cycle
    breached_at = before.breached_at if same_cycle and before.breached_at else None
    if (
        breached_at is None
        and used >= target.seconds
        and (clocked.met_at is None or due < clocked.met_at)
    ):
        breached_at = due
    if clocked.met_at is not None:
        state = State.BREACHED if breached_at else State.MET
    elif breached_at is not None:
        state = State.BREACHED
    elif paused_now:
        state = State.PAUSED
    elif at_risk is not None and now >= at_risk:
        state = State.AT_RISK
    else:
        state = State.ON_TRACK
    alerted = before.alerted if same_cycle else ""
    next_check = None
    if clocked.met_at is None and not paused_now and due is not None:
        # The sweep's next step: the at-risk alert, then the breach. A time
        # already past is simply due now; each alert is sent once.
        next_check = {"": at_risk, "at_risk": due}.get(alerted)
    return {
        "cycle": clocked.cycle,
        "target_seconds": target.seconds,
        "business": target.business,
        "started_at": clocked.started_at,
        "due_at": due,
        "at_risk_at": at_risk,
        "met_at": clocked.met_at,
        "breached_at": breached_at,
        "seconds_used": used,
        "paused_seconds": max(0, running - used),
        "state": state,
        "next_check_at": next_check,
        "alerted": alerted,
    }


@dataclass
class Plan:
    """What a recompute makes of one ticket's targets: the values of each
    target it has now (by kind), and which of its rows go."""

    values: dict[str, dict]
    # Rows of targets the ticket no longer has: deleted, unless breached.
    gone: list[str]
    # Breached rows kept although the ticket no longer has their target.
    kept_breached: list[str]


def targets_plan(
    ticket: Ticket,
    *,
    organization_id: int | None,
    changes,
    messages,
    existing: dict[str, TicketTarget],
    loaded: list[LoadedPolicy],
    now: datetime,
) -> Plan:
    """The ticket's targets at `now`, from what was read about it: its
    status `changes` [(at, old, new)], its customer messages and public
    replies `messages` [(kind, at)], and its `existing` rows by kind. No
    database: the one-ticket and the bulk recompute both decide here."""
    chosen = policy_for(ticket, loaded, organization_id)
    values: dict[str, dict] = {}
    if chosen is not None:
        spans = _status_spans(ticket, changes)
        for clocked in _clocked(ticket, chosen, messages):
            target = chosen.targets.get((ticket.priority, clocked.kind))
            if target is None:
                continue
            values[clocked.kind] = _evaluate(
                clocked,
                target,
                chosen.spec,
                spans,
                chosen.policy.at_risk_percent,
                now,
                existing.get(clocked.kind),
            )
            values[clocked.kind]["policy_id"] = chosen.policy.pk
    others = [kind for kind in existing if kind not in values]
    return Plan(
        values=values,
        gone=[kind for kind in others if existing[kind].breached_at is None],
        kept_breached=[kind for kind in others if existing[kind].breached_at is not None],
    )


@transaction.atomic
def sla_recompute(
    *, ticket: Ticket, loaded: list[LoadedPolicy] | None = None, now=None
) -> list[TicketTarget]:
    """Recompute a ticket's targets and its due time from the ticket as it
    is now; write only what changed."""
    now = now or timezone.now()
    ticket = (
        Ticket.objects.select_related("requester").select_for_update(of=("self",)).get(pk=ticket.pk)
    )
    loaded = policies_current() if loaded is None else loaded
    existing = {row.kind: row for row in TicketTarget.objects.filter(ticket=ticket)}
    organization_id = ticket.requester.organization_id if ticket.requester_id else None
    chosen = policy_for(ticket, loaded, organization_id)
    plan = targets_plan(
        ticket,
        organization_id=organization_id,
        changes=_status_changes(ticket) if chosen is not None else [],
        messages=_response_messages(ticket) if chosen is not None else [],
        existing=existing,
        loaded=loaded,
        now=now,
    )
    keep: dict[str, TicketTarget] = {}
    for kind, values in plan.values.items():
        row = existing.get(kind)
        if row is None:
            row = TicketTarget(
                tenant_id=ticket.tenant_id, ticket=ticket, kind=kind, computed_at=now, **values
            )
            row.save()
        else:
            changed = [f for f, v in values.items() if getattr(row, f) != v]
            if changed:
                for field in changed:
                    setattr(row, field, values[field])
                row.computed_at = now
                row.save(update_fields=[*changed, "computed_at"])
        keep[kind] = row
    # Targets the ticket no longer has go, unless breached: a breach stays.
    if plan.gone:
        TicketTarget.objects.filter(pk__in=[existing[kind].pk for kind in plan.gone]).delete()
    for kind in plan.kept_breached:
        row = existing[kind]
        if row.next_check_at is not None:
            row.next_check_at = None
            row.save(update_fields=["next_check_at"])
        keep[kind] = row
    rows = list(keep.values())
    checks = [row.next_check_at for row in rows if row.next_check_at is not None]
    remind_at = reminder_keep(ticket, chosen)
    if remind_at is not None:
        checks.append(remind_at)
    if checks:
        work_due(kind=WORK_KIND, at=min(checks))
    _write_due(ticket, rows)
    return rows


def nearest_due(ticket: Ticket, rows: list[TicketTarget]) -> datetime | None:
    """The ticket's nearest active deadline: of targets neither met nor
    paused, on an open ticket."""
    if ticket.status in CLOSED_STATUSES:
        return None
    active = [
        row.due_at
        for row in rows
        if row.met_at is None and row.due_at is not None and row.state != State.PAUSED
    ]
    return min(active) if active else None


def _write_due(ticket: Ticket, rows: list[TicketTarget]) -> None:
    due = nearest_due(ticket, rows)
    if due != ticket.due_at:
        ticket_system_update(
            ticket=ticket,
            source="sla",
            reason="SLA deadline recomputed",
            due_at=due,
        )
