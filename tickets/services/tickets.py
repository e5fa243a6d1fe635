"""Tickets, their messages and contacts: validate, write, record the event."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import nh3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import dateformat, timezone
from django.utils.html import escape, linebreaks

from helpdesk.models import Membership, SupportGroup
from helpdesk.permissions import require_role
from helpdesk.tenancy import current_tenant

from ..events import event_build, event_record, events_record
from ..extensions import system_actor_label, system_actors
from ..mentions import mentioned_handles
from ..models import Attachment, Category, Contact, Event, Message, Ticket
from ..quoting import QUOTE_MARKER_CLASSES, QUOTE_MARKER_VALUES
from ..validators import validate_mail_address
from .attachments import (
    StagedAttachment,
    attachment_rows,
    attachments_discard,
    attachments_stage,
)
from .contacts import contacts_get_or_create

User = get_user_model()

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
MAX_TAGS = 20


class TicketConflict(Exception):
    """An edit was made against a version of the ticket that is no longer current.

    `theirs` says what others changed since the edit's base values were read
    (field -> {"label": the value now, "by": who}), when the edit carried them;
    `clashes` the fields both sides changed, which were refused.
    """

    def __init__(self, ticket: Ticket, changed_by: str, changed_at, *, theirs=None, clashes=()):
        self.ticket = ticket
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.theirs = theirs or {}
        self.clashes = tuple(clashes)
        if self.clashes:
            names = ", ".join(FIELD_LABELS.get(field, field).lower() for field in self.clashes)
            text = (
                f"{changed_by} also changed {names} of {ticket.reference} after you opened it, "
                "so nothing was saved. Their values are shown beside yours: "
                "save again to keep yours, or choose again."
            )
        else:
            text = (
                f"{changed_by} changed {ticket.reference} after you opened it, "
                "so your change was not saved. The ticket below is current: check it and try again."
            )
        super().__init__(text)


# ---------------------------------------------------------------- tickets


def _next_ticket_numbers(tenant_id: int, count: int) -> range:
    """Reserve `count` consecutive numbers. One counter row per tenant; its
    row lock serialises concurrent creations and it only ever goes up, so a
    number is never given out twice.

    The lock is held until the transaction ends, so it is taken last: every
    writer takes its row locks in one order (stored mail, contacts, a
    ticket's row, then this counter) and after the counter only inserts its
    own new rows. A writer waiting here then holds nothing the counter's
    holder waits for, and two writers cannot deadlock. Nothing may lock a
    row after creating tickets in the same transaction (mail intake files
    each new run and each reply in a transaction of its own for this).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tickets_ticketcounter (tenant_id, last_number) VALUES (%s, %s) "
            "ON CONFLICT (tenant_id) DO UPDATE "
            "SET last_number = tickets_ticketcounter.last_number + EXCLUDED.last_number "
            "RETURNING last_number",
            [tenant_id, count],
        )
        last = cursor.fetchone()[0]
    return range(last - count + 1, last + 1)


