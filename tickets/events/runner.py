"""The runner: how a batch of events runs (`events_run`, in a task's tenant
transaction):
- claim: one INSERT ... ON CONFLICT DO NOTHING puts the run row of every
  handler of every event, in one order. A pair another worker has
  committed is done and is skipped; a pair another worker holds makes this
  one wait for it (and then take it if that worker gave it back).
- after the claims, the batch's failures are read: a worker this one
  waited for may have just recorded one, and its backoff applies here too.
- each claimed handler runs in a savepoint of its own, every constraint
  checked at once: any error, an IntegrityError of its own writes too, is a
  failure.
- a failure rolls the work back, releases the claim, and is recorded with
  its attempt count and the time of the next attempt (exponential backoff);
  after EVENT_HANDLER_MAX_ATTEMPTS the handler is abandoned and stays listed
  on the admins' Failed work page until someone runs it again.
- an event is processed once every handler is done (one UPDATE for the
  batch); otherwise its `next_attempt_at` says when a retry is due, a retry
  task is scheduled for then, and the tenant's sweep takes it only a grace
  period after that.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_due, work_sweep_claim, work_sweep_next

from ..models import Event, EventHandlerFailure, EventHandlerRun
from . import registry
from .outbox import EVENTS_WORK, _hand_over
from .registry import Handler, HandlerRun, _current_run, handlers_for

logger = logging.getLogger(__name__)

# The longest error text kept on a failure.
ERROR_LENGTH = 2000


def retry_delay(attempts: int) -> int:
    """Seconds to wait after a handler's `attempts`-th failure."""
    base, longest = settings.EVENT_RETRY_BASE_SECONDS, settings.EVENT_RETRY_MAX_SECONDS
    return min(longest, base * 2 ** min(attempts - 1, 30))


# A handler that ran and finished.
RAN = "ran"


@dataclass
class RunReport:
    failures: list[Exception]
    # Stopped by the task's soft time limit; the events not reached were
    # handed over again.
    stopped: bool = False


def events_run(*, event_ids: list[int], express: bool = False) -> RunReport:
    """Run the unfinished handlers of these events (in the current tenant's
    transaction) whose time has come; mark finished events processed and
    schedule the retries of the others.

    `express`: only the express handlers (`subscribe(..., express=True)`),
    ahead of the events' own batch, which settles the events: this run
    touches no event row. A failure is recorded as any other, and the
    events' batch retries it after its backoff.

    The batch's bookkeeping is a handful of statements whatever its size:
    one INSERT claims every handler run of every event, one SELECT reads
    their failures after it, each handler runs in one savepoint, and one
    UPDATE marks the finished events."""
    # Deferred constraints (Django's foreign keys are) would fail at the
    # commit, outside every handler's savepoint: check each as it is written.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    report = RunReport(failures=[])
    events = list(Event.objects.filter(pk__in=event_ids, processed_at__isnull=True).order_by("pk"))
    if not events:
        return report
    wanted = {event.pk: handlers_for(event) for event in events}
    failures = EventHandlerFailure.objects.select_for_update().filter(event_id__in=list(wanted))
    if express:
        wanted = {pk: [h for h in handlers if h.express] for pk, handlers in wanted.items()}
        failures = failures.filter(handler__in=_names(wanted))
    claimed = _claim_all(events, wanted)
    if express and not claimed:
        return report  # done by the events' batch already
    # Read after the claims: a worker this one waited for may have just
    # recorded a failure, and its backoff applies here too.
    failed: dict[int, dict[str, EventHandlerFailure]] = {event.pk: {} for event in events}
    for failure in failures:
        failed[failure.event_id][failure.handler] = failure
    run = _Run(events, wanted, claimed, failed, report)
    with ExitStack() as scopes:
        for factory in registry._batch_scopes.values():
            scopes.enter_context(factory())
        run.handlers()
    if express:
        run.give_back()
    else:
        run.settle()
    return report


def _names(wanted: dict[int, list[Handler]]) -> list[str]:
    return sorted({handler.name for handlers in wanted.values() for handler in handlers})


def _claim_all(events: list[Event], wanted: dict[int, list[Handler]]) -> set[tuple[int, str]]:
    """Insert every handler's run row, in one order (so two runners never
    wait on each other in a circle); the pairs this run inserted. A pair
    left out was done by another worker; a row another worker inserted and
    has not yet committed makes this wait for it."""
    pairs = sorted((event.pk, handler.name) for event in events for handler in wanted[event.pk])
    if not pairs:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EventHandlerRun._meta.db_table}"
            " (tenant_id, event_id, handler, finished_at)"
            " SELECT %s, claim.event_id, claim.handler, %s"
            " FROM unnest(%s::bigint[], %s::text[]) AS claim (event_id, handler)"
            " ORDER BY claim.event_id, claim.handler"
            " ON CONFLICT (tenant_id, event_id, handler) DO NOTHING"
            " RETURNING event_id, handler",
            [
                events[0].tenant_id,
                timezone.now(),
                [event_id for event_id, _ in pairs],
                [name for _, name in pairs],
            ],
        )
        return {(event_id, name) for event_id, name in cursor.fetchall()}


