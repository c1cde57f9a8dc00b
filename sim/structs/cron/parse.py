"""Parsing of cron specs with the semantics of hashicorp/cronexpr (cronexpr_parse.go).

`parse_fields` turns a spec into the sorted values of each field plus the day rules;
`sim.structs.cron.expr` wraps them in `CronExpr` and searches for matching instants.

Spec forms: 5 fields (minute hour day-of-month month day-of-week), 6 (year appended), 7
(seconds first, year last); fields beyond the 7th are ignored. Macros @yearly @annually @monthly
@weekly @daily @hourly (cronexpr has no @midnight, so Nomad rejects it and so do we).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

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


def _interval(m: re.Match[str], s: str, fld: _Field, raw: str) -> _Directive:
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
class DayRules:
    """The day-of-month and day-of-week fields, resolved per month by the search in sim.structs.cron.expr."""

    dom: frozenset[int] = frozenset()
    dom_workdays: frozenset[int] = frozenset()
    last_dom: bool = False
    last_workdom: bool = False
    dom_restricted: bool = True
    dow: frozenset[int] = frozenset()
    dow_nth: frozenset[int] = frozenset()     # (n-1)*7 + weekday, from `d#n`
    dow_last: frozenset[int] = frozenset()    # weekday, from `dL`
    dow_restricted: bool = True


class _DomRules(TypedDict):
    """DayRules' day-of-month fields."""

    dom: frozenset[int]
    dom_workdays: frozenset[int]
    last_dom: bool
    last_workdom: bool
    dom_restricted: bool


class _DowRules(TypedDict):
    """DayRules' day-of-week fields."""

    dow: frozenset[int]
    dow_nth: frozenset[int]
    dow_last: frozenset[int]
    dow_restricted: bool


class CronFields(TypedDict):
    """A parsed spec: CronExpr's fields but the expression."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    days: DayRules


def _dom_field(text: str) -> _DomRules:
    """Nomad: hashicorp/cronexpr cronexpr_parse.go, domFieldHandler (`L`, `LW`, `15W`)."""
    days: set[int] = set()
    work: set[int] = set()
    last_dom = last_workdom = False
    restricted = True
    for kind, first, last, step, raw in _parse_entries(text, _DOM):
        s = raw.lower()
        if kind == "none":
            if s == "l":
                last_dom = True
            elif s == "lw":
                last_workdom = True
            elif m := re.fullmatch(f"({_DOM.value})w", s):
                work.add(_number(m[1]))
            else:
                raise ValueError(f"syntax error in day-of-month field: '{raw}'")
        elif kind == "one":
            days.add(first)
        else:
            days.update(range(first, last + 1, step))
            restricted = restricted and kind != "all"
    return {"last_dom": last_dom, "last_workdom": last_workdom, "dom_restricted": restricted,
            "dom": frozenset(days), "dom_workdays": frozenset(work)}


def _dow_field(text: str) -> _DowRules:
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


def parse_fields(spec: str) -> CronFields:
    """A spec's fields as CronExpr's keyword arguments (all but `expression`).

    Nomad: hashicorp/cronexpr cronexpr.go, Parse. Raises ValueError with cronexpr's message
    when the spec is malformed.
    """
    fields = _FIELD_RE.findall(_MACRO_RE.sub(lambda m: _MACROS[m[0]], spec))
    if len(fields) < 5:
        raise ValueError("missing field(s)")
    fields = fields[:7]
    seconds = _plain_field(fields.pop(0), _SECOND) if len(fields) == 7 else (0,)
    return {
        "seconds": seconds,
        "minutes": _plain_field(fields[0], _MINUTE),
        "hours": _plain_field(fields[1], _HOUR),
        "months": _plain_field(fields[3], _MONTH),
        "years": _plain_field(fields[5], _YEAR) if len(fields) > 5 else tuple(range(1970, 2100)),
        "days": DayRules(**_dom_field(fields[2]), **_dow_field(fields[4])),
    }