def normalize_tags(tags: Sequence[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = [tag for tag in re.split(r"[,\s]+", tags) if tag]
    # The count first, and a set for duplicates: a list of 200,000 tags is
    # refused at once instead of being compared with itself.
    if len(tags) > MAX_TAGS:
        raise ValidationError({"tags": f"At most {MAX_TAGS} tags."})
    cleaned: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        tag = tag.strip().lower()
        if not tag:
            continue
        if not TAG_PATTERN.match(tag):
            raise ValidationError(
                {"tags": f"{tag[:50]!r}: tags use letters, digits, - and _ (up to 40)."}
            )
        if tag not in seen:
            seen.add(tag)
            cleaned.append(tag)
    return cleaned


def normalize_emails(emails: Sequence[str] | str, field: str = "cc_emails") -> list[str]:
    if isinstance(emails, str):
        emails = [email for email in re.split(r"[,;\s]+", emails) if email]
    # As for tags: the count first, duplicates by set.
    if len(emails) > settings.TICKET_MAX_CC:
        raise ValidationError({field: f"At most {settings.TICKET_MAX_CC} addresses."})
    cleaned: list[str] = []
    seen: set[str] = set()
    for email in emails:
        email = email.strip()
        if not email:
            continue
        try:
            validate_mail_address(email)
        except ValidationError:
            raise ValidationError({field: f"{email[:80]!r} is not an email address."}) from None
        if email.lower() not in seen:
            seen.add(email.lower())
            cleaned.append(email)
    return cleaned


def _check_assignee(assignee, actor) -> None:
    if assignee is None:
        return
    if not Membership.objects.filter(
        tenant=current_tenant(), user=assignee, is_active=True
    ).exists():
        raise ValidationError({"assignee": "The assignee is not an agent of this help desk."})
    if actor is not None and assignee != actor:
        require_role(
            actor,
            Membership.Role.DISPATCHER,
            "Agents can take tickets themselves; dispatchers assign others.",
        )


def _clean_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationError({"subject": "A ticket needs a subject."})
    if len(subject) > 200:
        raise ValidationError({"subject": "Keep the subject under 200 characters."})
    return subject


@dataclass
class TicketDraft:
    """A ticket to open, as `ticket_create` takes it: the requester is a
    contact, or an email address that becomes one."""

    subject: str
    body: str
    requester: Contact | None = None
    requester_email: str = ""
    requester_name: str = ""
    channel: str = Ticket.Channel.WEB
    priority: int = Ticket.Priority.NORMAL
    type: str = Ticket.Type.QUESTION
    category: Category | None = None
    tags: Sequence[str] | str = ()
    cc_emails: Sequence[str] | str = ()
    group: SupportGroup | None = None
    assignee: object = None
    attachments: Sequence = ()
    follow_up_of: Ticket | None = None
    # False when the request was itself an automatic mail: no auto-reply to it.
    acknowledge: bool = True
    body_html: str | None = None


def ticket_create(*, actor=None, **draft) -> Ticket:
    """Open a ticket with its first message (the customer's request); the
    fields are those of `TicketDraft`. Everything is written or, on bad
    input, nothing."""
    return tickets_create([TicketDraft(**draft)], actor=actor)[0]


def _validated(draft: TicketDraft, actor) -> TicketDraft:
    errors: dict[str, str] = {}
    if draft.channel not in Ticket.Channel.values:
        errors["channel"] = f"Unknown channel {draft.channel!r}."
    if draft.priority not in Ticket.Priority.values:
        errors["priority"] = f"Unknown priority {draft.priority!r}."
    if draft.type not in Ticket.Type.values:
        errors["type"] = f"Unknown type {draft.type!r}."
    if not (draft.body or "").strip():
        errors["body"] = "Describe the request."
    if errors:
        raise ValidationError(errors)
    draft = replace(
        draft,
        subject=_clean_subject(draft.subject),
        tags=normalize_tags(draft.tags),
        cc_emails=normalize_emails(draft.cc_emails),
    )
    _check_assignee(draft.assignee, actor)
    # The attachments are checked when they are staged (tickets_create).
    return draft


def tickets_create(drafts: Sequence[TicketDraft], *, actor=None) -> list[Ticket]:
    """Open tickets with their first messages: a handful of statements for
    the lot (mail intake opens a batch at once), all or nothing.

    Attachments are written to storage first (or come staged already), then
    every row in one transaction; if that fails, the files written here are
    removed. Each ticket comes back with `first_message` set.
    """
    if not drafts:
        return []
    tenant = current_tenant()
    drafts = [_validated(draft, actor) for draft in drafts]
    staged: list[list[StagedAttachment]] = []
    written: list[StagedAttachment] = []
    try:
        for draft in drafts:
            files = attachments_stage(draft.attachments, tenant_id=tenant.pk)
            staged.append(files)
            written += _written_here(files, draft.attachments)
        return _tickets_write(tenant, drafts, staged, actor)
    except BaseException:
        attachments_discard(written)
        raise


def _written_here(staged: Sequence[StagedAttachment], given: Sequence) -> list[StagedAttachment]:
    """The files of `staged` that staging wrote (not passed in staged)."""
    return [
        file
        for file, upload in zip(staged, given, strict=True)
        if not isinstance(upload, StagedAttachment)
    ]


@transaction.atomic
def _tickets_write(tenant, drafts, staged, actor) -> list[Ticket]:
    contacts = contacts_get_or_create(
        [(d.requester_email, d.requester_name, "") for d in drafts if d.requester is None]
    )
    # Last before the inserts: see _next_ticket_numbers.
    numbers = _next_ticket_numbers(tenant.pk, len(drafts))
    now = timezone.now()
    tickets = [
        Ticket(
            tenant=tenant,
            number=number,
            subject=draft.subject,
            channel=draft.channel,
            priority=draft.priority,
            type=draft.type,
            category=draft.category,
            tags=draft.tags,
            cc_emails=draft.cc_emails,
            requester=draft.requester or contacts[draft.requester_email.strip().lower()],
            group=draft.group,
            assignee=draft.assignee,
            follow_up_of=draft.follow_up_of,
            status=Ticket.Status.OPEN if draft.assignee else Ticket.Status.NEW,
            created_at=now,
            updated_at=now,
        )
        for draft, number in zip(drafts, numbers, strict=True)
    ]
    Ticket.objects.bulk_create(tickets)
    messages = Message.objects.bulk_create(
        [
            _message_build(
                ticket=ticket,
                kind=Message.Kind.CUSTOMER,
                body=draft.body,
                body_html=draft.body_html,
                author_contact=ticket.requester,
                now=now,
            )
            for ticket, draft in zip(tickets, drafts, strict=True)
        ]
    )
    Attachment.objects.bulk_create(
        [
            row
            for message, files in zip(messages, staged, strict=True)
            for row in attachment_rows(message, files)
        ]
    )
    events = []
    for ticket, message, draft in zip(tickets, messages, drafts, strict=True):
        ticket.first_message = message
        creator = {"actor_user": actor, "actor_contact": None if actor else ticket.requester}
        events.append(
            event_build(
                ticket=ticket,
                kind=Event.Kind.CREATED,
                **creator,
                new_value={
                    "channel": ticket.channel,
                    "follow_up_of": ticket.follow_up_of.number if ticket.follow_up_of else None,
                    "acknowledge": draft.acknowledge,
                },
                created_at=now,
            )
        )
        events.append(_message_event(message, **creator, first=True))
        if ticket.assignee is not None:
            events.append(
                event_build(
                    ticket=ticket,
                    kind=Event.Kind.ASSIGNED,
                    actor_user=actor,
                    field="assignee",
                    old_value=None,
                    new_value=_user_value(ticket.assignee),
                    created_at=now,
                )
            )
    events_record(events)
    return tickets


# Fields an agent edits in the ticket header, and how each is shown in the timeline.
EDITABLE_FIELDS = ("subject", "status", "priority", "type", "category", "tags", "group", "assignee")
FIELD_LABELS = {
    "subject": "Subject",
    "status": "Status",
    "priority": "Priority",
    "type": "Type",
    "category": "Category",
    "tags": "Tags",
    "group": "Group",
    "assignee": "Assignee",
    "due_at": "Due time",
}
_FOREIGN_KEYS = ("category", "group", "assignee")
# What a system may change (`ticket_system_update`). AGENT_FIELDS are also
# edited by agents (ticket page, bulk, API, board): changing one bumps
# `version`. SYSTEM_ONLY_FIELDS are not (SLA deadlines): no agent's form or
# read carries them, so changing one leaves `version` (and `updated_at`)
# alone and makes no agent's open edit stale.
AGENT_FIELDS = ("status", "priority", "type", "category", "tags", "group", "assignee")
SYSTEM_ONLY_FIELDS = ("due_at",)
SYSTEM_FIELDS = (*AGENT_FIELDS, *SYSTEM_ONLY_FIELDS)


def _user_value(user) -> dict | None:
    if user is None:
        return None
    return {"value": user.pk, "label": user.get_full_name() or user.get_username()}


def due_display(value, time_zone: str) -> dict | None:
    """A due time as events store it; the label is read later on the
    timeline, so it is in the help desk's own time zone."""
    if value is None:
        return None
    local = timezone.localtime(value, zoneinfo.ZoneInfo(time_zone))
    return {"value": value.isoformat(), "label": dateformat.format(local, "j M Y, H:i")}


def _display_value(ticket: Ticket, field: str):
    """A field's value as stored in an event: the raw value and what a person reads."""
    value = getattr(ticket, field)
    if field == "assignee":
        return _user_value(value)
    if field in ("category", "group"):
        return None if value is None else {"value": value.pk, "label": str(value)}
    if field in ("status", "priority", "type"):
        return {"value": value, "label": getattr(ticket, f"get_{field}_display")()}
    if field == "due_at":
        return due_display(value, ticket.tenant.time_zone)
    return {"value": value, "label": ", ".join(value) if isinstance(value, list) else value}


def _raw_value(ticket: Ticket, field: str):
    """A field's value as compared when merging edits: ids for related rows."""
    if field in _FOREIGN_KEYS:
        return getattr(ticket, f"{field}_id")
    value = getattr(ticket, field)
    return list(value) if field == "tags" else value


def _raw_change(field: str, value):
    if field in _FOREIGN_KEYS:
        return getattr(value, "pk", value)
    return list(value) if field == "tags" else value


def _actor_name(event: Event | None) -> str:
    if event and event.actor_user_id:
        return event.actor_user.get_full_name() or event.actor_user.get_username()
    if event and event.actor_contact_id:
        return event.actor_contact.display_name
    if event and event.actor_system:
        return system_actor_label(event.actor_system)
    return "Someone"


def ticket_changes_since(*, ticket: Ticket, base: dict) -> dict[str, dict]:
    """What others changed since `base` (field -> raw value, as an edit form
    was opened with): field -> {"label": the value now, "by": who set it}.
    One query, whatever the number of fields."""
    fields = [f for f in EDITABLE_FIELDS if f in base and _raw_value(ticket, f) != base[f]]
    if not fields:
        return {}
    latest: dict[str, Event] = {}
    events = (
        Event.objects.filter(ticket=ticket, field__in=fields)
        .select_related("actor_user", "actor_contact")
        .order_by("-created_at", "-pk")[:50]
    )
    for event in events:
        latest.setdefault(event.field, event)
    changes = {}
    for field in fields:
        shown = _display_value(ticket, field)
        changes[field] = {
            "field": field,
            "name": FIELD_LABELS[field],
            "label": (shown or {}).get("label") or "none",
            "by": _actor_name(latest.get(field)),
        }
    return changes


def _last_change(ticket: Ticket) -> tuple[str, object]:
    """Who changed the ticket last, and when."""
    last = (
        Event.objects.filter(ticket=ticket)
        .select_related("actor_user", "actor_contact")
        .order_by("-created_at", "-pk")
        .first()
    )
    return _actor_name(last), last.created_at if last else ticket.updated_at


def _lock_current(ticket: Ticket, expected_version: int | None) -> Ticket:
    """Lock the ticket row; refuse if someone changed it since `expected_version`."""
    # Only the ticket's row: a plain FOR UPDATE would lock the joined tenant row
    # too and make every ticket write of the tenant wait on every other.
    fresh = (
        Ticket.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=ticket.pk)
    )
    if expected_version is not None and fresh.version != expected_version:
        raise TicketConflict(fresh, *_last_change(fresh))
    return fresh


def _apply_status(ticket: Ticket, status: str, now) -> None:
    if status not in Ticket.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    if not ticket.can_move_to(status):
        if ticket.status == Ticket.Status.CLOSED:
            raise ValidationError(
                {"status": "A closed ticket stays closed; open a follow-up ticket instead."}
            )
        raise ValidationError(
            {
                "status": f"A {ticket.get_status_display().lower()} ticket cannot become "
                f"{Ticket.Status(status).label.lower()}."
            }
        )
    ticket.status = status
    if status == Ticket.Status.RESOLVED:
        ticket.resolved_at = now
    elif status == Ticket.Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None


@transaction.atomic
def ticket_update(
    *, ticket: Ticket, actor, expected_version: int | None, base: dict | None = None, **changes
) -> Ticket:
    """Change header fields; one event per field that really changed.

    `changes` are the fields the agent changed. With `base` (the raw values
    the agent's form was opened with, as `_raw_value` gives them), an edit
    made on an older version is merged: it goes through when nobody else
    changed the same fields since, and is refused with `TicketConflict`
    naming the clashing fields when someone did. Without `base`, any newer
    version refuses the edit.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    ticket = _lock_current(ticket, expected_version if base is None else None)
    if ticket.status == Ticket.Status.CLOSED:
        raise ValidationError("A closed ticket cannot be edited; open a follow-up ticket instead.")
    now = timezone.now()
    changes = _cleaned_changes(changes)
    if base is not None and expected_version is not None and ticket.version != expected_version:
        _merge_or_refuse(ticket, base, changes)
    if "assignee" in changes and changes["assignee"] != ticket.assignee:
        _check_assignee(changes["assignee"], actor)

    changed = _apply_changes(ticket, changes, EDITABLE_FIELDS, now)
    if not changed:
        return ticket
    ticket.version += 1
    ticket.updated_at = now
    ticket.save()
    for field, before, after in changed:
        event_record(
            ticket=ticket,
            kind=_change_kind(field),
            actor_user=actor,
            field=field,
            old_value=before,
            new_value=after,
            created_at=now,
        )
    return ticket


def _cleaned_changes(changes: dict) -> dict:
    """Header changes checked and normalised, as every writer of them needs."""
    changes = dict(changes)
    if "subject" in changes:
        changes["subject"] = _clean_subject(changes["subject"])
    if "tags" in changes:
        changes["tags"] = normalize_tags(changes["tags"])
    if "priority" in changes and changes["priority"] not in Ticket.Priority.values:
        raise ValidationError({"priority": "Unknown priority."})
    if "type" in changes and changes["type"] not in Ticket.Type.values:
        raise ValidationError({"type": "Unknown type."})
    return changes


def _apply_changes(ticket: Ticket, changes: dict, fields: Sequence[str], now) -> list[tuple]:
    """Set the changed fields on the (locked) ticket; (field, before, after)
    for each that really changed, as the events store them."""
    changed: list[tuple[str, object, object]] = []
    for field in fields:
        if field not in changes:
            continue
        new = changes[field]
        current = getattr(ticket, field)
        if new == current:
            continue
        before = _display_value(ticket, field)
        if field == "status":
            _apply_status(ticket, new, now)
        else:
            setattr(ticket, field, new)
        changed.append((field, before, _display_value(ticket, field)))
    # One rule for every way of assigning (ticket page, bulk, API, dispatch):
    # giving a new ticket to someone starts work on it, unless the same
    # change chose another status.
    changed_fields = {field for field, _, _ in changed}
    if (
        ticket.status == Ticket.Status.NEW
        and ticket.assignee_id
        and "assignee" in changed_fields
        and "status" not in changed_fields
    ):
        before = _display_value(ticket, "status")
        ticket.status = Ticket.Status.OPEN
        changed.append(("status", before, _display_value(ticket, "status")))
    return changed


def _change_kind(field: str) -> str:
    return {
        "status": Event.Kind.STATUS_CHANGED,
        "assignee": Event.Kind.ASSIGNED,
    }.get(field, Event.Kind.FIELD_CHANGED)


def _check_system_values(ticket: Ticket, changes: dict) -> None:
    """What a form's choices would have ensured for an agent: rows of this
    help desk, an agent of it, a deadline with a time zone."""
    for field in ("category", "group"):
        value = changes.get(field)
        if value is not None and value.tenant_id != ticket.tenant_id:
            raise ValidationError({field: f"That {field} is not one of this help desk's."})
    if changes.get("assignee") is not None and changes["assignee"] != ticket.assignee:
        _check_assignee(changes["assignee"], None)
    if "due_at" in changes:
        due = changes["due_at"]
        if due is not None and not (isinstance(due, datetime) and timezone.is_aware(due)):
            raise ValidationError({"due_at": "A due time is a date and time with a time zone."})


@transaction.atomic
def ticket_system_update(*, ticket: Ticket, source: str, reason: str, **changes) -> Ticket:
    """A change a system makes rather than an agent (SLA deadlines,
    dispatch's assignment): the one way such changes are written.

    Locks the ticket, applies only the given fields (`SYSTEM_FIELDS`),
    checks them as an agent's edit is checked, and records one event per
    field that really changed, with no actor but `source` (registered in
    `tickets.extensions.system_actors`) and `reason` on it.

    Versions: a change to a field agents edit (`AGENT_FIELDS`) bumps
    `version` like an agent's edit, so an agent's open edit of the same
    field is refused with both values shown and an edit of other fields is
    merged (`ticket_update` with `base`). A change to system-only fields
    (`due_at`) leaves `version` and `updated_at` alone: it makes nobody's
    open edit, board card or API read stale. The ticket page's live refresh
    sees either through the new event. On a closed ticket only system-only
    fields may change (an SLA clears its deadline after the close).
    """
    if source not in system_actors:
        raise ValueError(f"{source!r} is not registered in tickets.extensions.system_actors")
    if not (reason or "").strip():
        raise ValueError("a system change says why (reason)")
    unknown = set(changes) - set(SYSTEM_FIELDS)
    if unknown:
        raise TypeError(f"not changed by systems: {', '.join(sorted(unknown))}")
    ticket = _lock_current(ticket, None)
    if ticket.status == Ticket.Status.CLOSED and set(changes) & set(AGENT_FIELDS):
        raise ValidationError("A closed ticket cannot be edited; open a follow-up ticket instead.")
    changes = _cleaned_changes(changes)
    _check_system_values(ticket, changes)
    now = timezone.now()
    changed = _apply_changes(ticket, changes, SYSTEM_FIELDS, now)
    if not changed:
        return ticket
    written = {field for field, _, _ in changed}
    if "status" in written:
        written |= {"resolved_at", "closed_at"}
    if written & set(AGENT_FIELDS):
        ticket.version += 1
        ticket.updated_at = now
        written |= {"version", "updated_at"}
    ticket.save(update_fields=sorted(written))
    events_record(
        [
            event_build(
                ticket=ticket,
                kind=_change_kind(field),
                actor_system=source,
                reason=reason.strip(),
                field=field,
                old_value=before,
                new_value=after,
                created_at=now,
                # A deadline is the team's business, not the customer's.
                **({"is_public": False} if field in SYSTEM_ONLY_FIELDS else {}),
            )
            for field, before, after in changed
        ]
    )
    return ticket


@transaction.atomic
def tickets_system_assign(*, assignments: Sequence[tuple], source: str) -> dict[int, Event]:
    """Many assignments a system makes at once (dispatch hands a group's
    waiting tickets out in one pass): for each (ticket, assignee, reason) the
    same change and events as `ticket_system_update(assignee=...)`, written
    with one UPDATE and one INSERT. The caller has locked the tickets and
    checked that they are open and unassigned. Returns each ticket's
    assignment event by ticket id."""
    if source not in system_actors:
        raise ValueError(f"{source!r} is not registered in tickets.extensions.system_actors")
    if not assignments:
        return {}
    members = set(
        Membership.objects.filter(
            tenant=current_tenant(),
            user_id__in={assignee.pk for _, assignee, _ in assignments},
            is_active=True,
        ).values_list("user_id", flat=True)
    )
    now = timezone.now()
    events = []
    for ticket, assignee, reason in assignments:
        if ticket.assignee_id is not None or ticket.status == Ticket.Status.CLOSED:
            raise ValueError(f"{ticket.reference} is not an open, unassigned ticket")
        if assignee.pk not in members:
            raise ValidationError({"assignee": "The assignee is not an agent of this help desk."})
        changed = _apply_changes(ticket, {"assignee": assignee}, SYSTEM_FIELDS, now)
        ticket.version += 1
        ticket.updated_at = now
        events += [
            event_build(
                ticket=ticket,
                kind=_change_kind(field),
                actor_system=source,
                reason=reason.strip(),
                field=field,
                old_value=before,
                new_value=after,
                created_at=now,
            )  # fmt: skip
            for field, before, after in changed
        ]
    tickets = [ticket for ticket, _, _ in assignments]
    # One UPDATE from arrays: `bulk_update`'s CASE per field and row cost
    # more to build than the routing decisions themselves.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Ticket._meta.db_table} AS t SET assignee_id = v.assignee_id,"
            " status = v.status, version = v.version, updated_at = v.updated_at"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::timestamptz[])"
            " AS v(id, assignee_id, status, version, updated_at)"
            " WHERE t.tenant_id = %s AND t.id = v.id",
            [
                [ticket.pk for ticket in tickets],
                [ticket.assignee_id for ticket in tickets],
                [ticket.status for ticket in tickets],
                [ticket.version for ticket in tickets],
                [ticket.updated_at for ticket in tickets],
                tickets[0].tenant_id,
            ],
        )
    events_record(events)
    return {event.ticket_id: event for event in events if event.kind == Event.Kind.ASSIGNED}


def _merge_or_refuse(ticket: Ticket, base: dict, changes: dict) -> None:
    """An edit on an older version: fine unless someone else changed a field
    this edit changes too (to another value than this edit's). A field the
    edit has no base value for counts as changed by someone else."""
    theirs = ticket_changes_since(ticket=ticket, base=base)
    clashes = [
        field
        for field in EDITABLE_FIELDS
        if field in changes
        and (field in theirs or field not in base)
        and _raw_change(field, changes[field]) != _raw_value(ticket, field)
    ]
    if clashes:
        who = ", ".join(dict.fromkeys(theirs[f]["by"] for f in clashes if f in theirs))
        changed_by, changed_at = _last_change(ticket)
        raise TicketConflict(ticket, who or changed_by, changed_at, theirs=theirs, clashes=clashes)


def ticket_change_status(*, ticket: Ticket, actor, status: str, expected_version: int | None):
    """Move a ticket to another status, if the transition is allowed."""
    return ticket_update(
        ticket=ticket, actor=actor, expected_version=expected_version, status=status
    )


def ticket_assign(*, ticket: Ticket, actor, assignee, expected_version: int | None):
    """Give a ticket to an agent (or nobody)."""
    return ticket_update(
        ticket=ticket, actor=actor, expected_version=expected_version, assignee=assignee
    )


# ---------------------------------------------------------------- messages


SAFE_URL_SCHEMES = nh3.ALLOWED_URL_SCHEMES | {"cid"}


def sanitize_html(html: str) -> str:
    """HTML that is safe to show: nh3 (ammonia) keeps formatting, drops scripts.

    `cid:` sources (images sent inside the mail) are kept; the timeline points
    them at the stored attachment. The marks mail clients put on quoted
    history (`gmail_quote`, `blockquote type=cite`, ...) are kept, and no other
    class, id or type, so that the timeline can fold the quote.
    """
    return nh3.clean(
        html,
        link_rel="noopener noreferrer nofollow",
        url_schemes=SAFE_URL_SCHEMES,
        allowed_classes=QUOTE_MARKER_CLASSES,
        tag_attribute_values=QUOTE_MARKER_VALUES,
    )


def _message_build(
    *,
    ticket: Ticket,
    kind: str,
    body: str,
    now,
    author_user=None,
    author_contact=None,
    body_html: str | None = None,
) -> Message:
    return Message(
        tenant_id=ticket.tenant_id,
        ticket=ticket,
        kind=kind,
        author_user=author_user,
        author_contact=author_contact,
        body_text=body,
        body_html=sanitize_html(body_html if body_html is not None else linebreaks(escape(body))),
        created_at=now,
    )


def _message_event(
    message: Message, *, actor_user=None, actor_contact=None, first: bool = False
) -> Event:
    # What the notification handlers decide on, from the event row alone
    # (tickets.notifications): the assignee a customer's reply reaches, and
    # whether a note names anyone.
    details: dict = {"kind": message.kind}
    if message.kind == Message.Kind.CUSTOMER and not first and message.ticket.assignee_id:
        details["assignee"] = message.ticket.assignee_id
    if message.kind == Message.Kind.NOTE and mentioned_handles(message.body_text):
        details["mentions"] = True
    return event_build(
        ticket=message.ticket,
        kind=Event.Kind.MESSAGE_ADDED,
        actor_user=actor_user,
        actor_contact=None if actor_user else actor_contact,
        message=message,
        is_public=message.kind != Message.Kind.NOTE,
        new_value=details,
        created_at=message.created_at,
    )


def message_add(
    *,
    ticket: Ticket,
    kind: str,
    body: str,
    author_user=None,
    author_contact: Contact | None = None,
    body_html: str | None = None,
    attachments: Sequence = (),
    expected_version: int | None = None,
    status_after: str | None = None,
) -> Message:
    """Add a customer message, public reply or internal note to a ticket.

    A public reply records the first response; a customer message re-opens a
    pending or resolved ticket. `status_after` sets the status in the same step.
    Attachments are written to storage before the ticket is locked (or come
    staged already); if the message is refused, the files written here are
    removed.
    """
    if kind not in Message.Kind.values:
        raise ValidationError({"kind": f"Unknown message kind {kind!r}."})
    if (author_user is None) == (author_contact is None):
        raise TypeError("a message has exactly one author: an agent or a contact")
    if kind == Message.Kind.CUSTOMER and author_contact is None:
        raise TypeError("customer messages are written by contacts")
    if kind != Message.Kind.CUSTOMER and author_user is None:
        raise TypeError("replies and notes are written by agents")
    if not (body or "").strip():
        raise ValidationError({"body": "Write a message first."})
    staged = attachments_stage(attachments, tenant_id=ticket.tenant_id)
    try:
        return _message_write(
            ticket=ticket,
            kind=kind,
            body=body,
            author_user=author_user,
            author_contact=author_contact,
            body_html=body_html,
            staged=staged,
            expected_version=expected_version,
            status_after=status_after,
        )
    except BaseException:
        attachments_discard(_written_here(staged, attachments))
        raise


@transaction.atomic
def _message_write(
    *,
    ticket: Ticket,
    kind: str,
    body: str,
    author_user,
    author_contact: Contact | None,
    body_html: str | None,
    staged: Sequence[StagedAttachment],
    expected_version: int | None,
    status_after: str | None,
) -> Message:
    ticket = _lock_current(ticket, expected_version)
    if ticket.status == Ticket.Status.CLOSED:
        raise ValidationError(
            "This ticket is closed. A new message starts a follow-up ticket instead."
        )
    now = timezone.now()
    message = _message_build(
        ticket=ticket,
        kind=kind,
        body=body,
        now=now,
        author_user=author_user,
        author_contact=author_contact,
        body_html=body_html,
    )
    message.save()
    Attachment.objects.bulk_create(attachment_rows(message, staged))
    events = [_message_event(message, actor_user=author_user, actor_contact=author_contact)]
    before = _display_value(ticket, "status")
    target = status_after
    if target is None:
        if kind == Message.Kind.CUSTOMER and ticket.status in (
            Ticket.Status.PENDING,
            Ticket.Status.RESOLVED,
        ):
            target = Ticket.Status.OPEN
        elif kind == Message.Kind.REPLY and ticket.status == Ticket.Status.NEW:
            target = Ticket.Status.OPEN
    if target is not None and target != ticket.status:
        _apply_status(ticket, target, now)
    if kind == Message.Kind.REPLY and ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.version += 1
    ticket.updated_at = now
    ticket.save()
    if ticket.status != before["value"]:
        events.append(
            event_build(
                ticket=ticket,
                kind=Event.Kind.STATUS_CHANGED,
                actor_user=author_user,
                actor_contact=author_contact,
                field="status",
                old_value=before,
                new_value=_display_value(ticket, "status"),
                created_at=now,
            )
        )
    events_record(events)
    return message


@transaction.atomic
def ticket_system_reply(*, ticket: Ticket, source: str, reason: str, body: str) -> Message:
    """A public reply that a system sends (an automation's reminder to the
    customer): mailed to the requester like an agent's reply, and shown on
    the timeline under the system's name with `reason`.

    It is nobody's response and no activity on the ticket: the first
    response, the status, `version` and `updated_at` stay as they were (so
    an automation waiting for activity still sees none, and nobody's open
    edit turns stale).
    """
    if source not in system_actors:
        raise ValueError(f"{source!r} is not registered in tickets.extensions.system_actors")
    if not (reason or "").strip():
        raise ValueError("a system reply says why (reason)")
    if not (body or "").strip():
        raise ValidationError({"body": "Write a message first."})
    ticket = _lock_current(ticket, None)
    if ticket.status == Ticket.Status.CLOSED:
        raise ValidationError("This ticket is closed.")
    now = timezone.now()
    message = _message_build(ticket=ticket, kind=Message.Kind.REPLY, body=body, now=now)
    message.save()
    events_record(
        [
            event_build(
                ticket=ticket,
                kind=Event.Kind.MESSAGE_ADDED,
                message=message,
                is_public=True,
                new_value={"kind": message.kind},
                actor_system=source,
                reason=reason.strip(),
                created_at=now,
            )
        ]
    )
    return message


@transaction.atomic
def delivery_failed(*, ticket: Ticket, addresses: Sequence[str], reason: str) -> Event:
    """Record on the ticket that mail to `addresses` bounced; mark those
    contacts so nothing more is sent to them."""
    now = timezone.now()
    Contact.objects.filter(email__in=[a.lower() for a in addresses]).update(email_bounced_at=now)
    return event_record(
        ticket=ticket,
        kind=Event.Kind.DELIVERY_FAILED,
        is_public=False,
        new_value={"addresses": list(addresses), "reason": reason},
        created_at=now,
    )
