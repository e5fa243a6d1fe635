"""The manager's dashboard and the tickets behind its numbers."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from helpdesk.models import Membership
from helpdesk.parsing import parse_id
from helpdesk.permissions import role_required
from tickets.views.common import tenant_choices

from . import charts, selectors
from .forms import PERIODS, ReportFilterForm

# The facts' conditions behind each number of the dashboard.
METRICS = {
    "new": ("Tickets created", "created_at", ""),
    "solved": ("Tickets solved", "resolved_at", ""),
    "reopened": ("Solved tickets that had been reopened", "resolved_at", "reopens > 0"),
    "replied": ("Tickets that got their first reply", "first_reply_at", ""),
    "backlog": ("Open tickets", None, "status IN ('new', 'open', 'pending', 'on_hold')"),
    "unassigned": (
        "Open tickets nobody has",
        None,
        "status IN ('new', 'open', 'pending', 'on_hold') AND assignee_id IS NULL",
    ),
}


def _filters(request) -> tuple[ReportFilterForm, selectors.Filters, str]:
    form = ReportFilterForm(
        request.GET,
        tenant=request.tenant,
        choices=None if request.htmx else tenant_choices(request),
    )
    data = form.cleaned_data if form.is_valid() else {}
    period = data.get("period") or "30"
    now = timezone.now()
    days = PERIODS[period][1]
    if days == 0:
        start = datetime.combine(timezone.localdate(now), time(), timezone.get_current_timezone())
    else:
        start = now - timedelta(days=days)
    group, assignee, category = data.get("group"), data.get("assignee"), data.get("category")
    filters = selectors.Filters(
        start=start,
        end=now,
        group_id=group.pk if group else None,
        assignee_id=assignee.pk if assignee else None,
        channel=data.get("channel") or None,
        category_id=category.pk if category else None,
        priority=data.get("priority"),
    )
    return form, filters, period


def _query(request, **changes) -> str:
    params = {key: value for key, value in request.GET.items() if key in _KEPT}
    params.update(changes)
    return urlencode({key: value for key, value in params.items() if value not in ("", None)})


_KEPT = ("period", "group", "assignee", "channel", "category", "priority")


@require_GET
@role_required(Membership.Role.MANAGER)
def dashboard(request, tenant_slug):
    """The state of support: the period's figures, the open backlog and the
    trend; the figures alone when htmx refreshes them."""
    form, filters, period = _filters(request)
    figures = selectors.dashboard(filters)
    today = timezone.localdate()
    span = 90 if period == "90" else 30
    days = selectors.trend(filters, first_day=today - timedelta(days=span - 1), last_day=today)
    context = {
        "form": form,
        "figures": figures,
        "period_label": PERIODS[period][0],
        "trend": days,
        "trend_span": span,
        "chart": charts.volume_chart(days),
        "query": _query(request),
        "refresh_seconds": 60,
    }
    template = "reports/dashboard.html#figures" if request.htmx else "reports/dashboard.html"
    return render(request, template, context)


@require_GET
@role_required(Membership.Role.MANAGER)
def ticket_list(request, tenant_slug, metric):
    """The tickets behind one of the dashboard's numbers, newest first, 50 a
    page (keyset on the ticket id)."""
    from django.http import Http404

    if metric not in METRICS:
        raise Http404("No such figure.")
    _, filters, period = _filters(request)
    title, period_column, condition = METRICS[metric]
    before = parse_id(request.GET.get("before", ""))
    rows, next_before = selectors.fact_tickets(
        filters, period_column=period_column, condition=condition, before=before
    )
    context = {
        "title": title,
        "period_label": PERIODS[period][0] if period_column else "now",
        "rows": rows,
        "next_query": _query(request, before=next_before) if next_before else None,
        "back_query": _query(request),
    }
    return render(request, "reports/ticket_list.html", context)
