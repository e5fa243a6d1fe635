"""The report pages' figures against values worked out by hand on a small
fixed history, their CSV exports, and the page facts' incremental path
against a rebuild."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dispatch.models import AgentStatus, DispatchSettings
from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import tenant_context
from reports.pages import selectors
from reports.pages.models import DailyReply, DailySpell, ReplyFact, TicketSpell, TicketTagFact
from reports.pages.services import (
    load_snapshot_take,
    page_facts_rebuild,
    page_facts_refresh,
    page_key_refresh,
)
from reports.services import fact_refresh
from sla.models import TicketTarget
from tests.factories import CategoryFactory, MembershipFactory, TicketFactory, add_reply
from tickets import services
from tickets.models import Category, Message, Rating, Ticket

D = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
H = timedelta(hours=1)
M = timedelta(minutes=1)


@contextmanager
def at(moment):
    with mock.patch("django.utils.timezone.now", lambda: moment):
        yield


def _refresh(*tickets):
    """What the two report handlers do after a ticket's events."""
    for ticket in tickets:
        fact_refresh(ticket_id=ticket.pk)
        page_facts_refresh(ticket_id=ticket.pk)


def _update(ticket, actor, moment, **changes):
    with at(moment):
        ticket.refresh_from_db()
        services.ticket_update(ticket=ticket, actor=actor, expected_version=None, **changes)
    _refresh(ticket)


def _reply(ticket, agent, moment, body="Looking into it"):
    with at(moment):
        ticket.refresh_from_db()
        add_reply(ticket, agent, body=body)
    _refresh(ticket)


def _target(ticket, kind, *, met=None, breached=None):
    TicketTarget.objects.create(
        tenant=ticket.tenant, ticket=ticket, kind=kind, target_seconds=3600,
        started_at=ticket.created_at, met_at=met, breached_at=breached,
        state="breached" if breached else "met", computed_at=met or breached,
    )  # fmt: skip


def _rating(ticket, *, good, comment, moment, group, category, assignee):
    Rating.objects.create(
        tenant=ticket.tenant, ticket=ticket, solved_at=moment - H, scale="good_bad",
        score=int(good), is_good=good, comment=comment, assignee=assignee, group=group,
        category=category, created_at=moment, updated_at=moment,
    )  # fmt: skip


@pytest.fixture
def desk(tenant, agent):
    """Five tickets, three in the period [D - 1 day, D + 2 days) and two in
    the period before; every figure below is worked out from these lines."""
    with tenant_context(tenant):
        other = MembershipFactory(tenant=tenant, role=Membership.Role.AGENT).user
        a, b = (SupportGroup.objects.create(tenant=tenant, name=n) for n in ("Alpha", "Beta"))
        printers, billing = CategoryFactory(name="Printers"), CategoryFactory(name="Billing")
        with at(D):
            t1 = TicketFactory(subject="One", assignee=agent, actor=agent, group=a)
        with at(D + H):
            t2 = TicketFactory(subject="Two bounces", group=a)
        with at(D + 2 * H):
            t3 = TicketFactory(
                subject="Three", group=b, channel="web", category=printers,
                tags=["printer", "wifi"], priority=Ticket.Priority.URGENT, assignee=agent,
                actor=agent,
            )  # fmt: skip
        with at(D - timedelta(days=2)):
            t4 = TicketFactory(subject="Four", category=printers, tags=["printer"], channel="web")
            t5 = TicketFactory(subject="Five", category=billing, tags=["billing"], channel="web")
        _refresh(t1, t2, t3, t4, t5)
        _update(t4, agent, D - timedelta(days=2) + H, assignee=agent, status="pending")
        # One: replied after 30 minutes (it was assigned at creation), solved after 2 hours.
        _reply(t1, agent, D + 30 * M)
        _update(t1, agent, D + 2 * H, status="resolved")
        # Two: assigned after 10 minutes, replied 30 minutes later; moves A, B, A, B;
        # solved, reopened, solved again 8 hours after it came in (at D + 9 h).
        _update(t2, other, D + H + 10 * M, assignee=other)
        _reply(t2, other, D + H + 40 * M)
        _update(t2, other, D + 2 * H, group=b)
        _update(t2, other, D + 3 * H, group=a)
        _update(t2, other, D + 4 * H, group=b)
        _reply(t2, other, D + 4 * H + 30 * M, body="Second answer")
        _update(t2, other, D + 5 * H, status="resolved")
        _update(t2, other, D + 6 * H, status="open")
        _update(t2, other, D + 9 * H, status="resolved")
        # SLA: One met both its targets; Two missed its resolution target.
        _target(t1, "first_response", met=D + 30 * M)
        _target(t1, "resolution", met=D + 2 * H)
        _target(t2, "resolution", breached=D + 3 * H)
        # The SLA app's events refresh the facts, which keep the outcomes.
        _refresh(t1, t2)
        _rating(t1, good=True, comment="Quick and kind", moment=D + 3 * H, group=a,
                category=None, assignee=agent)  # fmt: skip
        _rating(t2, good=False, comment="=Took ages", moment=D + 10 * H, group=b,
                category=printers, assignee=other)  # fmt: skip
        AgentStatus.objects.create(tenant=tenant, user=agent, capacity=2)
        AgentStatus.objects.create(tenant=tenant, user=other, capacity=5)
        DispatchSettings.objects.create(tenant=tenant, waiting_fraction=Decimal("0.5"))
    return {
        "tickets": (t1, t2, t3, t4, t5),
        "groups": (a, b),
        "categories": (printers, billing),
        "agents": (agent, other),
    }


