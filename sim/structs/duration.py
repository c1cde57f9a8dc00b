"""Go's time.Duration text form: formatting for Nomad's messages, parsing for humans.

Nomad prints durations with Go's `Duration.String` ("30s", "5m0s", "1h0m0s", "1.5s", "250ms")
inside its validation messages, so the exact form matters. Parsing accepts Go's
`time.ParseDuration` syntax ("90s", "1h30m", "1.5h", "300ms").
"""

from __future__ import annotations

import re

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def _frac(value: int, prec: int) -> str:
    """Integer part of value/10**prec with its fraction, trailing zeros dropped."""
    whole, frac = divmod(value, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0") if prec else ""
    return f"{whole}.{digits}" if digits else str(whole)


def format_go_duration(ns: int) -> str:
    """Format nanoseconds exactly as Go's time.Duration.String does.

    Nomad: Go standard library, time.Duration.String.
    """
    neg, u = ns < 0, abs(int(ns))
    if u < 1_000_000_000:
        if u == 0:
            return "0s"
        if u < 1_000:
            text = f"{u}ns"
        elif u < 1_000_000:
            text = _frac(u, 3) + "\u00b5s"
        else:
            text = _frac(u, 6) + "ms"
    else:
        secs, frac = divmod(u, 1_000_000_000)
        frac_text = f"{frac:09d}".rstrip("0")
        text = f"{secs % 60}{'.' + frac_text if frac_text else ''}s"
        minutes = secs // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            if minutes // 60:
                text = f"{minutes // 60}h{text}"
    return "-" + text if neg else text


def round_go_duration(ns: int, multiple: int) -> int:
    """Round half away from zero to a multiple, as Go's Duration.Round does."""
    if multiple <= 0:
        return ns
    r = abs(ns) % multiple
    mag = abs(ns) - r if r + r < multiple else abs(ns) + multiple - r
    return -mag if ns < 0 else mag


def parse_go_duration(text: str) -> int:
    """Parse Go's duration syntax ("90s", "1h30m", "1.5h") into nanoseconds.

    Nomad: Go standard library, time.ParseDuration. Raises ValueError with Go's message.
    """
    orig, s = text, text
    sign = 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    while s:
        m = _PART.match(s)
        assert m is not None  # every part of _PART is optional: it matches any string
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise ValueError(f'time: invalid duration "{orig}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS_NS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        whole, _, frac = number.partition(".")
        scale = _UNITS_NS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        s = s[m.end() :]
    if total > 2**63 - 1:
        raise ValueError(f'time: invalid duration "{orig}"')
    return sign * total
