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
A source that runs dry is replayed as Nomad's LimitIterator does; a NaN score is left to the
chunked scan.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from sim.scheduler.feasible.laps import Foresee, LapSelects, walk_laps
from sim.scheduler.feasible.rank import (
    DIMENSIONS,
    MAX_RETAINED_NODE_SCORES,
    SCORER_AFFINITY,
    SCORER_ANTI_AFFINITY,
    SCORER_BINPACK,
    SCORER_PENALTY,
)
from sim.scheduler.feasible.select import (
    EXHAUSTED,
    FILTERED,
    MAX_SKIP,
    RANKED,
    ChunkResult,
    IndexedScore,
    ReasonCodes,
    replay_limit,
)
from sim.state.node_table import NodeTable
from sim.structs.alloc import AllocMetric, ScoreLayout

FIRST_WINDOW = 64  # feasible nodes evaluated by the first refresh; later windows double
MAX_WINDOW = 4096
DRY_CHECK_MAX = 4096  # up to this many feasible nodes, a scan that finds no option evaluates them all
DRY_TALLY_MIN = 48  # from this many missed nodes, their metrics are tallied with vector ops
_FIXED_REASONS = [*DIMENSIONS, "distinct_hosts"]  # the reasons whose order in a metric map is fixed
PAIR_BINCOUNT_MAX = 1 << 16  # up to this many (group, code) pairs, `_pair_counts` counts them with bincount
RUN_MIN_SPAN = 256  # a run first looks at this many feasible nodes (or those its selects need, if more)
LAPS_MAX_OPTIONS = 256  # up to this many options in the lap, too few for the run, it walks them lap after lap (laps.py)

# The per-scorer map of a cached node (`node_scores`), as packed in a metric: BinPack and job
# anti-affinity stored per node, no reschedule penalty, node affinity stored when the group has one.
_SCORES = ScoreLayout(((SCORER_BINPACK, None), (SCORER_ANTI_AFFINITY, None), (SCORER_PENALTY, 0.0), (SCORER_AFFINITY, 0.0)))
_SCORES_AFFINITY = ScoreLayout(
    ((SCORER_BINPACK, None), (SCORER_ANTI_AFFINITY, None), (SCORER_PENALTY, 0.0), (SCORER_AFFINITY, None))
)

_BYTES = np.dtype(np.uint8)
_ALL = slice(None)
_NO_CODES = np.zeros(0, dtype=np.int64)
_NO_CODES.flags.writeable = False

Evaluate = Callable[[np.ndarray, ReasonCodes], ChunkResult]
"""The plan-dependent stages on table rows: the owning stack's chunk evaluation with no penalty."""

_Misses = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # select, visit, feasible index, code, exhausted


class ScanResult:
    """What one cached scan found: the best option, the nodes consumed, options and misses seen."""

    __slots__ = ("best", "count", "pulled", "misses", "dry_from")

    def __init__(
        self, best: int, count: int, pulled: list[int] | range, misses: list[tuple[int, int]], dry_from: int = -1
    ) -> None:
        self.best = best  # index among the feasible nodes of the chosen one
        self.count = count  # nodes the source handed out (NodesEvaluated)
        self.pulled = pulled  # feasible indices of the ranked options handed out, in scan order
        self.misses = misses  # (visit index, feasible index) of the filtered or exhausted nodes
        self.dry_from = dry_from  # >= 0: no node ranked; every one, from this feasible index on, missed


class ScanRun:
    """Consecutive selects decided at once (`ScanCache.run`), one item per select: the chosen row
    and its final score, the nodes the source handed out, the top options' rows (best first: a
    row of the array, or a list, per select) and their score rows as `layout` packs them; and the misses:
    per node that did not rank, its select, its visit index in that select's walk, its feasible index,
    its reason code and whether it was exhausted (else filtered)."""

    __slots__ = ("rows", "finals", "counts", "next_start", "layout", "top_rows", "top_values", "misses")

    def __init__(
        self, rows: list[int], finals: list[float], counts: list[int], next_start: int, layout: ScoreLayout,
        top_rows: np.ndarray | list[list[int]], top_values: list[list[float]], misses: _Misses | None,
    ) -> None:
        self.rows, self.finals, self.counts, self.next_start = rows, finals, counts, next_start
        self.layout, self.top_rows, self.top_values, self.misses = layout, top_rows, top_values, misses


def node_ids(table: NodeTable) -> np.ndarray:
    """Every row's node ID, as an object array kept with the table (a row's node never changes ID)."""
    ids = table.derived.get("node_ids")
    if not isinstance(ids, np.ndarray) or len(ids) != len(table):
        ids = table.derived["node_ids"] = np.array([node.id for node in table.nodes], dtype=object)
    return ids


def node_id_list(table: NodeTable) -> list[str]:
    """`node_ids` as a list (kept with the table likewise)."""
    ids = table.derived.get("node_id_list")
    if not isinstance(ids, list) or len(ids) != len(table):
        ids = table.derived["node_id_list"] = [node.id for node in table.nodes]
    return ids


