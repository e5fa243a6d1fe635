"""Admins edit calendars and policies at /<tenant>/settings/sla/: bad input
is explained and loses nothing; edits are audited and reapplied to open
tickets; the what-if page answers the worked example."""

from datetime import timedelta

import pytest
from django.urls import reverse

from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from sla.models import Calendar, CalendarClosure, Policy, Reapply, TargetKind, TicketTarget
from sla.services.settings import sla_reapply_run
from tests.factories import TicketFactory

from .conftest import BUSINESS_HOURS, make_policy

WEEK = {f"day_{i}": "09:00-12:00, 13:00-17:00" for i in range(5)}


def _calendar_post(**changes):
    return {
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "holiday_country": "DE",
        "holiday_subdivision": "BE",
        **WEEK,
        **changes,
    }


def test_a_calendar_with_bad_windows_is_refused_with_the_reason_and_the_input_kept(
    tenant, admin_user, login
):
    client = login(admin_user)
    url = reverse("sla:calendar_new", args=[tenant.slug])
    for windows, reason in (
        ("10:00-09:00", "ends before it starts"),
        ("09:00-12:00, 11:00-13:00", "windows overlap"),
        ("09:00-09:00", "ends where it starts"),
        ("nine to five", "write windows as"),
    ):
        response = client.post(url, _calendar_post(day_0=windows))
        assert response.status_code == 200
        assert reason in response.content.decode()
        assert windows in response.content.decode()  # nothing lost
    response = client.post(url, _calendar_post(holiday_country="XX"))
    assert "not a country" in response.content.decode()
    with tenant_context(tenant):
        assert not Calendar.objects.exists()


def test_a_calendar_is_saved_with_nights_over_midnight_and_audited(tenant, admin_user, login):
    client = login(admin_user)
    response = client.post(
        reverse("sla:calendar_new", args=[tenant.slug]), _calendar_post(day_5="22:00-06:00")
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        calendar = Calendar.objects.get()
        assert calendar.hours["5"] == [["22:00", "06:00"]]
        assert calendar.hours["0"] == [["09:00", "12:00"], ["13:00", "17:00"]]
        assert AuditEntry.objects.filter(action="sla.calendar_created").exists()
    page = client.get(response["Location"]).content.decode()
    assert "German Unity Day" in page  # the preset's holidays are listed


def test_a_closure_needs_both_times_or_none(tenant, admin_user, login):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="Office", hours=BUSINESS_HOURS)
    client = login(admin_user)
    url = reverse("sla:closure_add", args=[tenant.slug, calendar.pk])
    response = client.post(
        url, {"name": "Party", "first_date": "2026-12-24", "start_time": "12:00"}
    )
    assert "Give both times" in response.content.decode()
    response = client.post(
        url,
        {"name": "Party", "first_date": "2026-12-24", "start_time": "12:00", "end_time": "17:00"},
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        closure = CalendarClosure.objects.get()
        assert closure.last_date == closure.first_date


def _policy_post(calendar, **changes):
    data = {
        "name": "Standard",
        "position": "10",
        "active": "on",
        "calendar": str(calendar.pk),
        "pause_statuses": ["pending", "on_hold"],
        "at_risk_percent": "80",
        "business_first_response": "on",
        "business_resolution": "on",
        **{f"target_{p}_first_response": "4h" for p in range(1, 5)},
        **{f"target_{p}_resolution": "2d" for p in range(1, 5)},
    }
    data.update(changes)
    return data


def test_a_policy_with_a_zero_target_or_that_can_never_match_is_refused(tenant, admin_user, login):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="Office", hours=BUSINESS_HOURS)
    client = login(admin_user)
    url = reverse("sla:policy_new", args=[tenant.slug])
    response = client.post(url, _policy_post(calendar, target_1_first_response="0h"))
    assert "A target of 0 can never be met" in response.content.decode()
    only_urgent = {f"target_{p}_{k}": "" for p in range(1, 4) for k in TargetKind.values}
    response = client.post(
        url,
        _policy_post(
            calendar,
            priorities=["4"],
            **{
                **only_urgent,
                "target_4_first_response": "",
                "target_4_resolution": "",
                "target_1_first_response": "1h",
            },
        ),
    )
    assert "can never set a deadline" in response.content.decode()
    with tenant_context(tenant):
        assert not Policy.objects.exists()


