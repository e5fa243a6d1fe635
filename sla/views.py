"""SLA settings pages: thin views over sla.services.settings and sla.selectors."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required
from tickets.selectors import ticket_get

from .forms import CalendarForm, ClosureForm, PolicyForm, WhatIfForm
from .models import Calendar, CalendarClosure, Policy, Reapply
from .selectors import policies_ordered, sla_panel_body, what_if
from .services import settings as sla_settings_services

ADMIN = Membership.Role.ADMIN


@require_GET
@role_required(ADMIN)
def sla_settings(request, tenant_slug):
    """Calendars and policies of the tenant, in the order policies are tried,
    and the progress of the last reapply run (polled by htmx while it runs)."""
    reapply = Reapply.objects.order_by("-started_at").first()
    if request.htmx:
        return render(request, "sla/settings.html#reapply-status", {"reapply": reapply})
    return render(
        request,
        "sla/settings.html",
        {
            "calendars": list(Calendar.objects.all()),
            "policies": policies_ordered(),
            "reapply": reapply,
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def sla_calendar_edit(request, tenant_slug, calendar_id=None):
    """Make or change a calendar; its own holidays and closures below."""
    calendar = get_object_or_404(Calendar, pk=calendar_id) if calendar_id else None
    form = CalendarForm(request.POST or None, calendar=calendar)
    closure_form = ClosureForm(auto_id="closure_%s")
    if request.method == "POST" and form.is_valid():
        try:
            saved = sla_settings_services.sla_calendar_save(
                actor=request.user, calendar=calendar, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, f"Calendar {saved.name} saved.")
            return redirect("sla:calendar", tenant_slug, saved.pk)
    return _calendar_page(request, form, closure_form, calendar)


def _calendar_page(request, form, closure_form, calendar):
    closures = list(calendar.closures.all()) if calendar else []
    preset = []
    if calendar and calendar.holiday_country:
        from .clock import holiday_names

        year = timezone.localdate().year
        preset = sorted(
            holiday_names(
                calendar.holiday_country, calendar.holiday_subdivision, [year, year + 1]
            ).items()
        )
    return render(
        request,
        "sla/calendar.html",
        {
            "form": form,
            "closure_form": closure_form,
            "calendar": calendar,
            "closures": closures,
            "preset_holidays": preset,
        },
    )


@require_POST
@role_required(ADMIN)
def sla_closure_add(request, tenant_slug, calendar_id):
    """Add a date, range or partial-day closure to a calendar."""
    calendar = get_object_or_404(Calendar, pk=calendar_id)
    closure_form = ClosureForm(request.POST, auto_id="closure_%s")
    if closure_form.is_valid():
        sla_settings_services.sla_closure_add(
            actor=request.user, calendar=calendar, **closure_form.cleaned_data
        )
        messages.success(request, "Closure added; open tickets are being recomputed.")
        return redirect("sla:calendar", tenant_slug, calendar.pk)
    return _calendar_page(request, CalendarForm(calendar=calendar), closure_form, calendar)


@require_POST
@role_required(ADMIN)
def sla_closure_remove(request, tenant_slug, calendar_id, closure_id):
    closure = get_object_or_404(CalendarClosure, pk=closure_id, calendar_id=calendar_id)
    sla_settings_services.sla_closure_remove(actor=request.user, closure=closure)
    messages.success(request, "Closure removed.")
    return redirect("sla:calendar", tenant_slug, calendar_id)


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def sla_policy_edit(request, tenant_slug, policy_id=None):
    """Make or change a policy: conditions, targets per priority, pauses,
    at-risk share and escalation."""
    policy = get_object_or_404(Policy, pk=policy_id) if policy_id else None
    form = PolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            saved = sla_settings_services.sla_policy_save(
                actor=request.user,
                policy=policy,
                calendar_id=int(data.pop("calendar")),
                escalate_group_id=data.pop("escalate_group"),
                **data,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(
                request, f"Policy {saved.name} saved; open tickets are being recomputed."
            )
            return redirect("sla:settings", tenant_slug)
    return render(request, "sla/policy.html", {"form": form, "policy": policy})


@require_GET
@role_required(ADMIN)
def sla_what_if(request, tenant_slug):
    """A ticket created at this time with these fields: which policy, when
    each target is due, and the business windows and holidays between."""
    data = request.GET if "created_at" in request.GET else None
    initial = {"created_at": timezone.localtime().replace(second=0, microsecond=0, tzinfo=None)}
    form = WhatIfForm(data, initial=initial)
    answer = None
    if form.is_valid():
        created = form.cleaned_data["created_at"]
        if isinstance(created, datetime) and timezone.is_naive(created):
            created = timezone.make_aware(created)
        answer = what_if(
            created_at=created, **{k: v for k, v in form.cleaned_data.items() if k != "created_at"}
        )
    return render(
        request, "sla/what_if.html", {"form": form, "answer": answer, "day": timedelta(days=1)}
    )


@require_GET
def sla_ticket_panel(request, tenant_slug, number):
    """The body of the ticket page's SLA panel: each target, its due time in
    the tenant's time zone and how it was counted. Agents and up."""
    ticket = ticket_get(number=number)
    context = {"ticket": ticket, **sla_panel_body(ticket)}
    if request.htmx:
        return render(request, "sla/panel_body.html", context)
    return render(request, "sla/ticket_panel_page.html", context)
