"""The placement stacks: Nomad's iterator chains in Nomad's order, evaluated over numpy columns.

Nomad: scheduler/feasible/stack.go. The generic stack visits the candidate nodes in a shuffled
order from where its previous select stopped (the StaticIterator keeps its offset and wraps).
Static feasibility is a cached mask per group; the scan then takes chunks of the statically
feasible nodes and, per chunk, applies the plan-dependent stages in Nomad's order as vector ops
(stack_group.evaluate_chunk, which reads the stack as a `ScoringStack`), yielding ranked options to the limit iterator one by one. Only the nodes the limit iterator
actually pulled count in the metrics, exactly as Nomad's lazy chain would have counted them.
When every stage's verdict on a node depends on that node alone, the generic stack keeps the
verdicts between selects instead (scan_cache.py) and walks them with the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.bandwidth import NodeAllocs
from sim.scheduler.feasible.checks import FILTER_CLASS_INELIGIBLE, FeasibilityCache
from sim.scheduler.feasible.devices import assign_devices
from sim.scheduler.feasible.laps import Foresee
from sim.scheduler.feasible.ports import assign_ports
from sim.scheduler.feasible.proposed import ClassEligibility, ProposedState
from sim.scheduler.feasible.rank import ChunkScores, anti_affinity, normalise, score_fit
from sim.scheduler.feasible.scan_cache import Evaluate, ScanCache
from sim.scheduler.feasible.select import (
    MAX_SKIP,
    ChunkResult,
    Option,
    ReasonCodes,
    Scan,
    affinity_limit,
    limit_select,
    scan_limit,
    scan_metrics,
    tally,
    tally_classes,
    visited,
)
from sim.scheduler.feasible.spread import (
    PropertySet,
    distinct_property_sets,
    spread_scores,
)
from sim.scheduler.feasible.stack_group import (
    Ahead,
    GroupInputs,
    add_group_sets,
    evaluate_chunk,
    fit_only,
    group_inputs,
)
from sim.scheduler.preemption.evict import (
    Eviction,
    evaluate_evict,
    freed_for_offer,
    task_network_offer,
)
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation, AllocMetric
from sim.structs.consts import SCHEDULER_ALGORITHM_SPREAD
from sim.structs.devices import AllocatedDevice
from sim.structs.job import Job, TaskGroup
from sim.structs.networks import AllocatedNetwork
from sim.structs.node import Node

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy

FAST_SCAN_LIMIT = 512  # from about 1,000 (affinities, spreads) the chunked vector scan is as fast
_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_ROWS.flags.writeable = False


@dataclass(slots=True)
class RankedNode:
    """Nomad: feasible.RankedNode: the chosen node, its scores and the group network's ports."""

    row: int
    node: Node
    final_score: float
    scores: dict[str, float]
    ports: list[tuple[str, int]]  # (label, host port): static, then dynamic
    preempted_allocs: list[Allocation] | None = None  # the allocs this option evicts
    devices: tuple[AllocatedDevice, ...] = ()  # the device allocator's offer on this node
    networks: tuple[AllocatedNetwork, ...] = ()  # the task networks' offer on this node (nodes with NICs)


@dataclass(slots=True)
class SelectRun:
    """Consecutive selects of one group decided at once (`GenericStack.select_run`): per pick,
    the chosen row, its final score and the select's metric."""

    group: GroupInputs
    rows: list[int]
    finals: list[float]
    metrics: list[AllocMetric]


