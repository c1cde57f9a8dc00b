"""ColumnRows: rows kept as columns read back as the rows appended, labelled codes as narrow as
an IntColumn of them would be."""

from __future__ import annotations

import numpy as np
import pytest

from sim.metrics.columns import ColumnRows, Labelled
from sim.state.narrow import UNSIGNED, IntColumn


@pytest.mark.parametrize("seed", range(6))
def test_rows_read_back_and_codes_widen_as_an_int_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    distinct = int(rng.choice([3, 200, 300, 70_000]))
    n = distinct + int(rng.integers(0, 9000))
    labels = [f"v{int(v)}" for v in rng.integers(0, distinct, n)]
    labels[: min(distinct, n)] = [f"v{i}" for i in rng.permutation(distinct)]  # every value seen
    rows = [(float(i), labels[i], int(rng.integers(0, 300)), "same") for i in range(n)]
    stored = ColumnRows(4, {0: "d", 2: "I"}, (1, 3))
    reference = IntColumn(UNSIGNED, last="I")
    codes: dict[str, int] = {}
    at = 0
    while at < n:  # appended one row or a batch at a time
        size = int(rng.choice([1, 7, 5000]))
        batch = rows[at:at + size]
        if size == 1:
            stored.append(batch[0])
        else:
            stored.extend(batch)
        at += size
    for value in labels:
        codes.setdefault(value, len(codes))
    reference.extend([codes[v] for v in labels])
    assert len(stored) == n
    assert list(stored) == rows
    label = stored.stored()[1]
    assert isinstance(label, Labelled)
    assert label.codes.dtype == np.array(reference.values).dtype
    assert label.codes.tolist() == list(reference.values)
    assert label.values == list(codes)
