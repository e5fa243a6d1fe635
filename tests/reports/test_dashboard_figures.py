"""The dashboard's figures against values worked out by hand, the tickets
behind them, and the facts' incremental path against a rebuild."""

from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import tenant_context
from reports import rollup, selectors
from reports.models import DailyDuration, DailyVolume, HourlyVolume, TicketFact
from reports.services import fact_refresh, facts_rebuild
from sla.models import Calendar, Policy
from tests.factories import TicketFactory, UserFactory, add_reply
from tests.sla.conftest import BUSINESS_HOURS, make_policy, run_handlers
from tickets import services
from tickets.extensions import SystemActor, system_actors
from tickets.models import Message, PortalSettings, Ticket
from tickets.portal.services import rating_record

D = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
ROUTER = "reports-test"


@pytest.fixture(autouse=True)
def _a_router():
    """A system that assigns tickets, as routing does."""
    with system_actors.temporarily(SystemActor(name=ROUTER, label="Router")):
        yield


@contextmanager
def at(moment):
    with mock.patch("django.utils.timezone.now", lambda: moment):
        yield


def _refresh(ticket):
    fact_refresh(ticket_id=ticket.pk)


def _status(ticket, agent, status, moment):
    with at(moment):
        ticket.refresh_from_db()
        services.ticket_update(ticket=ticket, actor=agent, expected_version=None, status=status)
    _refresh(ticket)


@pytest.fixture
def history(tenant, agent):
    """Four tickets whose figures are worked out by hand in the tests."""
    with tenant_context(tenant):
        first, second = (SupportGroup.objects.create(tenant=tenant, name=n) for n in "AB")
        with at(D):
            t1 = TicketFactory(subject="One", assignee=agent, actor=agent)
            t2 = TicketFactory(subject="Two")
        with at(D + timedelta(hours=1)):
            t3 = TicketFactory(subject="Three", group=first)
        with at(D - timedelta(days=40)):
            t4 = TicketFactory(subject="Four, old and waiting")
        for t in (t1, t2, t3, t4):
            _refresh(t)
        # One: first reply after 90 minutes, solved after 3 hours.
        with at(D + timedelta(minutes=90)):
            add_reply(t1, agent)
        _refresh(t1)
        _status(t1, agent, Ticket.Status.RESOLVED, D + timedelta(hours=3))
        # Two: first reply after 10 minutes (a note before it does not count),
        # solved the next day, reopened, solved again two days after creation.
        with at(D + timedelta(minutes=5)):
            add_reply(t2, agent, kind=Message.Kind.NOTE)
        with at(D + timedelta(minutes=10)):
            add_reply(t2, agent)
        _refresh(t2)
        _status(t2, agent, Ticket.Status.RESOLVED, D + timedelta(days=1))
        _status(t2, agent, Ticket.Status.OPEN, D + timedelta(days=1, hours=1))
        _status(t2, agent, Ticket.Status.RESOLVED, D + timedelta(days=2))
        # Three: routing assigns it, then it moves from group A to group B.
        with at(D + timedelta(hours=1, minutes=5)):
            t3.refresh_from_db()
            services.ticket_system_update(
                ticket=t3, source=ROUTER, reason="Least loaded", assignee=agent
            )
            t3.refresh_from_db()
            services.ticket_update(ticket=t3, actor=agent, expected_version=None, group=second)
        _refresh(t3)
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "groups": (first, second)}


def _period(**filters):
    """1 to 5 March in Berlin: the tenant's days around D."""
    return selectors.Filters(
        first_day=D.date() - timedelta(days=1), last_day=D.date() + timedelta(days=3), **filters
    )


# Percentiles are read from duration buckets: within 5% of the true time.
WITHIN_BUCKET = 0.05