class ScanCache:
    """Per feasible node of one group (in the stack's shuffled order): its cached verdict.

    `touched` is the proposed state's list of rows it changed, read from where the last select
    stopped. The cache holds data only: the stages that fill it (`Evaluate`) are handed to each
    `scan` by the stack that owns the cache, so the cache never refers back to its owner and an
    evaluation's stack, caches and proposed state are freed by reference counting as soon as
    the evaluation drops its stack (no reference cycle for the garbage collector to find).
    """

    def __init__(self, key: object, order: np.ndarray, feasible: np.ndarray, touched: list[int], table_len: int) -> None:
        self.key, self.order = key, order
        self.n = len(order)
        self.positions: list[int] = feasible.tolist()
        self.rows = order if len(feasible) == self.n else order[feasible]  # (every position feasible: the order itself)
        self.row_list: list[int] = self.rows.tolist()
        self.table_len = table_len
        self._fi_of_row: list[int] | None = None  # per table row, its feasible index (-1: none); made on first use
        size = len(self.row_list)
        self.valid = bytearray(size)
        self.plain = bytearray(size)  # 1: ranked with a positive score (an option the limit takes as is)
        self._valid_np = np.frombuffer(self.valid, dtype=_BYTES) if size else np.zeros(0, dtype=_BYTES)
        self._plain_np = np.frombuffer(self.plain, dtype=_BYTES) if size else np.zeros(0, dtype=_BYTES)
        # the Python lists of status, final, binpack, anti-affinity (and affinity) scores that the
        # scalar scan reads: made from the numpy columns on first use, then kept in step (`_lists`)
        self._columns: tuple[list[int], list[float], list[float], list[float], list[float] | None] | None = None
        self._score_block = np.zeros((3, size), dtype=np.float64)
        self._final_np, self._binpack_np, self._anti_np = self._score_block
        self._affinity_np: np.ndarray | None = None
        self._positions_np = feasible
        # `status` as numpy, and each node's reason code in `reasons` as last stored (-1: ranked)
        self._status_np = np.zeros(size, dtype=np.int64)
        self._code_np = np.full(size, -1, dtype=np.int64)
        self.ranked_valid = 0  # valid nodes that ranked
        self.reasons = ReasonCodes()
        self._rank_np = _NO_CODES  # `_fixed_rank`, for the codes registered so far (replaced, never changed)
        self._class_key: np.ndarray | None = None  # the table's class codes `_class_of` was derived from
        self._class_of = _NO_CODES
        self.touched = touched
        self.seen = len(touched)
        self.window = FIRST_WINDOW
        # after a run whose walk left no option: (its picks' rows, per option's feasible index
        # its verdict then: (reason code, exhausted)), which `sync` stores when the picks are all
        # that changed
        self._foreseen: tuple[list[int], dict[int, tuple[int, bool]]] | None = None

    def sync(self, touched: list[int]) -> None:
        """Invalidate the nodes the proposed state changed since the last select."""
        foreseen, self._foreseen = self._foreseen, None
        if touched is not self.touched:  # the proposed state was reset: start over
            self.touched, self.seen = touched, 0
            self.valid[:] = bytes(len(self.valid))
            self.ranked_valid = 0
            return
        if foreseen is not None and touched[self.seen:] == foreseen[0]:
            self._store_foreseen(foreseen[1])
            self.seen = len(touched)
            return
        if len(touched) == self.seen:
            return
        fi_of_row, valid, status = self.fi_of_row(), self.valid, self._status_np
        for row in touched[self.seen:]:
            fi = fi_of_row[row]
            if fi >= 0 and valid[fi]:
                valid[fi] = 0
                if status[fi] == RANKED:
                    self.ranked_valid -= 1
        self.seen = len(touched)

    def fi_of_row(self) -> list[int]:
        """Per table row, its index among the feasible nodes (-1: not one of them)."""
        fi_of_row = self._fi_of_row
        if fi_of_row is None:
            fi_of_row = self._fi_of_row = [-1] * self.table_len
            for fi, row in enumerate(self.row_list):
                fi_of_row[row] = fi
        return fi_of_row

    def _store_foreseen(self, verdicts: dict[int, tuple[int, bool]]) -> None:
        """Store the verdicts a walk foresaw for the options it placed on, all misses (as `_store`
        of their evaluation would: a fit-only group's verdict on a node depends on the node's
        usage and its allocs of the group alone, which the walk's picks set)."""
        columns, valid = self._columns, self.valid
        for fi, (code, exhausted) in verdicts.items():
            if valid[fi] and self._status_np[fi] == RANKED:
                self.ranked_valid -= 1
            valid[fi] = 1
            self.plain[fi] = 0
            status = EXHAUSTED if exhausted else FILTERED
            self._status_np[fi] = status
            self._code_np[fi] = code
            if columns is not None:
                columns[0][fi] = status

    def scan(self, start: int, limit: int, evaluate: Evaluate) -> ScanResult | None:
        """Nomad's LimitIterator and MaxScore over the cached verdicts from position `start`;
        `evaluate` recomputes the stale verdicts the walk reaches.

        When the source runs dry before `limit` options, every node was handed out and Nomad's
        iterator is replayed on all the options (the set-aside ones come last); `best` is -1
        when there is none. None when the chunked scan must decide (a score is NaN).
        """
        size = len(self.positions)
        if size == 0 or limit <= 0:
            return ScanResult(-1, self.n, [], []) if self.n and limit > 0 else None
        fi = bisect_left(self.positions, start)
        if fi == size:
            fi = 0
        valid = self.valid
        end = fi + limit
        if end <= size and valid.find(0, fi, end) < 0 and self.plain.find(0, fi, end) < 0:
            # The usual case: the next `limit` nodes are all options, none set aside.
            scores = self._lists()[1][fi:end]
            best = fi + max(range(limit), key=scores.__getitem__)  # the first of the best
            return ScanResult(best, (self.positions[end - 1] - start) % self.n + 1, range(fi, end), [])
        if self.ranked_valid == 0 and size <= DRY_CHECK_MAX:  # maybe no node fits: check them all at once
            # A node's verdict depends on that node alone, so evaluating every stale node in one
            # chunk (rather than the first window, then the rest) gives each the same verdict.
            if not valid[fi]:
                self.window = min(self.window * 2, MAX_WINDOW)  # as the first window's refresh would
            self._refresh_all(fi, evaluate)
            if self.ranked_valid == 0:
                return ScanResult(-1, self.n, [], [], dry_from=fi)
        status, final = self._lists()[:2]  # (kept in step by `_refresh`, once made)
        skipped = returned = 0
        best, best_score = -1, 0.0
        pulled: list[int] = []
        misses: list[tuple[int, int]] = []
        for j in range(size):
            if not valid[fi]:
                self._refresh(fi, evaluate)
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
        best_option = replay_limit([IndexedScore(final[fi], fi) for fi in pulled], limit)
        return ScanResult(-1 if best_option is None else best_option.index, self.n, pulled, misses)

    def run(self, start: int, limit: int, most: int, evaluate: Evaluate, foresee: Foresee | None = None) -> ScanRun | None:
        """Up to `most` consecutive selects from position `start`, decided with array ops, as
        long as each is one where the limit iterator skips nothing; None when the first is not.

        Such a select walks the nodes from where the last one stopped, passing over those that
        did not rank (misses) and taking the next `limit` options, all scoring > 0 (no option is
        set aside); MaxScore keeps the first of the best. The selects of a run stay within one
        lap of the order from `start` (wrapping past its end), so a select places on one of its
        own nodes, which no later select of the run reads again: the selects take consecutive
        groups of `limit` options, each decided alone (stale nodes are evaluated first, in bulk:
        a node's verdict depends on that node alone).

        When the whole lap holds fewer than `limit` options, all scoring > 0, the run is the one
        select that takes them all: the source ran dry (every node handed out), nothing was set
        aside, and MaxScore keeps the first of the best.

        With `foresee` (a fit-only group) and few options in the lap, the run goes on across
        laps instead (`_run_laps`).
        """
        if self.ranked_valid == 0 and self.valid.find(0) < 0:
            return None  # every verdict known and no node ranked: no option for any select
        if foresee is not None:
            laps = self._run_laps(start, limit, most, evaluate, foresee)
            if laps is not None:
                return laps
        size = len(self.positions)
        if limit <= 0 or most <= 0 or size < limit or (self.valid.find(0) < 0 and self.plain.find(1) < 0):
            return None  # (every verdict known and no option: no select of a run)
        fi = bisect_left(self.positions, start)
        if fi == size:
            fi = 0
        lap = fi + size  # the run's feasible indices are fi .. lap - 1, taken modulo size
        end = min(lap, fi + max(most * limit, RUN_MIN_SPAN))
        while True:  # the nodes the selects need: more when misses thin the options out
            valid = self._lap(self._valid_np, fi, end)
            if not valid.all():
                stale = (fi + (valid == 0).nonzero()[0]) % size
                self._store(stale, evaluate(self.rows[stale], self.reasons))
            plain = self._lap(self._plain_np, fi, end)
            ranked = self._lap(self._status_np, fi, end) == RANKED
            options = plain.nonzero()[0]
            odd = (ranked & (plain == 0)).nonzero()[0]  # scoring <= 0 (or NaN): the limit iterator decides
            if len(odd):
                options = options[options < odd[0]]
            if len(options) >= most * limit or end == lap or len(odd):
                break
            end = min(lap, fi + 2 * (end - fi))
        k = min(most, len(options) // limit)
        dry = not k
        if k:
            picks = (options[: k * limit] + fi).reshape(k, limit)  # each select's options (indices in the lap)
            last = picks[:, -1]
        elif len(options) and end == lap and not len(odd):  # the source runs dry: one select, every option
            k, picks = 1, (options + fi).reshape(1, -1)
            last = np.array([lap - 1])
        else:
            return None
        if end > size:
            picks = picks % size  # feasible indices
        finals = self._final_np[picks]
        best = picks[np.arange(k), finals.argmax(axis=1)]  # the first of the best
        last_pos = self._positions_np[picks[:, -1]]  # each select's last node, as an order position
        starts = np.empty(k, dtype=np.int64)
        starts[0] = start
        starts[1:] = last_pos[:-1] + 1
        counts = np.array([self.n]) if dry else (last_pos - starts) % self.n + 1
        # best first, ties in scan order (as fill_metric's stable sort)
        top = picks[np.arange(k)[:, None], np.argsort(-finals, axis=1, kind="stable")[:, :MAX_RETAINED_NODE_SCORES]]
        columns = [self._final_np, self._binpack_np, self._anti_np]
        layout = _SCORES
        if self._affinity_np is not None:
            columns.append(self._affinity_np)
            layout = _SCORES_AFFINITY
        values = np.empty((*top.shape, len(columns)), dtype=np.float64)  # per select: its top nodes' score rows
        for c, column in enumerate(columns):
            values[:, :, c] = column[top]
        missed = fi + (~ranked[: last[-1] - fi + 1]).nonzero()[0]
        misses = None
        if len(missed):  # the select each miss belongs to, and its visit index in that select's walk
            owner = np.searchsorted(last, missed)
            firsts = np.concatenate(([fi], last[:-1] + 1))
            misses = self._static_misses(owner, missed - firsts[owner], missed % size)
        return ScanRun(
            self.rows[best].tolist(), self._final_np[best].tolist(), counts.tolist(), int(starts[-1] + counts[-1]) % self.n,
            layout, self.rows[top], values.reshape(k, -1).tolist(), misses,
        )

    def _static_misses(self, owner: np.ndarray, visit: np.ndarray, fis: np.ndarray) -> _Misses:
        """Misses whose verdicts are the cached ones."""
        return owner, visit, fis, self._code_np[fis], self._status_np[fis] != FILTERED

    def _run_laps(self, start: int, limit: int, most: int, evaluate: Evaluate, foresee: Foresee) -> ScanRun | None:
        """`run` across laps (laps.py) when the lap holds at most LAPS_MAX_OPTIONS options, fewer
        than the selects take, every other node missing for a fixed reason; None otherwise, or
        when not even one select is decided."""
        size = len(self.positions)
        if limit <= 0 or most <= 0 or not size:
            return None
        if size > LAPS_MAX_OPTIONS and np.count_nonzero(self._plain_np | (self._valid_np == 0)) > LAPS_MAX_OPTIONS:
            return None
        fi = bisect_left(self.positions, start)
        if fi == size:
            fi = 0
        self._refresh_all(fi, evaluate, any_order=True)
        options = self._plain_np.nonzero()[0]
        missed = (self._status_np != RANKED).nonzero()[0]
        if (not len(options) or len(options) > min(LAPS_MAX_OPTIONS, most * limit - 1) or len(options) + len(missed) < size
                or (len(self.reasons.labels) > len(DIMENSIONS) and (self._fixed_rank()[self._code_np[missed]] < 0).any())):
            return None  # no option, enough for one lap, one scoring <= 0, or a reason ranked as first met
        found = options.tolist()
        k = bisect_left(found, fi)
        at_list = found[k:] + found[:k]  # from fi on, round the lap
        unrolled = found[k:] + [o + size for o in found[:k]]
        at = np.array(at_list, dtype=np.int64)
        columns = self._score_block.take(at, axis=1).tolist()  # final, binpack, anti-affinity
        if self._affinity_np is not None:
            columns.append(self._affinity_np[at].tolist())
        scores = list(zip(*columns, strict=True))
        row_list = self.row_list
        walk = walk_laps(unrolled, [row_list[a] for a in at_list], scores, size, fi, limit, most, foresee,
                         MAX_RETAINED_NODE_SCORES)
        if not walk.rows:
            return None
        if walk.dead:  # every option missed at its last visit: what the next sync would have to recompute
            misses = walk.misses
            self._foreseen = (walk.rows, {at_list[k]: misses[i][1:] for i, k in enumerate(walk.missed)})
        counts, next_start = self._lap_counts(start, walk)
        layout = _SCORES if self._affinity_np is None else _SCORES_AFFINITY
        return ScanRun(walk.rows, walk.finals, counts, next_start, layout, walk.top_rows, walk.top_values,
                       self._lap_misses(fi, missed, walk))

    def _lap_counts(self, start: int, walk: LapSelects) -> tuple[list[int], int]:
        """Each select's NodesEvaluated (every node when the source ran dry), and where the next starts."""
        size, n, pos, positions = len(self.positions), self.n, start, self.positions
        counts = []
        for dry, end in zip(walk.dry, walk.ends, strict=True):
            if dry:  # the next select starts where this one did
                counts.append(n)
            else:
                end_pos = positions[end % size]
                counts.append((end_pos - pos) % n + 1)
                pos = (end_pos + 1) % n
        return counts, pos

    def _lap_misses(self, fi: int, missed: np.ndarray, walk: LapSelects) -> _Misses | None:
        """The misses of a walk from feasible index `fi`: the nodes that missed from the start
        (`missed`), in every lap walked, and the options that stopped fitting, from their first
        miss on."""
        size = len(self.positions)
        last_end = walk.ends[-1]
        laps = last_end // size + 1
        # `missed` unrolled over the laps (ascending), cut to the visits fi .. last_end
        missed_list = missed.tolist()
        first = bisect_left(missed_list, fi)
        stop = (laps - 1) * len(missed_list) + bisect_right(missed_list, last_end % size)
        if laps == 1:
            static = missed[first:stop]
            unrolled = static
            code, exhausted = self._code_np[static], self._status_np[static] != FILTERED
        else:  # (each lap's misses are the same nodes: their verdicts looked up once, then repeated)
            unrolled = (missed[None, :] + np.arange(0, laps * size, size)[:, None]).ravel()[first:stop]
            static = np.concatenate([missed] * laps)[first:stop]
            code = np.concatenate([self._code_np[missed]] * laps)[first:stop]
            exhausted = np.concatenate([self._status_np[missed] != FILTERED] * laps)[first:stop]
        if walk.misses and walk.misses[0][0] <= last_end:  # (in visit order: the first is the earliest)
            # each option that stopped fitting, at every visit from its first miss on
            visits: list[int] = []
            codes: list[int] = []
            exhausts: list[bool] = []
            for since, their_code, their_exhausted in walk.misses:
                if since > last_end:  # (so are the later ones)
                    break
                times = (last_end - since) // size + 1
                visits += range(since, since + times * size, size)
                codes += [their_code] * times
                exhausts += [their_exhausted] * times
            unrolled = np.concatenate((unrolled, np.array(visits, dtype=np.int64)))
            static = unrolled % size
            code = np.concatenate((code, np.array(codes, dtype=np.int64)))
            exhausted = np.concatenate((exhausted, np.array(exhausts, dtype=bool)))
        if not len(unrolled):
            return None
        ends = walk.ends
        if len(ends) == 1:  # one select: every miss is its own
            return np.zeros(len(unrolled), dtype=np.int64), unrolled - fi, static, code, exhausted
        owner = np.searchsorted(np.array(ends), unrolled)
        firsts = np.array([fi] + [e + 1 for e in ends[:-1]])
        return owner, unrolled - firsts[owner], static, code, exhausted

    @staticmethod
    def _lap(column: np.ndarray, fi: int, end: int) -> np.ndarray:
        """`column` over the lap's indices fi .. end - 1, wrapping past its end."""
        size = len(column)
        return column[fi:end] if end <= size else np.concatenate((column[fi:], column[: end - size]))

    def fill_run_metrics(self, metrics: list[AllocMetric], run: ScanRun, first_chunk: int, table: NodeTable) -> None:
        """`fill_metric` for each select of a run: its misses, then its top scores."""
        if run.misses is not None:
            self._run_miss_metrics(metrics, *run.misses, first_chunk, table)
        if isinstance(run.top_rows, np.ndarray):  # a row per select
            top_ids = node_ids(table)[run.top_rows].tolist()
        else:
            id_of = node_id_list(table).__getitem__
            top_ids = [list(map(id_of, rows)) for rows in run.top_rows]
        AllocMetric.set_all_top_scores(metrics, run.layout, top_ids, run.top_values)

    def _refresh(self, fi: int, evaluate: Evaluate) -> None:
        """Recompute the stale nodes among the next `window` feasible ones in scan order."""
        size = len(self.positions)
        end = fi + min(self.window, size)
        self.window = min(self.window * 2, MAX_WINDOW)
        if end <= size:
            stale = fi + np.flatnonzero(self._valid_np[fi:end] == 0)
        else:
            stale = np.concatenate((fi + np.flatnonzero(self._valid_np[fi:] == 0),
                                    np.flatnonzero(self._valid_np[: end - size] == 0)))
        chunk = evaluate(self.rows[stale], self.reasons)
        self._store(stale, chunk)

    def _refresh_all(self, fi: int, evaluate: Evaluate, any_order: bool = False) -> None:
        """Recompute every stale node, in scan order from feasible index `fi` (`any_order`: the
        order makes no difference, as for a fit-only group, whose reason codes are the fixed
        dimensions; a cache with every node stale is then evaluated in its own order)."""
        if self.valid.find(0) < 0:
            return
        if any_order and self.valid.find(1) < 0:
            self._store(None, evaluate(self.rows, self.reasons))
            return
        valid = self._valid_np
        stale = (valid == 0).nonzero()[0] if not fi else np.concatenate(
            (fi + (valid[fi:] == 0).nonzero()[0], (valid[:fi] == 0).nonzero()[0]))
        if len(stale):
            self._store(stale, evaluate(self.rows[stale], self.reasons))

    def _store(self, stale: np.ndarray | None, chunk: ChunkResult) -> None:
        """Store the verdicts of a chunk of stale nodes (`stale`: their feasible indices; None:
        every node, in order)."""
        at = _ALL if stale is None else stale
        self._valid_np[at] = 1
        self._status_np[at] = chunk.status
        self._code_np[at] = chunk.reason
        self.ranked_valid += len(chunk.ranked)
        scores = chunk.scores
        ranked_np = chunk.ranked if stale is None else stale[chunk.ranked]
        self._plain_np[at] = 0
        self._plain_np[ranked_np] = scores.final > 0.0
        self._final_np[ranked_np] = scores.final
        self._binpack_np[ranked_np] = scores.binpack
        self._anti_np[ranked_np] = 0.0 if scores.anti is None else scores.anti
        if scores.affinity is not None:
            if self._affinity_np is None:
                self._affinity_np = np.zeros(len(self.positions), dtype=np.float64)
            self._affinity_np[ranked_np] = scores.affinity
        if self._columns is None:  # the Python lists are made from the numpy columns when first read
            return
        status, final, binpack, anti, affinity = self._columns
        _put(status, np.arange(len(status)) if stale is None else stale, chunk.status.tolist())
        _put(final, ranked_np, scores.final.tolist())
        _put(binpack, ranked_np, scores.binpack.tolist())
        _put(anti, ranked_np, [0.0] * len(ranked_np) if scores.anti is None else scores.anti.tolist())
        if scores.affinity is not None:
            if affinity is None:
                affinity = [0.0] * len(self.positions)
                self._columns = (status, final, binpack, anti, affinity)
            _put(affinity, ranked_np, scores.affinity.tolist())

    def _lists(self) -> tuple[list[int], list[float], list[float], list[float], list[float] | None]:
        """(status, final, binpack, anti-affinity, affinity or None) per feasible node as Python
        lists, which `_store` keeps in step once made."""
        columns = self._columns
        if columns is None:
            affinity = self._affinity_np
            columns = self._columns = (
                self._status_np.tolist(), self._final_np.tolist(), self._binpack_np.tolist(), self._anti_np.tolist(),
                None if affinity is None else affinity.tolist(),
            )
        return columns

    # -- what a scan leaves in the metric -----------------------------------------------------

    def final_of(self, fi: int) -> float:
        """A ranked node's final score."""
        return self._lists()[1][fi]

    def node_scores(self, fi: int) -> dict[str, float]:
        """The per-scorer map of a ranked node (as ChunkScores.node_scores without spread or policy)."""
        _, _, binpack, anti, affinity = self._lists()
        return {
            SCORER_BINPACK: binpack[fi],
            SCORER_ANTI_AFFINITY: anti[fi],
            SCORER_PENALTY: 0.0,
            SCORER_AFFINITY: 0.0 if affinity is None else affinity[fi],
        }

    def fill_metric(self, metric: AllocMetric, result: ScanResult, first_chunk: int, table: NodeTable) -> None:
        """Nomad: FilterNode / ExhaustedNode of the plan-dependent stages, then PopulateScoreMetaData
        (packed: the top nodes' IDs and scores; the metric builds the NodeScoreMeta list when read)."""
        if result.dry_from >= 0 and len(self.positions) >= DRY_TALLY_MIN:
            self._dry_metrics(metric, result.dry_from, first_chunk, table)
        elif result.dry_from >= 0:
            size, fi0 = len(self.positions), result.dry_from
            self._miss_metrics(metric, [(j, (fi0 + j) % size) for j in range(size)], first_chunk, table)
        elif result.misses:
            self._miss_metrics(metric, result.misses, first_chunk, table)
        pulled = result.pulled
        if not pulled:
            return
        _, final, binpack, anti, affinity = self._lists()
        scores = final[pulled.start : pulled.stop] if isinstance(pulled, range) else [final[fi] for fi in pulled]
        # best first, ties in scan order (a stable sort keeps equal keys in order, reversed or not)
        top = sorted(range(len(pulled)), key=scores.__getitem__, reverse=True)[:MAX_RETAINED_NODE_SCORES]
        nodes, row_list = table.nodes, self.row_list
        node_ids: list[str] = []
        values: list[float] = []
        for i in top:
            fi = pulled[i]
            node_ids.append(nodes[row_list[fi]].id)
            if affinity is None:
                values += (scores[i], binpack[fi], anti[fi])
            else:
                values += (scores[i], binpack[fi], anti[fi], affinity[fi])
        metric.set_top_scores(_SCORES if affinity is None else _SCORES_AFFINITY, node_ids, values)

    def _miss_metrics(self, metric: AllocMetric, misses: list[tuple[int, int]], first_chunk: int, table: NodeTable) -> None:
        """The misses tallied as the chunked scan does: per chunk (sizes first_chunk, then x4),
        filtered then exhausted, reasons in code order (dimensions, distinct_hosts, then the
        network errors as first met) and classes in the table's order."""
        rank: dict[str, int] = {d: i for i, d in enumerate(DIMENSIONS)}
        rank["distinct_hosts"] = len(rank)
        labels, fis = self.reasons.labels, [fi for _, fi in misses]
        label = dict(zip(fis, [labels[code] for code in self._code_np[fis].tolist()], strict=True))  # each miss's reason
        for _, fi in misses:
            rank.setdefault(label[fi], len(rank))
        chunk_start, chunk_size = 0, max(first_chunk, 1)
        group: list[int] = []
        for j, fi in misses:
            while j >= chunk_start + chunk_size:
                self._tally_chunk(metric, group, rank, table, label)
                group = []
                chunk_start, chunk_size = chunk_start + chunk_size, chunk_size * 4
            group.append(fi)
        self._tally_chunk(metric, group, rank, table, label)

    def _run_miss_metrics(
        self, metrics: list[AllocMetric], owner: np.ndarray, visit: np.ndarray, fis: np.ndarray, codes: np.ndarray,
        exhausted: np.ndarray, first_chunk: int, table: NodeTable,
    ) -> None:
        """`_miss_metrics` for the misses of every select of a run at once (`owner`: each miss's
        select, `visit`: its index in that select's walk, then its feasible index, reason code
        and whether it was exhausted), counted per (select, chunk, filtered or exhausted) with
        array ops. Reasons beyond the dimensions and distinct_hosts (ranked as first met) are
        left to `_miss_metrics` (which reads the cached verdicts), one select at a time."""
        ranks = self._fixed_rank()[codes]
        if np.count_nonzero(ranks < 0):
            for j in np.unique(owner).tolist():
                mine = owner == j
                self._miss_metrics(metrics[j], list(zip(visit[mine].tolist(), fis[mine].tolist(), strict=True)),
                                   first_chunk, table)
            return
        bounds: list[int] = []  # the chunks' ends in visit order (sizes first_chunk, then x4 each)
        end, size, last = 0, max(first_chunk, 1), int(visit.max())
        while end <= last:
            end += size
            bounds.append(end)
            size *= 4
        chunks = len(bounds)
        chunk = np.searchsorted(np.array(bounds), visit, side="right")
        group = (owner * 2 + exhausted) * chunks + chunk  # (select, filtered | exhausted, chunk), in order
        # the metric's maps are created on first use: only those that count something; each map's
        # keys enter by chunk, then in code order (reasons and classes go to different maps), so
        # each (select, filtered | exhausted)'s counts are tallied apart, then added at once
        tallied: dict[str, int] = {}
        at = total = -1
        for g, r, n in _pair_counts(group, ranks, len(_FIXED_REASONS)):
            label = _FIXED_REASONS[r]
            if g // chunks != at:
                if at >= 0:
                    metrics[at >> 1].add_misses(bool(at & 1), tallied, total)
                at, tallied, total = g // chunks, {label: n}, n
            else:
                tallied[label] = tallied.get(label, 0) + n
                total += n
        if at >= 0:
            metrics[at >> 1].add_misses(bool(at & 1), tallied, total)
        if not any(table.codes("node_class")[1]):  # no node of a named class
            return
        class_labels, class_of = self._classes(table)
        classes = class_of[fis]
        named = classes >= 0
        if named.any():
            for g, c, n in _pair_counts(group[named], classes[named], len(class_labels)):
                at = g // chunks
                metric = metrics[at >> 1]
                by_class = metric.class_exhausted if at & 1 else metric.class_filtered
                label = class_labels[c]
                by_class[label] = by_class.get(label, 0) + n

    def _fixed_rank(self) -> np.ndarray:
        """Per reason code, its place in the fixed reason order (dimensions, distinct_hosts); -1 for the others."""
        labels = self.reasons.labels
        if len(self._rank_np) != len(labels):  # codes are only ever added
            self._rank_np = np.array([_FIXED_REASONS.index(x) if x in _FIXED_REASONS else -1 for x in labels],
                                     dtype=np.int64)
        return self._rank_np

    def _classes(self, table: NodeTable) -> tuple[list[str], np.ndarray]:
        """The table's node class labels and, per feasible node, its class code (-1: no class).
        The labels are sorted, so the codes are in label order, as `_merge` sorts."""
        class_codes, class_labels = table.codes("node_class")
        if self._class_key is not class_codes:
            self._class_key = class_codes
            of = class_codes[self.rows].astype(np.int64)
            if "" in class_labels:
                of[of == class_labels.index("")] = -1
            self._class_of = of
        return class_labels, self._class_of

    def _dry_metrics(self, metric: AllocMetric, fi0: int, first_chunk: int, table: NodeTable) -> None:
        """`_miss_metrics` when every feasible node, visited from `fi0` on, missed: the same
        tallies per chunk of the chunked scan, counted with one bincount per metric map."""
        size = len(self.positions)
        codes = self._code_np  # every node missed: each one's code was stored
        # counted per feasible index (the counts do not depend on the order): each node's chunk
        # is that of its visit index, (fi - fi0) % size
        chunks, group = _chunk_groups(table, size, first_chunk)
        group = _rotated(group, size - fi0 if fi0 else 0) + (self._status_np == EXHAUSTED)  # (chunk, filtered|exhausted)
        ranks = self._fixed_rank()[codes]
        ranked: list[str] = _FIXED_REASONS  # then the others as first met, in visit order
        if ranks.min() < 0:
            labels = self.reasons.labels
            ranked = list(_FIXED_REASONS)
            remap = np.zeros(len(labels), dtype=np.int64)
            for code in dict.fromkeys(_rotated(codes, fi0).tolist()):
                if labels[code] not in ranked:
                    ranked.append(labels[code])
                remap[code] = ranked.index(labels[code])
            ranks = remap[codes]
        class_codes, class_labels = table.codes("node_class")
        reasons = _bincount2(group, 2 * chunks, ranks, len(ranked))
        classes = None  # (None: no node of a named class, no class map counts anything)
        if any(class_labels):
            classes = _bincount2(group, 2 * chunks, class_codes[self.rows], len(class_labels))
        for g in range(2 * chunks):
            total = sum(reasons[g])
            if not total:
                continue
            if g % 2 == 0:  # the metric's maps are created on first use: only those that count something
                _add_row(metric.constraint_filtered, reasons[g], ranked, skip_empty=False)
                if classes is not None and _counts_a_class(classes[g], class_labels):
                    _add_row(metric.class_filtered, classes[g], class_labels, skip_empty=True)
                metric.nodes_filtered += total
            else:
                _add_row(metric.dimension_exhausted, reasons[g], ranked, skip_empty=False)
                if classes is not None and _counts_a_class(classes[g], class_labels):
                    _add_row(metric.class_exhausted, classes[g], class_labels, skip_empty=True)
                metric.nodes_exhausted += total

    def _tally_chunk(
        self, metric: AllocMetric, fis: list[int], rank: dict[str, int], table: NodeTable, label: dict[int, str]
    ) -> None:
        status, row_list, nodes = self._lists()[0], self.row_list, table.nodes
        reasons: tuple[dict[str, int], dict[str, int]] = ({}, {})  # filtered, exhausted
        classes: tuple[dict[str, int], dict[str, int]] = ({}, {})
        for fi in fis:
            k = 0 if status[fi] == FILTERED else 1
            tallied, key = reasons[k], label[fi]
            tallied[key] = tallied.get(key, 0) + 1
            node_class = nodes[row_list[fi]].node_class
            if node_class:
                tallied = classes[k]
                tallied[node_class] = tallied.get(node_class, 0) + 1
        filtered, exhausted = reasons
        if filtered:  # the metric's maps are created on first use: only those that count something
            _merge(metric.constraint_filtered, filtered, rank.__getitem__)
            if classes[0]:
                _merge(metric.class_filtered, classes[0], None)
            metric.nodes_filtered += sum(filtered.values())
        if exhausted:
            _merge(metric.dimension_exhausted, exhausted, rank.__getitem__)
            if classes[1]:
                _merge(metric.class_exhausted, classes[1], None)
            metric.nodes_exhausted += sum(exhausted.values())


def _chunk_groups(table: NodeTable, size: int, first_chunk: int) -> tuple[int, np.ndarray]:
    """The chunks of the chunked scan over `size` nodes (sizes first_chunk, then x4 each) and,
    per visit index, twice its chunk's index (read-only; kept with the table per size and first chunk)."""
    kept = cast("dict[tuple[int, int], tuple[int, np.ndarray]]", table.derived.setdefault("chunk_groups", {}))
    found = kept.get((size, first_chunk))
    if found is None:
        sizes: list[int] = []
        step = max(first_chunk, 1)
        while sum(sizes) < size:
            sizes.append(min(step, size - sum(sizes)))
            step *= 4
        groups = np.repeat(np.arange(len(sizes) * 2, step=2), sizes)
        groups.flags.writeable = False
        found = kept[(size, first_chunk)] = (len(sizes), groups)
    return found


def _rotated(column: np.ndarray, start: int) -> np.ndarray:
    """`column` from index `start` on, then its first `start` items."""
    return np.concatenate((column[start:], column[:start])) if start else column


def _put(target: list[Any], at: np.ndarray, values: list[Any]) -> None:
    """`target[at[i]] = values[i]` for each i (one slice assignment when `at` is a contiguous range)."""
    index = at.tolist()
    if index and index[-1] - index[0] + 1 == len(index) and index == list(range(index[0], index[-1] + 1)):
        target[index[0] : index[-1] + 1] = values
    else:
        deque(map(target.__setitem__, index, values), maxlen=0)


def _pair_counts(group: np.ndarray, codes: np.ndarray, width: int) -> zip[tuple[int, int, int]]:
    """(group, code, how often) for each pair present, in group then code order."""
    if not len(group):
        return zip()
    keys = group * width + codes
    if int(keys.max()) < PAIR_BINCOUNT_MAX:  # counted without sorting
        tally = np.bincount(keys)
        pairs = tally.nonzero()[0]
        counts = tally[pairs]
    else:
        pairs, counts = np.unique(keys, return_counts=True)
    return zip((pairs // width).tolist(), (pairs % width).tolist(), counts.tolist(), strict=True)


def _bincount2(group: np.ndarray, groups: int, codes: np.ndarray, width: int) -> list[list[int]]:
    """Per group (0 .. groups - 1), how often each code (0 .. width - 1) occurs."""
    return np.bincount(group * width + codes, minlength=groups * width).reshape(groups, width).tolist()


def _counts_a_class(row: list[int], labels: list[str]) -> bool:
    """Whether a row of class counts counts a node of a named class (the empty class is left out)."""
    return any(n and labels[i] != "" for i, n in enumerate(row))


def _add_row(counts: dict[str, int], row: list[int], labels: list[str], skip_empty: bool) -> None:
    """Add the non-zero counts of a row to a metric map, in label order."""
    for i, n in enumerate(row):
        if n and not (skip_empty and labels[i] == ""):
            counts[labels[i]] = counts.get(labels[i], 0) + n


def _merge(counts: dict[str, int], tallied: dict[str, int], order: Callable[[str], int] | None) -> None:
    """Add tallied counts, new keys entering in `order` (default: sorted)."""
    for key in sorted(tallied, key=order):
        counts[key] = counts.get(key, 0) + tallied[key]