def test_a_saved_policy_reapplies_to_open_tickets_and_breaches_stay(
    tenant, admin_user, login, django_capture_on_commit_callbacks
):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
        policy = make_policy(calendar, hours=(1, 2, 8))
        ticket = TicketFactory()
        from sla.services.timers import sla_recompute

        sla_recompute(ticket=ticket, now=ticket.created_at + timedelta(hours=2))
        assert TicketTarget.objects.get(ticket=ticket, kind="first_response").state == "breached"
    client = login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("sla:policy", args=[tenant.slug, policy.pk]),
            _policy_post(calendar, **{f"target_{p}_first_response": "5h" for p in range(1, 5)}),
        )
    assert response.status_code == 302
    with tenant_context(tenant):
        run = Reapply.objects.get()
        assert run.total == 1
        sla_reapply_run(reapply_id=run.pk)
        run.refresh_from_db()
        assert run.done == 1 and run.finished_at
        first = TicketTarget.objects.get(ticket=ticket, kind="first_response")
        assert first.target_seconds == 5 * 3600
        assert first.state == "breached"  # breached stays breached
    page = client.get(reverse("sla:settings", args=[tenant.slug])).content.decode()
    assert "Last recompute: 1 open tickets" in page


def test_what_if_lays_out_the_worked_example(tenant, admin_user, login):
    tenant.time_zone = "Europe/Berlin"
    tenant.save()
    with tenant_context(tenant):
        calendar = Calendar.objects.create(
            tenant=tenant,
            name="Berlin",
            time_zone="Europe/Berlin",
            hours=BUSINESS_HOURS,
            holiday_country="DE",
        )
        make_policy(calendar, name="Office hours", hours=(4, 2, 16))
    client = login(admin_user)
    response = client.get(
        reverse("sla:what_if", args=[tenant.slug]),
        {"created_at": "2026-05-22T16:30", "priority": "2", "channel": "email", "type": "question"},
    )
    page = response.content.decode()
    assert "Office hours" in page
    assert "Tue 26 May 2026, 13:30" in page  # first response, over Whit Monday
    assert "Pentecost Monday" in page
    assert "09:00–12:00, 13:00–17:00" in page


def test_a_running_reapply_shows_its_progress_and_polls(tenant, admin_user, login):
    from django.utils import timezone

    with tenant_context(tenant):
        Reapply.objects.create(
            tenant=tenant, started_at=timezone.now(), total=40, done=15, reason="Calendar X changed"
        )
    client = login(admin_user)
    url = reverse("sla:settings", args=[tenant.slug])
    page = client.get(url).content.decode()
    assert "15 of 40 done" in page and 'hx-trigger="every 3s"' in page
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "15 of 40 done" in fragment and "<html" not in fragment


def test_a_policy_sets_its_no_activity_reminder(tenant, admin_user, login):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="Office", hours=BUSINESS_HOURS)
    client = login(admin_user)
    url = reverse("sla:policy_new", args=[tenant.slug])
    refused = client.post(url, _policy_post(calendar, remind_after_hours="0"))
    assert "greater than or equal to 1" in refused.content.decode()
    assert client.post(url, _policy_post(calendar, remind_after_hours="6")).status_code == 302
    with tenant_context(tenant):
        assert Policy.objects.get().remind_after_hours == 6
    page = client.get(reverse("sla:settings", args=[tenant.slug])).content.decode()
    assert "after 6 h" in page


@pytest.mark.parametrize(
    ("first", "last", "refused"),
    [
        ("2026-12-01", "2062-12-01", True),  # a mistyped year
        ("0001-01-01", "9999-12-31", True),
        ("2026-01-01", "2027-01-02", True),  # 367 days
        ("2026-01-01", "2026-12-31", False),  # a whole year is still one closure
        ("2026-12-24", "2026-12-26", False),
    ],
)
def test_a_closure_longer_than_a_year_is_refused_with_the_reason(
    tenant, admin_user, login, first, last, refused
):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="Office", hours=BUSINESS_HOURS)
    client = login(admin_user)
    url = reverse("sla:closure_add", args=[tenant.slug, calendar.pk])
    response = client.post(url, {"name": "Closed", "first_date": first, "last_date": last})
    assert ("A closure lasts at most 366 days" in response.content.decode()) is refused
    with tenant_context(tenant):
        assert CalendarClosure.objects.exists() is not refused
