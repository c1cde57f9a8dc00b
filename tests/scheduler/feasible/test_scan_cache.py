"""The incremental (cached) scan against the chunked scan it stands in for.

Every case drives two generic stacks with the same seed through the same selects, placements,
stops and in-place checks: one uses the scan cache, the other is forced onto the chunked scan.
Both must choose the same node with the same scores and ports and leave identical metrics, down
to the order of the keys in the metric maps.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible.stack import FAST_SCAN_LIMIT, GenericStack
from sim.structs.job import Affinity, Constraint, NetworkResource, Port, Resources
from sim.structs.node import NodeResources

from ..fixtures_stack import mock_alloc, mock_job, mock_node, table_of


def _nodes(rng: np.random.Generator, n: int) -> list:
    nodes = []
    for i in range(n):
        node = mock_node(
            node_class=str(rng.choice(["", "small", "big", "gpu"])),
            datacenter=str(rng.choice(["dc1", "dc1", "dc2"])),
            resources=NodeResources(cpu=int(rng.choice([1200, 2500, 4000])), memory_mb=int(rng.choice([1024, 4096])),
                                    disk_mb=int(rng.choice([600, 20000]))),
            reserved=NodeResources(cpu=100, memory_mb=128, disk_mb=100,
                                   reserved_ports=str(rng.choice(["22", "22,8080", "8080-8081"]))),
        )
        node.meta = {**node.meta, "rack": f"r{i % 3}"}
        if rng.random() < 0.2:
            node.attributes = {**node.attributes, "kernel.name": "windows"}
        if rng.random() < 0.2:  # a tiny dynamic range: "dynamic port selection failed" happens
            node.min_dynamic_port, node.max_dynamic_port = 20000, 20000 + int(rng.integers(0, 4))
        nodes.append(node)
    return nodes


def _job(rng: np.random.Generator):
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.count = int(rng.choice([3, 10, 40]))
    tg.tasks[0].resources = Resources(cpu=int(rng.choice([300, 500, 900])), memory_mb=int(rng.choice([128, 512])))
    tg.ephemeral_disk.size_mb = int(rng.choice([150, 300]))
    kind = rng.integers(0, 4)
    if kind == 0:
        tg.networks = []
    elif kind == 1:
        tg.networks = [NetworkResource(mode="host", reserved_ports=[Port(label="web", value=8080)],
                                       dynamic_ports=[Port(label="http")])]
    if rng.random() < 0.3:
        tg.constraints.append(Constraint(operand="distinct_hosts"))
    if rng.random() < 0.3:
        tg.affinities.append(Affinity(l_target="${node.class}", r_target="big", operand="=", weight=50))
    if rng.random() < 0.3:
        tg.constraints.append(Constraint(l_target="${meta.rack}", r_target="r2", operand="!="))
    return job


def _stack(nodes: list, job, seed: int, fast: bool, algorithm: str = "binpack", batch: bool = False) -> GenericStack:
    stack = GenericStack(table_of(nodes), batch, np.random.default_rng(seed), algorithm)
    stack.fast_scan_limit = FAST_SCAN_LIMIT if fast else 0
    stack.set_job(job, [])
    stack.set_nodes(np.arange(len(nodes)))
    return stack


def _same(fast, slow) -> None:
    (option_a, metric_a), (option_b, metric_b) = fast, slow
    assert (option_a is None) == (option_b is None)
    if option_a is not None:
        assert (option_a.row, option_a.final_score, option_a.ports) == (option_b.row, option_b.final_score, option_b.ports)
        assert list(option_a.scores.items()) == list(option_b.scores.items())
    _same_metric(metric_a, metric_b)


def _same_metric(metric_a, metric_b) -> None:
    assert repr(metric_a.top_scores()) == repr(metric_b.top_scores())  # packed rows: bit for bit (-0.0 too)
    assert metric_a == metric_b
    for name in ("constraint_filtered", "class_filtered", "dimension_exhausted", "class_exhausted"):
        assert list(getattr(metric_a, name)) == list(getattr(metric_b, name)), name
    assert [list(m.scores) for m in metric_a.score_meta_data] == [list(m.scores) for m in metric_b.score_meta_data]


@pytest.mark.parametrize("case", range(40))
def test_cached_scan_matches_chunked_scan(case):
    """Selects, placements, stops and in-place checks give the chunked scan's choices and metrics."""
    rng = np.random.default_rng(1000 + case)
    nodes = _nodes(rng, int(rng.integers(5, 150)))
    job = _job(rng)
    tg = job.task_groups[0]
    algorithm = "spread" if case % 3 == 0 else "binpack"  # spread fit scores full nodes 0: skipped options
    stacks = [_stack(nodes, job, case, fast, algorithm) for fast in (True, False)]
    placed = []
    for _ in range(int(rng.integers(10, 150))):
        action = rng.random()
        if action < 0.1 and placed:
            alloc = placed.pop(int(rng.integers(len(placed))))
            for stack in stacks:
                stack.stop(alloc)
            continue
        if action < 0.15 and placed:
            row = stacks[0].table.index_of[placed[-1].node_id]
            _same(*(stack.select_on_node(tg, row, placed[-1]) for stack in stacks))
            continue
        penalty = {nodes[int(rng.integers(len(nodes)))].id} if action > 0.93 else frozenset()
        results = [stack.select(tg, penalty) for stack in stacks]
        _same(*results)
        assert stacks[0].offset == stacks[1].offset
        option = results[0][0]
        if option is not None:
            allocs = [mock_alloc(job, option.node, ports=list(option.ports)) for _ in stacks]
            allocs[1].id = allocs[0].id
            for stack, alloc in zip(stacks, allocs, strict=True):
                stack.place(option.row, alloc)
            placed.append(allocs[0])


