import os

import psycopg
import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from helpdesk import db as tenant_db
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory, add_reply
from tickets.checks import MATCHES_FUNCTION, SEARCH_TABLES, search_index_check
from tickets.models import (
    Contact,
    ContactSearch,
    Message,
    MessageSearch,
    Ticket,
    TicketCounter,
    TicketSearch,
)
from tickets.search import ticket_search
from tickets.services import ticket_update


def _search(client, tenant, query, **params):
    return client.get(reverse("tickets:search", args=[tenant.slug]), {"q": query, **params})


def test_subject_match_outranks_a_mention_in_a_message(tenant, in_tenant):
    in_subject = TicketFactory(subject="Invoice shows the wrong address", body="Please fix.")
    # Made later, so a tie would put it first.
    in_message = TicketFactory(subject="Printer jam", body="Also, the invoice came late.")
    TicketFactory(subject="Password reset", body="Cannot log in.")

    results = ticket_search(query="invoice")

    assert [hit.ticket for hit in results.hits] == [in_subject, in_message]
    assert not results.has_more


def test_a_word_in_a_reply_finds_its_ticket_once_with_a_highlighted_snippet(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Car will not start", body="Since Monday.")
        add_reply(ticket, agent, body="Check the flux capacitor first, then the battery.")
        add_reply(ticket, agent, body="The capacitor was it.")

    page = _search(login(agent), tenant, "capacitor").content.decode()

    assert page.count(f">ACME-{ticket.number}<") == 1
    assert "flux <mark>capacitor</mark> first" in page


@pytest.mark.parametrize("query", ["pat.lee@example.org", "Lee", "example.org"])
def test_requester_name_and_email_find_their_tickets(tenant, agent, login, query):
    with tenant_context(tenant):
        pat = ContactFactory(name="Pat Lee", email="pat.lee@example.org")
        ticket = TicketFactory(requester=pat, subject="Cannot print", body="Help")
        TicketFactory(subject="Other", body="Unrelated")

    page = _search(login(agent), tenant, query).content.decode()

    assert f">ACME-{ticket.number}<" in page
    assert page.count('<tr id="hit-') == 1


def test_snippet_highlights_the_match_and_escapes_everything_else(tenant, agent, login):
    with tenant_context(tenant):
        TicketFactory(
            subject="Refund <b>now</b>",
            body="I want a refund <script>alert(1)</script> <img src=x onerror=alert(2)> & more",
        )

    page = _search(login(agent), tenant, "refund").content.decode()

    assert "<mark>Refund</mark> &lt;b&gt;now&lt;/b&gt;" in page
    assert "<mark>refund</mark>" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; more" in page


@pytest.mark.parametrize("query", ["42", "ACME-42", "acme-42", " #42 "])
def test_a_ticket_number_jumps_to_the_ticket(tenant, agent, login, query):
    with tenant_context(tenant):
        TicketCounter.objects.create(tenant=tenant, last_number=41)
        ticket = TicketFactory(subject="The answer")
    assert ticket.number == 42

    response = _search(login(agent), tenant, query)

    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:detail", args=[tenant.slug, 42])


def test_a_number_with_no_ticket_is_searched_as_text(tenant, other_tenant, agent, login):
    with tenant_context(other_tenant):
        TicketFactory(subject="Globex only")  # GLX-1: not ours
    with tenant_context(tenant):
        TicketCounter.objects.create(tenant=tenant, last_number=100)
        ticket = TicketFactory(subject="Error 1 on start-up", body="See error 1.")

    response = _search(login(agent), tenant, "1")

    assert response.status_code == 200
    assert f">ACME-{ticket.number}<" in response.content.decode()


def test_another_tenants_tickets_never_appear(tenant, other_tenant, agent, outsider, login):
    with tenant_context(other_tenant):
        theirs = TicketFactory(
            subject="Refund for Globex",
            body="Refund the Globex order",
            requester=ContactFactory(name="Refund Person", email="refund@globex.example"),
        )
    with tenant_context(tenant):
        ours = TicketFactory(subject="Refund for Acme", body="Please refund")

    page = _search(login(agent), tenant, "refund").content.decode()

    assert "<mark>Refund</mark> for Acme" in page
    assert "Globex" not in page and "globex" not in page
    assert page.count('<tr id="hit-') == 1
    with tenant_context(tenant):
        assert [hit.ticket for hit in ticket_search(query="refund").hits] == [ours]
    with tenant_context(other_tenant):
        assert [hit.ticket for hit in ticket_search(query="refund").hits] == [theirs]
    # Globex's own user searching our desk is turned away before any search runs.
    assert _search(login(outsider), tenant, "refund").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type a word"),
        ("   ", "Type a word"),
        ("!!! ???", "has no words to search for"),
        ("-refund", "has no words to search for"),
        ('"" or', "has no words to search for"),
        ("zebra", "No tickets match"),
        ('foo:* & (bar | "baz', "No tickets match"),
        ("x" * 500, "No tickets match"),
    ],
)
def test_empty_or_odd_queries_get_a_clear_message(tenant, agent, login, query, message):
    with tenant_context(tenant):
        TicketFactory(subject="Refund please", body="Thanks")

    response = _search(login(agent), tenant, query)

    assert response.status_code == 200
    assert message in response.content.decode()


