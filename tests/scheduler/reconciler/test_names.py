"""Alloc names."""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.reconciler.names import IndexMultiset, alloc_name


def test_alloc_name():
    """Nomad: structs/funcs.go AllocName."""
    assert alloc_name("example", "cache", 3) == "example.cache[3]"


@pytest.mark.parametrize(("seed", "top", "steps"), [*((s, 30, 400) for s in range(20)), (0, 1500, 6000)])
def test_index_multiset_low_is_the_lowest_free_index_after_any_changes(seed: int, top: int, steps: int) -> None:
    """`low` (kept with a heap of freed indexes, pruned when big) equals the lowest free index >= 0,
    found by brute force."""
    rng = np.random.default_rng(seed)
    uses = IndexMultiset()
    counts: dict[int, int] = {}
    for i in range(top // 2):
        uses.add(i)
        counts[i] = 1
    for step in range(steps):
        used = [i for i, n in counts.items() if n]
        if used and rng.random() < 0.45:
            idx = used[int(rng.integers(len(used)))]
            uses.remove(idx)
            counts[idx] -= 1
        else:
            idx = int(rng.integers(-2, top))
            uses.add(idx)
            counts[idx] = counts.get(idx, 0) + 1
        if step % 5 == 0:
            assert uses.low() == next(i for i in range(top + 1) if not counts.get(i))
