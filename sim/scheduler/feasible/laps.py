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

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sim.scheduler.feasible.select import FILTERED, ChunkResult


class Foresee(Protocol):
    """A fit-only group's verdicts on nodes with more of its allocs placed."""

    def room(self, rows: np.ndarray) -> np.ndarray:
        """How many more allocs of the group fit on each row (a bound: `verdicts` decides)."""
        ...

    def verdicts(self, rows: np.ndarray, placed: np.ndarray) -> ChunkResult:
        """The plan-dependent stages on each row with `placed[i]` more allocs of the group there."""
        ...

PLAIN, MISS, ODD = 0, 1, 2  # an option (ranked, > 0); filtered or exhausted; ranked <= 0 or NaN


@dataclass(slots=True)
class LapSelects:
    """What the walk decided, per select: the chosen row and its final score, the last node
    handed out (an unrolled feasible index: past the lap's end in later laps), the top options'
    rows and score rows, whether the source ran dry; and the options that stopped fitting:
    (unrolled feasible index of the first visit that found it missing, reason code, exhausted).
    Such an option misses at every later visit too (nothing more is placed on it), so the walk
    drops it. `missed` holds those options' indices (in `misses`' order); `dead`: the walk
    stopped as no option was left, every one having missed."""

    rows: list[int] = field(default_factory=list)
    finals: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    dry: list[bool] = field(default_factory=list)
    top_rows: list[list[int]] = field(default_factory=list)
    top_values: list[list[float]] = field(default_factory=list)
    misses: list[tuple[int, int, bool]] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    dead: bool = False


