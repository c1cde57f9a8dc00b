"""Property sets, distinct_property and spread scoring, as count arrays over an attribute's values.

Nomad keeps, per attribute, how many of the job's (or group's) allocs use each value: existing
(non-terminal in state), proposed (placed by this plan) and cleared (stopped by this plan). The
distinct_property iterator filters nodes whose value is used too often; the spread iterator
scores nodes by how far their value is from its desired share. Here the counts are numpy arrays
indexed by value code, so a whole chunk of candidate nodes is checked or scored at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sim.scheduler.feasible.checks import FeasibilityCache
from sim.scheduler.feasible.constraints import CONSTRAINT_DISTINCT_PROPERTY
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.job import Constraint, Job, Spread, TaskGroup

IMPLICIT_TARGET = "*"


def _go_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class PropertySet:
    """Nomad: scheduler/feasible/propertyset.go, propertySet.

    `row_code[row]` is the node's (targeted) value code, -1 when the node lacks the attribute.
    With spread targets, values that are not targets count together under `*`.
    """

    def __init__(
        self, cache: FeasibilityCache, table: NodeTable, attribute: str, group: str = "",
        targets: tuple[str, ...] = (), allowed: int = 0, error: str = "",
    ) -> None:
        self.attribute, self.group, self.allowed, self.error = attribute, group, allowed, error
        self.table = table
        codes, labels = cache.factor(table, attribute)
        targeted: dict[str, int] = {}
        remap = np.full(len(labels), -1, dtype=np.int64)
        for i, label in enumerate(labels):
            if label is not None:
                key = label if not targets or label in targets else IMPLICIT_TARGET
                remap[i] = targeted.setdefault(key, len(targeted))
        self.labels = list(targeted)
        self.row_code = remap[codes]
        self.existing = np.zeros(len(self.labels), dtype=np.int64)
        self.proposed = np.zeros(len(self.labels), dtype=np.int64)
        self.cleared = np.zeros(len(self.labels), dtype=np.int64)

    def _code(self, alloc: Allocation) -> int:
        if self.group and alloc.task_group != self.group:
            return -1
        row = self.table.index_of.get(alloc.node_id)
        return -1 if row is None else int(self.row_code[row])

    def populate(self, existing: Iterable[Allocation], placed: Iterable[Allocation], stopped: Iterable[Allocation]) -> None:
        """Nomad: populateExisting + PopulateProposed from the state's and the plan's allocs."""
        for alloc in existing:
            self.track(alloc, self.existing, 1, skip_terminal=True)
        for alloc in placed:
            self.track(alloc, self.proposed, 1, skip_terminal=True)
        for alloc in stopped:
            self.track(alloc, self.cleared, 1, skip_terminal=False)

    def track(self, alloc: Allocation, counts: np.ndarray, delta: int, skip_terminal: bool) -> None:
        """Add (or remove) one alloc's value to a count array, when it belongs to this set."""
        if skip_terminal and alloc.terminal():
            return
        code = self._code(alloc)
        if code >= 0:
            counts[code] += delta

    def combined(self) -> tuple[np.ndarray, np.ndarray]:
        """Nomad: GetCombinedUseMap as (count per value, whether the value is a key of the map)."""
        used = self.existing + self.proposed
        present = used > 0
        cleared = self.cleared.copy()
        cleared[(self.proposed > 0) & (cleared > 1)] -= 1  # PopulateProposed's re-use discount
        return np.where(present, np.maximum(used - cleared, 0), 0), present


def distinct_property_sets(
    cache: FeasibilityCache, table: NodeTable, constraints: list[Constraint], group: str
) -> list[PropertySet]:
    """Nomad: DistinctPropertyIterator.SetJob / SetTaskGroup: one set per distinct_property."""
    out = []
    for c in constraints:
        if c.operand != CONSTRAINT_DISTINCT_PROPERTY:
            continue
        allowed, error = 1, ""
        if c.r_target:
            if c.r_target.isascii() and c.r_target.isdigit():
                allowed = int(c.r_target)
            else:
                error = (f"failed to convert RTarget {_go_quote(c.r_target)} to uint64: strconv.ParseUint: "
                         f"parsing {_go_quote(c.r_target)}: invalid syntax")
        out.append(PropertySet(cache, table, c.l_target, group, allowed=allowed, error=error))
    return out


def check_distinct_properties(psets: list[PropertySet], rows: np.ndarray) -> dict[int, str]:
    """Nomad: SatisfiesDistinctProperties over a chunk: {index in rows: filter reason} of failures."""
    failed: dict[int, str] = {}
    for ps in psets:
        if ps.error:
            failed.update({j: ps.error for j in range(len(rows)) if j not in failed})
            continue
        counts, _ = ps.combined()
        codes = ps.row_code[rows]
        used = np.where(codes >= 0, counts[np.maximum(codes, 0)] if len(counts) else 0, 0)
        for j in np.flatnonzero((codes < 0) | (used >= ps.allowed)).tolist():
            if j not in failed:
                failed[j] = _distinct_reason(ps, int(codes[j]), int(used[j]))
    return failed


