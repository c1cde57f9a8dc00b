"""Bulk placement paths against their one-at-a-time semantics.

A group's missing names are a lazy run (MissingPlacements in a PlaceList) that the scheduler
places until the group fails and then coalesces in one step; these tests check every such bulk
step gives what Nomad's per-request loop gives (scheduler/generic_sched.go computePlacements,
reconciler AllocNameIndex.Next, AllocMetric.ExhaustResources).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.scheduler import generic
from sim.scheduler.feasible.rank import exhaust_resources
from sim.scheduler.feasible.stack import GenericStack
from sim.scheduler.generic import count_queued
from sim.scheduler.placement import PlacementContext
from sim.scheduler.reconciler.names import AllocNameIndex, MissingNames, alloc_name
from sim.scheduler.reconciler.results import (
    DestructiveUpdate,
    MissingPlacements,
    PlaceList,
    PlacementRequest,
    ReconcileResults,
)
from sim.structs.alloc import AllocMetric
from sim.structs.job import Resources, Task, TaskGroup
from sim.structs.node import NodeResources
from sim.structs.plan import Plan

from .fixtures import (
    World,
    group,
    mock_alloc,
    mock_batch_job,
    mock_job,
    mock_node,
    planned,
    stopped,
)

UPDATE = {"MaxParallel": 2, "HealthCheck": "checks", "MinHealthyTime": 10 * 10**9, "HealthyDeadline": 600 * 10**9}


def _group() -> TaskGroup:
    return TaskGroup(name="web", count=3, tasks=[
        Task(name="a", driver="exec", resources=Resources(cpu=300, memory_mb=128)),
        Task(name="b", driver="exec", resources=None),
        Task(name="c", driver="exec", resources=Resources(cpu=50, memory_mb=64)),
    ])


@pytest.mark.parametrize("dims", [{"cpu": 2}, {"memory": 1}, {"cpu": 1, "memory": 3}, {"disk": 1}, {}])
def test_exhaust_resources_times_k_equals_k_calls(dims):
    """ExhaustResources with a multiplier k adds what k calls in a row add."""
    tg = _group()
    for k in (0, 1, 7):
        bulk, one = AllocMetric(dimension_exhausted=dict(dims)), AllocMetric(dimension_exhausted=dict(dims))
        exhaust_resources(bulk, tg, k)
        for _ in range(k):
            exhaust_resources(one, tg)
        assert bulk.resources_exhausted == one.resources_exhausted


def _index(count: int, used: list[int]) -> AllocNameIndex:
    names = AllocNameIndex("j", "g", count, [])
    for idx in used:
        if idx in names.used:
            names.duplicates[idx] = names.duplicates.get(idx, 0) + 1
        names.used.add(idx)
    return names


@pytest.mark.parametrize("count,used,n", [
    (10, [], 4), (10, [0, 1, 2, 5], 4), (5, [0, 1, 2, 3, 4], 3), (5, [1, 3], 6), (4, [9, 0], 8), (6, [2], 0),
])
def test_next_lazy_gives_next_names_and_marks_them_used(count, used, n):
    """next_lazy(n) lists the names next(n) gives, any prefix is next(k), and the index counts them used."""
    lazy, eager = _index(count, used), _index(count, used)
    names = lazy.next_lazy(n)
    expected = eager.next(n)
    assert len(names) == n and list(names) == expected
    for k in range(n + 1):
        assert list(names[:k]) == expected[:k] == _index(count, used).next(k)
    if n:
        assert names[n - 1] == expected[-1] and names[-1] == expected[-1]
    assert lazy.next(2) == eager.next(2)  # the lazy names count as used from now on
    assert lazy.highest(3) == eager.highest(3) and lazy.used == eager.used


def test_lazy_names_keep_their_own_view_of_the_used_indexes():
    """Names handed out lazily do not change when the index is used again afterwards."""
    names = _index(6, [0, 2])
    lazy = names.next_lazy(3)
    names.unset_index(0)
    assert names.next(1) == ["j.g[0]"] and list(lazy) == ["j.g[1]", "j.g[3]", "j.g[4]"]


def test_a_huge_run_of_missing_names_costs_only_what_is_read():
    """A billion missing names: the length and the first name come without listing the rest."""
    names = AllocNameIndex("j", "g", 10**9, []).next_lazy(10**9)
    assert len(names) == 10**9 and names[0] == "j.g[0]" and len(names[:10**8]) == 10**8
    assert isinstance(names, MissingNames)


@pytest.mark.parametrize("job_id,group_name", [("j", "g"), ("a{0}.b}", "g{x"), ("{}", "[1]"), ("j%d", "{{")])
def test_lazy_names_are_alloc_names_whatever_the_ids_hold(job_id, group_name):
    """MissingNames (which formats its names from a template) names what alloc_name names, braces
    in the job or group ID included."""
    lazy, eager = (AllocNameIndex(job_id, group_name, 7, []) for _ in range(2))
    lazy.used.add(2)
    eager.used.add(2)
    names = lazy.next_lazy(9)
    assert list(names) == [alloc_name(job_id, group_name, i) for i in (0, 1, 3, 4, 5, 6, 0, 1, 2)] == eager.next(9)


def test_append_allocs_appends_as_append_alloc_does():
    """Plan.append_allocs (a run's allocs at once) gives the plan append_alloc gives one by one."""
    rng = np.random.default_rng(3)
    nodes = [mock_node() for _ in range(5)]
    job = mock_job()
    bulk, single = Plan("e", 50, job), Plan("e", 50, job)
    for size in (0, 1, 7, 30):
        allocs = [mock_alloc(job, nodes[int(rng.integers(len(nodes)))]) for _ in range(size)]
        bulk.append_allocs(allocs)
        for alloc in allocs:
            single.append_alloc(alloc)
    assert list(bulk.node_allocation) == list(single.node_allocation)
    assert [[a.id for a in v] for v in bulk.node_allocation.values()] == [
        [a.id for a in v] for v in single.node_allocation.values()]


def test_place_list_reads_like_the_list_of_its_requests():
    """PlaceList: length, order, indexing, prefix slices (kept lazy), equality and explicit()."""
    tg = _group()
    run = MissingPlacements(_index(10, [0, 1]).next_lazy(5), tg, True)
    first, last = PlacementRequest("x[7]", tg, lost=True), PlacementRequest("x[8]", tg, canary=True)
    place = PlaceList([first])
    place.extend(run)
    place.append(last)
    flat = [first, *(PlacementRequest(f"j.g[{i}]", tg, downgrade_non_canary=True) for i in range(2, 7)), last]
    assert len(place) == 7 and list(place) == flat and place == flat and bool(place)
    assert [place[i] for i in range(-7, 7)] == flat + flat
    head = place[:4]
    assert head == flat[:4] and isinstance(head.parts()[1], MissingPlacements)
    assert place[1:3] == flat[1:3] and place[::2] == flat[::2]
    assert list(place.explicit()) == [first, last] and not PlaceList()
    merged = PlaceList()
    merged.extend(place)
    assert merged == flat and [type(p) for p in merged.parts()] == [list, MissingPlacements, list]


def test_count_queued_counts_a_lazy_run_like_its_requests():
    """QueuedAllocations from a lazy run equal one per request, groups in first-seen order."""
    web, db = _group(), TaskGroup(name="db", count=2)
    place = PlaceList([PlacementRequest("db[0]", db)])
    place.extend(MissingPlacements(_index(9, [1]).next_lazy(6), web, False))
    destructive = [DestructiveUpdate("db[1]", db, None, "alloc is being updated")]
    bulk, one = {}, {}
    count_queued(place, destructive, bulk)
    for request in [*place, *destructive]:
        one[request.task_group.name] = one.get(request.task_group.name, 0) + 1
    assert bulk == one and list(bulk) == ["db", "web"]


# -- the scheduler end to end: bulk path against one request at a time ---------------------------


def _outcome(w: World, ev, per_item: bool, monkeypatch) -> tuple:
    """Process `ev` in a copy of the world, placing missing names in bulk or one at a time."""
    w = copy.deepcopy(w)
    if per_item:
        real = generic.reconcile

        def listed(*args, **kwargs):
            results = real(*args, **kwargs)
            results.place = list(results.place)  # a plain list takes the one-at-a-time path
            return results

        monkeypatch.setattr(generic, "reconcile", listed)
    h = w.process(ev)
    monkeypatch.undo()
    plans = [(p.node_allocation, p.node_update, p.deployment) for p in h.plans]
    return repr(h.evals), repr(h.create_evals), repr(plans), h


def _same_both_ways(w: World, ev, monkeypatch):
    bulk = _outcome(w, ev, False, monkeypatch)
    one = _outcome(w, ev, True, monkeypatch)
    assert bulk[:3] == one[:3]
    return bulk[3]


def test_batch_group_that_partly_fits_coalesces_the_rest_in_bulk(monkeypatch):
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_AllocFail (coalesced counts), at scale."""
    w = World()
    w.nodes(2)
    tweak = lambda d: (group(d).update(Count=50), group(d)["Tasks"][0].update(Resources={"CPU": 3000, "MemoryMB": 100}))  # noqa: E731
    job = w.add_job(mock_batch_job(tweak, job_id="bulk"))
    h = _same_both_ways(w, w.eval_for(job), monkeypatch)
    metric = h.evals[0].failed_tg_allocs["web"]
    assert len(planned(h.plans[0])) == 8 and metric.coalesced_failures == 41
    assert metric.resources_exhausted == {"web": {"cpu": 3000 * 42, "memory_mb": 0}}
    assert h.evals[0].queued_allocations == {"web": 42}


def test_failed_destructive_update_drops_its_stop_and_the_rest_coalesce(monkeypatch):
    """A destructive update that does not fit keeps its old alloc; later requests only coalesce."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(lambda d: (group(d).update(Count=2), group(d)["Tasks"][0].update(
        Resources={"CPU": 3000, "MemoryMB": 100})), job_id="destr"))
    w.add_allocs(*(mock_alloc(job, node, f"my-job.web[{i}]") for i in range(2)))
    job2 = w.add_job(mock_job(lambda d: (group(d).update(Count=6), group(d)["Tasks"][0].update(
        Resources={"CPU": 12000, "MemoryMB": 100})), job_id="destr"))
    h = _same_both_ways(w, w.eval_for(job2), monkeypatch)
    metric = h.evals[0].failed_tg_allocs["web"]
    assert h.plans == [] or stopped(h.plans[0]) == []
    assert metric.coalesced_failures == 5 and metric.resources_exhausted["web"]["cpu"] == 12000 * 6


