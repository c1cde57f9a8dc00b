"""Device preemption end to end: a GPU cluster full of priority-20 batch work, then a priority-80
service job asking for GPUs (CPU and memory to spare: only the devices are short).

With service preemption on, its first scheduler pass places it by evicting the batch allocs
holding the GPUs it needs (Nomad's PreemptForDevice); the victims get `evict` with Nomad's
description, the batch job a follow-up eval (TriggeredBy preemption), and the evicted allocs run
again once the GPUs are free. Off, the service job blocks. Same seed, same victims.
"""

from __future__ import annotations

from typing import Any

import pytest

from sim import Simulation


def _job(job_id: str, job_type: str, priority: int, count: int, gpus: int) -> dict[str, Any]:
    return {"ID": job_id, "Type": job_type, "Priority": priority, "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                "Name": "t", "Driver": "exec", "Config": {"command": "x"},
                "Resources": {"CPU": 100, "MemoryMB": 128, "Devices": [{"Name": "nvidia/gpu", "Count": gpus}]}}]}]}


def _run(service_preemption: bool) -> Simulation:
    sim = Simulation.from_scenario({
        "name": "full-gpus", "seed": 5, "duration": "40m",
        "cluster": {"nodes": [{"count": 2, "name_prefix": "gpu",
                               "resources": {"cpu": 16000, "memory": 65536, "disk": 10240},
                               "devices": [{"vendor": "nvidia", "type": "gpu", "name": "A100", "count": 4}]}]},
        "control_plane": {"preemption": {"service": service_preemption}},
        "workload": [{"at": "0s", "register": _job("train", "batch", 20, 8, 1)},
                     {"at": "1m", "register": _job("infer", "service", 80, 1, 2)}],
        "task_behavior": [{"match": {"job": "train"}, "runtime": "10m"}],
    })
    sim.run()
    return sim


@pytest.fixture(scope="module")
def on() -> Simulation:
    return _run(True)


def test_without_preemption_the_gpu_service_blocks() -> None:
    off = _run(False)
    evals = off.results()["evaluations"]
    infer = evals[evals["job_id"] == "infer"].reset_index(drop=True)
    assert infer["placements"][0] == 0 and infer["failed_placements"][0] == 1
    assert off.results()["preemptions"].empty


def test_one_pass_places_the_gpu_service_evicting_the_holders_of_two_gpus(on: Simulation) -> None:
    state = on.state
    (alloc,) = state.allocs_by_job("default", "infer")
    assert alloc.preempted_allocations is not None and len(alloc.preempted_allocations) == 2
    victims = [state.alloc_by_id(i) for i in alloc.preempted_allocations]
    freed = set()
    for victim in victims:
        assert victim is not None and victim.job_id == "train" and victim.node_id == alloc.node_id
        assert victim.desired_status == "evict" and victim.preempted_by_allocation == alloc.id
        assert victim.desired_description == f"Preempted by alloc ID {alloc.id}"
        freed.update(i for d in victim.devices for i in d.device_ids)
    assert sorted(i for d in alloc.devices for i in d.device_ids) == sorted(freed)
    evals = on.results()["evaluations"]
    infer = evals[evals["job_id"] == "infer"].reset_index(drop=True)
    assert infer["triggered_by"][0] == "job-register" and infer["placements"][0] == 1 and infer["plans"][0] == 1
    table = on.results()["preemptions"]
    assert sorted(table["preempted_alloc_id"]) == sorted(alloc.preempted_allocations)


def test_evicted_gpu_work_runs_again_when_the_gpus_are_free(on: Simulation) -> None:
    evals = on.results()["evaluations"]
    train = evals[evals["job_id"] == "train"].reset_index(drop=True)
    assert list(train["triggered_by"][:2]) == ["job-register", "preemption"]
    allocs = on.state.allocs_by_job("default", "train")
    names = {a.name for a in allocs if a.desired_status == "evict"}
    again = [a for a in allocs if a.name in names and a.desired_status == "run"]
    assert len(names) == 2 and len(again) == 2 and all(a.client_status == "complete" for a in again)
    summary = on.state.job_summary("default", "train")
    # the 8 that ran to the end, and the 2 evicted ones (stopped by their client: complete)
    assert summary is not None and summary.summary["g"].complete == 10


def test_same_seed_same_victims(on: Simulation) -> None:
    assert _run(True).results()["preemptions"].equals(on.results()["preemptions"])
