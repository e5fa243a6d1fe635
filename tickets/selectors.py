"""Reads shared by views: each owns its joins and the index it relies on."""

from django.db.models import F, Prefetch
from django.db.models.functions import Coalesce
from django.http import Http404

from helpdesk.models import SupportGroup

from .models import Attachment, Category, Contact, Event, Message, Ticket

PAGE_SIZE = 50


def ticket_list(
    *, before: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Ticket], int | None]:
    """Newest tickets first, a page at a time by keyset on the number
    (index ticket_recent_idx); returns the page and the cursor of the next."""
    queryset = Ticket.objects.select_related("tenant", "requester", "assignee", "group").order_by(
        "-number"
    )
    if before is not None:
        queryset = queryset.filter(number__lt=before)
    rows = list(queryset[: limit + 1])
    next_cursor = rows[limit - 1].number if len(rows) > limit else None
    return rows[:limit], next_cursor


def ticket_filtered_list(
    *,
    after: int | None = None,
    limit: int = PAGE_SIZE,
    status: str | None = None,
    priority: int | None = None,
    requester_email: str | None = None,
    assignee: int | str | None = None,
) -> tuple[list[Ticket], int | None]:
    """Newest tickets first, filtered, cut by keyset on the number (the
    (tenant, number) unique index); `after` is the last number of the
    previous page. Returns the page and the cursor of the next one."""
    queryset = Ticket.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    if priority:
        queryset = queryset.filter(priority=priority)
    if requester_email:
        # The contact first, then its tickets by id (ticket_requester_idx).
        contact_ids = list(
            Contact.objects.filter(email=requester_email.strip().lower()).values_list(
                "pk", flat=True
            )
        )
        queryset = queryset.filter(requester__in=contact_ids)
    # An id parsed by the caller (helpdesk.parsing.parse_id), or a username.
    if isinstance(assignee, int):
        queryset = queryset.filter(assignee_id=assignee)
    elif assignee:
        queryset = queryset.filter(assignee__username=assignee)
    if after is not None:
        queryset = queryset.filter(number__lt=after)
    queryset = queryset.select_related("tenant", "requester", "assignee", "group").order_by(
        "-number"
    )
    rows = list(queryset[: limit + 1])
    next_cursor = rows[limit - 1].number if len(rows) > limit else None
    return rows[:limit], next_cursor


def ticket_messages(*, ticket: Ticket) -> list[Message]:
    """Every message of a ticket, oldest first, with its author."""
    return list(
        Message.objects.filter(ticket=ticket)
        .select_related("author_user", "author_contact")
        .order_by("created_at", "pk")
    )


def ticket_get(*, number: int) -> Ticket:
    """The current tenant's ticket with this number, or 404."""
    ticket = (
        Ticket.objects.select_related(
            "tenant", "requester", "requester__organization", "assignee", "group", "category"
        )
        .filter(number=number)
        .first()
    )
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


def ticket_timeline(*, ticket: Ticket, public_only: bool = False) -> list[Event]:
    """Every event of a ticket, oldest first, with messages and attachments."""
    events = (
        Event.objects.filter(ticket=ticket)
        .select_related(
            "actor_user",
            "actor_contact",
            "actor_api_key",
            "message__author_user",
            "message__author_contact",
        )
        .prefetch_related(
            Prefetch(
                "message__attachments",
                queryset=Attachment.objects.order_by("pk"),
            )
        )
        .order_by("created_at", "pk")
    )
    if public_only:
        events = events.filter(is_public=True)
    return list(events)


def attachment_get(*, ticket: Ticket, attachment_id: int) -> Attachment:
    attachment = (
        Attachment.objects.filter(pk=attachment_id, message__ticket=ticket)
        .select_related("message")
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def requester_recent_tickets(*, ticket: Ticket, limit: int = 5) -> list[Ticket]:
    return list(
        Ticket.objects.filter(requester_id=ticket.requester_id)
        .exclude(pk=ticket.pk)
        .select_related("tenant")
        .order_by("-created_at")[:limit]
    )


def assignable_agents(tenant):
    """Users who can be given tickets in this tenant."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(memberships__tenant=tenant, is_active=True)
        .order_by("first_name", "last_name", "username")
    )


def group_choices():
    return SupportGroup.objects.order_by("name")


def category_choices():
    return Category.objects.select_related("parent").order_by("parent__name", "name")


def category_choices_in_tree_order():
    """Categories with each top category just before its own sub-categories."""
    return Category.objects.select_related("parent").order_by(
        Coalesce("parent__name", "name"), F("parent").asc(nulls_first=True), "name"
    )
