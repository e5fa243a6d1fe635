"""The SLA clock: business seconds on a calendar, with no database.

Two pure functions are the core:

- `business_add(calendar, start, seconds, pauses=())`: the instant at which
  `seconds` business seconds, counted from `start`, are used up;
- `business_count(calendar, start, end, pauses=())`: how many business
  seconds lie between two instants.

What "business time" is, exactly: an instant is open when its local wall
clock (in the calendar's IANA time zone) shows a date that is not a holiday
or closed, and a time of day inside one of that weekday's windows and
outside that date's partial closures. A window whose end is not after its
start crosses midnight (22:00-06:00 is Monday 22:00-24:00 plus Tuesday
00:00-06:00, and Tuesday's date decides whether its part is open). Seconds
are real elapsed seconds: a window 01:00-04:00 on the night the clocks go
back holds four hours; on the night they go forward, two. A wall time that
does not exist (02:30 in Berlin on the last Sunday of March) starts a window
at the first instant after the gap. Pauses are instants during which the
clock stands still whatever the calendar says.

Speed: each calendar is turned once into a table of its open intervals in
UTC (epoch seconds) with running totals, covering the years asked about and
extended on demand; `business_count` is then two binary searches, and
`business_add` is a binary search on the running totals (plus one step per
pause). Tables are kept in a small LRU keyed by the calendar's *content*
(a frozen `CalendarSpec`), so an edited calendar is a new key and never
reads a stale table. A 24/7 calendar needs no table at all.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY = 86400
MINUTES_PER_DAY = 1440
# How far `business_add` looks ahead before it gives up on a calendar that
# is (nearly) never open.
MAX_YEARS_AHEAD = 20
_TABLE_CACHE_SIZE = 64


@dataclass(frozen=True)
class Closure:
    """A closed date range (inclusive), the whole day or from `start` to
    `end` minutes of the day (local wall clock) on each date of the range."""

    first: date
    last: date
    start_minute: int | None = None
    end_minute: int | None = None

    @property
    def whole_day(self) -> bool:
        return self.start_minute is None


@dataclass(frozen=True)
class CalendarSpec:
    """A calendar as plain values. `windows` holds (weekday, start minute,
    end minute) with Monday 0; end <= start crosses midnight. `always_open`
    is 24/7 (windows, holidays and closures are then ignored)."""

    time_zone: str = "UTC"
    windows: tuple[tuple[int, int, int], ...] = ()
    holiday_country: str = ""
    holiday_subdivision: str = ""
    closures: tuple[Closure, ...] = ()
    always_open: bool = False
    # Extra holiday dates (already expanded), used by tests and by callers
    # that have their own list; they close the whole day.
    extra_holidays: frozenset[date] = field(default_factory=frozenset)


ALWAYS_OPEN = CalendarSpec(always_open=True)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("the SLA clock takes aware datetimes only")
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str, year: int) -> frozenset[date]:
    import holidays

    found = holidays.country_holidays(country, subdiv=subdivision or None, years=[year])
    return frozenset(found.keys())


def holiday_names(country: str, subdivision: str, years: Iterable[int]) -> dict[date, str]:
    """The preset holidays of a country (and subdivision) in `years`, by date."""
    import holidays

    return dict(holidays.country_holidays(country, subdiv=subdivision or None, years=list(years)))


def _wall_day_parts(spec: CalendarSpec, day: date, holidays_: frozenset[date]) -> list[list[int]]:
    """The open minutes of one local date as [start, end) minute pairs."""
    if day in holidays_ or day in spec.extra_holidays:
        return []
    weekday = day.weekday()
    previous = (weekday - 1) % 7
    parts: list[list[int]] = []
    for wd, start, end in spec.windows:
        if end > start:
            if wd == weekday:
                parts.append([start, end])
        else:
            # Crossing midnight: the evening on its own weekday, the morning
            # on the next day (which that day's date decides about).
            if wd == weekday:
                parts.append([start, MINUTES_PER_DAY])
            if wd == previous and end > 0:
                parts.append([0, end])
    for closure in spec.closures:
        if closure.first <= day <= closure.last:
            if closure.whole_day:
                return []
            parts = _subtract(parts, closure.start_minute, closure.end_minute)
    return _merge(parts)


def _merge(parts: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, end in sorted(parts):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _subtract(parts: list[list[int]], cut_start: int, cut_end: int) -> list[list[int]]:
    out = []
    for start, end in parts:
        if cut_end <= start or cut_start >= end:
            out.append([start, end])
            continue
        if start < cut_start:
            out.append([start, cut_start])
        if cut_end < end:
            out.append([cut_end, end])
    return out


def _offset(zone: ZoneInfo, epoch: int) -> int:
    return int(_moment(epoch).astimezone(zone).utcoffset().total_seconds())


def _offset_segments(zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """[(from, to, offset)] covering [lo, hi) in UTC epoch seconds. Finds the
    transitions by bisection (they fall on whole seconds)."""
    segments = []
    start = lo
    while start < hi:
        offset = _offset(zone, start)
        if _offset(zone, hi - 1) == offset:
            # Zones change at most a few times a year; checking the far end
            # first keeps the common day to two look-ups.
            segments.append((start, hi, offset))
            break
        low, high = start, hi - 1
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(zone, middle) == offset:
                low = middle
            else:
                high = middle
        segments.append((start, high, offset))
        start = high
    return segments


def _utc_intervals_of_day(
    zone: ZoneInfo, day: date, parts: list[list[int]]
) -> list[tuple[int, int]]:
    """The instants whose local wall clock shows `day` and a minute in
    `parts`, as UTC [from, to) epoch-second pairs."""
    if not parts:
        return []
    wall_midnight = int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
    # Wall time = UTC + offset; offsets lie within +-26 h.
    segments = _offset_segments(zone, wall_midnight - 26 * 3600, wall_midnight + DAY + 26 * 3600)
    out = []
    for start, end in parts:
        for seg_from, seg_to, offset in segments:
            low = max(wall_midnight + start * 60 - offset, seg_from)
            high = min(wall_midnight + end * 60 - offset, seg_to)
            if low < high:
                out.append((low, high))
    return out


class _Table:
    """Open intervals of a calendar in UTC, sorted and disjoint, with the
    business seconds before each one."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.time_zone)
        self.first_year = self.last_year = None
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []  # business seconds before interval i
        self.after: list[int] = []  # business seconds up to the end of interval i
        self.lo = self.hi = 0  # the UTC range the table is exact for
        self.lock = threading.Lock()

    def _build(self, first_year: int, last_year: int) -> None:
        spec = self.spec
        intervals: list[tuple[int, int]] = []
        day = date(first_year, 1, 1)
        last = date(last_year, 12, 31)
        while day <= last:
            holidays_ = (
                _holiday_dates(spec.holiday_country, spec.holiday_subdivision, day.year)
                if spec.holiday_country
                else frozenset()
            )
            intervals.extend(
                _utc_intervals_of_day(self.zone, day, _wall_day_parts(spec, day, holidays_))
            )
            day += timedelta(days=1)
        intervals.sort()
        starts, ends, before, after = [], [], [], []
        total = 0
        for start, end in intervals:
            if ends and start <= ends[-1]:
                # Adjacent (a window over midnight) or overlapping: one interval.
                if end > ends[-1]:
                    total += end - ends[-1]
                    ends[-1] = end
                    after[-1] = total
                continue
            starts.append(start)
            ends.append(end)
            before.append(total)
            total += end - start
            after.append(total)
        self.starts, self.ends, self.before, self.after = starts, ends, before, after
        self.first_year, self.last_year = first_year, last_year
        # Local dates of the first and last year cover at least these instants.
        self.lo = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp()) + 2 * DAY
        self.hi = int(datetime(last_year, 12, 31, tzinfo=UTC).timestamp()) - DAY

    def cover(self, epoch: int) -> None:
        """Make the table exact around `epoch` (one year either side)."""
        if self.first_year is not None and self.lo <= epoch < self.hi:
            return
        year = _moment(epoch).year
        first, last = year - 1, year + 1
        if self.first_year is not None:
            first, last = min(first, self.first_year), max(last, self.last_year)
        self._build(first, last)

    def total_to(self, epoch: int) -> int:
        """Business seconds in the table before `epoch`."""
        index = bisect.bisect_right(self.starts, epoch) - 1
        if index < 0:
            return 0
        return self.before[index] + min(epoch, self.ends[index]) - self.starts[index]

    def moment_of_total(self, total: int) -> int | None:
        """The first instant by which `total` business seconds are used up
        (None when beyond the table)."""
        index = bisect.bisect_left(self.after, total)
        if index >= len(self.after):
            return None
        return self.starts[index] + (total - self.before[index])


