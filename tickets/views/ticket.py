"""The ticket page: the timeline, its live refresh, edits, replies, files, presence and canned text."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.parsing import parse_id
from helpdesk.presence import presence_report

from .. import queues, reply_stash, selectors, services
from ..extensions import system_actor_label
from ..forms import (
    QueueFilterForm,
    ReplyForm,
    TicketCreateForm,
    TicketUpdateForm,
    add_service_errors,
)
from ..models import CannedResponse, Message
from ..portal import services as portal_services
from .common import member_queue, tenant_choices

INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


@require_GET
def ticket_list(request, tenant_slug):
    before = request.GET.get("before")
    tickets, next_cursor = selectors.ticket_list(before=parse_id(before))
    return render(
        request,
        "tickets/ticket_list.html",
        {"tickets": tickets, "next_cursor": next_cursor},
    )


@require_http_methods(["GET", "POST"])
def ticket_new(request, tenant_slug):
    form = TicketCreateForm(request.POST or None, request.FILES or None, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.ticket_create(
                requester_email=data["requester_email"],
                requester_name=data["requester_name"],
                subject=data["subject"],
                body=data["body"],
                actor=request.user,
                channel=data["channel"],
                priority=data["priority"],
                type=data["type"],
                category=data["category"],
                group=data["group"],
                assignee=data["assignee"],
                tags=data["tags"],
                cc_emails=data["cc_emails"],
                attachments=data["attachments"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied as denied:
            form.add_error("assignee", str(denied))
        else:
            messages.success(request, f"Ticket {ticket.reference} created.")
            return redirect("tickets:detail", tenant_slug, ticket.number)
    form.offer_tenant_choices(tenant_choices(request))
    return render(request, "tickets/ticket_new.html", {"form": form})


# Images the timeline shows as thumbnails (served by attachment_download, inline).
THUMBNAIL_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# At most this many new timeline entries per live refresh; the rest come next time.
STATE_MAX_EVENTS = 100


def _prepared(timeline):
    """Timeline events ready to show: each message carries `also_received`
    (the later copies of its mail, all loaded at once), and each attachment
    `thumbnail` (an image the body does not already show in place)."""
    copies = selectors.message_copies(
        message_ids=[event.message_id for event in timeline if event.message_id]
    )
    for event in timeline:
        if event.message_id:
            message = event.message
            message.also_received = copies.get(event.message_id, [])
            for attachment in message.attachments.all():
                attachment.thumbnail = attachment.content_type in THUMBNAIL_TYPES and not (
                    attachment.content_id and f"cid:{attachment.content_id}" in message.body_html
                )
    return timeline


def _queue_origin(request) -> str:
    """The queue the agent opened the ticket from ("unassigned" or
    "group-3?priority=4"), carried in the links as `from`."""
    origin = request.GET.get("from") or request.POST.get("from") or ""
    return origin if len(origin) <= 1000 else ""


def _with_origin(url: str, origin: str) -> str:
    return f"{url}?{urlencode({'from': origin})}" if origin else url


def _queue_nav(request, ticket, origin: str) -> dict | None:
    """Previous and next ticket in the queue the agent came from (its filters
    and order too), or None when the page was not opened from a queue."""
    slug, _, query = origin.partition("?")
    if not slug:
        return None
    try:
        queue = member_queue(request, slug)
    except Http404:
        return None
    # Only read for its conditions, never shown: its fields need no choices.
    form = QueueFilterForm(QueryDict(query), tenant=request.tenant, sorts=queues.SORT_LABELS)
    filters, include_closed, sort = Q(), False, None
    if form.is_valid():
        filters, include_closed = form.conditions()
        sort = form.cleaned_data["sort"] or None
    previous, following = queues.queue_neighbours(
        queue=queue, ticket=ticket, filters=filters, include_closed=include_closed, sort=sort
    )
    tenant_slug = request.tenant.slug
    queue_url = reverse("tickets:queue", args=[tenant_slug, queue.slug])

    def ticket_url(number):
        if number is None:
            return None
        return _with_origin(reverse("tickets:detail", args=[tenant_slug, number]), origin)

    return {
        "queue": queue,
        "queue_url": f"{queue_url}?{query}" if query else queue_url,
        "previous_url": ticket_url(previous),
        "next_url": ticket_url(following),
    }


def _details_fields(form, conflict=None) -> list[dict]:
    """The Details panel's fields, each with what a colleague changed in it
    meanwhile (on a refused save) and whether that clashes with this agent."""
    theirs = conflict.theirs if conflict else {}
    clashes = conflict.clashes if conflict else ()
    return [
        {"field": field, "theirs": theirs.get(field.name), "clash": field.name in clashes}
        for field in form.visible_fields()
    ]


def _detail_context(
    request,
    ticket,
    *,
    update_form=None,
    reply_form=None,
    conflict=None,
    stashed=(),
    stash_token="",
    stash_left_out=(),
):
    timeline = _prepared(selectors.ticket_timeline(ticket=ticket))
    origin = _queue_origin(request)
    pending_details = update_form is not None
    # Read first: the Details panel shows them, and the queue nav takes the
    # viewer's groups from them.
    choices = tenant_choices(request)
    if update_form is None:
        update_form = TicketUpdateForm.for_ticket(ticket, choices=choices)
    else:
        update_form.offer_tenant_choices(choices)
    return {
        "ticket": ticket,
        "timeline": timeline,
        "last_event_id": max((event.pk for event in timeline), default=0),
        "update_form": update_form,
        "details_fields": _details_fields(update_form, conflict),
        # The panel holds this agent's unsaved values: a live refresh leaves it be.
        "details_pending": pending_details,
        "reply_form": reply_form or ReplyForm(initial={"version": ticket.version}),
        "canned_responses": CannedResponse.objects.only("pk", "title"),
        "conflict": conflict,
        "stashed_files": stashed,
        "stash_token": stash_token,
        "stash_left_out": stash_left_out,
        "origin": origin,
        "nav": _queue_nav(request, ticket, origin),
        "refresh_seconds": settings.TICKET_REFRESH_SECONDS,
    }


@require_GET
def ticket_detail(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    return render(request, "tickets/ticket_detail.html", _detail_context(request, ticket))


def _names(names: list[str]) -> str:
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _announcement(events, viewer) -> str:
    """What a live refresh brought, in words for the page's polite live
    region: "1 new message from Pat Lee. Dana Smith changed priority."."""
    others = [event for event in events if event.actor_user_id != viewer.pk]
    messages_in = [event for event in others if event.message_id]
    # A status a message set in the same step (a customer reopening, a reply
    # marked solved) is part of that message, not news of its own.
    with_message = {(event.created_at, _event_actor(event)) for event in messages_in}
    changes: dict[str, list[str]] = {}
    for event in others:
        if event.message_id or not event.field:
            continue
        if (event.created_at, _event_actor(event)) in with_message:
            continue
        label = services.FIELD_LABELS.get(event.field, event.field).lower()
        changes.setdefault(_event_actor(event), [])
        if label not in changes[_event_actor(event)]:
            changes[_event_actor(event)].append(label)
    parts = []
    if messages_in:
        count = len(messages_in)
        authors = _names([event.message.author_name for event in messages_in])
        parts.append(f"{count} new message{'s' if count != 1 else ''} from {authors}.")
    for who, fields in changes.items():
        parts.append(f"{who} changed {_names(fields)}.")
    return " ".join(parts)


def _event_actor(event) -> str:
    if event.actor_user_id:
        return event.actor_user.get_full_name() or event.actor_user.username
    if event.actor_contact_id:
        return event.actor_contact.display_name
    if event.actor_system:
        return system_actor_label(event.actor_system)
    return "System"


@require_GET
def ticket_state(request, tenant_slug, number):
    """The live ticket page's poll: 204 while nothing changed (one small
    query); otherwise the header, the Details panel, the entries the page
    has not shown yet and the composer's version, as htmx out-of-band swaps.
    The composer itself is never sent, so a draft and its focus stay."""
    version, last_event = selectors.ticket_state(number=number)
    shown_version = request.GET.get("v", "")
    shown_event = request.GET.get("e", "")
    if f"{version}-{last_event}" == f"{shown_version}-{shown_event}":
        return HttpResponse(status=204)
    ticket = selectors.ticket_get(number=number)
    new_events = []
    if (after_event := parse_id(shown_event)) is not None:
        new_events = _prepared(
            selectors.ticket_timeline(ticket=ticket, after=after_event, limit=STATE_MAX_EVENTS)
        )
    for event in new_events:
        event.is_new = event.actor_user_id != request.user.pk
    first_new = next((event for event in new_events if event.is_new), None)
    update_form = TicketUpdateForm.for_ticket(ticket, choices=tenant_choices(request))
    context = {
        "ticket": ticket,
        "new_events": new_events,
        "last_event_id": new_events[-1].pk if new_events else last_event,
        "update_form": update_form,
        "details_fields": _details_fields(update_form),
        "announcement": _announcement(new_events, request.user),
        "first_new_anchor": (
            ""
            if first_new is None
            else f"message-{first_new.message_id}"
            if first_new.message_id
            else f"event-{first_new.pk}"
        ),
        "origin": _queue_origin(request),
        "refresh_seconds": settings.TICKET_REFRESH_SECONDS,
        "oob": True,
    }
    return render(request, "tickets/ticket_detail.html#ticket-state", context)


@require_POST
def ticket_update(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    form = TicketUpdateForm(request.POST, tenant=request.tenant)
    origin = _queue_origin(request)
    if form.is_valid():
        data = form.cleaned_data
        base = form.opened_values()
        try:
            updated = services.ticket_update(
                ticket=ticket,
                actor=request.user,
                expected_version=data["version"],
                base=base,
                **form.changes(),
            )
        except services.TicketConflict as conflict:
            # The panel shows the ticket as it is now, with this agent's own
            # changes on top and what the colleague changed beside each field.
            current = conflict.ticket
            values = TicketUpdateForm.initial_for(current)
            for field in form.changes():
                values[field] = request.POST.get(field, "")
            form = TicketUpdateForm(values, tenant=request.tenant)
            context = _detail_context(request, current, update_form=form, conflict=conflict)
            return render(request, "tickets/ticket_detail.html", context, status=409)
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied as denied:
            form.add_error("assignee", str(denied))
        else:
            if updated.version == ticket.version:
                messages.info(request, "Nothing to save: no field was changed.")
            else:
                theirs = services.ticket_changes_since(
                    ticket=updated,
                    base={f: v for f, v in (base or {}).items() if f not in form.changes()},
                )
                text = "Saved."
                if theirs:
                    text += " Meanwhile " + "; ".join(
                        f"{c['by']} changed {c['name'].lower()} to {c['label']}"
                        for c in theirs.values()
                    )
                    text += ", which stays as they set it."
                messages.success(request, text)
            return redirect(
                _with_origin(reverse("tickets:detail", args=[tenant_slug, number]), origin)
            )
    context = _detail_context(request, ticket, update_form=form)
    return render(request, "tickets/ticket_detail.html", context, status=400)


@require_POST
def ticket_reply(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    form = ReplyForm(request.POST, request.FILES)
    stash_owner = {
        "tenant_id": request.tenant.pk,
        "user_id": request.user.pk,
        "ticket_number": ticket.number,
    }
    kept = [
        stashed
        for stashed in reply_stash.stash_read(request.POST.get("stash", ""), **stash_owner)
        if stashed.key in request.POST.getlist("keep")
    ]
    conflict = None
    if form.is_valid():
        data = form.cleaned_data
        opened = reply_stash.stash_open(tenant_id=request.tenant.pk, files=kept)
        try:
            services.message_add(
                ticket=ticket,
                kind=data["kind"],
                body=data["body"],
                author_user=request.user,
                attachments=[*data["attachments"], *opened],
                expected_version=data["version"],
                status_after=data["status_after"] or None,
            )
        except services.TicketConflict as error:
            # Keep the draft, show what changed; sending again is one click.
            conflict, ticket = error, error.ticket
            form = ReplyForm({**request.POST.dict(), "version": ticket.version})
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            reply_stash.stash_delete(tenant_id=request.tenant.pk, files=kept)
            label = "Note added." if data["kind"] == Message.Kind.NOTE else "Reply sent."
            messages.success(request, label)
            url = reverse("tickets:detail", args=[tenant_slug, number])
            return redirect(_with_origin(url, _queue_origin(request)) + "#composer")
        finally:
            for handle in opened:
                handle.close()
    # Refused: the files chosen this time are kept beside those kept before,
    # so that sending again needs no new choosing.
    stashed, left_out = reply_stash.stash_uploads(
        tenant_id=request.tenant.pk,
        uploads=request.FILES.getlist("attachments"),
        room=max(0, settings.ATTACHMENT_MAX_FILES - len(kept)),
    )
    stashed = [*kept, *stashed]
    context = _detail_context(
        request,
        ticket,
        reply_form=form,
        conflict=conflict,
        stashed=stashed,
        stash_token=reply_stash.stash_token(files=stashed, **stash_owner),
        stash_left_out=left_out,
    )
    return render(request, "tickets/ticket_detail.html", context, status=409 if conflict else 400)


@require_GET
def attachment_download(request, tenant_slug, number, attachment_id):
    ticket = selectors.ticket_get(number=number)
    attachment = selectors.attachment_get(ticket=ticket, attachment_id=attachment_id)
    inline = attachment.content_type in INLINE_TYPES
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.filename,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
def ticket_presence(request, tenant_slug, number):
    """Heartbeat of an open ticket page; answers with who else is there."""
    ticket = selectors.ticket_get(number=number)
    others = presence_report(
        tenant_id=request.tenant.pk,
        topic=f"ticket:{ticket.number}",
        user=request.user,
        replying=request.POST.get("replying") == "1",
    )
    return render(request, "tickets/_presence.html", {"others": others})


@require_GET
def canned_response_insert(request, tenant_slug, number, canned_id):
    """A canned response's text, filled in for this ticket, for the composer."""
    ticket = selectors.ticket_get(number=number)
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise Http404("No such canned response.")
    text = services.canned_response_render(canned=canned, ticket=ticket, agent=request.user)
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@require_POST
def portal_links_reset(request, tenant_slug, number):
    """Revoke a ticket's customer links, or one recipient's (`email`); new
    ones are mailed to whoever lost theirs."""
    ticket = selectors.ticket_get(number=number)
    email = request.POST.get("email", "")
    try:
        revoked = portal_services.portal_links_reset(ticket=ticket, actor=request.user, email=email)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("tickets:detail", tenant_slug, ticket.number)
    what = f"{revoked} link{'s' if revoked != 1 else ''} revoked"
    if email:
        messages.success(request, f"{what}; {email.strip().lower()} gets a new one by mail.")
    else:
        messages.success(request, f"{what}; the requester and CCs get new ones by mail.")
    return redirect("tickets:detail", tenant_slug, ticket.number)
