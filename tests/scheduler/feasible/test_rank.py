"""Ranking: the group ask, AllocsFit, BestFit scores, anti-affinity, penalty, affinity, normalisation.

Cases ported from Nomad scheduler/feasible/rank_test.go and nomad/structs/funcs_test.go (each
docstring names the Nomad test). Stack-driven cases visit the nodes in the given order, like
Nomad's StaticRankIterator, and read the per-node scores from the metric's score metadata.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.scheduler.feasible.checks import FeasibilityCache
from sim.scheduler.feasible.rank import (
    affinity_scores,
    anti_affinity,
    exhaust_resources,
    exhausted_dimension,
    group_ask,
    normalise,
    score_fit,
)
from sim.structs.alloc import AllocMetric
from sim.structs.job import Affinity, EphemeralDisk, Resources, Task
from sim.structs.node import NodeResources

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node, table_of


def _node(cpu: int, mem: int, reserved_cpu: int = 0, reserved_mem: int = 0):
    return mock_node(resources=NodeResources(cpu=cpu, memory_mb=mem, disk_mb=100 * 1024),
                     reserved=NodeResources(cpu=reserved_cpu, memory_mb=reserved_mem))


def _job_asking(cpu: int, mem: int):
    job = mock_job()
    tg = job.task_groups[0]
    tg.networks = []
    tg.ephemeral_disk = EphemeralDisk()
    tg.tasks = [Task(name="web", driver="exec", resources=Resources(cpu=cpu, memory_mb=mem))]
    return job


def _scores(metric) -> dict[str, float]:
    return {m.node_id: m.norm_score for m in metric.score_meta_data}


def test_group_ask_sums_tasks():
    """Nomad: rank.go BinPackIterator: CPU and MemoryMB summed over tasks, disk from the group."""
    job = mock_job()
    tg = job.task_groups[0]
    tg.tasks.append(Task(name="side", driver="exec", resources=Resources(cpu=250, memory_mb=128, memory_max_mb=512)))
    assert group_ask(tg) == (750, 384, 150)
    tg.ephemeral_disk = None
    tg.tasks.append(Task(name="nores", driver="exec"))
    assert group_ask(tg) == (750, 384, 0)


def test_binpack_no_existing_alloc():
    """Nomad: rank_test.go TestBinPackIterator_NoExistingAlloc: perfect fit 1.0, overloaded skipped, 50% fit in (0.5, 0.6)."""
    nodes = [_node(2048, 2048, 1024, 1024), _node(1024, 1024, 512, 512), _node(4096, 4096, 1024, 1024)]
    job = _job_asking(1024, 1024)
    stack = generic_stack(nodes, job)
    stack.limit = 3
    option, metric = stack.select(job.task_groups[0])
    scores = _scores(metric)
    assert option.node is nodes[0] and scores[nodes[0].id] == 1.0
    assert 0.50 < scores[nodes[2].id] < 0.60
    assert nodes[1].id not in scores and metric.dimension_exhausted == {"cpu": 1}


def test_binpack_existing_alloc():
    """Nomad: rank_test.go TestBinPackIterator_ExistingAlloc: state allocs of other jobs count."""
    nodes = [_node(2048, 2048), _node(2048, 2048)]
    job = _job_asking(1024, 1024)
    stack = generic_stack(nodes, job)
    stack.table.reserve(0, 2048, 2048, 0, [])
    stack.table.reserve(1, 1024, 1024, 0, [])
    stack.set_job(job, [])
    option, metric = stack.select(job.task_groups[0])
    assert option.node is nodes[1] and option.final_score == 1.0
    assert metric.nodes_exhausted == 1


def test_binpack_planned_alloc():
    """Nomad: rank_test.go TestBinPackIterator_PlannedAlloc: planned allocs count like existing ones."""
    nodes = [_node(2048, 2048), _node(2048, 2048)]
    job = _job_asking(1024, 1024)
    other = _job_asking(1024, 1024)
    stack = generic_stack(nodes, job)
    stack.place(0, mock_alloc(other, nodes[0], cpu=2048, memory_mb=2048))
    stack.place(1, mock_alloc(other, nodes[1], cpu=1024, memory_mb=1024))
    option, _ = stack.select(job.task_groups[0])
    assert option.node is nodes[1] and option.final_score == 1.0


@pytest.mark.parametrize(("used", "cap", "expected"), [
    ((1, 1, 1), (1, 1, 1), -1),
    ((2, 1, 9), (1, 1, 1), 0),
    ((1, 2, 9), (1, 1, 1), 1),
    ((1, 1, 2), (1, 1, 1), 2),
])
def test_exhausted_dimension_order(used, cap, expected):
    """Nomad: funcs.go AllocsFit / Superset: cpu, then memory, then disk."""
    dims = exhausted_dimension(np.array([used], dtype=float), np.array([cap], dtype=float))
    assert (dims is None and expected == -1) or dims.tolist() == [expected]


@pytest.mark.parametrize(("used", "cap", "expected"), [
    ((1024, 1024), (1024, 1024), 18.0),
    ((1024, 1024), (3072, 3072), 20 - 2 * 10 ** (2 / 3)),
    ((512, 512), (1024, 1024), 20 - 2 * 10 ** 0.5),
    ((500, 256), (13900, 7936), 20 - 10 ** (1 - 500 / 13900) - 10 ** (1 - 256 / 7936)),
    ((0, 0), (1024, 1024), 0.0),
])
def test_score_fit_binpack(used, cap, expected):
    """Nomad: funcs_test.go TestScoreFitBinPack: BestFit v3 normalised by 18."""
    got = score_fit(np.array([[*used, 0]], dtype=float), np.array([[*cap, 0]], dtype=float))
    assert got[0] == pytest.approx(expected / 18)


def test_score_fit_spread_algorithm():
    """Nomad: funcs.go ScoreFitSpread: total - 2, so an empty node scores highest."""
    cap = np.array([[1024, 1024, 0], [1024, 1024, 0]], dtype=float)
    got = score_fit(np.array([[0, 0, 0], [1024, 1024, 0]], dtype=float), cap, spread=True)
    assert got.tolist() == [1.0, 0.0]


def test_spread_algorithm_prefers_empty_nodes():
    """The spread algorithm picks the emptier node that binpack would avoid."""
    nodes = [_node(4096, 4096), _node(4096, 4096)]
    job = _job_asking(512, 512)
    for algorithm, expected in (("binpack", 0), ("spread", 1)):
        stack = generic_stack(nodes, job, algorithm=algorithm)
        stack.place(0, mock_alloc(_job_asking(1, 1), nodes[0], cpu=2048, memory_mb=2048))
        assert stack.select(job.task_groups[0])[0].row == expected


def test_job_anti_affinity_penalty():
    """Nomad: rank_test.go TestJobAntiAffinity_PlannedAlloc: two allocs of the group, count 4 -> -0.75."""
    assert anti_affinity(np.array([2, 0]), 4).tolist() == [-0.75, 0.0]


def test_job_anti_affinity_through_stack():
    """Nomad: rank_test.go TestJobAntiAffinity_PlannedAlloc, driven by the stack (scores metadata)."""
    job = mock_job()
    job.task_groups[0].count = 4
    nodes = [mock_node(), mock_node()]
    stack = generic_stack(nodes, job)
    for _ in range(2):
        stack.place(0, mock_alloc(job, nodes[0]))
    option, metric = stack.select(job.task_groups[0])
    assert option.row == 1
    meta = {m.node_id: m for m in metric.score_meta_data}
    assert meta[nodes[0].id].scores["job-anti-affinity"] == -0.75
    assert meta[nodes[1].id].scores["job-anti-affinity"] == 0.0


def test_score_normalization_averages_appended_scores():
    """Nomad: rank_test.go TestScoreNormalizationIterator: -0.75 and -1 average with binpack; zeros are not appended."""
    scores = normalise(np.array([0.5, 0.5]), np.array([-0.75, 0.0]), np.array([-1.0, 0.0]), None, None)
    assert scores.final.tolist() == [(0.5 - 0.75 - 1.0) / 3, 0.5]
    assert scores.node_scores(1) == {"binpack": 0.5, "job-anti-affinity": 0.0,
                                     "node-reschedule-penalty": 0.0, "node-affinity": 0.0}


def test_score_normalization_counts_affinity_even_when_zero():
    """Nomad: rank_test.go TestNodeAffinityIterator (with binpack): a zero affinity is still appended."""
    scores = normalise(np.array([0.4]), None, None, np.array([0.0]), np.array([0.0]))
    assert scores.final.tolist() == [0.2]
    assert "allocation-spread" not in scores.node_scores(0)


def _affinity_nodes():
    nodes = [mock_node() for _ in range(5)]
    nodes[0].attributes["kernel.version"] = "4.9"
    nodes[1].datacenter = "dc2"
    nodes[2].datacenter = "dc2"
    nodes[2].node_class = "large"
    nodes[4].attributes["kernel.version"] = "2.6"
    nodes[4].datacenter = "dc3"
    nodes[4].node_class = "weird"
    return nodes


AFFINITIES = [
    Affinity("${node.datacenter}", "dc1", "=", 100),
    Affinity("${node.datacenter}", "dc2", "=", -100),
    Affinity("${attr.kernel.version}", ">4.0", "version", 50),
    Affinity("${node.class}", "large", "is", 50),
]


def test_node_affinity_scores():
    """Nomad: rank_test.go TestNodeAffinityIterator (affinity alone): matched weight over 300."""
    pytest.importorskip("sim.structs.versions")
    table = table_of(_affinity_nodes())
    got = affinity_scores(FeasibilityCache(), table, AFFINITIES)
    expected = [0.5, -1 / 3, -1 / 6, 1 / 3, 0.0]
    assert all(math.isclose(g, e) for g, e in zip(got.tolist(), expected, strict=True))


def test_node_affinity_with_binpack():
    """Nomad: rank_test.go TestNodeAffinityIterator (affinity with binpack): (affinity + binpack) / 2."""
    pytest.importorskip("sim.structs.versions")
    nodes = _affinity_nodes()
    job = mock_job(datacenters=["*"])
    job.task_groups[0].affinities = list(AFFINITIES)
    stack = generic_stack(nodes, job)
    option, metric = stack.select(job.task_groups[0])
    assert stack.limit == 100 and metric.nodes_evaluated == 5
    bp = (20 - 10 ** (1 - 500 / 3900) - 10 ** (1 - 256 / 7936)) / 18
    meta = {m.node_id: m for m in metric.score_meta_data}
    assert meta[nodes[0].id].norm_score == pytest.approx((0.5 + bp) / 2)
    assert meta[nodes[3].id].norm_score == pytest.approx((1 / 3 + bp) / 2)
    assert meta[nodes[4].id].norm_score == pytest.approx(bp / 2)
    assert option.node is nodes[0]


def test_exhaust_resources_accumulates_per_task():
    """Nomad: alloc.go AllocMetric.ExhaustResources: CPU and memory of the tasks for exhausted dimensions."""
    tg = mock_job().task_groups[0]
    metric = AllocMetric()
    exhaust_resources(metric, tg)
    assert metric.resources_exhausted == {}
    metric.dimension_exhausted = {"memory": 2}
    exhaust_resources(metric, tg)
    exhaust_resources(metric, tg)
    assert metric.resources_exhausted == {"web": {"cpu": 0, "memory_mb": 512}}
