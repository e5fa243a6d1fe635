"""SLA on the 1M tenant of bench/generate.py (issue 15's "Measure").

    eval "$(python3 scripts/devstack.py services)"
    .venv/bin/python bench/bench_sla_1m.py setup --tenant bench1m
    .venv/bin/python bench/bench_sla_1m.py sweep --tenant bench1m --due 1000 --rounds 3
    .venv/bin/python bench/bench_sla_1m.py sweep --tenant bench1m --due 10000 --rounds 2
    # with a Celery worker and beat running (see bench/RESULTS.md):
    .venv/bin/python bench/bench_sla_1m.py delay --tenant bench1m --deadlines 12 --spacing 10

setup: two calendars (a Berlin office calendar, Mon-Fri 09:00-12:00 and
13:00-17:00 with Berlin's holidays, and a 24/7 one), two policies (urgent
tickets around the clock in calendar time; the rest in Berlin business
hours) and a target row per ticket and kind:
  * the first --sample open tickets (new, open, pending, on hold) in id
    order through the real path: `sla_reapply_run`'s loop (the background
    run after a calendar or policy edit: chunks of 200 in a transaction
    each, `sla_recompute` per ticket, which also sets the ticket's due time
    through the service for system changes). Its rate is the "recompute
    all open tickets" figure; all 68,800 open tickets of bench1m that way
    would take half an hour here (`reapply` runs all of them);
  * the other open tickets and the resolved and closed ones (~930,000) in
    SQL: first response and resolution, met at the ticket's
    first_response_at / resolved_at, due at created_at plus the target
    (business time approximated as calendar time x 4.8, the ratio of a week
    to its 35 business hours), paused while pending or on hold, breached or
    at risk by the clock, alerts already sent for what is past (as the
    sweeps would have done); the open tickets' due time set to their
    nearest active deadline, as `sla_recompute` sets it.

sweep: the breach sweep with D checks due among 1M. The tenant has ~32,000
open tickets, not 1M; to give the sweep the index it would have with 1M
open tickets, every ticket's resolution row carries a check in the next
30 days (`--fill-index`, once: ~1M rows in the partial index
`sla_target_check_idx`; `--unfill-index` takes it back). D rows of open,
unpaused tickets are then made due 5 s ago (at risk already alerted, so
each gets the breach path: alert row, timeline event, notifications), and
the sweep runs as the Celery task does (`sla_sweep` in the tenant's
context, one transaction a batch of 500, again while a batch was full).

delay: with a worker and beat running, K deadlines `--spacing` seconds
apart from now; polls the alert rows and prints, per deadline, when the
sweep acted (the alert's created_at, the sweep's clock) and when its
transaction was seen committed, each minus the deadline.
"""

import argparse
import cProfile
import json
import os
import pstats
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_clock import CpuClock  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from helpdesk.db import as_table_owner  # noqa: E402
from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import _current_tenant, tenant_context  # noqa: E402
from helpdesk.tenant_work import work_due  # noqa: E402
from sla.models import Alert, Calendar, Policy, PolicyTarget, Reapply, TicketTarget  # noqa: E402
from sla.services.alerts import sla_sweep  # noqa: E402
from sla.services.settings import sla_reapply_run  # noqa: E402
from sla.services.timers import WORK_KIND, policies_load, sla_recompute  # noqa: E402
from tickets.models import Ticket  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# The per-ticket reapply's chunk (sla/services/settings.py before the bulk path).
REAPPLY_CHUNK = 200
OFFICE = {str(d): [["09:00", "12:00"], ["13:00", "17:00"]] for d in range(5)}
HOUR = 3600
# (priority, kind) -> seconds, Berlin business time.
STANDARD = {
    (1, "first_response"): 16 * HOUR, (1, "next_response"): 16 * HOUR, (1, "resolution"): 40 * HOUR,
    (2, "first_response"): 8 * HOUR, (2, "next_response"): 8 * HOUR, (2, "resolution"): 24 * HOUR,
    (3, "first_response"): 4 * HOUR, (3, "next_response"): 4 * HOUR, (3, "resolution"): 16 * HOUR,
    (4, "first_response"): 2 * HOUR, (4, "next_response"): 2 * HOUR, (4, "resolution"): 8 * HOUR,
}  # fmt: skip
# Urgent tickets, around the clock (calendar time).
URGENT = {(4, "first_response"): HOUR, (4, "next_response"): HOUR, (4, "resolution"): 8 * HOUR}
BUSINESS_FACTOR = 168 / 35


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} {message}", flush=True)


