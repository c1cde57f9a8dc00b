"""Devices in the placement stack: the device checker, the device allocator, BinPack with devices.

Cases ported from Nomad scheduler/feasible_test.go TestDeviceChecker, scheduler/device_test.go
(TestDeviceAllocator_*) and scheduler/rank_test.go TestBinPackIterator_Devices (each docstring
names the Nomad test). nomadsim's device instances are always healthy: Nomad's all-unhealthy
device group is a group without instances here.
"""

from __future__ import annotations

import pytest

from sim.scheduler.feasible.devices import NO_MATCH, assign_devices, has_devices
from sim.structs.devices import AllocatedDevice, NodeDeviceResource, RequestedDevice
from sim.structs.job import Affinity, Constraint, EphemeralDisk, Resources, Task
from sim.structs.node import NodeResources

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node

NVIDIA = NodeDeviceResource(  # the TestDeviceChecker device
    "nvidia", "gpu", "1080ti", ("n-0", "n-1"),
    (("memory", "4 GiB"), ("pci_bandwidth", "995 MiB/s"), ("cores_clock", "800 MHz")))
NVIDIA_UNHEALTHY = NodeDeviceResource("nvidia", "gpu", "1080ti", ())
GTX1080 = NodeDeviceResource(  # mock.NvidiaNode
    "nvidia", "gpu", "1080ti", ("g1080-0", "g1080-1"),
    (("memory", "11 GiB"), ("cuda_cores", "3584"), ("graphics_clock", "1480 MHz"), ("memory_bandwidth", "11 GB/s")))
RTX2080 = NodeDeviceResource(  # multipleNvidiaNode's second device
    "nvidia", "gpu", "2080ti", ("r2080-0", "r2080-1"),
    (("memory", "11 GiB"), ("cuda_cores", "4352"), ("graphics_clock", "1350 MHz"), ("memory_bandwidth", "14 GB/s")))
FPGA = NodeDeviceResource("intel", "fpga", "F100", ("f100-0",), (("memory", "4 GiB"),))  # devNode (healthy one)

GOOD = [("=", "${device.model}", "1080ti"), (">", "${device.attr.memory}", "1320.5 MB"),
        ("<=", "${device.attr.pci_bandwidth}", ".98   GiB/s"), ("=", "${device.attr.cores_clock}", "800MHz")]


def req(name: str, count: int = 1, constraints=(), affinities=()) -> RequestedDevice:
    return RequestedDevice(name, count, tuple(Constraint(lt, rt, op) for op, lt, rt in constraints),
                           tuple(Affinity(lt, rt, op, w) for op, lt, rt, w in affinities))


CHECKER_CASES = [
    ("no devices on node", False, (), [req("gpu")]),
    ("no requested devices on empty node", True, (), []),
    ("gpu devices by type", True, (NVIDIA,), [req("gpu")]),
    ("wrong devices by type", False, (NVIDIA,), [req("fpga")]),
    ("devices by type unhealthy node", False, (NVIDIA_UNHEALTHY,), [req("gpu")]),
    ("gpu devices by vendor/type", True, (NVIDIA,), [req("nvidia/gpu")]),
    ("wrong devices by vendor/type", False, (NVIDIA,), [req("nvidia/fpga")]),
    ("gpu devices by vendor/type/model", True, (NVIDIA,), [req("nvidia/gpu/1080ti")]),
    ("wrong devices by vendor/type/model", False, (NVIDIA,), [req("nvidia/fpga/F100")]),
    ("too many requested", False, (NVIDIA,), [req("gpu", 3)]),
    ("meets constraints requirement", True, (NVIDIA,),
     [req("nvidia/gpu", 1, [*GOOD, ("set_contains", "${device.ids}", "n-0")])]),
    ("meets constraints requirement multiple count", True, (NVIDIA,),
     [req("nvidia/gpu", 2, [*GOOD, ("set_contains", "${device.ids}", "n-1,n-0")])]),
    ("meets constraints requirement over count", False, (NVIDIA,), [req("nvidia/gpu", 5, GOOD)]),
    ("does not meet first constraint", False, (NVIDIA,),
     [req("nvidia/gpu", 1, [("=", "${device.model}", "2080ti"), *GOOD[1:]])]),
    ("does not meet second constraint", False, (NVIDIA,),
     [req("nvidia/gpu", 1, [GOOD[0], ("<", "${device.attr.memory}", "1320.5 MB"), *GOOD[2:]])]),
    ("does not meet ID constraint", False, (NVIDIA,), [req("nvidia/gpu", 1, [("set_contains", "${device.ids}", "not_valid")])]),
]


