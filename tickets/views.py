from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.models import Membership, SupportGroupMember
from helpdesk.permissions import role_required
from helpdesk.presence import presence_report

from . import board, queues, selectors, services
from .forms import (
    BoardFilterForm,
    BulkActionForm,
    CannedResponseForm,
    QueueFilterForm,
    ReplyForm,
    SavedViewForm,
    TicketCreateForm,
    TicketUpdateForm,
    add_service_errors,
)
from .models import CannedResponse, Message

INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


@require_GET
def ticket_list(request, tenant_slug):
    before = request.GET.get("before")
    tickets, next_cursor = selectors.ticket_list(
        before=int(before) if before and before.isdigit() else None
    )
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
    return render(request, "tickets/ticket_new.html", {"form": form})


def _timeline_with_copies(ticket):
    """The timeline, each message carrying `also_received`: the later copies
    of its mail (to another of our mailboxes), loaded for the page at once."""
    timeline = selectors.ticket_timeline(ticket=ticket)
    copies = selectors.message_copies(
        message_ids=[event.message_id for event in timeline if event.message_id]
    )
    for event in timeline:
        if event.message_id:
            event.message.also_received = copies.get(event.message_id, [])
    return timeline


def _detail_context(request, ticket, *, update_form=None, reply_form=None, conflict=None):
    return {
        "ticket": ticket,
        "timeline": _timeline_with_copies(ticket),
        "update_form": update_form or TicketUpdateForm.for_ticket(ticket),
        "reply_form": reply_form or ReplyForm(initial={"version": ticket.version}),
        "recent_tickets": selectors.requester_recent_tickets(ticket=ticket),
        "canned_responses": CannedResponse.objects.only("pk", "title"),
        "conflict": conflict,
    }


