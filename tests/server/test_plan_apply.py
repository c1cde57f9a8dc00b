"""The plan applier's per-node re-check (sim/server/plan_apply.py evaluate_node_plan / evaluate_plan).

Cases follow Nomad's nomad/plan_apply_test.go (TestPlanApply_EvalNodePlan_*), plus the port and
resource arithmetic of the simulator's node table.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import simpy

from sim.server import plan_apply
from sim.server.plan_apply import (
    AppliedPlan,
    PlanQueue,
    apply_plan,
    evaluate_node_plan,
    evaluate_plan,
    fit_new_allocs,
)
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.devices import AllocatedDevice, NodeDeviceResource
from sim.structs.job import Job, Task, TaskGroup
from sim.structs.node import Node, NodeResources
from sim.structs.plan import Plan

JOB = Job(id="web", name="web", namespace="default", type="service", priority=50, datacenters=["dc1"],
          task_groups=[TaskGroup(name="g", count=1, tasks=[Task(name="t", driver="docker")])])


def _state(*nodes: Node) -> StateStore:
    state = StateStore(clock=lambda: 0.0)
    state.upsert_nodes(list(nodes) or [_node("n1")])
    state.upsert_job(JOB)
    return state


def _node(node_id: str, cpu: int = 1000, mem: int = 1024, disk: int = 1000, **fields: object) -> Node:
    return Node(id=node_id, name=node_id, resources=NodeResources(cpu, mem, disk), **fields)


def _alloc(alloc_id: str, node_id: str = "n1", cpu: int = 100, mem: int = 100, disk: int = 0,
           ports: list[tuple[str, int]] | None = None, client_status: str = "pending") -> Allocation:
    return Allocation(id=alloc_id, namespace="default", eval_id="e", name=f"web.g[{alloc_id}]", node_id=node_id,
                      node_name=node_id, job_id="web", job=JOB, task_group="g", cpu=cpu, memory_mb=mem,
                      disk_mb=disk, ports=list(ports or []), client_status=client_status)


def _plan(*allocs: Allocation, stops: tuple[Allocation, ...] = (), all_at_once: bool = False) -> Plan:
    plan = Plan(eval_id="e", priority=50, job=JOB, all_at_once=all_at_once)
    for a in allocs:
        plan.append_alloc(a)
    for a in stops:
        plan.append_stopped_alloc(a, "stopped")
    return plan


def test_simple_placement_fits() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_Simple."""
    state = _state()
    assert evaluate_node_plan(state, _plan(_alloc("a")), "n1") == (True, "")


def test_node_that_is_not_ready_rejects() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeNotReady."""
    state = _state(_node("n1", status="initializing"))
    assert evaluate_node_plan(state, _plan(_alloc("a")), "n1") == (False, "node is not ready for placements")


def test_ineligible_node_rejects_new_allocs() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeDrain (ineligible, not an update)."""
    state = _state(_node("n1", scheduling_eligibility="ineligible"))
    assert evaluate_node_plan(state, _plan(_alloc("a")), "n1") == (False, "node is not eligible")


def test_unknown_node_rejects() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeNotExist."""
    state = _state()
    assert evaluate_node_plan(state, _plan(_alloc("a", node_id="ghost")), "ghost") == (False, "node does not exist")


def test_down_node_takes_only_lost_updates() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeDown_EvictOnly (isValidForDownNode)."""
    state = _state(_node("n1", status="down"))
    assert evaluate_node_plan(state, _plan(_alloc("a", client_status="lost")), "n1") == (True, "")
    assert evaluate_node_plan(state, _plan(_alloc("b")), "n1") == (False, "node is down")


