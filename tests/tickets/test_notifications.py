"""Who is notified of what: each kind reaches the right member and never
the one who acted; each member's choices turn a channel off; mail comes as
one digest per window, sent once however often the beat runs."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail as outbox
from django.utils import timezone

from helpdesk.models import (
    Membership,
    Notification,
    NotificationDigestState,
    SupportGroupMember,
)
from helpdesk.notifications import notification_preferences_save
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, SupportGroupFactory, TicketFactory, add_reply
from tickets import events, services, tasks
from tickets import notifications as ticket_notifications
from tickets.mentions import mentioned_handles
from tickets.models import Event, Message, OutboundEmail, Ticket


def _member(tenant, username, first="", last="", email=None, role=Membership.Role.AGENT):
    user = MembershipFactory(
        tenant=tenant,
        role=role,
        user__username=username,
        user__first_name=first,
        user__last_name=last,
    ).user
    user.email = email if email is not None else f"{username}@acme.example"
    user.save()
    return user


@pytest.fixture
def pat(tenant):
    return _member(tenant, "pat", "Pat", "Lee")


@pytest.fixture
def sam(tenant):
    # A dispatcher: gives tickets to others.
    return _member(tenant, "sam", "Sam", "Okafor", role=Membership.Role.DISPATCHER)


def _handle_events(tenant):
    """What the workers do after the commit: run every waiting event's handlers."""
    with tenant_context(tenant):
        waiting = list(Event.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
        report = events.events_run(event_ids=waiting)
    assert report.failures == []


def _notified(tenant, user, kind=None):
    with tenant_context(tenant):
        rows = Notification.objects.filter(user=user)
        if kind:
            rows = rows.filter(kind=kind)
        return list(rows.order_by("pk"))


# ---------------------------------------------------------------- each kind


def test_assigned_to_me_reaches_the_assignee_not_the_one_who_assigned(tenant, pat, sam):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire")
        services.ticket_assign(ticket=ticket, actor=sam, assignee=pat, expected_version=None)
    _handle_events(tenant)
    [note] = _notified(tenant, pat, ticket_notifications.ASSIGNED)
    assert note.text == f"Sam Okafor assigned {ticket.reference} to you: Printer on fire"
    assert note.url == f"/acme/tickets/{ticket.number}/"
    assert note.in_app and note.mail_pending
    assert _notified(tenant, sam) == []


def test_taking_a_ticket_oneself_notifies_nobody(tenant, pat):
    with tenant_context(tenant):
        ticket = TicketFactory()
        services.ticket_assign(ticket=ticket, actor=pat, assignee=pat, expected_version=None)
    _handle_events(tenant)
    assert _notified(tenant, pat) == []


def test_customer_replied_reaches_the_assignee_only_on_a_later_message(tenant, pat, sam):
    with tenant_context(tenant):
        ticket = TicketFactory(assignee=pat, subject="VPN drops")
    _handle_events(tenant)
    assert _notified(tenant, pat, ticket_notifications.CUSTOMER_REPLIED) == []
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            body="Still broken",
            author_contact=ticket.requester,
        )
    _handle_events(tenant)
    [note] = _notified(tenant, pat, ticket_notifications.CUSTOMER_REPLIED)
    assert note.text == f"{ticket.requester.display_name} replied on {ticket.reference}: VPN drops"
    assert _notified(tenant, sam) == []


def test_a_mention_in_a_note_reaches_each_member_named_but_not_the_author(tenant, pat, sam):
    outsider = _member(tenant, "kim")
    Membership.objects.filter(user=outsider).delete()  # left the help desk
    with tenant_context(tenant):
        ticket = TicketFactory()
        add_reply(
            ticket,
            sam,
            body="@pat can you look? @sam.okafor noted, @kim and @nobody too; mail@pat.example",
            kind=Message.Kind.NOTE,
        )
    _handle_events(tenant)
    [note] = _notified(tenant, pat, ticket_notifications.MENTIONED)
    assert note.text.startswith(f"Sam Okafor mentioned you on {ticket.reference}: @pat can you")
    assert note.url.startswith(f"/acme/tickets/{ticket.number}/#message-")
    assert _notified(tenant, sam) == []  # wrote it
    assert _notified(tenant, outsider) == []  # no longer a member