def record(name: str, row: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    row = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load": os.getloadavg(), **row}
    with (RESULTS / name).open("a") as f:
        f.write(json.dumps(row, default=str) + "\n")


def analyze(*tables: str) -> None:
    with as_table_owner(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


# ---------------------------------------------------------------- setup


def policies(tenant) -> tuple[Policy, Policy]:
    office, _ = Calendar.objects.get_or_create(
        tenant=tenant, name="Berlin office",
        defaults={"time_zone": "Europe/Berlin", "hours": OFFICE, "holiday_country": "DE",
                  "holiday_subdivision": "BE"},
    )  # fmt: skip
    always, _ = Calendar.objects.get_or_create(
        tenant=tenant, name="Around the clock", defaults={"always_open": True}
    )
    urgent, created = Policy.objects.get_or_create(
        tenant=tenant, name="Urgent, around the clock",
        defaults={"calendar": always, "position": 0, "priorities": [4]},
    )  # fmt: skip
    if created:
        PolicyTarget.objects.bulk_create(
            PolicyTarget(
                tenant=tenant, policy=urgent, priority=p, kind=k, seconds=s, business=False
            )
            for (p, k), s in URGENT.items()
        )
    standard, created = Policy.objects.get_or_create(
        tenant=tenant, name="Standard", defaults={"calendar": office, "position": 1}
    )
    if created:
        PolicyTarget.objects.bulk_create(
            PolicyTarget(tenant=tenant, policy=standard, priority=p, kind=k, seconds=s)
            for (p, k), s in STANDARD.items()
        )
    return urgent, standard


def closed_targets_sql(tenant, urgent: Policy, standard: Policy) -> int:
    """Target rows of resolved and closed tickets, written in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sla_tickettarget (tenant_id, ticket_id, policy_id, kind, cycle,
                target_seconds, business, started_at, due_at, at_risk_at, met_at, breached_at,
                seconds_used, paused_seconds, state, alerted, next_check_at, computed_at)
            SELECT t.tenant_id, t.id, p.policy_id, k.kind, 1, p.seconds, p.business,
                t.created_at, d.due, t.created_at + (d.due - t.created_at) * 0.8, k.met,
                CASE WHEN k.met > d.due THEN d.due END,
                LEAST(2000000000, extract(epoch FROM k.met - t.created_at)
                      / CASE WHEN p.business THEN %(factor)s ELSE 1 END)::int,
                0, CASE WHEN k.met > d.due THEN 'breached' ELSE 'met' END,
                CASE WHEN k.met > d.due THEN 'breached' ELSE '' END, NULL, now()
            FROM tickets_ticket t
            CROSS JOIN LATERAL (VALUES ('first_response', t.first_response_at),
                                       ('resolution', t.resolved_at)) AS k(kind, met)
            JOIN sla_policytarget p ON p.policy_id = CASE WHEN t.priority = 4
                    THEN %(urgent)s ELSE %(standard)s END
                AND p.priority = t.priority AND p.kind = k.kind
            CROSS JOIN LATERAL (SELECT t.created_at + make_interval(secs => p.seconds
                * CASE WHEN p.business THEN %(factor)s ELSE 1 END) AS due) d
            WHERE t.status IN ('resolved', 'closed') AND k.met IS NOT NULL
            ON CONFLICT DO NOTHING
            """,
            {"factor": BUSINESS_FACTOR, "urgent": urgent.pk, "standard": standard.pk},
        )
        return cursor.rowcount


def setup(tenant, sample: int) -> None:
    with tenant_context(tenant):
        urgent, standard = policies(tenant)
        began = time.perf_counter()
        with transaction.atomic():
            done_before = TicketTarget.objects.filter(ticket__status="closed").exists()
            written = 0 if done_before else closed_targets_sql(tenant, urgent, standard)
        log(f"resolved and closed tickets: {written:,} target rows in SQL, "
            f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        record("sla_1m_setup.jsonl", {"step": "closed_sql", "rows": written,
                                      "seconds": time.perf_counter() - began})  # fmt: skip
    if sample:
        reapply_sample(tenant, sample)
    with tenant_context(tenant):
        began = time.perf_counter()
        written = open_targets_sql(tenant, urgent, standard)
        log(f"open tickets: {written:,} target rows in SQL, {time.perf_counter() - began:.1f} s")
    settle(tenant)
    analyze("sla_tickettarget", "tickets_ticket")


def settle(tenant) -> None:
    """Open tickets are old (generate.py spreads them over 400 days): most of
    their deadlines passed long ago. Mark those alerts as sent, as the
    sweeps would have done all along, so that nothing is due to start with."""
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sla_tickettarget SET"
            " alerted = CASE WHEN due_at <= now() THEN 'breached' ELSE 'at_risk' END,"
            " next_check_at = CASE WHEN due_at <= now() THEN NULL ELSE due_at END"
            " WHERE next_check_at <= now()"
        )
        log(f"settled: {cursor.rowcount:,} rows past their check marked as alerted")


def _as_task(tenant, work):
    """Run `work` as a TenantTask with atomic=False does: the tenant known,
    no transaction around it (each step opens its own tenant context)."""
    token = _current_tenant.set(tenant)
    try:
        with timezone.override(tenant.time_zone):
            return work()
    finally:
        _current_tenant.reset(token)


def reapply(tenant, reason: str) -> None:
    """The background run after a calendar edit (`sla_reapply_run`, as the
    Celery task calls it), in this process: every open ticket."""
    with tenant_context(tenant):
        total = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count()
        run = Reapply.objects.create(
            tenant=tenant, started_at=timezone.now(), reason=reason, total=total
        )
    log(f"recompute of {total:,} open tickets (sla_reapply_run) ...")
    began, cpu = time.perf_counter(), time.process_time()
    done = _as_task(tenant, lambda: sla_reapply_run(reapply_id=run.pk))
    _report_recompute(tenant, "reapply", done, began, cpu)


def reapply_sample(tenant, limit: int) -> None:
    """`sla_reapply_run`'s loop (chunks of REAPPLY_CHUNK open tickets in id
    order, a transaction each, `sla_recompute` per ticket) stopped after
    `limit` tickets: the per-ticket path's rate, without hours of it."""
    log(f"recompute of the first {limit:,} open tickets (sla_reapply_run's loop) ...")
    began, cpu = time.perf_counter(), time.process_time()

    def work():
        after, done = 0, 0
        while done < limit:
            with tenant_context(tenant):
                loaded = policies_load()
                chunk = list(
                    Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES, pk__gt=after)
                    .order_by("pk")
                    .only("pk")[: min(REAPPLY_CHUNK, limit - done)]
                )
                for ticket in chunk:
                    sla_recompute(ticket=ticket, loaded=loaded)
            done += len(chunk)
            if not chunk:
                break
            after = chunk[-1].pk
        return done

    done = _as_task(tenant, work)
    _report_recompute(tenant, "reapply_sample", done, began, cpu)


