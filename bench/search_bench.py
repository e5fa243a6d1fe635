"""Ticket search latency: the median of N runs of each query, as the app runs it.

Connects as the app's role (DATABASE_URL), inside the tenant's context, and
times `tickets.search.ticket_search` (the SQL and the page's tickets). With
BENCH_SUPERUSER_URL (a superuser of the same server: a local benchmark only)
it also runs every query with and without ts_match_vq marked LEAKPROOF, and
writes each query's plan, including the statements run inside the search
functions (auto_explain), to --plans.

    .venv/bin/python bench/search_bench.py --tenant bench1m \\
        --query 777777 --query customer4242@client254.example \\
        --query printer --query prin --plans bench/results/search_plans_1M.txt

Data from bench/generate.py; ANALYZE the tables (as their owner) first.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets.search import ticket_search  # noqa: E402

MATCH_FUNCTION = "pg_catalog.ts_match_vq(tsvector, tsquery)"


def set_leakproof(superuser_url: str, leakproof: bool) -> None:
    with psycopg.connect(superuser_url, dbname=connection.settings_dict["NAME"]) as su:
        su.execute(f"ALTER FUNCTION {MATCH_FUNCTION} {'' if leakproof else 'NOT '}LEAKPROOF")
    # Plans cached by this connection were made under the old mark.
    connection.close()


def timed_runs(tenant: Tenant, query: str, runs: int) -> tuple[float, int, list[str]]:
    """Median milliseconds over `runs` (after two warm-up runs), the tickets
    found, and the SQL statements of one run."""
    statements: list[tuple[str, object]] = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    times = []
    total = 0
    for n in range(runs + 2):
        with tenant_context(tenant):
            if n == 0:
                with connection.execute_wrapper(capture):
                    results = ticket_search(query=query)
            started = time.perf_counter()
            results = ticket_search(query=query)
            elapsed = (time.perf_counter() - started) * 1000
        total = results.total
        if n >= 2:
            times.append(elapsed)
    return statistics.median(times), total, statements


def plan(superuser_url: str, app_role: str, tenant: Tenant, statements) -> str:
    """EXPLAIN ANALYZE of the search statement as the app's role, with the
    plans of the statements run inside functions (auto_explain)."""
    sql, params = next((s, p) for s, p in statements if "ts_headline" in s)
    notices: list[str] = []
    with psycopg.connect(
        superuser_url, dbname=connection.settings_dict["NAME"], autocommit=False
    ) as su:
        su.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        su.execute("LOAD 'auto_explain'")
        su.execute("SET auto_explain.log_min_duration = 0")
        su.execute("SET auto_explain.log_nested_statements = on")
        su.execute("SET auto_explain.log_analyze = on")
        su.execute("SET auto_explain.log_buffers = on")
        su.execute("SET auto_explain.log_level = notice")
        su.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
        su.execute(f'SET LOCAL ROLE "{app_role}"')
        # Django's pyformat placeholders are psycopg's too.
        rows = su.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
        su.rollback()
    nested = [n for n in notices if "Query Text" in n and "ts_headline" not in n]
    return "\n".join(row[0] for row in rows) + "".join(f"\n\n-- inside: {n}" for n in nested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--query", action="append", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--plans", help="file to write the plans to (needs BENCH_SUPERUSER_URL)")
    parser.add_argument("--label", default="", help="a name for this design in the output")
    args = parser.parse_args()

    superuser_url = os.environ.get("BENCH_SUPERUSER_URL")
    tenant = Tenant.objects.get(slug=args.tenant)
    app_role = connection.settings_dict["USER"]
    states = [None] if not superuser_url else [False, True]
    plans = []
    print(f"| design | tenant | query | LEAKPROOF | p50 ms ({args.runs} runs) | tickets found |")
    print("|---|---|---|---|---:|---:|")
    for leakproof in states:
        if leakproof is not None:
            set_leakproof(superuser_url, leakproof)
        mark = {None: "as set", False: "no", True: "yes"}[leakproof]
        for query in args.query:
            p50, total, statements = timed_runs(tenant, query, args.runs)
            print(f"| {args.label} | {args.tenant} | `{query}` | {mark} | {p50:.1f} | {total} |")
            if superuser_url and args.plans:
                text = plan(superuser_url, app_role, tenant, statements)
                plans.append(f"## {args.label} {args.tenant} {query!r}, LEAKPROOF {mark}\n\n{text}")
    if superuser_url:
        # Leave the mark as the set-up leaves it: absent.
        set_leakproof(superuser_url, False)
    if plans:
        Path(args.plans).write_text("\n\n".join(plans) + "\n")


if __name__ == "__main__":
    main()
