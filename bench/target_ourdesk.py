"""Target module for the peer harness (../shared/bench/peer-django-helpdesk):
our help desk, one tenant, one agent.

The peer's bench_http.py and count_queries.py import this module by name
(--target target_ourdesk) and use discover(), login(client), PAGES and
STAFF_USER, exactly as they use their target_helpdesk.py. Every page function
does what one agent page view costs and returns [(component, response)].

Mapping of the peer's workload onto our product:

  dashboard          -> the agent's home: the "My tickets" queue page
  list_queue_open    -> a group queue (open tickets, default "most urgent" order,
                        first page of 50 rows; rows are in the HTML, no AJAX call)
  search_keyword     -> /<t>/search/?q=refund (skipped when that URL does not exist)
  search_rare        -> /<t>/search/?q=customer4242@client254.example: a rare term
                        (one customer's address, ~10 tickets; a bare ticket number
                        would redirect to the ticket; not a peer page)
  search_customer    -> the All queue filtered by one requester's email, every
                        status (the peer's customer search finds closed tickets too)
  ticket_detail      -> a random ticket page
  create_staff_post  -> POST /<t>/tickets/new/
Our own extra pages:
  board_group        -> the kanban for one group
  queue_page_21      -> the same group queue after following "Next page" 20 times
                        (the 21st page is timed; the cursor is found once per client)
  portal_ticket      -> a customer's portal page of a random ticket, opened by its
                        link without an account (links issued beforehand by
                        bench/portal_links.py into the file BENCH_PORTAL_LINKS)

Environment: BENCH_TENANT (default "bench"), BENCH_AGENT (default
"<tenant>-agent0", an admin, so the All queue is visible), BENCH_PASSWORD,
BENCH_GROUP (group name, default "Team 0"), BENCH_SEARCH_TERM (default
"refund"), BENCH_SEARCH_RARE (default "customer4242@client254.example"),
BENCH_DATABASE_URL or DATABASE_URL (for discover()), and
BENCH_BASE_URL (only to probe whether search exists when Django is not loaded),
BENCH_PORTAL_LINKS (JSON file of {"number", "token"} from bench/portal_links.py).
"""

import html
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

TENANT = os.environ.get("BENCH_TENANT", "bench")
STAFF_USER = os.environ.get("BENCH_AGENT", f"{TENANT}-agent0")
STAFF_PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-pass-2026")
GROUP_NAME = os.environ.get("BENCH_GROUP", "Team 0")
SEARCH_TERM = os.environ.get("BENCH_SEARCH_TERM", "refund")
RARE_TERM = os.environ.get("BENCH_SEARCH_RARE", "customer4242@client254.example")
DEEP_PAGES = int(os.environ.get("BENCH_DEEP_PAGES", "20"))  # "Next page" clicks before timing
BASE_URL = os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:8042")
T = f"/{TENANT}"
ALL_STATUSES = ["new", "open", "pending", "on_hold", "resolved", "closed"]

_CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_NEXT_RE = re.compile(r'href="\?([^"]*\bafter=[^"]*)"')
_SKIPPED = []


def _dsn():
    # The checkout's own Postgres (scripts/devstack.py services) when no URL is given.
    socket = Path(__file__).resolve().parent.parent / ".data" / "postgres"
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", f"postgresql://helpdesk@/helpdesk?host={socket}"
    )


def _search_exists():
    """Is /<t>/search/ a URL of this checkout? In-process (count_queries.py,
    Django loaded) ask the URL resolver; otherwise ask the server anonymously:
    an existing tenant URL redirects to the login page, a missing one is 404."""
    if "django.conf" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.urls import Resolver404, resolve

            try:
                resolve(f"{T}/search/")
                return True
            except Resolver404:
                return False
    try:
        # BASE_URL is the local bench server (http://127.0.0.1:...).
        urllib.request.urlopen(f"{BASE_URL}{T}/search/?q=x", timeout=30).close()  # noqa: S310
        return True
    except urllib.error.HTTPError as err:
        return err.code != 404


def discover():
    """Ids the workload needs, read from our database inside the tenant's RLS scope.
    Also drops the search page from PAGES when this checkout has no search."""
    import psycopg

    with psycopg.connect(_dsn(), autocommit=True) as c:
        tenant_id = c.execute("select id from helpdesk_tenant where slug=%s", (TENANT,)).fetchone()[
            0
        ]
        with c.transaction():
            c.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            group_id = c.execute(
                "select id from helpdesk_supportgroup where name=%s", (GROUP_NAME,)
            ).fetchone()[0]
            lo, hi = c.execute("select min(number), max(number) from tickets_ticket").fetchone()
            # One customer: the requester of a recent ticket (about 10 tickets each,
            # mostly closed), like the peer's single customer.
            email, n_cust = c.execute(
                """select c.email, (select count(*) from tickets_ticket t2
                                    where t2.requester_id = c.id)
                   from tickets_ticket t join tickets_contact c on c.id = t.requester_id
                   where t.number = %s""",
                (hi - 100,),
            ).fetchone()
            n = c.execute(
                "select reltuples::bigint from pg_class where relname='tickets_ticket'"
            ).fetchone()[0]
    if ("search_keyword" in PAGES or "search_rare" in PAGES) and not _search_exists():
        for name in ("search_keyword", "search_rare"):
            if PAGES.pop(name, None):
                _SKIPPED.append(name)
    return {
        "tenant": TENANT,
        "tenant_id": tenant_id,
        "agent": STAFF_USER,
        "group_id": group_id,
        "ticket_min": lo,
        "ticket_max": hi,
        "tickets_estimate_all_tenants": n,
        "customer_email": email,
        "customer_tickets": n_cust,
        "skipped_pages": _SKIPPED,
    }