@pytest.mark.parametrize(("ask", "reason"), [
    ({"cpu": 1001}, "cpu"), ({"mem": 1025}, "memory"), ({"disk": 1001}, "disk"),
    ({"cpu": 2000, "mem": 2000}, "cpu"),
])
def test_full_node_rejects_with_the_first_exhausted_dimension(ask: dict, reason: str) -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeFull; dimensions checked cpu, memory, disk."""
    state = _state()
    assert evaluate_node_plan(state, _plan(_alloc("a", **ask)), "n1") == (False, reason)


def test_existing_usage_counts_and_stops_free_it() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_NodeFull_Evict: a stop in the same plan frees room."""
    state = _state()
    old = _alloc("old", cpu=900)
    state.upsert_plan_results([old], [], None, [], "e0")
    assert evaluate_node_plan(state, _plan(_alloc("new", cpu=200)), "n1") == (False, "cpu")
    assert evaluate_node_plan(state, _plan(_alloc("new", cpu=200), stops=(old,)), "n1") == (True, "")


def test_in_place_update_of_an_alloc_on_the_node_always_fits() -> None:
    """Nomad: plan_apply_test.go TestPlanApply_EvalNodePlan_UpdateExisting."""
    state = _state(_node("n1", scheduling_eligibility="ineligible"))
    state.upsert_plan_results([_alloc("a", cpu=900)], [], None, [], "e0")
    assert evaluate_node_plan(state, _plan(_alloc("a", cpu=5000)), "n1") == (True, "")


def test_port_collisions_with_used_ports_and_within_the_plan() -> None:
    """A placement may not take a host port in use on the node, nor one another placement takes."""
    state = _state(_node("n1", reserved=NodeResources(reserved_ports="22")))
    state.upsert_plan_results([_alloc("old", ports=[("http", 8080)])], [], None, [], "e0")
    collision = (False, "network: port collision")
    assert evaluate_node_plan(state, _plan(_alloc("a", ports=[("ssh", 22)])), "n1") == collision
    assert evaluate_node_plan(state, _plan(_alloc("a", ports=[("http", 8080)])), "n1") == collision
    assert evaluate_node_plan(state, _plan(_alloc("a", ports=[("x", 9000)]), _alloc("b", ports=[("y", 9000)])),
                              "n1") == collision
    assert evaluate_node_plan(state, _plan(_alloc("a", ports=[("x", 9000)]), _alloc("b")), "n1") == (True, "")


def test_a_stopped_alloc_releases_its_ports_for_the_plan() -> None:
    """Stopping the alloc that holds a port in the same plan lets a placement take it."""
    state = _state()
    old = _alloc("old", ports=[("http", 8080)])
    state.upsert_plan_results([old], [], None, [], "e0")
    assert evaluate_node_plan(state, _plan(_alloc("a", ports=[("http", 8080)]), stops=(old,)), "n1") == (True, "")


def test_portless_placements_leave_the_node_port_set_untouched() -> None:
    """Checking placements without ports reads the node's ports without changing them."""
    state = _state(_node("n1", reserved=NodeResources(reserved_ports="22")))
    before = set(state.nodes.used_ports[0])
    assert evaluate_node_plan(state, _plan(_alloc("a"), _alloc("b")), "n1") == (True, "")
    assert state.nodes.used_ports[0] == before == {22}


def test_partial_commit_keeps_the_nodes_that_fit() -> None:
    """Nomad: evaluatePlanPlacements: a rejected node asks for a refresh; all_at_once rejects everything."""
    state = _state(_node("n1"), _node("n2", cpu=50))
    plan = _plan(_alloc("a", node_id="n1"), _alloc("b", node_id="n2"))
    result = evaluate_plan(state, plan)
    assert result.rejected_nodes == ["n2"] and list(result.node_allocation) == ["n1"]
    assert result.refresh_index == state.index
    strict = evaluate_plan(state, _plan(_alloc("a", node_id="n1"), _alloc("b", node_id="n2"), all_at_once=True))
    assert strict.node_allocation == {} and strict.rejected_nodes == ["n2"]


def test_apply_plan_commits_what_fits_in_one_write() -> None:
    """apply_plan writes the kept placements (one index) and returns them in node order."""
    state = _state(_node("n1"), _node("n2"))
    before = state.index
    result, placed, stopped = apply_plan(state, _plan(_alloc("b", node_id="n2"), _alloc("a", node_id="n1")))
    assert [a.id for a in placed] == ["a", "b"] and stopped == []
    assert result.alloc_index == state.index == before + 1
    assert state.nodes.used[0][0] == 100 and state.nodes.used[1][0] == 100


