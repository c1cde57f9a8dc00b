"""Ranking: whether a group fits on candidate nodes and how each fitting node scores.

Owns the group's resource ask, Nomad's AllocsFit dimension order, the BestFit v3 score
(ScoreFitBinPack / ScoreFitSpread), job anti-affinity, the node reschedule penalty, node
affinity and the score normalisation; all as numpy vectors over a chunk of candidate rows.
The preemption score of options that evict is computed in sim.scheduler.preemption and enters
the normalisation here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.checks import FeasibilityCache
from sim.state.node_table import NodeTable
from sim.structs.alloc import AllocMetric
from sim.structs.job import Affinity, Job, TaskGroup

BINPACK_MAX_FIT_SCORE = 18.0
DIMENSIONS = ("cpu", "memory", "disk")  # AllocsFit's order (cores are not modelled)
MAX_RETAINED_NODE_SCORES = 5
SCORER_BINPACK = "binpack"
SCORER_ANTI_AFFINITY = "job-anti-affinity"
SCORER_PENALTY = "node-reschedule-penalty"
SCORER_AFFINITY = "node-affinity"
SCORER_SPREAD = "allocation-spread"
SCORER_PREEMPTION = "preemption"
SCORER_DEVICES = "devices"

Floats = npt.NDArray[np.float64]  # one float per candidate row (or per row and dimension)


def group_ask(tg: TaskGroup) -> tuple[int, int, int]:
    """(cpu MHz, memory MB, disk MB): the tasks' CPU and MemoryMB sums and the ephemeral disk."""
    cpu = sum(t.resources.cpu for t in tg.tasks if t.resources is not None)
    mem = sum(t.resources.memory_mb for t in tg.tasks if t.resources is not None)
    disk = tg.ephemeral_disk.size_mb if tg.ephemeral_disk is not None else 0
    return cpu, mem, disk


def exhaust_resources(metric: AllocMetric, tg: TaskGroup, times: int = 1) -> None:
    """Nomad: AllocMetric.ExhaustResources: add each task's CPU / MemoryMB for the exhausted
    dimensions (called for the failed placement and again for each coalesced failure).

    `times` > 1 stands for that many calls in a row (the metric's exhausted dimensions do not
    change between them); 0 is no call at all.
    """
    if not metric.dimension_exhausted or times <= 0:
        return
    memory = metric.dimension_exhausted.get("memory", 0) > 0
    cpu = metric.dimension_exhausted.get("cpu", 0) > 0
    for task in tg.tasks:
        entry = metric.resources_exhausted.setdefault(task.name, {"cpu": 0, "memory_mb": 0})
        if task.resources is None:
            continue
        if memory:
            entry["memory_mb"] += task.resources.memory_mb * times
        if cpu:
            entry["cpu"] += task.resources.cpu * times


def exhausted_dimension(used_after: Floats, cap: Floats) -> npt.NDArray[np.intp] | None:
    """Per row, the index in DIMENSIONS of the first dimension over capacity (-1 when it fits);
    None when every row fits.

    Nomad: nomad/structs/funcs.go, AllocsFit (ComparableResources.Superset: cpu, memory, disk).
    """
    over = used_after > cap
    if not over.any():
        return None
    dims: npt.NDArray[np.intp] = np.where(over.any(axis=1), over.argmax(axis=1), -1)
    return dims


def score_fit(used_after: Floats, cap: Floats, spread: bool = False) -> Floats:
    """Normalised fitness (score / 18) of each row's utilisation including the new alloc.

    Nomad: nomad/structs/funcs.go, ScoreFitBinPack (clamp(20 - total)) or ScoreFitSpread
    (clamp(total - 2)) with total = 10^freeCpu + 10^freeMem over capacity net of reserved.
    """
    cap2 = cap[:, :2]
    if np.count_nonzero(cap2 > _ZERO) == cap2.size:  # nothing to ignore (entering np.errstate costs more than the scores)
        powers = np.power(_TEN, _ONE - used_after[:, :2] / cap2)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            powers = np.power(_TEN, _ONE - used_after[:, :2] / cap2)
    total = powers[:, 0] + powers[:, 1]
    raw = total - _TWO if spread else _TWENTY - total
    fit: Floats = np.minimum(np.maximum(raw, _ZERO), _MAX_FIT) / _MAX_FIT
    return fit


# score_fit's constants as 0-d arrays: the same float64 operations, without converting a Python
# float on each call (numpy's scalar handling costs more than the work on a few rows)
_ZERO, _ONE, _TWO, _TEN, _TWENTY, _MAX_FIT = (np.array(x) for x in (0.0, 1.0, 2.0, 10.0, 20.0, BINPACK_MAX_FIT_SCORE))


