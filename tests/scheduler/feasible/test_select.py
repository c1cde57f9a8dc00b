"""Selection: the scan limit, Nomad's LimitIterator (skipping scores <= 0), MaxScore, and the
chunked scan that reproduces them.

Cases ported from Nomad scheduler/feasible/select_test.go (each docstring names the Nomad test).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible.rank import normalise
from sim.scheduler.feasible.select import (
    ChunkResult,
    LimitIterator,
    Scan,
    affinity_limit,
    limit_select,
    max_score,
    scan_limit,
    visited,
)


class Ranked:
    """A ranked option of a static list (Nomad: RankedNode with only a FinalScore)."""

    def __init__(self, name: str, score: float) -> None:
        self.name = name
        self.final_score = score

    def __repr__(self) -> str:
        return f"{self.name}:{self.final_score}"


class StaticRank:
    """Nomad: rank.go StaticRankIterator: keeps its offset on reset and wraps around."""

    def __init__(self, options: list[Ranked]) -> None:
        self.options, self.offset, self.seen = options, 0, 0

    def next(self) -> Ranked | None:
        n = len(self.options)
        if self.offset == n or self.seen == n:
            if self.seen == n:
                return None
            self.offset = 0
        option = self.options[self.offset]
        self.offset += 1
        self.seen += 1
        return option

    def reset(self) -> None:
        self.seen = 0


def collect(iterator) -> list:
    """Every option an iterator hands out."""
    out = []
    while (option := iterator.next()) is not None:
        out.append(option)
    return out


def test_limit_iterator_limits_and_resumes():
    """Nomad: select_test.go TestLimitIterator: 2 of 3, then after reset the source wraps (n2, n0)."""
    nodes = [Ranked("n0", 1), Ranked("n1", 2), Ranked("n2", 3)]
    source = StaticRank(nodes)
    limit = LimitIterator(source.next, 2, 0.0, 2)
    assert collect(limit) == nodes[:2]
    assert collect(limit) == []
    source.reset()
    limit = LimitIterator(source.next, 2, 0.0, 2)
    assert collect(limit) == [nodes[2], nodes[0]]


SCORE_THRESHOLD_CASES = [
    ("skips one low scoring node", [-1, 2, 3], [1, 2]),
    ("skips maxSkip scoring nodes", [-1, -2, 3, 4], [2, 3]),
    ("maxSkip limit reached", [-1, -6, -3, -4], [2, 3]),
    ("draw both from skipped nodes", [-1, -6], [0, 1]),
    ("one node above threshold, one skipped node", [-1, 5], [1, 0]),
    ("low scoring nodes interspersed", [-1, 5, -2, 2], [1, 3]),
    ("only one node, score below threshold", [-1], [0]),
    ("maxSkip is more than available nodes", [-2, 1], [1, 0]),
]


@pytest.mark.parametrize(("desc", "scores", "expected"), SCORE_THRESHOLD_CASES, ids=[c[0] for c in SCORE_THRESHOLD_CASES])
def test_limit_iterator_score_threshold(desc, scores, expected):
    """Nomad: select_test.go TestLimitIterator_ScoreThreshold (limit 2, threshold 0, maxSkip 2)."""
    nodes = [Ranked(f"n{i}", s) for i, s in enumerate(scores)]
    limit = LimitIterator(StaticRank(nodes).next, 2, 0.0, 2)
    assert collect(limit) == [nodes[i] for i in expected]


def test_max_score_first_wins():
    """Nomad: select_test.go TestMaxScoreIterator, plus first-wins ties (strict >)."""
    nodes = [Ranked("n0", 1), Ranked("n1", 2), Ranked("n2", 3)]
    assert max_score(StaticRank(nodes).next) is nodes[2]
    tied = [Ranked("a", 2), Ranked("b", 2)]
    assert max_score(StaticRank(tied).next) is tied[0]
    assert max_score(StaticRank([]).next) is None


@pytest.mark.parametrize(("nodes", "batch", "limit"), [
    (3, False, 2), (8, False, 3), (10, False, 4), (100, False, 7), (1000, False, 10), (5000, False, 13),
    (0, False, 2), (1000, True, 2),
])
def test_scan_limit(nodes, batch, limit):
    """Nomad: stack.go GenericStack.SetNodes: max(2, ceil(log2 n)) for services, 2 for batch."""
    assert scan_limit(nodes, batch) == limit


def test_affinity_limit():
    """Nomad: stack.go GenericStack.Select: max(count, NodeLimitForFeasibilityChecks=100)."""
    assert affinity_limit(10) == 100 and affinity_limit(250) == 250


def _scan(scores: list[float], ranked_mask: list[bool], start: int, first_chunk: int) -> Scan:
    order = np.arange(len(scores))
    values = np.array(scores, dtype=float)
    fits = np.array(ranked_mask, dtype=bool)

    def evaluate(rows: np.ndarray, lowest: float) -> ChunkResult:
        ranked = np.flatnonzero(fits[rows])
        status = np.where(fits[rows], 0, 2).astype(np.int8)
        final = values[rows[ranked]]
        scores_ = normalise(final, None, None, None, None)
        return ChunkResult(rows, status, np.zeros(len(rows), dtype=np.int32), ranked, scores_, None)

    return Scan(order, np.arange(len(scores)), start, evaluate, first_chunk, -1.0)


def _reference(scores: list[float], ranked_mask: list[bool], start: int, limit: int) -> tuple[int | None, int]:
    """Nomad's lazy chain: the chosen node and how many nodes the source handed out."""
    n = len(scores)
    visit = [(start + i) % n for i in range(n)]
    pulled = {"count": 0}
    stream = iter(visit)

    def source():
        for node in stream:
            pulled["count"] += 1
            if ranked_mask[node]:
                return Ranked(str(node), scores[node])
        pulled["count"] = n
        return None

    best = max_score(LimitIterator(source, limit).next)
    return (None if best is None else int(best.name)), pulled["count"]


def test_limit_select_matches_nomads_iterator():
    """The chunked limit rule picks the node, and consumes the nodes, Nomad's lazy chain would."""
    rng = np.random.default_rng(7)
    for case in range(400):
        n = int(rng.integers(1, 40))
        scores = rng.choice([-0.5, 0.0, 0.1, 0.3, 0.3, 0.7], size=n).tolist()
        mask = (rng.random(n) < 0.7).tolist()
        start, limit, chunk = int(rng.integers(n)), int(rng.integers(1, 8)), int(rng.integers(1, 6))
        scan = _scan(scores, mask, start, chunk)
        best = limit_select(scan, limit)
        expected_row, expected_count = _reference(scores, mask, start, limit)
        assert (None if best is None else best.row) == expected_row, case
        assert scan.consumed() == expected_count, case


def test_visited_positions_wrap_around():
    """The positions among the nodes visited from an offset, in visiting order."""
    positions = np.array([1, 3, 6, 8])
    assert visited(positions, 2, 5, 10).tolist() == [3, 6]
    assert visited(positions, 7, 6, 10).tolist() == [8, 1]
    assert visited(positions, 0, 10, 10).tolist() == [1, 3, 6, 8]