def test_plan_queue_publishes_each_commit_to_its_subscribers_in_order() -> None:
    """Every commit reaches each subscriber once, in subscription order, before the worker's
    event fires (the server's metrics, then the clients, then the deployment watcher)."""
    env = simpy.Environment()
    state = _state()
    queue = PlanQueue(env, state, latency=0.5)
    heard: list[tuple[str, AppliedPlan]] = []
    queue.subscribe(lambda applied: heard.append(("first", applied)))
    queue.subscribe(lambda applied: heard.append(("second", applied)))
    done = queue.submit(_plan(_alloc("a")))
    env.run(until=1)
    assert [name for name, _ in heard] == ["first", "second"] and heard[0][1] is heard[1][1]
    applied = heard[0][1]
    assert [a.id for a in applied.placed] == ["a"] and applied.stopped == [] and applied.result is done.value


def test_applied_plan_says_when_every_placement_is_new() -> None:
    """`AppliedPlan.new`: every placed alloc was stored by this commit (the stored object itself);
    a plan with an in-place update of a stored alloc is not new."""
    env = simpy.Environment()
    state = _state()
    queue = PlanQueue(env, state, latency=0.0)
    heard: list[AppliedPlan] = []
    queue.subscribe(heard.append)
    queue.submit(_plan(_alloc("a"), _alloc("b")))
    env.run(until=1)
    assert heard[-1].new and all(state.alloc_by_id(a.id) is a for a in heard[-1].placed)
    update = replace(state.alloc_by_id("a"), cpu=50)
    queue.submit(_plan(_alloc("c"), update))
    env.run(until=2)
    assert not heard[-1].new and state.alloc_by_id("a") is not update
    queue.submit(_plan(_alloc("c2"), _alloc("a", cpu=10)))  # a stored ID in a new object: an update too
    env.run(until=3)
    assert not heard[-1].new