class _StackBase:
    """What both stacks share: the job's groups, the proposed state, the scan and its metrics."""

    batch = False
    system = False

    def __init__(
        self, table: NodeTable, rng: np.random.Generator, algorithm: str = "binpack", cache: FeasibilityCache | None = None
    ) -> None:
        self.table, self.rng = table, rng
        self.spread_fit = algorithm == SCHEDULER_ALGORITHM_SPREAD
        self.cache = cache if cache is not None else FeasibilityCache.of_table(table)
        self.proposed = ProposedState(table)
        self.eligibility = ClassEligibility(table)
        self.job: Job | None = None
        self.groups: dict[str, GroupInputs] = {}
        self.job_property_sets: list[PropertySet] = []
        self.sum_spread_weights = 0  # Nomad never resets it, even across SetJob
        self.lowest_spread_boost = -1.0
        self.nodes_available: dict[str, int] = {}
        self.nodes_in_pool = 0
        self.policy: Policy | None = None  # scored with the other scorers (generic stack)
        self.eviction: Eviction | None = None  # set when the job's scheduler may preempt
        self.evict = False  # Nomad: BinPackIterator.evict, for the select under way
        self.node_allocs: NodeAllocs | None = None  # the state's allocs per node (task networks need them)

    def set_policy(self, policy: Policy) -> None:
        """A custom ranking policy (sim.scheduler.policies.Policy): see `score_chunk` for where it enters."""
        self.policy = policy

    def enable_preemption(self, eviction: Eviction) -> None:
        """Preemption is enabled for the job's scheduler (sim.scheduler.preemption)."""
        self.eviction = eviction

    def preempt(self, alloc: Allocation) -> None:
        """Nomad: Plan.AppendPreemptedAlloc as the stack sees it: the victim leaves its node."""
        self.proposed.evict(alloc)
        if self.eviction is not None:
            self.eviction.preempted.append(alloc)

    def set_job(self, job: Job, allocs: list[Allocation]) -> None:
        """Nomad: Stack.SetJob, plus the state the plan starts from (the job's allocs, the table's usage)."""
        self.job = job
        if self.eviction is not None:
            self.eviction.job = job
        self.groups.clear()
        self.proposed.reset(job, allocs)
        self.eligibility.set_job(job)
        self.job_property_sets = distinct_property_sets(self.cache, self.table, job.constraints, "")
        for ps in self.job_property_sets:
            self.proposed.watch(ps)

    def place(self, row: int, alloc: Allocation) -> None:
        """A planned placement (or in-place update): the node's usage, ports and job counts grow."""
        self.proposed.place(row, alloc)

    def place_picks(self, run: SelectRun, allocs: list[Allocation], alloc_ids: list[str] | None = None) -> None:
        """`place` of the new alloc of each pick of a run (the group's ask each), in order
        (`alloc_ids`: their IDs, when the caller has them)."""
        self.proposed.place_new(run.rows, allocs, run.group.tg.name, run.group.ask, alloc_ids)

    def stop(self, alloc: Allocation) -> None:
        """A planned stop: the alloc no longer counts on its node."""
        self.proposed.stop(alloc)

    def pop_stop(self, alloc: Allocation) -> None:
        """Nomad: Plan.PopUpdate: take back a planned stop (e.g. its replacement found no node)."""
        self.proposed.unstop(alloc)

    def class_eligibility(self) -> tuple[dict[str, bool], bool]:
        """Nomad: EvalEligibility.GetClasses and HasEscaped, for a blocked eval.

        Computed class -> whether it was eligible, over every node the evaluation's selects
        visited (the verdicts are per evaluation, not per group).
        """
        return self.eligibility.class_eligibility(), self.eligibility.has_escaped()

    def has_escaped(self) -> bool:
        """Nomad: EvalEligibility.HasEscaped."""
        return self.eligibility.has_escaped()

    # -- groups ------------------------------------------------------------------------------

    def _group(self, tg: TaskGroup) -> GroupInputs:
        """The group's inputs. Like Nomad, property sets and spread info are built once per group
        name and job; the rest follows the TaskGroup object passed to each select."""
        g = self.groups.get(tg.name)
        if g is None:
            g = self._build_group(tg)
            self.groups[tg.name] = g
        elif g.tg is not tg:
            fresh = self._group_inputs(tg)
            fresh.property_sets, fresh.spread_sets, fresh.spread_infos = g.property_sets, g.spread_sets, g.spread_infos
            g = self.groups[tg.name] = fresh
        return g

    def _build_group(self, tg: TaskGroup) -> GroupInputs:
        g = self._group_inputs(tg)
        # Nomad adds every group's spread weights to one sum (never reset, even across SetJob)
        self.sum_spread_weights += add_group_sets(
            g, self.cache, self.table, self._current_job(), self.job_property_sets, self.system
        )
        for ps in g.property_sets[len(self.job_property_sets):] + g.spread_sets:
            self.proposed.watch(ps)
        return g

    def _group_inputs(self, tg: TaskGroup) -> GroupInputs:
        return group_inputs(self.cache, self.table, self._current_job(), tg, self.system)

    def _current_job(self) -> Job:
        if self.job is None:
            raise RuntimeError("set_job must be called before select")
        return self.job

    # -- one chunk through the plan-dependent stages, in Nomad's order -------------------------

    def _evaluate(self, g: GroupInputs, rows: np.ndarray, lowest: float, penalty: np.ndarray, reasons: ReasonCodes) -> ChunkResult:
        if self.evict and self.eviction is not None:
            return evaluate_evict(self, g, rows, lowest, penalty, reasons, self.eviction)
        return evaluate_chunk(self, g, rows, lowest, penalty, reasons)

    def score_chunk(
        self, g: GroupInputs, rows: npt.NDArray[np.int64], used_after: npt.NDArray[np.float64],
        cap: npt.NDArray[np.float64], lowest: float, penalty: npt.NDArray[np.int64],
        devices: npt.NDArray[np.float64] | None = None, preemption: npt.NDArray[np.float64] | None = None,
        placed: npt.NDArray[np.int64] | None = None,
    ) -> tuple[ChunkScores, npt.NDArray[np.float64] | None]:
        """The ranking stages over rows that fit; also the running lowest spread boost (`placed`:
        as the ScoringStack protocol says).

        Nomad: the rank iterators of scheduler/feasible/stack.go, in their order.
        """
        # BinPack fitness (and its device affinity score), JobAntiAffinity, NodeReschedulingPenalty,
        # NodeAffinity, Spread, PreemptionScoring (options that evict, generic stack only), then
        # ScoreNormalization.
        binpack = score_fit(used_after, cap, self.spread_fit)
        collisions = self.proposed.counts_of(g.tg.name)[rows]
        if placed is not None:
            collisions = collisions + placed
        anti = anti_affinity(collisions, g.count) if not self.system and np.count_nonzero(collisions) else None
        pen = np.where(np.isin(rows, penalty), -1.0, 0.0) if len(penalty) else None
        affinity = g.affinity[rows] if g.affinity is not None else None
        spread, lowest_after = None, None
        if g.spread_sets:
            spread, lowest_after = spread_scores(g.spread_sets, g.spread_infos, self.sum_spread_weights, rows, lowest)
        policy = self.policy
        if policy is not None and not self.system:  # a custom policy: after spread, before normalisation
            job = self._current_job()
            column = policy.score(self.table, rows, used_after, cap, binpack, job, g.tg, g.ask, g.count, self.rng,
                                  self.proposed.gpu_used)
            scores = normalise(binpack, anti, pen, affinity, spread, column, policy.replaces_fit, devices, preemption)
            scores.policy_name = policy.name
        else:
            scores = normalise(binpack, anti, pen, affinity, spread, devices=devices, preemption=preemption)
        scores.binpack_only = self.system
        return scores, lowest_after

    # -- one select: scan, limit, max score, metrics -------------------------------------------

    def _positions(self, g: GroupInputs, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per position of `order`: the static fail codes, the feasible and the infeasible positions."""
        fail = g.static.fail[order]
        if g.static.all_feasible:
            return fail, np.arange(len(order)), np.zeros(0, dtype=np.int64)
        return fail, np.flatnonzero(fail == 0), np.flatnonzero(fail)

    def _penalty_rows(self, node_ids: Iterable[str]) -> np.ndarray:
        if not node_ids:
            return _NO_ROWS
        index = self.table.index_of
        return np.array(sorted(index[i] for i in node_ids if i in index), dtype=np.int64)

    def _run(
        self, g: GroupInputs, order: np.ndarray, start: int, limit: int, penalty: np.ndarray,
        positions: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> tuple[RankedNode | None, AllocMetric, int]:
        """Nomad: GenericStack.Select from Reset to MaxScore, over `order` starting at `start`."""
        if len(order) == 0:
            return None, self._new_metric(0), 0
        fail, feasible, infeasible = positions
        reasons = ReasonCodes()

        def evaluate(rows: np.ndarray, lowest: float) -> ChunkResult:
            return self._evaluate(g, rows, lowest, penalty, reasons)

        scan = Scan(order, feasible, start, evaluate, limit + MAX_SKIP + 1, self.lowest_spread_boost)
        best = limit_select(scan, limit)
        count = scan.consumed()
        self.lowest_spread_boost = scan.lowest
        metric = self._visit_metric(g, order, start, count, fail, infeasible)
        scan_metrics(metric, scan, count, reasons, self.table)
        return (self._ranked(g, best) if best is not None else None), metric, count

    def _new_metric(self, evaluated: int) -> AllocMetric:
        # NodesAvailable: one map shared by every metric until the next set_nodes, which replaces
        # it (never changed in place, by the stack or the metrics' readers)
        return AllocMetric.of_scan(evaluated, self.nodes_in_pool, self._node_pool(), self.nodes_available)

    def _node_pool(self) -> str:
        return self.job.node_pool if self.job is not None else ""

    def _visit_metric(
        self, g: GroupInputs, order: np.ndarray, start: int, count: int, fail: np.ndarray, infeasible: np.ndarray
    ) -> AllocMetric:
        """The select's metric for the `count` nodes visited from `start` (the scan's part follows):
        class eligibility observed, and the statically infeasible nodes among them filtered
        (Nomad: FeasibilityWrapper's FilterNode calls)."""
        self.eligibility.observe(g.tg.name, g.static, order, start, count)
        metric = self._new_metric(count)
        positions = visited(infeasible, start, count, len(order)) if len(infeasible) else infeasible
        if len(positions):
            rows = order[positions]
            ineligible = len(g.static.reasons) + 1
            codes = self.eligibility.filter_reasons(g.tg.name, fail[positions], g.static.stage[rows], rows, ineligible)
            metric.nodes_filtered += len(rows)
            tally(metric.constraint_filtered, codes - 1, g.static.reasons + [FILTER_CLASS_INELIGIBLE])
            tally_classes(metric.class_filtered, self.table, rows)
        return metric

    def _ranked(self, g: GroupInputs, option: Option) -> RankedNode:
        preempted = option.chunk.preempted
        victims = preempted.get(option.k) if preempted else None
        return self._ranked_node(g, option.row, option.final_score, option.chunk.scores.node_scores(option.k), victims)

    def _ranked_node(
        self, g: GroupInputs, row: int, final_score: float, scores: dict[str, float],
        victims: tuple[list[Allocation], int] | None = None,
    ) -> RankedNode:
        node = self.table.nodes[row]
        ports: list[tuple[str, int]] = []
        freed_ports, freed_devices = freed_for_offer(g, victims) if victims is not None and victims[1] else ((), ())
        if g.ports:
            used = self.proposed.ports.used(row)
            if freed_ports:  # the port victims' ports are offered again
                used = {p for p in used if p not in freed_ports}
            ports = assign_ports(used, node.min_dynamic_port, node.max_dynamic_port, g.ports, self.rng)
        devices: tuple[AllocatedDevice, ...] = ()
        if g.devices:  # the offer the ranking made on this node, made again
            held = self.proposed.held_devices(row)
            offer = assign_devices(node.resources.devices, held - freed_devices if freed_devices else held,
                                   g.devices, self.rng)
            if isinstance(offer, str):
                raise RuntimeError(f"node {node.id} ranked without a device offer: {offer}")
            devices = offer.devices
        networks: tuple[AllocatedNetwork, ...] = ()
        if g.task_networks and node.resources.networks:
            networks = task_network_offer(self.proposed, self.node_allocs, node, g.task_networks, victims, self.rng)
        return RankedNode(row, node, final_score, scores, ports, victims[0] if victims is not None else None, devices,
                          networks)

    def _select_one(self, tg: TaskGroup, row: int, ignore_alloc: Allocation | None, limit: int) -> tuple[RankedNode | None, AllocMetric]:
        """One node alone, with `ignore_alloc` discounted (Nomad: genericAllocUpdateFn's staged stop)."""
        g = self._group(tg)
        order = np.array([row], dtype=np.int64)
        staged = ignore_alloc if ignore_alloc is not None and not self.proposed.is_stopped(ignore_alloc) else None
        if staged is not None:
            self.proposed.stop(staged)
        try:
            option, metric, _ = self._run(g, order, 0, limit, _NO_ROWS, self._positions(g, order))
        finally:
            if staged is not None:
                self.proposed.unstop(staged)
        return option, metric


class GenericStack(_StackBase):
    """Nomad: feasible.GenericStack, for service and batch jobs.

    Chain: source (shuffled) -> job constraints -> group drivers, constraints (group + tasks),
    devices, secrets -> distinct_hosts -> distinct_property -> BinPack (ports, devices, then AllocsFit)
    -> job anti-affinity -> reschedule penalty -> node affinity -> spread -> normalisation ->
    limit -> max score. With eviction on (a second select once the first found nothing, as
    Nomad's selectNextOption does), BinPack may preempt and a preemption scorer runs before the
    normalisation. Host/CSI volumes and quotas are not modelled.
    """

    fast_scan_limit = FAST_SCAN_LIMIT  # the largest limit the scan cache serves (0: never)

    def __init__(
        self, table: NodeTable, batch: bool, rng: np.random.Generator, algorithm: str = "binpack",
        cache: FeasibilityCache | None = None,
    ) -> None:
        super().__init__(table, rng, algorithm, cache)
        self.batch = batch
        self.order = np.zeros(0, dtype=np.int64)
        self.offset = 0
        self.limit = 2
        self._order_positions: dict[str, tuple[object, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._scan_caches: dict[str, ScanCache] = {}

    def set_nodes(self, rows: np.ndarray) -> None:
        """Nomad: GenericStack.SetNodes: shuffle the candidates, rewind the source, set the limit."""
        rows = np.asarray(rows, dtype=np.int64)
        self.order = rows[self.rng.permutation(len(rows))]
        self.offset = 0
        self.limit = scan_limit(len(rows), self.batch)
        self._order_positions.clear()
        self._scan_caches.clear()
        self.nodes_in_pool = len(rows)
        available = self.cache.available(self.table, rows)
        if available is not None:  # the candidate rows of the job: their counts are known
            self.nodes_available = dict(available)
            return
        codes, labels = self.table.codes("datacenter") if len(self.table) else (np.zeros(0, dtype=np.int32), [])
        counts = np.bincount(codes[rows], minlength=len(labels)).tolist() if len(rows) else []
        self.nodes_available = {dc: c for dc, c in zip(labels, counts, strict=False) if c}

    def set_job(self, job: Job, allocs: list[Allocation]) -> None:
        """Nomad: GenericStack.SetJob; `allocs`: the job's allocs in state (the client-terminal ones count nowhere)."""
        super().set_job(job, allocs)
        self._order_positions.clear()
        self._scan_caches.clear()

    def select(
        self, tg: TaskGroup, penalty_node_ids: Iterable[str] = frozenset(), preferred_rows: list[int] | None = None
    ) -> tuple[RankedNode | None, AllocMetric]:
        """Nomad: GenericStack.Select: the best of the first `limit` ranked options from the offset on."""
        g = self._group(tg)
        if g.affinity is not None or g.spread_sets:
            self.limit = affinity_limit(g.count)  # Nomad keeps this limit for later selects too
        penalty = self._penalty_rows(penalty_node_ids)
        if preferred_rows:
            preferred = np.asarray(preferred_rows, dtype=np.int64)
            option, metric, _ = self._run(g, preferred, 0, self.limit, penalty, self._positions(g, preferred))
            self.offset = 0  # restoring the source's nodes rewinds it
            if option is not None:
                return option, metric
        n = len(self.order)
        start = self.offset % n if n else 0
        positions = self._order_positions_of(g)
        found = self._cached_run(g, start, penalty, positions)
        if found is None:
            found = self._run(g, self.order, start, self.limit, penalty, positions)
        option, metric, count = found
        self.offset = (start + count) % n if n else 0
        return option, metric

    def select_run(self, tg: TaskGroup, most: int) -> SelectRun | None:
        """Up to `most` consecutive selects of `tg` without penalty or preferred nodes, decided at
        once: exactly what as many `select` calls would pick and record when each placement is
        placed on the stack before the next select. None when the next select is not one that
        a run decides (the caller then makes it with `select`).

        The caller places every pick (`place_picks`) before the next select of any kind, and
        asks for each pick's ports (`offer_ports`) in order (they draw from the rng).
        """
        g = self._group(tg)
        if g.affinity is not None or g.spread_sets:
            self.limit = affinity_limit(g.count)  # as `select` sets it
        n = len(self.order)
        if not n or g.task_networks or not self._cacheable(g, _NO_ROWS):  # task networks: one select at a time
            return None
        start = self.offset % n
        positions = self._order_positions_of(g)
        cache = self._scan_cache(g, positions)
        run = cache.run(start, self.limit, most, self._cache_evaluator(g), self._foresee(g))
        if run is None:
            return None
        fail, _, infeasible = positions
        if len(infeasible):  # each select filters the infeasible nodes it visits, in turn
            metrics = []
            for count in run.counts:
                metrics.append(self._visit_metric(g, self.order, start, count, fail, infeasible))
                start = (start + count) % n
        else:  # the visits of a run are contiguous: one observation covers them
            self.eligibility.observe(g.tg.name, g.static, self.order, start, sum(run.counts))
            metrics = AllocMetric.of_scans(run.counts, self.nodes_in_pool, self._node_pool(), self.nodes_available)
        cache.fill_run_metrics(metrics, run, self.limit + MAX_SKIP + 1, self.table)
        self.offset = run.next_start
        return SelectRun(g, run.rows, run.finals, metrics)

    def offer_ports(self, run: SelectRun, row: int) -> list[tuple[str, int]]:
        """The ports a pick of `run` gets on its node (Nomad: AssignPorts; random dynamic ports)."""
        g = run.group
        if not g.ports:
            return []
        node = self.table.nodes[row]
        return assign_ports(self.proposed.ports.used(row), node.min_dynamic_port, node.max_dynamic_port, g.ports, self.rng)

    def _order_positions_of(self, g: GroupInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_positions` of the shuffled order for the group, kept while its static verdicts last."""
        cached = self._order_positions.get(g.tg.name)
        if cached is None or cached[0] is not g.static:
            cached = self._order_positions[g.tg.name] = (g.static, self._positions(g, self.order))
        return cached[1]

    def _cacheable(self, g: GroupInputs, penalty: np.ndarray) -> bool:
        """Whether every stage's verdict on a node depends on that node alone (scan_cache.py)."""
        return not (g.property_sets or g.spread_sets or g.devices or self.policy is not None or len(penalty)
                    or self.evict or self.limit > self.fast_scan_limit)

    def _scan_cache(self, g: GroupInputs, positions: tuple[np.ndarray, np.ndarray, np.ndarray]) -> ScanCache:
        """The group's scan cache, synced with the plan's changes since its last use."""
        cache = self._scan_caches.get(g.tg.name)
        if cache is None or cache.key is not g or cache.order is not self.order:
            cache = self._scan_caches[g.tg.name] = ScanCache(g, self.order, positions[1], self.proposed.touched, len(self.table))
        cache.sync(self.proposed.touched)
        return cache

    def _cached_run(
        self, g: GroupInputs, start: int, penalty: np.ndarray, positions: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[RankedNode | None, AllocMetric, int] | None:
        """`_run` over the group's scan cache (see scan_cache.py), when the stages allow it."""
        if not self._cacheable(g, penalty):
            return None
        cache = self._scan_cache(g, positions)
        result = cache.scan(start, self.limit, self._cache_evaluator(g))
        if result is None:
            return None
        fail, _, infeasible = positions
        metric = self._visit_metric(g, self.order, start, result.count, fail, infeasible)
        cache.fill_metric(metric, result, self.limit + MAX_SKIP + 1, self.table)
        best = result.best
        if best < 0:
            return None, metric, result.count
        return self._ranked_node(g, cache.row_list[best], cache.final_of(best), cache.node_scores(best)), metric, result.count

    def _cache_evaluator(self, g: GroupInputs) -> Evaluate:
        """The stages a scan cache of `g` is filled with. Handed to each scan, never stored in
        the cache: a cache that kept it would refer back to this stack (a reference cycle)."""

        def evaluate(rows: np.ndarray, reasons: ReasonCodes) -> ChunkResult:
            return self._evaluate(g, rows, -1.0, _NO_ROWS, reasons)

        return evaluate

    def _foresee(self, g: GroupInputs) -> Foresee | None:
        """For a fit-only group (`_cacheable` already), its verdicts with more of its allocs placed
        (laps.py); like `_cache_evaluator`, handed to each run and never stored."""
        return Ahead(self, g) if fit_only(g) else None

    def select_on_node(
        self, tg: TaskGroup, row: int, ignore_alloc: Allocation | None = None
    ) -> tuple[RankedNode | None, AllocMetric]:
        """Nomad's in-place update check: the stack on this node only; the source is untouched."""
        return self._select_one(tg, row, ignore_alloc, 2)


class SystemStack(_StackBase):
    """Nomad: feasible.SystemStack: every node on its own; no shuffle, limit or scoring beyond BinPack.

    Chain: job constraints -> group drivers, constraints, devices, secrets -> distinct_property
    -> BinPack -> normalisation. With preemption enabled for the scheduler (Nomad's default for
    system jobs) BinPack evicts on every select; there is no preemption scorer.
    """

    system = True

    def enable_preemption(self, eviction: Eviction) -> None:
        """Nomad: NewSystemStack: BinPack evicts on every select when preemption is enabled."""
        super().enable_preemption(eviction)
        self.evict = True

    def select_on_node(
        self, tg: TaskGroup, row: int, ignore_alloc: Allocation | None = None
    ) -> tuple[RankedNode | None, AllocMetric]:
        """Nomad: SystemStack.Select with the source set to this node (eligibility reset each time)."""
        self.eligibility.forget_marks()
        return self._select_one(tg, row, ignore_alloc, 1)

