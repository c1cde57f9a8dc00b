"""A column of integers in the narrowest typed array that holds every value so far.

Codes into a table of a few strings (statuses, nodes) and small counters fit in one or two bytes;
a column starts at one byte a value and is copied into the next wider type the first time a
value does not fit (at most three times), so memory follows the values actually stored.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

SIGNED = "bhiq"  # the type codes a column widens through
UNSIGNED = "BHIQ"
_RANGE = {code: range(-(2 ** (8 * array(code).itemsize - 1)), 2 ** (8 * array(code).itemsize - 1))
          for code in SIGNED} | {code: range(2 ** (8 * array(code).itemsize)) for code in UNSIGNED}


class IntColumn:
    """Integers appended in order, read by position; `last` caps the widening (a value beyond its
    range raises OverflowError, as appending it to an array of that type would)."""

    __slots__ = ("values", "_codes")

    def __init__(self, codes: str = SIGNED, last: str | None = None) -> None:
        self._codes = codes[: codes.index(last) + 1] if last else codes
        self.values = array(self._codes[0])

    def extend(self, values: Sequence[int]) -> None:
        """Append the values (a sequence: when one does not fit, none is stored and the column
        is widened to the narrowest type that holds them all before they are)."""
        try:
            self.values += array(self.values.typecode, values)  # (built whole, then copied: none stored if one does not fit)
            return
        except OverflowError:
            pass
        low, high = min(values), max(values)
        wider = next((c for c in self._codes if low in _RANGE[c] and high in _RANGE[c]), self._codes[-1])
        if wider != self.values.typecode:
            self.values = array(wider, self.values)
        self.values.extend(values)

    def repeat(self, value: int, n: int) -> None:
        """Append `value` n times: one value stored, then copied."""
        if n > 0:
            self.extend((value,))
            self.values += self.values[-1:] * (n - 1)

    def __getitem__(self, i: int) -> int:
        return self.values[i]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[int]:
        return iter(self.values)
