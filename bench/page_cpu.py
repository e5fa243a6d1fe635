"""CPU milliseconds one agent page view costs: Django's share (this
process) and Postgres's (its backend), page by page.

bench/run_http.sh gives the latency through gunicorn, which on a shared box
is mostly the other jobs' doing; CPU time is the work itself (an idle core
would answer in about this time, plus the round trips). Pages are the ones
of bench/target_ourdesk.py, requested in-process through Django's test
client (as the peer's count_queries.py does) with DEBUG off, as that agent.

    eval "$(python3 scripts/devstack.py services)"
    .venv/bin/python bench/page_cpu.py --tenant bench \
        --pages list_queue_open,ticket_detail,search_keyword,search_rare --n 20
"""

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER = Path(os.environ.get("PEER", HERE.parent.parent / "shared/bench/peer-django-helpdesk"))
sys.path[:0] = [str(HERE.parent), str(HERE), str(PEER)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")
# As bench/run_http.sh runs the server: DEBUG off, no HTTPS redirects.
os.environ.update(
    DEBUG="0",
    SECURE_SSL_REDIRECT="0",
    SESSION_COOKIE_SECURE="0",
    CSRF_COOKIE_SECURE="0",
    SECURE_HSTS_SECONDS="0",
    STATIC_MANIFEST="0",
    EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    LOG_LEVEL="WARNING",
)
os.environ.pop("MIGRATE_DATABASE_URL", None)  # the app's role only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--pages", default="list_queue_open,ticket_detail,search_keyword")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    os.environ["BENCH_TENANT"] = args.tenant
    os.environ.setdefault("BENCH_AGENT", f"{args.tenant}-agent0")

    import django

    django.setup()
    import target_ourdesk as target
    from bench_lib import DjangoClient
    from cpu_clock import CpuClock
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, as count_queries.py
    ctx = target.discover()
    client = DjangoClient()
    client.c.force_login(get_user_model().objects.get(username=target.STAFF_USER))
    rng = random.Random(11)
    out = {}
    for name in [p for p in args.pages.split(",") if p]:
        page, _ = target.PAGES[name]
        page(client, rng, ctx)  # warm-up
        app, db = [], []
        for _ in range(args.n):
            clock = CpuClock(connection).start()
            page(client, rng, ctx)
            here, server = clock.read()
            app.append(here * 1000)
            db.append(server * 1000)
        # Means: the backend's CPU time is counted in clock ticks (10 ms).
        out[name] = {
            "n": args.n,
            "cpu_ms_mean": round((sum(app) + sum(db)) / args.n, 1),
            "app_ms_mean": round(statistics.mean(app), 1),
            "db_ms_mean": round(statistics.mean(db), 1),
            "app_ms_p50": round(statistics.median(app), 1),
        }
        print(
            f"{name:<18} CPU per view, mean of {args.n}: {out[name]['cpu_ms_mean']:6.1f} ms "
            f"(Django {out[name]['app_ms_mean']:.1f}, p50 {out[name]['app_ms_p50']:.1f}; "
            f"Postgres {out[name]['db_ms_mean']:.1f})",
            flush=True,
        )
    if args.out:
        meta = {"tenant": args.tenant, "load_average_after": os.getloadavg()}
        Path(args.out).write_text(json.dumps({"meta": meta, "pages": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
