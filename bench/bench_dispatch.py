"""Routing throughput and safety: decisions per second with several worker
processes routing at once, decision latency, and a check that no ticket got
two assignees and no agent went past capacity.

Makes (or reuses) a tenant with --groups groups of --agents-per-group online
agents, opens --tickets unrouted tickets spread over the groups (their
events are not handed to Celery), then --workers processes route them side
by side, each ticket in a transaction of its own as the event handler does
(`dispatch.services.ticket_route`). The simulator is timed over the same
tenant's tickets.

    .venv/bin/python bench/bench_dispatch.py --tickets 2000 --workers 4
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from dispatch.models import AgentStatus, RoutingRule  # noqa: E402
from dispatch.services import ticket_route  # noqa: E402
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
    return tenant.pk, made


def worker(args):
    tenant_id, ids = args
    connections.close_all()
    tenant = Tenant.objects.get(pk=tenant_id)
    latencies = []
    with mock.patch("helpdesk.handover.publish_quietly"):
        for ticket_id in ids:
            started = time.monotonic()
            with tenant_context(tenant):
                ticket_route(ticket=Ticket.objects.get(pk=ticket_id), trigger="created")
            latencies.append(time.monotonic() - started)
    connections.close_all()
    return latencies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="benchdispatch")
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--agents-per-group", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--capacity", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    options = parser.parse_args()
    tenant_id, ids = setup(
        options.tenant, options.groups, options.agents_per_group, options.tickets, options.capacity
    )
    connections.close_all()
    shares = [(tenant_id, ids[i :: options.workers]) for i in range(options.workers)]
    start = time.monotonic()
    with multiprocessing.get_context("fork").Pool(options.workers) as pool:
        results = pool.map(worker, shares)
    elapsed = time.monotonic() - start
    latencies = sorted(x for share in results for x in share)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"{len(latencies)} decisions by {options.workers} workers in {elapsed:.1f} s: "
        f"{len(latencies) / elapsed:.0f} decisions/s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        twice = (
            Event.objects.filter(kind="assigned", ticket_id__in=ids)
            .values("ticket_id").annotate(n=Count("id")).filter(n__gt=1).count()
        )  # fmt: skip
        per_agent = (
            Ticket.objects.filter(pk__in=ids, assignee__isnull=False)
            .values("assignee_id").annotate(n=Count("id"))
        )  # fmt: skip
        capacity = dict(AgentStatus.objects.values_list("user_id", "capacity"))
        over = sum(1 for row in per_agent if row["n"] > capacity.get(row["assignee_id"], 0))
        assigned = sum(row["n"] for row in per_agent)
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