def _downgrade_world() -> tuple[World, object]:
    """Version 0 (3000 MHz, no update block) runs 4 allocs on 2 nodes; version 1 asks 2000 MHz."""
    w = World()
    nodes = w.nodes(2)
    res = lambda cpu: {"CPU": cpu, "MemoryMB": 100}  # noqa: E731
    job = w.add_job(mock_job(lambda d: (group(d).update(Count=4), group(d)["Tasks"][0].update(
        Resources=res(3000))), job_id="canary"))
    w.add_allocs(*(mock_alloc(job, nodes[i % 2], f"canary.web[{i}]") for i in range(4)))
    w.add_job(mock_job(lambda d: (group(d).update(Count=12, Update={**UPDATE, "Canary": 2}),
                                  group(d)["Tasks"][0].update(Resources=res(2000))), job_id="canary"))
    return w, w.eval_for(w.state.job_by_id("default", "canary"))


def _place_run(w: World, ev, per_item: bool) -> tuple:
    """Place 8 missing names marked downgrade_non_canary, as a lazy run or as plain requests."""
    w = copy.deepcopy(w)
    job = w.state.job_by_id("default", "canary")
    allocs = w.state.allocs_by_job("default", "canary")
    plan = Plan(eval_id=ev.id, priority=ev.priority, job=job)
    ctx = PlacementContext(w.harness().senv, job, False, plan, ev)
    ctx.prepare(allocs)
    run = MissingPlacements(AllocNameIndex(job.id, "web", 12, allocs).next_lazy(8), job.task_groups[0], True)
    failed = ctx.compute_placements(ReconcileResults(place=list(run) if per_item else PlaceList(run)), None)
    return failed, plan


