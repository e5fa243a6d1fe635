"""Admins' view of background work that failed: event handlers still being
retried or given up on, with "Run again"."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from helpdesk.models import Membership
from helpdesk.parsing import parse_id
from helpdesk.permissions import role_required

from .. import selectors, services
from ..events import handler_purpose


@require_GET
@role_required(Membership.Role.ADMIN)
def failed_work_list(request, tenant_slug):
    """Handlers that failed on a ticket's event: which, how often, the last
    error, and whether they are still retried or were given up on."""
    before_id = parse_id(request.GET.get("before", ""))
    rows, next_cursor = selectors.failed_work_page(before=before_id)
    for row in rows:
        row.purpose = handler_purpose(row.handler)
    context = {"failures": rows, "next_cursor": next_cursor, "paged": before_id is not None}
    return render(request, "tickets/failed_work.html", context)


@require_POST
@role_required(Membership.Role.ADMIN)
def failed_work_run_again(request, tenant_slug):
    """Run one failed handler again now (its attempts start over)."""
    failure_id = parse_id(request.POST.get("failure", ""))
    if failure_id is None:
        messages.error(request, "Choose the work to run again.")
        return redirect("tickets:failed_work", tenant_slug)
    try:
        failure = services.event_handler_run_again(failure_id=failure_id, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        reference = failure.event.ticket.reference
        messages.success(request, f"{failure.handler} on {reference} runs again shortly.")
    return redirect("tickets:failed_work", tenant_slug)
