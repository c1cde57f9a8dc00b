"""ColumnRows: rows kept as columns read back as the rows appended, labelled codes as narrow as
an IntColumn of them would be; the placement rows' exhausted dimension."""

from __future__ import annotations

import numpy as np
import pytest

from sim.metrics.columns import ColumnRows, Labelled
from sim.metrics.recorder import Recorder, _dimension
from sim.state.narrow import UNSIGNED, IntColumn
from sim.structs.alloc import Allocation, AllocMetric


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
    while at < n:  # appended one row (whole or in parts) or a batch at a time
        size = int(rng.choice([1, 1, 7, 5000]))
        batch = rows[at:at + size]
        if size == 1 and rng.random() < 0.5:
            stored.append(batch[0])
        elif size == 1:
            stored.append_parts(batch[0][0], batch[0][1:])
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


@pytest.mark.parametrize("seed", range(4))
def test_placement_rows_give_each_metric_its_most_exhausted_dimension(seed: int) -> None:
    """`Recorder.placements` skips the lookup for metrics that made no container, and repeats
    a shared metric's values: each row's dimension is still `_dimension` of the alloc's metric."""
    rng = np.random.default_rng(seed)
    metrics: list[AllocMetric | None] = [None, AllocMetric(nodes_evaluated=3)]
    for _ in range(30):
        m = AllocMetric(nodes_evaluated=int(rng.integers(0, 9)))
        for _ in range(int(rng.integers(0, 4))):
            m.exhausted_node("c", str(rng.choice(["cpu", "memory", "disk", ""])))
        if rng.random() < 0.3:
            m.filter_node("c", "constraint")
        metrics.append(m)
    metrics.append(AllocMetric(dimension_exhausted={"memory": 2, "cpu": 2}))
    allocs = [Allocation(id=f"a{i}", namespace="default", eval_id="e", name=f"j.g[{i}]", node_id="n",
                         node_name="n", job_id="j", job=None, task_group="g", metrics=metrics[int(k)])  # type: ignore[arg-type]
              for i, k in enumerate(rng.integers(0, len(metrics), 80))]
    recorder = Recorder()
    recorder.placements(1.0, allocs)
    dims = [row[10] for row in recorder.rows["placements"]]
    assert dims == [_dimension(a.metrics) for a in allocs]
    assert any(dims) and not all(dims)


def test_a_row_of_the_wrong_width_is_refused() -> None:
    stored = ColumnRows(3, {0: "d"}, (1,))
    stored.append((1.0, "a", 2))
    stored.append((2.0, "b"))
    with pytest.raises(ValueError, match="rows of 3 values"):
        stored.stored()