def test_downgraded_missing_allocs_place_and_coalesce_as_one_at_a_time():
    """Nomad: downgradedJobForPlacement: new names of a canarying group take the old version (no
    deployment); its failed tail coalesces with that version's resources, as request by request."""
    w, ev = _downgrade_world()
    failed, plan = _place_run(w, ev, per_item=False)
    one_failed, one_plan = _place_run(w, ev, per_item=True)
    assert repr(failed) == repr(one_failed) and repr(plan.node_allocation) == repr(one_plan.node_allocation)
    placed = planned(plan)
    assert placed and {a.job.version for a in placed} == {0} and {a.deployment_id for a in placed} == {""}
    metric = failed["web"]
    assert len(placed) + 1 + metric.coalesced_failures == 8
    assert metric.resources_exhausted["web"]["cpu"] == 3000 * (1 + metric.coalesced_failures)


def _placed_in_runs(runs: bool, nodes: list, jobs: list, monkeypatch: pytest.MonkeyPatch) -> list:
    """Each job version registered and scheduled in turn; what every plan places and how the evals end."""
    with monkeypatch.context() as patch:
        if not runs:  # every select taken alone
            patch.setattr(GenericStack, "select_run", lambda self, tg, most: None)
        w = World(seed=3)
        w.add_nodes(*copy.deepcopy(nodes))
        seen = []
        for job in copy.deepcopy(jobs):
            w.add_job(job)
            h = w.process(w.eval_for(job))
            for plan in h.plans:
                for a in planned(plan):
                    m = a.metrics
                    seen.append((a.id, a.node_id, a.name, a.ports, a.score, repr(m.top_scores()), m))
            seen.append([(ev.status, ev.failed_tg_allocs, ev.queued_allocations) for ev in h.evals])
        seen.append(w.rng.bit_generator.state)
        return seen


