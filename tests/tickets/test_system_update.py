"""Changes a system makes (SLA deadlines, dispatch's assignment): one
service, one event per field, and no agent's open edit lost to them."""

import re
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Notification
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, MembershipFactory, SupportGroupFactory, TicketFactory
from tests.tickets.test_views import _form_values
from tickets import events, handlers, services
from tickets.models import Event, Ticket

pytestmark = pytest.mark.usefixtures(
    "dummy_extensions"
)  # registers "sla" ("dispatch" is the real app)


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", response.content.decode()).split())


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(requester=ContactFactory(name="Pat Lee"))


@pytest.fixture
def colleague(tenant):
    return MembershipFactory(tenant=tenant, user__first_name="Dana", user__last_name="Smith").user


def _sla_moves_due(tenant, ticket, hours=4):
    due = timezone.now() + timedelta(hours=hours)
    with tenant_context(tenant):
        services.ticket_system_update(
            ticket=ticket, source="sla", reason="Standard policy: first reply in 4h", due_at=due
        )
    return due


def _dispatch_assigns(tenant, ticket, assignee):
    with tenant_context(tenant):
        return services.ticket_system_update(
            ticket=ticket, source="dispatch", reason="Round robin in Tier 1", assignee=assignee
        )


def _open_details(client, tenant, ticket):
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    return _form_values(
        page.content.decode(), reverse("tickets:update", args=[tenant.slug, ticket.number])
    )


# ---------------------------------------------------------------- the service


def test_a_deadline_change_records_an_internal_event_and_leaves_the_version_alone(tenant, ticket):
    version, updated_at = ticket.version, ticket.updated_at
    due = _sla_moves_due(tenant, ticket)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        event = Event.objects.get(ticket=ticket, field="due_at")
    assert ticket.due_at == due
    assert (ticket.version, ticket.updated_at) == (version, updated_at)
    assert event.kind == Event.Kind.FIELD_CHANGED
    assert (event.actor_user, event.actor_contact, event.actor_system) == (None, None, "sla")
    assert event.reason == "Standard policy: first reply in 4h"
    assert event.is_public is False
    assert event.old_value is None and event.new_value["value"] == due.isoformat()


def test_an_assignment_by_dispatch_is_a_change_agents_see_and_notifies_the_assignee(
    tenant, ticket, colleague
):
    version = ticket.version
    _dispatch_assigns(tenant, ticket, colleague)
    with tenant_context(tenant):
        ticket.refresh_from_db()
        changes = list(
            Event.objects.filter(ticket=ticket, actor_system="dispatch")
            .order_by("pk")
            .values_list("kind", "field", "reason")
        )
        # The handler a worker runs after the commit (subscribed to "assigned").
        assigned = Event.objects.get(ticket=ticket, kind=Event.Kind.ASSIGNED)
        assert "tickets.notify_assignee" in [h.name for h in events.handlers_for(assigned)]
        handlers.notify_assignee(assigned)
        notified = Notification.objects.get(user=colleague)
    assert ticket.assignee == colleague and ticket.status == Ticket.Status.OPEN
    assert ticket.version == version + 1
    assert changes == [
        ("assigned", "assignee", "Round robin in Tier 1"),
        ("status_changed", "status", "Round robin in Tier 1"),
    ]
    assert notified.text.startswith(f"Routing assigned {ticket.reference} to you")


def test_a_system_change_that_changes_nothing_writes_nothing(tenant, ticket):
    with tenant_context(tenant):
        before = Event.objects.count()
        services.ticket_system_update(
            ticket=ticket, source="sla", reason="Recomputed", priority=ticket.priority
        )
        assert Event.objects.count() == before
        assert Ticket.objects.get(pk=ticket.pk).version == ticket.version


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"subject": "Not a system's to change"}, TypeError),
        ({"due_at": datetime(2030, 1, 1, 9, 0)}, ValidationError),  # no time zone
        ({"due_at": "tomorrow"}, ValidationError),
        ({"priority": 9}, ValidationError),
        ({"status": "reopened"}, ValidationError),
        ({"tags": ["<script>"]}, ValidationError),
    ],
)
def test_bad_system_changes_are_refused_and_write_nothing(tenant, ticket, changes, error):
    with tenant_context(tenant):
        before = Event.objects.count()
        with pytest.raises(error):
            services.ticket_system_update(ticket=ticket, source="sla", reason="x", **changes)
        assert Event.objects.count() == before
        assert Ticket.objects.get(pk=ticket.pk).version == ticket.version


def test_a_system_is_named_and_says_why(tenant, ticket):
    with tenant_context(tenant):
        with pytest.raises(ValueError, match="system_actors"):
            services.ticket_system_update(ticket=ticket, source="robot", reason="x", priority=4)
        with pytest.raises(ValueError, match="reason"):
            services.ticket_system_update(ticket=ticket, source="sla", reason=" ", priority=4)


def test_rows_of_another_help_desk_and_non_members_are_refused(
    tenant, other_tenant, ticket, outsider
):
    with tenant_context(other_tenant):
        their_group = SupportGroupFactory()
    with tenant_context(tenant):
        with pytest.raises(ValidationError, match="group"):
            services.ticket_system_update(
                ticket=ticket, source="dispatch", reason="x", group=their_group
            )
        with pytest.raises(ValidationError, match="not an agent"):
            services.ticket_system_update(
                ticket=ticket, source="dispatch", reason="x", assignee=outsider
            )
        assert Ticket.objects.get(pk=ticket.pk).assignee is None