@require_GET
def ticket_detail(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    return render(request, "tickets/ticket_detail.html", _detail_context(request, ticket))


@require_POST
def ticket_update(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    form = TicketUpdateForm(request.POST, tenant=request.tenant)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.ticket_update(
                ticket=ticket,
                actor=request.user,
                expected_version=data["version"],
                status=data["status"],
                priority=data["priority"],
                type=data["type"],
                category=data["category"],
                group=data["group"],
                assignee=data["assignee"],
                tags=data["tags"],
            )
        except services.TicketConflict as conflict:
            # Show the current ticket; the agent's choices stay in the form.
            form = TicketUpdateForm(
                {**request.POST.dict(), "version": conflict.ticket.version}, tenant=request.tenant
            )
            context = _detail_context(request, conflict.ticket, update_form=form, conflict=conflict)
            return render(request, "tickets/ticket_detail.html", context, status=409)
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied as denied:
            form.add_error("assignee", str(denied))
        else:
            messages.success(request, "Saved.")
            return redirect("tickets:detail", tenant_slug, number)
    context = _detail_context(request, ticket, update_form=form)
    return render(request, "tickets/ticket_detail.html", context, status=400)


@require_POST
def ticket_reply(request, tenant_slug, number):
    ticket = selectors.ticket_get(number=number)
    form = ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.message_add(
                ticket=ticket,
                kind=data["kind"],
                body=data["body"],
                author_user=request.user,
                attachments=data["attachments"],
                expected_version=data["version"],
                status_after=data["status_after"] or None,
            )
        except services.TicketConflict as conflict:
            # Keep the draft, show what changed; sending again is one click.
            form = ReplyForm({**request.POST.dict(), "version": conflict.ticket.version})
            context = _detail_context(request, conflict.ticket, reply_form=form, conflict=conflict)
            return render(request, "tickets/ticket_detail.html", context, status=409)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            label = "Note added." if data["kind"] == Message.Kind.NOTE else "Reply sent."
            messages.success(request, label)
            return redirect(reverse("tickets:detail", args=[tenant_slug, number]) + "#composer")
    context = _detail_context(request, ticket, reply_form=form)
    return render(request, "tickets/ticket_detail.html", context, status=400)


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


# ---------------------------------------------------------------- queues


def _saved_views_for(request):
    from .models import SavedView

    group_ids = SupportGroupMember.objects.filter(user=request.user).values("group_id")
    return SavedView.objects.filter(
        Q(owner=request.user) | Q(shared_with__in=group_ids)
    ).select_related("shared_with")


# Where each role's work is: agents their own tickets, dispatchers what
# waits for someone, managers and admins everything open.
HOME_QUEUE = {
    Membership.Role.AGENT: "mine",
    Membership.Role.DISPATCHER: "unassigned",
    Membership.Role.MANAGER: "all",
    Membership.Role.ADMIN: "all",
}


@require_GET
def queue_index(request, tenant_slug):
    """A member's home in the help desk (/<tenant>/ and /<tenant>/queues/)."""
    return redirect("tickets:queue", tenant_slug, HOME_QUEUE[request.membership.role])


@require_GET
def queue_view(request, tenant_slug, slug):
    """A queue page; its rows alone when htmx polls for fresh ones."""
    queue = queues.queue_get(membership=request.membership, slug=slug)
    form = QueueFilterForm(request.GET, tenant=request.tenant, sorts=queues.SORT_LABELS)
    filters, include_closed, sort = Q(), False, None
    if form.is_valid():
        filters, include_closed = form.conditions()
        sort = form.cleaned_data["sort"] or None
    cursor = request.GET.get("after")
    rows, next_cursor = queues.queue_page(
        queue=queue, filters=filters, include_closed=include_closed, sort=sort, cursor=cursor
    )
    seen = request.GET.get("seen", "")
    seen = int(seen) if seen.isdigit() else max((t.number for t in rows), default=0)
    filter_query = request.GET.copy()
    for transient in ("after", "seen"):
        filter_query.pop(transient, None)
    context = {
        "queue": queue,
        "rows": rows,
        "next_cursor": next_cursor,
        "first_page": not cursor,
        "seen": seen,
        "filter_form": form,
        "filter_query": filter_query.urlencode(),
        "counts": queues.queue_counts(user=request.user),
        "queues": queues.queues_for(membership=request.membership),
        "saved_views": _saved_views_for(request),
        "refresh_seconds": settings.QUEUE_REFRESH_SECONDS,
    }
    if request.htmx:
        return render(request, "tickets/queue.html#queue-refresh", context)
    context |= {
        "bulk_form": BulkActionForm(tenant=request.tenant),
        "save_view_form": SavedViewForm(
            initial={"queue": queue.slug, "query": context["filter_query"]}
        ),
        "can_share_views": request.membership.has_role(Membership.Role.MANAGER),
    }
    return render(request, "tickets/queue.html", context)


@require_POST
def queue_bulk(request, tenant_slug, slug):
    """Apply one action to the selected tickets of a queue."""
    queue = queues.queue_get(membership=request.membership, slug=slug)
    back = reverse("tickets:queue", args=[tenant_slug, queue.slug])
    query = request.POST.get("query", "")
    if query:
        back += "?" + query
    form = BulkActionForm(request.POST, tenant=request.tenant)
    if not request.POST.getlist("numbers"):
        messages.error(request, "Nothing changed: tick the tickets to change first.")
        return redirect(back)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f != "__all__" else " ".join(e)
            for f, e in form.errors.items()
        )
        messages.error(request, f"Nothing changed. {problems}")
        return redirect(back)
    try:
        changed, refusals = services.tickets_bulk_update(
            numbers=form.cleaned_data["numbers"], actor=request.user, **form.changes()
        )
    except (ValidationError, PermissionDenied) as error:
        messages.error(
            request, "Nothing changed. " + " ".join(getattr(error, "messages", [str(error)]))
        )
        return redirect(back)
    messages.success(request, f"{changed} ticket{'s' if changed != 1 else ''} changed.")
    for refusal in refusals:
        messages.error(request, refusal)
    return redirect(back)


@require_POST
def saved_view_create(request, tenant_slug):
    form = SavedViewForm(request.POST)
    queue_slug = request.POST.get("queue", "mine")
    queue = queues.queue_get(membership=request.membership, slug=queue_slug)
    if form.is_valid():
        try:
            view = services.saved_view_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                queue=queue.slug,
                query=form.cleaned_data["query"],
                shared_with=form.cleaned_data["shared_with"],
            )
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, f"View “{view.name}” saved.")
    else:
        messages.error(request, "Give the view a name to save it.")
    url = reverse("tickets:queue", args=[tenant_slug, queue.slug])
    return redirect(f"{url}?{form.data.get('query', '')}")


