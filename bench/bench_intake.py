"""Email intake throughput: new mails turned into tickets, and replies threaded
onto existing tickets, per second, in a tenant already holding many tickets.

Each message goes the production path minus HTTP and the broker: inbound_store
commits the raw bytes (one transaction per message, as the webhook and the
IMAP poller do), then the worker's batch step (inbound_process_pending, as
the process_inbound_batch task runs it) parses, threads and writes tickets or
follow-ups with their events until nothing is waiting, in one process or in
--workers processes side by side. Rates are messages per second for each step
and over both. The mail is shaped like the peer benchmark's (plain text, half
with an HTML alternative, one in ten with a small attachment).

    .venv/bin/python bench/bench_intake.py --tenant bench1m --new 1000 --replies 1000
    .venv/bin/python bench/bench_intake.py --tenant bench1m --new 2000 --workers 2

With one worker the rates are also given per CPU second of the bench process
and its Postgres backend (bench/cpu_clock.py), which a shared box moves less.
"""

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets import intake, mail, services  # noqa: E402
from tickets.events import events_handed_over_together  # noqa: E402
from tickets.models import InboundEmail, Mailbox, Ticket  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_clock import CpuClock  # noqa: E402


def raw_mail(rng, sender: str, subject: str, body: str, in_reply_to: str = "") -> bytes:
    """Mail shaped like the peer benchmark's: half of it with an HTML
    alternative, as most mail clients send, and one in ten with a small
    attachment."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@bench.example"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="client.example")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    kind = rng.random()
    if kind < 0.5:
        message.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    if kind > 0.9:
        message.add_attachment(
            b"log line\n" * 200, maintype="text", subtype="plain", filename="log.txt"
        )
    return message.as_bytes()


def drain(tenant, batch_size: int, results=None) -> list:
    """What a worker does: take batches until nothing waits."""
    done = []
    with events_handed_over_together():
        while True:
            with tenant_context(tenant):
                batch = intake.inbound_process_pending(limit=batch_size)
            if not batch:
                break
            done += [(inbound.status, inbound.reason) for inbound in batch]
    if results is not None:
        results.extend(done)
    return done


def run(tenant, mailbox, messages, batch_size: int, workers: int) -> dict:
    """Messages per second: stored, processed, and both together; with one
    worker also per CPU second of this process and its Postgres backend
    (bench/cpu_clock.py: what an otherwise idle core would give)."""
    clock = CpuClock(connection).start() if workers == 1 else None
    started = time.monotonic()
    for raw in messages:
        with tenant_context(tenant):
            intake.inbound_store(mailbox=mailbox, raw=raw)
    stored = time.monotonic()
    store_cpu = clock.read() if clock else None
    if workers == 1:
        done = drain(tenant, batch_size)
    else:
        # Worker processes side by side, as Celery's prefork pool runs them;
        # SKIP LOCKED hands each its own batches.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        with context.Manager() as manager:
            shared = manager.list()
            pool = [
                context.Process(target=drain, args=(tenant, batch_size, shared))
                for _ in range(workers)
            ]
            for process in pool:
                process.start()
            for process in pool:
                process.join()
            done = list(shared)
    finished = time.monotonic()
    total_cpu = clock.read() if clock else None
    bad = [reason for status, reason in done if status != "processed"]
    assert len(done) == len(messages) and not bad, (len(done), bad[:3])
    n = len(messages)
    rates = {
        "store": n / (stored - started),
        "process": n / (finished - stored),
        "both": n / (finished - started),
    }
    if clock:
        process_cpu = (total_cpu[0] - store_cpu[0], total_cpu[1] - store_cpu[1])
        rates.update(
            store_cpu=store_cpu,
            process_cpu=process_cpu,
            store_per_cpu=n / sum(store_cpu),
            process_per_cpu=n / sum(process_cpu),
        )
    return rates


def bench_mailbox(tenant) -> Mailbox:
    """The bench's mailbox (made on first use); call in the tenant's context."""
    mailbox = Mailbox.objects.filter(address="help@bench.example").first()
    if mailbox is None:
        mailbox, _ = services.mailbox_create(name="Bench", address="help@bench.example")
    return mailbox


def bench_messages(tenant, *, new: int, replies: int, sender_prefix: str, seed: int):
    """`new` requests from new senders, and `replies` answering our mail on
    open tickets spread over the whole tenant; call in the tenant's context."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.number, c.email FROM tickets_ticket t "
            "JOIN tickets_contact c ON c.id = t.requester_id "
            "WHERE t.status <> 'closed' ORDER BY random() LIMIT %s",
            [replies],
        )
        targets = cursor.fetchall()
    rng = random.Random(seed)
    new_mail = [
        raw_mail(rng, f"{sender_prefix}{i}-{uuid.uuid4().hex[:6]}@mail.example",
                 f"Bench intake {i}", "The export to CSV times out after two minutes.")
        for i in range(new)
    ]  # fmt: skip
    answers = [
        raw_mail(
            rng, email, f"Re: [{tenant.ticket_prefix}-{number}] your request", "Here is the log.",
            in_reply_to=mail.message_id_for(tenant.pk, number, "root"),
        )
        for number, email in targets
    ]  # fmt: skip
    return new_mail, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100, help="INTAKE_BATCH_SIZE")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default="", help="append the figures to this JSON-lines file")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        mailbox = bench_mailbox(tenant)
        tickets = Ticket.objects.count()
        new_mail, replies = bench_messages(
            tenant, new=args.new, replies=args.replies, sender_prefix="newcustomer", seed=42
        )
    with tenant_context(tenant):
        waiting = InboundEmail.objects.filter(status="received").count()
    assert waiting == 0, f"{waiting} stored messages already wait; a worker is running?"
    results = {}
    for label, messages in (("new mail", new_mail), ("replies", replies)):
        rates = run(tenant, mailbox, messages, args.batch, args.workers)
        line = (
            f"{args.tenant} ({tickets:,} tickets before), {label}: {rates['both']:.0f}/s end to "
            f"end (store {rates['store']:.0f}/s, process {rates['process']:.0f}/s; "
            f"{len(messages)} messages, batches of {args.batch}, {args.workers} worker(s))"
        )
        if "process_cpu" in rates:
            client, server = rates["process_cpu"]
            line += (
                f"; per CPU second: store {rates['store_per_cpu']:.0f}/s, process "
                f"{rates['process_per_cpu']:.0f}/s (process: {client:.1f} s here, "
                f"{server:.1f} s in Postgres)"
            )
        print(line, flush=True)
        results[label] = rates
    if args.out:
        meta = {"tenant": args.tenant, "tickets_before": tickets, "batch": args.batch,
                "workers": args.workers, "load_average_after": os.getloadavg()}  # fmt: skip
        with open(args.out, "a") as out:
            out.write(json.dumps({"meta": meta, "results": results}) + "\n")


if __name__ == "__main__":
    main()