def test_the_periods_figures_match_the_hand_worked_values(tenant, history):
    with tenant_context(tenant):
        figures = selectors.dashboard(_period(), now=D + timedelta(days=3, hours=3))
    assert figures.new == 3  # Four was created 40 days earlier
    assert figures.solved == 2
    assert figures.reopened_share == 0.5  # Two was reopened once
    # First replies: 90 and 10 minutes. The median is the middle ticket's
    # time (of two, the lower); the 90th percentile the time 90% fell within.
    assert figures.first_replies == 2
    assert figures.first_reply_median == pytest.approx(600, rel=WITHIN_BUCKET)
    assert figures.first_reply_p90 == pytest.approx(5400, rel=WITHIN_BUCKET)
    # Resolution: 3 hours, and 2 days to the resolution that stood.
    assert figures.resolution_median == pytest.approx(10800, rel=WITHIN_BUCKET)
    assert figures.resolution_p90 == pytest.approx(172800, rel=WITHIN_BUCKET)
    # One assigned by an agent at creation, Three by routing.
    assert figures.assigned == 2
    assert figures.routed_share == 0.5
    # Open: Three (assigned, 3 days old) and Four (nobody's, 43 days old).
    assert figures.backlog == 2
    assert figures.unassigned == 1
    assert figures.backlog_by_status == {"open": 1, "new": 1}
    assert dict(figures.backlog_by_age) == {
        "Under a day": 0,
        "1 to 3 days": 0,
        "3 to 7 days": 1,
        "1 to 4 weeks": 0,
        "Over 4 weeks": 1,
    }


def _office(tenant):
    """Berlin office hours, Monday to Friday 9 to 12 and 13 to 17."""
    return Calendar.objects.get_or_create(
        tenant=tenant,
        name="Office",
        defaults={"time_zone": "Europe/Berlin", "hours": BUSINESS_HOURS},
    )[0]


@pytest.fixture
def sla_history(tenant, agent):
    """Two tickets under a business-hours policy (first response within 1
    hour, resolution within 8), kept by the event handlers as the worker
    runs them, rated on the 1-to-5 scale. D is Monday 10:00 in Berlin."""
    with tenant_context(tenant):
        make_policy(_office(tenant), hours=(1, 2, 8))
        PortalSettings.objects.create(tenant=tenant, rating_scale="five")

        def step(moment, action):
            with at(moment):
                result = action()
                run_handlers()
            return result

        def status(ticket, value):
            ticket.refresh_from_db()
            services.ticket_update(ticket=ticket, actor=agent, expected_version=None, status=value)

        s1 = step(D, lambda: TicketFactory(subject="Paused", assignee=agent, actor=agent))
        s2 = step(
            D + timedelta(hours=1),
            lambda: TicketFactory(subject="Late", assignee=agent, actor=agent),
        )
        # Paused: waits on the customer 10:10 to 11:10, first reply 11:30,
        # solved 15:00 (the lunch hour 12 to 13 is closed).
        step(D + timedelta(minutes=10), lambda: status(s1, "pending"))
        step(D + timedelta(minutes=70), lambda: status(s1, "open"))
        step(D + timedelta(minutes=90), lambda: add_reply(s1, agent))
        step(D + timedelta(hours=5), lambda: status(s1, "resolved"))
        # Late: created 11:00, first reply Tuesday 10:00 (the first response
        # fell due Monday at noon), solved Tuesday 11:00.
        step(D + timedelta(hours=24), lambda: add_reply(s2, agent))
        step(D + timedelta(hours=25), lambda: status(s2, "resolved"))
        for ticket, score, hours in ((s1, 5, 6), (s2, 2, 26)):
            ticket.refresh_from_db()
            step(
                D + timedelta(hours=hours),
                lambda t=ticket, n=score: rating_record(ticket=t, email=t.requester.email, score=n),
            )
    return {"s1": s1, "s2": s2}


