"""Email intake throughput: new mails turned into tickets, and replies threaded
onto existing tickets, per second, in a tenant already holding many tickets.

Each message goes the production path minus HTTP and the broker: inbound_store
commits the raw bytes (one transaction per message, as the webhook and the
IMAP poller do), then the worker's batch step (inbound_process_pending, as
the process_inbound_batch task runs it) parses, threads and writes tickets or
follow-ups with their events until nothing is waiting. Rates are messages per
second over both steps, in one process.

    .venv/bin/python bench/bench_intake.py --tenant bench1m --new 1000 --replies 1000
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets import intake, mail, services  # noqa: E402
from tickets.events import events_handed_over_together  # noqa: E402
from tickets.models import InboundEmail, Mailbox, Ticket  # noqa: E402


def raw_mail(sender: str, subject: str, body: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: help@bench.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@client.example>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def run(tenant, mailbox, messages, batch_size: int) -> tuple[float, float, float]:
    """Messages per second: stored, processed, and both together."""
    started = time.monotonic()
    for raw in messages:
        with tenant_context(tenant):
            intake.inbound_store(mailbox=mailbox, raw=raw)
    stored = time.monotonic()
    done = []
    with events_handed_over_together():
        while True:
            with tenant_context(tenant):
                batch = intake.inbound_process_pending(limit=batch_size)
            if not batch:
                break
            done += batch
    finished = time.monotonic()
    bad = [inbound.reason for inbound in done if inbound.status != "processed"]
    assert len(done) == len(messages) and not bad, bad[:3]
    n = len(messages)
    return n / (stored - started), n / (finished - stored), n / (finished - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50, help="INTAKE_BATCH_SIZE")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        mailbox = Mailbox.objects.filter(address="help@bench.example").first()
        if mailbox is None:
            mailbox, _ = services.mailbox_create(name="Bench", address="help@bench.example")
        tickets = Ticket.objects.count()
        # Replies answer our mail to existing tickets spread over the whole tenant.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.number, c.email FROM tickets_ticket t "
                "JOIN tickets_contact c ON c.id = t.requester_id "
                "WHERE t.status <> 'closed' ORDER BY random() LIMIT %s",
                [args.replies],
            )
            targets = cursor.fetchall()
    new_mail = [
        raw_mail(f"newcustomer{i}-{uuid.uuid4().hex[:6]}@mail.example", f"Bench intake {i}",
                 "The export to CSV times out after two minutes.")
        for i in range(args.new)
    ]  # fmt: skip
    replies = [
        raw_mail(
            email, f"Re: [{tenant.ticket_prefix}-{number}] your request", "Here is the log.",
            extra=f"In-Reply-To: {mail.message_id_for(tenant.pk, number, 'root')}\r\n",
        )
        for number, email in targets
    ]  # fmt: skip
    with tenant_context(tenant):
        waiting = InboundEmail.objects.filter(status="received").count()
    assert waiting == 0, f"{waiting} stored messages already wait; a worker is running?"
    for label, messages in (("new mail", new_mail), ("replies", replies)):
        store, process, both = run(tenant, mailbox, messages, args.batch)
        print(
            f"{args.tenant} ({tickets:,} tickets before), {label}: {both:.0f}/s end to end "
            f"(store {store:.0f}/s, process {process:.0f}/s; {len(messages)} messages, "
            f"batches of {args.batch})"
        )


if __name__ == "__main__":
    main()
