"""The plan applier re-checks a plan's preemptions: the victims' resources, ports and device
instances count as freed on their node; victims already terminal are not written.

Nomad: nomad/plan_apply_test.go TestPlanApply_EvalPlan_Preemption (evaluateNodePlan removes the
plan's preemptions with its stops), and the device accounter of AllocsFit.
"""

from __future__ import annotations

from sim.server.plan_apply import evaluate_node_plan, evaluate_plan
from sim.structs.alloc import Allocation
from sim.structs.devices import AllocatedDevice, NodeDeviceResource
from sim.structs.networks import AllocatedNetwork, NodeNetwork
from sim.structs.node import NodeResources
from sim.structs.plan import Plan

from ..fixtures import World, mock_alloc, mock_job, mock_node

NIC = NodeNetwork("eth0", "192.168.0.100/32", 1000)
GPUS = NodeDeviceResource("nvidia", "gpu", "1080ti", ("dev0", "dev1"))


def _network(mbits: int = 800) -> tuple[AllocatedNetwork, ...]:
    return (AllocatedNetwork("web", "eth0", "192.168.0.100", mbits, (("admin", 5000),), (("http", 9876),)),)


def _plan(placed: Allocation, preempted: list[Allocation]) -> Plan:
    plan = Plan(eval_id="e", priority=100, job=placed.job)
    plan.append_alloc(placed)
    for victim in preempted:
        plan.append_preempted_alloc(victim, placed.id)
    return plan


def _world(cpu: int = 1500, mem: int = 4000, disk: int = 25 * 1024) -> tuple[World, object, Allocation]:
    """TestPlanApply_EvalPlan_Preemption's node (with two GPUs) and the alloc to preempt there."""
    w = World()
    (node,) = w.add_nodes(mock_node(resources=NodeResources(cpu=2000, memory_mb=4192, disk_mb=30 * 1024,
                                                            networks=(NIC,), devices=(GPUS,))))
    victim = mock_alloc(w.add_job(mock_job()), node, cpu=cpu, memory_mb=mem, disk_mb=disk,
                        client_status="running", networks=_network(),
                        devices=(AllocatedDevice("web", "nvidia", "gpu", "1080ti", ("dev0", "dev1")),))
    w.add_allocs(victim)
    return w, node, victim


def test_the_plan_fits_only_with_its_preemptions() -> None:
    """Nomad: TestPlanApply_EvalPlan_Preemption: the placement fits once the preempted alloc's
    resources are freed, and the result keeps the plan's allocations and preemptions."""
    w, node, victim = _world()
    placed = mock_alloc(w.add_job(mock_job()), node, cpu=1500, memory_mb=3200, disk_mb=24 * 1024, networks=_network())
    plan = _plan(placed, [victim])
    result = evaluate_plan(w.state, plan)
    assert result.node_allocation == plan.node_allocation and result.node_preemptions == plan.node_preemptions
    assert result.rejected_nodes == []
    assert evaluate_node_plan(w.state, _plan(placed, []), node.id) == (False, "cpu")


def test_a_preempted_alloc_frees_its_device_instances() -> None:
    """The victim's GPUs may go to the placement; without the preemption they are oversubscribed."""
    w, node, victim = _world(cpu=100, mem=100, disk=0)
    placed = mock_alloc(w.add_job(mock_job()), node, cpu=100, memory_mb=100, disk_mb=0,
                        devices=(AllocatedDevice("web", "nvidia", "gpu", "1080ti", ("dev1",)),))
    assert evaluate_node_plan(w.state, _plan(placed, [victim]), node.id) == (True, "")
    assert evaluate_node_plan(w.state, _plan(placed, []), node.id) == (False, "device oversubscribed")


def test_a_victim_already_terminal_is_not_written() -> None:
    """Nomad: applyPlan keeps only the preemptions still non-terminal by now."""
    w, node, victim = _world()
    w.state.update_allocs_from_client([(victim, {"client_status": "complete"})])
    placed = mock_alloc(w.add_job(mock_job()), node, cpu=100, memory_mb=100, disk_mb=0)
    result = evaluate_plan(w.state, _plan(placed, [victim]))
    assert result.node_preemptions == {node.id: []} and result.node_allocation == {node.id: [placed]}
