"""Nomad's preemptor, case by case: scheduler/preemption_test.go at a4cc76bd.

TestResourceDistance is ported as is. TestPreemption's cases run through the service scheduler
on Nomad's node (4000 MHz, 8192 MB, 100 GB; reserved 100 MHz, 256 MB, 4 GB), with the allocs
Nomad's `createAlloc` builds (no disk: its AllocatedResources carry none) and the placing job at
priority 100, expecting Nomad's victims. Cases decided by network bandwidth (MBits) or devices
are not ported: nomadsim models neither (docs/fidelity.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sim.scheduler.preemption.preemptor import (
    Preemptor,
    basic_resource_distance,
    net_priority,
    preemption_score,
)
from sim.structs.devices import AllocatedDevice, NodeDeviceResource
from sim.structs.job import Job
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


def _device(name: str, ids: tuple[str, ...], attributes: tuple[tuple[str, str], ...] = ()) -> NodeDeviceResource:
    vendor, kind, model = name.split("/")
    return NodeDeviceResource(vendor, kind, model, ids, attributes)


GPU_ATTRIBUTES = (("memory", "11 GiB"), ("cuda_cores", "3584"), ("graphics_clock", "1480 MHz"),
                  ("memory_bandwidth", "11 GB/s"))
DEVICES = (  # TestPreemption's node devices (fpga2, unhealthy there, is left out: every instance here is healthy)
    _device("nvidia/gpu/1080ti", ("dev0", "dev1", "dev2", "dev3"), GPU_ATTRIBUTES),
    _device("nvidia/gpu/2080ti", ("dev4", "dev5", "dev6", "dev7", "dev8"), GPU_ATTRIBUTES),
    _device("intel/fpga/F100", ("fpga1",), (("memory", "4 GiB"),)),
)
NODE = {"resources": NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024, devices=DEVICES),
        "reserved": NodeResources(cpu=100, memory_mb=256, disk_mb=4 * 1024)}


@dataclass(frozen=True)
class Held:
    """One of Nomad's `createAlloc`/`createAllocWithDevice` allocs: its job's priority, cpu,
    memory, a reserved port, and device instances ("vendor/type/name", ids)."""

    priority: int
    cpu: int
    mem: int
    port: int | None = None
    devices: tuple[str, tuple[str, ...]] | None = None


def _run(current: list[Held], ask: tuple[int, int, int | None], devices: list[tuple[str, int]] | None = None,
         ) -> list[int] | None:
    """Place one alloc of a priority-100 job asking (cpu, memory, reserved port) and `devices`
    ((name, count) requests) on a node holding `current` allocs; the indexes of the victims,
    None when it cannot be placed. Allocs of the same priority (and port) share a job, as
    Nomad's cases share highPrioJob, lowPrioJob and lowPrioJob2."""
    w = World()
    w.preemption(service=True)
    (node,) = w.add_nodes(mock_node(**NODE))
    jobs: dict[tuple[int, int | None], Job] = {}
    allocs = []
    for held in current:
        job = jobs.get((held.priority, held.port))
        if job is None:
            job = jobs[(held.priority, held.port)] = w.add_job(_job(held.priority, held.port))
        allocated = ()
        if held.devices is not None:
            vendor, kind, model = held.devices[0].split("/")
            allocated = (AllocatedDevice("web", vendor, kind, model, held.devices[1]),)
        allocs.append(mock_alloc(job, node, cpu=held.cpu, memory_mb=held.mem, disk_mb=0, client_status="running",
                                 ports=[("db", held.port)] if held.port else [], devices=allocated))
    w.add_allocs(*allocs)
    cpu, mem, port = ask

    def tweak(d):
        d["Priority"] = 100
        g = group(d)
        g["Count"], g["EphemeralDisk"] = 1, {"SizeMB": 0}
        g["Networks"] = [{"Mode": "host", "ReservedPorts": [{"Label": "db", "Value": port}]}] if port else []
        g["Tasks"][0]["Resources"] = {"CPU": cpu, "MemoryMB": mem}
        if devices:
            g["Tasks"][0]["Resources"]["Devices"] = [{"Name": name, "Count": n} for name, n in devices]
    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    if not h.plans or not h.plans[0].node_allocation:
        return None
    (placed,) = h.plans[0].node_allocation[node.id]
    victims = h.plans[0].node_preemptions.get(node.id, [])
    assert placed.preempted_allocations == ([v.id for v in victims] or None)
    if devices:  # the offer reuses the victims' instances, never another live alloc's
        kept = {i for a in allocs if a.id not in {v.id for v in victims} for d in a.devices for i in d.device_ids}
        offered = [i for d in placed.devices for i in d.device_ids]
        assert len(offered) == sum(n for _, n in devices) and not kept & set(offered)
    index = {a.id: i for i, a in enumerate(allocs)}
    return sorted(index[v.id] for v in victims)


HIGH, LOW, LOW2 = 100, 30, 40
GTX = "nvidia/gpu/1080ti"
RTX = "nvidia/gpu/2080ti"
FPGA = "intel/fpga/F100"


