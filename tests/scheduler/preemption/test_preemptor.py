"""Nomad's preemptor, case by case: scheduler/preemption_test.go at a4cc76bd.

TestResourceDistance is ported as is. Every TestPreemption case runs through the service
scheduler on Nomad's node (4000 MHz, 8192 MB, 100 GB, one 1000 MBit NIC eth0 and its GPUs and
FPGA; reserved 100 MHz, 256 MB, 4 GB), with the allocs Nomad's `createAlloc*` build (task
networks on eth0 at their addresses, device instances; no disk: their AllocatedResources carry
none) and the placing job at priority 100 asking a task network, expecting Nomad's victims.
TestPreemptionMultiple too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sim.scheduler import placement
from sim.scheduler.preemption.preemptor import (
    Preemptor,
    basic_resource_distance,
    net_priority,
    preemption_score,
)
from sim.structs.devices import AllocatedDevice, NodeDeviceResource
from sim.structs.job import Job
from sim.structs.networks import AllocatedNetwork, NodeNetwork
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


def _job(priority: int, tg_net: tuple[str, int] | None = None) -> Job:
    """A job at `priority` whose group has a network only when asked: `tg_net` (device, MBits),
    as `createAllocWithTaskgroupNetwork`."""
    def tweak(d):
        d["Priority"] = priority
        g = group(d)
        g["Count"] = 1
        g["EphemeralDisk"] = {"SizeMB": 0}
        g["Networks"] = []
        if tg_net is not None:
            g["Networks"] = [{"Mode": "host", "Device": tg_net[0], "MBits": tg_net[1]}]
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
ETH0 = NodeNetwork("eth0", "192.168.0.100/32", 1000)
ETH1 = NodeNetwork("eth1", "192.168.1.100/32", 1000)
RESERVED = NodeResources(cpu=100, memory_mb=256, disk_mb=4 * 1024)
NODE = NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024, devices=DEVICES, networks=(ETH0,))
TWO_NICS = NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024, networks=(ETH0, ETH1))
IP0, IP1 = "192.168.0.100", "192.168.0.200"


@dataclass(frozen=True)
class Held:
    """One of Nomad's `createAlloc*` allocs: its job's priority, cpu, memory, its task network
    (device, IP, MBits, a reserved port), a group network (device, MBits) and device instances
    ("vendor/type/name", ids)."""

    priority: int
    cpu: int
    mem: int
    net: tuple[str, str, int, int | None] | None = None
    tg_net: tuple[str, int] | None = None
    devices: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Ask:
    """TestPreemption's resourceAsk: cpu, memory, the task network's MBits and reserved port."""

    cpu: int
    mem: int
    mbits: int | None = None
    port: int | None = None
    devices: tuple[tuple[str, int], ...] = ()


def _allocated(held: Held) -> dict:
    out: dict = {}
    if held.net is not None:
        device, ip, mbits, port = held.net
        out["networks"] = (AllocatedNetwork("web", device, ip, mbits, (("db", port),) if port else ()),)
    if held.devices is not None:
        vendor, kind, model = held.devices[0].split("/")
        out["devices"] = (AllocatedDevice("web", vendor, kind, model, held.devices[1]),)
    return out


def _run(current: list[Held], ask: Ask, node: NodeResources = NODE, priority: int = 100,
         preempted: list[Held] = (), monkeypatch: pytest.MonkeyPatch | None = None) -> list[int] | None:
    """Place one alloc of a job at `priority` asking `ask` on a node holding `current` allocs,
    the plan already preempting `preempted` (Nomad: ctx.plan.NodePreemptions); the indexes of
    the victims, None when it cannot be placed. Allocs of the same priority (and group network)
    share a job, as Nomad's cases share highPrioJob, lowPrioJob and lowPrioJob2."""
    w = World()
    w.preemption(service=True)
    (n,) = w.add_nodes(mock_node(resources=node, reserved=RESERVED))
    jobs: dict[tuple[int, tuple[str, int] | None], Job] = {}

    def alloc_of(held: Held):
        job = jobs.get((held.priority, held.tg_net))
        if job is None:
            job = jobs[(held.priority, held.tg_net)] = w.add_job(_job(held.priority, held.tg_net))
        return mock_alloc(job, n, cpu=held.cpu, memory_mb=held.mem, disk_mb=0, client_status="running",
                          **_allocated(held))

    allocs = [alloc_of(h) for h in current]
    w.add_allocs(*allocs)
    if preempted:
        assert monkeypatch is not None
        earlier = [alloc_of(h) for h in preempted]
        real = placement.Eviction
        monkeypatch.setattr(placement, "Eviction", lambda *a, **k: real(*a, **k, preempted=list(earlier)))

    def tweak(d):
        d["Priority"] = priority
        g = group(d)
        g["Count"], g["EphemeralDisk"], g["Networks"] = 1, {"SizeMB": 0}, []
        resources = g["Tasks"][0]["Resources"] = {"CPU": ask.cpu, "MemoryMB": ask.mem}
        if ask.mbits is not None:
            ports = [{"Label": "db", "Value": ask.port}] if ask.port else []
            resources["Networks"] = [{"Device": "eth0", "MBits": ask.mbits, "ReservedPorts": ports}]
        if ask.devices:
            resources["Devices"] = [{"Name": name, "Count": count} for name, count in ask.devices]
    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    if not h.plans or not h.plans[0].node_allocation:
        return None
    (placed,) = h.plans[0].node_allocation[n.id]
    victims = h.plans[0].node_preemptions.get(n.id, [])
    assert placed.preempted_allocations == ([v.id for v in victims] or None)
    gone = {v.id for v in victims}
    if ask.devices:  # the offer reuses the victims' instances, never another live alloc's
        kept = {i for a in allocs if a.id not in gone for d in a.devices for i in d.device_ids}
        offered = [i for d in placed.devices for i in d.device_ids]
        assert len(offered) == sum(count for _, count in ask.devices) and not kept & set(offered)
    if ask.mbits is not None:  # the task network's offer fits the NIC without the victims
        (offer,) = placed.networks
        used = sum(net.mbits for a in allocs if a.id not in gone for net in a.networks if net.device == offer.device)
        assert offer.mbits == ask.mbits and used + offer.mbits <= 1000
    index = {a.id: i for i, a in enumerate(allocs)}
    return sorted(index[v.id] for v in victims)