def test_a_closed_ticket_keeps_its_fields_but_its_deadline_can_be_cleared(
    tenant, ticket, agent, colleague
):
    _sla_moves_due(tenant, ticket)
    with tenant_context(tenant):
        services.ticket_change_status(
            ticket=ticket, actor=agent, status="closed", expected_version=None
        )
        with pytest.raises(ValidationError, match="closed"):
            services.ticket_system_update(
                ticket=ticket, source="dispatch", reason="x", assignee=colleague
            )
        services.ticket_system_update(ticket=ticket, source="sla", reason="Closed", due_at=None)
        assert Ticket.objects.get(pk=ticket.pk).due_at is None


# ---------------------------------------------------------------- agents' open edits


def test_an_agents_edit_survives_an_sla_deadline_and_a_dispatch_assignment_meanwhile(
    tenant, ticket, agent, colleague, login
):
    client = login(agent)
    form = _open_details(client, tenant, ticket)
    due = _sla_moves_due(tenant, ticket)
    _dispatch_assigns(tenant, ticket, colleague)
    form["priority"] = "4"  # the agent changes only the priority
    response = client.post(
        reverse("tickets:update", args=[tenant.slug, ticket.number]), form, follow=True
    )
    assert response.status_code == 200
    page = _text(response)
    assert (
        "Meanwhile Routing changed status to Open; Routing changed assignee to Dana Smith, "
        "which stays as they set it." in page
    )
    with tenant_context(tenant):
        ticket.refresh_from_db()
        mine = list(Event.objects.filter(ticket=ticket, actor_user=agent).values_list("field"))
    # Nothing lost: the agent's priority, dispatch's assignee, SLA's deadline.
    assert (ticket.priority, ticket.assignee, ticket.due_at) == (4, colleague, due)
    assert mine == [("priority",)]
    # The timeline says who did what and why.
    assert "Routing assigned it to Dana Smith (Round robin in Tier 1)" in page
    assert "SLA changed due time to" in page


def test_an_agent_who_assigned_while_dispatch_did_too_sees_the_clash(
    tenant, ticket, dispatcher, agent, colleague, login
):
    client = login(dispatcher)
    form = _open_details(client, tenant, ticket)
    _dispatch_assigns(tenant, ticket, colleague)
    form["assignee"] = str(agent.pk)
    url = reverse("tickets:update", args=[tenant.slug, ticket.number])
    response = client.post(url, form)
    assert response.status_code == 409
    page = _text(response)
    assert "Routing also changed assignee" in page
    assert "Also changed by Routing to Dana Smith; yours is selected" in page
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.assignee == colleague  # nothing of the agent's written
    # Saving again as the refused page stands keeps the agent's choice.
    assert client.post(url, _form_values(response.content.decode(), url)).status_code == 302
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_a_reply_and_a_board_move_on_a_page_opened_before_a_deadline_change_go_through(
    tenant, ticket, agent, login
):
    client = login(agent)
    version = ticket.version
    _sla_moves_due(tenant, ticket)
    reply = client.post(
        reverse("tickets:reply", args=[tenant.slug, ticket.number]),
        {"version": version, "kind": "note", "body": "Checked the printer.", "status_after": ""},
    )
    assert reply.status_code == 302
    with tenant_context(tenant):
        ticket.refresh_from_db()
    _sla_moves_due(tenant, ticket, hours=8)
    moved = client.post(
        reverse("tickets:move", args=[tenant.slug, ticket.number]),
        {"status": "pending", "version": ticket.version},
    )
    assert moved.status_code == 200


def test_the_live_page_brings_a_deadline_change_through_its_event(tenant, ticket, agent, login):
    client = login(agent)
    page = client.get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    poll = re.search(r'hx-get="([^"]*/state/[^"]*)"', page.content.decode()).group(1)
    poll = poll.replace("&amp;", "&")
    assert client.get(poll, HTTP_HX_REQUEST="true").status_code == 204
    _sla_moves_due(tenant, ticket)
    fresh = client.get(poll, HTTP_HX_REQUEST="true")
    assert fresh.status_code == 200
    text = _text(fresh)
    assert "SLA changed due time to" in text and "Standard policy: first reply in 4h" in text
    assert "SLA changed due time." in text  # said in the live region too


def test_many_system_assignments_are_written_at_once_like_single_ones(
    tenant, ticket, colleague, outsider
):
    with tenant_context(tenant):
        second = TicketFactory(subject="Second")
        done = services.tickets_system_assign(
            assignments=[(ticket, colleague, "Least loaded"), (second, colleague, "Next")],
            source="dispatch",
        )
        for each in (ticket, second):
            stored = Ticket.objects.get(pk=each.pk)
            assert (stored.assignee, stored.status) == (colleague, "open")
            assert stored.version == each.version
            assert stored.updated_at == done[each.pk].created_at
            assert done[each.pk].actor_system == "dispatch"
            assert done[each.pk].new_value["label"] == "Dana Smith"
            kinds = set(
                Event.objects.filter(ticket=each, actor_system="dispatch").values_list(
                    "kind", flat=True
                )
            )
            assert kinds == {"assigned", "status_changed"}
        third = TicketFactory(subject="Third")
        with pytest.raises(ValidationError, match="not an agent"):
            services.tickets_system_assign(assignments=[(third, outsider, "x")], source="dispatch")
        with pytest.raises(ValueError, match="not an open, unassigned"):
            services.tickets_system_assign(
                assignments=[(Ticket.objects.get(pk=second.pk), colleague, "x")],
                source="dispatch",
            )
        assert Ticket.objects.get(pk=third.pk).assignee is None