def about(seconds):
    """A time as the report pages give it: read from duration buckets, within
    4.4% of the true value (reports.facts)."""
    return pytest.approx(seconds, rel=0.045)


def _period(**narrow):
    return selectors.Filters(start=D - timedelta(days=1), end=D + timedelta(days=2), **narrow)


def test_efficiency_per_agent_and_group_matches_the_hand_worked_values(tenant, desk):
    agent, other = desk["agents"]
    a, b = desk["groups"]
    with tenant_context(tenant):
        report = selectors.efficiency(_period())
    agents = {r.key: r for r in report.agents}
    groups = {r.key: r for r in report.groups}
    # Handled: One (agent, 2 h) and Two (other, solved 8 h after it came in, reopened).
    assert (agents[agent.pk].handled, agents[agent.pk].resolution_median) == (1, about(7200))
    assert (agents[other.pk].handled, agents[other.pk].resolution_median) == (1, about(8 * 3600))
    assert (agents[other.pk].reopened, agents[agent.pk].reopened) == (1, 0)
    # First replies: 30 and 40 minutes; assignment to first reply 30 minutes each.
    assert agents[agent.pk].first_reply_median == about(1800)
    assert agents[other.pk].first_reply_median == about(2400)
    assert agents[other.pk].assign_to_reply_median == about(1800)
    # Replies: one by the agent (in Alpha), two by the other (Alpha, then Beta).
    assert (agents[agent.pk].replies, agents[other.pk].replies) == (1, 2)
    assert (groups[a.pk].replies, groups[b.pk].replies) == (2, 1)
    # Two is in Beta now: solved tickets count for the group they are in.
    assert (groups[a.pk].handled, groups[b.pk].handled) == (1, 1)
    # SLA, decided in the period: One met two targets, Two missed one.
    assert (agents[agent.pk].sla_met, agents[agent.pk].sla_missed) == (2, 0)
    assert (agents[other.pk].sla_met, agents[other.pk].sla_missed) == (0, 1)
    total = report.total
    assert (total.handled, total.replies, total.first_replies) == (2, 3, 2)
    # Percentiles by nearest rank: the median of two is the shorter time.
    assert total.resolution_median == about(7200)
    assert total.resolution_p90 == about(28800)
    assert total.first_reply_median == about(1800)
    assert total.first_reply_p90 == about(2400)
    assert total.assign_to_reply_median == about(1800)
    assert total.sla_share == pytest.approx(2 / 3)