def test_sla_business_time_and_satisfaction_match_the_hand_worked_values(
    tenant, agent, sla_history
):
    with tenant_context(tenant):
        figures = selectors.dashboard(_period(), now=D + timedelta(days=3))
        # The same figures from the agent's slice of the rollups, and read
        # from the facts (agent and priority together: no slice is kept by
        # both). Both tickets are the agent's, at the same priority.
        by_agent = selectors.dashboard(_period(assignee_id=agent.pk), now=D + timedelta(days=3))
        priority = sla_history["s1"].priority
        from_facts = selectors.dashboard(
            _period(assignee_id=agent.pk, priority=priority), now=D + timedelta(days=3)
        )
    # Calendar time: first replies after 90 minutes and 23 hours; solved after
    # 5 hours and 24 hours.
    assert figures.first_reply.count == 2
    assert figures.first_reply.median == pytest.approx(5400, rel=WITHIN_BUCKET)
    assert figures.first_reply.p90 == pytest.approx(82800, rel=WITHIN_BUCKET)
    assert figures.resolution.median == pytest.approx(18000, rel=WITHIN_BUCKET)
    assert figures.resolution.p90 == pytest.approx(86400, rel=WITHIN_BUCKET)
    # Business time, the SLA clock's: Paused's first reply 90 minutes less the
    # hour it waited = 30 min; its resolution 10:00-15:00 less lunch and the
    # wait = 3 h. Late's first reply: Monday 11-12 and 13-17, Tuesday 9-10 =
    # 6 h; its resolution 7 h.
    assert figures.first_reply_business.count == 2
    assert figures.first_reply_business.median == pytest.approx(1800, rel=WITHIN_BUCKET)
    assert figures.first_reply_business.p90 == pytest.approx(21600, rel=WITHIN_BUCKET)
    assert figures.resolution_business.median == pytest.approx(10800, rel=WITHIN_BUCKET)
    assert figures.resolution_business.p90 == pytest.approx(25200, rel=WITHIN_BUCKET)
    # SLA: Paused met both targets; Late breached its first response and met
    # its resolution (7 of 8 business hours).
    sla = {target.kind: (target.met, target.breached, target.met_share) for target in figures.sla}
    assert sla == {"first_response": (1, 1, 0.5), "resolution": (2, 0, 1.0)}
    # Ratings: 5 (good) and 2 (not good) of five.
    assert (figures.ratings, figures.ratings_good, figures.good_share) == (2, 1, 0.5)
    assert figures.mean_score == 3.5
    assert by_agent == figures
    assert from_facts == figures
    with tenant_context(tenant):
        fact = TicketFact.objects.get(ticket=sla_history["s2"])
    # The breach counts on the day the target fell due, Monday.
    assert fact.sla_first_response_day == D.date()


def test_the_tickets_behind_the_new_figures(tenant, sla_history, admin_user, login):
    client = login(admin_user)
    query = "?period=90"

    def listed(metric):
        url = reverse("reports:tickets", args=[tenant.slug, metric]) + query
        page = client.get(url).content.decode()
        return {name for name in ("Paused", "Late") if name in page}

    with at(D + timedelta(days=3)):
        assert listed("sla-first-response-breached") == {"Late"}
        assert listed("sla-first-response-met") == {"Paused"}
        assert listed("sla-resolution-met") == {"Paused", "Late"}
        assert listed("rated-good") == {"Paused"}
        assert listed("rated") == {"Paused", "Late"}
        assert listed("replied-business") == {"Paused", "Late"}
        response = client.get(reverse("reports:dashboard", args=[tenant.slug]) + query)
    page = response.content.decode()
    for metric in ("sla-first-response-breached", "rated-good", "solved-business", "routed"):
        assert reverse("reports:tickets", args=[tenant.slug, metric]) in page
    assert "3.5 of 5" in page


def test_the_organisation_filter_narrows_the_figures(tenant, sla_history, admin_user, login):
    from tickets.models import Organization

    with tenant_context(tenant):
        org = Organization.objects.create(tenant=tenant, name="Initech")
        s1 = sla_history["s1"]
        s1.requester.organization = org
        s1.requester.save()
        fact_refresh(ticket_id=s1.pk)
        figures = selectors.dashboard(_period(organization_id=org.pk), now=D + timedelta(days=3))
    assert (figures.new, figures.solved, figures.ratings) == (1, 1, 1)
    with at(D + timedelta(days=3)):
        response = login(admin_user).get(
            reverse("reports:tickets", args=[tenant.slug, "new"])
            + f"?period=90&organization={org.pk}"
        )
    page = response.content.decode()
    assert "Paused" in page and "Late" not in page


def test_filters_narrow_the_figures(tenant, history):
    first, second = history["groups"]
    with tenant_context(tenant):
        in_b = selectors.dashboard(_period(group_id=second.pk))
        in_a = selectors.dashboard(_period(group_id=first.pk))
    assert (in_b.new, in_b.backlog, in_b.routed_share) == (1, 1, 1.0)
    assert (in_a.new, in_a.backlog) == (0, 0)
    with tenant_context(tenant):
        fact = TicketFact.objects.get(ticket=history["t3"])
    assert fact.group_moves == 1


