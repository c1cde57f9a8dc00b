"""A task group's inputs to the placement stages, and those stages over a chunk of nodes.

Nomad: scheduler/feasible/stack.go, the SetTaskGroup calls of GenericStack.Select: the group's
static feasibility, its ask and ports, distinct_hosts, node affinities; and, built once per group
name and job (Nomad keeps them in the iterators), its distinct_property and spread sets. Then the
plan-dependent stages in Nomad's order (distinct_hosts, distinct_property, BinPack's ports and
AllocsFit) as vector ops over a chunk of statically feasible rows. The stages read the stack
through `ScoringStack` (the stacks of stack.py provide it): this module never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.bandwidth import NodeAllocs, task_network_failures
from sim.scheduler.feasible.checks import FeasibilityCache, StaticFeasibility
from sim.scheduler.feasible.constraints import distinct_hosts_enabled
from sim.scheduler.feasible.devices import GroupAsk, assign_devices
from sim.scheduler.feasible.ports import PortAsk, port_ask
from sim.scheduler.feasible.proposed import ProposedState
from sim.scheduler.feasible.rank import (
    DIMENSIONS,
    ChunkScores,
    affinity_scores,
    exhausted_dimension,
    group_affinities,
    group_ask,
)
from sim.scheduler.feasible.select import EXHAUSTED, FILTERED, RANKED, ChunkResult, ReasonCodes
from sim.scheduler.feasible.spread import (
    PropertySet,
    SpreadInfo,
    check_distinct_properties,
    distinct_property_sets,
    spread_infos,
    spread_sets,
)
from sim.state.node_table import NodeTable
from sim.structs.devices import group_devices
from sim.structs.job import Job, TaskGroup
from sim.structs.networks import TaskNetworkAsk, task_network_asks

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy

_NO_SCORES = np.zeros(0, dtype=np.float64)
_NO_SCORES.flags.writeable = False


class ScoringStack(Protocol):
    """The stack as the chunk stages see it: the plan's proposed state, the node table and its
    feasibility cache, the kind of stack, its custom policy, and its scorers."""

    @property
    def proposed(self) -> ProposedState:
        """The node usage, ports and job counts as the plan so far leaves them."""
        ...

    @property
    def cache(self) -> FeasibilityCache:
        """The node-derived memo the stack shares with the rest of the evaluation."""
        ...

    @property
    def table(self) -> NodeTable:
        """Every node, as numpy columns."""
        ...

    @property
    def system(self) -> bool:
        """Whether this is the system stack (BinPack scoring only)."""
        ...

    @property
    def policy(self) -> Policy | None:
        """The custom ranking policy, if any (sim.scheduler.policies)."""
        ...

    @property
    def node_allocs(self) -> NodeAllocs | None:
        """The state's allocs on a node, for the stages that need them (task networks)."""
        ...

    def score_chunk(
        self, g: GroupInputs, rows: npt.NDArray[np.int64], used_after: npt.NDArray[np.float64],
        cap: npt.NDArray[np.float64], lowest: float, penalty: npt.NDArray[np.int64],
        devices: npt.NDArray[np.float64] | None = None, preemption: npt.NDArray[np.float64] | None = None,
        placed: npt.NDArray[np.int64] | None = None,
    ) -> tuple[ChunkScores, npt.NDArray[np.float64] | None]:
        """The scores of rows that fit (their usage with the group placed, and capacity; `devices`:
        their device affinity scores, when the group's device asks have affinities; `preemption`: the
        preemption scores of options that evict; `placed`: allocs of the group the plan would
        have added to each row beyond the proposed state)."""
        ...


