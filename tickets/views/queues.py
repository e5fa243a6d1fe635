"""Queues: the lists agents work from, bulk actions and saved views."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from helpdesk.extensions import home_page_for
from helpdesk.models import Membership
from helpdesk.parsing import parse_id

from .. import queues, selectors, services
from ..extensions import queue_columns
from ..forms import (
    BulkActionForm,
    QueueFilterForm,
    SavedViewForm,
)
from .common import member_queue, member_queues, tenant_choices


def _saved_views_for(request):
    return selectors.saved_views_for(user=request.user)


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
    # /<tenant>/ may be another page for some roles (the managers'
    # dashboard); "Queues" in the top bar always opens the queues.
    home = home_page_for(request.membership) if request.resolver_match.url_name == "home" else None
    if home is not None:
        return redirect(home, tenant_slug)
    return redirect("tickets:queue", tenant_slug, HOME_QUEUE[request.membership.role])


@require_GET
def queue_view(request, tenant_slug, slug):
    """A queue page; its rows alone when htmx polls for fresh ones."""
    # The full page's forms show the tenant's choices (read first, so that
    # the queue list is made from them); a refresh shows no form.
    choices = None if request.htmx else tenant_choices(request)
    queue = member_queue(request, slug)
    form = QueueFilterForm(
        request.GET, tenant=request.tenant, sorts=queues.SORT_LABELS, choices=choices
    )
    filters, include_closed, sort = Q(), False, None
    if form.is_valid():
        filters, include_closed = form.conditions()
        sort = form.cleaned_data["sort"] or None
    cursor = request.GET.get("after")
    rows, next_cursor = queues.queue_page(
        queue=queue, filters=filters, include_closed=include_closed, sort=sort, cursor=cursor
    )
    seen = request.GET.get("seen", "")
    seen = parse_id(seen)
    if seen is None:
        seen = max((t.number for t in rows), default=0)
    filter_query = request.GET.copy()
    for transient in ("after", "seen"):
        filter_query.pop(transient, None)
    # Ticket links carry the queue (and its filters): the ticket page's
    # previous/next then walk this queue.
    origin = queue.slug + (f"?{filter_query.urlencode()}" if filter_query else "")
    context = {
        "ticket_link_query": urlencode({"from": origin}),
        "queue": queue,
        "rows": rows,
        # Columns other apps registered, after the built-in ones.
        "queue_columns": list(queue_columns),
        "next_cursor": next_cursor,
        "first_page": not cursor,
        "seen": seen,
        "filter_form": form,
        "filter_query": filter_query.urlencode(),
        "counts": queues.queue_counts(user=request.user),
        "queues": member_queues(request),
        "saved_views": _saved_views_for(request),
        "refresh_seconds": settings.QUEUE_REFRESH_SECONDS,
    }
    if request.htmx:
        return render(request, "tickets/queue.html#queue-refresh", context)
    context |= {
        # Its own ids: the filter form above has fields of the same names.
        "bulk_form": BulkActionForm(tenant=request.tenant, choices=choices, auto_id="bulk_%s"),
        "save_view_form": SavedViewForm(
            initial={"queue": queue.slug, "query": context["filter_query"]}, choices=choices
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
