"""Where a new ticket's pipeline cost goes: ticket creation, the event
runner, each event handler and the tasks they enqueue, timed in-process.

Opens --tickets new tickets in an existing tenant the way
`bench_dispatch.py --mode worker` does (`open_tickets`: transactions of
--chunk tickets, spread over the groups "Group 0".."Group N"), but the
Celery hand-over is caught instead of published (`Task.apply_async`
patched): each `process_events` batch the worker would get is then run in
this process through the task itself (`TenantTask`: the tenant's context,
one transaction, `events_run`), and so are the tasks those batches enqueue
on commit (group drains, event batches of the events they record), until
none is left. Tasks of other kinds are counted, not run.

Timed, exclusive of what is nested inside (a handler's time is not the
runner's): this process's CPU, its Postgres backend's CPU (from /proc, in
clock ticks: sums over many calls are fair, single calls are not) and the
wall clock, per handler (each registered handler's func wrapped), per batch
scope, for the runner's claims and settles and the rest of a task (loading
the events, savepoints, the commit), for ticket creation, and per task run.
SQL statements are counted per label (`connection.execute_wrapper`).

    .venv/bin/python bench/profile_handlers.py --tenant bench1m --tickets 600
    .venv/bin/python bench/profile_handlers.py --tenant bench1m --tickets 200 --cprofile 3

With --cprofile K the K costliest handlers of a first pass are profiled in
a second one (cProfile slows Python down: shares, not speeds).
"""

import argparse
import cProfile
import dataclasses
import io
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dispatch  # noqa: E402  (sets Django up)
from celery.app.task import Task  # noqa: E402
from cpu_clock import backend_pid, process_cpu  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from dispatch.services import drain  # noqa: E402
from helpdesk.models import SupportGroup, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets.events import registry, runner  # noqa: E402
from tickets.models import Event  # noqa: E402
from tickets.tasks import process_events  # noqa: E402

# Tasks run in this process when a batch enqueues them; others are counted.
RUN_IN_PROCESS = {
    "tickets.tasks.process_events",
    "tickets.tasks.process_event",
    "tickets.tasks.process_events_express",
    "dispatch.tasks.drain_group",
    "dispatch.tasks.drain_groups",
}


class Meter:
    """Exclusive CPU, backend CPU, wall time and statements per label."""

    def __init__(self):
        self.pid = backend_pid(connection)
        self.stack = []  # [label, cpu0, pg0, wall0, child cpu, child pg, child wall]
        self.cpu = Counter()
        self.pg = Counter()
        self.wall = Counter()
        self.calls = Counter()
        self.statements = Counter()
        self.savepoints = Counter()
        self.by_kind = defaultdict(Counter)  # kind -> label -> cpu + pg
        self.profiles: dict[str, cProfile.Profile] = {}

    def _pg(self) -> float:
        return process_cpu(self.pid)

    @contextmanager
    def timed(self, label: str, kind: str | None = None):
        profile = self.profiles.get(label)
        frame = [label, time.process_time(), self._pg(), time.perf_counter(), 0.0, 0.0, 0.0]
        self.stack.append(frame)
        if profile is not None:
            profile.enable()
        try:
            yield
        finally:
            if profile is not None:
                profile.disable()
            self.stack.pop()
            cpu = time.process_time() - frame[1]
            pg = self._pg() - frame[2]
            wall = time.perf_counter() - frame[3]
            self.cpu[label] += cpu - frame[4]
            self.pg[label] += pg - frame[5]
            self.wall[label] += wall - frame[6]
            self.calls[label] += 1
            if kind is not None:
                self.by_kind[kind][label] += cpu - frame[4] + pg - frame[5]
            if self.stack:
                parent = self.stack[-1]
                parent[4] += cpu
                parent[5] += pg
                parent[6] += wall

    def count_statement(self, execute, sql, params, many, context):
        label = self.stack[-1][0] if self.stack else "(outside)"
        self.statements[label] += 1
        if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            self.savepoints[label] += 1
        return execute(sql, params, many, context)