def login(client):
    """Form login at /accounts/login/, like a browser."""
    r = client.get("/accounts/login/")
    m = _CSRF_RE.search(r.text)
    token = m.group(1) if m else client.csrf()
    r = client.post(
        "/accounts/login/",
        {
            "username": STAFF_USER,
            "password": STAFF_PASSWORD,
            "csrfmiddlewaretoken": token,
            "next": f"{T}/queues/",
        },
    )
    if r.status not in (302, 303):
        raise RuntimeError(f"login failed: {r.status}")


def _ok(name, r):
    if r.status != 200:
        raise RuntimeError(f"{name}: HTTP {r.status} {r.text[:300]}")
    return [("html", r)]


def page_dashboard(client, rng, ctx):
    return _ok("dashboard", client.get(f"{T}/queues/mine/"))


def page_list_queue_open(client, rng, ctx):
    return _ok("list_queue_open", client.get(f"{T}/queues/group-{ctx['group_id']}/"))


def page_search_keyword(client, rng, ctx):
    return _ok("search_keyword", client.get(f"{T}/search/", {"q": SEARCH_TERM}))


def page_search_rare(client, rng, ctx):
    return _ok("search_rare", client.get(f"{T}/search/", {"q": RARE_TERM}))


def page_search_customer(client, rng, ctx):
    params = [("requester", ctx["customer_email"])] + [("status", s) for s in ALL_STATUSES]
    return _ok("search_customer", client.get(f"{T}/queues/all/", params))


def page_ticket_detail(client, rng, ctx):
    number = rng.randint(ctx["ticket_min"], ctx["ticket_max"])
    return _ok("ticket_detail", client.get(f"{T}/tickets/{number}/"))


def page_create_staff(client, rng, ctx):
    n = rng.randint(1, 10**9)
    g = rng.randint(1, 10000)  # an existing customer, as bench/generate.py names them
    r = client.post(
        f"{T}/tickets/new/",
        {
            "csrfmiddlewaretoken": client.csrf(),
            "requester_email": f"customer{g}@client{g % 997}.example",
            "requester_name": "Bench Customer",
            "subject": f"Bench ticket {n}: printer offline",
            "body": "Customer called: the printer in room 4 is offline again. Tried a restart.",
            "channel": "phone",
            "priority": "2",
            "type": "incident",
        },
    )
    if r.status not in (302, 303):
        raise RuntimeError(f"staff create failed: {r.status} {r.text[:300]}")
    return [("post", r)]


def page_board_group(client, rng, ctx):
    return _ok("board_group", client.get(f"{T}/board/", {"group": ctx["group_id"]}))


def page_queue_page_21(client, rng, ctx):
    """Time the (DEEP_PAGES+1)th page of the group queue. The first call walks
    the "Next page" links (untimed) and keeps the URL for this client."""
    base = f"{T}/queues/group-{ctx['group_id']}/"
    key = f"deep_url_{id(client)}"
    if key not in ctx:
        query = None
        for i in range(DEEP_PAGES):
            r = client.get(base + (f"?{query}" if query else ""))
            m = _NEXT_RE.search(r.text)
            if not m:
                raise RuntimeError(f"queue has only {i + 1} pages")
            query = html.unescape(m.group(1))
        ctx[key] = f"{base}?{query}"
        ctx["deep_query"] = query
    return _ok("queue_page_21", client.get(ctx[key]))


_PORTAL_LINKS = []  # not in ctx: the harness writes ctx into the results


def _portal_links():
    if _PORTAL_LINKS:
        return _PORTAL_LINKS
    path = os.environ.get("BENCH_PORTAL_LINKS")
    if not path:
        raise RuntimeError("portal_ticket: set BENCH_PORTAL_LINKS (bench/portal_links.py)")
    with open(path) as f:
        _PORTAL_LINKS.extend(json.load(f))
    return _PORTAL_LINKS


def page_portal_ticket(client, rng, ctx):
    """A customer opens their ticket from the link in a mail (no account;
    the anonymous client of the harness)."""
    link = rng.choice(_portal_links())
    return _ok("portal_ticket", client.get(f"/portal/{TENANT}/t/{link['number']}/{link['token']}/"))


# name -> (function, who)
PAGES = {
    "dashboard": (page_dashboard, "staff"),
    "list_queue_open": (page_list_queue_open, "staff"),
    "search_keyword": (page_search_keyword, "staff"),
    "search_rare": (page_search_rare, "staff"),
    "search_customer": (page_search_customer, "staff"),
    "ticket_detail": (page_ticket_detail, "staff"),
    "create_staff_post": (page_create_staff, "staff"),
    "board_group": (page_board_group, "staff"),
    "queue_page_21": (page_queue_page_21, "staff"),
    "portal_ticket": (page_portal_ticket, "anon"),
}


def throughput_urls(client, ctx):
    """For bench_throughput.py (wrk): the group queue page."""
    return {"list_html": f"{T}/queues/group-{ctx['group_id']}/"}
