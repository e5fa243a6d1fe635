"""The routing simulator's time over a tenant's tickets (issue 14: "it must
run on 100k tickets in seconds").

Replays every ticket of the last --days days through a draft rule set that
is never saved (`dispatch.simulator.simulate`, as the settings page calls
it), in two shapes: rules on the ticket's own columns only (subject,
channel, tag, requester's domain, business hours), and the same plus a
"subject or message contains" rule, which makes the simulator read each
ticket's first customer message as well. Prints one line per round and
writes the rounds as JSON lines.

    eval "$(python3 scripts/devstack.py services)"
    .venv/bin/python bench/generate.py --tenant bench --tickets 100000
    .venv/bin/python bench/bench_simulator.py --tenant bench --days 401 --rounds 3
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from dispatch.models import RoutingRule  # noqa: E402
from dispatch.simulator import simulate  # noqa: E402
from helpdesk.models import SupportGroup, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402


def draft_rules(groups: list[int], with_text: bool) -> list[RoutingRule]:
    """Unsaved rules, as the editor hands the simulator a draft."""
    rules = [
        RoutingRule(
            name="Outage is urgent", match="all", is_enabled=True,
            conditions=[{"field": "subject", "value": ["outage", "is down"]}],
            actions={"priority": 4},
        ),
        RoutingRule(
            name="Phone and chat to the first line", match="any", is_enabled=True,
            conditions=[{"field": "channel", "value": ["phone", "chat"]}],
            actions={"group": groups[1]},
        ),
        RoutingRule(
            name="VIP to tier 2", match="all", is_enabled=True,
            conditions=[{"field": "tag", "value": ["vip"]}],
            actions={"group": groups[2], "add_tags": ["tier2"]},
        ),
        RoutingRule(
            name="One client's domain for review", match="all", is_enabled=True,
            conditions=[{"field": "requester_domain", "value": ["client42.example"]}],
            actions={"review": True},
        ),
        RoutingRule(
            name="Night shift", match="all", is_enabled=True,
            conditions=[{"field": "business_hours", "value": False},
                        {"field": "priority", "value": [3, 4]}],
            actions={"group": groups[3]},
        ),
    ]  # fmt: skip
    if with_text:
        rules.insert(
            0,
            RoutingRule(
                name="Billing words to billing", match="any", is_enabled=True,
                conditions=[{"field": "text", "value": ["refund", "invoice", "vat", "double charge"]}],
                actions={"group": groups[0], "add_tags": ["billing"]},
            ),
        )  # fmt: skip
    return rules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--days", type=int, default=401)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    out = open(args.out, "a") if args.out else None  # noqa: SIM115
    with tenant_context(tenant):
        groups = list(SupportGroup.objects.order_by("pk").values_list("pk", flat=True)[:4])
        for shape in ("columns only", "with message text"):
            rules = draft_rules(groups, with_text=shape != "columns only")
            for round_ in range(1, args.rounds + 1):
                load = os.getloadavg()[0]
                cpu = time.process_time()
                result = simulate(rules=rules, days=args.days)
                cpu = time.process_time() - cpu
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
                row = {
                    "tenant": tenant.slug,
                    "shape": shape,
                    "round": round_,
                    "tickets": result.tickets,
                    "seconds": round(result.seconds, 2),
                    "per_second": round(result.tickets / max(result.seconds, 1e-9)),
                    "python_cpu_seconds": round(cpu, 2),
                    "max_rss_mb": rss,
                    "load_1min": round(load, 1),
                    "changed_group": result.changed_group,
                    "review": result.review,
                    "rule_matches": dict(result.rule_matches),
                }
                print(
                    f"{shape}, round {round_}: {result.tickets:,} tickets in "
                    f"{result.seconds:.1f} s ({row['per_second']:,}/s; Python CPU {cpu:.1f} s; "
                    f"max RSS {rss} MB; load {load:.1f}); group changed for "
                    f"{result.changed_group:,}, review {result.review:,}",
                    flush=True,
                )
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()


if __name__ == "__main__":
    main()