def instrument(meter: Meter):
    """Wrap every handler, batch scope, the runner's claim and settle."""
    for name, handler in list(registry._handlers.items()):

        def timed_func(event, _func=handler.func, _name=name):
            with meter.timed(f"handler {_name}", kind=event.kind):
                return _func(event)

        registry._handlers[name] = dataclasses.replace(handler, func=timed_func)
    for name, factory in list(registry._batch_scopes.items()):

        @contextmanager
        def timed_scope(_factory=factory, _name=name):
            with meter.timed(f"batch scope {_name} (enter)"):
                scope = _factory()
                scope.__enter__()
            failed = True
            try:
                yield
                failed = False
            finally:
                with meter.timed(f"batch scope {_name} (exit: its writes)"):
                    scope.__exit__(*(sys.exc_info() if failed else (None, None, None)))

        registry._batch_scopes[name] = timed_scope
    claim_all, settle = runner._claim_all, runner._Run.settle

    def timed_claim_all(batch, wanted):
        with meter.timed("runner: claims"):
            return claim_all(batch, wanted)

    def timed_settle(run):
        with meter.timed("runner: settle"):
            return settle(run)

    runner._claim_all, runner._Run.settle = timed_claim_all, timed_settle
    group_pass, system_assign = drain._group_pass, drain.tickets_system_assign

    def timed_group_pass(group_id, trigger, run, limit):
        with meter.timed("drain: _group_pass (candidates, rules, decisions)"):
            return group_pass(group_id, trigger, run, limit)

    def timed_system_assign(**kwargs):
        with meter.timed("drain: tickets_system_assign (the assignments, their events)"):
            return system_assign(**kwargs)

    drain._group_pass, drain.tickets_system_assign = timed_group_pass, timed_system_assign


def run_pipeline(tenant, group_ids, count, chunk, meter: Meter) -> dict:
    queue, other = [], Counter()

    def caught(self, args=None, kwargs=None, **options):
        if self.name in RUN_IN_PROCESS and not options.get("countdown") and not options.get("eta"):
            queue.append((self.name, self, kwargs or {}))
        else:
            other[self.name] += 1

    stats = Counter()
    with (
        mock.patch.object(Task, "apply_async", caught),
        connection.execute_wrapper(meter.count_statement),
    ):
        with meter.timed("ticket creation (tickets_create + events_record)"):
            ids = bench_dispatch.open_tickets(tenant, group_ids, count, chunk, label="Profile")
        stats["tickets"] = len(ids)
        # The worker takes tasks in the order they were published; the drains
        # it would coalesce across batches run here once per batch and group.
        while queue:
            name, task, kwargs = queue.pop(0)
            stats[f"task {name}"] += 1
            if name == "tickets.tasks.process_events_express":
                pass  # the same events run again by their batch
            elif "event_ids" in kwargs:
                stats["events run"] += len(kwargs["event_ids"])
            elif "event_id" in kwargs:
                stats["events run"] += 1
            with meter.timed(f"task {name}: runner rest (load, savepoints, commit)"):
                task(**kwargs)
    stats.update({f"not run: {name}": n for name, n in other.items()})
    with tenant_context(tenant):
        stats.update(
            {
                f"event {kind}": n
                for kind, n in Counter(
                    Event.objects.filter(ticket_id__in=ids).values_list("kind", flat=True)
                ).items()
            }
        )
        stats["assigned"] = (
            Event.objects.filter(ticket_id__in=ids, kind="assigned").values("ticket").distinct()
        ).count()
        stats["unprocessed events"] = Event.objects.filter(
            ticket_id__in=ids, processed_at__isnull=True
        ).count()
    return stats