def test_efficiency_narrowed_to_one_agent(tenant, desk):
    agent, other = desk["agents"]
    with tenant_context(tenant):
        report = selectors.efficiency(_period(assignee_id=other.pk))
    assert [r.key for r in report.agents] == [other.pk]
    assert (report.total.handled, report.total.replies) == (1, 2)


def test_quality_matches_the_hand_worked_values(tenant, desk):
    a, b = desk["groups"]
    printers, _ = desk["categories"]
    with tenant_context(tenant):
        report = selectors.quality(_period(), step="day")
    assert (report.solved, report.reopened, report.reopen_share) == (2, 1, 0.5)
    assert report.reopened_by_group == [(b.pk, 1, 1), (a.pk, 1, 0)]
    assert (report.ratings, report.good, report.good_share) == (2, 1, 0.5)
    # Both ratings fall on Monday 2 March in Berlin.
    assert [(p.start.date().isoformat(), p.ratings, p.good) for p in report.trend] == [
        ("2026-03-02", 2, 1)
    ]
    # Worst first: Printers (0 of 1 good), then tickets without a category (1 of 1).
    assert [(c.category_id, c.ratings, c.good) for c in report.categories] == [
        (printers.pk, 1, 0),
        (None, 1, 1),
    ]
    assert [c.comment for c in report.comments] == ["=Took ages", "Quick and kind"]


def test_root_causes_compare_the_period_with_the_one_before(tenant, desk):
    printers, billing = desk["categories"]
    with tenant_context(tenant):
        report = selectors.causes(_period())
    categories = {c.key: (c.now, c.before) for c in report.categories}
    # In the period: One, Two (no category), Three (Printers); before: Four
    # (Printers), Five (Billing).
    assert categories == {None: (2, 0), printers.pk: (1, 1), billing.pk: (0, 1)}
    assert [c.key for c in report.grew(report.categories)] == [None]
    assert [c.key for c in report.fell(report.categories)] == [billing.pk]
    tags = {c.key: (c.now, c.before) for c in report.tags}
    assert tags == {"printer": (1, 1), "wifi": (1, 0), "billing": (0, 1)}


def test_load_weighs_open_tickets_against_capacity(tenant, desk):
    agent, other = desk["agents"]
    with tenant_context(tenant):
        loads = {a.user_id: a for a in selectors.agent_loads(_period())}
        with at(D + timedelta(days=1)):
            load_snapshot_take()
            load_snapshot_take()  # twice in a day: the day's last one stands
        history = selectors.load_history(_period())
    # The agent has Three (urgent: 3) and Four (normal, pending: 1 x 0.5).
    mine = loads[agent.pk]
    assert (mine.open_tickets, mine.waiting, mine.load, mine.capacity) == (2, 1, Decimal("3.5"), 2)
    assert mine.load_share == 1.75
    assert (loads[other.pk].open_tickets, loads[other.pk].load) == (0, 0)
    # Narrowed to Beta (no members): whoever holds its open tickets, Three's agent.
    with tenant_context(tenant):
        in_beta = selectors.agent_loads(_period(group_id=desk["groups"][1].pk))
    assert [(a.user_id, a.open_tickets, a.load, a.capacity) for a in in_beta] == [
        (agent.pk, 1, Decimal(3), 2)
    ]
    assert [(d.day.isoformat(), d.open_tickets, d.load, d.capacity, d.agents_over)
            for d in history] == [("2026-03-03", 2, Decimal("3.5"), 7, 1)]  # fmt: skip


