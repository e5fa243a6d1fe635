"""Who hears about a ticket's events: the ticket app's notification kinds
(registered in `helpdesk.extensions.notification_kinds`), the event
handlers that create them, and the mail digests that bring them to agents.

Each handler notifies once per event and recipient (the notification's
unique `source_key`), never the person who made the change. Digests live
here rather than in `helpdesk` because they go out through this app's
outgoing mail (`tickets.mail`), which `helpdesk` may not import; the beat
task is `tickets.tasks.send_notification_digests`.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from helpdesk.extensions import DemoSeeder, NotificationKind, demo_seeders, notification_kinds
from helpdesk.models import Membership, SupportGroupMember
from helpdesk.notifications import (
    DIGEST_WORK,
    digest_claim,
    digests_pending,
    member_handles,
    notification_create,
)
from helpdesk.tenant_work import work_sweep_claim, work_sweep_next

from . import mail
from .events import subscribe
from .extensions import system_actor_label
from .mentions import mentioned_handles
from .models import Event, Message, Ticket

ASSIGNED = "tickets.assigned"
CUSTOMER_REPLIED = "tickets.customer_replied"
MENTIONED = "tickets.mentioned"
URGENT_IN_GROUP = "tickets.urgent_in_group"


def register_notification_kinds() -> None:
    """The ticket app's kinds, and its demo of them (called once, from
    `TicketsConfig.ready()`)."""
    demo_seeders.register(
        DemoSeeder(name="tickets.notifications", seed=seed_demo_notifications, order=50)
    )
    for kind in (
        NotificationKind(
            name=ASSIGNED,
            label="Assigned to me",
            description="A colleague, or routing, gives you a ticket.",
            default_mail=True,
            order=10,
        ),
        NotificationKind(
            name=CUSTOMER_REPLIED,
            label="Customer replied on my ticket",
            description="The customer writes again on a ticket assigned to you.",
            order=20,
        ),
        NotificationKind(
            name=MENTIONED,
            label="Mentioned in a note",
            description="Someone writes @ and your name in an internal note.",
            default_mail=True,
            order=30,
        ),
        NotificationKind(
            name=URGENT_IN_GROUP,
            label="New urgent ticket in my group",
            description="An urgent ticket nobody has yet arrives in one of your groups.",
            default_mail=True,
            order=40,
        ),
    ):
        notification_kinds.register(kind)


def _ticket_url(ticket: Ticket) -> str:
    return reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number])


def _actor_name(event: Event) -> str:
    if event.actor_user_id:
        return event.actor_user.get_full_name() or event.actor_user.get_username()
    if event.actor_contact_id:
        return event.actor_contact.display_name
    if event.actor_system:
        return system_actor_label(event.actor_system)
    return "Routing"


def _is_member(user_id: int, tenant_id: int) -> bool:
    return Membership.objects.filter(tenant_id=tenant_id, user_id=user_id).exists()


# ---------------------------------------------------------------- assigned


def _assigned_by_someone_else(event: Event) -> bool:
    assignee_id = (event.new_value or {}).get("value")
    return bool(assignee_id) and assignee_id != event.actor_user_id


@subscribe("tickets.notify_assignee", kinds=[Event.Kind.ASSIGNED], when=_assigned_by_someone_else)
def notify_assignee(event: Event) -> None:
    """Tell an agent that a ticket was given to them by someone else."""
    assignee_id = event.new_value["value"]
    ticket = event.ticket
    notification_create(
        kind=ASSIGNED,
        user_id=assignee_id,
        text=f"{_actor_name(event)} assigned {ticket.reference} to you: {ticket.subject}",
        url=_ticket_url(ticket),
        source_key=f"event:{event.pk}",
    )


# ---------------------------------------------------------------- customer replied


def _is_customer_reply_to_assignee(event: Event) -> bool:
    # Set by message_add on a customer's later message to an assigned ticket.
    details = event.new_value or {}
    return details.get("kind") == Message.Kind.CUSTOMER and bool(details.get("assignee"))


@subscribe(
    "tickets.notify_customer_reply",
    kinds=[Event.Kind.MESSAGE_ADDED],
    when=_is_customer_reply_to_assignee,
)
def notify_customer_reply(event: Event) -> None:
    """Tell the assignee that the customer wrote again on their ticket."""
    ticket = event.ticket
    if not ticket.assignee_id or ticket.assignee_id == event.actor_user_id:
        return  # given back since
    notification_create(
        kind=CUSTOMER_REPLIED,
        user_id=ticket.assignee_id,
        text=f"{_actor_name(event)} replied on {ticket.reference}: {ticket.subject}",
        url=_ticket_url(ticket),
        source_key=f"event:{event.pk}:reply",
    )


# ---------------------------------------------------------------- mentions


def _is_note_with_mentions(event: Event) -> bool:
    details = event.new_value or {}
    return details.get("kind") == Message.Kind.NOTE and bool(details.get("mentions"))


@subscribe("tickets.notify_mentions", kinds=[Event.Kind.MESSAGE_ADDED], when=_is_note_with_mentions)
def notify_mentions(event: Event) -> None:
    """Tell each member named with @ in an internal note (not its author)."""
    handles = mentioned_handles(event.message.body_text if event.message_id else "")
    if not handles:
        return
    members = member_handles()
    ticket = event.ticket
    snippet = " ".join(event.message.body_text.split())
    if len(snippet) > 120:
        snippet = snippet[:119] + "…"
    for user_id in dict.fromkeys(members[h] for h in handles if h in members):
        if user_id == event.actor_user_id:
            continue
        notification_create(
            kind=MENTIONED,
            user_id=user_id,
            text=f"{_actor_name(event)} mentioned you on {ticket.reference}: {snippet}",
            url=f"{_ticket_url(ticket)}#message-{event.message_id}",
            source_key=f"event:{event.pk}:mention",
        )


# ---------------------------------------------------------------- urgent in group


def _may_make_urgent_in_group(event: Event) -> bool:
    if event.kind == Event.Kind.CREATED:
        return True
    value = (event.new_value or {}).get("value")
    if event.field == "priority":
        return value == Ticket.Priority.URGENT
    return event.field == "group" and value is not None


@subscribe(
    "tickets.notify_urgent_in_group",
    kinds=[Event.Kind.CREATED, Event.Kind.FIELD_CHANGED],
    when=_may_make_urgent_in_group,
)
def notify_urgent_in_group(event: Event) -> None:
    """Tell a group's members of an urgent, unassigned ticket in their group."""
    ticket = Ticket.objects.select_related("tenant", "group").get(pk=event.ticket_id)
    if not (
        ticket.priority == Ticket.Priority.URGENT
        and ticket.group_id
        and ticket.assignee_id is None
        and ticket.is_open
    ):
        return
    members = set(
        SupportGroupMember.objects.filter(group_id=ticket.group_id).values_list(
            "user_id", flat=True
        )
    )
    members &= set(
        Membership.objects.filter(
            tenant_id=ticket.tenant_id, user_id__in=members, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    members.discard(event.actor_user_id)
    for user_id in sorted(members):
        notification_create(
            kind=URGENT_IN_GROUP,
            user_id=user_id,
            text=f"Urgent in {ticket.group.name}: {ticket.reference} {ticket.subject}",
            url=_ticket_url(ticket),
            # Once per ticket and group, however often it becomes urgent again.
            source_key=f"urgent:{ticket.pk}:{ticket.group_id}",
        )


# ---------------------------------------------------------------- digests


def digests_send() -> int:
    """Mail each member of the current tenant whose notifications wait and
    whose window since the last digest has passed one digest of them all
    (recorded, sent after commit). Returns how many digests were recorded."""
    if not work_sweep_claim(kind=DIGEST_WORK):
        return 0
    from django.contrib.auth import get_user_model

    now = timezone.now()
    recorded, next_at = 0, None
    for pending in digests_pending():
        if pending.due_at > now:
            next_at = pending.due_at if next_at is None else min(next_at, pending.due_at)
            continue
        notifications = digest_claim(user_id=pending.user_id, now=now)
        if not notifications:
            continue
        user = get_user_model().objects.filter(pk=pending.user_id).first()
        if user is not None and mail.outbound_for_digest(user=user, notifications=notifications):
            recorded += 1
    work_sweep_next(kind=DIGEST_WORK, at=next_at)
    return recorded


# ---------------------------------------------------------------- demo


def seed_demo_notifications(tenant, stdout) -> None:
    """Give the demo's agent a ticket and a mention from the dispatcher, so
    their bell has something to show (the worker makes the notifications)."""
    from django.contrib.auth import get_user_model

    from . import services

    users = {
        user.username: user
        for user in get_user_model().objects.filter(
            username__in=[f"{tenant.slug}-agent", f"{tenant.slug}-dispatcher"]
        )
    }
    agent, dispatcher = users.get(f"{tenant.slug}-agent"), users.get(f"{tenant.slug}-dispatcher")
    if agent is None or dispatcher is None:
        return
    mention = f"@{agent.username} could you take this one? The customer is on the enterprise plan."
    if Message.objects.filter(kind=Message.Kind.NOTE, body_text=mention).exists():
        return
    ticket = (
        Ticket.objects.filter(assignee__isnull=True, status=Ticket.Status.NEW)
        .order_by("-priority", "number")
        .first()
    )
    if ticket is None:
        return
    services.ticket_assign(ticket=ticket, actor=dispatcher, assignee=agent, expected_version=None)
    services.message_add(
        ticket=ticket, kind=Message.Kind.NOTE, body=mention, author_user=dispatcher
    )
    stdout.write(
        f"{tenant.name}: {dispatcher.username} gave {ticket.reference} to {agent.username} "
        "and mentioned them: see the bell"
    )