def test_a_display_name_handle_works_when_it_is_unique(tenant, pat, sam):
    twin = _member(tenant, "pat2", "Pat", "Lee")
    with tenant_context(tenant):
        ticket = TicketFactory()
        add_reply(ticket, sam, body="Ask @pat.lee", kind=Message.Kind.NOTE)
        add_reply(ticket, sam, body="Ask @sam.okafor, @pat2", kind=Message.Kind.NOTE)
    _handle_events(tenant)
    # Two members are "Pat Lee": the name names neither; a username always works.
    assert _notified(tenant, pat) == []
    assert len(_notified(tenant, twin)) == 1


def test_a_public_reply_with_an_at_sign_mentions_nobody(tenant, pat, sam):
    with tenant_context(tenant):
        ticket = TicketFactory()
        add_reply(ticket, sam, body="@pat will call you", kind=Message.Kind.REPLY)
    _handle_events(tenant)
    assert _notified(tenant, pat) == []


def test_mention_handles_are_read_as_people_write_them():
    assert mentioned_handles("ask @Pat.Lee. Then @sam, (@kim) and a@b.example @") == [
        "pat.lee",
        "sam",
        "kim",
    ]


def test_a_new_urgent_ticket_reaches_its_groups_members_but_not_its_creator(tenant, pat, sam):
    kim = _member(tenant, "kim", "Kim", "Wu")
    with tenant_context(tenant):
        group = SupportGroupFactory(name="Network")
        other = SupportGroupFactory(name="Billing")
        for user in (pat, sam):
            SupportGroupMember.objects.create(tenant=tenant, group=group, user=user)
        SupportGroupMember.objects.create(tenant=tenant, group=other, user=kim)
        ticket = services.ticket_create(
            requester_email="ceo@example.com",
            subject="Office offline",
            body="Nothing works",
            priority=Ticket.Priority.URGENT,
            group=group,
            actor=sam,
            channel=Ticket.Channel.PHONE,
        )
        calm = TicketFactory(group=group, subject="Toner low")
    _handle_events(tenant)
    [note] = _notified(tenant, pat, ticket_notifications.URGENT_IN_GROUP)
    assert note.text == f"Urgent in Network: {ticket.reference} Office offline"
    assert _notified(tenant, sam) == [] and _notified(tenant, kim) == []
    # Made urgent later, and moved to another group: that group hears once.
    with tenant_context(tenant):
        services.ticket_update(ticket=calm, actor=sam, expected_version=None, priority=4)
        services.ticket_update(ticket=calm, actor=sam, expected_version=None, priority=3)
        services.ticket_update(ticket=calm, actor=sam, expected_version=None, priority=4)
    _handle_events(tenant)
    assert [n.text for n in _notified(tenant, pat, ticket_notifications.URGENT_IN_GROUP)] == [
        note.text,
        f"Urgent in Network: {calm.reference} Toner low",
    ]


def test_an_urgent_ticket_someone_has_already_notifies_no_group(tenant, pat, sam):
    with tenant_context(tenant):
        group = SupportGroupFactory(name="Network")
        SupportGroupMember.objects.create(tenant=tenant, group=group, user=pat)
        TicketFactory(group=group, priority=Ticket.Priority.URGENT, assignee=sam)
    _handle_events(tenant)
    assert _notified(tenant, pat, ticket_notifications.URGENT_IN_GROUP) == []


def test_a_handler_run_twice_notifies_once(tenant, pat, sam):
    with tenant_context(tenant):
        ticket = TicketFactory()
        services.ticket_assign(ticket=ticket, actor=sam, assignee=pat, expected_version=None)
        assigned = Event.objects.get(ticket=ticket, kind=Event.Kind.ASSIGNED)
        ticket_notifications.notify_assignee(assigned)
        ticket_notifications.notify_assignee(assigned)
    assert len(_notified(tenant, pat)) == 1


# ---------------------------------------------------------------- choices


@pytest.mark.parametrize(
    ("in_app", "mail", "expected"),
    [
        (True, True, (True, True)),
        (False, True, (False, True)),
        (True, False, (True, False)),
        (False, False, None),
    ],
)
def test_each_channel_can_be_turned_off(tenant, pat, sam, in_app, mail, expected):
    with tenant_context(tenant):
        notification_preferences_save(
            user=pat, choices={ticket_notifications.ASSIGNED: (in_app, mail)}
        )
        ticket = TicketFactory()
        services.ticket_assign(ticket=ticket, actor=sam, assignee=pat, expected_version=None)
    _handle_events(tenant)
    rows = _notified(tenant, pat)
    assert [(n.in_app, n.mail_pending) for n in rows] == ([expected] if expected else [])


