"""Routing throughput and safety: decisions per second with several worker
processes routing at once, decision latency, and a check that no ticket got
two assignees and no agent went past capacity.

Makes (or reuses) a tenant with --groups groups of --agents-per-group online
agents, opens --tickets unrouted tickets spread over the groups (their
events are not handed to Celery), then --workers processes route them side
by side:
- `--mode route` (default): each ticket in a transaction of its own, as the
  event handler does for a new ticket (`dispatch.services.ticket_route`);
- `--mode created`: each ticket in a transaction of its own through the
  created event's handler path (`dispatch.services.drain.new_ticket_route`:
  the group checked, then after the commit the group's drain that it asks
  for, run here at once: one drain per ticket, nothing coalesced);
- `--mode batch`: as `created`, `--chunk` tickets to a transaction, as an
  event batch runs them (their created events read at once, each handler
  given its event's ticket as loaded on first use, as the runner does); the drains asked are run after its commit, in one
  `drain_groups` task as the worker would (across batches the worker
  coalesces more: `--mode worker`);
- `--mode drain`: every worker drains every group, in its own order, as
  freed room and the sweep do (`group_drain`: one pass per group and batch);
- `--mode worker`: the real path through a real Celery worker (`--workers`
  processes, queues `celery` and `timers`): the tickets are opened with
  their events handed to the broker, in transactions of `--chunk` tickets,
  as intake does. With `--rate N` first N tickets a second opened while
  the worker runs (`--steady` tickets): latency from each ticket's creation
  to its assignment event. Then a backlog: every ticket opened with the
  worker stopped, then the worker started; decisions per second from its
  first assignment to its last, and the CPU of the worker's processes and
  of every process of the worktree's Postgres (from their /proc; this
  process's own backend taken out) till then.
The CPU seconds of the workers and of their Postgres backends are counted
too (bench/cpu_clock.py): on a shared box the wall clock measures the other
jobs as much as this one. The simulator is timed over the same tickets.

    .venv/bin/python bench/bench_dispatch.py --groups 50 --agents-per-group 20 \
        --tickets 2000 --workers 8
    .venv/bin/python bench/bench_dispatch.py --mode worker --tenant bdw1 --groups 50 \
        --agents-per-group 20 --tickets 3000 --workers 8 --rate 100 --steady 1000

Against the 1M-ticket tenant of bench/generate.py add `--tenant bench`: the
groups and agents are added to it, the tickets opened beside its own.
"""

import argparse
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from cpu_clock import CpuClock, backend_pid  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import OperationalError, connection, connections, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402

from dispatch.models import AgentStatus, RoutingRule  # noqa: E402
from dispatch.selectors import agent_loads, dispatch_settings  # noqa: E402
from dispatch.services import (  # noqa: E402
    drain,  # noqa: E402
    group_drain,
    ticket_route,
)
from dispatch.services.drain import new_ticket_route  # noqa: E402
from dispatch.simulator import simulate  # noqa: E402
from dispatch.tasks import drain_groups  # noqa: E402
from helpdesk.models import Membership, SupportGroup, SupportGroupMember, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets.models import Event, Ticket  # noqa: E402
from tickets.services import TicketDraft, contacts_get_or_create, tickets_create  # noqa: E402


def setup(slug, groups, per_group, tickets, capacity):
    tenant, _ = Tenant.objects.get_or_create(
        slug=slug, defaults={"name": f"Bench {slug}", "ticket_prefix": "BD"}
    )
    User = get_user_model()
    with mock.patch("helpdesk.handover.publish_quietly"), tenant_context(tenant):
        group_rows = []
        for g in range(groups):
            group, _ = SupportGroup.objects.get_or_create(tenant=tenant, name=f"Group {g}")
            group_rows.append(group)
            for a in range(per_group):
                user, _ = User.objects.get_or_create(username=f"{slug}-g{g}-a{a}")
                Membership.objects.get_or_create(tenant=tenant, user=user)
                SupportGroupMember.objects.get_or_create(tenant=tenant, group=group, user=user)
                AgentStatus.objects.update_or_create(
                    tenant=tenant, user=user,
                    defaults={"availability": "online", "capacity": capacity},
                )  # fmt: skip
        requester = contacts_get_or_create([("bench@example.com", "Bench", "")])
        contact = requester["bench@example.com"]
        start = time.monotonic()
        made = []
        for offset in range(0, tickets, 500):
            drafts = [
                TicketDraft(subject=f"Bench {n}", body="Printer jams, refund please",
                            requester=contact, group=group_rows[n % groups], acknowledge=False)
                for n in range(offset, min(tickets, offset + 500))
            ]  # fmt: skip
            made += [t.pk for t in tickets_create(drafts)]
        print(f"opened {len(made)} tickets in {time.monotonic() - start:.1f} s")
    return tenant.pk, made, [g.pk for g in group_rows]