def _report_recompute(tenant, step, done, began, cpu) -> None:
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    with tenant_context(tenant):
        total = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count()
    log(f"recompute: {done:,} open tickets in {seconds:.1f} s ({done / seconds:.1f}/s, "
        f"{seconds / max(done, 1) * 1000:.1f} ms each; Python CPU {cpu:.1f} s; "
        f"load {os.getloadavg()[0]:.1f}); all {total:,} open tickets would take "
        f"{total * seconds / max(done, 1) / 60:.0f} min, 1M open {1e6 * seconds / max(done, 1) / 3600:.1f} h")  # fmt: skip
    record("sla_1m_setup.jsonl", {"step": step, "tickets": done, "seconds": seconds,
                                  "python_cpu": cpu, "open_tickets": total})  # fmt: skip


def open_targets_sql(tenant, urgent: Policy, standard: Policy) -> int:
    """Target rows of the open tickets the sample did not recompute, in SQL,
    as sla_recompute would make them (business time approximated as above):
    paused while pending or on hold, else on track, at risk or breached by
    the clock; alerts already sent for what is past (as the sweeps would
    have); then each open ticket's due time, the nearest active deadline."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sla_tickettarget (tenant_id, ticket_id, policy_id, kind, cycle,
                target_seconds, business, started_at, due_at, at_risk_at, met_at, breached_at,
                seconds_used, paused_seconds, state, alerted, next_check_at, computed_at)
            SELECT t.tenant_id, t.id, p.policy_id, k.kind, 1, p.seconds, p.business,
                t.created_at, x.due, x.risk, k.met,
                CASE WHEN (k.met IS NULL AND NOT x.paused AND x.due <= now()) OR k.met > x.due
                     THEN x.due END,
                LEAST(2000000000, extract(epoch FROM coalesce(k.met, now()) - t.created_at)
                      / CASE WHEN p.business THEN %(factor)s ELSE 1 END)::int,
                0,
                CASE WHEN k.met IS NOT NULL THEN CASE WHEN k.met > x.due THEN 'breached' ELSE 'met' END
                     WHEN x.paused THEN 'paused'
                     WHEN x.due <= now() THEN 'breached'
                     WHEN x.risk <= now() THEN 'at_risk' ELSE 'on_track' END,
                CASE WHEN k.met IS NOT NULL OR x.paused THEN ''
                     WHEN x.due <= now() THEN 'breached'
                     WHEN x.risk <= now() THEN 'at_risk' ELSE '' END,
                CASE WHEN k.met IS NOT NULL OR x.paused OR x.due <= now() THEN NULL
                     WHEN x.risk <= now() THEN x.due ELSE x.risk END,
                now()
            FROM tickets_ticket t
            CROSS JOIN LATERAL (VALUES ('first_response', t.first_response_at),
                                       ('resolution', NULL::timestamptz)) AS k(kind, met)
            JOIN sla_policytarget p ON p.policy_id = CASE WHEN t.priority = 4
                    THEN %(urgent)s ELSE %(standard)s END
                AND p.priority = t.priority AND p.kind = k.kind
            CROSS JOIN LATERAL (SELECT
                t.created_at + make_interval(secs => p.seconds
                    * CASE WHEN p.business THEN %(factor)s ELSE 1 END) AS due,
                t.created_at + make_interval(secs => p.seconds * 0.8
                    * CASE WHEN p.business THEN %(factor)s ELSE 1 END) AS risk,
                t.status IN ('pending', 'on_hold') AND k.met IS NULL AS paused) x
            WHERE t.status IN ('new', 'open', 'pending', 'on_hold')
            ON CONFLICT DO NOTHING
            """,
            {"factor": BUSINESS_FACTOR, "urgent": urgent.pk, "standard": standard.pk},
        )
        written = cursor.rowcount
        cursor.execute(
            """
            UPDATE tickets_ticket t SET due_at = d.due
            FROM (SELECT ticket_id, min(due_at) AS due FROM sla_tickettarget
                  WHERE met_at IS NULL AND state <> 'paused' AND due_at IS NOT NULL
                  GROUP BY ticket_id) d
            WHERE t.id = d.ticket_id AND t.status IN ('new', 'open')
              AND t.due_at IS DISTINCT FROM d.due
            """
        )
        log(f"open tickets: due time set on {cursor.rowcount:,} tickets in SQL")
    return written