def test_stalls_time_in_status_and_group_and_the_ticket_that_bounced(tenant, desk):
    a, b = desk["groups"]
    t2 = desk["tickets"][1]
    with tenant_context(tenant):
        report = selectors.stalls(_period(), now=D + timedelta(days=1))
    statuses = {d.value: (d.spells, d.median, d.total, d.now) for d in report.statuses}
    # A ticket given to someone is open: One and Three from the start, Two
    # when it was assigned (new for 10 minutes). Open: One 2 h, Two 3 h 50
    # (until solved) and 3 h (reopened until solved again). Solved: Two 1 h,
    # before it was reopened. Open tickets now: Five new, Three open, Four
    # pending (One and Two are solved).
    assert statuses == {
        "new": (1, about(600), 600, 1),
        "open": (3, about(10800), 7200 + 13800 + 10800, 1),
        "resolved": (1, about(3600), 3600, 0),  # solved tickets are not stalled
        "pending": (0, None, 0, 1),
    }
    groups = {d.value: (d.spells, d.total, d.now) for d in report.groups}
    assert groups == {
        str(a.pk): (2, 7200, 0),  # Two's two hours in Alpha; One there, but solved
        str(b.pk): (1, 3600, 1),  # Two's hour in Beta; Three is open there now
        "": (0, 0, 2),  # Four and Five never had a group
    }
    assert [(h.from_group, h.to_group, h.count) for h in report.handoffs] == [
        (a.pk, b.pk, 2),
        (b.pk, a.pk, 1),
    ]
    assert [(x.number, x.handoffs) for x in report.bouncers] == [(t2.number, 3)]


def test_channels_and_the_busiest_hours_in_the_help_desks_time(tenant, desk):
    with tenant_context(tenant):
        report = selectors.channels(_period())
    assert [(c.key, c.now, c.before) for c in report.channels] == [
        ("email", 2, 0),
        ("web", 1, 2),
    ]
    berlin = {
        (day, hour): n
        for day, hours in enumerate(report.heatmap)
        for hour, n in enumerate(hours)
        if n
    }
    # Monday 10:00, 11:00 and 12:00 in Berlin (09:00-11:00 UTC).
    assert berlin == {(0, 10): 1, (0, 11): 1, (0, 12): 1}
    assert D.astimezone(ZoneInfo("Europe/Berlin")).hour == 10


def test_the_pages_show_names_and_link_numbers_to_their_tickets(tenant, desk, admin_user, login):
    client = login(admin_user)
    with at(D + timedelta(days=1)):
        page = client.get(reverse("reports:efficiency", args=[tenant.slug])).content.decode()
        stalls = client.get(reverse("reports:stalls", args=[tenant.slug])).content.decode()
        quality = client.get(reverse("reports:quality", args=[tenant.slug])).content.decode()
    a, _ = desk["groups"]
    assert "Alpha" in page and "Beta" in page
    assert f"/{tenant.slug}/reports/tickets/solved/?period=30&amp;group={a.pk}" in page
    assert "Two bounces" in stalls
    assert "Quick and kind" in quality and "Took ages" in quality


def test_csv_exports_stream_rows_with_formulas_quoted(tenant, desk, admin_user, login, monkeypatch):
    from reports.pages import views

    monkeypatch.setattr(views, "CSV_PAGE", 1)  # every rating its own statement
    client = login(admin_user)
    with at(D + timedelta(days=1)):
        response = client.get(reverse("reports:quality", args=[tenant.slug]) + "?format=csv")
        assert response.streaming
        ratings = b"".join(response.streaming_content).decode().splitlines()
        response = client.get(reverse("reports:causes", args=[tenant.slug]) + "?format=csv")
        causes = b"".join(response.streaming_content).decode().splitlines()
    assert ratings[0] == "Ticket,Subject,Rated,Good,Score,Scale,Comment"
    assert ratings[1].startswith(f"{tenant.ticket_prefix}-2,Two bounces,")
    assert ratings[1].endswith(",no,0,good_bad,'=Took ages")
    assert ratings[2].startswith(f"{tenant.ticket_prefix}-1,One,")
    assert len(ratings) == 3
    assert "Tag,printer,2,0,2" in causes  # Three and Four, both within 30 days
    # A fall is a number, not text: only text that could be a formula is quoted.
    assert views.csv_cell(-3) == "-3" and views.csv_cell("-3") == "'-3"


def test_an_agent_is_refused_the_report_pages(tenant, agent, login):
    client = login(agent)
    for name in ("efficiency", "quality", "causes", "load", "stalls", "channels"):
        assert client.get(reverse(f"reports:{name}", args=[tenant.slug])).status_code == 403


