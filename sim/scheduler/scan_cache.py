"""The incremental scan: a group's plan-dependent verdicts and scores per node, kept between selects.

Without distinct_property, spread, a custom policy or reschedule penalties, what the stages make
of a node (filtered, exhausted, or ranked with its scores) depends only on what the plan so far
put on or took off that node. So one evaluation computes each node's verdict once, in batches
over the shuffled order, and recomputes a node only after the proposed state changed on it (the
proposed state lists the rows it touched). A select then walks the cached verdicts from the
source's offset in plain Python, applying Nomad's LimitIterator (skipping up to MAX_SKIP options
scoring <= 0) and MaxScore, which for the usual small limits is far cheaper than vector ops.

The metrics reproduce the chunked scan's exactly, down to the order in which reasons and classes
enter the metric maps (per chunk of the chunked scan: filtered, then exhausted, in code order).
Anything unusual (the source running dry, a NaN score) is left to the chunked scan.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

import numpy as np

from sim.node_table import NodeTable
from sim.scheduler.rank import (
    DIMENSIONS,
    MAX_RETAINED_NODE_SCORES,
    SCORER_AFFINITY,
    SCORER_ANTI_AFFINITY,
    SCORER_BINPACK,
    SCORER_PENALTY,
)
from sim.scheduler.select import EXHAUSTED, FILTERED, MAX_SKIP, RANKED, ChunkResult, ReasonCodes
from sim.structs.alloc import AllocMetric, NodeScoreMeta

FIRST_WINDOW = 64  # feasible nodes evaluated by the first refresh; later windows double
MAX_WINDOW = 4096


class ScanResult:
    """What one cached scan found: the best option, the nodes consumed, options and misses seen."""

    __slots__ = ("best", "count", "pulled", "misses")

    def __init__(self, best: int, count: int, pulled: list[int] | range, misses: list[tuple[int, int]]) -> None:
        self.best = best  # index among the feasible nodes of the chosen one
        self.count = count  # nodes the source handed out (NodesEvaluated)
        self.pulled = pulled  # feasible indices of the ranked options handed out, in scan order
        self.misses = misses  # (visit index, feasible index) of the filtered or exhausted nodes


class ScanCache:
    """Per feasible node of one group (in the stack's shuffled order): its cached verdict.

    `evaluate(rows)` runs the plan-dependent stages on table rows (the stack's chunk evaluation
    with no penalty); `touched` is the proposed state's list of rows it changed, read from
    where the last select stopped.
    """

    def __init__(
        self, key: object, order: np.ndarray, feasible: np.ndarray, evaluate: Callable[[np.ndarray, ReasonCodes], ChunkResult],
        touched: list[int], table_len: int,
    ) -> None:
        self.key, self.order = key, order
        self.n = len(order)
        self.positions: list[int] = feasible.tolist()
        self.rows = order[feasible]
        self.row_list: list[int] = self.rows.tolist()
        self.fi_of_row = [-1] * table_len
        for fi, row in enumerate(self.row_list):
            self.fi_of_row[row] = fi
        size = len(self.row_list)
        self.valid = bytearray(size)
        self.plain = bytearray(size)  # 1: ranked with a positive score (an option the limit takes as is)
        self._valid_np = np.frombuffer(self.valid, dtype=np.uint8) if size else np.zeros(0, dtype=np.uint8)
        self.status = [RANKED] * size
        self.final = [0.0] * size
        self.binpack = [0.0] * size
        self.anti = [0.0] * size
        self.affinity: list[float] | None = None
        self.label: list[str] = [""] * size
        self.evaluate = evaluate
        self.reasons = ReasonCodes()
        self.touched = touched
        self.seen = len(touched)
        self.window = FIRST_WINDOW

    def sync(self, touched: list[int]) -> None:
        """Invalidate the nodes the proposed state changed since the last select."""
        if touched is not self.touched:  # the proposed state was reset: start over
            self.touched, self.seen = touched, 0
            self.valid[:] = bytes(len(self.valid))
            return
        fi_of_row, valid = self.fi_of_row, self.valid
        for row in touched[self.seen:]:
            fi = fi_of_row[row]
            if fi >= 0:
                valid[fi] = 0
        self.seen = len(touched)

    def scan(self, start: int, limit: int) -> ScanResult | None:
        """Nomad's LimitIterator and MaxScore over the cached verdicts from position `start`.

        None when the chunked scan must decide: the source ran dry before `limit` options
        (Nomad then replays the skipped ones), or a score is NaN.
        """
        size = len(self.positions)
        if size == 0:
            return None
        fi = bisect_left(self.positions, start)
        if fi == size:
            fi = 0
        valid, status, final = self.valid, self.status, self.final
        end = fi + limit
        if end <= size and valid.find(0, fi, end) < 0 and self.plain.find(0, fi, end) < 0:
            # The usual case: the next `limit` nodes are all options, none set aside.
            scores = final[fi:end]
            best = fi + max(range(limit), key=scores.__getitem__)  # the first of the best
            return ScanResult(best, (self.positions[end - 1] - start) % self.n + 1, range(fi, end), [])
        skipped = returned = 0
        best, best_score = -1, 0.0
        pulled: list[int] = []
        misses: list[tuple[int, int]] = []
        for j in range(size):
            if not valid[fi]:
                self._refresh(fi)
            if status[fi] == RANKED:
                score = final[fi]
                if score != score:
                    return None
                pulled.append(fi)
                if score <= 0.0 and skipped < MAX_SKIP:
                    skipped += 1
                else:
                    returned += 1
                    if best < 0 or score > best_score:
                        best, best_score = fi, score
                    if returned == limit:
                        count = (self.positions[fi] - start) % self.n + 1
                        return ScanResult(best, count, pulled, misses)
            else:
                misses.append((j, fi))
            fi += 1
            if fi == size:
                fi = 0
        return None

    def _refresh(self, fi: int) -> None:
        """Recompute the stale nodes among the next `window` feasible ones in scan order."""
        size = len(self.positions)
        end = fi + min(self.window, size)
        self.window = min(self.window * 2, MAX_WINDOW)
        if end <= size:
            stale = fi + np.flatnonzero(self._valid_np[fi:end] == 0)
        else:
            stale = np.concatenate((fi + np.flatnonzero(self._valid_np[fi:] == 0),
                                    np.flatnonzero(self._valid_np[: end - size] == 0)))
        chunk = self.evaluate(self.rows[stale], self.reasons)
        self._store(stale.tolist(), chunk)
        self._valid_np[stale] = 1

    def _store(self, fis: list[int], chunk: ChunkResult) -> None:
        labels = self.reasons.labels
        status, label, plain = self.status, self.label, self.plain
        for fi, st, code in zip(fis, chunk.status.tolist(), chunk.reason.tolist(), strict=True):
            status[fi] = st
            plain[fi] = 0
            if st != RANKED:
                label[fi] = labels[code]
        scores = chunk.scores
        ranked = [fis[i] for i in chunk.ranked.tolist()]
        columns = [(self.final, scores.final), (self.binpack, scores.binpack)]
        if scores.anti is not None:
            columns.append((self.anti, scores.anti))
        else:
            for fi in ranked:
                self.anti[fi] = 0.0
        if scores.affinity is not None:
            if self.affinity is None:
                self.affinity = [0.0] * len(self.positions)
            columns.append((self.affinity, scores.affinity))
        for target, values in columns:
            for fi, value in zip(ranked, values.tolist(), strict=True):
                target[fi] = value
        for fi in ranked:
            if self.final[fi] > 0.0:
                plain[fi] = 1

    # -- what a scan leaves in the metric -----------------------------------------------------

    def node_scores(self, fi: int) -> dict[str, float]:
        """The per-scorer map of a ranked node (as ChunkScores.node_scores without spread or policy)."""
        return {
            SCORER_BINPACK: self.binpack[fi],
            SCORER_ANTI_AFFINITY: self.anti[fi],
            SCORER_PENALTY: 0.0,
            SCORER_AFFINITY: 0.0 if self.affinity is None else self.affinity[fi],
        }

    def fill_metric(self, metric: AllocMetric, result: ScanResult, first_chunk: int, table: NodeTable) -> None:
        """Nomad: FilterNode / ExhaustedNode of the plan-dependent stages, then PopulateScoreMetaData."""
        if result.misses:
            self._miss_metrics(metric, result.misses, first_chunk, table)
        pulled, final = result.pulled, self.final
        scores = [final[fi] for fi in pulled]
        # best first, ties in scan order (a stable sort keeps equal keys in order, reversed or not)
        top = sorted(range(len(pulled)), key=scores.__getitem__, reverse=True)[:MAX_RETAINED_NODE_SCORES]
        nodes, row_list, meta = table.nodes, self.row_list, metric.score_meta_data
        for i in top:
            fi = pulled[i]
            meta.append(NodeScoreMeta(nodes[row_list[fi]].id, self.node_scores(fi), scores[i]))

    def _miss_metrics(self, metric: AllocMetric, misses: list[tuple[int, int]], first_chunk: int, table: NodeTable) -> None:
        """The misses tallied as the chunked scan does: per chunk (sizes first_chunk, then x4),
        filtered then exhausted, reasons in code order (dimensions, distinct_hosts, then the
        network errors as first met) and classes in the table's order."""
        rank: dict[str, int] = {d: i for i, d in enumerate(DIMENSIONS)}
        rank["distinct_hosts"] = len(rank)
        for _, fi in misses:
            rank.setdefault(self.label[fi], len(rank))
        chunk_start, chunk_size, group = 0, max(first_chunk, 1), []
        for j, fi in misses:
            while j >= chunk_start + chunk_size:
                self._tally_chunk(metric, group, rank, table)
                group = []
                chunk_start, chunk_size = chunk_start + chunk_size, chunk_size * 4
            group.append(fi)
        self._tally_chunk(metric, group, rank, table)

    def _tally_chunk(self, metric: AllocMetric, fis: list[int], rank: dict[str, int], table: NodeTable) -> None:
        for status, by_reason, by_class in (
            (FILTERED, metric.constraint_filtered, metric.class_filtered),
            (EXHAUSTED, metric.dimension_exhausted, metric.class_exhausted),
        ):
            sel = [fi for fi in fis if self.status[fi] == status]
            if not sel:
                continue
            _add_counts(by_reason, [self.label[fi] for fi in sel], rank.__getitem__)
            classes = [table.nodes[self.row_list[fi]].node_class for fi in sel]
            _add_counts(by_class, [c for c in classes if c], None)
            if status == FILTERED:
                metric.nodes_filtered += len(sel)
            else:
                metric.nodes_exhausted += len(sel)


def _add_counts(counts: dict[str, int], keys: list[str], order: Callable[[str], int] | None) -> None:
    """Add how often each key occurs, new keys entering in `order` (default: sorted)."""
    tallied: dict[str, int] = {}
    for key in keys:
        tallied[key] = tallied.get(key, 0) + 1
    for key in sorted(tallied, key=order):
        counts[key] = counts.get(key, 0) + tallied[key]
