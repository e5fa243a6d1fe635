import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import (
    CategoryFactory,
    ContactFactory,
    MembershipFactory,
    TicketFactory,
    add_reply,
)
from tickets import services
from tickets.models import Event, Message, Ticket

pytestmark = pytest.mark.usefixtures("in_tenant")


def _kinds(ticket):
    return list(Event.objects.filter(ticket=ticket).order_by("pk").values_list("kind", flat=True))


def test_create_writes_ticket_first_message_and_event(agent):
    ticket = TicketFactory(actor=agent, subject="  Printer   on fire ", tags="VIP, printer vip")
    assert ticket.status == Ticket.Status.NEW
    assert ticket.subject == "Printer on fire"
    assert ticket.tags == ["vip", "printer"]
    assert ticket.messages.get().kind == Message.Kind.CUSTOMER
    assert _kinds(ticket) == [Event.Kind.CREATED, Event.Kind.MESSAGE_ADDED]


def test_create_with_bad_input_writes_nothing():
    requester = ContactFactory()
    with pytest.raises(ValidationError) as error:
        services.ticket_create(requester=requester, subject=" ", body="", priority=9)
    assert set(error.value.message_dict) == {"body", "priority"}
    with pytest.raises(ValidationError):
        services.ticket_create(requester=requester, subject="Hi", body="x", tags="no spaces!")
    assert Ticket.objects.count() == 0
    assert Event.objects.count() == 0


def test_stale_edit_is_refused_and_nothing_is_overwritten(agent, dispatcher):
    ticket = TicketFactory()
    seen_version = ticket.version
    services.ticket_update(
        ticket=ticket,
        actor=dispatcher,
        expected_version=seen_version,
        priority=Ticket.Priority.HIGH,
    )
    with pytest.raises(services.TicketConflict) as conflict:
        services.ticket_update(
            ticket=ticket, actor=agent, expected_version=seen_version, priority=Ticket.Priority.LOW
        )
    assert dispatcher.get_full_name() in str(conflict.value)
    assert conflict.value.ticket.priority == Ticket.Priority.HIGH
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.HIGH
    assert ticket.version == seen_version + 1


def test_reply_on_a_stale_version_is_refused(agent):
    ticket = TicketFactory()
    add_reply(ticket, agent)
    with pytest.raises(services.TicketConflict):
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="Late answer",
            author_user=agent,
            expected_version=ticket.version,  # the version before the first reply
        )
    assert ticket.messages.count() == 2


def test_each_changed_field_is_one_event_with_before_and_after(dispatcher):
    ticket = TicketFactory()
    category = CategoryFactory(name="Billing")
    ticket = services.ticket_update(
        ticket=ticket,
        actor=dispatcher,
        expected_version=ticket.version,
        priority=Ticket.Priority.URGENT,
        category=category,
        type=ticket.type,  # unchanged: no event
    )
    changes = Event.objects.filter(ticket=ticket, kind=Event.Kind.FIELD_CHANGED).order_by("field")
    assert [(e.field, e.old_value, e.new_value["label"]) for e in changes] == [
        ("category", None, "Billing"),
        ("priority", {"value": 2, "label": "Normal"}, "Urgent"),
    ]


def test_status_transitions_follow_the_rules(agent):
    ticket = TicketFactory()
    ticket = services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.RESOLVED, expected_version=None
    )
    assert ticket.resolved_at is not None
    with pytest.raises(ValidationError, match="cannot become pending"):
        services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.PENDING, expected_version=None
        )
    ticket = services.ticket_change_status(
        ticket=ticket, actor=agent, status=Ticket.Status.CLOSED, expected_version=None
    )
    with pytest.raises(ValidationError, match="closed"):
        services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.OPEN, expected_version=None
        )
    with pytest.raises(ValidationError, match="follow-up"):
        add_reply(ticket, agent)


def test_follow_up_of_a_closed_ticket_is_a_new_linked_ticket(agent):
    closed = TicketFactory()
    services.ticket_change_status(
        ticket=closed, actor=agent, status=Ticket.Status.CLOSED, expected_version=None
    )
    follow_up = TicketFactory(requester=closed.requester, follow_up_of=closed)
    assert follow_up.number == closed.number + 1
    assert list(closed.follow_ups.all()) == [follow_up]


def test_public_reply_records_first_response_and_opens_a_new_ticket(agent):
    ticket = TicketFactory()
    services.message_add(ticket=ticket, kind=Message.Kind.NOTE, body="hm", author_user=agent)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and ticket.status == Ticket.Status.NEW
    reply = add_reply(ticket, agent)
    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at
    assert ticket.status == Ticket.Status.OPEN


def test_customer_message_reopens_a_pending_ticket(agent):
    ticket = TicketFactory()
    services.message_add(
        ticket=ticket,
        kind=Message.Kind.REPLY,
        body="Which version?",
        author_user=agent,
        status_after=Ticket.Status.PENDING,
    )
    services.message_add(
        ticket=ticket, kind=Message.Kind.CUSTOMER, body="2.1", author_contact=ticket.requester
    )
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN


def test_message_html_is_sanitised(agent):
    ticket = TicketFactory()
    message = services.message_add(
        ticket=ticket,
        kind=Message.Kind.REPLY,
        body="see html",
        body_html='<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">l</a></p>',
        author_user=agent,
    )
    assert "script" not in message.body_html
    assert "onclick" not in message.body_html
    assert "javascript:" not in message.body_html
    assert "<p>Hi" in message.body_html


def test_agents_take_tickets_but_only_dispatchers_assign_others(tenant, agent, dispatcher):
    ticket = TicketFactory()
    with pytest.raises(PermissionDenied):
        services.ticket_assign(
            ticket=ticket, actor=agent, assignee=dispatcher, expected_version=None
        )
    ticket = services.ticket_assign(
        ticket=ticket, actor=agent, assignee=agent, expected_version=None
    )
    assert ticket.assignee == agent
    assert ticket.status == Ticket.Status.OPEN  # taking a new ticket starts work on it
    ticket = services.ticket_assign(
        ticket=ticket, actor=dispatcher, assignee=dispatcher, expected_version=None
    )
    assert ticket.assignee == dispatcher


def test_assignee_must_belong_to_the_tenant(other_tenant, dispatcher):
    stranger = MembershipFactory(tenant=other_tenant).user
    ticket = TicketFactory()
    with pytest.raises(ValidationError, match="not an agent"):
        services.ticket_assign(
            ticket=ticket, actor=dispatcher, assignee=stranger, expected_version=None
        )


def test_new_contact_joins_the_organisation_of_its_domain():
    from tickets.models import Organization

    org = Organization.objects.create(
        tenant_id=ContactFactory().tenant_id, name="Initech", email_domains=["initech.example"]
    )
    contact = services.contact_get_or_create(email="Peter@Initech.example", name="Peter")
    assert contact.organization == org
    assert services.contact_get_or_create(email="peter@initech.example") == contact
