"""The SLA clock against a brute-force oracle that steps minute by minute
through real time and asks the local wall clock whether it is open."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla.clock import (
    ALWAYS_OPEN,
    CalendarSpec,
    Closure,
    business_add,
    business_count,
    open_intervals,
)

H = 60


def _hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


BERLIN_OFFICE = CalendarSpec(
    time_zone="Europe/Berlin",
    windows=tuple(
        (day, _hm(a), _hm(b))
        for day in range(5)
        for a, b in (("09:00", "12:00"), ("13:00", "17:00"))
    ),
    holiday_country="DE",
    holiday_subdivision="BE",
)
# Nights over midnight, a window inside the hours the clocks change, a
# partial closure and one of the tenant's own holidays.
NEW_YORK_NIGHTS = CalendarSpec(
    time_zone="America/New_York",
    windows=(
        (0, _hm("22:00"), _hm("06:00")),
        (2, _hm("01:30"), _hm("03:30")),
        (4, _hm("22:00"), _hm("06:00")),
        (5, _hm("00:30"), _hm("02:45")),
        (6, _hm("01:00"), _hm("04:00")),
        (6, _hm("08:00"), _hm("20:00")),
    ),
    holiday_country="US",
    holiday_subdivision="NY",
    closures=(
        Closure(date(2026, 3, 8), date(2026, 3, 8), _hm("10:00"), _hm("12:00")),
        Closure(date(2026, 11, 1), date(2026, 11, 1), _hm("01:30"), _hm("02:30")),
    ),
    extra_holidays=frozenset({date(2026, 11, 6)}),
)
BERLIN_SUNDAY_NIGHTS = CalendarSpec(
    time_zone="Europe/Berlin",
    windows=(
        (6, _hm("01:00"), _hm("04:00")),
        (6, _hm("02:30"), _hm("03:15")),
        (3, _hm("09:00"), _hm("09:00")),
    ),
    closures=(Closure(date(2026, 10, 20), date(2026, 10, 22)),),
)
CALENDARS = [BERLIN_OFFICE, NEW_YORK_NIGHTS, BERLIN_SUNDAY_NIGHTS, ALWAYS_OPEN]


def _oracle_open(spec: CalendarSpec, moment: datetime) -> bool:
    if spec.always_open:
        return True
    local = moment.astimezone(ZoneInfo(spec.time_zone))
    day, minute = local.date(), local.hour * 60 + local.minute
    if day in spec.extra_holidays:
        return False
    if spec.holiday_country and day in holidays.country_holidays(
        spec.holiday_country, subdiv=spec.holiday_subdivision or None, years=day.year
    ):
        return False
    for closure in spec.closures:
        if closure.first <= day <= closure.last and (
            closure.whole_day or closure.start_minute <= minute < closure.end_minute
        ):
            return False
    weekday = day.weekday()
    for wd, start, end in spec.windows:
        if end > start and wd == weekday and start <= minute < end:
            return True
        if end <= start and (
            (wd == weekday and minute >= start) or (wd == (weekday - 1) % 7 and minute < end)
        ):
            return True
    return False


def _paused(pauses, moment):
    return any(a <= moment and (b is None or moment < b) for a, b in pauses)


def oracle_count(spec, start, end, pauses=()):
    total, moment = 0, start
    while moment < end:
        if _oracle_open(spec, moment) and not _paused(pauses, moment):
            total += H
        moment += timedelta(minutes=1)
    return total


def oracle_add(spec, start, seconds, pauses=()):
    moment, remaining = start, seconds
    while remaining > 0:
        if _oracle_open(spec, moment) and not _paused(pauses, moment):
            remaining -= H
        moment += timedelta(minutes=1)
    return moment


# Minute-aligned instants around both of 2026's clock changes in Europe
# (29 March, 25 October) and the USA (8 March, 1 November), and around a
# leap day.
AROUND = [
    datetime(2026, 3, 5, tzinfo=UTC),
    datetime(2026, 3, 26, tzinfo=UTC),
    datetime(2026, 10, 22, tzinfo=UTC),
    datetime(2026, 10, 29, tzinfo=UTC),
    datetime(2028, 2, 26, tzinfo=UTC),
    datetime(2026, 12, 22, tzinfo=UTC),
]
instants = st.builds(
    lambda base, minutes: base + timedelta(minutes=minutes),
    st.sampled_from(AROUND),
    st.integers(min_value=0, max_value=7 * 24 * 60),
)
spans = st.integers(min_value=0, max_value=4 * 24 * 60).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from(CALENDARS)


@st.composite
def pause_lists(draw, start):
    pauses = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        a = start + timedelta(minutes=draw(st.integers(min_value=-600, max_value=5 * 24 * 60)))
        pauses.append(
            (a, a + timedelta(minutes=draw(st.integers(min_value=0, max_value=2 * 24 * 60))))
        )
    return pauses


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(spec=calendars, start=instants, span=spans, data=st.data())
def test_count_matches_the_oracle(spec, start, span, data):
    pauses = data.draw(pause_lists(start))
    end = start + span
    assert business_count(spec, start, end, pauses) == oracle_count(spec, start, end, pauses)


@SETTINGS
@given(
    spec=st.sampled_from(CALENDARS),
    start=instants,
    minutes=st.integers(min_value=0, max_value=20 * 60),
    data=st.data(),
)
def test_add_matches_the_oracle(spec, start, minutes, data):
    pauses = data.draw(pause_lists(start))
    assert business_add(spec, start, minutes * H, pauses) == oracle_add(
        spec, start, minutes * H, pauses
    )


@SETTINGS
@given(spec=calendars, start=instants, span=spans, data=st.data())
def test_adding_the_count_lands_on_the_business_equivalent_of_the_end(spec, start, span, data):
    """add(start, count(start, end)) is the end itself, or the end of the
    last open minute before it when the end lies in closed time."""
    pauses = data.draw(pause_lists(start))
    end = start + span
    used = business_count(spec, start, end, pauses)
    landed = business_add(spec, start, used, pauses)
    assert landed <= end
    assert business_count(spec, landed, end, pauses) == 0
    if used:
        assert business_count(spec, start, landed, pauses) == used


def test_seconds_that_are_not_whole_minutes():
    start = datetime(2026, 3, 27, 15, 59, 59, tzinfo=UTC)  # Fri 16:59:59 in Berlin
    assert business_count(BERLIN_OFFICE, start, start + timedelta(hours=1)) == 1
    due = business_add(BERLIN_OFFICE, datetime(2026, 3, 27, 15, 59, 30, tzinfo=UTC), 45)
    # 30 s on Friday, Monday 30 March is no holiday: 15 s into it (CEST now).
    assert due == datetime(2026, 3, 30, 7, 0, 15, tzinfo=UTC)


BERLIN = ZoneInfo("Europe/Berlin")
WORKED = CalendarSpec(
    time_zone="Europe/Berlin",
    windows=BERLIN_OFFICE.windows,
    extra_holidays=frozenset({date(2026, 6, 15)}),  # a Monday
)


def test_worked_example_friday_afternoon_over_a_monday_holiday():
    created = datetime(2026, 6, 12, 16, 30, tzinfo=BERLIN)
    due = business_add(WORKED, created, 4 * 3600)
    assert due == datetime(2026, 6, 16, 13, 30, tzinfo=BERLIN)
    assert business_count(WORKED, created, due) == 4 * 3600


def test_a_two_business_hour_pause_moves_the_deadline_by_two_business_hours():
    created = datetime(2026, 6, 12, 16, 30, tzinfo=BERLIN)
    without = business_add(WORKED, created, 8 * 3600)
    # Paused Tuesday 09:30 to 14:00: 2.5 h of morning, 1 h of afternoon...
    # so take a pause that holds exactly 2 business hours: 10:00-12:00.
    pause = (
        datetime(2026, 6, 16, 10, 0, tzinfo=BERLIN),
        datetime(2026, 6, 16, 12, 0, tzinfo=BERLIN),
    )
    with_pause = business_add(WORKED, created, 8 * 3600, [pause])
    assert without == datetime(2026, 6, 17, 9, 30, tzinfo=BERLIN)
    assert with_pause == datetime(2026, 6, 17, 11, 30, tzinfo=BERLIN)
    assert business_count(WORKED, without, with_pause) == 2 * 3600


def test_a_pause_over_closed_time_moves_nothing():
    created = datetime(2026, 6, 12, 16, 30, tzinfo=BERLIN)
    weekend = (datetime(2026, 6, 13, 8, tzinfo=BERLIN), datetime(2026, 6, 15, 20, tzinfo=BERLIN))
    assert business_add(WORKED, created, 4 * 3600, [weekend]) == business_add(
        WORKED, created, 4 * 3600
    )


def test_an_open_pause_has_no_deadline_but_counts():
    created = datetime(2026, 6, 16, 9, 0, tzinfo=BERLIN)
    pause = (datetime(2026, 6, 16, 10, 0, tzinfo=BERLIN), None)
    with pytest.raises(ValueError):
        business_add(WORKED, created, 4 * 3600, [pause])
    assert business_count(WORKED, created, created + timedelta(days=3), [pause]) == 3600


def test_the_hour_that_happens_twice_counts_twice_and_the_missing_hour_not_at_all():
    nights = CalendarSpec(time_zone="Europe/Berlin", windows=((6, _hm("01:00"), _hm("04:00")),))
    autumn = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    spring = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    assert business_count(nights, autumn, autumn + timedelta(days=1)) == 4 * 3600
    assert business_count(nights, spring, spring + timedelta(days=1)) == 2 * 3600


def test_a_long_count_over_years_and_a_leap_day():
    start = datetime(2027, 1, 1, tzinfo=UTC)
    end = datetime(2029, 1, 1, tzinfo=UTC)
    days = (end - start).days
    assert business_count(ALWAYS_OPEN, start, end) == days * 86400
    weekdays = CalendarSpec(time_zone="UTC", windows=tuple((d, 0, 0) for d in range(7)))
    # Every day 00:00-00:00 means the whole day, over midnight.
    assert business_count(weekdays, start, end) == days * 86400
    # Far ahead: the table grows as it goes.
    assert business_add(BERLIN_OFFICE, start, 2000 * 3600) > datetime(2028, 1, 1, tzinfo=UTC)


def test_a_calendar_never_open_refuses_to_add():
    with pytest.raises(ValueError):
        business_add(CalendarSpec(time_zone="UTC"), datetime(2026, 1, 1, tzinfo=UTC), 60)


def test_open_intervals_lay_out_the_windows():
    monday = datetime(2026, 6, 15, 0, 0, tzinfo=BERLIN)  # the holiday
    laid_out = open_intervals(WORKED, monday, monday + timedelta(days=2))
    assert [(a.astimezone(BERLIN).hour, b.astimezone(BERLIN).hour) for a, b in laid_out] == [
        (9, 12),
        (13, 17),
    ]


def test_fast_enough_for_a_rebuild():
    """100,000 deadlines on a business calendar well under a few seconds
    on a shared machine (a million in a rebuild then takes tens of seconds
    of one core at most)."""
    import time

    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    business_add(BERLIN_OFFICE, start, 3600)  # builds the table
    began = time.perf_counter()
    for i in range(100_000):
        business_add(BERLIN_OFFICE, start + timedelta(seconds=i * 97), 4 * 3600)
    assert time.perf_counter() - began < 5