@require_POST
def saved_view_delete(request, tenant_slug, view_id):
    view = _saved_views_for(request).filter(pk=view_id).first()
    if view is None:
        raise Http404("No such view.")
    services.saved_view_delete(view=view, actor=request.user)
    messages.success(request, f"View “{view.name}” removed.")
    return redirect("tickets:queue", tenant_slug, view.queue)


# ---------------------------------------------------------------- kanban


@require_GET
def board_view(request, tenant_slug):
    """The kanban; just the columns when htmx refreshes it."""
    form = BoardFilterForm(request.GET, tenant=request.tenant)
    filters = form.conditions() if form.is_valid() else Q()
    context = {
        "columns": board.board_columns(filters=filters),
        "filter_form": form,
        "refresh_seconds": settings.BOARD_REFRESH_SECONDS,
    }
    if request.htmx:
        return render(request, "tickets/board.html#board-columns", context)
    return render(request, "tickets/board.html", context)


@require_POST
def ticket_move(request, tenant_slug, number):
    """A card dropped on another column: change the status through the service.

    Answers with the updated card, or a 4xx and a sentence the board shows
    while the card goes back.
    """
    ticket = selectors.ticket_get(number=number)
    version = request.POST.get("version", "")
    # ASCII digits only: "²".isdigit() is true, and int("²") fails.
    if not (version.isascii() and version.isdigit() and len(version) < 10):
        text = "This board is out of date: reload the page and move the card again."
        return HttpResponse(text, status=400, content_type="text/plain")
    try:
        ticket = services.ticket_change_status(
            ticket=ticket,
            actor=request.user,
            status=request.POST.get("status", ""),
            expected_version=int(version),
        )
    except services.TicketConflict as conflict:
        text = (
            f"{conflict.changed_by} changed {conflict.ticket.reference} after the board was "
            "loaded, so it was not moved. The board now shows it as it is: move it again "
            "if you still want to."
        )
        return HttpResponse(text, status=409, content_type="text/plain")
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")
    return render(request, "tickets/board.html#board-card", {"card": ticket})


# ---------------------------------------------------------------- presence and canned responses


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


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def canned_response_list(request, tenant_slug, canned_id=None):
    """Admins keep the tenant's canned responses: list, add, change."""
    canned = None
    if canned_id is not None:
        canned = CannedResponse.objects.filter(pk=canned_id).first()
        if canned is None:
            raise Http404("No such canned response.")
    form = CannedResponseForm(
        request.POST or None,
        initial={"title": canned.title, "body": canned.body} if canned else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.canned_response_save(
                actor=request.user, canned=canned, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved “{saved.title}”.")
            return redirect("tickets:canned_list", tenant_slug)
    return render(
        request,
        "tickets/canned_responses.html",
        {
            "form": form,
            "editing": canned,
            "responses": CannedResponse.objects.all(),
            "placeholders": services.CANNED_PLACEHOLDERS,
        },
    )


@require_POST
@role_required(Membership.Role.ADMIN)
def canned_response_delete(request, tenant_slug, canned_id):
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise Http404("No such canned response.")
    services.canned_response_delete(actor=request.user, canned=canned)
    messages.success(request, f"Removed “{canned.title}”.")
    return redirect("tickets:canned_list", tenant_slug)