def test_search_page_queries_do_not_grow_with_the_results(
    tenant, agent, login, django_assert_max_num_queries
):
    client = login(agent)
    with tenant_context(tenant):
        for _ in range(3):
            TicketFactory(subject="Printer offline", body="printer again")
    with django_assert_max_num_queries(10):
        few = _search(client, tenant, "printer")
    with tenant_context(tenant):
        for _ in range(30):
            ticket = TicketFactory(subject="Printer offline", body="printer again")
            add_reply(ticket, agent, body="Turn the printer off and on.")
    with django_assert_max_num_queries(10):
        many = _search(client, tenant, "printer")
    with django_assert_max_num_queries(10):
        more = _search(client, tenant, "printer", limit="50")

    assert few.content.decode().count('<tr id="hit-') == 3
    assert many.content.decode().count('<tr id="hit-') == 25
    assert "limit=50#hit-26" in many.content.decode()
    assert more.content.decode().count('<tr id="hit-') == 33
    assert "More results" not in more.content.decode()


def test_the_search_box_is_in_the_top_bar(tenant, agent, login):
    page = login(agent).get(reverse("tickets:list", args=[tenant.slug])).content.decode()

    assert 'id="search-box"' in page
    assert f'action="{reverse("tickets:search", args=[tenant.slug])}"' in page


def _filler(tenant, count):
    """Rows that do not match, so the planner sees the match as selective."""
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(tenant=tenant, email=f"filler{n}@example.com", name=f"Filler {n}")
        for n in range(count)
    )
    tickets = Ticket.objects.bulk_create(
        Ticket(
            tenant=tenant,
            number=1000 + n,
            subject=f"Filler ticket {n}",
            requester=contact,
            created_at=now,
            updated_at=now,
        )
        for n, contact in enumerate(contacts)
    )
    Message.objects.bulk_create(
        Message(
            tenant=tenant,
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            author_contact=ticket.requester,
            body_text="Nothing to see here",
            body_html="<p>Nothing to see here</p>",
            created_at=now,
        )
        for ticket in tickets
    )


def _superuser_connection():
    """A connection to the test database as the server's superuser, for what
    the app's role may not do: unmark LEAKPROOF, log plans inside functions."""
    url = os.environ.get("HELPDESK_TEST_SUPERUSER_URL")
    if not url:
        pytest.skip(
            "needs a superuser: `make test` names its server's in HELPDESK_TEST_SUPERUSER_URL"
        )
    return psycopg.connect(url, dbname=connection.settings_dict["NAME"])


@pytest.mark.django_db(transaction=True)
def test_each_source_is_matched_through_its_gin_index_without_leakproof(tenant):
    """The search function reads the search tables as their owner, whom their
    policy does not bind, so each GIN index answers the match itself although
    ts_match_vq is not LEAKPROOF (hosted Postgres has no superuser to mark it;
    README, "Search")."""
    assert search_index_check(None, databases=["default"]) == [], "see README, 'Search'"
    statements = []

    def capture(execute, sql, params, many, context):
        if "to_tsquery(" in sql and "ts_headline" in sql:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with tenant_context(tenant):
        _filler(tenant, 1000)
        refund = TicketFactory(
            subject="Refund", body="Refund please", requester=ContactFactory(name="Refund Person")
        )
        with connection.execute_wrapper(capture):
            ticket_search(query="refund")
    sql, params = statements[0]
    indexes = ("search_ticket_idx", "search_contact_idx", "search_message_idx")
    # Upkeep is the owner's: the app's role owns no table or index (so the
    # rows above are committed, for the owner's connection to see them).
    with tenant_db.as_table_owner(), connection.cursor() as cursor:
        # New rows wait in each GIN index's pending list, which the planner
        # prices high until (auto)vacuum merges it; merge it now.
        for index in indexes:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute(
            "ANALYZE tickets_ticket_search, tickets_contact_search, tickets_message_search"
        )
    notices = []
    with _superuser_connection() as superuser:
        superuser.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary))
        # All in one transaction, rolled back: the mark comes back as it was.
        superuser.execute("ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) NOT LEAKPROOF")
        superuser.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
            superuser.execute(f"SET LOCAL auto_explain.{setting}")
        # A few hundred rows fit in a few pages: a sequential scan would win.
        superuser.execute("SET LOCAL enable_seqscan = off")
        superuser.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
        # As the app's role, which the tenant policy binds.
        superuser.execute(f"SET LOCAL ROLE {connection.settings_dict['USER']}")
        rows = superuser.execute(sql, params).fetchall()
        superuser.rollback()
    plans = "\n".join(notices)

    assert [row[0] for row in rows] == [refund.pk]
    for index in indexes:
        assert f"Bitmap Index Scan on {index}" in plans, plans
    tenant_condition = (
        "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::bigint)"
    )
    condition = f"Index Cond: ({tenant_condition} AND (search_vector @@ "
    assert plans.count(condition) == 3, plans


