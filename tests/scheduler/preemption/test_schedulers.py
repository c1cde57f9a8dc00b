"""The schedulers placing with preemption, through the Harness.

Nomad: generic_sched_test.go TestServiceSched_Preemption, scheduler_system_test.go
TestSystemSched_Preemption and scheduler_sysbatch_test.go TestSysBatch_Preemption (the same
cluster), with Nomad's expected victims. Nomad's system cases reach their victims through
network bandwidth; without bandwidth (not modelled) the same three allocs are the ones that free
enough CPU, so the expectations hold.
"""

from __future__ import annotations

import pytest

from sim.structs.networks import AllocatedNetwork, NodeNetwork
from sim.structs.node import NodeResources

from ..fixtures import (
    World,
    group,
    mock_alloc,
    mock_batch_job,
    mock_job,
    mock_node,
    mock_system_job,
)


def _service(priority: int, cpu: int, mem: int, job_type: str = "service"):
    make = mock_batch_job if job_type == "batch" else mock_job

    def tweak(d):
        d["Priority"] = priority
        g = group(d)
        g["Count"] = 1
        g["Networks"] = []
        g["Tasks"][0]["Resources"] = {"CPU": cpu, "MemoryMB": mem}
    return make(tweak)


def _preempt_two_lower_jobs(job_type: str, enabled: bool) -> tuple[World, list, object]:
    """TestServiceSched_Preemption's cluster: a 1000 MHz / 2048 MB node, jobs of priority 30 and
    50 placed, then a priority-100 job asking 900 MHz / 1700 MB."""
    w = World()
    w.preemption(**{job_type: enabled})
    w.add_nodes(mock_node(resources=NodeResources(cpu=1000, memory_mb=2048, disk_mb=100 * 1024),
                          reserved=NodeResources(cpu=50, memory_mb=256, disk_mb=4 * 1024, reserved_ports="22")))
    placed = []
    for priority, cpu, mem in ((30, 500, 1024), (50, 350, 512)):
        job = w.add_job(_service(priority, cpu, mem, job_type))
        h = w.process(w.eval_for(job))
        assert h.create_evals == []
        (alloc,) = [a for allocs in h.plans[0].node_allocation.values() for a in allocs]
        placed.append(alloc)
    job3 = w.add_job(_service(100, 900, 1700, job_type))
    return w, placed, job3


@pytest.mark.parametrize("job_type", ["service", "batch"])
def test_high_priority_job_preempts_the_two_lower_ones(job_type: str) -> None:
    """Nomad: TestServiceSched_Preemption (and the same for the batch scheduler's switch)."""
    w, placed, job3 = _preempt_two_lower_jobs(job_type, True)
    h = w.process(w.eval_for(job3))
    assert h.create_evals == []
    plan = h.plans[0]
    assert plan.annotations is None
    (alloc,) = w.state.allocs_by_job("default", job3.id)
    assert sorted(alloc.preempted_allocations or []) == sorted(a.id for a in placed)
    for victim in placed:
        stored = w.state.alloc_by_id(victim.id)
        assert stored is not None and stored.desired_status == "evict"
        assert stored.desired_description == f"Preempted by alloc ID {alloc.id}"
        assert stored.preempted_by_allocation == alloc.id
    assert alloc.metrics is not None and "preemption" in alloc.metrics.score_meta_data[0].scores


@pytest.mark.parametrize("job_type", ["service", "batch"])
def test_without_preemption_the_high_priority_job_blocks(job_type: str) -> None:
    """Nomad's defaults (service and batch preemption off): the job fails to place and blocks."""
    w, placed, job3 = _preempt_two_lower_jobs(job_type, False)
    h = w.process(w.eval_for(job3))
    assert w.state.allocs_by_job("default", job3.id) == []
    assert [e.status for e in h.create_evals] == ["blocked"]
    assert all(w.state.alloc_by_id(a.id).desired_status == "run" for a in placed)  # type: ignore[union-attr]


def test_annotated_plan_counts_preemptions() -> None:
    """Nomad: handlePreemptions: an annotated plan's DesiredTGUpdates count the preemptions."""
    w, _placed, job3 = _preempt_two_lower_jobs("service", True)
    h = w.process(w.eval_for(job3, annotate_plan=True))
    assert h.plans[0].annotations is not None and h.plans[0].annotations["web"].preemptions == 2