@pytest.mark.parametrize(("current", "ask", "victims"), [
    pytest.param([Held(HIGH, 3200, 7256)], (2000, 256, None), None,
                 id="No preemption because existing allocs are not low priority"),
    pytest.param([Held(LOW, 3200, 7256)], (4000, 8192, None), None,
                 id="Preempting low priority allocs not enough to meet resource ask"),
    pytest.param([Held(HIGH, 1200, 2256), Held(HIGH, 200, 256, 88)], (600, 1000, 88), None,
                 id="preemption impossible - static port needed is used by higher priority alloc"),
    pytest.param([Held(HIGH, 2800, 2256), Held(LOW, 200, 256), Held(LOW, 200, 256), Held(LOW, 700, 256)],
                 (1100, 1000, None), [1, 2, 3], id="Combination of high/low priority allocs, without static ports"),
    pytest.param([Held(HIGH, 2800, 2256), Held(LOW, 200, 256), Held(LOW, 200, 512), Held(LOW, 700, 276)],
                 (1000, 3000, None), [1, 2, 3], id="Preemption needed for all resources except network"),
    pytest.param([Held(HIGH, 1200, 2256), Held(LOW, 200, 256, 88), Held(LOW, 200, 256)], (2700, 1000, 88), [1, 2],
                 id="one alloc meets static port need, another meets remaining mbits needed"),
    pytest.param([Held(HIGH, 1200, 2256), Held(LOW, 200, 256, 88), Held(LOW, 200, 256)], (600, 1000, 88), [1],
                 id="alloc that meets static port need also meets other needs"),
    pytest.param([Held(HIGH, 1800, 2256), Held(LOW, 1500, 256), Held(LOW, 600, 256)], (1000, 256, None), [1],
                 id="Filter out allocs whose resource usage superset is also in the preemption list"),
])
def test_preemption(current, ask, victims) -> None:
    """Nomad: TestPreemption (the cases on resources and static ports)."""
    assert _run(current, ask) == victims


@pytest.mark.parametrize(("current", "request_", "victims"), [
    pytest.param([Held(LOW, 500, 512, devices=(GTX, ("dev0",))), Held(LOW, 200, 512, devices=(GTX, ("dev1",)))],
                 (GTX, 4), [0, 1], id="Preemption with one device instance per alloc"),
    pytest.param([Held(LOW, 500, 512, devices=(GTX, ("dev0", "dev1", "dev2", "dev3"))),
                  Held(LOW, 200, 512, devices=(FPGA, ("fpga1",)))],
                 (GTX, 4), [0], id="Preemption multiple devices used"),
    pytest.param([Held(LOW, 500, 512, devices=(GTX, ("dev0", "dev1"))), Held(HIGH, 200, 100, devices=(GTX, ("dev2",))),
                  Held(LOW, 200, 256, devices=(RTX, ("dev4", "dev5"))), Held(LOW, 100, 256, devices=(RTX, ("dev6", "dev7"))),
                  Held(LOW, 200, 512, devices=(FPGA, ("fpga1",)))],
                 ("gpu", 4), [2, 3], id="Preemption with allocs across multiple devices that match"),
    pytest.param([Held(LOW, 500, 512, devices=(GTX, ("dev0", "dev1"))), Held(LOW2, 200, 100, devices=(GTX, ("dev2", "dev3"))),
                  Held(LOW, 200, 256, devices=(RTX, ("dev4", "dev5"))), Held(LOW, 100, 256, devices=(RTX, ("dev6", "dev7"))),
                  Held(LOW, 100, 256, devices=(RTX, ("dev8",))), Held(LOW, 200, 512, devices=(FPGA, ("fpga1",)))],
                 ("gpu", 4), [2, 3], id="Preemption with lower/higher priority combinations"),
    pytest.param([Held(LOW, 500, 512, devices=(GTX, ("dev0", "dev1", "dev2", "dev3"))),
                  Held(LOW, 200, 512, devices=(FPGA, ("fpga1",)))],
                 ("gpu", 6), None, id="Device preemption not possible due to more instances needed than available"),
])
def test_device_preemption(current, request_, victims) -> None:
    """Nomad: TestPreemption's device cases: the placing job asks 1000 MHz, 512 MB and one
    device request."""
    assert _run(current, (1000, 512, None), [request_]) == victims


def test_preemption_multiple() -> None:
    """Nomad: TestPreemptionMultiple: a node with 4 GPUs held by 4 allocs of a priority-5 job;
    a priority-100 job of 2 allocs asking 2 GPUs each evicts all four."""
    w = World()
    w.preemption(service=True)  # Nomad's harness has no scheduler configuration: preemption on
    gpus = _device(GTX, ("dev0", "dev1", "dev2", "dev3"), GPU_ATTRIBUTES)
    (node,) = w.add_nodes(mock_node(resources=NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024,
                                                            devices=(gpus,))))

    def gpu_job(priority: int, count: int, per_alloc: int) -> Job:
        def tweak(d):
            d["Priority"] = priority
            g = group(d)
            g["Count"], g["Networks"] = count, []
            g["Tasks"][0]["Resources"]["Devices"] = [{"Name": "gpu", "Count": per_alloc}]
        return w.add_job(mock_job(tweak))

    low = gpu_job(5, 4, 1)
    allocs = w.add_allocs(*(
        mock_alloc(low, node, name=f"{low.id}.web[{i}]", client_status="running",
                   devices=(AllocatedDevice("web", "nvidia", "gpu", "1080ti", (f"dev{i}",)),))
        for i in range(4)))
    high = gpu_job(100, 2, 2)
    h = w.process(w.eval_for(high))
    assert len(h.plans) == 1
    assert sorted(a.id for a in h.plans[0].node_preemptions[node.id]) == sorted(a.id for a in allocs)
    placed = h.plans[0].node_allocation[node.id]
    assert sorted(i for a in placed for d in a.devices for i in d.device_ids) == ["dev0", "dev1", "dev2", "dev3"]


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