def _matches(query="refund"):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT source, source_id, ticket_id FROM"
            " tickets_search_matches(to_tsquery('simple', %s), 100) ORDER BY 1, 2",
            [query],
        )
        return cursor.fetchall()


def _refund_tickets(tenant):
    """A ticket whose subject, requester and message all say "refund"."""
    with tenant_context(tenant):
        requester = ContactFactory(name="Refund Person", email=f"refund@{tenant.slug}.example")
        ticket = TicketFactory(subject="Refund", body="Refund please", requester=requester)
        return ticket, requester, ticket.messages.get()


def test_the_search_function_returns_the_current_tenants_rows_only(tenant, other_tenant):
    ours = _refund_tickets(tenant)
    theirs = _refund_tickets(other_tenant)

    def expected(ticket, requester, message):
        return [
            ("m", message.pk, ticket.pk),
            ("r", requester.pk, None),
            ("s", ticket.pk, ticket.pk),
        ]

    with tenant_context(tenant):
        assert _matches() == expected(*ours)
    with tenant_context(other_tenant):
        assert _matches() == expected(*theirs)
    with transaction.atomic():
        assert _matches() == []  # no tenant set: nothing, as the policy shows nothing
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', '', true)")
        assert _matches() == []


def test_the_app_role_meets_the_policy_on_the_search_tables(tenant, other_tenant):
    ours = _refund_tickets(tenant)
    _refund_tickets(other_tenant)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT message_id FROM tickets_message_search")
        assert cursor.fetchall() == [(ours[2].pk,)]
        cursor.execute(
            "SELECT tenant_id FROM tickets_ticket_search UNION SELECT tenant_id FROM tickets_contact_search"
        )
        assert cursor.fetchall() == [(tenant.pk,)]


def test_a_temporary_table_cannot_stand_in_for_a_search_table(tenant, other_tenant):
    _, _, their_message = _refund_tickets(other_tenant)
    with tenant_context(tenant), connection.cursor() as cursor:
        # The app's role may make temporary tables; Postgres looks in pg_temp
        # first for a table named without its schema, unless told otherwise.
        cursor.execute(
            "CREATE TEMP TABLE tickets_message_search ON COMMIT DROP AS"
            " SELECT %s::bigint AS message_id, %s::bigint AS tenant_id,"
            " %s::bigint AS ticket_id, to_tsvector('simple', 'refund') AS search_vector",
            [their_message.pk, tenant.pk, their_message.ticket_id],
        )
        assert _matches() == []


def test_a_search_row_cannot_point_into_another_tenant(tenant, other_tenant):
    ticket, _, _ = _refund_tickets(tenant)
    their_ticket, _, their_message = _refund_tickets(other_tenant)
    with tenant_context(tenant):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tickets_message_search (message_id, tenant_id, ticket_id, search_vector)"
                " VALUES (%s, %s, %s, 'refund')",
                [their_message.pk, tenant.pk, ticket.pk],
            )
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE tickets_ticket_search SET tenant_id = %s WHERE ticket_id = %s",
                    [other_tenant.pk, ticket.pk],
                )


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE OR REPLACE FUNCTION tickets_search_matches(query tsquery, per_source integer)"
        " RETURNS TABLE (source text, source_id bigint, ticket_id bigint, rank real)"
        " LANGUAGE sql AS $$ SELECT 's', 1::bigint, 1::bigint, 1::real $$",
        "ALTER FUNCTION tickets_search_matches(tsquery, integer) SET search_path = public",
        "ALTER FUNCTION tickets_search_matches(tsquery, integer) OWNER TO CURRENT_USER",
        "ALTER TABLE tickets_message_search DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON tickets_message_search",
        "ALTER TABLE tickets_ticket DISABLE TRIGGER tickets_ticket_search_added",
    ],
)
def test_the_app_role_cannot_change_the_search_plumbing(db, statement):
    with pytest.raises(Exception, match="must be owner|permission denied"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_edits_and_deletions_reach_search(tenant, agent, in_tenant):
    ticket, requester, _ = _refund_tickets(tenant)
    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, subject="Invoice")
    Contact.objects.filter(pk=requester.pk).update(name="Pat Lee", email="pat@lee.example")

    assert [hit.ticket for hit in ticket_search(query="invoice").hits] == [ticket]
    assert [hit.ticket for hit in ticket_search(query="pat@lee.example").hits] == [ticket]
    # Only the message still says it.
    assert ticket_search(query="refund").hits[0].subject_html == "Invoice"
    assert ticket_search(query="person").hits == []

    with connection.cursor() as cursor:
        # The events first: they are the ticket's history, kept by design.
        for table in ("tickets_event", "tickets_message"):
            cursor.execute(f"DELETE FROM {table} WHERE ticket_id = %s", [ticket.pk])
        cursor.execute("DELETE FROM tickets_ticket WHERE id = %s", [ticket.pk])
    requester.delete()
    assert not TicketSearch.objects.exists() and not MessageSearch.objects.exists()
    assert not ContactSearch.objects.exists()