def walk_laps(
    options: list[int], rows: list[int], first_scores: list[tuple[float, ...]], size: int, first: int, limit: int,
    most: int, foresee: Foresee, top: int,
) -> LapSelects:
    """Up to `most` selects from unrolled feasible index `first` over a lap of `size` feasible
    nodes whose options are at `options` (feasible indices, ascending from `first` on, each
    less than `first + size`), on `rows`, scoring `first_scores` now."""
    m = len(rows)
    room = foresee.room(np.array(rows, dtype=np.int64)).tolist()
    # per option, its verdicts with 0, 1, ... more allocs of the group on it: the kind, the
    # scores (final, binpack, anti-affinity[, affinity]) and, for a miss, the reason code and
    # whether it was exhausted
    kinds: list[list[int]] = [[PLAIN] for _ in range(m)]
    verdicts: list[list[tuple[float, ...]]] = [[s] for s in first_scores]
    why: tuple[list[list[int]], list[list[bool]]] = ([[-1] for _ in range(m)], [[False] for _ in range(m)])
    placed = [0] * m
    out = LapSelects()
    picked, finals, ends, dry_ones, top_rows, top_values = out.rows, out.finals, out.ends, out.dry, out.top_rows, out.top_values
    alive = list(range(m))  # the options that still fit, in lap order
    i = lap = n = 0
    cur, depth = first, max(4, 2 * most // m + 1)
    _foresee(rows, kinds, verdicts, why, [min(r, depth, most) + 1 for r in room], foresee)  # up to the first that misses
    while n < most:
        if len(alive) == 1 and limit > 1 and top >= 1:  # a lone option: each select takes it once, the source runs dry
            k = alive[0]
            j, kind_of = placed[k], kinds[k]
            ahead = kind_of[j : j + most - n]
            t = next((x for x, kind in enumerate(ahead) if kind != PLAIN), len(ahead))  # as long as it stays an option
            if t:  # (its next visit is in the lap from `cur`, as the one-at-a-time walk below keeps it)
                row, scored = rows[k], verdicts[k][j : j + t]
                picked += [row] * t
                finals += [v[0] for v in scored]
                ends += range(cur + size - 1, cur + t * size, size)
                dry_ones += [True] * t
                top_rows += [[row] for _ in range(t)]
                top_values += [list(v) for v in scored]
                placed[k] += t
                cur, lap, n = cur + t * size, lap + t * size, n + t
                continue
        start = cur
        stop = start + size
        chosen: list[int] = []
        got, u, alive_n = 0, start, len(alive)
        while alive_n:
            k = alive[i]
            u = options[k] + lap
            if u >= stop:  # once round the lap: the source ran dry
                break
            j, kind_of = placed[k], kinds[k]
            if j == len(kind_of):
                depth = max(j + 1, min(4 * depth, most + 1))
                _foresee(rows, kinds, verdicts, why, [depth] * m, foresee)
            kind = kind_of[j]
            if kind != PLAIN:
                if kind == ODD:
                    return out
                out.misses.append((u, why[0][k][j], why[1][k][j]))  # a MISS
                out.missed.append(k)
                del alive[i]
                alive_n -= 1
                if i == alive_n:
                    i, lap = 0, lap + size
                continue
            chosen.append(k)
            got += 1
            i += 1
            if i == alive_n:
                i, lap = 0, lap + size
            if got == limit:
                break
        if not got:  # no option left in the lap: the one-select path fails it
            out.dead = True  # (every option was visited in this lap and missed: none is alive)
            return out
        dry = got < limit
        if got == 1 and top >= 1:  # (the source ran dry on a lone option)
            winner = chosen[0]
            best = verdicts[winner][placed[winner]]
            ranked, values = [rows[winner]], list(best)
        elif got == 2 and top >= 2:  # the batch limit: the first of the best, ties in scan order
            a, b = chosen
            best, vb = verdicts[a][placed[a]], verdicts[b][placed[b]]
            if vb[0] > best[0]:
                a, b, best, vb = b, a, vb, best
            winner, ranked, values = a, [rows[a], rows[b]], [*best, *vb]
        else:
            scored = [verdicts[t][placed[t]] for t in chosen]
            scores = [v[0] for v in scored]
            order = sorted(range(len(chosen)), key=scores.__getitem__, reverse=True)[:top]  # ties in scan order
            w = scores.index(max(scores))  # the first of the best
            winner, best = chosen[w], scored[w]
            ranked, values = [rows[chosen[t]] for t in order], [v for t in order for v in scored[t]]
        end = start + size - 1 if dry else u
        picked.append(rows[winner])
        finals.append(best[0])
        ends.append(end)
        dry_ones.append(dry)
        top_rows.append(ranked)
        top_values.append(values)
        placed[winner] += 1
        cur = end + 1
        n += 1
    return out


def _foresee(
    rows: list[int], kinds: list[list[int]], verdicts: list[list[tuple[float, ...]]],
    why: tuple[list[list[int]], list[list[bool]]], depths: list[int], foresee: Foresee,
) -> None:
    """Each option's verdicts up to `depths[k]` - 1 more allocs, as long as it stays an option (the
    verdicts past its first miss or odd one are kept too: the walk never reads them)."""
    want = [(k, len(kind_of)) for k, kind_of in enumerate(kinds) if kind_of[-1] == PLAIN and len(kind_of) < depths[k]]
    if not want:
        return
    spans = [depths[k] - j for k, j in want]
    owner_rows: list[int] = []
    placed: list[int] = []
    for (k, j), span in zip(want, spans, strict=True):
        owner_rows += [rows[k]] * span
        placed += range(j, j + span)
    chunk = foresee.verdicts(np.array(owner_rows, dtype=np.int64), np.array(placed, dtype=np.int64))
    ranked, s = chunk.ranked, chunk.scores
    parts = [s.final, s.binpack, s.anti] + ([s.affinity] if s.affinity is not None else [])
    scored = [(0.0,) * len(parts)] * len(placed)  # per row; 0.0 where none (the cache's convention)
    if not len(ranked):  # every one missed
        kind = [MISS] * len(placed)
    else:
        kind_np = np.full(len(placed), MISS)
        kind_np[ranked] = np.where(s.final > 0.0, PLAIN, ODD)  # (a NaN score is odd)
        kind = kind_np.tolist()
        n = len(ranked)
        columns = [[0.0] * n if column is None else column.tolist() for column in parts]
        if n == len(placed):
            scored = list(zip(*columns, strict=True))
        else:
            deque(map(scored.__setitem__, ranked.tolist(), zip(*columns, strict=True)), maxlen=0)
    codes, exhausted = chunk.reason.tolist(), (chunk.status != FILTERED).tolist()
    why_codes, why_exhausted = why
    at = 0
    for (k, _), span in zip(want, spans, strict=True):
        end = at + span
        kinds[k] += kind[at:end]
        verdicts[k] += scored[at:end]
        why_codes[k] += codes[at:end]
        why_exhausted[k] += exhausted[at:end]
        at = end