def _page_snapshot():
    spells = sorted(
        TicketSpell.objects.values_list(
            "ticket_id", "kind", "seq", "value", "previous", "handoff", "started_at",
            "ended_at", "seconds", "ticket_open",
        )
    )  # fmt: skip
    replies = sorted(
        ReplyFact.objects.values_list("event_id", "ticket_id", "user_id", "group_id", "created_at")
    )
    tags = sorted(TicketTagFact.objects.values_list("ticket_id", "tag", "created_at"))
    # The daily rollups, rows that fell to nothing left out.
    daily_spells = sorted(
        DailySpell.objects.filter(spells__gt=0).values_list(
            "day", "kind", "value", "group_id", "bucket", "spells", "seconds"
        ),
        key=repr,
    )
    daily_replies = sorted(
        DailyReply.objects.filter(replies__gt=0).values_list(
            "day", "user_id", "group_id", "replies"
        ),
        key=repr,
    )
    return spells, replies, tags, daily_spells, daily_replies


ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 2),  # which ticket
        st.sampled_from(
            [
                "reply",
                "note",
                "resolve",
                "reopen",
                "pending",
                "group",
                "ungroup",
                "tag",
                "category",
                "assign",
            ]  # fmt: skip
        ),
        st.integers(0, 60 * 36),  # minutes later
    ),
    max_size=14,
)


@hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(actions=ACTIONS)
def test_any_history_rebuilds_to_the_page_facts_the_handler_kept(tenant, agent, actions):
    with tenant_context(tenant):
        groups = [SupportGroup.objects.get_or_create(tenant=tenant, name=n)[0] for n in "XYZ"]
        # Hypothesis runs the examples in one database: made once.
        categories = [
            Category.objects.filter(name=f"Cause {n}").first() or CategoryFactory(name=f"Cause {n}")
            for n in "AB"
        ] + [None]
        moment = D
        with at(moment):
            tickets = [TicketFactory(subject=f"T{i}", group=groups[i % 2]) for i in range(3)]
        for t in tickets:
            page_facts_refresh(ticket_id=t.pk)
        for which, action, minutes in actions:
            moment += timedelta(minutes=minutes)
            ticket = tickets[which]
            ticket.refresh_from_db()
            changes = {}
            with at(moment):
                if action in ("reply", "note") and ticket.status != Ticket.Status.CLOSED:
                    kind = Message.Kind.REPLY if action == "reply" else Message.Kind.NOTE
                    add_reply(ticket, agent, kind=kind)
                elif action in ("resolve", "reopen", "pending"):
                    target = {"resolve": "resolved", "reopen": "open", "pending": "pending"}[action]
                    if ticket.status != target and ticket.can_move_to(target):
                        changes = {"status": target}
                elif action == "group":
                    changes = {"group": groups[minutes % 3]}
                elif action == "ungroup":
                    changes = {"group": None}
                elif action == "tag":
                    changes = {"tags": [f"tag{minutes % 4}", "common"]}
                elif action == "category":
                    changes = {"category": categories[minutes % 3]}
                elif action == "assign":
                    changes = {"assignee": (agent, None)[minutes % 2]}
                if changes:
                    services.ticket_update(
                        ticket=ticket, actor=agent, expected_version=None, **changes
                    )
            # What the two handlers do, in either order.
            if minutes % 2:
                page_key_refresh(ticket_id=ticket.pk)
            page_facts_refresh(ticket_id=ticket.pk)
            page_key_refresh(ticket_id=ticket.pk)
        kept = _page_snapshot()
        assert kept[3] or not any(s[7] for s in kept[0])  # ended spells are in the rollup
        page_facts_rebuild(chunk=2)
        assert _page_snapshot() == kept
        # Spells of a kind follow one another without gaps, the last one open.
        spells = kept[0]
        for ticket in tickets:
            for kind in ("status", "group"):
                mine = [s for s in spells if s[0] == ticket.pk and s[1] == kind]
                assert mine[-1][7] is None
                assert all(x[7] == y[6] for x, y in zip(mine, mine[1:], strict=False))


