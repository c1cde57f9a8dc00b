"""UUIDs drawn from the run's rng (sim/structs/ids.py)."""

from __future__ import annotations

import numpy as np

from sim.structs.ids import POOL, IdGenerator, _format_all


def _one_by_one(a: int, b: int) -> str:
    """The UUID of two draws, formatted one at a time (the reference)."""
    h = f"{a:016x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def test_pooled_uuids_equal_the_one_by_one_format_in_draw_order() -> None:
    """Each pool of UUIDs is formatted at once from the same draws, handed out in draw order."""
    ids, rng = IdGenerator(np.random.default_rng(5)), np.random.default_rng(5)
    got = [ids.uuid() for _ in range(3 * POOL + 7)]
    raw = np.concatenate([rng.integers(0, 2**63, size=(POOL, 2), dtype=np.int64) for _ in range(4)])
    assert got == [_one_by_one(int(a), int(b)) for a, b in raw][: len(got)]


def test_extreme_draws_format_as_one_by_one() -> None:
    """The smallest and largest draws keep their leading zeros and every digit."""
    edges = np.array([[0, 0], [2**63 - 1, 2**63 - 1], [1, 2**62], [2**60 + 5, 15]], dtype=np.int64)
    assert _format_all(edges) == [_one_by_one(int(a), int(b)) for a, b in edges]


def test_hex8_is_the_start_of_the_next_uuid() -> None:
    """Nomad's dispatch suffix: the first 8 hex digits of a fresh UUID."""
    a, b = IdGenerator(np.random.default_rng(2)), IdGenerator(np.random.default_rng(2))
    assert a.hex8() == b.uuid()[:8]


def test_uuids_in_bulk_equal_one_by_one_with_the_rng_interleaved() -> None:
    """`uuids(n)` hands out what n `uuid()` calls would, refilling the pool at the same draws
    (checked by drawing from the same rng between random batch sizes)."""
    a_rng, b_rng = np.random.default_rng(9), np.random.default_rng(9)
    a, b = IdGenerator(a_rng), IdGenerator(b_rng)
    sizes = np.random.default_rng(1).integers(0, 2 * POOL + 3, size=40).tolist()
    for n in sizes:
        assert a.uuids(n) == [b.uuid() for _ in range(n)]
        assert a_rng.integers(0, 1000) == b_rng.integers(0, 1000)
