"""Hostile mail through the real intake code: how long each takes to store
and file, and what becomes of it.

Each mail is built in memory, stored with inbound_store (one transaction, as
the webhook and the IMAP poller do) and filed by the worker's batch step
(inbound_process_pending, as the process_inbound_batch task runs it), inside
the tenant, one mail at a time, so the time is that mail's alone. Recorded per
mail: seconds to store, to file, in all, and the CPU seconds of this
process and its Postgres backend (bench/cpu_clock.py: the box may be shared);
filed or quarantined (with the reason); the Cc addresses the ticket kept;
the notes intake added to the ticket's first message (what it left out, in
brackets).

    .venv/bin/python bench/bench_hostile_mail.py --tenant bench --rounds 3 \
        --out bench/results/hostile_mail.json
    .venv/bin/python bench/bench_hostile_mail.py --only deep_html,cc_5000
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets import intake, services  # noqa: E402
from tickets.events import events_handed_over_together  # noqa: E402
from tickets.models import InboundEmail, Mailbox  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_clock import CpuClock  # noqa: E402

MAILBOX = "help@bench.example"


def headers(kind: str, content_type: str, extra: str = "") -> str:
    tag = uuid.uuid4().hex[:10]
    return (
        f"From: Hostile Sender <hostile-{kind}-{tag}@mail.example>\r\n"
        f"To: {MAILBOX}\r\n"
        f"Subject: Bench hostile mail: {kind}\r\n"
        f"Message-ID: <{tag}.{kind}@mail.example>\r\n"
        "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        f"{extra}"
        f"Content-Type: {content_type}\r\n"
    )


def html_mail(kind: str, html: str) -> bytes:
    """A mail whose only body is this HTML (8bit, as many senders send it)."""
    return (
        headers(kind, 'text/html; charset="utf-8"')
        + "Content-Transfer-Encoding: 8bit\r\n\r\n"
        + html
        + "\r\n"
    ).encode()


def deep_html() -> bytes:
    depth = 10_000
    return html_mail(
        "deep_html",
        "<html><body>" + "<div>" * depth + "Help, nested" + "</div>" * depth + "</body></html>",
    )


def attributes_150k() -> bytes:
    attrs = " ".join(f"a{i}=1" for i in range(150_000))
    return html_mail("attributes_150k", f"<html><body><p {attrs}>Help</p></body></html>")


def table_mail(kind: str, cell: str) -> bytes:
    """10,000 rows of 20 cells."""
    rows = []
    n = 0
    for _ in range(10_000):
        rows.append("<tr>" + "".join(cell.format(n=n + i) for i in range(20)) + "</tr>\n")
        n += 20
    return html_mail(kind, "<html><body><table>" + "".join(rows) + "</table></body></html>")


def table_200k_cells() -> bytes:
    """~20 MB, ~8.6 MB of it text: each cell a line of an invoice."""
    return table_mail(
        "table_200k_cells",
        '<td class="line" style="padding:2px 4px;border:1px solid #ddd">'
        "Invoice line item with some words, #{n:07d}</td>",
    )


def table_200k_markup() -> bytes:
    """~20 MB, nearly all markup: each cell a styled number."""
    return table_mail(
        "table_200k_markup",
        '<td class="amount" style="padding:2px 4px;border:1px solid #dddddd;'
        'text-align:right">{n}</td>',
    )


def table_200k_same_word() -> bytes:
    """~20 MB of markup, every cell the same word: little distinct text."""
    return table_mail(
        "table_200k_same_word",
        '<td class="amount" style="padding:2px 4px;border:1px solid #dddddd;'
        'text-align:right">paid</td>',
    )


def unclosed_tags() -> bytes:
    """30,000 inline elements opened and never closed, text between them."""
    return html_mail(
        "unclosed_tags",
        "<html><body>" + "".join(f"<b><i>word {i} " for i in range(15_000)) + "</body></html>",
    )


def cc_5000() -> bytes:
    cc = ", ".join(f"cc{i}@copied.example" for i in range(5_000))
    return (
        headers("cc_5000", 'text/plain; charset="utf-8"', extra=f"Cc: {cc}\r\n")
        + "\r\nPlease help, and keep everyone in the loop.\r\n"
    ).encode()


def mime_1000_deep() -> bytes:
    """multipart/mixed inside multipart/mixed, 1,000 levels, text at the bottom."""
    depth = 1_000
    opening, closing = [], []
    for level in range(1, depth):
        boundary = f"b{level:04d}"
        opening.append(
            f'--b{level - 1:04d}\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        )
        closing.append(f"--{boundary}--\r\n")
    text = (
        f'--b{depth - 1:04d}\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        "Help from the bottom of the tree.\r\n"
    )
    body = "".join(opening) + text + "".join(reversed(closing)) + "--b0000--\r\n"
    return (headers("mime_1000_deep", 'multipart/mixed; boundary="b0000"') + "\r\n" + body).encode()


def attachment_30mb() -> bytes:
    """A short text and a 30 MB attachment (base64: ~40 MB of mail)."""
    import base64

    payload = base64.encodebytes(os.urandom(30 * 1024 * 1024)).replace(b"\n", b"\r\n")
    head = headers("attachment_30mb", 'multipart/mixed; boundary="outer"') + (
        '\r\n--outer\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        "The export is attached.\r\n"
        "--outer\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="export.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode() + payload + b"--outer--\r\n"


MAILS = {
    "deep_html": ("HTML nested 10,000 deep", deep_html),
    "attributes_150k": ("one tag with 150,000 attributes", attributes_150k),
    "table_200k_cells": ("table HTML, 200,000 cells of text", table_200k_cells),
    "table_200k_markup": ("table HTML, 200,000 styled numbers", table_200k_markup),
    "table_200k_same_word": ("table HTML, 200,000 cells of one word", table_200k_same_word),
    "unclosed_tags": ("30,000 unclosed tags", unclosed_tags),
    "cc_5000": ("5,000 Cc addresses", cc_5000),
    "mime_1000_deep": ("MIME nested 1,000 deep", mime_1000_deep),
    "attachment_30mb": ("30 MB attachment", attachment_30mb),
}

NOTE = re.compile(r"\[([^\[\]]{10,300})\]")


def one(tenant, mailbox, raw: bytes) -> dict:
    clock = CpuClock(connection).start()
    started = time.monotonic()
    with tenant_context(tenant):
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
    stored = time.monotonic()
    with events_handed_over_together(), tenant_context(tenant):
        done = intake.inbound_process_pending(limit=1)
    finished = time.monotonic()
    client_cpu, server_cpu = clock.read()
    assert [i.pk for i in done] == [inbound.pk], "another stored mail was waiting"
    with tenant_context(tenant):
        inbound = InboundEmail.objects.select_related("ticket", "message").get(pk=inbound.pk)
        ticket, message = inbound.ticket, inbound.message
        if ticket is not None and message is None:
            message = ticket.messages.order_by("pk").first()
        cc_kept = len(ticket.cc_emails) if ticket is not None else None
        notes = NOTE.findall(message.body_text) if message is not None else []
        files = message.attachments.count() if message is not None else None
    return {
        "mail_bytes": len(raw),
        "store_s": round(stored - started, 3),
        "process_s": round(finished - stored, 3),
        "total_s": round(finished - started, 3),
        # CPU seconds of this process and its Postgres backend (bench/cpu_clock.py)
        "cpu_s": round(client_cpu + server_cpu, 3),
        "cpu_db_s": round(server_cpu, 3),
        "outcome": "filed" if inbound.status == InboundEmail.Status.PROCESSED else inbound.status,
        "reason": inbound.reason,
        "ticket": ticket.number if ticket is not None else None,
        "cc_kept": cc_kept,
        "attachments_kept": files,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma list of: " + ", ".join(MAILS))
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(MAILS)
    tenant = Tenant.objects.get(slug=args.tenant)
    with tenant_context(tenant):
        mailbox = Mailbox.objects.filter(address=MAILBOX).first()
        if mailbox is None:
            mailbox, _ = services.mailbox_create(name="Bench", address=MAILBOX)
        waiting = InboundEmail.objects.filter(status="received").count()
        tickets = tenant_tickets()
    assert waiting == 0, f"{waiting} stored mails already wait; a worker is running?"
    # Warm-up: imports, connections, the first query plans.
    one(tenant, mailbox, html_mail("warmup", "<p>Hello</p>"))
    results = {}
    for name in names:
        label, build = MAILS[name]
        runs = []
        for _ in range(args.rounds):
            raw = build()  # a new Message-ID and sender each round
            runs.append(one(tenant, mailbox, raw))
            del raw
        totals = [r["total_s"] for r in runs]
        cpus = [r["cpu_s"] for r in runs]
        last = runs[-1]
        print(
            f"{name:<18} {label:<34} {last['mail_bytes'] / 1e6:6.1f} MB  "
            f"total {min(totals):.2f}-{max(totals):.2f} s (median "
            f"{statistics.median(totals):.2f}), CPU {min(cpus):.2f}-{max(cpus):.2f} s  "
            f"{last['outcome']}"
            + (f": {last['reason'][:100]}" if last["reason"] else "")
            + (f"  cc kept {last['cc_kept']}" if last["cc_kept"] is not None else "")
            + (f"  notes {last['notes']}" if last["notes"] else ""),
            flush=True,
        )
        results[name] = {"label": label, "runs": runs}
    if args.out:
        meta = {
            "tenant": args.tenant,
            "tickets_before": tickets,
            "rounds": args.rounds,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "settings": {
                k: getattr(settings, k)
                for k in (
                    "INBOUND_EMAIL_MAX_BYTES",
                    "INBOUND_HTML_MAX_BYTES",
                    "INBOUND_PARSE_SECONDS",
                    "TICKET_MAX_CC",
                    "ATTACHMENT_MAX_BYTES",
                )
            },
        }
        Path(args.out).write_text(json.dumps({"meta": meta, "mails": results}, indent=1) + "\n")


def tenant_tickets() -> int:
    from tickets.models import Ticket

    return Ticket.objects.count()


if __name__ == "__main__":
    main()