def report(meter: Meter, stats: Counter) -> list[str]:
    n = max(stats["tickets"], 1)
    for key in sorted(stats):
        print(f"{key}: {stats[key]}")
    total = sum(meter.cpu.values()) + sum(meter.pg.values())
    labels = sorted(meter.calls, key=lambda x: -(meter.cpu[x] + meter.pg[x]))
    print()
    print(
        "| step | calls | CPU ms (py + pg) | wall ms | ms a ticket (CPU) | "
        "of which pg | statements a ticket |"
    )
    print("|---|---|---|---|---|---|---|")
    for label in labels:
        cpu = (meter.cpu[label] + meter.pg[label]) * 1000
        print(
            f"| {label} | {meter.calls[label]} | {cpu:,.0f} | {meter.wall[label] * 1000:,.0f} "
            f"| {cpu / n:.2f} | {meter.pg[label] * 1000 / n:.2f} "
            f"| {meter.statements[label] / n:.1f} |"
        )
    statements = sum(meter.statements.values())
    wall = sum(meter.wall.values())
    print(
        f"| **total** | | {total * 1000:,.0f} | {wall * 1000:,.0f} | **{total * 1000 / n:.1f}** "
        f"| {sum(meter.pg.values()) * 1000 / n:.2f} | {statements / n:.1f} |"
    )
    print(
        "savepoint statements a ticket (SAVEPOINT, RELEASE, ROLLBACK TO): "
        + ", ".join(f"{k} {v / n:.1f}" for k, v in meter.savepoints.most_common())
    )
    print()
    print("handler CPU (py + pg) by event kind, ms a ticket:")
    for kind, costs in sorted(meter.by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        parts = ", ".join(f"{label[8:]} {ms * 1000 / n:.2f}" for label, ms in costs.most_common())
        print(f"  {kind} ({stats[f'event {kind}']} events): {parts}")
    return [label for label in labels if label.startswith("handler ")]


def meter_overhead(meter: Meter) -> float:
    """CPU seconds one timed() call adds to its parent (two /proc reads of
    the backend's CPU, the clocks): the runner's rest holds ~29 a ticket."""
    probe = Meter()
    start = time.process_time()
    for _ in range(2000):
        with probe.timed("probe"):
            pass
    return (time.process_time() - start) / 2000


def probe_handover(tenant, count: int) -> None:
    """Publish `count` real event-batch messages (20 ids each) to a queue no
    worker reads, then drop it: this process's CPU per publish (the broker's
    and the worker's side of the hand-over are not in it)."""
    import redis

    queue = f"profile_handlers_probe_{time.monotonic_ns()}"
    ids = list(range(1, 21))
    process_events.apply_async(kwargs={"tenant_id": tenant.pk, "event_ids": ids}, queue=queue)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        process_events.apply_async(kwargs={"tenant_id": tenant.pk, "event_ids": ids}, queue=queue)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
    print(
        f"hand-over probe: {count} process_events publishes, {cpu / count * 1000:.2f} ms CPU "
        f"and {wall / count * 1000:.2f} ms wall each (client side only)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench1m")
    parser.add_argument("--tickets", type=int, default=600)
    parser.add_argument("--chunk", type=int, default=20, help="tickets a transaction")
    parser.add_argument("--groups", type=int, default=50, help="groups 'Group 0'.. used")
    parser.add_argument("--cprofile", type=int, default=0, help="profile the K costliest handlers")
    parser.add_argument("--cprofile-tickets", type=int, default=200)
    parser.add_argument(
        "--cprofile-runner", action="store_true", help="with --cprofile: the whole event task"
    )
    parser.add_argument("--probe-handover", type=int, default=0, help="real publishes to time")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        names = [f"Group {g}" for g in range(args.groups)]
        group_ids = list(
            SupportGroup.objects.filter(name__in=names).order_by("pk").values_list("pk", flat=True)
        )
    if not group_ids:
        raise SystemExit(f"tenant {args.tenant} has no groups 'Group 0'..: run bench_dispatch")
    meter = Meter()
    instrument(meter)
    stats = run_pipeline(tenant, group_ids, args.tickets, args.chunk, meter)
    handlers = report(meter, stats)
    overhead = meter_overhead(meter)
    timed_calls = sum(meter.calls.values()) - meter.calls["probe"]
    print(
        f"meter overhead: {overhead * 1e6:.0f} us CPU a timed call, "
        f"{overhead * timed_calls / max(stats['tickets'], 1) * 1000:.2f} ms a ticket "
        "(counted in the callers' rows, mostly the runner's rest)"
    )
    if args.probe_handover:
        probe_handover(tenant, args.probe_handover)
    if args.cprofile:
        second = Meter()
        # The wrappers read the meter by closure: point them at the second one.
        meter.__dict__.update(second.__dict__)
        # Profiles do not nest: either the handlers or the whole event task.
        chosen = handlers[: args.cprofile]
        if args.cprofile_runner:
            chosen = ["task tickets.tasks.process_events: runner rest (load, savepoints, commit)"]
        for label in chosen:
            meter.profiles[label] = cProfile.Profile()
        run_pipeline(tenant, group_ids, args.cprofile_tickets, args.chunk, meter)
        for label, profile in meter.profiles.items():
            print(f"\n=== cProfile {label} ({args.cprofile_tickets} tickets) ===")
            ours = re.escape(str(ROOT)) + r"/(?!\.venv/|bench/)"
            for order, restriction in (("cumulative", ours), ("tottime", ".")):
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out).sort_stats(order)
                stats.print_stats(restriction, 12)
                body = out.getvalue().split("ncalls", 1)[-1]
                print(f"-- by {order}" + (", the project's code" if order == "cumulative" else ""))
                print("   ncalls" + body.rstrip())


if __name__ == "__main__":
    main()
