"""Columns of pandas' "string" dtype built in Arrow, without a Python object per row.

`astype("string")` on a column of Python strings makes an object array first (8 bytes a row, and
a new str per row when the values come from Arrow); for millions of rows of alloc IDs that is
the largest transient cost of building the results tables. These functions give the same
column (pyarrow storage, NA for missing) from a list, from codes into a table of values, or by
picking rows of another string column. Each returns None where pandas' "string" dtype is not
pyarrow-backed or a value is not a string; the caller then takes the `astype` path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - pandas then stores strings as Python objects
    pa = pc = None

_ARROW = pa is not None and pd.StringDtype().storage == "pyarrow"


def _wrap(values: Any) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]))


def from_list(values: list[Any]) -> pd.arrays.ArrowStringArray | None:
    """The strings (None: NA) of a list."""
    if not _ARROW:
        return None
    try:
        return _wrap(pa.array(values, type=pa.large_string()))
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None


def from_codes(codes: np.ndarray, values: list[Any]) -> pd.arrays.ArrowStringArray | None:
    """Per row `values[code]`."""
    table = from_list(values)
    if table is None:
        return None
    return _wrap(table._pa_array.chunk(0).take(pa.array(codes)))


def first_index(values: pd.Series, among: pd.Series | list[Any]) -> np.ndarray:
    """Per value, the position of its first occurrence in `among` (-1: absent), as a left join on
    the first of duplicate keys would match it (without a Python string per row)."""
    among = pd.Series(among, dtype=values.dtype) if isinstance(among, list) else among
    if _ARROW and isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(
            among.array, pd.arrays.ArrowStringArray):
        found = pc.index_in(values.array._pa_array, value_set=among.array._pa_array.combine_chunks())
        return found.fill_null(-1).to_numpy().astype(np.int64)
    first = ~among.duplicated().to_numpy()
    return np.append(np.flatnonzero(first), -1)[pd.Index(among[first]).get_indexer(values)]