@pytest.mark.parametrize("job_type", ["system", "sysbatch"])
def test_system_job_preempts_lower_priority_allocs(job_type: str) -> None:
    """Nomad: TestSystemSched_Preemption and TestSysBatch_Preemption: two nodes, the first full of
    priority 20, 20, 40 and 100 allocs holding 900 of its NIC's 1000 MBits; the system job
    (priority 100, 800 MBits) evicts the three below it there for bandwidth and places on both
    nodes, its task network on the NIC."""
    w = World()
    w.preemption(**{job_type: True})
    nic = NodeNetwork("eth0", "192.168.0.100/32", 1000)
    nodes = w.add_nodes(*(mock_node(resources=NodeResources(cpu=3072, memory_mb=5034, disk_mb=20 * 1024,
                                                            networks=(nic,)))
                          for _ in range(2)))
    allocs = []
    for priority, cpu, mem, disk, mbits, port in ((20, 512, 1024, 5120, 200, None), (20, 512, 1024, 5120, 200, None),
                                                  (40, 1024, 25, 5120, 400, None), (100, 1024, 2048, 2048, 100, 80)):
        job = w.add_job(_service(priority, cpu, mem, "batch"))
        net = AllocatedNetwork("web", "eth0", "192.168.0.100", mbits, (("web", port),) if port else ())
        allocs.append(mock_alloc(job, nodes[0], cpu=cpu, memory_mb=mem, disk_mb=disk, client_status="running",
                                 networks=(net,)))
    w.add_allocs(*allocs)

    def tweak(d):
        group(d)["Tasks"][0]["Resources"] = {"CPU": 1948, "MemoryMB": 256,
                                             "Networks": [{"MBits": 800, "DynamicPorts": [{"Label": "http"}]}]}
    job = w.add_job(mock_system_job(tweak, job_type=job_type))
    h = w.process(w.eval_for(job))
    (plan,) = h.plans
    assert plan.annotations is None
    assert len(plan.node_allocation) == 2
    (preempting,) = plan.node_allocation[nodes[0].id]
    assert sorted(a.id for a in plan.node_preemptions[nodes[0].id]) == sorted(a.id for a in allocs[:3])
    for victim in allocs[:3]:
        stored = w.state.alloc_by_id(victim.id)
        assert stored is not None and stored.desired_status == "evict"
        assert stored.desired_description == f"Preempted by alloc ID {preempting.id}"
    assert w.state.alloc_by_id(allocs[3].id).desired_status == "run"  # type: ignore[union-attr]
    assert h.evals[0].status == "complete"
    for placed in (a for allocs in plan.node_allocation.values() for a in allocs):
        (offer,) = placed.networks
        assert (offer.device, offer.ip, offer.mbits, [label for label, _ in offer.dynamic_ports]) == \
            ("eth0", "192.168.0.100", 800, ["http"])


def test_sysbatch_preemption_is_off_by_default() -> None:
    """Nomad's defaults: SysBatchSchedulerEnabled false, so the full node is a failed placement."""
    w = World()
    (node,) = w.add_nodes(mock_node(resources=NodeResources(cpu=1000, memory_mb=2048, disk_mb=100 * 1024)))
    low = w.add_job(_service(20, 800, 256, "batch"))
    w.add_allocs(mock_alloc(low, node, client_status="running"))
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    h = w.process(w.eval_for(job))
    assert h.plans == [] and "web" in h.evals[0].failed_tg_allocs


def test_placements_that_fit_never_enter_the_evict_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """With preemption on and room everywhere the stack runs exactly as with it off: the second,
    evicting select happens only after a select found nothing (Nomad: selectNextOption)."""
    import sim.scheduler.feasible.stack as stack_module

    calls: list[int] = []
    real = stack_module.evaluate_evict
    monkeypatch.setattr(stack_module, "evaluate_evict", lambda *a, **k: calls.append(1) or real(*a, **k))
    outcomes = []
    for enabled in (False, True):
        w = World(seed=5)
        w.preemption(service=enabled)
        w.nodes(10)
        job = w.add_job(mock_job(job_id="fits"))
        h = w.process(w.eval_for(job))
        rows = w.state.nodes.index_of
        outcomes.append(sorted((a.name, rows[a.node_id], a.score) for v in h.plans[0].node_allocation.values() for a in v))
    assert calls == [] and outcomes[0] == outcomes[1] and len(outcomes[0]) == 10
