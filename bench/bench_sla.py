"""SLA: the clock's speed, the breach sweep's time with D checks due among N
open tickets, and the recompute of open tickets after a calendar edit.

The sweep's cost must grow with the due checks, not the open tickets: run it
twice with the same D and a different N and compare. Tickets and their
target rows are bulk-inserted (the bench measures the sweep, not ticket
creation); the sweep then runs the production path: claim, alert rows,
timeline events, notifications, escalation.

    .venv/bin/python bench/bench_sla.py --open 20000 --due 200
    .venv/bin/python bench/bench_sla.py --open 1000000 --due 1000   # a big machine only

The bulk recompute after a calendar edit (`sla_recompute_batch`, what the
settings' background run does), alone: `--bulk-only` edits the bench
calendar's hours (every ticket's deadlines move) and recomputes N open
tickets (`--bulk`, default all) in batches of `--batch`:

    .venv/bin/python bench/bench_sla.py --open 20000 --bulk-only
    .venv/bin/python bench/bench_sla.py --tenant bench --open 0 --bulk-only  # generate.py's tenant
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from sla.clock import CalendarSpec, business_add  # noqa: E402
from sla.models import Calendar, Policy, PolicyTarget, TicketTarget  # noqa: E402
from sla.services.alerts import sla_sweep  # noqa: E402
from sla.services.bulk import BATCH, sla_recompute_batch  # noqa: E402
from sla.services.timers import policies_load, sla_recompute  # noqa: E402
from tickets.models import Contact, Ticket  # noqa: E402

OFFICE = {str(d): [["09:00", "12:00"], ["13:00", "17:00"]] for d in range(5)}


def bench_clock(n: int) -> float:
    spec = CalendarSpec(
        time_zone="Europe/Berlin",
        windows=tuple((d, a, b) for d in range(5) for a, b in ((540, 720), (780, 1020))),
        holiday_country="DE",
        holiday_subdivision="BE",
    )
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    business_add(spec, start, 3600)  # the table
    began = time.perf_counter()
    for i in range(n):
        business_add(spec, start + timedelta(seconds=i * 61), 4 * 3600)
    return time.perf_counter() - began


def setup(tenant, open_tickets: int, due: int) -> None:
    """N open tickets with a resolution target each; `due` of them due now."""
    calendar, _ = Calendar.objects.get_or_create(
        tenant=tenant,
        name="Bench office",
        defaults={"time_zone": "Europe/Berlin", "hours": OFFICE, "holiday_country": "DE"},
    )
    policy, created = Policy.objects.get_or_create(
        tenant=tenant, name="Bench", defaults={"calendar": calendar}
    )
    if created:
        PolicyTarget.objects.bulk_create(
            [
                PolicyTarget(tenant=tenant, policy=policy, priority=p, kind=k, seconds=s)
                for p in range(1, 5)
                for k, s in (("first_response", 4 * 3600), ("resolution", 24 * 3600))
            ]
        )
    have = Ticket.objects.count()
    contact, _ = Contact.objects.get_or_create(
        tenant=tenant, email="bench@customer.example", defaults={"name": "Bench"}
    )
    now = timezone.now()
    batch = 5000
    for start in range(have, open_tickets, batch):
        rows = [
            Ticket(
                tenant=tenant,
                number=1_000_000 + i,
                subject=f"Bench ticket {i}",
                requester=contact,
                status="open",
                created_at=now - timedelta(days=1),
                updated_at=now,
            )
            for i in range(start, min(open_tickets, start + batch))
        ]
        with transaction.atomic():
            Ticket.objects.bulk_create(rows)
            TicketTarget.objects.bulk_create(
                [
                    TicketTarget(
                        tenant=tenant,
                        ticket=t,
                        policy=policy,
                        kind="resolution",
                        target_seconds=24 * 3600,
                        started_at=t.created_at,
                        due_at=now + timedelta(days=3),
                        at_risk_at=now + timedelta(days=2),
                        state="on_track",
                        next_check_at=now + timedelta(days=2),
                        computed_at=now,
                    )
                    for t in rows
                ]
            )
    # Make exactly `due` rows due (past their deadline, not yet alerted).
    TicketTarget.objects.filter(next_check_at__lte=now).update(
        next_check_at=now + timedelta(days=2), alerted="", state="on_track", breached_at=None
    )
    ids = list(TicketTarget.objects.order_by("?").values_list("pk", flat=True)[:due])
    TicketTarget.objects.filter(pk__in=ids).update(
        next_check_at=now - timedelta(seconds=5), due_at=now - timedelta(seconds=5)
    )
    from sla.models import Alert

    Alert.objects.all().delete()


def bench_bulk(tenant, limit: int | None, batch: int) -> None:
    """A calendar edit, then the bulk recompute of open tickets, a batch
    per transaction as the settings' background run does it."""
    with tenant_context(tenant):
        calendar = Calendar.objects.get(name="Bench office")
        # Alternate between two closing times, so each run moves every deadline.
        last = calendar.hours.get("0", [[None, "17:00"]])[-1][1]
        closing = "18:00" if last == "17:00" else "17:00"
        calendar.hours = {str(d): [["09:00", "12:00"], ["13:00", closing]] for d in range(5)}
        calendar.save()
        open_count = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count()
    after, done, began = 0, 0, time.perf_counter()
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        with tenant_context(tenant):
            count, last_id = sla_recompute_batch(after=after, loaded=policies_load(), limit=size)
        done += count
        if count < size:
            break
        after = last_id
    spent = time.perf_counter() - began
    rate = done / spent if spent else 0
    print(
        f"bulk recompute (closing {closing}): {done} of {open_count} open tickets in "
        f"{spent:.1f} s ({rate:,.0f} tickets/s, batches of {batch}; "
        f"1M would take {1e6 / max(rate, 1) / 60:.0f} min on one worker)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="benchsla")
    parser.add_argument("--open", type=int, default=20000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--recompute", type=int, default=200)
    parser.add_argument("--clock", type=int, default=100_000)
    parser.add_argument("--bulk", type=int, default=None, help="open tickets (default all)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--bulk-only", action="store_true")
    args = parser.parse_args()
    if args.bulk_only:
        tenant, _ = Tenant.objects.get_or_create(
            slug=args.tenant, defaults={"name": "SLA bench", "ticket_prefix": "SLB"}
        )
        with tenant_context(tenant):
            setup(tenant, args.open, 0)
        bench_bulk(tenant, args.bulk, args.batch)
        return

    seconds = bench_clock(args.clock)
    print(f"clock: {args.clock} deadlines in {seconds:.2f} s ({args.clock / seconds:,.0f}/s)")

    tenant, _ = Tenant.objects.get_or_create(
        slug=args.tenant, defaults={"name": "SLA bench", "ticket_prefix": "SLB"}
    )
    with tenant_context(tenant):
        setup(tenant, args.open, args.due)
        open_count = Ticket.objects.filter(status="open").count()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE sla_tickettarget")
        began = time.perf_counter()
        result = sla_sweep()
        swept = time.perf_counter() - began
        print(
            f"sweep: {result['checked']} due among {open_count} open tickets: {swept * 1000:.0f} ms "
            f"({result['acted']} breaches alerted; batch full: {result['more']})"
        )
    # An empty sweep (nothing due): the cost of looking.
    with tenant_context(tenant):
        began = time.perf_counter()
        sla_sweep()
        print(f"sweep with nothing due: {(time.perf_counter() - began) * 1000:.1f} ms")
    bench_bulk(tenant, args.bulk, args.batch)
    with tenant_context(tenant):
        loaded = policies_load()
        tickets = list(Ticket.objects.filter(status="open").only("pk")[: args.recompute])
        began = time.perf_counter()
        for ticket in tickets:
            sla_recompute(ticket=ticket, loaded=loaded)
        spent = time.perf_counter() - began
        print(
            f"recompute: {len(tickets)} tickets in {spent:.2f} s "
            f"({spent / max(len(tickets), 1) * 1000:.1f} ms each; "
            f"1M would take {spent / max(len(tickets), 1) * 1e6 / 3600:.1f} h on one worker)"
        )


if __name__ == "__main__":
    main()