def test_no_mail_for_a_member_without_an_address(tenant, sam):
    nomail = _member(tenant, "nomail", email="")
    with tenant_context(tenant):
        ticket = TicketFactory()
        services.ticket_assign(ticket=ticket, actor=sam, assignee=nomail, expected_version=None)
    _handle_events(tenant)
    [note] = _notified(tenant, nomail)
    assert note.in_app and not note.mail_pending


# ---------------------------------------------------------------- digests


def _assign(tenant, actor, assignee, subject):
    with tenant_context(tenant):
        ticket = TicketFactory(subject=subject)
        services.ticket_assign(ticket=ticket, actor=actor, assignee=assignee, expected_version=None)
    _handle_events(tenant)
    return ticket


def _digests(tenant):
    with tenant_context(tenant):
        return list(OutboundEmail.objects.filter(kind=OutboundEmail.Kind.DIGEST).order_by("pk"))


def _beat(tenant):
    """The beat's per-tenant digest task, as a worker runs it; its mail is
    sent by the outgoing-mail task it hands over to."""
    with mock.patch("tickets.mail._hand_over_send.after_commit") as hand_over:
        tasks.send_tenant_notification_digests.apply(kwargs={"tenant_id": tenant.pk}, throw=True)
    for call in hand_over.call_args_list:
        for tenant_id, outbound_id in call.args[0]:
            tasks.send_outbound_email.apply(
                kwargs={"tenant_id": tenant_id, "outbound_id": outbound_id}, throw=True
            )


def test_the_digest_lists_what_happened_in_one_mail_and_is_sent_once_when_run_twice(
    tenant, pat, sam
):
    first = _assign(tenant, sam, pat, "Printer on fire")
    second = _assign(tenant, sam, pat, "VPN drops")
    _beat(tenant)
    _beat(tenant)
    [digest] = _digests(tenant)
    assert digest.status == OutboundEmail.Status.SENT and digest.to == ["pat@acme.example"]
    [sent] = outbox.outbox
    assert sent.to == ["pat@acme.example"]
    assert sent.subject == "Acme Support: 2 new notifications"
    assert f"assigned {first.reference} to you: Printer on fire" in sent.body
    assert f"assigned {second.reference} to you: VPN drops" in sent.body
    assert f"/acme/tickets/{first.number}/" in sent.body
    assert sent.extra_headers["Auto-Submitted"] == "auto-generated"
    with tenant_context(tenant):
        assert not Notification.objects.filter(mail_pending=True).exists()


def test_at_most_one_digest_per_window(tenant, pat, sam, settings):
    settings.NOTIFICATION_MAIL_MINUTES = 5
    _assign(tenant, sam, pat, "Printer on fire")
    _beat(tenant)
    _assign(tenant, sam, pat, "VPN drops")
    _beat(tenant)  # within the window: waits
    assert len(_digests(tenant)) == 1
    with tenant_context(tenant):
        # The window passes.
        NotificationDigestState.objects.update(
            last_sent_at=timezone.now() - timedelta(minutes=5, seconds=1)
        )
    _beat(tenant)
    assert len(_digests(tenant)) == 2
    assert "VPN drops" in outbox.outbox[1].body and "Printer" not in outbox.outbox[1].body


def test_a_second_sweep_at_the_same_moment_cannot_claim_the_same_digest(tenant, pat, sam):
    from helpdesk.notifications import digest_claim

    _assign(tenant, sam, pat, "Printer on fire")
    now = timezone.now()
    with tenant_context(tenant):
        assert len(digest_claim(user_id=pat.pk, now=now)) == 1
        # Another notification arrives; a second claim inside the window gets nothing.
        Notification.objects.update(mail_pending=True)
        assert digest_claim(user_id=pat.pk, now=now + timedelta(seconds=1)) is None


def test_the_beat_fans_out_to_tenants_with_digests_due_only(tenant, other_tenant, pat, sam):
    _assign(tenant, sam, pat, "Printer on fire")
    with mock.patch.object(tasks.send_tenant_notification_digests, "apply_async") as publish:
        assert tasks.send_notification_digests.apply(throw=True).get() == 1
    assert publish.call_args.kwargs["kwargs"] == {"tenant_id": tenant.pk}
