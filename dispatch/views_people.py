"""Dispatch pages about people: the header's availability switch, accepting
or declining an automatic assignment, and a claim group's leader handing
out the group's tickets. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tickets.selectors import ticket_get
from tickets.services import TicketConflict

from .forms import DeclineForm, ReviewForm
from .models import AgentStatus
from .services.acceptance import acceptance_accept, acceptance_decline
from .services.leader import leader_assign, leader_board


def _errors(error) -> str:
    return " ".join(getattr(error, "messages", None) or [str(error)])


@require_GET
def availability_widget(request, tenant_slug):
    """The top bar's online / away / offline switch (loaded after the page)."""
    status = AgentStatus.objects.filter(user=request.user).only("availability").first()
    return render(
        request,
        "dispatch/availability_widget.html",
        {
            "availability": status.availability if status else AgentStatus.Availability.OFFLINE,
            "choices": AgentStatus.Availability.choices,
        },
    )


@require_POST
def accept(request, tenant_slug, number):
    """The assignee accepts an automatic assignment (one click)."""
    ticket = ticket_get(number=number)
    try:
        acceptance_accept(ticket=ticket, user=request.user)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"You accepted {ticket.reference}.")
    return redirect("tickets:detail", tenant_slug, number)


@require_POST
def decline(request, tenant_slug, number):
    """The assignee declines with a reason: the ticket goes to the next candidate."""
    ticket = ticket_get(number=number)
    form = DeclineForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Say why you decline (up to 500 characters).")
        decision = acceptance_decline(
            ticket=ticket, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, _errors(error))
        return redirect("tickets:detail", tenant_slug, number)
    text = f"You declined {ticket.reference}."
    if decision is not None:
        text += f" {decision.explanation}"
    messages.success(request, text)
    return redirect("dispatch:home", tenant_slug)


@require_GET
def leader_queue(request, tenant_slug):
    """The claim groups the member leads: their unassigned tickets, most
    urgent first, and each member's load, to assign with one click."""
    board = leader_board(leader=request.user)
    return render(request, "dispatch/leader.html", {"board": board})


@require_POST
def leader_assign_view(request, tenant_slug, number):
    """The group's leader gives an unassigned ticket to a member."""
    ticket = ticket_get(number=number)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a member of the group.")
        return redirect("dispatch:leader", tenant_slug)
    try:
        ticket, note = leader_assign(
            ticket=ticket, leader=request.user, assignee_id=form.cleaned_data["assignee"]
        )
    except (ValidationError, TicketConflict) as error:
        messages.error(request, _errors(error))
    else:
        name = ticket.assignee.get_full_name() or ticket.assignee.username
        messages.success(request, f"{ticket.reference} went to {name}. {note}".strip())
    return redirect("dispatch:leader", tenant_slug)
