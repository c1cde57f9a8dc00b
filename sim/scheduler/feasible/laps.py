"""Selects decided across laps of the shuffled order, walking only the few options of a lap.

On a nearly full cluster a lap of the order holds a handful of options (nodes that rank with a
score > 0); every other node is filtered or exhausted, and stays so for the whole run: a node's
verdict changes only when something is placed on it, and a run places only on options. So a run
of selects is decided by walking the options alone, lap after lap, with Nomad's rules: each
select takes the next `limit` options from where the last one stopped (MaxScore keeps the first
of the best), and a select that goes once round the lap with fewer takes those (the source ran
dry: it handed out every node, and the next select starts where this one did). What an option
becomes after placements on it is foreseen in bulk (`Foresee`: its verdict with `j` more allocs
of the group); the walk stops before a select that would meet a node scoring <= 0 (the limit
iterator's skips) or that finds no option at all, and leaves those to the one-select path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.scheduler.feasible.select import FILTERED, RANKED, ChunkResult

Foresee = Callable[[np.ndarray, np.ndarray], ChunkResult]
"""Rows and, per row, how many more allocs of the group the plan places there: their verdicts."""

PLAIN, MISS, ODD = 0, 1, 2  # an option (ranked, > 0); filtered or exhausted; ranked <= 0 or NaN


@dataclass(slots=True)
class _Option:
    """One option of the lap and its verdicts with 0, 1, ... more allocs of the group on it."""

    row: int
    kind: list[int]
    scores: list[tuple[float, ...]]  # final, binpack, anti-affinity[, affinity] (PLAIN and ODD verdicts)
    miss: list[tuple[int, bool]]  # (reason code, exhausted) (MISS verdicts)
    placed: int = 0


@dataclass(slots=True)
class LapSelects:
    """What the walk decided, per select: the chosen row and its scores, the last node handed
    out (an unrolled feasible index: `first` + visits), the top options' rows and score rows,
    whether the source ran dry; and the options that missed on the way (select, visit, code,
    exhausted)."""

    first: int
    rows: list[int] = field(default_factory=list)
    finals: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    dry: list[bool] = field(default_factory=list)
    top_rows: list[list[int]] = field(default_factory=list)
    top_values: list[list[float]] = field(default_factory=list)
    misses: list[tuple[int, int, int, bool]] = field(default_factory=list)


def walk_laps(
    options: list[int], rows: list[int], first_scores: list[tuple[float, ...]], size: int, first: int, limit: int,
    most: int, foresee: Foresee, top: int,
) -> LapSelects:
    """Up to `most` selects from unrolled feasible index `first` over a lap of `size` feasible
    nodes whose options are at `options` (feasible indices, ascending from `first` on, each
    less than `first + size`), on `rows`, scoring `first_scores` now."""
    opts = [_Option(row, [PLAIN], [s], [(0, False)]) for row, s in zip(rows, first_scores, strict=True)]
    out = LapSelects(first)
    m, i, lap = len(opts), 0, 0
    cur, depth = first, 1
    while len(out.rows) < most:
        start, chosen, misses = cur, [], []
        while True:
            u = options[i] + lap
            if u >= start + size:  # once round the lap: the source ran dry
                break
            option = opts[i]
            j = option.placed
            if j == len(option.kind):
                depth = max(j + 1, min(4 * depth, most + 1))
                _foresee(opts, depth, foresee)
            kind = option.kind[j]
            if kind == ODD:
                return out
            if kind == PLAIN:
                chosen.append(option)
            else:
                code, exhausted = option.miss[j]
                misses.append((len(out.rows), u - start, code, exhausted))
            i += 1
            if i == m:
                i, lap = 0, lap + size
            if len(chosen) == limit:
                break
        if not chosen:  # no option left in the lap: the one-select path fails it
            return out
        dry = len(chosen) < limit
        end = start + size - 1 if dry else u
        scored = [option.scores[option.placed] for option in chosen]
        best = max(range(len(chosen)), key=lambda t: scored[t][0])  # the first of the best
        ranked = sorted(range(len(chosen)), key=lambda t: scored[t][0], reverse=True)[:top]  # ties in scan order
        winner = chosen[best]
        out.rows.append(winner.row)
        out.finals.append(scored[best][0])
        out.ends.append(end)
        out.dry.append(dry)
        out.top_rows.append([chosen[t].row for t in ranked])
        out.top_values.append([v for t in ranked for v in scored[t]])
        out.misses += misses
        winner.placed += 1
        cur = end + 1
    return out


def _foresee(opts: list[_Option], depth: int, foresee: Foresee) -> None:
    """Each option's verdicts up to `depth` - 1 more allocs, as far as it stays an option."""
    want = [(k, j) for k, o in enumerate(opts) if o.kind[-1] == PLAIN for j in range(len(o.kind), depth)]
    owner = [k for k, _ in want]
    chunk = foresee(np.array([opts[k].row for k in owner], dtype=np.int64), np.array([j for _, j in want], dtype=np.int64))
    status, reason = chunk.status.tolist(), chunk.reason.tolist()
    s = chunk.scores
    columns = [s.final.tolist(), s.binpack.tolist(), [0.0] * len(s.final) if s.anti is None else s.anti.tolist()]
    if s.affinity is not None:
        columns.append(s.affinity.tolist())
    scored = dict(zip(chunk.ranked.tolist(), zip(*columns, strict=True), strict=True))
    for at, k in enumerate(owner):
        option = opts[k]
        if option.kind[-1] != PLAIN:  # not an option from an earlier depth on: never placed on again
            continue
        if status[at] == RANKED:
            values = scored[at]
            option.kind.append(PLAIN if values[0] > 0.0 else ODD)
            option.scores.append(values)
            option.miss.append((0, False))
        else:
            option.kind.append(MISS)
            option.scores.append(())
            option.miss.append((reason[at], status[at] != FILTERED))
