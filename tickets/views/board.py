"""The kanban board: open tickets by status, moved by drag and drop."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from helpdesk.parsing import parse_id

from .. import board, selectors, services
from ..forms import (
    BoardFilterForm,
)
from .common import tenant_choices

# Each card's "Move to…" menu: the board's columns, in order.
MOVE_TARGETS = [(status.value, status.label) for status in board.COLUMNS]


@require_GET
def board_view(request, tenant_slug):
    """The kanban; just the columns when htmx refreshes it."""
    # A refresh shows the columns only: no form, so no choices to read.
    choices = None if request.htmx else tenant_choices(request)
    form = BoardFilterForm(request.GET, tenant=request.tenant, choices=choices)
    filters = form.conditions() if form.is_valid() else Q()
    context = {
        "columns": board.board_columns(filters=filters),
        "filter_form": form,
        "refresh_seconds": settings.BOARD_REFRESH_SECONDS,
        "move_targets": MOVE_TARGETS,
    }
    if request.htmx:
        return render(request, "tickets/board.html#board-columns", context)
    return render(request, "tickets/board.html", context)


@require_POST
def ticket_move(request, tenant_slug, number):
    """A card dropped on another column: change the status through the service.

    Answers with the updated card, or a 4xx and a sentence the board shows
    while the card goes back. A card's "Move to…" menu sent without
    JavaScript gets the board again, with the same sentence as a message.
    """
    response = _ticket_move(request, number)
    if request.htmx or request.POST.get("via") != "menu":
        return response
    if response.status_code == 200:
        messages.success(request, "Moved.")
    else:
        messages.error(request, response.content.decode())
    return redirect("tickets:board", tenant_slug)


def _ticket_move(request, number):
    ticket = selectors.ticket_get(number=number)
    version = parse_id(request.POST.get("version", ""))
    if version is None:
        text = "This board is out of date: reload the page and move the card again."
        return HttpResponse(text, status=400, content_type="text/plain")
    try:
        ticket = services.ticket_change_status(
            ticket=ticket,
            actor=request.user,
            status=request.POST.get("status", ""),
            expected_version=version,
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
    [card] = board.board_cards_with_badges([ticket])
    return render(
        request, "tickets/board.html#board-card", {"card": card, "move_targets": MOVE_TARGETS}
    )