def test_scan_cache_serves_service_selects():
    """A plain service group takes the cached scan (no fallback to the chunked one)."""
    nodes = [mock_node() for _ in range(20)]
    job = mock_job()
    stack = _stack(nodes, job, 0, True)
    option, metric = stack.select(job.task_groups[0])
    assert option is not None and metric.nodes_evaluated == stack.limit
    assert "web" in stack._scan_caches


@pytest.mark.parametrize("case", range(10))
def test_cached_scan_metrics_follow_the_chunks(case):
    """A crowded cluster: the misses span several chunks and enter the metric maps in chunk order."""
    rng = np.random.default_rng(2000 + case)
    nodes = _nodes(rng, 200)
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.networks = []
    stacks = [_stack(nodes, job, case, fast) for fast in (True, False)]
    full = np.flatnonzero(rng.random(len(nodes)) < 0.9)  # most nodes are full in one dimension
    which = rng.integers(0, 3, len(full))
    for stack in stacks:
        stack.proposed.used[full, which] = stack.table.cap[full, which]
    for _ in range(8):
        results = [stack.select(tg) for stack in stacks]
        _same(*results)
        option = results[0][0]
        if option is None:
            break
        for stack in stacks:
            stack.place(option.row, mock_alloc(job, option.node))


def test_cached_scan_tallies_per_chunk():
    """Reasons enter the metric per chunk of the chunked scan (first chunk limit + 4, then x4):
    disk (chunk 1) comes before cpu and memory (chunk 2), whatever their codes."""
    nodes = [mock_node(node_class=c) for c in ["z"] * 10 + ["b"] * 20 + ["a"] * 10 + [""] * 24]
    job = mock_job()
    tg = job.task_groups[0]
    stacks = [_stack(nodes, job, 0, fast) for fast in (True, False)]
    for stack in stacks:  # visit order: 10 disk-full, 20 memory-full, 10 cpu-full, then room
        stack.order = np.arange(len(nodes))
        for rows, dim in ((range(0, 10), 2), (range(10, 30), 1), (range(30, 40), 0)):
            stack.proposed.used[list(rows), dim] = stack.table.cap[list(rows), dim]
    results = [stack.select(tg) for stack in stacks]
    _same(*results)
    metric = results[0][1]
    assert stacks[0].limit == 6 and metric.nodes_evaluated == 46
    assert list(metric.dimension_exhausted.items()) == [("disk", 10), ("cpu", 10), ("memory", 20)]
    assert list(metric.class_exhausted) == ["z", "a", "b"]


def _made(metric) -> dict[str, object]:
    """The metric's container fields created so far (reading them would create the others)."""
    names = ("class_filtered", "constraint_filtered", "class_exhausted", "dimension_exhausted", "score_meta_data")
    return {name: metric.peek(name) for name in names}


@pytest.mark.parametrize("case", range(40))
def test_select_runs_match_one_select_at_a_time(case):
    """A run of selects (select_run, offer_ports, place_picks) picks the nodes, scores, ports and
    metrics that one select after another picks, leaves the same offset, rng and class
    eligibility, and placements and stops between runs keep it so."""
    rng = np.random.default_rng(5000 + case)
    nodes = _nodes(rng, int(rng.integers(5, 300)))
    if case % 4 == 1:  # every node feasible, with room: long runs
        nodes = [mock_node(node_class=str(rng.choice(["", "big"]))) for _ in nodes]
    job = _job(rng)
    picked, _ = _compare_runs(nodes, job, case, rng, "spread" if case % 3 == 0 else "binpack")
    if case == 0:
        assert picked > 0  # the cases do exercise runs


@pytest.mark.parametrize("case", range(30))
def test_select_runs_across_laps_match_one_select_at_a_time(case):
    """On a nearly full cluster (a lap holds a few options, the others miss), a fit-only group's
    runs go round the order lap after lap: the same picks, metrics, offset and eligibility as
    one select after another."""
    rng = np.random.default_rng(7000 + case)
    nodes, job, _ = _fit_only_on_small_nodes(rng, 120)
    _, laps = _compare_runs(nodes, job, case, rng, "spread" if case % 3 == 0 else "binpack", stops=0.05,
                            batch=case % 2 == 0)  # a batch job's limit is 2
    if case == 0:
        assert laps > 0  # runs that went round the order more than once