@pytest.mark.parametrize(("devices", "asks", "result"), [(c[2], c[3], c[1]) for c in CHECKER_CASES],
                         ids=[c[0] for c in CHECKER_CASES])
def test_device_checker(devices, asks, result):
    """Nomad: feasible_test.go TestDeviceChecker."""
    assert has_devices(devices, [("web", r) for r in asks]) is result


def _assign(devices, ask: RequestedDevice, held=frozenset()):
    return assign_devices(devices, set(held), [("web", ask)])


def test_allocate_generic_request():
    """Nomad: TestDeviceAllocator_Allocate_GenericRequest: "gpu" takes one nvidia instance, score 0."""
    offer = _assign((GTX1080, FPGA), req("gpu"))
    assert offer.score is None and offer.devices == (AllocatedDevice("web", "nvidia", "gpu", "1080ti", ("g1080-0",)),)


def test_allocate_fully_qualified_request():
    """Nomad: TestDeviceAllocator_Allocate_FullyQualifiedRequest."""
    offer = _assign((GTX1080, FPGA), req("intel/fpga/F100"))
    assert offer.devices[0].device_ids == ("f100-0",)


def test_allocate_not_enough_instances():
    """Nomad: TestDeviceAllocator_Allocate_NotEnoughInstances."""
    assert _assign((GTX1080, FPGA), req("gpu", 4)) == NO_MATCH


FAST = [(">", "${device.attr.memory_bandwidth}", "10 GB/s"), ("is", "${device.attr.memory}", "11264 MiB")]
CONSTRAINT_CASES = [
    ("gpu-gt", "gpu", [(">", "${device.attr.cuda_cores}", "4000")], RTX2080.instance_ids),
    ("gpu-lt", "gpu", [("<", "${device.attr.cuda_cores}", "4000")], GTX1080.instance_ids),
    ("nvidia/gpu", "nvidia/gpu", [*FAST, (">", "${device.attr.graphics_clock}", "1.4 GHz")], GTX1080.instance_ids),
    ("intel/gpu", "intel/gpu", [], None),
    ("nvidia/gpu-no-placement", "nvidia/gpu", [*FAST, (">", "${device.attr.graphics_clock}", "2.4 GHz")], None),
    ("nvidia/gpu-contains-id", "nvidia/gpu", [("set_contains", "${device.ids}", "g1080-1")], ("g1080-1",)),
]


@pytest.mark.parametrize(("name", "constraints", "expected"), [c[1:] for c in CONSTRAINT_CASES],
                         ids=[c[0] for c in CONSTRAINT_CASES])
def test_allocate_constraints(name, constraints, expected):
    """Nomad: TestDeviceAllocator_Allocate_Constraints: units compared by their base unit."""
    offer = _assign((GTX1080, RTX2080), req(name, 1, constraints))
    if expected is None:
        assert offer == NO_MATCH
        return
    assert offer.score is None and len(offer.devices[0].device_ids) == 1
    assert set(offer.devices[0].device_ids) <= set(expected)


AFFINITY_CASES = [
    ("gpu", [(">", "${device.attr.cuda_cores}", "4000", 60)], RTX2080, False),
    ("gpu", [("<", "${device.attr.cuda_cores}", "4000", 10)], GTX1080, False),
    ("gpu", [(">", "${device.attr.cuda_cores}", "4000", -20)], GTX1080, True),
    ("nvidia/gpu", [(">", "${device.attr.memory_bandwidth}", "10 GB/s", 20),
                    ("is", "${device.attr.memory}", "11264 MiB", 20),
                    (">", "${device.attr.graphics_clock}", "1.4 GHz", 90)], GTX1080, False),
]