def test_the_trend_counts_a_reopened_ticket_on_the_day_it_was_finally_solved(tenant, history):
    with tenant_context(tenant):
        days = selectors.trend(_period(), first_day=D.date(), last_day=D.date() + timedelta(days=2))
        by_agent = selectors.trend(
            _period(assignee_id=history["t1"].assignee_id),
            first_day=D.date(),
            last_day=D.date() + timedelta(days=2),
        )
    assert [(d.created, d.solved) for d in days] == [(3, 1), (0, 0), (0, 1)]
    # Read from the facts (the daily volumes are not kept per agent): One and
    # Three are the agent's; Two has nobody.
    assert [(d.created, d.solved) for d in by_agent] == [(2, 1), (0, 0), (0, 0)]


def test_rebuilding_from_events_gives_the_rows_the_handler_kept(tenant, history):
    with tenant_context(tenant):
        kept = _snapshot()
        facts_rebuild(chunk=2)
        assert _snapshot() == kept


def _snapshot(*, folded_to=True):
    """The facts and rollups, comparable. `folded_to`: with each fact's last
    event folded in (a handler that skips an event no figure needs, a note,
    leaves it behind; the figures are the same)."""
    facts = sorted(
        TicketFact.objects.values_list(
            "ticket_id",
            "status",
            "group_id",
            "assignee_id",
            "first_reply_seconds",
            "resolution_seconds",
            "resolved_day",
            "reopens",
            "public_replies",
            "group_moves",
            "assigned_by_system",
            *(["last_event_id"] if folded_to else []),
            "first_reply_day",
            "first_reply_business_seconds",
            "resolution_business_seconds",
            "sla_first_response",
            "sla_first_response_day",
            "sla_resolution",
            "sla_resolution_day",
            "rating_scale",
            "rating_score",
            "rating_good",
            "rated_day",
        )
    )
    dims = ("day", *rollup.KEY_COLUMNS)
    volumes = sorted(
        (v for v in DailyVolume.objects.values_list(*dims, *rollup.COUNTS) if any(v[len(dims) :])),
        key=repr,
    )
    durations = sorted(
        DailyDuration.objects.filter(count__gt=0).values_list(*dims, "measure", "bucket", "count"),
        key=repr,
    )
    hours = sorted(
        HourlyVolume.objects.filter(created__gt=0).values_list(
            "day", "hour", *rollup.HOUR_KEYS, "created"
        ),
        key=repr,
    )
    return facts, volumes, durations, hours


def test_the_handler_folds_each_event_once_even_when_run_twice(tenant, history, agent):
    t1 = history["t1"]
    with tenant_context(tenant):
        before = TicketFact.objects.get(ticket=t1)
        fact_refresh(ticket_id=t1.pk)
        fact_refresh(ticket_id=t1.pk)
        after = TicketFact.objects.get(ticket=t1)
    assert (after.public_replies, after.last_event_id) == (
        before.public_replies,
        before.last_event_id,
    )


ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 2),  # which ticket
        st.sampled_from(
            ["reply", "note", "resolve", "reopen", "assign", "route", "group", "pending", "rate"]
        ),
        st.integers(1, 60 * 36),  # minutes later
    ),
    max_size=14,
)


@hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(actions=ACTIONS)
def test_any_history_rebuilds_to_the_rows_the_handler_kept(tenant, agent, actions):
    """Random histories, under a business-hours SLA with pauses and ratings,
    kept by the event handlers as the worker runs them (SLA's first), give
    the rows a rebuild from scratch gives."""
    with tenant_context(tenant):
        groups = [SupportGroup.objects.get_or_create(tenant=tenant, name=n)[0] for n in "XY"]
        if not Policy.objects.exists():
            make_policy(_office(tenant), hours=(1, 2, 8))
        moment = D
        with at(moment):
            tickets = [TicketFactory(subject=f"T{i}") for i in range(3)]
            run_handlers()
        for which, action, minutes in actions:
            moment += timedelta(minutes=minutes)
            ticket = tickets[which]
            ticket.refresh_from_db()
            with at(moment):
                if action in ("reply", "note") and ticket.status != Ticket.Status.CLOSED:
                    kind = Message.Kind.REPLY if action == "reply" else Message.Kind.NOTE
                    add_reply(ticket, agent, kind=kind)
                elif action == "resolve" and ticket.status != Ticket.Status.RESOLVED:
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, status="resolved"
                    )
                elif action == "reopen" and ticket.status == Ticket.Status.RESOLVED:
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, status="open"
                    )
                elif action == "assign":
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, assignee=agent
                    )
                elif action == "route" and ticket.assignee_id is None:
                    services.ticket_system_update(
                        ticket=ticket, source=ROUTER, reason="test", assignee=agent
                    )
                elif action == "group":
                    services.ticket_update(
                        ticket=ticket,
                        actor=agent,
                        expected_version=None,
                        group=groups[minutes % 2],
                    )
                elif action == "pending" and ticket.status == Ticket.Status.OPEN:
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, status="pending"
                    )
                elif action == "rate" and ticket.status == Ticket.Status.RESOLVED:
                    with suppress(ValidationError):  # past the window to change it
                        rating_record(
                            ticket=ticket, email=ticket.requester.email, score=minutes % 2
                        )
                run_handlers()
        kept = _snapshot(folded_to=False)
        facts_rebuild()
        _assert_same(_snapshot(folded_to=False), kept)