@dataclass(slots=True)
class GroupInputs:
    """A task group's inputs to the stages for the current job (Nomad: the Set*TaskGroup calls)."""

    tg: TaskGroup
    static: StaticFeasibility
    ask: npt.NDArray[np.float64]  # (cpu, memory, disk)
    ports: PortAsk
    count: int
    distinct_hosts: str  # "job", "group" or ""
    property_sets: list[PropertySet]
    affinity: npt.NDArray[np.float64] | None  # per node (table row)
    spread_sets: list[PropertySet]
    spread_infos: dict[str, SpreadInfo]
    devices: GroupAsk = ()  # (task, requested device) in task order; empty for most groups
    task_networks: tuple[TaskNetworkAsk, ...] = ()  # the tasks' network asks; empty for most groups


def group_inputs(cache: FeasibilityCache, table: NodeTable, job: Job, tg: TaskGroup, system: bool) -> GroupInputs:
    """The inputs that follow the TaskGroup object (property and spread sets left empty)."""
    distinct = "job" if distinct_hosts_enabled(job.constraints) else "group" if distinct_hosts_enabled(tg.constraints) else ""
    affinities = [] if system else group_affinities(job, tg)
    return GroupInputs(
        tg, cache.group(table, job, tg), np.array(group_ask(tg), dtype=np.float64), port_ask(tg),
        tg.count if tg.count is not None else 1, "" if system else distinct, [],
        affinity_scores(cache, table, affinities) if affinities else None, [], {}, group_devices(tg),
        task_network_asks(tg),
    )


def add_group_sets(
    g: GroupInputs, cache: FeasibilityCache, table: NodeTable, job: Job, job_property_sets: list[PropertySet],
    system: bool,
) -> int:
    """Fill the group's distinct_property sets (the job's, then its own) and, outside system
    jobs, its spread sets and info. Returns the spread weight the group adds to the stack's sum."""
    tg = g.tg
    g.property_sets = job_property_sets + distinct_property_sets(cache, table, tg.constraints, tg.name)
    if system:
        return 0
    g.spread_sets = spread_sets(cache, table, list(job.spreads) + list(tg.spreads), tg.name)
    g.spread_infos, added = spread_infos(job, tg)
    return added


# -- one chunk through the plan-dependent stages, in Nomad's order -----------------------------


def evaluate_chunk(
    stack: ScoringStack, g: GroupInputs, rows: npt.NDArray[np.int64], lowest: float,
    penalty: npt.NDArray[np.int64], reasons: ReasonCodes,
) -> ChunkResult:
    """The plan-dependent stages over a chunk of statically feasible rows, then the scores of
    those that rank (the stack's `score_chunk`).

    Nomad: the DistinctHostsIterator, DistinctPropertyIterator and BinPackIterator of
    scheduler/feasible/stack.go, for each node of the chunk."""
    if fit_only(g):
        return _evaluate_fit(stack, g, rows, lowest, penalty)
    proposed = stack.proposed
    chunk_rows = rows
    status = np.zeros(len(rows), dtype=np.int8)  # RANKED
    reason = np.full(len(rows), -1, dtype=np.int32)
    # DistinctHostsIterator: no other alloc of the job (job level) or group (group level).
    if g.distinct_hosts:
        counts = proposed.job_count if g.distinct_hosts == "job" else proposed.counts_of(g.tg.name)
        _mark(status, reason, np.flatnonzero(counts[rows] > 0), FILTERED, reasons.code("distinct_hosts"))
    # DistinctPropertyIterator: job-level property sets, then the group's.
    if g.property_sets:
        live = np.flatnonzero(status == RANKED)
        for j, text in check_distinct_properties(g.property_sets, rows[live]).items():
            _mark(status, reason, live[j], FILTERED, reasons.code(text))
    # BinPackIterator: ports first (NetworkIndex.AssignPorts), then AllocsFit.
    if g.ports:
        live = np.flatnonzero(status == RANKED)
        for j, error in proposed.ports.failures(rows[live], stack.cache.dynamic_span(stack.table), g.ports):
            _mark(status, reason, live[j], EXHAUSTED, reasons.code(f"network: {error}"))
    # then the task networks (NetworkIndex.AssignTaskNetwork, on nodes with NICs)
    if g.task_networks:
        live = np.flatnonzero(status == RANKED)
        for j, error in task_network_failures(stack.table, proposed, stack.node_allocs, rows[live], g.task_networks):
            _mark(status, reason, live[j], EXHAUSTED, reasons.code(f"network: {error}"))
    # then the devices (the device allocator), then AllocsFit
    device_scores = _assign_devices(stack, g, rows, status, reason, reasons) if g.devices else None
    used_after = proposed.used.take(rows, axis=0)  # (take: a row gather, 4x faster than fancy indexing)
    used_after += g.ask
    cap = stack.table.cap.take(rows, axis=0)
    dim = exhausted_dimension(used_after, cap)
    if dim is not None:
        hit = np.flatnonzero((dim >= 0) & (status == RANKED))
        _mark(status, reason, hit, EXHAUSTED, dim[hit])
    ranked = np.flatnonzero(status == RANKED)
    if len(ranked) < len(rows):
        rows, used_after, cap = rows[ranked], used_after.take(ranked, axis=0), cap.take(ranked, axis=0)
        device_scores = device_scores[ranked] if device_scores is not None else None
    scores, lowest_after = stack.score_chunk(g, rows, used_after, cap, lowest, penalty, device_scores)
    return ChunkResult(chunk_rows, status, reason, ranked, scores, lowest_after)


