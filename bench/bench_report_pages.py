"""The report pages at scale: rebuilding their facts from events, each
page's server time and queries, the page-facts handler's cost per event,
and EXPLAIN of every statement inside the tenant's scope.

    eval "$(python3 scripts/devstack.py services)"
    .venv/bin/python bench/generate.py --tenant bench --tickets 100000
    .venv/bin/python bench/bench_reports.py --tenant bench   # the dashboard's facts
    .venv/bin/python bench/bench_report_pages.py --tenant bench

Pages are requested in-process with Django's test client (the whole view:
middleware, tenant scope, selectors, template), not through a web server.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from bench_reports import percentile, timed_pages  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from helpdesk.db import as_table_owner  # noqa: E402
from helpdesk.models import Membership, SupportGroup, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from reports.models import HourlyVolume  # noqa: E402
from reports.pages import selectors  # noqa: E402
from reports.pages.models import (  # noqa: E402
    DailyReply,
    DailySpell,
    LoadSnapshot,
    ReplyFact,
    TicketSpell,
    TicketTagFact,
)
from reports.pages.services import load_snapshot_take, page_facts_rebuild, page_facts_refresh  # noqa: E402
from tickets import services  # noqa: E402
from tickets.models import Ticket  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAGES = ("efficiency", "quality", "causes", "load", "stalls", "channels")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--events", type=int, default=200, help="events for the handler's cost")
    parser.add_argument("--skip-rebuild", action="store_true")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        tickets = Ticket.objects.count()
    print(f"tenant {tenant.slug}: {tickets} tickets")

    if not args.skip_rebuild:
        start = time.perf_counter()
        with tenant_context(tenant):
            page_facts_rebuild(progress=lambda done, total: None)
            load_snapshot_take()
        print(f"page facts rebuild: {time.perf_counter() - start:.1f} s for {tickets} tickets")
        with as_table_owner(), connection.cursor() as cursor:
            for model in (
                TicketSpell, ReplyFact, TicketTagFact, LoadSnapshot, DailySpell, DailyReply,
                HourlyVolume,
            ):  # fmt: skip
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    with tenant_context(tenant):
        counts = {m.__name__: m.objects.count() for m in (TicketSpell, ReplyFact, TicketTagFact)}
    print(f"rows: {counts}")

    user, _ = get_user_model().objects.get_or_create(username=f"{tenant.slug}-manager")
    Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": Membership.Role.MANAGER}
    )
    client = Client(secure=True)
    client.force_login(user)
    with tenant_context(tenant):
        group = SupportGroup.objects.order_by("pk").first()
        # The agent with the most tickets: the rollups of stalls and channels
        # are not kept by agent, so those two read the facts.
        busiest = (
            Ticket.objects.filter(assignee__isnull=False)
            .values("assignee_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .first()
        )
    base = f"/{tenant.slug}/reports/"
    urls = []
    for name in PAGES:
        urls += [
            (f"{name}, 30 days", f"{base}{name}/"),
            (f"{name}, 90 days", f"{base}{name}/?period=90"),
            (f"{name}, one group, 90 days", f"{base}{name}/?period=90&group={group.pk}"),
            (f"{name}, one channel, 90 days", f"{base}{name}/?period=90&channel=email"),
        ]
        if busiest:
            agent = busiest["assignee_id"]
            urls.append(
                (f"{name}, one agent, 90 days", f"{base}{name}/?period=90&assignee={agent}")
            )
    rows = timed_pages(client, urls, args.rounds)
    print("\n| page | p50 ms | p95 ms | queries |\n|---|---|---|---|")
    for label, p50, p95, queries in rows:
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {queries} |")

    # The handler's cost: a ticket moved to another group, its page facts refolded.
    with tenant_context(tenant):
        groups = list(SupportGroup.objects.order_by("pk")[:2])
        ids = list(
            Ticket.objects.exclude(status="closed")
            .order_by("?")
            .values_list("pk", flat=True)[: args.events]
        )
        agent = Membership.objects.filter(tenant=tenant, role="agent").first().user
        costs = []
        for ticket_id in ids:
            ticket = Ticket.objects.get(pk=ticket_id)
            target = groups[0] if ticket.group_id != groups[0].pk else groups[1]
            services.ticket_update(ticket=ticket, actor=agent, expected_version=None, group=target)
            start = time.perf_counter()
            page_facts_refresh(ticket_id=ticket_id)
            costs.append((time.perf_counter() - start) * 1000)
    if costs:
        print(
            f"\nhandler, one event (ticket refolded): p50 {statistics.median(costs):.1f} ms, "
            f"p95 {percentile(costs, 0.95):.1f} ms over {len(costs)} events"
        )

    # EXPLAIN (ANALYZE) of every statement the pages run, inside the tenant's scope.
    now = timezone.now()
    filters = selectors.Filters(start=now - timedelta(days=90), end=now)
    with tenant_context(tenant):
        by_channel = selectors.Filters(start=filters.start, end=now, channel="email")
        with CaptureQueriesContext(connection) as captured:
            selectors.efficiency(by_channel)
            selectors.stalls(by_channel)
            selectors.efficiency(filters)
            selectors.quality(filters)
            selectors.causes(filters)
            selectors.agent_loads(filters)
            selectors.load_history(filters)
            selectors.stalls(filters)
            selectors.channels(filters)
        out = RESULTS / f"report_pages_explain_{tenant.slug}.txt"
        RESULTS.mkdir(exist_ok=True)
        with connection.cursor() as cursor, out.open("w") as file:
            for query in captured.captured_queries:
                sql = query["sql"]
                if "reports_" not in sql and "tickets_rating" not in sql:
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                file.write(f"{sql}\n{plan}\n\n")
    print(f"\nplans: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
