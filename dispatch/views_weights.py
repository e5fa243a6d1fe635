"""The routing settings' weights page: each ticket's weight by priority and
channel, what waiting tickets count, idle minutes and business hours."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from helpdesk.models import Membership
from helpdesk.permissions import role_required
from tickets.models import Ticket

from . import selectors, services
from .forms import WeightsForm

PRIORITIES = sorted(Ticket.Priority.choices, reverse=True)
CHANNELS = list(Ticket.Channel.choices)


def _initial(config) -> dict:
    table = selectors.weights(config)
    initial = {
        "waiting_fraction": config.waiting_fraction,
        "away_after_minutes": config.away_after_minutes,
        "business_days": list(config.business_days or []),
        "business_start": config.business_start,
        "business_end": config.business_end,
    }
    for value, _ in PRIORITIES:
        initial[f"w_{value}"] = table.get(str(value), Decimal(1)).normalize()
        for channel, _ in CHANNELS:
            own = table.get(f"{value}:{channel}")
            initial[f"w_{value}_{channel}"] = own.normalize() if own is not None else None
    return initial


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def weights_edit(request, tenant_slug):
    """Admins set the weight table (priority by channel) and business hours."""
    config = selectors.dispatch_settings()
    form = WeightsForm(
        request.POST or None, initial=_initial(config), priorities=PRIORITIES, channels=CHANNELS
    )
    if request.method == "POST":
        unknown = sorted(set(request.POST) - set(form.fields) - {"csrfmiddlewaretoken"})
        if unknown:
            form.add_error(None, f"Unknown fields: {', '.join(u[:40] for u in unknown[:5])}.")
        elif form.is_valid():
            data = form.cleaned_data
            base, by_channel = form.tables()
            try:
                services.dispatch_settings_save(
                    actor=request.user, priority_weights=base, channel_weights=by_channel,
                    waiting_fraction=data["waiting_fraction"],
                    away_after_minutes=data["away_after_minutes"],
                    business_days=data["business_days"], business_start=data["business_start"],
                    business_end=data["business_end"],
                )  # fmt: skip
            except ValidationError as error:
                for text in error.messages:
                    form.add_error(None, text)
            else:
                messages.success(request, "Saved the weights and business hours.")
                return redirect("dispatch:weights", tenant_slug)
    rows = [
        {
            "label": label,
            "base": form[f"w_{value}"],
            "cells": [form[f"w_{value}_{channel}"] for channel, _ in CHANNELS],
        }
        for value, label in PRIORITIES
    ]
    return render(
        request,
        "dispatch/weights.html",
        {"form": form, "rows": rows, "channels": CHANNELS},
    )