def _assign_devices(
    stack: ScoringStack, g: GroupInputs, rows: npt.NDArray[np.int64], status: npt.NDArray[np.int8],
    reason: npt.NDArray[np.int32], reasons: ReasonCodes,
) -> npt.NDArray[np.float64] | None:
    """Nomad: BinPackIterator's device allocator on each node still ranked: a node without an
    offer is exhausted ("devices: <error>"). Returns the device affinity score per row (None
    when no request has affinities: Nomad appends no score then)."""
    scores = np.zeros(len(rows), dtype=np.float64)
    nodes, proposed = stack.table.nodes, stack.proposed
    for j in np.flatnonzero(status == RANKED).tolist():
        row = int(rows[j])
        offer = assign_devices(nodes[row].resources.devices, proposed.held_devices(row), g.devices)
        if isinstance(offer, str):
            _mark(status, reason, j, EXHAUSTED, reasons.code(f"devices: {offer}"))
        elif offer.score is not None:
            scores[j] = offer.score
    return scores if any(req.affinities for _, req in g.devices) else None


def fit_only(g: GroupInputs) -> bool:
    """Whether AllocsFit is the group's only plan-dependent filter (`_evaluate_fit` decides)."""
    return not (g.distinct_hosts or g.property_sets or g.ports or g.devices or g.task_networks)