def _fit_only_on_small_nodes(rng: np.random.Generator, max_nodes: int) -> tuple:
    """3 to `max_nodes` small nodes (a few allocs fill one) and a job whose first group only
    needs resources to rank (no networks, no distinct hosts): nodes, job, group."""
    nodes = _nodes(rng, int(rng.integers(3, max_nodes)))
    for node in nodes:
        node.resources = NodeResources(cpu=int(rng.choice([50, 700, 1300, 2600])), memory_mb=int(rng.choice([200, 4096])),
                                       disk_mb=20000)
    job = _job(rng)
    tg = job.task_groups[0]
    tg.networks = []
    tg.constraints = [c for c in tg.constraints if c.operand != "distinct_hosts"]
    return nodes, job, tg


def _compare_runs(
    nodes: list, job, case: int, rng: np.random.Generator, algorithm: str, stops: float = 0.15, batch: bool = False
) -> tuple[int, int]:
    """Drive one stack by runs and one by single selects through the same placements and stops,
    checking every pick; returns the selects decided by runs and the runs that went round the
    order more than once."""
    tg = job.task_groups[0]
    runs, single = (_stack(nodes, job, case, True, algorithm, batch) for _ in range(2))
    placed, picked, laps = [], 0, 0
    for _ in range(int(rng.integers(5, 40))):
        if rng.random() < stops and placed:
            alloc = placed.pop(int(rng.integers(len(placed))))
            runs.stop(alloc)
            single.stop(alloc)
            continue
        most = int(rng.integers(1, 60))
        run = runs.select_run(tg, most)
        if run is None:  # the next select is not one a run decides: both take it alone
            results = [stack.select(tg) for stack in (runs, single)]
            _same(*results)
            option = results[0][0]
            if option is not None:
                alloc = mock_alloc(job, option.node, ports=list(option.ports))
                runs.place(option.row, alloc)
                single.place(option.row, alloc)
                placed.append(alloc)
            continue
        assert 1 <= len(run.rows) <= most
        laps += sum(m.nodes_evaluated for m in run.metrics) > len(nodes)
        allocs = []
        for row, final, metric in zip(run.rows, run.finals, run.metrics, strict=True):
            ports = runs.offer_ports(run, row)
            option, expected = single.select(tg)
            assert option is not None and (option.row, option.final_score, option.ports) == (row, final, ports)
            assert _made(metric) == _made(expected)  # the same maps created, before comparing creates them all
            _same_metric(metric, expected)
            alloc = mock_alloc(job, option.node, ports=ports)
            single.place(row, alloc)
            allocs.append(alloc)
        runs.place_picks(run, allocs)
        placed += allocs
        picked += len(allocs)
        assert runs.offset == single.offset
        assert runs.rng.bit_generator.state == single.rng.bit_generator.state
    assert (runs.proposed.used == single.proposed.used).all()
    assert runs.class_eligibility() == single.class_eligibility()
    return picked, laps


def test_a_run_spans_the_windows_of_consecutive_selects():
    """On a cluster with room everywhere, one run decides every select up to the end of the order."""
    nodes = [mock_node() for _ in range(64)]
    job = mock_job()
    stack = _stack(nodes, job, 0, True)
    run = stack.select_run(job.task_groups[0], 100)
    assert run is not None and len(run.rows) == 64 // stack.limit
    assert [m.nodes_evaluated for m in run.metrics] == [stack.limit] * len(run.rows)


@pytest.mark.parametrize("case", range(30))
def test_verdicts_a_dead_walk_foresaw_are_those_recomputed(case):
    """After a run across laps that left no option, the next sync stores the misses the walk
    foresaw on the nodes it placed on instead of recomputing them: the cached verdicts are
    those a full recompute gives."""
    rng = np.random.default_rng(9000 + case)
    nodes, job, tg = _fit_only_on_small_nodes(rng, 60)
    stack = _stack(nodes, job, case, True, batch=case % 2 == 0)
    dead = 0
    for _ in range(20):
        run = stack.select_run(tg, int(rng.choice([5, 50, 10_000])))  # (10,000: till no node fits)
        if run is None:
            break
        stack.place_picks(run, [mock_alloc(job, nodes[row]) for row in run.rows])
        cache = stack._scan_caches[tg.name]
        foreseen = cache._foreseen
        dead += foreseen is not None
        cache.sync(stack.proposed.touched)
        evaluate = stack._cache_evaluator(stack._group(tg))
        cache._refresh_all(0, evaluate)  # (the nodes the picks changed, unless foreseen)
        got = (cache._status_np.copy(), cache._code_np.copy(), bytes(cache.valid), bytes(cache.plain), cache.ranked_valid)
        cache.valid[:] = bytes(len(cache.valid))  # recompute every verdict
        cache.ranked_valid = 0
        cache._refresh_all(0, evaluate)
        assert got[2] == bytes(cache.valid) and got[3] == bytes(cache.plain) and got[4] == cache.ranked_valid
        assert (got[0] == cache._status_np).all() and (got[1][got[0] != 0] == cache._code_np[got[0] != 0]).all()
    if case == 2:
        assert dead > 0  # the cases do exercise walks that leave no option