def _distinct_reason(ps: PropertySet, code: int, used: int) -> str:
    if code < 0:
        return f"missing property {_go_quote(ps.attribute)}"
    return f"distinct_property: {ps.attribute}={ps.labels[code]} used by {used} allocs"


# -- spread -------------------------------------------------------------------------------------


@dataclass(slots=True)
class SpreadInfo:
    """Nomad: spreadInfo: a spread's weight and desired alloc count per target value."""

    weight: int
    desired: dict[str, float]


def spread_infos(job: Job, tg: TaskGroup) -> tuple[dict[str, SpreadInfo], int]:
    """Nomad: SpreadIterator.computeSpreadInfo: per attribute info, and the weights it adds."""
    infos: dict[str, SpreadInfo] = {}
    count = tg.count or 0
    added = 0
    for spread in list(tg.spreads) + list(job.spreads):
        desired = {t.value: t.percent / 100 * count for t in spread.spread_target}
        total = sum(desired.values())
        if 0 < total < count:
            desired[IMPLICIT_TARGET] = count - total
        infos[spread.attribute] = SpreadInfo(spread.weight, desired)
        added += spread.weight
    return infos, added


def spread_sets(cache: FeasibilityCache, table: NodeTable, spreads: list[Spread], group: str) -> list[PropertySet]:
    """Nomad: SpreadIterator.SetTaskGroup: one group-filtered property set per spread."""
    return [
        PropertySet(cache, table, s.attribute, group, targets=tuple(t.value for t in s.spread_target))
        for s in spreads
    ]


# Per option and property set, how its boost relates to Nomad's lowestSpreadBoost.
_UPDATES_LOWEST, _USES_LOWEST, _OTHER = 0, 1, 2


def spread_scores(
    psets: list[PropertySet], infos: dict[str, SpreadInfo], sum_weights: int, rows: np.ndarray, lowest: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nomad: SpreadIterator.Next over a chunk, in order: total spread score per option, and the
    running lowestSpreadBoost after each option (desired-0 targets score that running lowest)."""
    totals = np.zeros(len(rows))
    parts = [_pset_boosts(ps, infos.get(ps.attribute), sum_weights, rows) for ps in psets]
    if any((kind == _USES_LOWEST).any() for _, kind in parts):
        return _sequential(parts, len(rows), lowest)
    candidates = np.full(len(rows), np.inf)
    for boost, kind in parts:
        totals += boost
        candidates = np.minimum(candidates, np.where(kind == _UPDATES_LOWEST, boost, np.inf))
    return totals, np.minimum(np.minimum.accumulate(candidates), lowest)


def _sequential(parts: list[tuple[np.ndarray, np.ndarray]], m: int, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    totals, after = np.zeros(m), np.zeros(m)
    for j in range(m):
        for boost, kind in parts:
            value = lowest if kind[j] == _USES_LOWEST else float(boost[j])
            totals[j] += value
            if kind[j] == _UPDATES_LOWEST and value < lowest:
                lowest = value
        after[j] = lowest
    return totals, after


def _pset_boosts(ps: PropertySet, info: SpreadInfo | None, sum_weights: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = len(rows)
    kind = np.full(m, _OTHER, dtype=np.int8)
    if info is None:
        return np.zeros(m), kind
    codes = ps.row_code[rows]
    missing = codes < 0
    counts, present = ps.combined()
    safe = np.maximum(codes, 0)
    current = counts[safe] if len(counts) else np.zeros(m, dtype=np.int64)
    if not info.desired:
        boost = np.where(missing, -1.0, _even_boost(ps, counts, present, current))
        return boost, kind
    fallback = info.desired.get(IMPLICIT_TARGET, np.nan)
    desired_by_code = np.array([info.desired.get(label, fallback) for label in ps.labels] or [np.nan])
    desired = desired_by_code[np.minimum(safe, len(desired_by_code) - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        boost = ((desired - (current + 1)) / desired) * (info.weight / sum_weights)
    no_target = missing | np.isnan(desired)
    kind[~no_target] = np.where(desired[~no_target] == 0, _USES_LOWEST, _UPDATES_LOWEST)
    return np.where(no_target, -1.0, boost), kind


def _even_boost(ps: PropertySet, counts: np.ndarray, present: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Nomad: evenSpreadScoreBoost, min/max taken with Go's loop over the values (sorted here)."""
    if not present.any():
        return np.zeros(len(current))
    lo = hi = 0
    for i in sorted(np.flatnonzero(present).tolist(), key=ps.labels.__getitem__):
        count = int(counts[i])
        lo = count if lo == 0 or count < lo else lo
        hi = count if hi == 0 or count > hi else hi
    if lo == 0:
        return np.where(current != lo, -1.0, np.where(lo == hi, -1.0, 1.0))
    equal = -1.0 if lo == hi else (hi - lo) / lo
    return np.where(current != lo, (lo - current) / lo, equal)
