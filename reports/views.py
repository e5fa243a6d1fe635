"""The manager's dashboard and the tickets behind its numbers."""

from __future__ import annotations

import csv
from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from helpdesk.models import Membership
from helpdesk.parsing import parse_id
from helpdesk.permissions import role_required
from helpdesk.tenancy import tenant_context
from tickets.views.common import tenant_choices

from . import charts, selectors
from .forms import PERIODS, ReportFilterForm

# Rows read per statement while a CSV export streams.
CSV_PAGE = 2000

# The facts' conditions behind each number of the dashboard.
METRICS = {
    "new": ("Tickets created", "created_at", ""),
    "assigned": ("Tickets created and assigned", "created_at", "first_assigned_at IS NOT NULL"),
    "routed": ("Tickets assigned by routing", "created_at", "assigned_by_system"),
    "solved": ("Tickets solved", "resolved_at", ""),
    "solved-business": (
        "Tickets solved under a business-hours SLA",
        "resolved_at",
        "resolution_business_seconds IS NOT NULL",
    ),
    "reopened": ("Solved tickets that had been reopened", "resolved_at", "reopens > 0"),
    "replied": ("Tickets that got their first reply", "first_reply_at", ""),
    "replied-business": (
        "Tickets first replied to under a business-hours SLA",
        "first_reply_at",
        "first_reply_business_seconds IS NOT NULL",
    ),
    "sla-first-response-met": (
        "First response target met",
        "sla_first_response_at",
        "sla_first_response = 'met'",
    ),
    "sla-first-response-breached": (
        "First response target breached",
        "sla_first_response_at",
        "sla_first_response = 'breached'",
    ),
    "sla-resolution-met": (
        "Resolution target met",
        "sla_resolution_at",
        "sla_resolution = 'met'",
    ),
    "sla-resolution-breached": (
        "Resolution target breached",
        "sla_resolution_at",
        "sla_resolution = 'breached'",
    ),
    "rated": ("Tickets rated by the customer", "rated_at", ""),
    "rated-good": ("Tickets rated good", "rated_at", "rating_good"),
    "backlog": ("Open tickets", None, "status IN ('new', 'open', 'pending', 'on_hold')"),
    "unassigned": (
        "Open tickets nobody has",
        None,
        "status IN ('new', 'open', 'pending', 'on_hold') AND assignee_id IS NULL",
    ),
}


def _filters(request, *, form_shown: bool) -> tuple[ReportFilterForm, selectors.Filters, str]:
    query = request.GET.copy()
    if not query.get("period"):
        query["period"] = "30"
    form = ReportFilterForm(
        query,
        tenant=request.tenant,
        # Lists to choose from only where the form is drawn.
        choices=tenant_choices(request) if form_shown else None,
    )
    # A filter that is not one of the choices is left out (and said, where
    # the form is drawn); the others still narrow the figures.
    form.is_valid()
    data = form.cleaned_data
    period = data.get("period") or "30"
    # Whole days: the rollups are kept by day, and the tickets behind a
    # number are the same days'.
    first_day, today = selectors.period_days(PERIODS[period][1], ZoneInfo(request.tenant.time_zone))
    filters = selectors.Filters(
        first_day=first_day,
        last_day=today,
        organization_id=data.get("organization"),
        group_id=data.get("group"),
        assignee_id=data.get("assignee"),
        channel=data.get("channel") or None,
        category_id=data.get("category"),
        priority=data.get("priority"),
    )
    return form, filters, period


def _query(request, form, **changes) -> str:
    """The filters the figures were narrowed by, for links and refreshes:
    one left out as not a choice stays out."""
    kept = form.cleaned_data
    params = {
        key: value
        for key, value in request.GET.items()
        if key in _KEPT and kept.get(key) not in ("", None)
    }
    params.update(changes)
    return urlencode({key: value for key, value in params.items() if value not in ("", None)})


_KEPT = ("period", "group", "assignee", "channel", "category", "priority", "organization")


@require_GET
@role_required(Membership.Role.MANAGER)
def dashboard(request, tenant_slug):
    """The state of support: the period's figures, the open backlog and the
    trend; the figures alone when htmx refreshes them."""
    form, filters, period = _filters(request, form_shown=not request.htmx)
    span = 90 if period == "90" else 30
    figures = selectors.dashboard(filters, trend_first=filters.last_day - timedelta(days=span - 1))
    days = figures.trend
    context = {
        "form": form,
        "figures": figures,
        "period_label": PERIODS[period][0],
        "trend": days,
        "trend_span": span,
        "chart_svg": charts.volume_svg(charts.volume_chart(days), labelled_by="trend-heading"),
        "trend_rows": charts.table_rows(days),
        "query": _query(request, form),
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
    form, filters, period = _filters(request, form_shown=False)
    title, period_column, condition = METRICS[metric]
    if request.GET.get("format") == "csv":
        return _csv(request, filters, metric, period_column, condition)
    before = parse_id(request.GET.get("before", ""))
    rows, next_before = selectors.fact_tickets(
        filters, period_column=period_column, condition=condition, before=before
    )
    context = {
        "title": title,
        "period_label": PERIODS[period][0] if period_column else "now",
        "rows": rows,
        "next_query": _query(request, form, before=next_before) if next_before else None,
        "back_query": _query(request, form),
        "csv_query": _query(request, form, format="csv"),
    }
    return render(request, "reports/ticket_list.html", context)


class _Echo:
    """A file-like object csv.writer writes a row to and gets it back."""

    def write(self, value):
        return value


def _cell(value) -> str:
    """A value as a spreadsheet takes it as text: a leading =, +, - or @
    would make it a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(request, filters, metric, period_column, condition) -> StreamingHttpResponse:
    """Every ticket behind the figure as CSV, streamed a page at a time:
    a million rows never sit in memory."""
    tenant = request.tenant
    prefix = tenant.ticket_prefix
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["Ticket", "Subject", "Status", "Created"])
        before = None
        while True:
            # The response streams after the view has returned (and left the
            # tenant's context): each page enters it again.
            with tenant_context(tenant):
                page, before = selectors.fact_tickets(
                    filters,
                    period_column=period_column,
                    condition=condition,
                    before=before,
                    limit=CSV_PAGE,
                )
            for row in page:
                yield writer.writerow(
                    [
                        f"{prefix}-{row.number}",
                        _cell(row.subject),
                        row.status,
                        row.created_at.isoformat(),
                    ]
                )
            if before is None:
                return

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{metric}.csv"'
    return response