_tables: OrderedDict[CalendarSpec, _Table] = OrderedDict()
_tables_lock = threading.Lock()


def _table(spec: CalendarSpec) -> _Table:
    with _tables_lock:
        table = _tables.get(spec)
        if table is None:
            table = _tables[spec] = _Table(spec)
            while len(_tables) > _TABLE_CACHE_SIZE:
                _tables.popitem(last=False)
        else:
            _tables.move_to_end(spec)
        return table


def _merged_pauses(pauses: Iterable[tuple[datetime, datetime | None]]) -> list[tuple[int, int]]:
    """Pauses as sorted, disjoint epoch pairs; an open pause ends never."""
    far = 2**62
    pairs = sorted(
        (_epoch(start), _epoch(end) if end is not None else far) for start, end in pauses
    )
    merged: list[list[int]] = []
    for start, end in pairs:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _count(spec: CalendarSpec, start: int, end: int) -> int:
    if end <= start:
        return 0
    if spec.always_open:
        return end - start
    table = _table(spec)
    with table.lock:
        table.cover(start)
        table.cover(end)
        return table.total_to(end) - table.total_to(start)


def business_count(
    spec: CalendarSpec,
    start: datetime,
    end: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
) -> int:
    """Business seconds of `spec` in [start, end), less those inside pauses
    (instants are taken to the whole second, fractions dropped)."""
    low, high = _epoch(start), _epoch(end)
    total = _count(spec, low, high)
    for pause_from, pause_to in _merged_pauses(pauses):
        total -= _count(spec, max(pause_from, low), min(pause_to, high))
    return max(total, 0)