def test_only_the_search_function_reads_past_the_policy(db):
    """The search tables' policy does not bind their owner: a view, a
    materialized view or another SECURITY DEFINER function of the owner over
    them would show the app every tenant's words. Anything new of that kind
    must be thought through (README, "Search") and named here."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname FROM pg_proc p"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.prosecdef"
        )
        assert cursor.fetchall() == [("tickets_search_matches",)]
        cursor.execute(
            "SELECT DISTINCT v.relname FROM pg_depend d"
            " JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class"
            " WHERE d.refobjid = ANY(%s::regclass[]) AND v.oid <> d.refobjid",
            [SEARCH_TABLES],
        )
        assert cursor.fetchall() == []
        # Not PUBLIC's: a role given nothing else here gets nothing through it.
        cursor.execute(
            "SELECT has_function_privilege('public', %s, 'EXECUTE'),"
            " has_function_privilege(current_user, %s, 'EXECUTE')",
            [MATCHES_FUNCTION, MATCHES_FUNCTION],
        )
        assert cursor.fetchone() == (False, True)


@pytest.mark.django_db(transaction=True)
def test_the_check_warns_when_the_owner_is_forced_under_the_policy(tenant):
    assert search_index_check(None, databases=["default"]) == []
    with tenant_db.as_table_owner(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE tickets_message_search FORCE ROW LEVEL SECURITY")
    try:
        [warning] = search_index_check(None, databases=["default"])
    finally:
        with tenant_db.as_table_owner(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE tickets_message_search NO FORCE ROW LEVEL SECURITY")
    assert warning.id == "tickets.W001"
    assert "tickets_message_search forces row-level security on its owner" in warning.msg


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("print", ["Printer offline"]),
        ("PRINTER", ["Printer offline"]),
        ("offl", ["Printer offline"]),
        ('"printer offline"', ["Printer offline"]),
        ('"printer off"', []),  # a quoted phrase is matched exactly
        ("print -offline", []),
        ("scanner or printer", ["Printer offline", "Scanner jammed"]),
        ("pr", []),  # too short to match as a beginning
    ],
)
def test_words_match_by_their_beginning(tenant, in_tenant, query, found):
    TicketFactory(subject="Printer offline", body="Nothing else")
    TicketFactory(subject="Scanner jammed", body="Nothing else")
    assert sorted(hit.ticket.subject for hit in ticket_search(query=query).hits) == found


def test_a_slip_at_the_end_of_a_word_is_forgiven_and_said(tenant, agent, login):
    with tenant_context(tenant):
        TicketFactory(subject="Printer offline", body="Nothing else")
    page = _search(login(agent), tenant, "printr").content.decode()
    assert page.count('<tr id="hit-') == 1
    assert "No tickets match “printr”. Showing tickets with words starting “print”." in page


def test_the_number_of_results_is_shown(tenant, agent, login):
    with tenant_context(tenant):
        for _ in range(30):
            TicketFactory(subject="Printer offline", body="Nothing else")
    page = _search(login(agent), tenant, "printer").content.decode()
    assert "30 tickets found, the best 25 shown." in page


@pytest.mark.parametrize(
    "query", ["it's", "a\\b", "'; DROP TABLE x; --", "foo:*", "a & b | !c", "(", "<->"]
)
def test_syntax_characters_are_only_text(tenant, in_tenant, query):
    TicketFactory(subject="It's broken", body="Nothing else")
    ticket_search(query=query)  # never raises


@pytest.mark.django_db(transaction=True)
def test_the_check_fails_when_a_search_table_has_no_wall(tenant):
    with tenant_db.as_table_owner(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE tickets_contact_search DISABLE ROW LEVEL SECURITY")
    try:
        [error] = search_index_check(None, databases=["default"])
    finally:
        with tenant_db.as_table_owner(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE tickets_contact_search ENABLE ROW LEVEL SECURITY")
    assert error.id == "tickets.E001"
    assert "tickets_contact_search" in error.msg
