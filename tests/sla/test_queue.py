"""Agents filter their queues by SLA state and see, on their own queue, how
many of their tickets are at risk or breached."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from helpdesk.tenancy import tenant_context
from sla.models import Calendar, TicketTarget
from sla.selectors import sla_queue_condition
from sla.services.timers import sla_recompute
from tests.factories import TicketFactory
from tickets.extensions import queue_figures
from tickets.models import Ticket
from tickets.services import tickets as ticket_services

from .conftest import make_policy

State = TicketTarget.State


@pytest.fixture
def states(tenant, agent):
    """One ticket of the agent's in each SLA state, one with no policy, and
    one breached ticket of someone else's."""
    with tenant_context(tenant):
        always = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        make_policy(always, hours=(1, 2, 8), channels=["email"])
        now = timezone.now()
        made = {}
        for name, age in (("breached", 180), ("at_risk", 50), ("on_track", 5), ("paused", 5)):
            ticket = TicketFactory(subject=f"Ticket {name}", assignee=agent)
            Ticket.objects.filter(pk=ticket.pk).update(created_at=now - timedelta(minutes=age))
            made[name] = ticket
        ticket_services.ticket_change_status(
            ticket=made["paused"], actor=agent, status=Ticket.Status.PENDING, expected_version=None
        )
        made["none"] = TicketFactory(
            subject="Ticket none", assignee=agent, channel=Ticket.Channel.WEB
        )
        made["theirs"] = TicketFactory(subject="Ticket theirs")
        Ticket.objects.filter(pk=made["theirs"].pk).update(created_at=now - timedelta(hours=5))
        for ticket in made.values():
            sla_recompute(ticket=ticket)
        badge = {
            row.ticket_id: row.state
            for row in TicketTarget.objects.filter(kind="first_response", met_at__isnull=True)
        }
        assert badge[made["at_risk"].pk] == State.AT_RISK
        assert badge[made["breached"].pk] == State.BREACHED
    return made


def _subjects(response) -> set[str]:
    return {row.subject for row in response.context["rows"]}


@pytest.mark.parametrize(
    "state, expected",
    [
        ("breached", {"Ticket breached"}),
        ("at_risk", {"Ticket at_risk"}),
        ("on_track", {"Ticket on_track"}),
        ("paused", {"Ticket paused"}),
        (
            "",
            {
                "Ticket breached",
                "Ticket at_risk",
                "Ticket on_track",
                "Ticket paused",
                "Ticket none",
            },
        ),
    ],
)
def test_the_queue_filters_by_sla_state(states, tenant, agent, login, state, expected):
    client = login(agent)
    url = reverse("tickets:queue", args=[tenant.slug, "mine"])
    response = client.get(url, {"sla": state})
    assert response.status_code == 200
    assert _subjects(response) == expected
    html = response.content.decode()
    assert '<label for="id_sla">SLA</label>' in html
    assert '<option value="at_risk"' in html


def test_the_filter_is_the_badges_worst_state_and_an_unknown_one_filters_nothing(
    states, tenant, agent, login
):
    with tenant_context(tenant):
        # A ticket both at risk (resolution) and breached (first response)
        # shows, and filters as, breached only.
        breached = states["breached"]
        TicketTarget.objects.filter(ticket=breached, kind="resolution").update(state=State.AT_RISK)
        at_risk = set(
            Ticket.objects.filter(sla_queue_condition("at_risk")).values_list("pk", flat=True)
        )
        assert at_risk == {states["at_risk"].pk}
    response = login(agent).get(
        reverse("tickets:queue", args=[tenant.slug, "mine"]), {"sla": "late"}
    )
    assert response.status_code == 200
    assert len(response.context["rows"]) == 5
    assert "Select a valid choice" in response.content.decode()


def test_the_filter_costs_no_query_of_its_own(states, tenant, agent, login):
    # The page's budget itself is checked in tests/test_query_budget.py.
    client = login(agent)
    url = reverse("tickets:queue", args=[tenant.slug, "mine"])
    counts = {}
    for state in ("", "breached"):
        client.get(url, {"sla": state})
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"sla": state})
        counts[state] = len(captured)
    assert _subjects(response) == {"Ticket breached"}
    assert counts["breached"] == counts[""]


def test_mine_shows_how_many_are_at_risk_and_breached_in_one_query(states, tenant, agent, login):
    client = login(agent)
    url = reverse("tickets:queue", args=[tenant.slug, "mine"])
    client.get(url)
    with CaptureQueriesContext(connection) as with_figure:
        html = client.get(url).content.decode()
    queue = f"/{tenant.slug}/queues/mine/"
    assert f'href="{queue}?sla=at_risk">1 at risk</a>' in html
    assert f'href="{queue}?sla=breached">1 breached</a>' in html  # not the other agent's
    figure = queue_figures.get("sla.at_a_glance")
    queue_figures.unregister(figure.name)
    try:
        with CaptureQueriesContext(connection) as without:
            plain = client.get(url).content.decode()
    finally:
        queue_figures.register(figure)
    assert "at risk</a>" not in plain
    assert len(with_figure) == len(without) + 1
    # Not on other queues.
    assert (
        "at risk</a>"
        not in client.get(
            reverse("tickets:queue", args=[tenant.slug, "unassigned"])
        ).content.decode()
    )


def test_the_filter_reads_a_tenant_first_index(states, tenant):
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        query = Ticket.objects.filter(sla_queue_condition("breached")).values("pk").query
        sql, params = query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "sla_target" in plan and "Seq Scan on sla_tickettarget" not in plan, plan