class Ahead:
    """A fit-only group's verdicts with more of its allocs placed (laps.Foresee): its verdict on
    a node depends on that node's usage and the group's count there alone."""

    def __init__(self, stack: ScoringStack, g: GroupInputs) -> None:
        if not fit_only(g) or stack.policy is not None or g.spread_sets:
            raise ValueError("only a fit-only group's verdicts can be foreseen")
        self.stack, self.g = stack, g

    def room(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """How many more of the group's asks fit on each row, by AllocsFit alone."""
        ask = self.g.ask
        asked = [j for j, x in enumerate(ask.tolist()) if x > 0]
        if not asked:
            return np.full(len(rows), np.iinfo(np.int64).max // 4, dtype=np.int64)
        free = self.stack.table.cap.take(rows, axis=0) - self.stack.proposed.used.take(rows, axis=0)
        fits = np.floor_divide(free[:, asked[0]], ask[asked[0]])
        for j in asked[1:]:  # (the least over the asked dimensions, column by column: few rows)
            np.minimum(fits, np.floor_divide(free[:, j], ask[j]), out=fits)
        room: npt.NDArray[np.int64] = np.maximum(fits, 0).astype(np.int64)
        return room

    def verdicts(self, rows: npt.NDArray[np.int64], placed: npt.NDArray[np.int64]) -> ChunkResult:
        """`evaluate_chunk` (no penalty, no spread) with `placed[i]` more allocs on rows[i]. The
        usages are whole numbers, so adding the asks at once gives the floats adding them one
        at a time would."""
        return _evaluate_fit(self.stack, self.g, rows, -1.0, _NO_PENALTY, placed)


def _evaluate_fit(
    stack: ScoringStack, g: GroupInputs, rows: npt.NDArray[np.int64], lowest: float, penalty: npt.NDArray[np.int64],
    placed: npt.NDArray[np.int64] | None = None,
) -> ChunkResult:
    """`evaluate_chunk` for a group whose only plan-dependent filter is AllocsFit (the same
    verdicts, codes and scores, with fewer array passes; a chunk where nothing fits is not scored).
    `placed`: as `evaluate_ahead`."""
    used_after = stack.proposed.used.take(rows, axis=0)
    if placed is not None:
        used_after += g.ask * placed[:, None].astype(np.float64)
    used_after += g.ask
    cap = stack.table.cap.take(rows, axis=0)
    over = over_mask(used_after, cap)
    if not np.count_nonzero(over):
        status = np.zeros(len(rows), dtype=np.int8)  # RANKED
        reason = np.full(len(rows), -1, dtype=np.int32)
        scores, lowest_after = stack.score_chunk(g, rows, used_after, cap, lowest, penalty, placed=placed)
        return ChunkResult(rows, status, reason, np.arange(len(rows)), scores, lowest_after)
    status = _STATUS_OF_MASK.take(over)
    reason = _FIRST_OF_MASK.take(over)  # the first dimension over capacity
    ranked = (over == 0).nonzero()[0]
    if len(ranked) == 0 and stack.policy is None and not g.spread_sets:
        return ChunkResult(rows, status, reason, ranked, _no_scores(g, penalty, stack.system), None)
    scores, lowest_after = stack.score_chunk(g, rows[ranked], used_after.take(ranked, axis=0), cap.take(ranked, axis=0),
                                             lowest, penalty, placed=placed[ranked] if placed is not None else None)
    return ChunkResult(rows, status, reason, ranked, scores, lowest_after)


_NO_PENALTY = np.zeros(0, dtype=np.int64)


# per row, one bit per dimension over capacity (`over_mask`); per such mask, the row's status
# and reason code (the first dimension over capacity, -1 when none)
_DIMENSION_BITS = (1 << np.arange(len(DIMENSIONS))).astype(np.uint8)
_STATUS_OF_MASK = np.array([RANKED] + [EXHAUSTED] * ((1 << len(DIMENSIONS)) - 1), dtype=np.int8)
_FIRST_OF_MASK = np.array([-1] + [(m & -m).bit_length() - 1 for m in range(1, 1 << len(DIMENSIONS))], dtype=np.int32)


def over_mask(used_after: npt.NDArray[np.float64], cap: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Per row, a bit per dimension (in DIMENSIONS' order) whose usage exceeds the capacity: one
    product rather than a reduction along the rows (on short chunks, numpy's reductions along
    an axis cost more than their work)."""
    mask: npt.NDArray[np.uint8] = (used_after > cap).view(np.uint8) @ _DIMENSION_BITS  # (uint8 @ uint8: no cast)
    return mask


def _no_scores(g: GroupInputs, penalty: npt.NDArray[np.int64], binpack_only: bool) -> ChunkScores:
    """What the stack's `score_chunk` gives for no rows (without spreads or a policy): empty columns,
    None for the scorers that append nothing."""
    empty = _NO_SCORES
    scores = ChunkScores(empty, None, empty if len(penalty) else None, empty if g.affinity is not None else None, None, empty)
    scores.binpack_only = binpack_only
    return scores


def _mark(
    status: npt.NDArray[np.int8], reason: npt.NDArray[np.int32], idx: npt.NDArray[np.intp] | int, value: int,
    code: npt.NDArray[np.intp] | int,
) -> None:
    status[idx] = value
    reason[idx] = code
