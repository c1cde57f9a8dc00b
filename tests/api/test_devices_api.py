"""Devices through the API: a node's NodeResources.Devices, an allocation's devices, validation.

Shapes as Nomad's JSON (structs.NodeDeviceResource, AllocatedDeviceResource), checked against
Nomad's OpenAPI schemas where they describe them.
"""

from __future__ import annotations

import pytest

from sim.simulation import Simulation

from .support import rejects, validate_response

GPU_NODES = {"count": 2, "name_prefix": "gpu", "resources": {"cpu": 16000, "memory": 65536},
             "devices": [{"vendor": "nvidia", "type": "gpu", "name": "A100", "count": 4,
                          "attributes": {"memory": "80 GiB", "cuda_cores": 6912}}]}


@pytest.fixture
def gpu_sim() -> Simulation:
    return Simulation.from_scenario({"name": "gpus", "seed": 3, "duration": "1h", "cluster": {"nodes": [
        GPU_NODES, {"count": 1, "name_prefix": "cpu", "resources": {"cpu": 16000, "memory": 65536}}]}})


def gpu_job(job_id: str = "train", count: int = 2, gpus: int = 3, **ask) -> dict:
    task = {"Name": "t", "Driver": "docker", "Config": {"image": "x"}, "Meta": {"sim.runtime": "600"},
            "Resources": {"CPU": 1000, "MemoryMB": 1024, "Devices": [{"Name": "nvidia/gpu", "Count": gpus, **ask}]}}
    return {"Job": {"ID": job_id, "Name": job_id, "Type": "batch", "Datacenters": ["dc1"],
                    "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [task]}]}}


def test_node_shows_its_devices(gpu_sim):
    """GET /v1/node/:id: NodeResources.Devices with instance IDs and typed attributes."""
    node = next(n for n in gpu_sim.api.list_nodes() if n["Name"] == "gpu-0")
    full = gpu_sim.api.read_node(node["ID"])
    (device,) = full["NodeResources"]["Devices"]
    assert (device["Vendor"], device["Type"], device["Name"]) == ("nvidia", "gpu", "A100")
    assert len({i["ID"] for i in device["Instances"]}) == 4 and all(i["Healthy"] for i in device["Instances"])
    assert device["Attributes"]["memory"] == {"Float": None, "Int": 80, "String": None, "Bool": None, "Unit": "GiB"}
    validate_response("GetNodeResponse", full)


def test_allocations_hold_distinct_instances(gpu_sim):
    """Each alloc's AllocatedResources.Tasks[t].Devices holds its own instances of its node's group."""
    gpu_sim.api.register_job(gpu_job())
    gpu_sim.run(until=60)
    held = []
    for stub in gpu_sim.api.job_allocations("train"):
        alloc = gpu_sim.api.read_allocation(stub["ID"])
        (offer,) = alloc["AllocatedResources"]["Tasks"]["t"]["Devices"]
        node = gpu_sim.api.read_node(alloc["NodeID"])["NodeResources"]["Devices"][0]
        assert {k: offer[k] for k in ("Vendor", "Type", "Name")} == {"Vendor": "nvidia", "Type": "gpu", "Name": "A100"}
        assert len(offer["DeviceIDs"]) == 3 and set(offer["DeviceIDs"]) <= {i["ID"] for i in node["Instances"]}
        held += offer["DeviceIDs"]
        validate_response("GetAllocationResponse", alloc)
    assert len(held) == len(set(held)) == 6


def test_exhausted_devices_block_and_unblock(gpu_sim):
    """A third 3-GPU alloc finds no instances ("devices: no devices match request"), blocks, and
    places when the first allocs complete and free theirs."""
    gpu_sim.api.register_job(gpu_job(count=3))
    gpu_sim.run(until=60)
    evals = gpu_sim.api.job_evaluations("train")
    failed = next(e for e in evals if e["Status"] == "complete")["FailedTGAllocs"]["g"]
    assert failed["DimensionExhausted"] == {"devices: no devices match request": 2}
    assert failed["ConstraintFiltered"] == {"computed class ineligible": 1} or failed["ConstraintFiltered"] == {
        "missing devices": 1}
    assert any(e["Status"] == "blocked" for e in evals)
    gpu_sim.run(until=900)
    assert sorted(a["ClientStatus"] for a in gpu_sim.api.job_allocations("train")) == ["complete", "complete", "running"]


def test_device_constraints_with_units(gpu_sim):
    """`${device.attr.memory} >= 40 GiB` holds on 80 GiB A100s; `> 100 GiB` does not."""
    gpu_sim.api.register_job(gpu_job("fits", count=1, gpus=1, Constraints=[
        {"LTarget": "${device.attr.memory}", "Operand": ">=", "RTarget": "40 GiB"}]))
    gpu_sim.api.register_job(gpu_job("never", count=1, gpus=1, Constraints=[
        {"LTarget": "${device.attr.memory}", "Operand": ">", "RTarget": "100 GiB"}]))
    gpu_sim.run(until=30)
    assert [a["ClientStatus"] for a in gpu_sim.api.job_allocations("fits")] == ["running"]
    assert gpu_sim.api.job_allocations("never") == []
    failed = gpu_sim.api.job_evaluations("never")[-1]["FailedTGAllocs"]["g"]
    assert set(failed["ConstraintFiltered"]) <= {"missing devices", "computed class ineligible"}


def test_invalid_device_ask_is_rejected(gpu_sim):
    """Register answers Nomad's validation message for a device without a name."""
    job = gpu_job()
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["Devices"] = [{"Name": ""}]
    nested = ("1 error occurred:\n\t* Task group g validation failed: 1 error occurred:\n\t* Task t validation failed: "
              "1 error occurred:\n\t* 1 error occurred:\n\t* device 1 failed validation: 1 error occurred:\n\t* "
              "device name must be given as one of the following: type, vendor/type, or vendor/type/name")
    rejects(gpu_sim, lambda: gpu_sim.api.register_job(job), 500, nested + "\n" * 10)
