"""The reports app at scale: rebuilding the facts from events, the
dashboard's server time and queries, the tickets behind a number, the
event handler's cost per event, and EXPLAIN of every dashboard statement
inside the tenant's scope (row-level security on).

    eval "$(python3 scripts/devstack.py services)"
    .venv/bin/python bench/generate.py --tenant bench --tickets 100000
    .venv/bin/python bench/bench_reports.py --tenant bench

Pages are requested in-process with Django's test client (the whole view:
middleware, tenant scope, selectors, template), not through a web server.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from helpdesk.db import as_table_owner  # noqa: E402
from helpdesk.models import Membership, SupportGroup, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from reports.services import fact_refresh, facts_rebuild  # noqa: E402
from tickets import services  # noqa: E402
from tickets.models import Message, Ticket  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed_pages(client, urls, rounds, headers=None):
    rows = []
    for label, url in urls:
        client.get(url, **(headers or {}))  # warm
        times = []
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, **(headers or {}))
        assert response.status_code == 200, (url, response.status_code)
        queries = len([q for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")])
        for _ in range(rounds):
            start = time.perf_counter()
            response = client.get(url, **(headers or {}))
            times.append((time.perf_counter() - start) * 1000)
        rows.append((label, statistics.median(times), percentile(times, 0.95), queries))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--events", type=int, default=300, help="events for the handler's cost")
    parser.add_argument("--skip-rebuild", action="store_true")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECURE_SSL_REDIRECT = False
    # No collectstatic needed: plain static URLs (the page's own work is timed).
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
            facts_rebuild(progress=lambda done, total: None)
        print(f"rebuild: {time.perf_counter() - start:.1f} s for {tickets} tickets")
        # What autovacuum does after a rebuild (statistics, and the
        # visibility map that lets the covering indexes answer alone).
        with as_table_owner(), connection.cursor() as cursor:
            for table in ("reports_ticketfact", "reports_dailyvolume", "reports_dailyduration"):
                cursor.execute(f"VACUUM ANALYZE {table}")

    user, _ = get_user_model().objects.get_or_create(username=f"{tenant.slug}-manager")
    Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": Membership.Role.MANAGER}
    )
    client = Client(secure=True)
    client.force_login(user)
    with tenant_context(tenant):
        group = SupportGroup.objects.order_by("pk").first()
    base = f"/{tenant.slug}/reports/"
    urls = [
        ("dashboard, 30 days", base),
        ("dashboard, 90 days", f"{base}?period=90"),
        ("dashboard, today", f"{base}?period=today"),
        ("dashboard, one group", f"{base}?group={group.pk}"),
        ("dashboard, one agent", f"{base}?assignee={_an_agent(tenant)}"),
        ("dashboard, 90 days, one agent", f"{base}?period=90&assignee={_an_agent(tenant)}"),
        ("tickets behind 'solved'", f"{base}tickets/solved/"),
        ("tickets behind 'open'", f"{base}tickets/backlog/"),
    ]
    rows = timed_pages(client, urls, args.rounds)
    rows += timed_pages(
        client, [("dashboard refresh (htmx)", base)], args.rounds, {"HTTP_HX_REQUEST": "true"}
    )
    print("\n| page | p50 ms | p95 ms | queries |\n|---|---|---|---|")
    for label, p50, p95, queries in rows:
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {queries} |")

    # The handler's cost: one new event folded into an existing fact. A
    # note changes no rollup row; solving an open ticket changes several
    # (solved, the resolution's histogram bucket).
    with tenant_context(tenant):
        ids = list(Ticket.objects.order_by("?").values_list("pk", flat=True)[: args.events])
        open_ids = list(
            Ticket.objects.filter(status__in=["open", "pending", "on_hold"])
            .order_by("?")
            .values_list("pk", flat=True)[: args.events]
        )
        agent = Membership.objects.filter(tenant=tenant, role="agent").first().user
        costs, solving = [], []
        for ticket_id in ids:
            ticket = Ticket.objects.get(pk=ticket_id)
            if ticket.status == Ticket.Status.CLOSED:
                continue
            services.message_add(
                ticket=ticket, kind=Message.Kind.NOTE, body="bench", author_user=agent
            )
            start = time.perf_counter()
            fact_refresh(ticket_id=ticket_id)
            costs.append((time.perf_counter() - start) * 1000)
        for ticket_id in open_ids:
            ticket = Ticket.objects.get(pk=ticket_id)
            services.ticket_update(
                ticket=ticket, actor=agent, expected_version=None, status="resolved"
            )
            start = time.perf_counter()
            fact_refresh(ticket_id=ticket_id)
            solving.append((time.perf_counter() - start) * 1000)
    for label, values in (("a note (no rollup row)", costs), ("solving a ticket", solving)):
        if values:
            print(
                f"handler, {label}: p50 {statistics.median(values):.1f} ms, "
                f"p95 {percentile(values, 0.95):.1f} ms over {len(values)} events"
            )

    # EXPLAIN every statement the dashboard sends on the facts, in scope.
    with CaptureQueriesContext(connection) as captured:
        client.get(base)
    statements = [q["sql"] for q in captured.captured_queries if "reports_" in q["sql"]]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"reports_explain_{tenant.slug}.txt"
    with tenant_context(tenant), connection.cursor() as cursor, out.open("w") as f:
        for sql in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            f.write(sql + "\n" + "\n".join(row[0] for row in cursor.fetchall()) + "\n\n")
    print(f"EXPLAIN of {len(statements)} statements in {out}")


def _an_agent(tenant):
    return (
        Membership.objects.filter(tenant=tenant, role="agent")
        .values_list("user_id", flat=True)
        .first()
    )


if __name__ == "__main__":
    random.seed(1)
    main()
