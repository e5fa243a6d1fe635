"""The weekly summary by mail: last week's figures, on Monday morning, to
the managers and admins who chose to get it (their notification
preferences, kind `WEEKLY_SUMMARY`).

A beat task fans out to the tenants whose mark (`helpdesk.TenantWork`, kind
`WORK_KIND`) is due; each tenant's sweep mails the members not yet mailed
this week and sets the mark to next Monday. A member is mailed once a week
however often the sweep runs: the mail and its `WeeklySummarySent` row
(unique per member and week) commit together.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Membership, NotificationPreference
from helpdesk.tenancy import current_tenant
from helpdesk.tenant_work import work_sweep_claim, work_sweep_next
from tickets.mail import outbound_to_member

from . import selectors
from .models import WeeklySummarySent

WORK_KIND = "reports_weekly"
WEEKLY_SUMMARY = "reports_weekly_summary"
# The summary goes out from this hour on Monday, the help desk's time.
SEND_HOUR = 7
ROLES = (Membership.Role.MANAGER, Membership.Role.ADMIN)


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def next_send_at(now: datetime, zone: ZoneInfo) -> datetime:
    """The next Monday at SEND_HOUR after `now`, in the help desk's time zone."""
    monday = week_start_of(now.astimezone(zone).date())
    at = datetime.combine(monday, time(SEND_HOUR), zone)
    return at if at > now else datetime.combine(monday + timedelta(days=7), time(SEND_HOUR), zone)


def subscribers() -> list[int]:
    """Managers and admins of the current tenant who chose the summary by mail."""
    tenant = current_tenant()
    managers = set(
        Membership.objects.filter(tenant=tenant, role__in=ROLES, user__is_active=True)
        .exclude(user__email="")
        .values_list("user_id", flat=True)
    )
    chosen = NotificationPreference.objects.filter(
        kind=WEEKLY_SUMMARY, mail=True, user_id__in=managers
    ).values_list("user_id", flat=True)
    return sorted(chosen)


def _claim(user_id: int, week_start: date, now: datetime) -> bool:
    """Insert the member's row for the week; False when it exists."""
    table = WeeklySummarySent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, user_id, week_start, sent_at)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, user_id, week_start) DO NOTHING RETURNING id",
            [current_tenant().pk, user_id, week_start, now],
        )
        return cursor.fetchone() is not None


def weekly_summaries_send(*, now: datetime | None = None) -> int:
    """Mail last week's summary to each subscriber of the current tenant not
    yet mailed it (recorded, sent after commit), and set the tenant's mark
    to next Monday. Returns how many mails were recorded."""
    if not work_sweep_claim(kind=WORK_KIND):
        return 0
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    now = now or timezone.now()
    local = now.astimezone(zone)
    this_monday = week_start_of(local.date())
    sent = 0
    if local.time() >= time(SEND_HOUR) or local.date() != this_monday:
        last_monday = this_monday - timedelta(days=7)
        users = subscribers()
        if users:
            sent = _send(users, last_monday, now)
    work_sweep_next(kind=WORK_KIND, at=next_send_at(now, zone))
    return sent


def _send(user_ids: list[int], week_start: date, now: datetime) -> int:
    tenant = current_tenant()
    week_end = week_start + timedelta(days=6)
    figures = selectors.dashboard(
        selectors.Filters(first_day=week_start, last_day=week_end), now=now
    )
    url = settings.SITE_URL + reverse("reports:dashboard", args=[tenant.slug]) + "?period=7"
    context = {
        "tenant": tenant,
        "figures": figures,
        "week_start": week_start,
        "week_end": week_end,
        "dashboard_url": url,
        "preferences_url": settings.SITE_URL
        + reverse("notification_preferences", args=[tenant.slug]),
    }
    subject = f"{tenant.name}: support in the week of {week_start:%-d %b} to {week_end:%-d %b %Y}"
    sent = 0
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        if not _claim(user.pk, week_start, now):
            continue  # mailed already this week
        context["user"] = user
        if outbound_to_member(
            user=user,
            subject=subject,
            body_text=render_to_string("reports/email/weekly.txt", context),
            body_html=render_to_string("reports/email/weekly.html", context),
        ):
            sent += 1
    return sent
