#!/usr/bin/env python
"""EXPLAIN (ANALYZE, BUFFERS) the slow SQL of each benchmark page.

Runs the pages of bench/target_ourdesk.py in-process (Django test client, the
agent force-logged-in), captures each page view's SQL, and explains every
statement slower than --min-ms inside the tenant's RLS scope. Read-only: POST
pages are skipped. Same environment as bench/run_http.sh (it calls this).

    python bench/explain_slow.py --label 1M --out bench/results/explain_1M.txt
"""

import argparse
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402

PEER = Path(
    os.environ.get(
        "PEER", str(Path(__file__).resolve().parents[2] / "shared/bench/peer-django-helpdesk")
    )
)
sys.path.append(str(PEER))
import target_ourdesk as tgt  # noqa: E402
from bench_lib import DjangoClient  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--min-ms", type=float, default=5.0)
    ap.add_argument("--pages", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    setup_test_environment()
    ctx = tgt.discover()
    client = DjangoClient()
    client.c.force_login(get_user_model().objects.get(username=tgt.STAFF_USER))
    tenant = Tenant.objects.get(slug=tgt.TENANT)
    names = [p for p in args.pages.split(",") if p] or list(tgt.PAGES)
    rng = random.Random(5)
    lines = [
        f"# EXPLAIN (ANALYZE, BUFFERS) of statements > {args.min_ms} ms, {args.label}, "
        f"tenant {tgt.TENANT}, agent {tgt.STAFF_USER}\n"
    ]
    for name in names:
        if name.startswith("create"):
            continue
        fn, _ = tgt.PAGES[name]
        fn(client, rng, ctx)  # warm
        with CaptureQueriesContext(connection) as cq:
            fn(client, rng, ctx)
        slow = [
            q
            for q in cq.captured_queries
            if float(q["time"]) * 1000 >= args.min_ms
            and q["sql"].lstrip().upper().startswith(("SELECT", "DECLARE"))
        ]
        lines.append(
            f"\n## {name}: {len(cq.captured_queries)} queries, "
            f"{sum(float(q['time']) for q in cq.captured_queries) * 1000:.0f} ms SQL\n"
        )
        for q in slow:
            sql = q["sql"]
            if sql.lstrip().upper().startswith("DECLARE"):
                sql = sql.split(" CURSOR FOR ", 1)[1]
            with tenant_context(tenant), connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(r[0] for r in cur.fetchall())
            lines.append(
                f"\n### {float(q['time']) * 1000:.0f} ms in the page view\n\n```sql\n{sql}\n```\n\n```\n{plan}\n```\n"
            )
        print(f"[{args.label}] {name}: {len(slow)} statements explained", flush=True)
    Path(args.out).write_text("".join(lines))


if __name__ == "__main__":
    main()