def _assert_same(rebuilt, kept):
    """Equal, or a message naming only the rows that differ."""
    for name, new, old in zip(
        ("facts", "volumes", "durations", "hours"), rebuilt, kept, strict=True
    ):
        assert [r for r in new if r not in old] == [r for r in old if r not in new], name


def test_only_managers_and_up_see_the_dashboard(tenant, history, agent, login):
    manager = UserFactory()
    Membership.objects.create(tenant=tenant, user=manager, role=Membership.Role.MANAGER)
    url = reverse("reports:dashboard", args=[tenant.slug])
    assert login(agent).get(url).status_code == 403
    response = login(manager).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Dashboard" in page and "Open tickets" in page
    # The top bar offers it to managers, not to agents.
    assert f'href="/{tenant.slug}/reports/"' in page


def test_the_dashboard_names_statuses_and_an_empty_satisfaction_in_words(
    tenant, history, agent, admin_user, login
):
    with tenant_context(tenant):
        ticket = history["t4"]
        ticket.refresh_from_db()
        services.ticket_update(
            ticket=ticket, actor=agent, expected_version=None, status=Ticket.Status.ON_HOLD
        )
        _refresh(ticket)
    page = login(admin_user).get(reverse("reports:dashboard", args=[tenant.slug])).content.decode()
    assert '<span class="status status-on_hold">On hold</span>' in page
    assert "Onhold" not in page
    # No ratings yet: said in words, not a lone dash that links nowhere useful.
    assert '<span class="tile-none">No ratings</span>' in page


def test_a_number_links_to_the_tickets_behind_it(tenant, history, admin_user, login):
    client = login(admin_user)
    response = client.get(reverse("reports:tickets", args=[tenant.slug, "unassigned"]))
    page = response.content.decode()
    assert "Four, old and waiting" in page
    assert "Three" not in page  # assigned
    response = client.get(reverse("reports:tickets", args=[tenant.slug, "nonsense"]))
    assert response.status_code == 404


def test_a_managers_home_is_the_dashboard_and_queues_stay_one_click_away(tenant, login):
    manager = UserFactory()
    Membership.objects.create(tenant=tenant, user=manager, role=Membership.Role.MANAGER)
    client = login(manager)
    assert client.get(f"/{tenant.slug}/")["Location"] == reverse(
        "reports:dashboard", args=[tenant.slug]
    )
    assert client.get(reverse("tickets:queues", args=[tenant.slug]))["Location"] == reverse(
        "tickets:queue", args=[tenant.slug, "all"]
    )


def test_the_tickets_behind_a_number_export_as_csv_in_pages(
    tenant, history, admin_user, login, monkeypatch
):
    from reports import views

    monkeypatch.setattr(views, "CSV_PAGE", 1)  # every row its own statement
    with tenant_context(tenant):
        t4 = history["t4"]
        t4.refresh_from_db()
        services.ticket_update(
            ticket=t4, actor=admin_user, expected_version=None, subject="=HYPERLINK(1)"
        )
        fact_refresh(ticket_id=t4.pk)
    response = login(admin_user).get(
        reverse("reports:tickets", args=[tenant.slug, "backlog"]) + "?format=csv"
    )
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "Ticket,Subject,Status,Created"
    assert [line.split(",")[:3] for line in lines[1:]] == [
        [f"{tenant.ticket_prefix}-4", "'=HYPERLINK(1)", "new"],
        [f"{tenant.ticket_prefix}-3", "Three", "open"],
    ]