def test_the_handler_takes_the_events_that_change_page_facts_only(tenant, agent):
    from tickets.events import handlers_for
    from tickets.models import Event

    with tenant_context(tenant):
        group = SupportGroup.objects.create(tenant=tenant, name="Alpha")
        ticket = TicketFactory(subject="Watched")
        add_reply(ticket, agent, kind=Message.Kind.NOTE)
        add_reply(ticket, agent)
        ticket.refresh_from_db()
        services.ticket_update(
            ticket=ticket, actor=agent, expected_version=None, group=group, tags=["x"],
            subject="Watched closely",
        )  # fmt: skip
        taken = {
            (event.kind, event.field, (event.new_value or {}).get("kind"))
            for event in Event.objects.filter(ticket=ticket)
            if "reports.page_facts" in {h.name for h in handlers_for(event)}
        }
    assert taken == {
        ("created", "", None),
        ("message_added", "", "reply"),
        ("status_changed", "status", None),  # the reply opened it
        ("field_changed", "group", None),
        ("field_changed", "tags", None),
    }


def test_a_page_narrowed_by_every_filter_keeps_to_the_query_budget(
    tenant, desk, admin_user, login, django_assert_max_num_queries
):
    a, _ = desk["groups"]
    agent, _ = desk["agents"]
    printers, _ = desk["categories"]
    client = login(admin_user)
    query = f"?period=90&group={a.pk}&assignee={agent.pk}&channel=email&category={printers.pk}"
    for name in ("efficiency", "quality", "causes", "load", "stalls", "channels"):
        url = reverse(f"reports:{name}", args=[tenant.slug]) + query
        with at(D + timedelta(days=1)):
            client.get(url)
            with django_assert_max_num_queries(12):
                assert client.get(url).status_code == 200


def test_a_filter_that_is_not_valid_is_named_and_the_others_still_apply(
    tenant, desk, admin_user, login
):
    client = login(admin_user)
    url = reverse("reports:efficiency", args=[tenant.slug]) + "?period=7&group=999999&channel="
    with at(D + timedelta(days=1)):
        on_the_web = client.get(url + "web").content.decode()
        by_mail = client.get(url + "email").content.decode()
    assert "Select a valid choice" in on_the_web and "Select a valid choice" in by_mail
    # Only Three came in on the web form, and nothing of it is solved or
    # answered; One and Two came by mail.
    assert "Nothing solved or answered in the period." in on_the_web
    assert "Nothing solved or answered in the period." not in by_mail


def test_the_rebuild_command_rebuilds_the_page_facts_too(tenant, desk):
    from io import StringIO

    from django.core.management import call_command

    with tenant_context(tenant):
        kept = _page_snapshot()
        TicketSpell.objects.all().delete()
    out = StringIO()
    call_command("rebuild_report_facts", tenant.slug, stdout=out)
    assert "5 tickets folded into the report pages" in out.getvalue()
    with tenant_context(tenant):
        assert _page_snapshot() == kept


@pytest.mark.parametrize(
    "narrow",
    [
        {},
        {"group": 0},
        {"group": 1},
        {"channel": "email"},
        {"channel": "web"},
        {"category": 0},
        {"group": 1, "channel": "web", "category": 0},
    ],
    ids=["all", "alpha", "beta", "email", "web", "printers", "beta-web-printers"],
)
def test_the_hourly_rollup_gives_the_channel_mix_the_facts_give(tenant, desk, narrow):
    """Narrowed by agent, the channel mix and the busiest hours read the
    facts instead: the figures must not change with the source, under every
    filter the hourly rollup is kept by."""
    from importlib import import_module

    # The module (the package names its function alike).
    channel_reads = import_module("reports.pages.selectors.channels")
    filters = _period(
        group_id=desk["groups"][narrow["group"]].pk if "group" in narrow else None,
        channel=narrow.get("channel"),
        category_id=desk["categories"][narrow["category"]].pk if "category" in narrow else None,
    )
    with tenant_context(tenant):
        hours = channel_reads._from_hours(filters)
        assert hours == channel_reads._from_facts(filters) and hours.total


