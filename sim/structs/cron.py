"""Cron expressions with the semantics of hashicorp/cronexpr, as Nomad's periodic jobs use them.

Owns parsing (`parse_cron`), the next matching instant (`CronExpr.next`) and Nomad's
`PeriodicConfig.Next` over a job's specs (`next_launch`). The search walks the calendar the way
cronexpr does, including its daylight-saving behaviour: local wall-clock times are resolved to
instants as Go's `time.Date` resolves them (a nonexistent or repeated local time picks the zone
Go picks), so launches land on the same instants as in Nomad.

Spec forms: 5 fields (minute hour day-of-month month day-of-week), 6 (year appended), 7
(seconds first, year last); fields beyond the 7th are ignored. Macros @yearly @annually @monthly
@weekly @daily @hourly (cronexpr has no @midnight, so Nomad rejects it and so do we).
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MACROS = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
_MACRO_RE = re.compile("|".join(re.escape(m) for m in _MACROS))
_FIELD_RE = re.compile(r"[^\t\n\f\r ]+")  # Go's \S

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = ("january", "february", "march", "april", "june", "july", "august", "september",
                "october", "november", "december")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True, slots=True)
class _Field:
    """One cron field: its name in messages, bounds and the pattern of a single value."""

    name: str
    lo: int
    hi: int
    value: str


_SECOND = _Field("second", 0, 59, r"0?[0-9]|[1-5][0-9]")
_MINUTE = _Field("minute", 0, 59, r"0?[0-9]|[1-5][0-9]")
_HOUR = _Field("hour", 0, 23, r"0?[0-9]|1[0-9]|2[0-3]")
_DOM = _Field("day-of-month", 1, 31, r"0?[1-9]|[12][0-9]|3[01]")
_MONTH = _Field("month", 1, 12, r"0?[1-9]|1[012]|" + "|".join(_MONTHS + _MONTH_NAMES))
_DOW = _Field("day-of-week", 0, 6, r"0?[0-7]|" + "|".join(_DAYS + _DAY_NAMES))
_YEAR = _Field("year", 1970, 2099, r"19[789][0-9]|20[0-9]{2}")


def _number(token: str) -> int:
    """cronexpr's number table: 0-59 (one or two digits) and 1970-2099; anything else is 0."""
    if re.fullmatch(r"[0-9]{1,2}", token) and int(token) <= 59:
        return int(token)
    if re.fullmatch(r"[0-9]{4}", token) and 1970 <= int(token) <= 2099:
        return int(token)
    return 0


def _atoi(token: str, fld: _Field) -> int:
    """Value of one token of `fld` (names for months and days; day 7 is Sunday)."""
    if fld is _MONTH and not token.isdigit():
        return _MONTHS.index(token[:3]) + 1
    if fld is _DOW:
        if token.isdigit():  # cronexpr's day table knows single digits only ("01" is 0)
            return int(token) % 7 if len(token) == 1 else 0
        return _DAYS.index(token[:3])
    return _number(token)


# A directive: ("all"|"one"|"span"|"none", first, last, step, raw text)
_Directive = tuple[str, int, int, int, str]


def _parse_entries(text: str, fld: _Field) -> list[_Directive]:
    """Nomad: hashicorp/cronexpr cronexpr_parse.go, genericFieldParse."""
    entries = [e for e in text.split(",") if e]
    if not entries:
        raise ValueError(f"{fld.name} field: missing directive")
    v = fld.value
    out: list[_Directive] = []
    for raw in entries:
        s = raw.lower()
        if s in ("*", "?"):
            out.append(("all", fld.lo, fld.hi, 1, raw))
        elif re.fullmatch(f"({v})", s):
            out.append(("one", _atoi(s, fld), 0, 0, raw))
        elif m := re.fullmatch(f"({v})-({v})", s):
            out.append(("span", _atoi(m[1], fld), _atoi(m[2], fld), 1, raw))
        elif m := (re.fullmatch(r"\*/(\d+)", s) or re.fullmatch(f"({v})/(\\d+)", s)
                   or re.fullmatch(f"({v})-({v})/(\\d+)", s)):
            out.append(_interval(m, s, fld, raw))
        else:
            out.append(("none", 0, 0, 0, raw))
    return out


def _interval(m: re.Match, s: str, fld: _Field, raw: str) -> _Directive:
    """`*/n`, `a/n` or `a-b/n`; the step must lie in 1..max of the field."""
    groups = m.groups()
    step = _number(groups[-1])
    if step < 1 or step > fld.hi:
        raise ValueError(f"invalid interval {s}")
    first = fld.lo if len(groups) == 1 else _atoi(groups[0], fld)
    last = _atoi(groups[1], fld) if len(groups) == 3 else fld.hi
    return ("span", first, last, step, raw)


