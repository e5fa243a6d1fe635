"""The weekly summary mail: to the managers who asked for it, once a week."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from helpdesk.models import Membership, NotificationPreference, TenantWork
from helpdesk.tenancy import tenant_context
from reports.services import fact_refresh
from reports.weekly import WEEKLY_SUMMARY, WORK_KIND, weekly_summaries_send
from tests.factories import TicketFactory, UserFactory
from tickets.models import OutboundEmail

# Monday 7 December 2026, 08:30 in Berlin (the tenant's time zone).
MONDAY = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)


def _member(tenant, role, *, wants: bool | None):
    user = UserFactory(email=f"{role}-{wants}@example.com")
    Membership.objects.create(tenant=tenant, user=user, role=role)
    if wants is not None:
        with tenant_context(tenant):
            NotificationPreference.objects.create(
                tenant=tenant, user=user, kind=WEEKLY_SUMMARY, in_app=False, mail=wants
            )
    return user


@pytest.fixture
def members(tenant):
    return {
        "manager": _member(tenant, Membership.Role.MANAGER, wants=True),
        "admin": _member(tenant, Membership.Role.ADMIN, wants=True),
        "quiet manager": _member(tenant, Membership.Role.MANAGER, wants=False),
        "undecided manager": _member(tenant, Membership.Role.MANAGER, wants=None),
        "agent": _member(tenant, Membership.Role.AGENT, wants=True),
    }


def _sweep(tenant, now):
    with mock.patch("django.utils.timezone.now", lambda: now), tenant_context(tenant):
        return weekly_summaries_send(now=now)


def test_managers_who_asked_get_last_weeks_figures_once(tenant, members):
    TenantWork.objects.create(tenant=tenant, kind=WORK_KIND, due_at=MONDAY)
    with tenant_context(tenant):
        # Two tickets last week (Tuesday and Sunday), one this Monday.
        for moment in (MONDAY - timedelta(days=6), MONDAY - timedelta(days=1), MONDAY):
            with mock.patch("django.utils.timezone.now", lambda m=moment: m):
                fact_refresh(ticket_id=TicketFactory().pk)
    assert _sweep(tenant, MONDAY) == 2
    with tenant_context(tenant):
        mails = list(OutboundEmail.objects.order_by("pk"))
    assert sorted(m.to[0] for m in mails) == sorted(
        [members["manager"].email, members["admin"].email]
    )
    mail = mails[0]
    assert "week of 30 Nov to 6 Dec 2026" in mail.subject
    assert "New tickets: 2\n" in mail.body_text
    assert "/reports/?period=7" in mail.body_text
    # The next beats of the week send nothing more; the mark is next Monday.
    assert _sweep(tenant, MONDAY + timedelta(hours=1)) == 0
    assert _sweep(tenant, MONDAY + timedelta(days=3)) == 0
    with tenant_context(tenant):
        assert OutboundEmail.objects.count() == 2
    work = TenantWork.objects.get(tenant=tenant, kind=WORK_KIND)
    assert work.due_at == datetime(2026, 12, 14, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    # The week after: one more each.
    assert _sweep(tenant, MONDAY + timedelta(days=7)) == 2


def test_nothing_goes_before_seven_on_monday_morning(tenant, members):
    TenantWork.objects.create(tenant=tenant, kind=WORK_KIND, due_at=MONDAY)
    early = MONDAY - timedelta(hours=2)  # 06:30 in Berlin
    assert _sweep(tenant, early) == 0
    work = TenantWork.objects.get(tenant=tenant, kind=WORK_KIND)
    assert work.due_at == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def test_the_beat_marks_every_tenant_and_fans_out_to_those_due(tenant, other_tenant):
    from reports.tasks import sweep_weekly_summaries, weekly_summaries_tenant

    with mock.patch.object(weekly_summaries_tenant, "apply_async") as queued:
        assert sweep_weekly_summaries() == 2
        # Leased while their sweeps are queued: the next beat sends none again.
        assert sweep_weekly_summaries() == 0
    assert {call.kwargs["kwargs"]["tenant_id"] for call in queued.call_args_list} == {
        tenant.pk,
        other_tenant.pk,
    }
