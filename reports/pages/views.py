"""The report pages: efficiency, quality, root causes, load, stalls and
channels. Each reads one selector, shows its tables with the numbers linked
to the tickets behind them where the dashboard's ticket list can narrow to
them, and exports its main table as CSV (`?format=csv`), streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime, time
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from helpdesk.models import Membership
from helpdesk.permissions import role_required
from helpdesk.tenancy import tenant_context
from tickets.views.common import tenant_choices

from ..selectors import period_days
from . import selectors
from .forms import DEFAULT_PERIOD, FILTER_NAMES, PERIODS, PageFilterForm
from .labels import Labels

# The report pages in the order the sub-navigation lists them.
PAGES = (
    ("efficiency", "Efficiency"),
    ("quality", "Quality"),
    ("causes", "Root causes"),
    ("load", "Load"),
    ("stalls", "Where tickets stall"),
    ("channels", "Channels and hours"),
)
# Rows read per statement while a long CSV export streams.
CSV_PAGE = 2000
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class _Page:
    """What one request to a report page knows: its filters, their query
    string, the names of the ids it shows and links to the tickets behind
    a number."""

    def __init__(self, request, name: str, only=FILTER_NAMES):
        self.request, self.name = request, name
        query = request.GET.copy()
        if query.get("period") not in PERIODS:
            query["period"] = DEFAULT_PERIOD
        choices = tenant_choices(request)
        self.form = PageFilterForm(query, choices=choices, only=only)
        # A filter that is not valid (a group since archived) is left out
        # and named by the form; the valid ones still narrow the page.
        self.form.is_valid()
        data = self.form.cleaned_data
        self.period = data.get("period") or DEFAULT_PERIOD
        # Whole days in the help desk's time zone, today the last, as on the
        # dashboard, so a number and the list of tickets behind it agree.
        now = timezone.now()
        zone = ZoneInfo(request.tenant.time_zone)
        first_day, _ = period_days(PERIODS[self.period][1], zone, now=now)
        self.filters = selectors.Filters(
            start=datetime.combine(first_day, time(), zone),
            end=now,
            group_id=data.get("group"),
            assignee_id=data.get("assignee"),
            channel=data.get("channel") or None,
            category_id=data.get("category"),
        )
        # The valid filters only, as the query string every link carries.
        self.kept = {"period": self.period}
        for name in ("group", "assignee", "channel", "category"):
            if data.get(name):
                self.kept[name] = data[name]
        self.labels = Labels(choices)

    def query(self, **changes) -> str:
        params = {**self.kept, **changes}
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def tickets(self, metric: str, **changes) -> str | None:
        """The dashboard's list of the tickets behind a number; None for a
        row of tickets without a group, agent or category (that list cannot
        narrow to "none")."""
        if any(value is None for value in changes.values()):
            return None
        slug = self.request.tenant.slug
        return f"{reverse('reports:tickets', args=[slug, metric])}?{self.query(**changes)}"

    def render(self, template: str, **context):
        context.update(
            form=self.form,
            page_name=self.name,
            period_label=PERIODS[self.period][0],
            query=self.query(),
            csv_query=self.query(format="csv"),
        )
        return render(self.request, template, context)

    def csv(self, filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
        return _stream(self.request.tenant, filename, header, rows)


class _Echo:
    """A file-like object csv.writer writes a row to and gets it back."""

    def write(self, value):
        return value


def csv_cell(value) -> str:
    """A value as a spreadsheet takes it as text: a leading =, +, - or @
    would make it a formula. Numbers stay numbers (a fall of -3)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _stream(
    tenant, filename: str, header: list[str], rows: Iterable[list]
) -> StreamingHttpResponse:
    """`rows` as CSV, one row at a time. The response streams after the
    view has returned (and left the tenant's context): rows that read the
    database as they go (`_paged`) enter it again for each page."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _paged(tenant, read_page) -> Iterator:
    """Every row of `read_page(before=...)` (a page and the key to go on
    from), each page read in the tenant's context and transaction of its
    own, so a long download holds neither a transaction nor all rows."""
    before = None
    while True:
        with tenant_context(tenant):
            page, before = read_page(before=before)
        yield from page
        if before is None:
            return


def _seconds(value) -> str:
    return "" if value is None else str(round(value))


# Efficiency -----------------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def efficiency(request, tenant_slug):
    """Per agent and per group: tickets handled, replies, first reply and
    resolution times, time from assignment to first reply, SLA targets met."""
    page = _Page(request, "efficiency")
    report = selectors.efficiency(page.filters)
    page.labels.fill(agents=[r.key for r in report.agents], groups=[r.key for r in report.groups])
    agents = [(page.labels.agent(r.key), r, {"assignee": r.key}) for r in report.agents]
    groups = [(page.labels.group(r.key), r, {"group": r.key}) for r in report.groups]
    if request.GET.get("format") == "csv":
        rows = [("Agent", *row) for row in agents] + [("Group", *row) for row in groups]
        return page.csv(
            "efficiency",
            ["Level", "Name", "Handled", "Reopened", "Public replies", "First replies",
             "First reply median (s)", "First reply p90 (s)", "Assignment to reply median (s)",
             "Assignment to reply p90 (s)", "Resolution median (s)", "Resolution p90 (s)",
             "SLA targets met", "SLA targets missed"],
            ([level, name, r.handled, r.reopened, r.replies, r.first_replies,
              _seconds(r.first_reply_median), _seconds(r.first_reply_p90),
              _seconds(r.assign_to_reply_median), _seconds(r.assign_to_reply_p90),
              _seconds(r.resolution_median), _seconds(r.resolution_p90), r.sla_met, r.sla_missed]
             for level, name, r, _ in rows),
        )  # fmt: skip

    def linked(rows):
        return [
            {
                "name": name,
                "row": r,
                "solved_url": page.tickets("solved", **link),
                "replied_url": page.tickets("replied", **link),
            }
            for name, r, link in rows
        ]

    return page.render(
        "reports/pages/efficiency.html",
        title="Efficiency",
        total=report.total,
        solved_url=page.tickets("solved"),
        agents=linked(agents),
        groups=linked(groups),
    )


# Quality --------------------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def quality(request, tenant_slug):
    """Reopen rate, satisfaction over time and the comments behind it, the
    worst-rated categories."""
    page = _Page(request, "quality")
    if request.GET.get("format") == "csv":
        return page.csv(
            "ratings",
            ["Ticket", "Subject", "Rated", "Good", "Score", "Scale", "Comment"],
            (
                [f"{request.tenant.ticket_prefix}-{r.number}", r.subject,
                 r.created_at.isoformat(), "yes" if r.is_good else "no", r.score, r.scale, r.comment]
                for r in _paged(
                    request.tenant,
                    lambda before: selectors.ratings_page(
                        page.filters, before=before, limit=CSV_PAGE
                    ),
                )
            ),
        )  # fmt: skip
    step = "day" if page.period == "7" else "week"
    report = selectors.quality(page.filters, step=step)
    page.labels.fill(
        groups=[g for g, *_ in report.reopened_by_group],
        categories=[c.category_id for c in report.categories],
    )
    return page.render(
        "reports/pages/quality.html",
        title="Quality",
        report=report,
        step=step,
        reopened_url=page.tickets("reopened"),
        solved_url=page.tickets("solved"),
        groups=[
            {
                "name": page.labels.group(group),
                "solved": solved,
                "reopened": reopened,
                "share": reopened / solved if solved else None,
                "url": page.tickets("reopened", group=group),
            }
            for group, solved, reopened in report.reopened_by_group
        ],
        categories=[(page.labels.category(c.category_id), c) for c in report.categories],
    )


# Root causes ----------------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def causes(request, tenant_slug):
    """Top categories and tags of the period, and which grew or fell most
    against the period before."""
    page = _Page(request, "causes")
    report = selectors.causes(page.filters)
    page.labels.fill(categories=[c.key for c in report.categories])

    def category(c):
        return {
            "name": page.labels.category(c.key),
            "change": c,
            "url": page.tickets("new", category=c.key),
        }

    def tag(c):
        return {"name": c.key, "change": c, "url": None}

    if request.GET.get("format") == "csv":
        rows = [("Category", category(c)) for c in report.categories]
        rows += [("Tag", tag(c)) for c in report.tags]
        return page.csv(
            "root-causes",
            ["Kind", "Name", "Tickets", "Previous period", "Change"],
            ([kind, r["name"], r["change"].now, r["change"].before, r["change"].change]
             for kind, r in rows),
        )  # fmt: skip
    return page.render(
        "reports/pages/causes.html",
        title="Root causes",
        categories=[category(c) for c in report.categories[:15]],
        tags=[tag(c) for c in report.tags[:15]],
        category_moves=[
            ("Grew most", [category(c) for c in report.grew(report.categories)]),
            ("Fell most", [category(c) for c in report.fell(report.categories)]),
        ],
        tag_moves=[
            ("Grew most", [tag(c) for c in report.grew(report.tags)]),
            ("Fell most", [tag(c) for c in report.fell(report.tags)]),
        ],
    )


# Load -----------------------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def load(request, tenant_slug):
    """Open tickets and weighted load per agent against capacity, now and
    per day of the period (the daily snapshots)."""
    page = _Page(request, "load")
    now = selectors.agent_loads(page.filters)
    if page.filters.assignee_id is not None:
        now = [a for a in now if a.user_id == page.filters.assignee_id]
    history = selectors.load_history(page.filters)
    page.labels.fill(agents=[a.user_id for a in now])
    agents = [
        {
            "name": page.labels.agent(a.user_id),
            "load": a,
            "meter_max": max(a.capacity, float(a.load), 1),
            "url": page.tickets("backlog", assignee=a.user_id),
        }
        for a in now
    ]
    if request.GET.get("format") == "csv":
        return page.csv(
            "load",
            ["Agent", "Availability", "Open tickets", "Waiting", "Weighted load", "Capacity"],
            ([r["name"], r["load"].availability, r["load"].open_tickets, r["load"].waiting,
              r["load"].load, r["load"].capacity] for r in agents),
        )  # fmt: skip
    return page.render(
        "reports/pages/load.html",
        title="Load",
        agents=agents,
        history=history,
        over=sum(1 for a in now if a.load > a.capacity),
    )


# Stalls ---------------------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def stalls(request, tenant_slug):
    """Time spent in each status and group, hand-offs between groups, and the
    tickets that bounced between groups more than twice."""
    page = _Page(request, "stalls")
    report = selectors.stalls(page.filters)
    page.labels.fill(
        groups=[d.value for d in report.groups]
        + [h.from_group for h in report.handoffs]
        + [h.to_group for h in report.handoffs]
    )
    statuses = [(page.labels.status(d.value), d) for d in report.statuses]
    groups = [(page.labels.group(d.value), d) for d in report.groups]
    if request.GET.get("format") == "csv":
        return page.csv(
            "stalls",
            ["Kind", "Name", "Spells ended", "Median (s)", "p90 (s)", "Total (s)", "Open tickets there now",
             "Median time there now (s)"],
            ([d.kind, name, d.spells, _seconds(d.median), _seconds(d.p90), d.total, d.now,
              _seconds(d.now_median_age)] for name, d in statuses + groups),
        )  # fmt: skip
    return page.render(
        "reports/pages/stalls.html",
        title="Where tickets stall",
        statuses=statuses,
        groups=groups,
        handoffs=[
            (page.labels.group(h.from_group), page.labels.group(h.to_group), h.count)
            for h in report.handoffs
        ],
        handoff_total=report.handoff_total,
        bouncers=[
            {
                "ticket": b,
                "url": reverse("tickets:detail", args=[request.tenant.slug, b.number]),
                "group": page.labels.group(b.group_id),
            }
            for b in report.bouncers
        ],
        bounces=selectors.BOUNCES,
    )


# Channels and hours ---------------------------------------------------------


@require_GET
@role_required(Membership.Role.MANAGER)
def channels(request, tenant_slug):
    """The channel mix against the period before, and the busiest hours of
    the week as a table of numbers shaded by how busy."""
    page = _Page(request, "channels", only=("period", "group", "assignee", "category"))
    report = selectors.channels(page.filters)
    total = report.total
    mix = [
        {
            "name": page.labels.channel(c.key),
            "change": c,
            "share": c.now / total if total else None,
            "url": page.tickets("new", channel=c.key),
        }
        for c in report.channels
    ]
    if request.GET.get("format") == "csv":
        rows = [["Channel", r["name"], "", r["change"].now, r["change"].before] for r in mix]
        rows += [
            ["Hour", WEEKDAYS[day], f"{hour:02}:00", n, ""]
            for day, hours in enumerate(report.heatmap)
            for hour, n in enumerate(hours)
        ]
        return page.csv(
            "channels", ["Kind", "Name or weekday", "Hour", "Tickets", "Previous period"], rows
        )
    busiest = report.busiest
    heatmap = [
        (
            WEEKDAYS[day],
            [(f"{hour:02}", n, _heat(n, busiest)) for hour, n in enumerate(hours)],
            sum(hours),
        )
        for day, hours in enumerate(report.heatmap)
    ]
    # The busiest hours first (earlier in the week first among equals).
    ranked = sorted(
        (
            (n, day, hour)
            for day, hours in enumerate(report.heatmap)
            for hour, n in enumerate(hours)
        ),
        key=lambda cell: (-cell[0], cell[1], cell[2]),
    )
    busiest_hours = [
        {
            "day": WEEKDAYS[day],
            "hour": f"{hour:02}:00",
            "until": f"{(hour + 1) % 24:02}:00",
            "count": n,
        }
        for n, day, hour in ranked[:5]
        if n
    ]
    return page.render(
        "reports/pages/channels.html",
        title="Channels and hours",
        mix=mix,
        total=total,
        heatmap=heatmap,
        hours=[f"{hour:02}" for hour in range(24)],
        busiest_hours=busiest_hours,
    )


def _heat(n: int, busiest: int) -> int:
    """How busy an hour is, 0 (none) to 4 (near the busiest): the cell's shade."""
    if not n or not busiest:
        return 0
    return min(4, 1 + int(4 * n / (busiest + 1)))
