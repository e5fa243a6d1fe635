"""Where the intake batch step spends its time: cProfile of the worker's
batch step on ordinary new mail and on replies (bench_intake.py's mail),
our functions only, by cumulative time. Shares, not speeds: the profiler
slows Python down.

    .venv/bin/python bench/profile_intake.py --tenant bench --new 500 --replies 200
"""

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_intake  # noqa: E402  (sets Django up)

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--new", type=int, default=500)
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--lines", type=int, default=30)
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        mailbox = bench_intake.bench_mailbox(tenant)
        new, replies = bench_intake.bench_messages(
            tenant, new=args.new, replies=args.replies, sender_prefix="profile", seed=7
        )
    for label, messages in (("new mail", new), ("replies", replies)):
        with tenant_context(tenant):
            for raw in messages:
                bench_intake.intake.inbound_store(mailbox=mailbox, raw=raw)
        profile = cProfile.Profile()
        profile.enable()
        bench_intake.drain(tenant, 100)
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
        stats.print_stats(r"(tickets|helpdesk)/", args.lines)
        print(f"===== {label} ({len(messages)} messages)\n{out.getvalue()}")


if __name__ == "__main__":
    main()
