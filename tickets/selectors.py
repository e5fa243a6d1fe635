"""Reads shared by views: each owns its joins and the index it relies on."""

import re
from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat, LPad, Substr
from django.http import Http404

from helpdesk.models import AuditEntry, SupportGroup, SupportGroupMember
from helpdesk.tenancy import current_tenant

from .intake.charsets import decode_text
from .intake.parse import headline, printable
from .models import (
    Attachment,
    Category,
    Contact,
    Event,
    EventHandlerFailure,
    InboundEmail,
    Message,
    SavedView,
    Ticket,
)

PAGE_SIZE = 50


def ticket_list(
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
    status: str | None = None,
    priority: int | None = None,
    requester_email: str | None = None,
    assignee: int | str | None = None,
) -> tuple[list[Ticket], int | None]:
    """Newest tickets first, optionally filtered, cut by keyset on the number
    (the (tenant, number) unique index, read backwards); `before` is the last
    number of the previous page. Returns the page and the cursor of the next
    one. The All tickets page and the API's list both read it."""
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
    if before is not None:
        queryset = queryset.filter(number__lt=before)
    queryset = queryset.select_related("tenant", "requester", "assignee", "group").order_by(
        "-number"
    )
    rows = list(queryset[: limit + 1])
    next_cursor = rows[limit - 1].number if len(rows) > limit else None
    return rows[:limit], next_cursor


def saved_views_for(*, user):
    """The saved queue views a user sees: their own and those shared with a
    group they are in."""
    group_ids = SupportGroupMember.objects.filter(user=user).values("group_id")
    return SavedView.objects.filter(Q(owner=user) | Q(shared_with__in=group_ids)).select_related(
        "shared_with"
    )


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


def ticket_timeline(
    *, ticket: Ticket, public_only: bool = False, after: int | None = None, limit: int | None = None
) -> list[Event]:
    """Every event of a ticket, oldest first, with messages and attachments;
    with `after`, only events with a higher id (what a live page has not
    shown yet), at most `limit` of them."""
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
    if after is not None:
        events = events.filter(pk__gt=after).order_by("pk")
    return list(events[:limit] if limit else events)