def anti_affinity(collisions: npt.NDArray[np.int64], desired_count: int) -> Floats:
    """Nomad: JobAntiAffinityIterator: -(collisions + 1) / count where the group already runs, else 0."""
    if desired_count:
        penalty = (-1.0 - collisions) / float(desired_count)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            penalty = (-1.0 - collisions) / float(desired_count)
    return np.where(collisions > 0, penalty, 0.0)


def group_affinities(job: Job, tg: TaskGroup) -> list[Affinity]:
    """Nomad: NodeAffinityIterator.SetTaskGroup: job, then group, then task affinities."""
    return list(job.affinities) + list(tg.affinities) + [a for t in tg.tasks for a in t.affinities]


def affinity_scores(cache: FeasibilityCache, table: NodeTable, affinities: list[Affinity]) -> Floats:
    """Nomad: NodeAffinityIterator.Next for every node: matched weight over the sum of |weight|."""
    total = np.zeros(len(table))
    for a in affinities:
        total += np.where(cache.constraint_mask(table, a.l_target, a.operand, a.r_target), float(a.weight), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / float(sum(abs(a.weight) for a in affinities))


@dataclass(slots=True)
class ChunkScores:
    """The scores of a chunk's fitting rows; a scorer is None when it appended nothing to any row.

    `final` is Nomad's normalized-score: the mean of the scores each scorer appended (a scorer
    that is inactive, or that scores 0 where it appends nothing, does not count).
    """

    binpack: Floats
    anti: Floats | None
    penalty: Floats | None
    affinity: Floats | None
    spread: Floats | None
    final: Floats
    binpack_only: bool = False  # the system stack's chain: BinPack then normalisation
    policy: Floats | None = None  # a custom policy's scores (sim.scheduler.policies)
    policy_name: str = ""
    policy_fit: bool = False  # the policy's score stands in BinPack's place
    preemption: Floats | None = None  # Nomad's PreemptionScoringIterator (0: the option evicts nothing)
    devices: Floats | None = None  # the device affinity score (Nomad's "devices"), after BinPack

    def node_scores(self, j: int) -> dict[str, float]:
        """The per-scorer map Nomad records for option j (AllocMetric.ScoreNode names)."""
        if self.binpack_only:
            return {SCORER_BINPACK: float(self.binpack[j])}
        if self.policy_fit and self.policy is not None:
            fit_name, fit = self.policy_name, self.policy
        else:
            fit_name, fit = SCORER_BINPACK, self.binpack
        scores = {fit_name: float(fit[j])}
        if self.devices is not None:
            scores[SCORER_DEVICES] = float(self.devices[j])
        scores |= {
            SCORER_ANTI_AFFINITY: 0.0 if self.anti is None else float(self.anti[j]),
            SCORER_PENALTY: 0.0 if self.penalty is None else float(self.penalty[j]),
            SCORER_AFFINITY: 0.0 if self.affinity is None else float(self.affinity[j]),
        }
        if self.spread is not None and self.spread[j] != 0.0:
            scores[SCORER_SPREAD] = float(self.spread[j])
        if self.preemption is not None and self.preemption[j] != 0.0:
            scores[SCORER_PREEMPTION] = float(self.preemption[j])
        if self.policy is not None and not self.policy_fit:
            scores[self.policy_name] = float(self.policy[j])
        return scores


def normalise(
    binpack: Floats, anti: Floats | None, penalty: Floats | None, affinity: Floats | None, spread: Floats | None,
    policy: Floats | None = None, policy_fit: bool = False, devices: Floats | None = None,
    preemption: Floats | None = None,
) -> ChunkScores:
    """Nomad: ScoreNormalizationIterator: sum the appended scores in chain order, divide by their count.

    Adding 0.0 for a scorer that appended nothing leaves the sum bit-identical to Nomad's. A custom
    policy (sim.scheduler.policies) either replaces the BinPack score (`policy_fit`) or is appended last,
    for every row.
    """
    total = policy if policy_fit and policy is not None else binpack
    count: npt.NDArray[np.int64] | None = None
    extra = None if policy_fit else policy
    parts = ((devices, True), (anti, False), (penalty, False), (affinity, True), (spread, False), (preemption, False),
             (extra, True))
    for part, always in parts:
        if part is None:
            continue
        total = total + part
        appended = np.ones(len(part), dtype=np.int64) if always else (part != 0.0).astype(np.int64)
        count = appended + 1 if count is None else count + appended
    final: Floats = total if count is None else total / count
    return ChunkScores(binpack, anti, penalty, affinity, spread, final, policy=policy, policy_fit=policy_fit,
                       devices=devices, preemption=preemption)


def top_indices(final_scores: Floats, k: int = MAX_RETAINED_NODE_SCORES) -> list[int]:
    """Nomad: AllocMetric.PopulateScoreMetaData: the k best scored options, best first (ties: first seen)."""
    best: list[int] = np.argsort(-final_scores, kind="stable")[:k].tolist()
    return best
