"""Email intake throughput: new mails turned into tickets, and replies threaded
onto existing tickets, per second, in a tenant already holding many tickets.

Each message goes the production path minus HTTP: inbound_store (commit the
raw bytes) then inbound_process (parse, thread, write ticket or follow-up with
its events), one transaction each, as the webhook and the worker do.

    .venv/bin/python bench/bench_intake.py --tenant bench1m --new 300 --replies 300
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
from tickets.models import Mailbox, Ticket  # noqa: E402


def raw_mail(sender: str, subject: str, body: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: help@bench.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@client.example>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def run(tenant, mailbox, messages) -> float:
    started = time.monotonic()
    for raw in messages:
        with tenant_context(tenant):
            inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
        with tenant_context(tenant):
            inbound = intake.inbound_process(inbound=inbound)
        assert inbound.status == "processed", inbound.reason
    return len(messages) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--replies", type=int, default=300)
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
    new_rate = run(tenant, mailbox, new_mail)
    reply_rate = run(tenant, mailbox, replies)
    print(
        f"{args.tenant}: {tickets:,} tickets before; "
        f"new mail {new_rate:.0f}/s ({args.new}), replies {reply_rate:.0f}/s ({len(replies)})"
    )


if __name__ == "__main__":
    main()