@pytest.mark.parametrize("few", [0, 1000])
@pytest.mark.parametrize("seed", [7, 8, 9])
def test_new_ids_spare_the_state_the_same_verdicts(few: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """fit_new_allocs gives the same verdicts when the plan names its new allocs (`new_ids`: not
    looked up in the state) as when it does not, and asks the state nothing when all are new."""
    monkeypatch.setattr(plan_apply, "_FEW", few)
    rng = np.random.default_rng(seed)
    state = _state(*[_node(f"n{i}", cpu=int(rng.integers(100, 600)), mem=int(rng.integers(100, 600)),
                           disk=int(rng.integers(0, 400))) for i in range(30)])
    state.upsert_plan_results([_alloc(f"old{i}", node_id=f"n{i}", cpu=int(rng.integers(0, 300)))
                               for i in range(0, 30, 3)], [], None, [], "e0")
    asked: list[int] = []
    holds = state.holds_allocs
    monkeypatch.setattr(state, "holds_allocs", lambda ids: asked.append(1) or holds(ids))
    for update in ([], [_alloc("old3", node_id="n3", cpu=50)]):
        placing = [_alloc(f"a{i}", node_id=f"n{int(rng.integers(0, 30))}", cpu=int(rng.integers(0, 200)),
                          mem=int(rng.integers(0, 200)), disk=int(rng.integers(0, 150))) for i in range(90)]
        plan = _plan(*placing, *update)
        looked_up = list(fit_new_allocs(state, plan).items())
        asked.clear()
        plan.new_ids = {a.id for a in placing}
        assert list(fit_new_allocs(state, plan).items()) == looked_up
        assert len(asked) == len(update)
        assert {fits for _, fits in looked_up} == {True, False}


def _gpu_node(node_id: str = "n1") -> Node:
    gpus = NodeDeviceResource("nvidia", "gpu", "A100", ("g0", "g1"))
    return Node(id=node_id, name=node_id, resources=NodeResources(1000, 1024, 1000, devices=(gpus,)))


def _holding(alloc_id: str, *ids: str, **fields: object) -> Allocation:
    alloc = _alloc(alloc_id, **fields)  # type: ignore[arg-type]
    alloc.devices = (AllocatedDevice("t", "nvidia", "gpu", "A100", ids),)
    return alloc


def test_device_double_booking_is_rejected() -> None:
    """Nomad: AllocsFit's device accounter: an instance held by a live alloc, or given twice in
    the plan, is "device oversubscribed"; a stop in the same plan frees it."""
    state = _state(_gpu_node())
    old = _holding("old", "g0")
    state.upsert_plan_results([old], [], None, [], "e0")
    oversubscribed = (False, "device oversubscribed")
    assert evaluate_node_plan(state, _plan(_holding("a", "g0")), "n1") == oversubscribed
    assert evaluate_node_plan(state, _plan(_holding("a", "g1"), _holding("b", "g1")), "n1") == oversubscribed
    assert evaluate_node_plan(state, _plan(_holding("a", "g1")), "n1") == (True, "")
    assert evaluate_node_plan(state, _plan(_holding("a", "g0"), stops=(old,)), "n1") == (True, "")


@pytest.mark.parametrize("change", [{"client_status": "complete"}, {"client_status": "failed"},
                                    {"client_status": "lost"}, {"desired_status": "stop"}])
def test_devices_are_freed_when_the_alloc_ends(change: dict) -> None:
    """A stopped, failed, lost or complete alloc no longer holds its device instances."""
    state = _state(_gpu_node())
    old = _holding("old", "g0", "g1")
    state.upsert_plan_results([old], [], None, [], "e0")
    assert state.nodes.used_devices[0] == {"g0", "g1"} and state.nodes.gpu_used[0] == 2
    state.update_allocs_from_client([(old, change)])
    assert state.nodes.used_devices[0] == set() and state.nodes.gpu_used[0] == 0
    assert evaluate_node_plan(state, _plan(_holding("a", "g0", "g1")), "n1") == (True, "")


@pytest.mark.parametrize("few", [0, 1000])
@pytest.mark.parametrize("seed", [7, 8, 9])
def test_new_allocs_checked_together_as_one_node_at_a_time(few: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """fit_new_allocs gives each node it decides the per-node check's verdict, and leaves to that
    check every node with a stop, an update, ports, or that is not ready or eligible (with arrays,
    and for a small plan in Python)."""
    monkeypatch.setattr(plan_apply, "_FEW", few)
    rng = np.random.default_rng(seed)
    nodes = [_node(f"n{i}", cpu=int(rng.integers(100, 600)), mem=int(rng.integers(100, 600)),
                   disk=int(rng.integers(0, 400))) for i in range(40)]
    nodes.append(_node("down", status="down"))
    nodes.append(_node("ineligible", scheduling_eligibility="ineligible"))
    state = _state(*nodes)
    old = [_alloc(f"old{i}", node_id=f"n{i}", cpu=int(rng.integers(0, 300))) for i in range(0, 40, 3)]
    state.upsert_plan_results(old, [], None, [], "e0")
    placing = [_alloc(f"a{i}", node_id=f"n{int(rng.integers(0, 40))}", cpu=int(rng.integers(0, 200)),
                      mem=int(rng.integers(0, 200)), disk=int(rng.integers(0, 150))) for i in range(120)]
    placing += [_alloc("p", node_id="n5", ports=[("http", 8080)]), _alloc("old3", node_id="n3", cpu=50),
                _alloc("d", node_id="down"), _alloc("e", node_id="ineligible")]
    plan = _plan(*placing, stops=(old[2],))  # old6, on n6
    node_ids = sorted(plan.node_allocation)
    decided = fit_new_allocs(state, plan)
    assert set(decided) == set(node_ids) - {"n3", "n5", "n6", "down", "ineligible"}
    assert {verdict for verdict in decided.values()} == {True, False}
    for node_id, fits in decided.items():
        assert evaluate_node_plan(state, plan, node_id)[0] is fits