def _add(spec: CalendarSpec, start: int, seconds: int) -> int:
    if seconds <= 0:
        return start
    if spec.always_open:
        return start + seconds
    table = _table(spec)
    with table.lock:
        table.cover(start)
        target = table.total_to(start) + seconds
        for _ in range(MAX_YEARS_AHEAD):
            moment = table.moment_of_total(target)
            if moment is not None and moment < table.hi:
                return moment
            # Beyond the table: extend it a year further (totals are rebuilt
            # from the same first year, so `target` keeps its meaning).
            table.cover(table.hi + DAY)
        raise ValueError("the calendar is not open within 20 years")


def business_add(
    spec: CalendarSpec,
    start: datetime,
    seconds: int,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
) -> datetime:
    """The first instant by which `seconds` business seconds of `spec`,
    counted from `start` and skipping pauses, are used up. An open pause
    (end None) that starts before the time is used up raises ValueError: the
    deadline is not known while the clock stands still."""
    moment = _epoch(start)
    remaining = int(seconds)
    if remaining <= 0:
        return _moment(moment)
    for pause_from, pause_to in _merged_pauses(pauses):
        if pause_to <= moment:
            continue
        if pause_from > moment:
            available = _count(spec, moment, pause_from)
            if available >= remaining:
                break
            remaining -= available
        if pause_to >= 2**62:
            raise ValueError("the clock is paused with no end")
        moment = max(moment, pause_to)
    return _moment(_add(spec, moment, remaining))


def open_intervals(
    spec: CalendarSpec, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The open intervals of `spec` that meet [start, end), clipped (for the
    what-if page's lay-out of windows)."""
    low, high = _epoch(start), _epoch(end)
    if spec.always_open:
        return [(start, end)] if low < high else []
    table = _table(spec)
    with table.lock:
        table.cover(low)
        table.cover(high)
        index = max(bisect.bisect_right(table.starts, low) - 1, 0)
        out = []
        while index < len(table.starts) and table.starts[index] < high:
            a, b = max(table.starts[index], low), min(table.ends[index], high)
            if a < b:
                out.append((_moment(a), _moment(b)))
            index += 1
        return out