def worker(args):
    """Route the share's tickets, `chunk` to a transaction (one ticket each
    but in `batch` mode); (latencies, decisions, CPU s)."""
    tenant_id, ids, mode, chunk = args
    connections.close_all()
    tenant = Tenant.objects.get(pk=tenant_id)
    clock = CpuClock(connection).start()
    latencies, asked, failed = [], [], []
    chunk = chunk if mode == "batch" else 1

    def collect(*, group_id):
        asked.append(group_id)

    again, retry = [], []

    def ask_again(tenant_id, group_ids, countdown=None):
        again.extend(group_ids)

    with (
        mock.patch("helpdesk.handover.publish_quietly"),
        mock.patch.object(drain, "_drains_publish", side_effect=ask_again, create=True),
    ):
        for offset in range(0, len(ids), chunk):
            started = time.monotonic()
            asked.clear()
            # The drains the handlers ask for are run after the commit, in
            # one task for the chunk's groups.
            with (
                tenant_context(tenant),
                mock.patch.object(drain, "group_drain_ask", side_effect=collect, create=True),
            ):
                share = ids[offset : offset + chunk]
                # The created events, read at once as the event runner reads a
                # batch's; each handler gets its event's ticket, loaded when
                # first used (`event.ticket`), as there.
                created = (
                    Event.objects.filter(ticket_id__in=share, kind="created").order_by("pk")
                    if mode != "route"
                    else [Event(ticket_id=ticket_id) for ticket_id in share]
                )
                for event in created:
                    # A handler in a savepoint, as the event runner runs it: a
                    # deadlock fails it alone, and it is tried again later.
                    try:
                        with transaction.atomic():
                            if mode == "route":
                                ticket_route(ticket=Ticket(pk=event.ticket_id), trigger="created")
                            else:
                                new_ticket_route(ticket=event.ticket, trigger="created")
                    except OperationalError:
                        failed.append(event.ticket_id)
            if asked:  # one task for the groups a transaction asked for, as queued
                drain_groups(tenant_id=tenant_id, group_ids=list(dict.fromkeys(asked)))
            # The drains asked again (tickets or agents other workers held),
            # which a worker runs 2 s later: here after the next chunk.
            if retry:
                drain_groups(tenant_id=tenant_id, group_ids=list(dict.fromkeys(retry)))
            retry[:] = again
            again.clear()
            latencies += [time.monotonic() - started] * len(ids[offset : offset + chunk])
        for _ in range(5):  # the drains still asked again
            if not (retry := list(dict.fromkeys(retry + again))):
                break
            again.clear()
            drain_groups(tenant_id=tenant_id, group_ids=retry)
            retry = []
        for ticket_id in failed:  # the retries
            with tenant_context(tenant):
                ticket = Ticket.objects.select_related("tenant", "requester").get(pk=ticket_id)
                new_ticket_route(ticket=ticket, trigger="created")
    if failed:
        print(f"{len(failed)} handlers failed (deadlock) and were run again")
    cpu = sum(clock.read())
    connections.close_all()
    return latencies, len(ids), cpu


def drainer(args):
    """Drain every group, in this worker's own order, until a pass places
    nothing; (latency per ticket placed by each drain, decisions, CPU s)."""
    tenant_id, group_ids, seed = args
    connections.close_all()
    tenant = Tenant.objects.get(pk=tenant_id)
    clock = CpuClock(connection).start()
    order = list(group_ids)
    random.Random(seed).shuffle(order)
    latencies, placed = [], 0
    with mock.patch("helpdesk.handover.publish_quietly"):
        while True:
            this_pass = 0
            for group_id in order:
                started = time.monotonic()
                with tenant_context(tenant):
                    n = group_drain(group_id=group_id, trigger="sweep")
                if n:
                    latencies += [(time.monotonic() - started) / n] * n
                this_pass += n
            placed += this_pass
            if not this_pass:
                break
    cpu = sum(clock.read())
    connections.close_all()
    return latencies, placed, cpu


