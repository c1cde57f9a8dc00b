"""Columns of pandas' "string" dtype built in Arrow, without a Python object per row.

`astype("string")` on a column of Python strings makes an object array first (8 bytes a row),
and pandas' merges and maps on Arrow strings make a Python str per row; for millions of rows of
alloc IDs these are the largest transient costs of building the results tables. `from_list` and
`from_codes` give the column `astype` would (pyarrow storage, NA for None), or None where
pandas' "string" dtype is not stored in Arrow or a value is not a string (the caller then takes
the `astype` path); `first_index` joins string columns by position, `numbered` numbers their values, `mapped` maps them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]


def _arrow() -> bool:
    """pandas' "string" dtype is stored in Arrow (its default when pyarrow is installed)."""
    return bool(pd.StringDtype().storage == "pyarrow")


def _wrap(values: Any) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]))


def from_list(values: list[Any]) -> pd.arrays.ArrowStringArray | None:
    """The strings (None: NA) of a list."""
    if not _arrow():
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
    # (Arrow's take is several times faster by int32 indices than by narrower ones)
    indices = codes.astype(np.int32, copy=False) if len(values) <= np.iinfo(np.int32).max else codes
    return _wrap(table._pa_array.chunk(0).take(pa.array(indices)))


def first_index(values: pd.Series, among: pd.Series | list[Any]) -> np.ndarray:
    """Per value, the position of its first occurrence in `among` (-1: absent), as a left join on
    the first of duplicate keys would match it (without a Python string per row)."""
    among = pd.Series(among, dtype=values.dtype) if isinstance(among, list) else among
    if _arrow() and isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(
            among.array, pd.arrays.ArrowStringArray):
        found = pc.index_in(values.array._pa_array, value_set=among.array._pa_array.combine_chunks())
        return found.fill_null(-1).to_numpy().astype(np.int64)
    first = ~among.duplicated().to_numpy()
    return np.append(np.flatnonzero(first), -1)[pd.Index(among[first]).get_indexer(values)]


def numbered(*columns: pd.Series) -> list[np.ndarray]:
    """Each column's values as numbers, in first-seen order over the columns in turn (the same
    value, the same number in every column; NA a number too); Arrow strings are numbered in
    Arrow (int32, one hash table over their chunks, without a copy), others by pandas."""
    arrow = _arrow() and all(isinstance(column.array, pd.arrays.ArrowStringArray) for column in columns)
    chunks = [chunk for column in columns for chunk in column.array._pa_array.chunks] if arrow else []
    if chunks and len({chunk.type for chunk in chunks}) == 1:
        encoded = pc.dictionary_encode(pa.chunked_array(chunks), null_encoding="encode")
        codes = pa.chunked_array([chunk.indices for chunk in encoded.chunks], type=pa.int32()).to_numpy()
    else:
        codes = pd.factorize(pd.concat(columns, ignore_index=True), use_na_sentinel=False)[0]
    return np.split(codes, np.cumsum([len(column) for column in columns[:-1]]).tolist())


def mapped(values: pd.Series, mapping: dict[Any, Any], missing: str) -> pd.arrays.ArrowStringArray | None:
    """Per value `mapping[value]`, `missing` for NA, for a value not in `mapping` or mapped to NA
    (as `values.map(mapping).fillna(missing)`), with 4 bytes a row besides the result."""
    if not (_arrow() and isinstance(values.array, pd.arrays.ArrowStringArray)):
        return None
    table = from_list([missing if pd.isna(name) else name for name in mapping.values()] + [missing])
    if table is None:
        return None
    at = pc.index_in(values.array._pa_array, value_set=pa.array(list(mapping), type=pa.large_string()))
    return pd.arrays.ArrowStringArray(table._pa_array.chunk(0).take(at.fill_null(len(mapping))))