@pytest.mark.parametrize("size", [None, NodeResources(cpu=3000, memory_mb=2048, disk_mb=100 * 1024)])
def test_runs_of_selects_place_as_one_select_at_a_time(monkeypatch, size):
    """A group's missing allocs placed in runs of selects (GenericStack.select_run) give what one
    select per alloc gives: the same IDs, nodes, names, ports, scores and metrics, the same
    failure metrics once the cluster is full, and the same rng draws (ports and IDs share it).
    On the big mock nodes the scores turn <= 0 once the job is everywhere (runs stop short), on
    the small ones they stay positive (long runs)."""
    nodes = [mock_node() if size is None else mock_node(resources=size) for _ in range(40)]
    for i, node in enumerate(nodes):
        if i % 7 == 0:  # infeasible: filtered on every visit
            node.attributes = {**node.attributes, "kernel.name": "windows"}
        if i % 5 == 0:  # full after a few allocs: exhausted, then the runs stop short
            node.resources = NodeResources(cpu=2100, memory_mb=8192, disk_mb=100 * 1024)
    first = mock_job(lambda d: group(d).update(Count=120))
    scaled = copy.deepcopy(first)
    scaled.task_groups[0].count = 1200  # more than fits: the group fails and coalesces
    placed = _placed_in_runs(True, nodes, [first, scaled], monkeypatch)
    assert len(placed) > (800 if size is None else 250)
    assert placed == _placed_in_runs(False, nodes, [first, scaled], monkeypatch)
