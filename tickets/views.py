from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .forms import ReplyForm, TicketCreateForm, TicketUpdateForm
from .models import Message

INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


def _add_service_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form fields it names."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error.messages)


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
            _add_service_errors(form, error)
        except PermissionDenied as denied:
            form.add_error("assignee", str(denied))
        else:
            messages.success(request, f"Ticket {ticket.reference} created.")
            return redirect("tickets:detail", tenant_slug, ticket.number)
    return render(request, "tickets/ticket_new.html", {"form": form})


def _detail_context(request, ticket, *, update_form=None, reply_form=None, conflict=None):
    return {
        "ticket": ticket,
        "timeline": selectors.ticket_timeline(ticket=ticket),
        "update_form": update_form or TicketUpdateForm.for_ticket(ticket),
        "reply_form": reply_form or ReplyForm(initial={"version": ticket.version}),
        "recent_tickets": selectors.requester_recent_tickets(ticket=ticket),
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
            _add_service_errors(form, error)
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
            _add_service_errors(form, error)
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
