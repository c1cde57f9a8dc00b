"""Rows of a metrics table kept as columns: the tables with a row per allocation or transition.

A tuple per row costs 40 bytes of header and garbage-collector links besides its values; a list
per column costs only the values (and a typed array not even the objects, for a column of floats
that no one else holds). Rows are appended as tuples, their values laid end to end in one list
(no tuple kept per row), and moved into the columns in batches: a column is then a strided slice
of that list, so appending stays as cheap as a list's and the move costs a few C loops.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from sim.state.narrow import UNSIGNED, IntColumn

_BATCH = 4096  # rows appended before they move into the columns


class _Numbering(dict[object, int]):
    """value -> code, a new value taking the next code when first looked up."""

    __slots__ = ()

    def __missing__(self, value: object) -> int:
        code = self[value] = len(self)
        return code


class Labelled(NamedTuple):
    """A column of repeated values: per row a code into `values`."""

    codes: np.ndarray  # unsigned ints
    values: list[Any]

    def decoded(self) -> np.ndarray | list[Any]:
        """The values of the rows, as an object array."""
        if not len(self.codes):
            return []
        table = np.empty(len(self.values), dtype=object)
        table[:] = self.values
        return table[self.codes]


def _column(code: str | None) -> list[Any] | array[Any] | IntColumn:
    """An empty column: a list (no type code), an unsigned int column (up to `code`) or a typed array."""
    if code is None:
        return []
    return IntColumn(UNSIGNED, last=code) if code in UNSIGNED else array(code)


_CODE_TYPES = "BHI"  # a labelled column's codes widen through these (as an IntColumn up to "I" would)
_HOLDS = {code: 2 ** (8 * array(code).itemsize) for code in _CODE_TYPES}  # how many codes each holds


class _Codes:
    """A labelled column's codes, in the narrowest unsigned type that holds every code of its
    table: as an IntColumn of them would be (the highest code in the table is one of the rows'
    since the rows brought every value in), without reading the codes to widen."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = array("B")

    def extend(self, codes: list[int], table_size: int) -> None:
        values = self.values
        if table_size > _HOLDS[values.typecode]:
            wider = next((c for c in _CODE_TYPES if table_size <= _HOLDS[c]), _CODE_TYPES[-1])
            values = self.values = array(wider, values)
        values.fromlist(codes)  # (a list's fast path: a third faster than extending by an iterator)

    def __len__(self) -> int:
        return len(self.values)


class ColumnRows:
    """A table's rows as one list per column, read back as tuples in append order."""

    __slots__ = ("columns", "_pending", "_labels", "_width", "_limit")

    def __init__(self, width: int, typed: dict[int, str] | None = None, labelled: tuple[int, ...] = ()) -> None:
        """`typed`: the columns kept in a typed array (by position), with its type code (numbers
        that fit it: a value that does not raises; an unsigned int code is the widest of a column
        that starts at one byte a value);
        `labelled`: columns of repeated values (IDs of jobs, nodes, evals; statuses), kept as
        codes into a table of the values seen (1 to 4 bytes each: as many as the table needs)."""
        typed = typed or {}
        self.columns: tuple[Any, ...] = tuple(_Codes() if i in labelled else _column(typed.get(i)) for i in range(width))
        self._pending: list[Any] = []  # the rows not moved yet, their values end to end
        self._labels: dict[int, _Numbering] = {i: _Numbering() for i in labelled}
        self._width, self._limit = width, width * _BATCH

    def append(self, row: tuple[object, ...]) -> None:
        """Add one row (its values in column order)."""
        pending = self._pending
        pending.extend(row)
        if len(pending) >= self._limit:
            self._flush()

    def append_parts(self, first: object, rest: tuple[object, ...]) -> None:
        """Add the row (first, *rest), without making it."""
        pending = self._pending
        pending.append(first)
        pending.extend(rest)
        if len(pending) >= self._limit:
            self._flush()

    def extend(self, rows: Iterable[tuple[object, ...]]) -> None:
        """Add rows in order."""
        pending = self._pending
        pending.extend(chain.from_iterable(rows))
        if len(pending) >= self._limit:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        width = self._width
        if len(pending) % width:
            raise ValueError(f"rows of {width} values expected: {len(pending)} values appended")
        labels = self._labels
        for i, column in enumerate(self.columns):
            values = pending[i::width]  # (the column's values: a strided slice, one C loop)
            codes = labels.get(i)
            if codes is None:
                column.extend(array(column.typecode, values) if type(column) is array else values)
            else:
                column.extend(list(map(codes.__getitem__, values)), len(codes))

    def stored(self) -> list[Any]:
        """The columns as kept, with every row appended so far: a list or typed array each, a
        labelled one as `Labelled` (its codes copied out, so appending later stays possible)."""
        self._flush()
        labels = self._labels
        return [Labelled(np.array(column.values), list(labels[i])) if i in labels
                else column.values if isinstance(column, IntColumn) else column for i, column in enumerate(self.columns)]

    def flushed(self) -> tuple[Any, ...]:
        """The columns, with every row appended so far (labelled ones as object arrays)."""
        return tuple(column.decoded() if isinstance(column, Labelled) else column for column in self.stored())

    def __len__(self) -> int:
        return len(self.columns[0]) + len(self._pending) // self._width

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        return zip(*self.flushed(), strict=True)

    def __getitem__(self, i: int) -> tuple[object, ...]:
        return tuple(column[i] for column in self.flushed())
