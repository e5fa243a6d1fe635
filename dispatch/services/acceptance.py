"""Optional acceptance (per group): an automatic assignee accepts the ticket
within the group's minutes, or declines it with a reason; declining or the
time running out sends it to the next candidate, passing over whoever
declined it or let it lapse.

Locks follow routing's order (see `routing`): the ticket, then the
acceptance (claimed with a conditional update, so two sweeps or a sweep and
a click act once); routing the ticket again then claims one agent's row at
a time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due
from tickets.events import event_record
from tickets.models import Event, Ticket
from tickets.services import ticket_system_update

from .. import selectors
from ..models import Acceptance, GroupDispatch, RoutingDecision
from .routing import SOURCE, ticket_route

logger = logging.getLogger(__name__)

ACCEPTANCE_WORK = "dispatch_acceptance"
ACCEPTED_KIND = "dispatch_accepted"
DECLINED_KIND = "dispatch_declined"
TIMED_OUT_KIND = "dispatch_accept_timeout"
# Acceptances one tenant's sweep times out at most (the rest at the next beat).
SWEEP_BATCH = 200
State = Acceptance.State


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


@transaction.atomic
def acceptance_open(*, event: Event) -> Acceptance | None:
    """After an automatic assignment (the event, by routing): when the
    ticket's group asks for acceptance, the assignee has the group's minutes
    to accept. Earlier acceptances of the ticket that no longer fit its
    assignee are cancelled. Safe to run twice (one acceptance per
    assignment event)."""
    ticket = Ticket.objects.get(pk=event.ticket_id)
    now = timezone.now()
    Acceptance.objects.filter(ticket=ticket, state=State.WAITING).exclude(
        user_id=ticket.assignee_id or 0
    ).update(state=State.CANCELLED, ended_at=now)
    user_id = (event.new_value or {}).get("value")
    if not user_id or user_id != ticket.assignee_id or not ticket.is_open or not ticket.group_id:
        return None
    minutes = (
        GroupDispatch.objects.filter(group_id=ticket.group_id)
        .values_list("accept_minutes", flat=True)
        .first()
    )
    if not minutes:
        return None
    due = now + timedelta(minutes=minutes)
    Acceptance.objects.bulk_create(
        [
            Acceptance(
                tenant=current_tenant(), ticket=ticket, user_id=user_id, group_id=ticket.group_id,
                assigned_event_id=event.pk, due_at=due, created_at=now,
            )
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    work_due(kind=ACCEPTANCE_WORK, at=due)
    return Acceptance.objects.filter(assigned_event_id=event.pk).first()


def _waiting_for(ticket: Ticket, user) -> Acceptance:
    acceptance = selectors.waiting_acceptance(ticket)
    if acceptance is None:
        raise ValidationError(f"{ticket.reference} does not wait for acceptance.")
    if acceptance.user_id != user.pk:
        raise ValidationError(f"{ticket.reference} waits for its assignee to accept, not for you.")
    return acceptance


@transaction.atomic
def acceptance_accept(*, ticket: Ticket, user) -> Acceptance:
    """The assignee takes the ticket on (one click); on the timeline."""
    acceptance = _waiting_for(ticket, user)
    now = timezone.now()
    if not Acceptance.objects.filter(pk=acceptance.pk, state=State.WAITING).update(
        state=State.ACCEPTED, ended_at=now
    ):
        raise ValidationError(f"{ticket.reference} no longer waits for your acceptance.")
    event_record(
        ticket=ticket, kind=ACCEPTED_KIND, actor_user=user, is_public=False,
        new_value={"value": user.pk, "label": _name(user)},
    )  # fmt: skip
    acceptance.state, acceptance.ended_at = State.ACCEPTED, now
    return acceptance


def acceptance_decline(*, ticket: Ticket, user, reason: str) -> RoutingDecision | None:
    """The assignee declines with a reason: the ticket goes to the next
    candidate (never back to them). Returns the new routing decision."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": "Say why you decline: the next agent reads it."})
    acceptance = _waiting_for(ticket, user)
    decision = _pass_on(acceptance, state=State.DECLINED, reason=reason[:500], actor=user)
    if decision is False:
        raise ValidationError(f"{ticket.reference} no longer waits for your acceptance.")
    return decision


def acceptance_time_out(*, acceptance: Acceptance) -> RoutingDecision | bool | None:
    """The time to accept ran out: the next candidate. False when someone
    acted on it first (a click, another sweep): then nothing changes."""
    return _pass_on(acceptance, state=State.TIMED_OUT, reason="", actor=None)


@transaction.atomic
def _pass_on(acceptance: Acceptance, *, state: str, reason: str, actor):
    """Claim the acceptance (once), record it, take the ticket from its
    assignee and route it again without them. False when already claimed."""
    # 1. the ticket (routing's lock order), 2. the claim. The agents' rows
    # are not locked: an unassignment only lowers a load, and routing claims
    # the next agent itself.
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("tenant").get(
            pk=acceptance.ticket_id
        )
    )  # fmt: skip
    now = timezone.now()
    claimed = Acceptance.objects.filter(pk=acceptance.pk, state=State.WAITING).update(
        state=state, reason=reason, ended_at=now
    )
    if not claimed:
        return False
    user = acceptance.user
    if ticket.assignee_id != user.pk or not ticket.is_open:
        # Given to someone else by hand, or closed, meanwhile: nothing to pass on.
        Acceptance.objects.filter(pk=acceptance.pk).update(state=State.CANCELLED)
        return None
    if state == State.DECLINED:
        event_record(
            ticket=ticket, kind=DECLINED_KIND, actor_user=actor, is_public=False, reason=reason,
            new_value={"value": user.pk, "label": _name(user)},
        )  # fmt: skip
        why = f"{_name(user)} declined: {reason}"
        trigger = RoutingDecision.Trigger.DECLINED
    else:
        minutes = max(1, round((now - acceptance.created_at).total_seconds() / 60))
        event_record(
            ticket=ticket, kind=TIMED_OUT_KIND, actor_system=SOURCE, is_public=False,
            reason=f"Not accepted within {minutes} minutes",
            new_value={"value": user.pk, "label": _name(user)},
        )  # fmt: skip
        why = f"{_name(user)} did not accept in time"
        trigger = RoutingDecision.Trigger.TIMED_OUT
    ticket = ticket_system_update(ticket=ticket, source=SOURCE, reason=why, assignee=None)
    return ticket_route(ticket=ticket, trigger=trigger, use_rules=False)


def acceptances_time_out() -> tuple[int, object]:
    """The tenant's sweep: time out every acceptance past its minutes (rows
    another sweep holds are skipped). Returns how many, and when the next
    one falls due (None: none waits)."""
    now = timezone.now()
    due = list(
        Acceptance.objects.filter(state=State.WAITING, due_at__lte=now)
        .select_related("user")
        .order_by("due_at", "pk")[:SWEEP_BATCH]
    )
    done = 0
    for acceptance in due:
        try:
            done += acceptance_time_out(acceptance=acceptance) is not False
        except Exception:
            # Its savepoint is rolled back: one bad row does not hold up the others.
            logger.exception("acceptance %s not timed out", acceptance.pk)
    upcoming = (
        Acceptance.objects.filter(state=State.WAITING)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    if len(due) == SWEEP_BATCH:
        upcoming = now
    return done, upcoming
