"""Selection: which nodes the stack visits, how many ranked options it looks at, which it picks.

Owns the source scan (Nomad's StaticIterator over the shuffled nodes: it starts where the last
select stopped and wraps around), pulled lazily chunk by chunk so that only what the limit
iterator reaches is computed; the scan limit of the generic stack (power of two choices, log2
of the node count for services, a wider scan with affinities or spreads); Nomad's LimitIterator
with its skipping of options scoring <= 0; and MaxScore (highest final score, first one wins).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.rank import DIMENSIONS, ChunkScores, top_indices
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation, AllocMetric, NodeScoreMeta

SKIP_SCORE_THRESHOLD = 0.0
MAX_SKIP = 3
DEFAULT_NODE_LIMIT_FOR_FEASIBILITY_CHECKS = 100  # SchedulerConfiguration default


class Scored(Protocol):
    """Anything with a final score."""

    final_score: float


T = TypeVar("T", bound=Scored)


def scan_limit(node_count: int, batch: bool) -> int:
    """Nomad: GenericStack.SetNodes: 2, or ceil(log2(n)) for service jobs when that is larger."""
    limit = 2
    if not batch and node_count > 0:
        limit = max(limit, math.ceil(math.log2(node_count)))
    return limit


def affinity_limit(count: int, node_limit: int = DEFAULT_NODE_LIMIT_FOR_FEASIBILITY_CHECKS) -> int:
    """Nomad: GenericStack.Select with affinities or spreads: max(count, NodeLimitForFeasibilityChecks)."""
    return node_limit if count < node_limit else count


class LimitIterator(Generic[T]):
    """Nomad: scheduler/feasible/select.go, LimitIterator.

    Returns at most `limit` options. Options scoring <= threshold are set aside (up to max_skip)
    while better ones may follow; once the source runs dry the set-aside ones are returned.
    """

    def __init__(
        self, source: Callable[[], T | None], limit: int,
        threshold: float = SKIP_SCORE_THRESHOLD, max_skip: int = MAX_SKIP,
    ) -> None:
        self.source = source
        self.limit = limit
        self.threshold = threshold
        self.max_skip = max_skip
        self.seen = 0
        self.skipped: list[T] = []
        self.skipped_index = 0

    def next(self) -> T | None:
        """The next option, or None when the limit is reached or nothing is left."""
        if self.seen == self.limit:
            return None
        option = self._next_option()
        if option is None:
            return None
        while option is not None and option.final_score <= self.threshold and len(self.skipped) < self.max_skip:
            self.skipped.append(option)
            option = self.source()
        self.seen += 1
        if option is None:
            return self._next_option()
        return option

    def _next_option(self) -> T | None:
        option = self.source()
        if option is None and self.skipped_index < len(self.skipped):
            option = self.skipped[self.skipped_index]
            self.skipped_index += 1
        return option


def max_score(next_option: Callable[[], T | None]) -> T | None:
    """Nomad: MaxScoreIterator: consume every option, keep the first with the highest final score."""
    best: T | None = None
    while (option := next_option()) is not None:
        if best is None or option.final_score > best.final_score:
            best = option
    return best


# -- the source scan ----------------------------------------------------------------------------

RANKED, FILTERED, EXHAUSTED = 0, 1, 2
UNCOUNTED = 3  # passed over without a metric (Nomad's evict path when ports cannot be freed)


@dataclass(slots=True)
class ChunkResult:
    """One chunk of statically feasible nodes after the plan-dependent stages.

    `status[i]` is RANKED, FILTERED or EXHAUSTED and `reason[i]` the metric reason code of a
    node that did not rank; `ranked` indexes the ranked nodes, in scan order, and `scores` /
    `lowest_after` (Nomad's running lowestSpreadBoost, None without spreads) are aligned with it.
    """

    rows: npt.NDArray[np.int64]
    status: npt.NDArray[np.int8]
    reason: npt.NDArray[np.int32]
    ranked: npt.NDArray[np.intp]
    scores: ChunkScores
    lowest_after: npt.NDArray[np.float64] | None
    vpos: npt.NDArray[np.int64] | None = None  # set by the Scan: each row's place in its visiting order
    preempted: dict[int, tuple[list[Allocation], int]] | None = None  # ranked index -> (victims, port victims)

    def visit_positions(self) -> npt.NDArray[np.int64]:
        """`vpos`, which the Scan that evaluated the chunk sets."""
        if self.vpos is None:
            raise ValueError("the chunk was not taken from a Scan")
        return self.vpos


class Option:
    """A ranked option handed to the limit iterator: the k-th ranked node of a chunk."""

    __slots__ = ("final_score", "chunk", "k")

    def __init__(self, final_score: float, chunk: ChunkResult, k: int) -> None:
        self.final_score = final_score
        self.chunk = chunk
        self.k = k

    @property
    def row(self) -> int:
        """The node's table row."""
        return int(self.chunk.rows[self.chunk.ranked[self.k]])


class Scan:
    """Nomad: StaticIterator feeding the chain, as a lazy source of ranked options.

    `feasible` holds the sorted positions (in `order`) of the statically feasible nodes; they
    are visited from `start` on, wrapping around. Chunks grow geometrically and each is
    evaluated only when every ranked option before it has been pulled. `consumed()` is how many
    nodes Nomad's source would have handed out (NodesEvaluated, and the offset's advance).
    """

    def __init__(
        self, order: np.ndarray, feasible: np.ndarray, start: int,
        evaluate: Callable[[np.ndarray, float], ChunkResult], first_chunk: int, lowest: float,
    ) -> None:
        self.order, self.feasible, self.start = order, feasible, start
        self.split = int(np.searchsorted(feasible, start))
        self.evaluate = evaluate
        self.size = max(first_chunk, 1)
        self.cursor = 0
        self.chunks: list[ChunkResult] = []
        self.pending = 0  # ranked options of the last chunk handed out
        self.lowest = lowest
        self.last_vpos = -1
        self.exhausted = False

    def next_chunk(self) -> ChunkResult | None:
        """Evaluate the next chunk (its options not yet handed out), or None when none is left."""
        if self.cursor >= len(self.feasible):
            self.exhausted = True
            return None
        positions = self._take(self.size)
        self.cursor += len(positions)
        self.size *= 4
        chunk = self.evaluate(self.order[positions], self.lowest)
        chunk.vpos = (positions - self.start) % len(self.order)
        self.chunks.append(chunk)
        self.pending = 0
        return chunk

    def pull(self, chunk: ChunkResult, count: int) -> None:
        """Hand out the first `count` ranked options of the last chunk."""
        self.pending = count
        if count:
            self.last_vpos = int(chunk.visit_positions()[chunk.ranked[count - 1]])
            if chunk.lowest_after is not None:
                self.lowest = float(chunk.lowest_after[count - 1])

    def _take(self, size: int) -> np.ndarray:
        """The next `size` feasible positions in visiting order (tail from `split`, then head)."""
        f, split, c = self.feasible, self.split, self.cursor
        tail = len(f) - split
        if c + size <= tail:
            return f[split + c : split + c + size]
        if c >= tail:
            return f[c - tail : min(c - tail + size, split)]
        return np.concatenate((f[split + c :], f[: min(c + size - tail, split)]))

    def consumed(self) -> int:
        """Nodes pulled from the source: all of them once exhausted, else up to the last option."""
        return len(self.order) if self.exhausted else self.last_vpos + 1

    def pulled(self) -> list[tuple[ChunkResult, int]]:
        """Per chunk with options handed out so far: (chunk, how many of its ranked options)."""
        last = len(self.chunks) - 1
        out = [(chunk, self.pending if i == last else len(chunk.ranked)) for i, chunk in enumerate(self.chunks)]
        return [(chunk, taken) for chunk, taken in out if taken]


def visited(positions: np.ndarray, start: int, count: int, n: int) -> np.ndarray:
    """Those of the sorted positions among the `count` visited from `start`, in visiting order."""
    end = start + count
    head = positions[np.searchsorted(positions, start) : np.searchsorted(positions, min(end, n))]
    if end <= n:
        return head
    return np.concatenate((head, positions[: np.searchsorted(positions, end - n)]))


def limit_select(
    scan: Scan, limit: int, threshold: float = SKIP_SCORE_THRESHOLD, max_skip: int = MAX_SKIP
) -> Option | None:
    """LimitIterator then MaxScore over the scan, a chunk at a time.

    While the source lasts, the limit iterator simply sets aside options scoring <= threshold
    until it has set aside max_skip of them, returns the others, and stops pulling at the
    `limit`-th returned one; that is computed with vector ops per chunk. When the source runs
    dry first, Nomad's iterator is replayed exactly on the options (its set-aside handling then
    decides the order of the tail).
    """
    skipped = returned = 0
    best: Option | None = None
    while limit > 0 and (chunk := scan.next_chunk()) is not None:
        finals = chunk.scores.final
        low = finals <= threshold
        if skipped < max_skip and low.any():
            skip = low & (np.cumsum(low) <= max_skip - skipped)
            kept = np.flatnonzero(~skip)
            skipped += int(skip.sum())
        else:
            kept = np.arange(len(finals))
        done = len(kept) >= limit - returned
        if done:
            kept = kept[: limit - returned]
        scan.pull(chunk, int(kept[-1]) + 1 if done else len(finals))
        if len(kept):
            k = int(kept[np.argmax(finals[kept])])
            if best is None or finals[k] > best.final_score:
                best = Option(float(finals[k]), chunk, k)
        if done:
            return best
        returned += len(kept)
    options = [Option(float(c.scores.final[k]), c, k) for c in scan.chunks for k in range(len(c.ranked))]
    return replay_limit(options, limit, threshold, max_skip)


def replay_limit(
    options: list[T], limit: int, threshold: float = SKIP_SCORE_THRESHOLD, max_skip: int = MAX_SKIP
) -> T | None:
    """Nomad's LimitIterator then MaxScore over every option of a source that ran dry."""
    if not options:
        return None
    replay = iter(options)
    return max_score(LimitIterator(lambda: next(replay, None), limit, threshold, max_skip).next)


class IndexedScore:
    """A bare scored option (an index and its final score), for `replay_limit`."""

    __slots__ = ("final_score", "index")

    def __init__(self, final_score: float, index: int) -> None:
        self.final_score = final_score
        self.index = index


# -- metrics of a scan --------------------------------------------------------------------------


_DIMENSION_CODES = {label: i for i, label in enumerate(DIMENSIONS)}


class ReasonCodes:
    """Metric reason strings of one select as small integer codes (cpu, memory, disk first)."""

    def __init__(self) -> None:
        self.labels: list[str] = list(DIMENSIONS)
        self._codes = _DIMENSION_CODES.copy()

    def code(self, label: str) -> int:
        """The code of a reason, registering it on first use."""
        code = self._codes.get(label)
        if code is None:
            code = self._codes[label] = len(self.labels)
            self.labels.append(label)
        return code


def tally(counts: dict[str, int], codes: np.ndarray, labels: list[str], skip_empty: bool = False) -> None:
    """Add how often each code occurs to a metric map keyed by the codes' labels."""
    for code, n in enumerate(np.bincount(codes, minlength=len(labels)).tolist()):
        if n and not (skip_empty and labels[code] == ""):
            counts[labels[code]] = counts.get(labels[code], 0) + n


def tally_classes(counts: dict[str, int], table: NodeTable, rows: np.ndarray) -> None:
    """Nomad: AllocMetric ClassFiltered / ClassExhausted: per node class, empty classes left out."""
    codes, labels = table.codes("node_class")
    tally(counts, codes[rows], labels, skip_empty=True)


def scan_metrics(metric: AllocMetric, scan: Scan, count: int, reasons: ReasonCodes, table: NodeTable) -> None:
    """Nomad: FilterNode / ExhaustedNode for the plan-dependent stages of the nodes the source
    handed out (the first `count` visited), and PopulateScoreMetaData."""
    for chunk in scan.chunks:
        if len(chunk.ranked) == len(chunk.rows):
            continue
        inside = chunk.visit_positions() < count
        for status, by_reason, by_class in (
            (FILTERED, metric.constraint_filtered, metric.class_filtered),
            (EXHAUSTED, metric.dimension_exhausted, metric.class_exhausted),
        ):
            sel = np.flatnonzero(inside & (chunk.status == status))
            if len(sel):
                tally(by_reason, chunk.reason[sel], reasons.labels)
                tally_classes(by_class, table, chunk.rows[sel])
                if status == FILTERED:
                    metric.nodes_filtered += len(sel)
                else:
                    metric.nodes_exhausted += len(sel)
    for chunk, k, final in _top_options(scan.pulled()):
        node_id = table.nodes[int(chunk.rows[chunk.ranked[k]])].id
        metric.score_meta_data.append(NodeScoreMeta(node_id, chunk.scores.node_scores(k), final))


def _top_options(pulled: list[tuple[ChunkResult, int]]) -> list[tuple[ChunkResult, int, float]]:
    """The best scored options handed out (chunk, index among its ranked, final score)."""
    if len(pulled) == 1:
        chunk, taken = pulled[0]
        finals = chunk.scores.final[:taken]
        return [(chunk, k, float(finals[k])) for k in top_indices(finals)]
    finals = np.concatenate([chunk.scores.final[:taken] for chunk, taken in pulled]) if pulled else np.zeros(0)
    where = [(chunk, k) for chunk, taken in pulled for k in range(taken)]
    return [(*where[i], float(finals[i])) for i in top_indices(finals)]

