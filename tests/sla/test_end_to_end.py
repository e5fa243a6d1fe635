"""From a real mail through intake to a breach: the ticket the mail makes
gets deadlines, the first public reply meets the first response, the
customer's answer by mail starts a next response, pending pauses it, and
its breach alerts once."""

import uuid
from datetime import timedelta

from django.urls import reverse

from helpdesk.models import Notification
from helpdesk.tenancy import tenant_context
from sla.models import Alert, Calendar, TargetKind, TicketTarget
from sla.services.alerts import sla_sweep
from tickets import intake, services
from tickets.models import InboundEmail, Message, Ticket

from .conftest import make_policy, run_handlers

State = TicketTarget.State


def _mail(subject: str, body: str) -> bytes:
    return (
        "From: Pat Lee <pat@example.com>\r\nTo: help@acme.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4()}@example.com>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _deliver(client, tenant, mailbox, token, raw: bytes) -> None:
    """As the mail provider posts it, then as the intake worker files it and
    the event worker runs the handlers."""
    response = client.post(
        reverse("tickets:inbound_webhook", args=[tenant.slug, mailbox.public_id]),
        data=raw,
        content_type="message/rfc822",
        headers={"X-Helpdesk-Token": token},
    )
    assert response.status_code == 202
    with tenant_context(tenant):
        for inbound in InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED):
            intake.inbound_process(inbound=inbound)
        run_handlers()


def _targets(ticket) -> dict[str, TicketTarget]:
    return {row.kind: row for row in TicketTarget.objects.filter(ticket=ticket)}


def test_a_mailed_ticket_through_its_sla_life_to_one_breach_alert(client, tenant, agent):
    with tenant_context(tenant):
        always = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        make_policy(always, hours=(1, 2, 8), channels=["email"])
        mailbox, token = services.mailbox_create(name="Support", address="help@acme.example")

    # A mail makes a ticket, and the ticket gets its deadlines.
    _deliver(client, tenant, mailbox, token, _mail("Printer on fire", "Smoke from tray 2."))
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        rows = _targets(ticket)
        assert set(rows) == {TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION}
        first = rows[TargetKind.FIRST_RESPONSE]
        assert first.state == State.ON_TRACK
        assert first.due_at == ticket.created_at.replace(microsecond=0) + timedelta(hours=1)
        assert ticket.due_at == first.due_at
        services.ticket_update(ticket=ticket, actor=agent, expected_version=None, assignee=agent)

        # The first public reply meets the first response.
        services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body="Unplug it, please.", author_user=agent
        )
        run_handlers()
        rows = _targets(ticket)
        assert rows[TargetKind.FIRST_RESPONSE].state == State.MET
        assert TargetKind.NEXT_RESPONSE not in rows
        ticket.refresh_from_db()
        assert ticket.due_at == rows[TargetKind.RESOLUTION].due_at

    # The customer answers by mail: a next response starts.
    _deliver(
        client,
        tenant,
        mailbox,
        token,
        _mail(f"Re: [{ticket.reference}] Printer on fire", "Done, still smoking."),
    )
    with tenant_context(tenant):
        answer = ticket.messages.filter(kind=Message.Kind.CUSTOMER).latest("created_at")
        assert answer.body_text.startswith("Done, still smoking")
        following = _targets(ticket)[TargetKind.NEXT_RESPONSE]
        assert following.state == State.ON_TRACK and following.cycle == 1
        assert following.started_at == answer.created_at
        assert following.due_at == answer.created_at.replace(microsecond=0) + timedelta(hours=2)
        ticket.refresh_from_db()
        assert ticket.due_at == following.due_at

        # Pending pauses it: no deadline while the ticket waits.
        ticket = services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.PENDING, expected_version=None
        )
        run_handlers()
        assert _targets(ticket)[TargetKind.NEXT_RESPONSE].state == State.PAUSED
        ticket.refresh_from_db()
        assert ticket.due_at is None
        ticket = services.ticket_change_status(
            ticket=ticket, actor=agent, status=Ticket.Status.OPEN, expected_version=None
        )
        run_handlers()
        following = _targets(ticket)[TargetKind.NEXT_RESPONSE]
        assert following.state == State.ON_TRACK
        assert following.due_at >= answer.created_at.replace(microsecond=0) + timedelta(hours=2)

        # Its deadline passes: one breach alert, however often the sweep runs.
        late = following.due_at + timedelta(minutes=1)
        results = [sla_sweep(now=late) for _ in range(3)]
        # Past its deadline, the sweep goes straight to the breach.
        assert [result["acted"] for result in results] == [1, 0, 0]
        breach = _targets(ticket)[TargetKind.NEXT_RESPONSE]
        assert breach.state == State.BREACHED and breach.breached_at == following.due_at
        assert Alert.objects.filter(ticket=ticket, level=Alert.Level.BREACHED).count() == 1
        assert ticket.events.filter(kind="sla_breached").count() == 1
        assert Notification.objects.filter(user=agent, text__contains="breached").count() == 1
        assert sla_sweep(now=late + timedelta(hours=1))["acted"] == 0
        assert Alert.objects.filter(ticket=ticket, level=Alert.Level.BREACHED).count() == 1
