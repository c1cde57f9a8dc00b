"""Typed device attributes with units, as Nomad's device plugins report them.

Nomad: plugins/shared/structs/attribute.go (ParseAttribute, Attribute.Compare) and units.go.
"80 GiB" is an int with unit GiB; it compares with "81920 MiB" (same base unit, multipliers
applied); a string compares only with a string, a bool only with a bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# unit -> (base, multiplier, inverse): Nomad's binary and decimal bytes, byte rates, hertz, watts
_BYTE, _RATE, _HZ, _WATT = 1, 2, 3, 4
UNITS: dict[str, tuple[int, int, bool]] = {}
for _i, _u in enumerate(("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"), start=1):
    UNITS[_u] = (_BYTE, 1 << (10 * _i), False)
    UNITS[_u + "/s"] = (_RATE, 1 << (10 * _i), False)
for _i, _u in enumerate(("kB", "MB", "GB", "TB", "PB", "EB"), start=1):
    UNITS[_u] = (_BYTE, 1000**_i, False)
    UNITS[_u + "/s"] = (_RATE, 1000**_i, False)
UNITS["KB"], UNITS["KB/s"] = (_BYTE, 1000, False), (_RATE, 1000, False)
UNITS.update({"MHz": (_HZ, 1000**2, False), "GHz": (_HZ, 1000**3, False), "mW": (_WATT, 1000, True),
              "W": (_WATT, 1, False), "kW": (_WATT, 1000, False), "MW": (_WATT, 1000**2, False),
              "GW": (_WATT, 1000**3, False)})
_LENGTH_SORTED = sorted(UNITS, key=len, reverse=True)
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True, slots=True)
class Attribute:
    """Nomad: psstructs.Attribute: exactly one of int, float, string or bool, and a unit."""

    int_value: int | None = None
    float_value: float | None = None
    string: str | None = None
    boolean: bool | None = None
    unit: str = ""

    def text(self) -> str | None:
        """Nomad: GetString."""
        return self.string

    def _number(self) -> Fraction | None:
        value = self.int_value if self.int_value is not None else self.float_value
        if value is None:
            return None
        number = Fraction(value)
        unit = UNITS.get(self.unit)
        if unit is not None:
            number = number / unit[1] if unit[2] else number * unit[1]
        return number

    def comparable(self, other: Attribute) -> bool:
        """Nomad: Attribute.Comparable: same base unit (or both without), same kind."""
        mine, theirs = UNITS.get(self.unit), UNITS.get(other.unit)
        if mine is not None and theirs is not None:
            return mine[0] == theirs[0]
        if (mine is None) != (theirs is None):
            return False
        if self.string is not None:
            return other.string is not None
        if self.boolean is not None:
            return other.boolean is not None
        return True

    def compare(self, other: Attribute) -> int | None:
        """Nomad: Attribute.Compare: -1, 0 or 1; None when the two cannot be compared."""
        if not self.comparable(other):
            return None
        if self.boolean is not None:
            return 0 if self.boolean == other.boolean else 1
        if self.string is not None:
            assert other.string is not None
            return (self.string > other.string) - (self.string < other.string)
        a, b = self._number(), other._number()
        if a is None or b is None:
            return None
        return (a > b) - (a < b)


def parse_attribute(text: str) -> Attribute:
    """Nomad: psstructs.ParseAttribute: a number with an optional unit, a bool, else a string."""
    if not text:
        return Attribute(string=text)
    unit, numeric = "", text
    if text[-1].isalpha():
        unit = next((u for u in _LENGTH_SORTED if text.endswith(u)), "")
        if unit:
            numeric = text[: -len(unit)].strip()
    number = _go_int(numeric)
    if number is not None:
        return Attribute(int_value=number, unit=unit)
    real = _go_float(numeric)
    if real is not None:
        return Attribute(float_value=real, unit=unit)
    if text in _GO_BOOLS:
        return Attribute(boolean=_GO_BOOLS[text])
    return Attribute(string=text)


def _go_int(text: str) -> int | None:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _go_float(text: str) -> float | None:
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None
