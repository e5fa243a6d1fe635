"""Fill one tenant with N tickets (about four messages and six events each).

Run it with both roles' URLs in the environment (`eval "$(python3
scripts/devstack.py services)"`): the rows go in as the app's role, ANALYZE
runs as the tables' owner (MIGRATE_DATABASE_URL).

Rows are made inside Postgres with INSERT ... SELECT over generate_series, a
batch of tickets per transaction, so a million tickets take minutes, not
hours. Run against the project database:

    .venv/bin/python bench/generate.py --tenant bench --tickets 1000000
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from helpdesk.db import as_table_owner  # noqa: E402
from helpdesk.models import Membership, SupportGroup, SupportGroupMember, Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402

VOCABULARY = (
    "printer invoice refund login password reset error crash upload photo export csv "
    "timeout report calendar sync billing address vat account admin dashboard mobile app "
    "android iphone browser chrome firefox safari email notification delivery bounce spam "
    "license seat upgrade downgrade plan trial payment card declined charge double tax "
    "receipt download slow performance outage maintenance api token webhook integration "
    "slack teams sso saml okta azure google permission role access denied locked blocked "
    "database backup restore import duplicate missing data lost attachment file size pdf "
    "excel word font layout broken button page screen blank white loading spinner forever"
).split()

SUBJECTS = [
    "Cannot log in",
    "Invoice shows the wrong VAT number",
    "Refund for a double charge",
    "Export to CSV times out",
    "Password reset email never arrives",
    "App crashes when uploading a photo",
    "Sync with calendar stopped working",
    "Error 500 on the reports page",
    "Webhook deliveries failing",
    "SSO login loops back to the start page",
]


def ensure_tenant(slug: str) -> tuple[Tenant, list[int], list[int]]:
    tenant, _ = Tenant.objects.get_or_create(
        slug=slug, defaults={"name": f"Bench {slug}", "ticket_prefix": slug.upper()[:10]}
    )
    User = get_user_model()
    agents = []
    for i in range(10):
        user, created = User.objects.get_or_create(
            username=f"{slug}-agent{i}", defaults={"first_name": "Agent", "last_name": str(i)}
        )
        if created:
            user.set_password("bench-pass-2026")
            user.save()
        Membership.objects.get_or_create(
            tenant=tenant,
            user=user,
            defaults={"role": Membership.Role.ADMIN if i == 0 else Membership.Role.AGENT},
        )
        agents.append(user.pk)
    with tenant_context(tenant):
        groups = [
            SupportGroup.objects.get_or_create(tenant=tenant, name=f"Team {i}")[0].pk
            for i in range(5)
        ]
        # Every agent works in every team, so each sees the group queues.
        for group_id in groups:
            for user_id in agents:
                SupportGroupMember.objects.get_or_create(
                    tenant=tenant, group_id=group_id, user_id=user_id
                )
    return tenant, agents, groups


def run_batch(cursor, *, tenant_id, first, count, contacts, agents, groups):
    """Tickets numbered first..first+count-1 with their messages and events."""
    params = {
        "t": tenant_id,
        "first": first,
        "last": first + count - 1,
        "contacts": contacts,
        "agents": agents,
        "groups": groups,
        "subjects": SUBJECTS,
        "vocab": VOCABULARY,
    }
    # One statement per batch: each INSERT feeds the next through RETURNING,
    # so nothing is read back and the planner needs no fresh statistics.
    cursor.execute(
        """
        WITH t AS (
            INSERT INTO tickets_ticket (tenant_id, number, subject, status, priority, type, tags,
                channel, requester_id, cc_emails, group_id, assignee_id, created_at, updated_at,
                first_response_at, resolved_at, closed_at, version)
            SELECT %(t)s, g,
                (%(subjects)s::text[])[1 + g %% cardinality(%(subjects)s::text[])] || ' (' || g || ')',
                s.status,
                1 + (g * 7) %% 4,
                (ARRAY['question','incident','problem','task'])[1 + (g * 11) %% 4],
                CASE WHEN g %% 5 = 0 THEN ARRAY['vip'] ELSE ARRAY[]::varchar[] END,
                (ARRAY['email','web','portal','api','phone','chat'])[1 + (g * 13) %% 6],
                (%(contacts)s::bigint[])[1 + (g * 7919) %% cardinality(%(contacts)s::bigint[])],
                ARRAY[]::varchar[],
                (%(groups)s::bigint[])[1 + g %% cardinality(%(groups)s::bigint[])],
                CASE WHEN s.status = 'new' THEN NULL
                     ELSE (%(agents)s::bigint[])[1 + (g * 31) %% cardinality(%(agents)s::bigint[])] END,
                c.created, c.created + interval '20 hours',
                CASE WHEN s.status = 'new' THEN NULL ELSE c.created + interval '2 hours' END,
                CASE WHEN s.status IN ('resolved', 'closed') THEN c.created + interval '20 hours' END,
                CASE WHEN s.status = 'closed' THEN c.created + interval '20 hours' END,
                5
            FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
            -- Spread creation over the last 400 days, in number order.
            CROSS JOIN LATERAL (SELECT now() - interval '400 days'
                * (1 - g::float8 / (%(last)s + 1)) AS created) c
            -- Old tickets are mostly closed; the newest are the open backlog.
            CROSS JOIN LATERAL (SELECT CASE
                WHEN g > %(last)s - 2000 OR (g * 17) %% 100 < 3
                    THEN (ARRAY['new','open','pending','on_hold'])[1 + (g * 3) %% 4]
                WHEN (g * 19) %% 10 < 2 THEN 'resolved' ELSE 'closed' END AS status) s
            RETURNING id, tenant_id, number, requester_id, assignee_id, channel, status,
                created_at, updated_at
        ), m AS (
            INSERT INTO tickets_message (tenant_id, ticket_id, kind, author_user_id,
                author_contact_id, body_text, body_html, created_at)
            SELECT t.tenant_id, t.id, k.kind,
                CASE WHEN k.kind <> 'customer' THEN t.assignee_id END,
                CASE WHEN k.kind = 'customer' THEN t.requester_id END,
                b.body, '<p>' || b.body || '</p>',
                t.created_at + k.n * interval '4 hours'
            FROM t
            CROSS JOIN LATERAL (VALUES (0, 'customer'), (1, 'reply'), (2, 'customer'),
                (3, 'note')) AS k(n, kind)
            CROSS JOIN LATERAL (SELECT
                (%(vocab)s::text[])[1 + (t.number * 7 + k.n * 13) %% cardinality(%(vocab)s::text[])]
                || ' ' ||
                (%(vocab)s::text[])[1 + (t.number * 11 + k.n * 5) %% cardinality(%(vocab)s::text[])]
                || ' ' ||
                (%(vocab)s::text[])[1 + (t.number * 17 + k.n * 3) %% cardinality(%(vocab)s::text[])]
                || ' is not working since yesterday, ticket ' || t.number
                || '. Please have a look at the ' ||
                (%(vocab)s::text[])[1 + (t.number * 23 + k.n) %% cardinality(%(vocab)s::text[])]
                || ' and the ' ||
                (%(vocab)s::text[])[1 + (t.number * 29 + k.n * 7) %% cardinality(%(vocab)s::text[])]
                || '.' AS body) b
            WHERE k.kind = 'customer' OR t.assignee_id IS NOT NULL
            RETURNING id, tenant_id, ticket_id, kind, author_user_id, author_contact_id, created_at
        )
        INSERT INTO tickets_event (tenant_id, ticket_id, kind, actor_user_id, actor_contact_id,
            actor_system, reason, field, old_value, new_value, message_id, is_public,
            created_at, processed_at)
        SELECT t.tenant_id, t.id, 'created', NULL, t.requester_id, '', '', '', NULL::jsonb,
            jsonb_build_object('channel', t.channel), NULL, true, t.created_at, t.created_at
        FROM t
        UNION ALL
        SELECT m.tenant_id, m.ticket_id, 'message_added', m.author_user_id, m.author_contact_id,
            '', '', '', NULL::jsonb, jsonb_build_object('kind', m.kind), m.id, m.kind <> 'note',
            m.created_at, m.created_at
        FROM m
        UNION ALL
        SELECT t.tenant_id, t.id, 'status_changed', t.assignee_id, NULL, '', '', 'status',
            '{"value": "open", "label": "Open"}'::jsonb,
            jsonb_build_object('value', t.status, 'label', initcap(replace(t.status, '_', ' '))),
            NULL, true, t.updated_at, t.updated_at
        FROM t
        WHERE t.status NOT IN ('new', 'open')
        """,
        params,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets to add")
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--contacts", type=int, default=0, help="default: tickets / 10")
    args = parser.parse_args()

    started = time.monotonic()
    tenant, agents, groups = ensure_tenant(args.tenant)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(number), 0) FROM tickets_ticket")
        start = cursor.fetchone()[0] + 1
        wanted_contacts = args.contacts or max(100, args.tickets // 10)
        cursor.execute(
            """
            INSERT INTO tickets_contact (tenant_id, email, name, phone, created_at)
            SELECT %s, 'customer' || g || '@client' || (g %% 997) || '.example',
                   'Customer ' || g, '', now() - interval '500 days'
            FROM generate_series(1, %s) g
            ON CONFLICT DO NOTHING
            """,
            [tenant.pk, wanted_contacts],
        )
        cursor.execute("SELECT array_agg(id) FROM tickets_contact")
        contacts = cursor.fetchone()[0]

    done = 0
    while done < args.tickets:
        count = min(args.batch, args.tickets - done)
        with transaction.atomic(), tenant_context(tenant), connection.cursor() as cursor:
            # Checked row by row as they go in: a commit-time queue of
            # millions of deferred foreign-key checks is far slower.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            run_batch(
                cursor,
                tenant_id=tenant.pk,
                first=start + done,
                count=count,
                contacts=contacts,
                agents=agents,
                groups=groups,
            )
        done += count
        rate = done / (time.monotonic() - started)
        print(f"{done:>9,} tickets  ({rate:,.0f} tickets/s)", flush=True)

    with tenant_context(tenant), connection.cursor() as cursor:
        # The next ticket made through the service continues the numbering.
        cursor.execute(
            "INSERT INTO tickets_ticketcounter (tenant_id, last_number) "
            "SELECT %s, max(number) FROM tickets_ticket "
            "ON CONFLICT (tenant_id) DO UPDATE SET last_number = excluded.last_number",
            [tenant.pk],
        )
    # ANALYZE is the tables' owner's to run (MIGRATE_DATABASE_URL).
    with as_table_owner(), connection.cursor() as cursor:
        for table in ("tickets_ticket", "tickets_message", "tickets_event", "tickets_contact"):
            cursor.execute(f"ANALYZE {table}")
    elapsed = time.monotonic() - started
    print(f"added {done:,} tickets to {tenant.slug!r} in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