HIGH, LOW, LOW2 = 100, 30, 40
GTX = "nvidia/gpu/1080ti"
RTX = "nvidia/gpu/2080ti"
FPGA = "intel/fpga/F100"


@pytest.mark.parametrize(("current", "ask", "victims"), [
    pytest.param([Held(HIGH, 3200, 7256, ("eth0", IP0, 50, None))], Ask(2000, 256, 1, 22), None,
                 id="No preemption because existing allocs are not low priority"),
    pytest.param([Held(LOW, 3200, 7256, ("eth0", IP0, 50, None))], Ask(4000, 8192, 1, 22), None,
                 id="Preempting low priority allocs not enough to meet resource ask"),
    pytest.param([Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(HIGH, 200, 256, ("eth0", IP1, 600, 88))],
                 Ask(600, 1000, 700, 88), None,
                 id="preemption impossible - static port needed is used by higher priority alloc"),
    pytest.param([Held(HIGH, 2800, 2256, ("eth0", IP0, 150, None)),
                  Held(LOW, 200, 256, ("eth0", IP1, 200, None), tg_net=("eth0", 300)),
                  Held(LOW, 200, 256, ("eth0", IP0, 300, None)), Held(LOW, 700, 256)],
                 Ask(1100, 1000, 840), [1, 2, 3], id="Combination of high/low priority allocs, without static ports"),
    pytest.param([Held(LOW, 2800, 2256), Held(LOW, 200, 256, ("eth0", IP1, 800, None))], Ask(1100, 1000, 840), [1],
                 id="preempt allocs with network devices"),
    pytest.param([Held(HIGH, 2800, 2256, ("eth0", IP0, 150, None)), Held(LOW, 200, 256, ("eth0", IP1, 50, None)),
                  Held(LOW, 200, 512), Held(LOW, 700, 276)],
                 Ask(1000, 3000, 50), [1, 2, 3], id="Preemption needed for all resources except network"),
    pytest.param([Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(LOW, 200, 256, ("eth0", IP0, 500, None)),
                  Held(LOW, 200, 256, ("eth0", IP1, 320, None))],
                 Ask(300, 500, 320), [2], id="Only one low priority alloc needs to be preempted"),
    pytest.param([Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(LOW, 200, 256, ("eth0", IP1, 500, 88)),
                  Held(LOW, 200, 256, ("eth0", IP0, 200, None))],
                 Ask(2700, 1000, 800, 88), [1, 2], id="one alloc meets static port need, another meets remaining mbits needed"),
    pytest.param([Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(LOW, 200, 256, ("eth0", IP1, 600, 88)),
                  Held(LOW, 200, 256, ("eth0", IP0, 100, None))],
                 Ask(600, 1000, 700, 88), [1], id="alloc that meets static port need also meets other needs"),
    pytest.param([Held(HIGH, 1800, 2256, ("eth0", IP0, 150, None)), Held(LOW, 1500, 256, ("eth0", IP0, 100, None)),
                  Held(LOW, 600, 256, ("eth0", IP1, 300, None))],
                 Ask(1000, 256, 50), [1], id="Filter out allocs whose resource usage superset is also in the preemption list"),
])
def test_preemption(current, ask, victims) -> None:
    """Nomad: TestPreemption (the cases on resources, task networks and their bandwidth)."""
    assert _run(current, ask) == victims


