"""Nomad's preemptor, case by case: scheduler/preemption_test.go at a4cc76bd.

TestResourceDistance is ported as is. TestPreemption's cases run through the service scheduler
on Nomad's node (4000 MHz, 8192 MB, 100 GB; reserved 100 MHz, 256 MB, 4 GB), with the allocs
Nomad's `createAlloc` builds (no disk: its AllocatedResources carry none) and the placing job at
priority 100, expecting Nomad's victims. Cases decided by network bandwidth (MBits) or devices
are not ported: nomadsim models neither (docs/fidelity.md).
"""

from __future__ import annotations

import pytest

from sim.scheduler.preemption.preemptor import (
    Preemptor,
    basic_resource_distance,
    net_priority,
    preemption_score,
)
from sim.structs.node import NodeResources

from ..fixtures import World, group, mock_alloc, mock_job, mock_node

ASK = (2048.0, 512.0, 4096.0)


@pytest.mark.parametrize(("used", "expected"), [
    ((2048, 512, 4096), "0.000"), ((1024, 400, 1024), "0.928"), ((8192, 200, 1024), "3.152"),
    ((2048, 500, 4096), "0.023"),
])
def test_resource_distance(used: tuple[int, int, int], expected: str) -> None:
    """Nomad: TestResourceDistance."""
    assert f"{basic_resource_distance(ASK, tuple(map(float, used))):3.3f}" == expected


def test_preemption_score_is_one_half_at_2048_and_falls_with_net_priority() -> None:
    """Nomad: preemptionScore's logistic curve (rate 0.0048, origin 2048) over netPriority."""
    assert preemption_score(2048.0) == 0.5
    assert preemption_score(50.0) > preemption_score(500.0) > 0.9


def _job(priority: int, port: int | None = None):
    def tweak(d):
        d["Priority"] = priority
        g = group(d)
        g["Count"] = 1
        g["EphemeralDisk"] = {"SizeMB": 0}
        g["Networks"] = [{"Mode": "host", "ReservedPorts": [{"Label": "db", "Value": port}]}] if port else []
    return mock_job(tweak)


NODE = {"resources": NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024),
        "reserved": NodeResources(cpu=100, memory_mb=256, disk_mb=4 * 1024)}


def _run(current: list[tuple[int, int, int, int | None]], ask: tuple[int, int, int | None]) -> list[int] | None:
    """Place one alloc of a priority-100 job asking (cpu, memory, reserved port) on a node holding
    `current` allocs (priority, cpu, memory, reserved port); the indexes of the victims, None when
    it cannot be placed."""
    w = World()
    w.preemption(service=True)
    (node,) = w.add_nodes(mock_node(**NODE))
    allocs = []
    for priority, cpu, mem, port in current:
        job = w.add_job(_job(priority, port))
        allocs.append(mock_alloc(job, node, cpu=cpu, memory_mb=mem, disk_mb=0, client_status="running",
                                 ports=[("db", port)] if port else []))
    w.add_allocs(*allocs)
    cpu, mem, port = ask

    def tweak(d):
        d["Priority"] = 100
        g = group(d)
        g["Count"], g["EphemeralDisk"] = 1, {"SizeMB": 0}
        g["Networks"] = [{"Mode": "host", "ReservedPorts": [{"Label": "db", "Value": port}]}] if port else []
        g["Tasks"][0]["Resources"] = {"CPU": cpu, "MemoryMB": mem}
    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    if not h.plans or not h.plans[0].node_allocation:
        return None
    (placed,) = h.plans[0].node_allocation[node.id]
    victims = h.plans[0].node_preemptions.get(node.id, [])
    assert placed.preempted_allocations == ([v.id for v in victims] or None)
    index = {a.id: i for i, a in enumerate(allocs)}
    return sorted(index[v.id] for v in victims)


HIGH, LOW = 100, 30


@pytest.mark.parametrize(("current", "ask", "victims"), [
    pytest.param([(HIGH, 3200, 7256, None)], (2000, 256, None), None,
                 id="No preemption because existing allocs are not low priority"),
    pytest.param([(LOW, 3200, 7256, None)], (4000, 8192, None), None,
                 id="Preempting low priority allocs not enough to meet resource ask"),
    pytest.param([(HIGH, 1200, 2256, None), (HIGH, 200, 256, 88)], (600, 1000, 88), None,
                 id="preemption impossible - static port needed is used by higher priority alloc"),
    pytest.param([(HIGH, 2800, 2256, None), (LOW, 200, 256, None), (LOW, 200, 256, None), (LOW, 700, 256, None)],
                 (1100, 1000, None), [1, 2, 3], id="Combination of high/low priority allocs, without static ports"),
    pytest.param([(HIGH, 2800, 2256, None), (LOW, 200, 256, None), (LOW, 200, 512, None), (LOW, 700, 276, None)],
                 (1000, 3000, None), [1, 2, 3], id="Preemption needed for all resources except network"),
    pytest.param([(HIGH, 1200, 2256, None), (LOW, 200, 256, 88), (LOW, 200, 256, None)], (2700, 1000, 88), [1, 2],
                 id="one alloc meets static port need, another meets remaining mbits needed"),
    pytest.param([(HIGH, 1200, 2256, None), (LOW, 200, 256, 88), (LOW, 200, 256, None)], (600, 1000, 88), [1],
                 id="alloc that meets static port need also meets other needs"),
    pytest.param([(HIGH, 1800, 2256, None), (LOW, 1500, 256, None), (LOW, 600, 256, None)], (1000, 256, None), [1],
                 id="Filter out allocs whose resource usage superset is also in the preemption list"),
])
def test_preemption(current, ask, victims) -> None:
    """Nomad: TestPreemption (the cases without bandwidth or devices)."""
    assert _run(current, ask) == victims


def test_alloc_of_a_group_at_its_max_parallel_preemptions_is_chosen_last() -> None:
    """Nomad: TestPreemption "alloc from job that has existing evictions not chosen for preemption",
    on resources: the group already lost migrate.max_parallel (1) allocs to this plan, so the
    +50 distance penalty sends the preemptor to the other, equally close, alloc of the same priority."""
    node = mock_node(**NODE)
    low, low2 = _job(LOW), _job(LOW)
    a1 = mock_alloc(low, node, cpu=200, memory_mb=256, disk_mb=0)
    a2 = mock_alloc(low2, node, cpu=200, memory_mb=256, disk_mb=0)
    earlier = mock_alloc(low2, node, cpu=200, memory_mb=256, disk_mb=0)
    for job in (low, low2):
        job.task_groups[0].migrate.max_parallel = 1  # type: ignore[union-attr]
    both = Preemptor(100, "default", "high", (3900.0, 7936.0, 98304.0))
    both.set_candidates([a2, a1])
    assert [a.id for a in both.preempt_for_task_group((3700.0, 500.0, 0.0))] == [a2.id]
    penalised = Preemptor(100, "default", "high", (3900.0, 7936.0, 98304.0), [earlier])
    penalised.set_candidates([a2, a1])
    assert [a.id for a in penalised.preempt_for_task_group((3700.0, 500.0, 0.0))] == [a1.id]


def test_net_priority_penalises_many_victims() -> None:
    """Nomad: netPriority: max priority plus sum / max."""
    job = _job(30)
    node = mock_node()
    allocs = [mock_alloc(job, node) for _ in range(3)]
    assert net_priority(allocs) == 30 + 90 / 30