def _plain_field(text: str, fld: _Field) -> tuple[int, ...]:
    """Nomad: hashicorp/cronexpr cronexpr_parse.go, genericFieldHandler."""
    values: set[int] = set()
    for kind, first, last, step, raw in _parse_entries(text, fld):
        if kind == "none":
            raise ValueError(f"syntax error in {fld.name} field: '{raw}'")
        if kind == "all":
            return tuple(range(fld.lo, fld.hi + 1))
        values.update([first] if kind == "one" else range(first, last + 1, step))
    return tuple(sorted(values))


@dataclass(frozen=True, slots=True)
class _DayRules:
    """The day-of-month and day-of-week fields, resolved per month by `_days_of_month`."""

    dom: frozenset[int] = frozenset()
    dom_workdays: frozenset[int] = frozenset()
    last_dom: bool = False
    last_workdom: bool = False
    dom_restricted: bool = True
    dow: frozenset[int] = frozenset()
    dow_nth: frozenset[int] = frozenset()     # (n-1)*7 + weekday, from `d#n`
    dow_last: frozenset[int] = frozenset()    # weekday, from `dL`
    dow_restricted: bool = True


def _dom_field(text: str) -> dict:
    """Nomad: hashicorp/cronexpr cronexpr_parse.go, domFieldHandler (`L`, `LW`, `15W`)."""
    days: set[int] = set()
    work: set[int] = set()
    rules = {"last_dom": False, "last_workdom": False, "dom_restricted": True}
    for kind, first, last, step, raw in _parse_entries(text, _DOM):
        s = raw.lower()
        if kind == "none":
            if s == "l":
                rules["last_dom"] = True
            elif s == "lw":
                rules["last_workdom"] = True
            elif m := re.fullmatch(f"({_DOM.value})w", s):
                work.add(_number(m[1]))
            else:
                raise ValueError(f"syntax error in day-of-month field: '{raw}'")
        elif kind == "one":
            days.add(first)
        else:
            days.update(range(first, last + 1, step))
            rules["dom_restricted"] = rules["dom_restricted"] and kind != "all"
    return {**rules, "dom": frozenset(days), "dom_workdays": frozenset(work)}


def _dow_field(text: str) -> dict:
    """Nomad: hashicorp/cronexpr cronexpr_parse.go, dowFieldHandler (`5L`, `5#3`)."""
    days: set[int] = set()
    nth: set[int] = set()
    last_of: set[int] = set()
    restricted = True
    for kind, first, last, step, raw in _parse_entries(text, _DOW):
        s = raw.lower()
        if kind == "none":
            if m := re.fullmatch(f"({_DOW.value})l", s):
                last_of.add(_atoi(m[1], _DOW))
            elif m := re.fullmatch(f"({_DOW.value})#([1-5])", s):
                nth.add((int(m[2]) - 1) * 7 + _atoi(m[1], _DOW) % 7)
            else:
                raise ValueError(f"syntax error in day-of-week field: '{raw}'")
        elif kind == "one":
            days.add(first)
        else:
            # a span ending in 7 (Sunday) runs to Saturday
            days.update(range(first, (6 if kind == "span" and last == 0 else last) + 1, step))
            restricted = restricted and kind != "all"
    return {"dow": frozenset(days), "dow_nth": frozenset(nth), "dow_last": frozenset(last_of),
            "dow_restricted": restricted}


@dataclass(frozen=True, slots=True)
class CronExpr:
    """A parsed cron expression (immutable); `next` finds the following matching instant."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    days: _DayRules

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

    Nomad: hashicorp/cronexpr cronexpr.go, Parse.
    """
    fields = _FIELD_RE.findall(_MACRO_RE.sub(lambda m: _MACROS[m[0]], spec))
    if len(fields) < 5:
        raise ValueError("missing field(s)")
    fields = fields[:7]
    seconds = _plain_field(fields.pop(0), _SECOND) if len(fields) == 7 else (0,)
    minutes = _plain_field(fields[0], _MINUTE)
    hours = _plain_field(fields[1], _HOUR)
    dom = _dom_field(fields[2])
    months = _plain_field(fields[3], _MONTH)
    dow = _dow_field(fields[4])
    years = _plain_field(fields[5], _YEAR) if len(fields) > 5 else tuple(range(1970, 2100))
    return CronExpr(spec, seconds, minutes, hours, months, years, _DayRules(**dom, **dow))


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
        return int(datetime.fromtimestamp(t, self.tz).utcoffset().total_seconds())

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


def _days_of_month(r: _DayRules, year: int, month: int) -> list[int]:
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
        t, done = _wrap_step(e, t, c)
        if done:
            return t


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
