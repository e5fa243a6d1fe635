import pytest

from sla.models import Calendar, Policy, PolicyTarget, TargetKind
from tickets.events import events_run
from tickets.models import Event

BUSINESS_HOURS = {str(day): [["09:00", "12:00"], ["13:00", "17:00"]] for day in range(5)}


def run_handlers() -> None:
    """Run the subscribed handlers of every unprocessed event, as the
    worker would after the commit."""
    while True:
        pending = list(Event.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
        if not pending:
            return
        events_run(event_ids=pending)


def make_policy(
    calendar, *, name="Standard", position=10, hours=(4, 2, 24), business=True, **fields
):
    """A policy with first response, next response and resolution targets
    (hours) for every priority."""
    policy = Policy.objects.create(
        tenant=calendar.tenant, name=name, position=position, calendar=calendar, **fields
    )
    first, following, resolution = hours
    for priority in range(1, 5):
        for kind, h in (
            (TargetKind.FIRST_RESPONSE, first),
            (TargetKind.NEXT_RESPONSE, following),
            (TargetKind.RESOLUTION, resolution),
        ):
            PolicyTarget.objects.create(
                tenant=calendar.tenant,
                policy=policy,
                priority=priority,
                kind=kind,
                seconds=int(h * 3600),
                business=business,
            )
    return policy


@pytest.fixture
def berlin(in_tenant):
    return Calendar.objects.create(
        tenant=in_tenant,
        name="Berlin office",
        time_zone="Europe/Berlin",
        hours=BUSINESS_HOURS,
        holiday_country="DE",
    )


@pytest.fixture
def always(in_tenant):
    return Calendar.objects.create(tenant=in_tenant, name="24/7", always_open=True)