class _Run:
    """One batch's handlers, then its settling."""

    def __init__(self, events, wanted, claimed, failed, report: RunReport):
        self.events, self.wanted, self.failed, self.report = events, wanted, failed, report
        now = timezone.now()
        # Not claimed: done by another worker. Claimed but in its backoff
        # (a failure not yet due): given back untouched.
        self.done = {
            event.pk: {h.name for h in wanted[event.pk] if (event.pk, h.name) not in claimed}
            for event in events
        }
        self.runnable, self.released = set(), []
        for event_id, name in claimed:
            failure = failed[event_id].get(name)
            if failure is not None and not failure.is_due(now):
                self.released.append((event_id, name))
            else:
                self.runnable.add((event_id, name))
        # A once-per-ticket handler runs at the last event of the ticket it
        # is to run for here, after every other handler of the earlier ones
        # (what they changed, it sees); the earlier ones wait for that run.
        self.last: dict[tuple[str, int], int] = {}
        for event in events:
            for handler in wanted[event.pk]:
                if handler.once_per_ticket and (event.pk, handler.name) in self.runnable:
                    self.last[(handler.name, event.ticket_id)] = event.pk
        self.waiting: dict[tuple[str, int], list[int]] = {}
        self.progressed: set[int] = set()  # events with a handler run by this run
        self.recovered: list[int] = []  # failures of handlers that ran now
        self.reached = len(events)

    def handlers(self) -> None:
        for position, event in enumerate(self.events):
            for handler in self.wanted[event.pk]:
                pair = (event.pk, handler.name)
                if pair not in self.runnable:
                    continue
                if self.report.stopped:
                    self.released.append(pair)
                    continue
                self.progressed.add(event.pk)
                covered = [event.pk]
                if handler.once_per_ticket:
                    key = (handler.name, event.ticket_id)
                    if self.last[key] != event.pk:
                        self.waiting.setdefault(key, []).append(event.pk)
                        continue
                    covered += self.waiting.pop(key, [])
                outcome = _run_handler(event, handler, self.failed[event.pk].get(handler.name))
                if outcome is RAN:
                    for event_id in covered:
                        self.done[event_id].add(handler.name)
                        failure = self.failed[event_id].get(handler.name)
                        if failure is not None:
                            self.recovered.append(failure.pk)
                    continue
                # Recorded on this event; the earlier ones are given back
                # and taken again with it.
                self.released += [(event_id, handler.name) for event_id in covered[1:]]
                self.report.failures.append(outcome)
                if isinstance(outcome, SoftTimeLimitExceeded):
                    self.report.stopped = True
            if self.report.stopped:
                self.reached = position + 1
                for later in self.events[position + 1 :]:
                    self.released += [
                        (later.pk, h.name)
                        for h in self.wanted[later.pk]
                        if (later.pk, h.name) in self.runnable
                    ]
                break
        # Stopped before their ticket's last event here: given back.
        for (name, _ticket), event_ids in self.waiting.items():
            self.released += [(event_id, name) for event_id in event_ids]

    def give_back(self) -> None:
        """Claims not run are given back, recovered failures cleared."""
        if self.released:
            _release(self.released)
        if self.recovered:
            EventHandlerFailure.objects.filter(pk__in=self.recovered).delete()

    def settle(self) -> None:
        """Processed when every handler is done; else when it is next due,
        and (if this run did anything) a retry scheduled for then. A run
        that found nothing due (it came early) schedules none: the retry
        that is due is already scheduled, or the sweep finds the event."""
        self.give_back()
        reached = self.events[: self.reached]
        finished = [
            event.pk
            for event in reached
            if all(h.name in self.done[event.pk] for h in self.wanted[event.pk])
        ]
        if finished:
            if any(self.failed[pk] for pk in finished):
                EventHandlerFailure.objects.filter(event_id__in=finished).delete()
            Event.objects.filter(pk__in=finished, processed_at__isnull=True).update(
                processed_at=timezone.now(), next_attempt_at=None
            )
        finished = set(finished)
        for event in reached:
            if event.pk not in finished:
                _settle_unfinished(
                    event, self.done[event.pk], schedule_retry=event.pk in self.progressed
                )
        rest = [(event.tenant_id, event.pk) for event in self.events[self.reached :]]
        if rest:  # stopped by the time limit: handed over again
            _hand_over.after_commit(rest)