def test_stalls_narrowed_to_an_agent_and_a_category(tenant, desk):
    agent, other = desk["agents"]
    a, b = desk["groups"]
    printers, _ = desk["categories"]
    with tenant_context(tenant):
        theirs = selectors.stalls(_period(assignee_id=other.pk), now=D + timedelta(days=1))
        printers_stays = selectors.stalls(
            _period(category_id=printers.pk), now=D + timedelta(days=1)
        )
    # Two is the other agent's: new 10 minutes, open 3 h 50 and 3 h, solved 1 h
    # before it was reopened; two hours in Alpha and one in Beta.
    assert {d.value: (d.spells, d.total) for d in theirs.statuses if d.spells} == {
        "new": (1, 600),
        "open": (2, 13800 + 10800),
        "resolved": (1, 3600),
    }
    assert {d.value: (d.spells, d.total) for d in theirs.groups if d.spells} == {
        str(a.pk): (2, 7200),
        str(b.pk): (1, 3600),
    }
    # Printers: Three (open since it came in) and Four (pending since the
    # day before the period): no stay of theirs ended in the period.
    assert [d for d in printers_stays.statuses if d.spells] == []


def test_a_new_agent_moves_the_tickets_stays_without_a_refold(tenant, desk):
    agent, other = desk["agents"]
    t2 = desk["tickets"][1]
    with tenant_context(tenant):
        with at(D + timedelta(days=1)):
            t2.refresh_from_db()
            services.ticket_update(ticket=t2, actor=agent, expected_version=None, assignee=agent)
        with mock.patch("reports.pages.services.fold_ticket") as fold:
            assert page_key_refresh(ticket_id=t2.pk) is True
            assert page_key_refresh(ticket_id=t2.pk) is False  # twice: nothing more moves
        fold.assert_not_called()
        theirs = selectors.stalls(_period(assignee_id=other.pk), now=D + timedelta(days=1))
        mine = selectors.stalls(_period(assignee_id=agent.pk), now=D + timedelta(days=1))
    assert [d for d in theirs.statuses if d.spells] == []
    assert {d.value: d.spells for d in mine.statuses if d.spells}["open"] == 3  # One's, and Two's


def test_efficiency_narrowed_by_channel_and_category(tenant, desk):
    agent, other = desk["agents"]
    a, b = desk["groups"]
    printers, _ = desk["categories"]
    with tenant_context(tenant):
        by_mail = selectors.efficiency(_period(channel="email"))
        on_the_web = selectors.efficiency(_period(channel="web"))
        printers_in_beta = selectors.efficiency(_period(category_id=printers.pk, group_id=b.pk))
    # One and Two came by mail: all the period's work.
    assert (by_mail.total.handled, by_mail.total.replies, by_mail.total.sla_missed) == (2, 3, 1)
    assert {r.key: r.replies for r in by_mail.groups} == {a.pk: 2, b.pk: 1}
    # Three (web, Printers, Beta) is neither solved nor answered.
    assert (on_the_web.total.handled, on_the_web.total.replies, on_the_web.agents) == (0, 0, [])
    assert (printers_in_beta.total.handled, printers_in_beta.groups) == (0, [])


def test_quality_narrowed_counts_the_same_from_rollups_and_facts(tenant, desk):
    agent, other = desk["agents"]
    a, b = desk["groups"]
    with tenant_context(tenant):
        # The rollups' agent-and-group slice, their main slice, and the
        # facts (agent and channel together are in neither slice).
        by_other = selectors.quality(_period(assignee_id=other.pk), step="day")
        by_mail = selectors.quality(_period(channel="email"), step="day")
        both = selectors.quality(_period(assignee_id=other.pk, channel="email"), step="day")
        mine_in_beta = selectors.quality(_period(assignee_id=agent.pk, group_id=b.pk))
    assert (by_other.solved, by_other.reopened, by_other.reopened_by_group) == (
        1,
        1,
        [(b.pk, 1, 1)],
    )
    assert (by_mail.solved, by_mail.reopened) == (2, 1)
    assert (both.solved, both.reopened, both.reopened_by_group) == (1, 1, [(b.pk, 1, 1)])
    assert (mine_in_beta.solved, mine_in_beta.reopened_by_group) == (0, [])