def _cpu_of(pid: int, *, reaped: bool) -> float:
    """utime + stime of a process (with `reaped`, also of its exited children)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of `root`, its live children and the children it reaped."""
    total = _cpu_of(root, reaped=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if ppid == root:
                total += _cpu_of(int(entry), reaped=False)
    return total


def postmaster_pid() -> int:
    """The parent of this process's backend: the Postgres server it runs in."""
    with open(f"/proc/{backend_pid(connection)}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def open_tickets(tenant, group_ids, count, chunk, rate=0.0, label="Worker"):
    """Open `count` tickets (their events handed to the broker) in
    transactions of `chunk`; at `rate` a second when given."""
    made, start = [], time.monotonic()
    with tenant_context(tenant):
        groups = list(SupportGroup.objects.filter(pk__in=group_ids).order_by("pk"))
        contact = contacts_get_or_create([("bench@example.com", "Bench", "")])["bench@example.com"]
    for offset in range(0, count, chunk):
        if rate:
            time.sleep(max(0.0, start + offset / rate - time.monotonic()))
        with tenant_context(tenant):
            drafts = [
                TicketDraft(subject=f"{label} {n}", body="Printer jams, refund please",
                            requester=contact, group=groups[n % len(groups)], acknowledge=False)
                for n in range(offset, min(count, offset + chunk))
            ]  # fmt: skip
            made += [t.pk for t in tickets_create(drafts)]
    return made


def wait_assigned(tenant, ids, timeout=600):
    """Poll until every ticket is assigned (or nothing moved for 60 s)."""
    last, moved = -1, time.monotonic()
    while time.monotonic() - moved < 60 and time.monotonic() - moved < timeout:
        with tenant_context(tenant):
            done = Ticket.objects.filter(pk__in=ids, assignee__isnull=False).count()
        if done == len(ids):
            return done
        if done != last:
            last, moved = done, time.monotonic()
        time.sleep(0.5)
    return last


def assignment_times(tenant, ids):
    """Each assigned ticket's (created_at, first assignment event's created_at)."""
    with tenant_context(tenant):
        created = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "created_at"))
        assigned = {}
        for ticket_id, at in (
            Event.objects.filter(kind="assigned", ticket_id__in=ids)
            .order_by("created_at").values_list("ticket_id", "created_at")
        ):  # fmt: skip
            assigned.setdefault(ticket_id, at)
    return [(created[t], at) for t, at in assigned.items()]


def start_worker(processes: int, without: str = "", timers: int = 0):
    """The worker processes: one worker on `celery` and `timers`, or with
    `timers` > 0 two, `timers` processes on `timers` (express handlers,
    drains) and the rest on `celery`, as a busy site would run them."""
    if timers:
        return [
            _start_one(timers, without, "timers", "t"),
            _start_one(processes - timers, without, "celery", "c"),
        ]
    return [_start_one(processes, without, "celery,timers", "")]


def _start_one(processes: int, without: str, queues: str, tag: str):
    log = Path(tempfile.gettempdir()) / f"bench_dispatch_worker_{os.getpid()}{tag}.log"
    print(f"worker log: {log} (-Q {queues} -c {processes})"
          + (f"; handlers left out: {without}" if without else ""))  # fmt: skip
    launcher = [sys.executable, "-m", "celery", "-A", "helpdesk"]
    if without:
        here = Path(__file__).resolve().parent
        launcher = [sys.executable, str(here / "celery_worker_without.py"), without, "--"]
    command = [
        *launcher, "worker", "-l", "warning",
        "-Q", queues, "-c", str(processes), "-n", f"bench{os.getpid()}{tag}@%h",
        "--logfile", str(log),
    ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603
        command, cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _purge():
    """Tasks left in the broker by an earlier phase or run."""
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "helpdesk", "purge", "-f", "-Q", "celery,timers"],
        cwd=Path(__file__).resolve().parent.parent, check=False, capture_output=True,
    )  # fmt: skip


