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
  the rules checked, then the group's drain hands out every ticket waiting
  there in one batch, this one among them);
- `--mode drain`: every worker drains every group, in its own order, as
  freed room and the sweep do (`group_drain`: one pass per group and batch).
The CPU seconds of the workers and of their Postgres backends are counted
too (bench/cpu_clock.py): on a shared box the wall clock measures the other
jobs as much as this one. The simulator is timed over the same tickets.

    .venv/bin/python bench/bench_dispatch.py --groups 50 --agents-per-group 20 \
        --tickets 2000 --workers 8

Against the 1M-ticket tenant of bench/generate.py add `--tenant bench`: the
groups and agents are added to it, the tickets opened beside its own.
"""

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from cpu_clock import CpuClock  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402

from dispatch.models import AgentStatus, RoutingRule  # noqa: E402
from dispatch.selectors import agent_loads, dispatch_settings  # noqa: E402
from dispatch.services import group_drain, ticket_route  # noqa: E402
from dispatch.services.drain import new_ticket_route  # noqa: E402
from dispatch.simulator import simulate  # noqa: E402
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
    """Route the share's tickets one by one; (latencies, decisions, CPU s)."""
    tenant_id, ids, created = args
    connections.close_all()
    tenant = Tenant.objects.get(pk=tenant_id)
    clock = CpuClock(connection).start()
    latencies = []
    with mock.patch("helpdesk.handover.publish_quietly"):
        for ticket_id in ids:
            started = time.monotonic()
            with tenant_context(tenant):
                if created:
                    with transaction.atomic():
                        ticket = Ticket.objects.select_related("tenant", "requester")
                        new_ticket_route(ticket=ticket.get(pk=ticket_id), trigger="created")
                else:
                    ticket_route(ticket=Ticket(pk=ticket_id), trigger="created")
            latencies.append(time.monotonic() - started)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="benchdispatch")
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--agents-per-group", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--capacity", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--mode", choices=["route", "created", "drain"], default="route")
    options = parser.parse_args()
    tenant_id, ids, group_ids = setup(
        options.tenant, options.groups, options.agents_per_group, options.tickets, options.capacity
    )
    connections.close_all()
    if options.mode in ("route", "created"):
        target = worker
        created = options.mode == "created"
        shares = [(tenant_id, ids[i :: options.workers], created) for i in range(options.workers)]
    else:
        target = drainer
        shares = [(tenant_id, group_ids, seed) for seed in range(options.workers)]
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