@pytest.mark.parametrize(("name", "affinities", "device", "zero"), AFFINITY_CASES)
def test_allocate_affinities(name, affinities, device, zero):
    """Nomad: TestDeviceAllocator_Allocate_Affinities: the best scored group wins."""
    offer = _assign((GTX1080, RTX2080), req(name, 1, (), affinities))
    assert (offer.score == 0) is zero and offer.devices[0].name == device.name


def _gpu_job(*asks: dict):
    job = mock_job()
    tg = job.task_groups[0]
    tg.networks = []
    tg.ephemeral_disk = EphemeralDisk()
    tg.tasks = [Task(name="web", driver="exec", resources=Resources(cpu=1024, memory_mb=1024, extra={"Devices": list(asks)}))]
    return job


def _nvidia_node():
    return mock_node(resources=NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024, devices=(GTX1080,)))


BINPACK_CASES = [
    ("single request, match", {"Name": "nvidia/gpu", "Count": 1}, 1, None),
    ("single request multiple count, match", {"Name": "nvidia/gpu", "Count": 2}, 2, None),
    ("single request, with affinities", {"Name": "nvidia/gpu", "Count": 1, "Affinities": [
        {"LTarget": "${device.attr.graphics_clock}", "Operand": ">", "RTarget": "1.4 GHz", "Weight": 90}]}, 1, 1.0),
    ("single request over count, no match", {"Name": "nvidia/gpu", "Count": 6}, 0, None),
    ("single request no device of matching type", {"Name": "fpga", "Count": 1}, 0, None),
]


@pytest.mark.parametrize(("ask", "count", "device_score"), [c[1:] for c in BINPACK_CASES], ids=[c[0] for c in BINPACK_CASES])
def test_binpack_devices(ask, count, device_score):
    """Nomad: rank_test.go TestBinPackIterator_Devices: the offer per task and the "devices" score."""
    node, job = _nvidia_node(), _gpu_job(ask)
    option, metric = generic_stack([node], job).select(job.task_groups[0])
    if not count:
        assert option is None
        return
    assert [(d.task, d.vendor, d.type, d.name, len(d.device_ids)) for d in option.devices] == [
        ("web", "nvidia", "gpu", "1080ti", count)]
    assert option.scores.get("devices") == device_score


@pytest.mark.parametrize("planned", [False, True], ids=["previous uses", "planned uses"])
def test_binpack_devices_in_use(planned):
    """Nomad: TestBinPackIterator_Devices "single request with previous/planned uses": the
    instance another alloc holds (in state or in the plan) is not offered again."""
    node, job = _nvidia_node(), _gpu_job({"Name": "nvidia/gpu", "Count": 1})
    holder = mock_alloc(mock_job(), node, devices=(AllocatedDevice("web", "nvidia", "gpu", "1080ti", ("g1080-0",)),))
    stack = generic_stack([node], job)
    if planned:
        stack.place(0, holder)
    else:
        stack.table.hold_devices(0, holder.devices, 1)
        stack.set_job(job, [])
    option, _ = stack.select(job.task_groups[0])
    assert option.devices[0].device_ids == ("g1080-1",)


def test_binpack_devices_exhausted_metric():
    """Nomad: BinPackIterator: a node whose instances are all taken is exhausted as "devices: <error>"."""
    node, job = _nvidia_node(), _gpu_job({"Name": "nvidia/gpu", "Count": 2})
    holder = mock_alloc(mock_job(), node, devices=(AllocatedDevice("web", "nvidia", "gpu", "1080ti", ("g1080-0",)),))
    stack = generic_stack([node], job)
    stack.place(0, holder)
    option, metric = stack.select(job.task_groups[0])
    assert option is None and metric.dimension_exhausted == {"devices: no devices match request": 1}


def test_missing_devices_filtered():
    """Nomad: DeviceChecker in the feasibility chain: a node without the device is filtered "missing devices"."""
    node, job = mock_node(), _gpu_job({"Name": "nvidia/gpu", "Count": 1})
    option, metric = generic_stack([node], job).select(job.task_groups[0])
    assert option is None and metric.constraint_filtered == {"missing devices": 1}