# ---------------------------------------------------------------- sweep


def fill_index(tenant, on: bool) -> None:
    began = time.perf_counter()
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        if on:
            cursor.execute(
                "UPDATE sla_tickettarget tt SET next_check_at = now() + interval '1 day'"
                " + (tt.id % 29) * interval '1 day'"
                " WHERE tt.kind = 'resolution' AND tt.next_check_at IS NULL"
                " AND tt.ticket_id IN (SELECT id FROM tickets_ticket"
                "   WHERE status IN ('resolved', 'closed'))"
            )
        else:
            cursor.execute(
                "UPDATE sla_tickettarget tt SET next_check_at = NULL"
                " WHERE tt.next_check_at IS NOT NULL AND tt.ticket_id IN"
                " (SELECT id FROM tickets_ticket WHERE status IN ('resolved', 'closed'))"
            )
        changed = cursor.rowcount
        cursor.execute("SELECT count(*) FROM sla_tickettarget WHERE next_check_at IS NOT NULL")
        pending = cursor.fetchone()[0]
    log(f"{'filled' if on else 'emptied'}: {changed:,} rows changed in "
        f"{time.perf_counter() - began:.1f} s; rows with a check pending: {pending:,}")  # fmt: skip
    analyze("sla_tickettarget")


def make_due(tenant, due: int) -> list[int]:
    """`due` rows of open, unpaused tickets past their deadline now."""
    now = timezone.now()
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        # Anything already due from an earlier round moves out of the way.
        cursor.execute(
            "UPDATE sla_tickettarget SET next_check_at = now() + interval '40 days'"
            " WHERE next_check_at <= now() + interval '10 minutes'"
        )
        cursor.execute(
            """
            WITH chosen AS (
                SELECT tt.id FROM sla_tickettarget tt
                JOIN tickets_ticket t ON t.id = tt.ticket_id
                WHERE t.status IN ('new', 'open') AND tt.met_at IS NULL
                ORDER BY md5(tt.id::text) LIMIT %s
            )
            UPDATE sla_tickettarget tt SET due_at = %s, next_check_at = %s,
                at_risk_at = %s - interval '1 hour', state = 'at_risk', alerted = 'at_risk',
                breached_at = NULL
            FROM chosen WHERE tt.id = chosen.id
            RETURNING tt.id, tt.ticket_id, tt.kind, tt.cycle
            """,
            [due, now - timedelta(seconds=5), now - timedelta(seconds=5), now],
        )
        rows = cursor.fetchall()
        # Their breach alerts of an earlier round go, so each is new again.
        cursor.execute(
            "DELETE FROM sla_alert a USING unnest(%s::bigint[], %s::text[], %s::int[]) AS r(t, k, c)"
            " WHERE a.ticket_id = r.t AND a.kind = r.k AND a.cycle = r.c AND a.level = 'breached'",
            [[r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
        )
        work_due(kind=WORK_KIND, at=now - timedelta(seconds=5))
    analyze("sla_tickettarget")
    if len(rows) < due:
        log(f"only {len(rows)} rows could be made due")
    return [r[0] for r in rows]


def explain_sweep(tenant, out: Path) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the sweep's read, as sla_sweep sends it."""
    now = timezone.now()
    with tenant_context(tenant), connection.cursor() as cursor:
        sql, params = (
            TicketTarget.objects.filter(next_check_at__lte=now)
            .select_related("ticket", "policy")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_check_at")[:500]
            .query.sql_with_params()
        )
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    with out.open("a") as f:
        f.write(f"-- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n{sql}\n{plan}\n\n")


def sweep(tenant, due: int, rounds: int, profile: bool = False) -> None:
    with tenant_context(tenant):
        open_count = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count()
        pending = TicketTarget.objects.filter(next_check_at__isnull=False).count()
        all_tickets = Ticket.objects.count()
    log(
        f"{all_tickets:,} tickets, {open_count:,} open; {pending:,} target rows with a check pending"
    )
    for round_ in range(1, rounds + 1):
        ids = make_due(tenant, due)
        explain_sweep(tenant, RESULTS / "sla_sweep_explain_1M.txt")
        batches = []
        load = os.getloadavg()[0]
        clock = CpuClock(connection).start()
        profiler = cProfile.Profile() if profile and round_ == 1 else None
        began = time.perf_counter()
        checked = acted = 0
        while True:
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            with tenant_context(tenant), transaction.atomic():
                result = sla_sweep()
            if profiler:
                profiler.disable()
            batches.append(time.perf_counter() - start)
            checked += result["checked"]
            acted += result["acted"]
            if not result["more"]:
                break
        seconds = time.perf_counter() - began
        cpu, server_cpu = clock.read()
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        with tenant_context(tenant):
            alerts = Alert.objects.filter(level="breached", created_at__gte=timezone.now() - timedelta(minutes=30),
                                          ticket_id__in=TicketTarget.objects.filter(pk__in=ids).values("ticket_id")).count()  # fmt: skip
            start = time.perf_counter()
            with transaction.atomic():
                sla_sweep()
            empty = time.perf_counter() - start
        log(
            f"due {due:,}, round {round_}: sweep {seconds:.2f} s in {len(batches)} batches "
            f"(per batch of 500: median {statistics.median(batches):.2f} s), {checked:,} checked, "
            f"{acted:,} breaches acted on, {alerts:,} alert rows; CPU: Python {cpu:.1f} s, "
            f"Postgres {server_cpu:.1f} s; "
            f"empty sweep {empty * 1000:.0f} ms; load {load:.1f}"
        )
        record("sla_sweep_1M.jsonl", {"due": due, "round": round_, "seconds": seconds,
                                      "batches": batches, "checked": checked, "acted": acted,
                                      "alerts": alerts, "python_cpu": cpu, "postgres_cpu": server_cpu, "empty_ms": empty * 1000,
                                      "open": open_count, "pending_checks": pending,
                                      "tickets": all_tickets})  # fmt: skip


# ---------------------------------------------------------------- delay


def delay(tenant, deadlines: int, spacing: float, lead: float) -> None:
    now = timezone.now()
    # spacing 0: all of them due at the same moment (a burst).
    dues = [now + timedelta(seconds=lead + i * spacing) for i in range(deadlines)]
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT tt.id, tt.ticket_id, tt.kind, tt.cycle FROM sla_tickettarget tt
            JOIN tickets_ticket t ON t.id = tt.ticket_id
            WHERE t.status IN ('new', 'open') AND tt.met_at IS NULL
            ORDER BY md5(tt.id::text || 'delay') LIMIT %s
            """,
            [deadlines],
        )
        rows = cursor.fetchall()
        for (row_id, *_), due in zip(rows, dues, strict=False):
            cursor.execute(
                "UPDATE sla_tickettarget SET due_at = %s, next_check_at = %s, state = 'at_risk',"
                " alerted = 'at_risk', at_risk_at = %s WHERE id = %s",
                [due, due, due - timedelta(hours=1), row_id],
            )
        cursor.execute(
            "DELETE FROM sla_alert a USING unnest(%s::bigint[], %s::text[], %s::int[]) AS r(t, k, c)"
            " WHERE a.ticket_id = r.t AND a.kind = r.k AND a.cycle = r.c AND a.level = 'breached'",
            [[r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
        )
        # As sla_recompute does: the tenant's next check on the control plane.
        work_due(kind=WORK_KIND, at=dues[0])
    log(f"{len(rows)} deadlines from {dues[0]:%H:%M:%S} every {spacing:g} s; polling alerts")
    seen: dict[tuple, tuple] = {}
    keys = {(r[1], r[2], r[3]): due for r, due in zip(rows, dues, strict=False)}
    stop = dues[-1] + timedelta(seconds=180)
    while len(seen) < len(keys) and timezone.now() < stop:
        with tenant_context(tenant):
            found = Alert.objects.filter(
                level="breached", ticket_id__in=[k[0] for k in keys]
            ).values_list("ticket_id", "kind", "cycle", "created_at")
            at = timezone.now()
            for ticket_id, kind, cycle, created in found:
                key = (ticket_id, kind, cycle)
                if key in keys and key not in seen and created >= now:
                    seen[key] = (created, at)
        time.sleep(0.5)
    acted, visible = [], []
    for key, due in keys.items():
        if key in seen:
            created, at = seen[key]
            acted.append((created - due).total_seconds())
            visible.append((at - due).total_seconds())
            if len(keys) > 20:
                continue
            log(
                f"deadline {due:%H:%M:%S}: alert at +{acted[-1]:.1f} s, seen committed at +{visible[-1]:.1f} s"
            )
        elif len(keys) <= 20:
            log(f"deadline {due:%H:%M:%S}: no alert within 180 s")
    if visible:
        log(f"delay, deadline to alert recorded (seen): median {statistics.median(visible):.1f} s, "
            f"max {max(visible):.1f} s; sweep's clock: median {statistics.median(acted):.1f} s, "
            f"max {max(acted):.1f} s; {len(visible)} of {len(keys)} alerted")  # fmt: skip
    record("sla_delay_1M.jsonl", {"deadlines": len(keys), "spacing": spacing,
                                  "acted": acted, "visible": visible})  # fmt: skip


# ---------------------------------------------------------------- badges off / on

PARKED = "1970-01-01T00:00:00Z"


def badges(tenant, on: bool) -> None:
    """For an A/B of the queue pages: off hides every open ticket's SLA
    state from the queues (unmet target rows get a marker met_at, which the
    badge query skips; due times cleared, as before SLA); on puts both back
    (due time: the nearest active deadline, as `sla_recompute` sets it)."""
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        if not on:
            cursor.execute("UPDATE sla_tickettarget SET met_at = %s WHERE met_at IS NULL", [PARKED])
            parked = cursor.rowcount
            cursor.execute("UPDATE tickets_ticket SET due_at = NULL WHERE due_at IS NOT NULL")
            log(f"badges off: {parked:,} target rows parked, {cursor.rowcount:,} due times cleared")
        else:
            cursor.execute("UPDATE sla_tickettarget SET met_at = NULL WHERE met_at = %s", [PARKED])
            parked = cursor.rowcount
            cursor.execute(
                """
                UPDATE tickets_ticket t SET due_at = d.due
                FROM (SELECT ticket_id, min(due_at) AS due FROM sla_tickettarget
                      WHERE met_at IS NULL AND state <> 'paused' AND due_at IS NOT NULL
                      GROUP BY ticket_id) d
                WHERE t.id = d.ticket_id AND t.status IN ('new', 'open')
                  AND t.due_at IS DISTINCT FROM d.due
                """
            )
            log(f"badges on: {parked:,} target rows back, {cursor.rowcount:,} due times set")
    analyze("sla_tickettarget", "tickets_ticket")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "step",
        choices=[
            "setup",
            "reapply",
            "reapply-sample",
            "sweep",
            "delay",
            "badges-off",
            "badges-on",
            "settle",
        ],
    )
    parser.add_argument(
        "--sample", type=int, default=2000, help="open tickets through sla_recompute"
    )
    parser.add_argument("--tenant", default="bench1m")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-index", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile of the first round")
    parser.add_argument("--unfill-index", action="store_true")
    parser.add_argument("--deadlines", type=int, default=12)
    parser.add_argument("--spacing", type=float, default=10.0)
    parser.add_argument("--lead", type=float, default=20.0)
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    if args.step == "setup":
        setup(tenant, args.sample)
    elif args.step == "reapply":
        reapply(tenant, "bench: all open tickets")
    elif args.step == "reapply-sample":
        reapply_sample(tenant, args.sample)
    elif args.step == "sweep":
        if args.fill_index:
            fill_index(tenant, True)
        sweep(tenant, args.due, args.rounds, args.profile)
        if args.unfill_index:
            fill_index(tenant, False)
    elif args.step == "settle":
        settle(tenant)
    elif args.step in ("badges-off", "badges-on"):
        badges(tenant, args.step == "badges-on")
    else:
        delay(tenant, args.deadlines, args.spacing, args.lead)


if __name__ == "__main__":
    main()
