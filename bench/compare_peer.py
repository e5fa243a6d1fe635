#!/usr/bin/env python
"""Markdown table: our bench/results/{latency,queries}_<label>.json beside the
peer's results/{latency,queries}_<label>.json (django-helpdesk, same page names).

    python bench/compare_peer.py [--peer ../shared/bench/peer-django-helpdesk]
"""

import argparse
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = [
    ("dashboard", "agent home (peer: dashboard; ours: My tickets queue)"),
    ("list_queue_open", "one queue, open tickets, first page"),
    ("search_keyword", 'keyword search "refund"'),
    ("search_customer", "one customer's tickets"),
    ("ticket_detail", "ticket detail (random ticket)"),
    ("create_staff_post", "create ticket, staff form POST"),
    ("board_group", "ours only: kanban, one group"),
    ("queue_page_21", "ours only: group queue, 21st page (keyset)"),
]


def load(path):
    p = Path(path)
    return json.loads(p.read_text())["pages"] if p.exists() else {}


def lat(rec):
    return f"{rec['p50_ms']:,.1f} / {rec['p95_ms']:,.1f}" if rec else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--peer",
        default=os.environ.get(
            "PEER", str(HERE.parent.parent / "shared/bench/peer-django-helpdesk")
        ),
    )
    ap.add_argument("--labels", default="100k,1M")
    args = ap.parse_args()
    peer = Path(args.peer)
    print(
        "| scale | page | ours p50 / p95 ms (n) | peer p50 / p95 ms (n) | peer/ours p50 "
        "| ours SQL queries | peer SQL queries |"
    )
    print("|---|---|---|---|---|---|---|")
    for label in args.labels.split(","):
        ours_l = load(HERE / f"results/latency_{label}.json")
        ours_q = load(HERE / f"results/queries_{label}.json")
        peer_l = load(peer / f"results/latency_{label}.json")
        peer_q = load(peer / f"results/queries_{label}.json")
        for name, desc in PAGES:
            o, p = ours_l.get(name), peer_l.get(name)
            if not o and not p:
                continue
            ratio = f"{p['p50_ms'] / o['p50_ms']:,.1f}x" if o and p else "-"
            o_txt = f"{lat(o)} ({o['n']})" if o else "not measured"
            p_txt = f"{lat(p)} ({p['n']})" if p else "-"
            oq = ours_q.get(name, {}).get("queries", "-")
            pq = peer_q.get(name, {}).get("queries", "-")
            print(f"| {label} | {name}: {desc} | {o_txt} | {p_txt} | {ratio} | {oq} | {pq} |")


if __name__ == "__main__":
    main()