def _stop(workers) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def steady_phase(options, tenant, group_ids) -> list[int]:
    """Tickets opened at `--rate` while the worker runs: created-to-assigned latency."""
    _purge()
    worker = start_worker(options.workers, options.without, options.timers_workers)
    try:
        wait_assigned(tenant, open_tickets(tenant, group_ids, 1, 1, label="Warm-up"))
        steady = open_tickets(
            tenant, group_ids, options.steady, options.chunk, options.rate, label="Steady"
        )
        done = wait_assigned(tenant, steady)
    finally:
        _stop(worker)
    latencies = sorted((at - made).total_seconds() for made, at in assignment_times(tenant, steady))
    p50 = statistics.median(latencies) * 1000 if latencies else 0
    p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000 if latencies else 0
    print(
        f"worker steady: {done} of {len(steady)} assigned at {options.rate:g} tickets/s offered "
        f"(chunks of {options.chunk}); created to assigned p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    return steady


def backlog_phase(options, tenant, group_ids) -> list[int]:
    """Every ticket opened with the worker stopped, then the worker started:
    decisions per second, and CPU until the last is assigned."""
    _purge()
    start = time.monotonic()
    ids = open_tickets(tenant, group_ids, options.tickets, options.chunk, label="Backlog")
    print(f"backlog: opened {len(ids)} tickets in {time.monotonic() - start:.1f} s "
          f"(events waiting in the broker)")  # fmt: skip
    own = CpuClock(connection).start()
    postgres = postmaster_pid()
    pg0 = tree_cpu(postgres)
    worker = start_worker(options.workers, options.without, options.timers_workers)
    try:
        done = wait_assigned(tenant, ids)
        worker_cpu = sum(tree_cpu(w.pid) for w in worker)
        timers_cpu = tree_cpu(worker[0].pid) if options.timers_workers else 0.0
        pg_cpu = tree_cpu(postgres) - pg0 - own.read()[1]
        idle = wait_handled(tenant, ids)
        all_cpu = sum(tree_cpu(w.pid) for w in worker) + tree_cpu(postgres) - pg0 - own.read()[1]
    finally:
        _stop(worker)
    times = sorted(at for _, at in assignment_times(tenant, ids))
    span = (times[-1] - times[0]).total_seconds()
    # The last few tickets often come with a drain asked again 2 s later
    # (another transaction held them): the 99th one in a hundred says how
    # fast the backlog went out, the last one how long its stragglers took.
    most = (times[max(int(len(times) * 0.99) - 1, 0)] - times[0]).total_seconds()
    cpu = worker_cpu + pg_cpu
    print(
        f"worker backlog: {done} of {len(ids)} assigned by {options.workers} worker processes, "
        f"{done / max(span, 1e-9):.0f} decisions/s (first to last assignment, {span:.1f} s); "
        f"first to 99 %: {most:.1f} s, {0.99 * done / max(most, 1e-9):.0f} decisions/s"
    )
    print(
        f"CPU till the last assignment (every handler the worker ran meanwhile): worker "
        f"{worker_cpu:.1f} s + Postgres {pg_cpu:.1f} s = {cpu:.1f} s, "
        f"{cpu / max(done, 1) * 1000:.1f} ms a decision, ~{os.cpu_count() * done / cpu:.0f}/s "
        f"on {os.cpu_count()} idle cores"
    )
    if options.timers_workers:
        print(
            f"of which the timers worker's processes (express routing and drains; their "
            f"Postgres backends not counted): {timers_cpu:.1f} s, "
            f"{timers_cpu / max(done, 1) * 1000:.1f} ms a decision"
        )
    if idle:
        print(
            f"CPU till every event of these tickets was handled (worker idle again): "
            f"{all_cpu:.1f} s, {all_cpu / max(done, 1) * 1000:.1f} ms a ticket, "
            f"~{os.cpu_count() * done / all_cpu:.0f} tickets/s on {os.cpu_count()} idle cores"
        )
    return ids


def wait_handled(tenant, ids, timeout=300) -> bool:
    """Until every event of the tickets is handled (False: not within `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_context(tenant):
            if not Event.objects.filter(ticket_id__in=ids, processed_at__isnull=True).exists():
                return True
        time.sleep(0.5)
    print(f"events still not handled after {timeout} s")
    return False


def run_worker_mode(options, tenant_id, group_ids):
    tenant = Tenant.objects.get(pk=tenant_id)
    ids = steady_phase(options, tenant, group_ids) if options.rate else []
    return ids + backlog_phase(options, tenant, group_ids)


def measure(options, target, shares):
    start = time.monotonic()
    with multiprocessing.get_context("fork").Pool(options.workers) as pool:
        results = pool.map(target, shares)
    elapsed = time.monotonic() - start
    latencies = sorted(x for share, _, _ in results for x in share)
    decisions = sum(n for _, n, _ in results)
    cpu = sum(c for _, _, c in results)
    p50 = statistics.median(latencies) * 1000 if latencies else 0
    p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000 if latencies else 0
    per = cpu / max(decisions, 1)
    print(
        f"{options.mode}: {decisions} decisions by {options.workers} workers in {elapsed:.1f} s: "
        f"{decisions / elapsed:.0f} decisions/s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    print(
        f"CPU (workers + their Postgres backends): {cpu:.1f} s, {per * 1000:.1f} ms a decision, "
        f"{1 / per:.0f} decisions per CPU second ({os.cpu_count()} cores idle: "
        f"~{os.cpu_count() / per:.0f}/s at most)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="benchdispatch")
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--agents-per-group", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--capacity", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--mode", choices=["route", "created", "batch", "drain", "worker"], default="route"
    )
    parser.add_argument(
        "--chunk", type=int, default=20, help="batch, worker: tickets a transaction"
    )
    parser.add_argument(
        "--timers-workers", type=int, default=0,
        help="worker: this many of --workers on the timers queue alone, the rest on celery",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=0, help="worker: tickets/s, steady phase")
    parser.add_argument("--steady", type=int, default=1000, help="worker: steady phase tickets")
    parser.add_argument(
        "--without", default="", help="worker: event handlers the worker leaves out (a,b)"
    )
    options = parser.parse_args()
    worker_mode = options.mode == "worker"
    tenant_id, ids, group_ids = setup(
        options.tenant, options.groups, options.agents_per_group,
        0 if worker_mode else options.tickets, options.capacity,
    )  # fmt: skip
    connections.close_all()
    if worker_mode:
        ids = run_worker_mode(options, tenant_id, group_ids)
    elif options.mode in ("route", "created", "batch"):
        target = worker
        shares = [
            (tenant_id, ids[i :: options.workers], options.mode, options.chunk)
            for i in range(options.workers)
        ]
    else:
        target = drainer
        shares = [(tenant_id, group_ids, seed) for seed in range(options.workers)]
    if not worker_mode:
        measure(options, target, shares)
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        twice = (
            Event.objects.filter(kind="assigned", ticket_id__in=ids)
            .values("ticket_id").annotate(n=Count("id")).filter(n__gt=1).count()
        )  # fmt: skip
        assigned = Ticket.objects.filter(pk__in=ids, assignee__isnull=False).count()
        # Every ticket an agent holds counts, this run's and earlier ones'.
        statuses = AgentStatus.objects.filter(
            user__username__startswith=f"{options.tenant}-g"
        ).values_list("user_id", "capacity")
        capacity = dict(statuses)
        loads = agent_loads(capacity, dispatch_settings())
        over = sum(1 for user_id, load in loads.items() if load > capacity[user_id])
        print(f"assigned {assigned}, waiting {len(ids) - assigned}; "
              f"tickets assigned twice: {twice}; agents over capacity: {over}")  # fmt: skip
        rules = [RoutingRule(name="Refunds", match="any", is_enabled=True,
                             conditions=[{"field": "text", "value": ["refund"]}],
                             actions={"group": SupportGroup.objects.first().pk})]  # fmt: skip
        result = simulate(rules=rules, days=30)
        print(f"simulator: {result.tickets} tickets in {result.seconds:.2f} s "
              f"({result.tickets / max(result.seconds, 1e-9):.0f} tickets/s)")  # fmt: skip


if __name__ == "__main__":
    main()