def ticket_state(*, number: int) -> tuple[int, int]:
    """(version, id of the latest event) of a ticket, in one small query:
    what a live ticket page compares with what it shows. 404 if none."""
    latest = Event.objects.filter(ticket=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    row = (
        Ticket.objects.filter(number=number)
        .annotate(last_event=Subquery(latest))
        .values_list("version", "last_event")
        .first()
    )
    if row is None:
        raise Http404("No such ticket.")
    return row[0], row[1] or 0


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


@dataclass(frozen=True)
class TenantChoices:
    """What the pages' drop-downs offer, as (id, label) pairs in the order
    shown: the tenant's groups (by name), its active agents (by name) and its
    categories (by parent, then name); and the ids of the viewer's own
    groups (their group queues)."""

    groups: list[tuple[int, str]]
    agents: list[tuple[int, str]]
    categories: list[tuple[int, str]]
    my_group_ids: frozenset[int]


def tenant_choices(*, user) -> TenantChoices:
    """The current tenant's groups, agents and categories, and which groups
    `user` is in, in ONE query (a UNION ALL of three branches, each reading
    its own table by its tenant index), so that a page reads them once
    however many forms show them. The forms still check posted values
    against their querysets (`group_choices`, `assignable_agents`,
    `category_choices`)."""
    from django.contrib.auth import get_user_model

    text = CharField()
    blank = Value("", output_field=text)

    def branch(queryset, kind, key1, key2, key3, is_mine=None):
        # One shape for every branch: kind, id, three sort keys, membership.
        return (
            queryset.annotate(
                choice_kind=Value(kind, output_field=text),
                key1=key1,
                key2=key2,
                key3=key3,
                is_mine=Value(False, output_field=BooleanField()) if is_mine is None else is_mine,
            )
            .order_by()
            .values_list("choice_kind", "pk", "key1", "key2", "key3", "is_mine")
        )

    groups = branch(
        SupportGroup.objects.filter(archived_at__isnull=True),
        "group",
        F("name"),
        blank,
        blank,
        is_mine=Exists(SupportGroupMember.objects.filter(group=OuterRef("pk"), user=user)),
    )

    # Categories in tree order: each top category (by position, then name)
    # followed by its sub-categories (by position, then name). The sort keys
    # are text (the branches share one shape): positions zero-padded. The
    # third key is the label, as str(category) gives it.
    def padded(field):
        return LPad(Cast(field, output_field=text), 9, Value("0"))

    categories = branch(
        Category.objects.filter(archived_at__isnull=True).filter(
            Q(parent__isnull=True) | Q(parent__archived_at__isnull=True)
        ),
        "category",
        Concat(
            padded(Coalesce(F("parent__position"), F("position"))),
            Coalesce(F("parent__name"), F("name")),
            Cast(Coalesce(F("parent_id"), F("id")), output_field=text),
            output_field=text,
        ),
        Case(
            When(parent__isnull=True, then=blank),
            default=Concat(Value("1"), padded(F("position")), F("name"), output_field=text),
            output_field=text,
        ),
        Case(
            When(parent__isnull=True, then=F("name")),
            default=Concat(F("parent__name"), Value(" › "), F("name"), output_field=text),
            output_field=text,
        ),
    )
    agents = branch(
        get_user_model().objects.filter(
            memberships__tenant=current_tenant(), memberships__is_active=True, is_active=True
        ),
        "agent",
        F("first_name"),
        F("last_name"),
        F("username"),
    )
    rows = groups.union(categories, agents, all=True).order_by(
        "choice_kind", "key1", "key2", "key3"
    )
    found: dict[str, list[tuple[int, str]]] = {"group": [], "category": [], "agent": []}
    my_group_ids = set()
    for kind, pk, key1, key2, key3, is_mine in rows:
        if kind == "group":
            label = key1
            if is_mine:
                my_group_ids.add(pk)
        elif kind == "category":
            label = key3
        else:
            # As the assignee field has always shown them: full name, else username.
            label = f"{key1} {key2}".strip() or key3
        found[kind].append((pk, label))
    return TenantChoices(
        groups=found["group"],
        agents=found["agent"],
        categories=found["category"],
        my_group_ids=frozenset(my_group_ids),
    )


def assignable_agents(tenant):
    """Users who can be given tickets in this tenant."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(memberships__tenant=tenant, memberships__is_active=True, is_active=True)
        .order_by("first_name", "last_name", "username")
    )


def group_choices():
    return SupportGroup.objects.order_by("name")


def category_choices():
    """Every category, archived ones too: a ticket keeps an archived category
    when it is saved. (The lists offer only the others: `tenant_choices`.)"""
    return Category.objects.select_related("parent").order_by("parent__name", "name")


def category_choices_in_tree_order():
    """Categories in use, each top category just before its own
    sub-categories, each level by position, then name."""
    return (
        Category.objects.filter(archived_at__isnull=True)
        .filter(Q(parent__isnull=True) | Q(parent__archived_at__isnull=True))
        .select_related("parent")
        .order_by(
            Coalesce("parent__position", "position"),
            Coalesce("parent__name", "name"),
            F("parent").asc(nulls_first=True),
            "position",
            "name",
        )
    )


# ---------------------------------------------------------------- stored mail

# The audit log's name for a stored mail (helpdesk.services.audit_record).
INBOUND_TARGET = "inbound_email"
QUARANTINE_PAGE_SIZE = 200
# How much of a raw mail a page reads: enough for any header block and the
# start of the body; the download holds all of it.
RAW_SHOWN_BYTES = 262_144


def quarantine_page(
    *, before: int | None = None, limit: int = QUARANTINE_PAGE_SIZE
) -> tuple[list[InboundEmail], int | None]:
    """Quarantined mail, newest first, a page at a time by keyset on
    (received_at, id) (index inboundemail_quarantine_idx); `before` is the
    id of the last mail of the previous page. Each row carries `last_action`
    (its latest audit entry, or None). The raw bytes are not read, except
    the start of those stored before the headers were kept. The number of
    queries does not grow with the rows."""
    queryset = (
        InboundEmail.objects.filter(status=InboundEmail.Status.QUARANTINED)
        .select_related("mailbox")
        .defer("raw")
        .order_by("-received_at", "-pk")
    )
    if before is not None:
        at = Subquery(InboundEmail.objects.filter(pk=before).values("received_at")[:1])
        queryset = queryset.filter(Q(received_at__lt=at) | Q(received_at=at, pk__lt=before))
    rows = list(queryset[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    rows = rows[:limit]
    _fill_headlines(rows)
    last = inbound_last_actions(inbound_ids=[row.pk for row in rows])
    for row in rows:
        row.last_action = last.get(row.pk)
    return rows, next_cursor


def _needs_headline(inbound: InboundEmail) -> bool:
    # Stored before sender, subject and recipients were kept (or a mail
    # without any of them, which costs one more look and finds nothing).
    return not (inbound.sender or inbound.subject or inbound.recipients)


def _fill_headlines(rows: list[InboundEmail]) -> None:
    """Sender, subject and recipients for rows stored before they were kept,
    read from the start of their raw bytes in one query (never all of it)."""
    old = {row.pk: row for row in rows if _needs_headline(row)}
    if not old:
        return
    heads = (
        InboundEmail.objects.filter(pk__in=old)
        .annotate(head=Substr("raw", 1, RAW_SHOWN_BYTES))
        .values_list("pk", "head")
    )
    for pk, head in heads:
        for name, value in headline(bytes(head or b"")).items():
            setattr(old[pk], name, value)


def inbound_last_actions(*, inbound_ids: list[int]) -> dict[int, AuditEntry]:
    """The latest audit entry of each stored mail, in one query (DISTINCT ON
    over index auditentry_target_idx)."""
    if not inbound_ids:
        return {}
    entries = (
        AuditEntry.objects.filter(
            target_type=INBOUND_TARGET, target_id__in=[str(pk) for pk in inbound_ids]
        )
        .select_related("actor")
        .order_by("target_id", "-created_at", "-pk")
        .distinct("target_id")
    )
    return {int(entry.target_id): entry for entry in entries}


def quarantined_mail_get(*, inbound_id: int) -> InboundEmail:
    """A mail in quarantine, or one an admin has acted on there (so that the
    page still shows what became of it), with `raw_head`, the first
    RAW_SHOWN_BYTES of its raw bytes; 404 for anything else."""
    acted_on = AuditEntry.objects.filter(
        target_type=INBOUND_TARGET, target_id=Cast(OuterRef("pk"), output_field=TextField())
    )
    inbound = (
        InboundEmail.objects.filter(pk=inbound_id)
        .filter(Q(status=InboundEmail.Status.QUARANTINED) | Exists(acted_on))
        .select_related("mailbox", "ticket__tenant")
        .defer("raw")
        .annotate(raw_head=Substr("raw", 1, RAW_SHOWN_BYTES))
        .first()
    )
    if inbound is None:
        raise Http404("No such quarantined mail.")
    inbound.raw_head = bytes(inbound.raw_head or b"")
    if _needs_headline(inbound):
        for name, value in headline(inbound.raw_head).items():
            setattr(inbound, name, value)
    return inbound


_CHARSET_LABEL = re.compile(rb'charset\s*=\s*"?([A-Za-z0-9_.:+-]{1,40})', re.IGNORECASE)


def raw_mail_text(head: bytes, *, cut: bool) -> str:
    """Raw mail bytes as text for people to read, whatever their charset:
    UTF-8 when they are, else the first other charset the mail names (its
    8-bit bytes are most likely in it), else detected, else Windows-1252
    (every byte shown). Control characters are dropped. `cut`: the bytes
    are a prefix, so a character split at the end is left out rather than
    making the whole text undecodable as UTF-8."""
    if cut:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data":
                head = head[: error.start]
    labels = [label.decode("ascii").lower() for label in _CHARSET_LABEL.findall(head)]
    label = next((name for name in labels if name not in ("utf-8", "utf8")), None)
    return printable(decode_text(head, label, tuple(labels)))


def message_copies(*, message_ids: list[int]) -> dict[int, list[InboundEmail]]:
    """Later copies of the mail behind each message ("also received via"),
    oldest first, in one query (index inboundemail_copies_idx)."""
    if not message_ids:
        return {}
    copies = (
        InboundEmail.objects.filter(message_id__in=message_ids, copy_of__isnull=False)
        .select_related("mailbox")
        .only("message", "received_at", "mailbox", "mailbox__name", "mailbox__address")
        .order_by("received_at", "pk")
    )
    found: dict[int, list[InboundEmail]] = {}
    for copy in copies:
        found.setdefault(copy.message_id, []).append(copy)
    return found


FAILED_WORK_PAGE_SIZE = 100


def failed_work_page(
    *, before: int | None = None, limit: int = FAILED_WORK_PAGE_SIZE
) -> tuple[list[EventHandlerFailure], int | None]:
    """Event handlers that failed (still being retried, abandoned, or
    waiting to run again), latest failure first, a page at a time by keyset
    on (failed_at, id) (index eventhandlerfailure_recent_idx); `before` is
    the id of the last row of the previous page. Each row carries its event
    and ticket; the number of queries does not grow with the rows."""
    queryset = EventHandlerFailure.objects.select_related("event__ticket__tenant").order_by(
        "-failed_at", "-pk"
    )
    if before is not None:
        at = Subquery(EventHandlerFailure.objects.filter(pk=before).values("failed_at")[:1])
        queryset = queryset.filter(Q(failed_at__lt=at) | Q(failed_at=at, pk__lt=before))
    rows = list(queryset[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_cursor