def _release(pairs: list[tuple[int, str]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {EventHandlerRun._meta.db_table}"
            " WHERE (event_id, handler) IN"
            " (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            [[event_id for event_id, _ in pairs], [name for _, name in pairs]],
        )


def _run_handler(event: Event, handler: Handler, failure: EventHandlerFailure | None):
    """Run one claimed handler in a savepoint; RAN, or the exception it
    failed with (recorded, its claim released)."""
    run = HandlerRun(event.pk, handler.name)
    token = _current_run.set(run)
    try:
        with transaction.atomic():  # the handler's own work
            handler.func(event)
    except Exception as exc:
        run.failed = True
        logger.warning("handler %s failed on event %s", handler.name, event.pk, exc_info=True)
        _record_failure(event, handler.name, failure, exc)
        # Released, but the deleted row stays locked until commit: a worker
        # waiting on it then finds the failure just recorded.
        EventHandlerRun.objects.filter(event=event, handler=handler.name).delete()
        return exc
    finally:
        _current_run.reset(token)
    return RAN


def _record_failure(
    event: Event, name: str, failure: EventHandlerFailure | None, exc: Exception
) -> None:
    now = timezone.now()
    if failure is None:
        failure = EventHandlerFailure(tenant_id=event.tenant_id, event=event, handler=name)
    failure.attempts += 1
    if isinstance(exc, SoftTimeLimitExceeded):
        error = "SoftTimeLimitExceeded: stopped by the task's time limit"
    else:
        error = f"{type(exc).__name__}: {exc}"
    failure.last_error = error[:ERROR_LENGTH]
    failure.failed_at = now
    if failure.attempts >= settings.EVENT_HANDLER_MAX_ATTEMPTS:
        failure.abandoned_at, failure.next_attempt_at = now, None
        logger.error(
            "handler %s abandoned on event %s after %s attempts: %s",
            name, event.pk, failure.attempts, failure.last_error,
        )  # fmt: skip
    else:
        failure.next_attempt_at = now + timedelta(seconds=retry_delay(failure.attempts))
    failure.save()


def _settle_unfinished(event: Event, done: set[str], *, schedule_retry: bool) -> None:
    """An event with handlers left: its next due time, and a retry then."""
    now = timezone.now()
    remaining = [handler.name for handler in handlers_for(event) if handler.name not in done]
    failures = {
        failure.handler: failure
        for failure in EventHandlerFailure.objects.filter(event=event, handler__in=remaining)
    }
    next_at = None
    for name in remaining:
        failure = failures.get(name)
        if failure is not None and failure.is_abandoned:
            continue
        # Not run (the run stopped first): due now, so the sweep takes it.
        at = failure.next_attempt_at if failure is not None else now
        next_at = at if next_at is None else min(next_at, at)
    Event.objects.filter(pk=event.pk).update(next_attempt_at=next_at)
    if next_at is None:
        return  # every handler left is abandoned: listed for admins
    work_due(kind=EVENTS_WORK, at=next_at, tenant_id=event.tenant_id)
    if schedule_retry and next_at > now:
        _hand_over.later(event.tenant_id, event.pk, countdown=(next_at - now).total_seconds())


def events_sweep(*, batch_size: int = 500) -> int:
    """Hand over again the current tenant's events whose handlers are
    overdue: due more than EVENT_SWEEP_GRACE_SECONDS ago (the broker was
    down, a worker died, a retry was lost). A retry that is merely waiting
    for its backoff is not taken. Returns how many were handed over."""
    if not work_sweep_claim(kind=EVENTS_WORK):
        return 0
    tenant = current_tenant()
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EVENT_SWEEP_GRACE_SECONDS)
    waiting = Event.objects.filter(processed_at__isnull=True, next_attempt_at__isnull=False)
    # An event whose row is locked is being settled by a runner right now:
    # skipped, not waited for.
    due = list(
        waiting.filter(next_attempt_at__lte=cutoff)
        .select_for_update(skip_locked=True)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if due:
        # Not handed over again before another grace period has passed.
        Event.objects.filter(pk__in=due).update(next_attempt_at=now)
        _hand_over.after_commit([(tenant.pk, pk) for pk in due])
    if len(due) == batch_size:
        next_at = cutoff  # more are waiting: due at the next beat
    else:
        next_at = waiting.order_by("next_attempt_at").values_list("next_attempt_at", flat=True)
        next_at = next_at.first()
    work_sweep_next(kind=EVENTS_WORK, at=next_at)
    return len(due)


def events_run_again(*, failures: list[EventHandlerFailure]) -> list[int]:
    """Reset these failed handlers (attempts, abandonment) and hand their
    events over now; in the caller's transaction. Returns the event ids."""
    now = timezone.now()
    event_ids = sorted({failure.event_id for failure in failures})
    if event_ids:
        work_due(kind=EVENTS_WORK, at=now)
    EventHandlerFailure.objects.filter(pk__in=[failure.pk for failure in failures]).update(
        attempts=0, abandoned_at=None, next_attempt_at=now
    )
    Event.objects.filter(pk__in=event_ids, processed_at__isnull=True).update(next_attempt_at=now)
    tenant = current_tenant()
    _hand_over.after_commit([(tenant.pk, pk) for pk in event_ids])
    return event_ids