@pytest.mark.parametrize("narrowed", ["", "period=90", "organization", "assignee"])
def test_the_dashboard_answers_in_at_most_12_queries(
    tenant, agent, sla_history, admin_user, login, django_assert_max_num_queries, narrowed
):
    from tickets.models import Organization

    with tenant_context(tenant):
        org = Organization.objects.create(tenant=tenant, name="Initech")
    # The organisation and the agent are read from the facts, not the rollups.
    query = {"organization": f"organization={org.pk}", "assignee": f"assignee={agent.pk}"}
    client = login(admin_user)
    url = reverse("reports:dashboard", args=[tenant.slug]) + "?" + query.get(narrowed, narrowed)
    client.get(url)  # the session and the first read of the menus
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 200


def test_sql_and_python_put_every_time_in_the_same_bucket(db):
    from django.db import connection

    from reports.facts import BUCKET_EDGES, duration_bucket, duration_bucket_sql

    seconds = sorted({0, 1, 59, *(e + d for e in BUCKET_EDGES for d in (-1, 0, 1)), 10**9})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s, {duration_bucket_sql('s')} FROM unnest(%s::int[]) AS s", [seconds]
        )
        in_sql = dict(cursor.fetchall())
    assert in_sql == {s: duration_bucket(s) for s in seconds}


def test_a_batch_of_events_writes_its_rollup_changes_together_at_its_end(tenant, agent):
    """Two batches taking one busy day's rows in their events' order held
    one row each and waited for the other's: a batch now sums its handlers'
    rollup changes and writes each table once, rows in one order, after
    every handler ran."""
    from reports import services as report_services
    from tickets import events
    from tickets.models import Event

    written = report_services._rows_write
    calls = []

    def spy(table, key_columns, columns, changes, *, strict):
        calls.append((table, TicketFact.objects.count(), len(changes)))
        return written(table, key_columns, columns, changes, strict=strict)

    with tenant_context(tenant):
        tickets = [TicketFactory(subject=f"Batch {n}", assignee=agent) for n in range(3)]
        for ticket in tickets:
            add_reply(ticket, agent)
        ids = list(
            Event.objects.filter(ticket__in=tickets, processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with mock.patch.object(report_services, "_rows_write", spy):
            events.events_run(event_ids=ids)
        tables = [table for table, _, _ in calls]
        assert "reports_dailyvolume" in tables and "reports_dailyspell" in tables
        assert len(tables) == len(set(tables))  # each table once for the batch
        assert all(facts == 3 for _, facts, _ in calls)  # after every ticket's handlers
        kept = _snapshot()
        facts_rebuild(chunk=2)
        assert _snapshot() == kept
        # Outside a batch the handler writes at once (a direct call, a rebuild).
        calls.clear()
        fact_refresh(ticket_id=tickets[0].pk)
        with mock.patch.object(report_services, "_rows_write", spy):
            services.ticket_update(
                ticket=Ticket.objects.get(pk=tickets[0].pk), actor=agent, expected_version=None,
                status="resolved",
            )  # fmt: skip
            fact_refresh(ticket_id=tickets[0].pk)
        assert calls and calls[0][0] == "reports_dailyvolume"


def test_a_handler_that_fails_after_gathering_rollup_changes_leaves_none_of_them(tenant, agent):
    """A batch writes its rollup changes at its end; a handler that failed
    after adding some (its fact rolled back with its savepoint) must not
    have them written: the rollups stay what the facts add up to."""
    from reports import services as report_services
    from tickets import events
    from tickets.models import Event

    real = report_services.fact_refresh

    with tenant_context(tenant):
        tickets = [TicketFactory(subject=f"Batch {n}", assignee=agent) for n in range(3)]
        broken = tickets[1].pk

        def fails_after_its_work(*, ticket_id):
            fact = real(ticket_id=ticket_id)
            if ticket_id == broken:
                raise RuntimeError("the worker's time ran out")
            return fact

        ids = list(
            Event.objects.filter(ticket__in=tickets, processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with mock.patch.object(report_services, "fact_refresh", fails_after_its_work):
            report = events.events_run(event_ids=ids)
        assert report.failures
        assert sorted(TicketFact.objects.values_list("ticket_id", flat=True)) == sorted(
            t.pk for t in tickets if t.pk != broken
        )
        kept = _snapshot()
        report_services.rollups_recount()
        assert _snapshot() == kept