def test_ignore_allocs_with_close_enough_priority_for_network_devices() -> None:
    """Nomad: TestPreemption "ignore allocs with close enough priority for network devices": the
    placing job is only 5 above the alloc holding the bandwidth, so nothing can be preempted."""
    current = [Held(LOW, 2800, 2256), Held(LOW, 200, 256, ("eth0", IP1, 800, None))]
    assert _run(current, Ask(1100, 1000, 840), priority=LOW + 5) is None


def test_preempt_only_from_device_that_has_allocation_with_unused_reserved_port() -> None:
    """Nomad: TestPreemption "preempt only from device that has allocation with unused reserved
    port": two NICs; port 88 is held on eth1 by a high priority alloc (at another address), so
    the low priority alloc on eth0 is the one evicted for bandwidth, and eth0's address offers 88."""
    current = [Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(HIGH, 200, 256, ("eth1", IP1, 600, 88)),
               Held(LOW, 200, 256, ("eth0", IP1, 600, None))]
    assert _run(current, Ask(600, 1000, 700, 88), node=TWO_NICS) == [2]


def test_alloc_from_job_that_has_existing_evictions_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nomad: TestPreemption "alloc from job that has existing evictions not chosen for
    preemption": the plan already preempts an alloc of lowPrioJob2; the lowPrioJob alloc frees
    the bandwidth."""
    current = [Held(HIGH, 1200, 2256, ("eth0", IP0, 150, None)), Held(LOW, 200, 256, ("eth0", IP1, 500, None)),
               Held(LOW2, 200, 256, ("eth0", IP0, 300, None))]
    earlier = [Held(LOW2, 200, 256, ("eth0", IP0, 300, None))]
    assert _run(current, Ask(300, 500, 320), preempted=earlier, monkeypatch=monkeypatch) == [1]


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
    assert _run(current, Ask(1000, 512, devices=(request_,))) == victims


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
    node = mock_node(resources=NODE, reserved=RESERVED)
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


def test_an_evicting_option_keeps_its_device_affinity_score() -> None:
    """BinPack appends the device affinity score of the offer made after the device preemption,
    then the preemption scorer its own (Nomad: BinPackIterator, PreemptionScoringIterator)."""
    w = World()
    w.preemption(service=True)
    gpus = NodeDeviceResource("nvidia", "gpu", "A100", ("g0", "g1"), (("memory", "40 GiB"),))
    nodes = w.add_nodes(*(mock_node(resources=NodeResources(cpu=14000, memory_mb=8192, disk_mb=100 * 1024,
                                                            devices=(gpus,))) for _ in range(2)))
    low = w.add_job(_job(20))
    w.add_allocs(*(mock_alloc(low, n, name=f"{low.id}.web[{i}]", client_status="running",
                              devices=(AllocatedDevice("web", "nvidia", "gpu", "A100", ("g0", "g1")),))
                   for i, n in enumerate(nodes)))

    def tweak(d):
        d["Priority"] = 90
        g = group(d)
        g["Count"], g["Networks"] = 1, []
        g["Tasks"][0]["Resources"]["Devices"] = [{"Name": "gpu", "Count": 1, "Affinities": [
            {"LTarget": "${device.attr.memory}", "RTarget": "40 GiB", "Operand": "=", "Weight": 50}]}]
    h = w.process(w.eval_for(w.add_job(mock_job(tweak))))
    (placed,) = [a for allocs in h.plans[0].node_allocation.values() for a in allocs]
    (victim,) = h.plans[0].node_preemptions[placed.node_id]
    assert placed.devices[0].device_ids[0] in victim.devices[0].device_ids
    scores = placed.metrics.score_meta_data[0].scores  # type: ignore[union-attr]
    assert scores["devices"] == 1.0 and scores["preemption"] > 0.99
