"""Cron expressions with the semantics of hashicorp/cronexpr, as Nomad's periodic jobs use them.

Owns parsing (`parse_cron`; the field grammar lives in `sim.structs.cron.parse`), the next
matching instant (`CronExpr.next`) and Nomad's `PeriodicConfig.Next` over a job's specs
(`next_launch`). The search walks the calendar the way cronexpr does, including its
daylight-saving behaviour: local wall-clock times are resolved to instants as Go's `time.Date`
resolves them (a nonexistent or repeated local time picks the zone Go picks), so launches land
on the same instants as in Nomad.
"""

from __future__ import annotations

import calendar
import functools
import math
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sim.structs.cron.parse import DayRules, parse_fields


@dataclass(frozen=True, slots=True)
class CronExpr:
    """A parsed cron expression (immutable); `next` finds the following matching instant."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    days: DayRules

    def next(self, after: datetime) -> datetime | None:
        """The first matching instant strictly after `after`, in `after`'s time zone.

        Nomad: hashicorp/cronexpr cronexpr.go, Expression.Next. `after` must be aware; the
        search works at whole seconds. None when no such instant exists (cronexpr's zero time).
        """
        if after.tzinfo is None:
            raise ValueError("after must be a timezone-aware datetime")
        t = _next_instant(self, math.floor(after.timestamp()) + 1, _clock(after.tzinfo))
        return None if t is None else datetime.fromtimestamp(t, after.tzinfo)


def parse_cron(spec: str) -> CronExpr:
    """Parse a cron spec, raising ValueError with cronexpr's message when it is malformed.

    Nomad: hashicorp/cronexpr cronexpr.go, Parse (the fields: `sim.structs.cron.parse`).
    """
    return CronExpr(spec, **parse_fields(spec))


@functools.lru_cache(maxsize=512)
def _parse_cached(spec: str) -> CronExpr:
    """parse_cron memoised on the spec string (CronExpr is immutable, so sharing is safe)."""
    return parse_cron(spec)


@functools.lru_cache(maxsize=64)
def _zone(time_zone: str) -> tzinfo:
    """Nomad: PeriodicConfig.Canonicalize/GetLocation: "" and "UTC" are UTC; unknown → UTC."""
    if time_zone in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def next_launch(specs: list[str], time_zone: str, after_unix: float) -> float | None:
    """Next launch (Unix seconds) of a periodic job, or None when it never launches again.

    Nomad: nomad/structs/structs.go, PeriodicConfig.Next (SpecType cron). Pass `[Spec]` or
    `Specs`. Nomad's loop keeps a zero (no future time) from a later spec over an earlier
    spec's time; that quirk is kept. A malformed spec raises ValueError.
    """
    tz = _zone(time_zone)
    clock = _clock(tz)
    start = math.floor(after_unix) + 1
    best: int | None = None
    for spec in specs:
        try:
            expr = _parse_cached(spec)
        except ValueError as err:
            raise ValueError(f"failed parsing cron expression: {spec}: {err}") from None
        t = _next_instant(expr, start, clock)
        if best is None or t is None or t < best:
            best = t
    return None if best is None else float(best)


class _Clock:
    """Go's calendar arithmetic in one location, on integer Unix seconds."""

    __slots__ = ("tz", "utc")

    def __init__(self, tz: tzinfo):
        self.tz = tz
        self.utc = tz is UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")

    def fields(self, t: int) -> tuple[int, int, int, int, int, int]:
        """Local (year, month, day, hour, minute, second) of instant t."""
        if self.utc:
            g = time.gmtime(t)
            return g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec
        d = datetime.fromtimestamp(t, self.tz)
        return d.year, d.month, d.day, d.hour, d.minute, d.second

    def offset(self, t: int) -> int:
        """UTC offset in seconds in force at instant t."""
        offset = datetime.fromtimestamp(t, self.tz).utcoffset()
        assert offset is not None  # an aware datetime always has one
        return int(offset.total_seconds())

    def date(self, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
        """Go's time.Date: out-of-range fields carry over; a local time that does not exist or
        exists twice takes the offset Go's zone lookup picks."""
        y, mo = y + (mo - 1) // 12, (mo - 1) % 12 + 1
        wall = calendar.timegm((y, mo, 1, 0, 0, 0)) + (d - 1) * 86400 + h * 3600 + mi * 60 + s
        if self.utc:
            return wall
        return wall - self.offset(wall - self.offset(wall))

    def zone_changes_near(self, t: int) -> bool:
        """Nomad: hashicorp/cronexpr cronexpr_next.go, timeZoneInDay (offset a day before vs after)."""
        if self.utc:
            return False
        y, mo, d, h, mi, s = self.fields(t)
        return self.offset(self.date(y, mo, d - 1, h, mi, s)) != self.offset(self.date(y, mo, d + 1, h, mi, s))


@functools.lru_cache(maxsize=64)
def _clock(tz: tzinfo) -> _Clock:
    """One clock per location (stateless, so memoising is safe)."""
    return _Clock(tz)


def _workday(day: int, weekday: int, last: int) -> int:
    """Nearest weekday within the month. Nomad: cronexpr_next.go, workdayOfMonth."""
    if weekday == 6:  # Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 0:  # Sunday
        return day + 1 if day < last else day - 2
    return day


def _days_of_month(r: DayRules, year: int, month: int) -> list[int]:
    """Matching days of one month. Nomad: cronexpr_next.go, calculateActualDaysOfMonth."""
    first_wd, last = calendar.monthrange(year, month)
    first_wd = (first_wd + 1) % 7  # Go counts weekdays from Sunday
    if not r.dom_restricted and not r.dow_restricted:
        return list(range(1, last + 1))
    days: set[int] = set()
    if r.dom_restricted:
        if r.last_dom:
            days.add(last)
        if r.last_workdom:
            days.add(_workday(last, (first_wd + last - 1) % 7, last))
        days.update(v for v in r.dom if v <= last)
        days.update(_workday(v, (first_wd + v - 1) % 7, last) for v in r.dom_workdays if v <= last)
    if r.dow_restricted:
        offset = 7 - first_wd
        for wd in r.dow:
            days.update(d for d in range(1 + (offset + wd) % 7, last + 1, 7))
        days.update(v for v in (1 + 7 * (n // 7) + (offset + n) % 7 for n in r.dow_nth) if v <= last)
        origin = last - 6
        offset = 7 - (first_wd + origin - 1) % 7
        days.update(v for v in (origin + (offset + wd) % 7 for wd in r.dow_last) if v <= last)
    return sorted(days)


def _next_instant(e: CronExpr, t: int, c: _Clock) -> int | None:
    """Nomad: hashicorp/cronexpr cronexpr.go, Expression.Next, from instant t (whole seconds).

    Each pass of the loop is one trip through cronexpr's WRAP label; a step either settles a
    field or moves t forward and starts over.
    """
    if not (e.seconds and e.minutes and e.hours and e.months and e.years):
        return None  # an empty list (e.g. a reversed range) never matches
    while True:
        step, done = _wrap_step(e, t, c)
        if done or step is None:  # (None only when done: no year left)
            return step
        t = step


def _wrap_step(e: CronExpr, t: int, c: _Clock) -> tuple[int | None, bool]:
    """Year, month and day; then the clock fields (fast or DST-careful path)."""
    y = c.fields(t)[0]
    i = bisect_left(e.years, y)
    if i == len(e.years):
        return None, True
    if e.years[i] != y:
        t = c.date(e.years[i], e.months[0], 1)
    y, mo = c.fields(t)[:2]
    i = bisect_left(e.months, mo)
    if i == len(e.months):
        return c.date(y + 1, e.months[0], 1), False
    if e.months[i] != mo:
        t = c.date(y, e.months[i], 1)
    y, mo, d = c.fields(t)[:3]
    days = _days_of_month(e.days, y, mo)
    i = bisect_left(days, d)
    if i == len(days):
        return c.date(y, mo + 1, 1), False
    if days[i] != d:
        t = c.date(y, mo, days[i])
        h = c.fields(t)[3]
        if h:  # no midnight that day (DST at midnight): move to the nearest hour 0
            t += (24 - h) * 3600 if h > 12 else -h * 3600
    if c.zone_changes_near(t):
        return _slow_clock(e, t, c)
    return _fast_clock(e, t, c)


def _fast_clock(e: CronExpr, t: int, c: _Clock) -> tuple[int, bool]:
    """Hour, minute, second when no offset change is near."""
    y, mo, d, h, _, _ = c.fields(t)
    i = bisect_left(e.hours, h)
    if i == len(e.hours):
        return c.date(y, mo, d + 1), False
    if e.hours[i] != h:
        t = c.date(y, mo, d, e.hours[i], e.minutes[0], e.seconds[0])
    y, mo, d, h, mi, _ = c.fields(t)
    i = bisect_left(e.minutes, mi)
    if i == len(e.minutes):
        return c.date(y, mo, d, h + 1), False
    if e.minutes[i] != mi:
        t = c.date(y, mo, d, h, e.minutes[i], e.seconds[0])
    y, mo, d, h, mi, s = c.fields(t)
    i = bisect_left(e.seconds, s)
    if i == len(e.seconds):
        return c.date(y, mo, d, h, mi + 1), False
    if e.seconds[i] != s:
        t = c.date(y, mo, d, h, mi, e.seconds[i])
    return t, True


def _slow_clock(e: CronExpr, t: int, c: _Clock) -> tuple[int, bool]:
    """Near an offset change hours may last 30, 60 or 90 minutes or repeat: step on instants."""
    while c.fields(t)[3] not in e.hours:
        before = c.fields(t)[3]
        t += 3600
        if c.fields(t)[3] == before:
            t += 3600
        t -= t % 60
        t -= 60 * c.fields(t)[4]
        y, mo, d, h = c.fields(t)[:4]
        if h == 0:
            return c.date(y, mo, d), False
    while c.fields(t)[4] not in e.minutes:
        before = c.fields(t)[3]
        t = t - t % 60 + 60
        if c.fields(t)[3] != before:
            return t, False
    s = c.fields(t)[5]
    t -= t % 60
    i = bisect_left(e.seconds, s)
    if i == len(e.seconds):
        return t + 60, False
    return t + e.seconds[i], True
