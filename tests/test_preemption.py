"""Preemption end to end: a full cluster of priority-20 batch work and a priority-80 service job.

With service preemption off (Nomad's default) the service job blocks until the batch work ends;
with it on, its first scheduler pass places it by evicting batch allocs (the ones Nomad's
preemptor picks), the batch job gets a follow-up eval (TriggeredBy preemption) and its evicted
allocs are placed again once capacity returns. Same seed, same victims.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sim import Simulation


def _job(job_id: str, job_type: str, priority: int, count: int) -> dict[str, Any]:
    return {"ID": job_id, "Type": job_type, "Priority": priority, "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                "Name": "t", "Driver": "exec", "Config": {"command": "x"},
                "Resources": {"CPU": 2000, "MemoryMB": 1024}}]}]}


def _scenario(service_preemption: bool) -> dict[str, Any]:
    return {
        "name": "full-cluster", "seed": 3, "duration": "40m",
        "cluster": {"nodes": [{"count": 4, "name_prefix": "node",
                               "resources": {"cpu": 4000, "memory": 4096, "disk": 10240}}]},
        "control_plane": {"preemption": {"service": service_preemption}},
        "workload": [{"at": "0s", "register": _job("crunch", "batch", 20, 8)},
                     {"at": "1m", "register": _job("web", "service", 80, 2)}],
        "task_behavior": [{"match": {"job": "crunch"}, "runtime": "10m"}],
    }


def _run(service_preemption: bool) -> Simulation:
    sim = Simulation.from_scenario(_scenario(service_preemption))
    sim.run()
    return sim


@pytest.fixture(scope="module")
def off() -> Simulation:
    return _run(False)


@pytest.fixture(scope="module")
def on() -> Simulation:
    return _run(True)


def _evals(sim: Simulation, job_id: str) -> pd.DataFrame:
    evals = sim.results()["evaluations"]
    return evals[evals["job_id"] == job_id].reset_index(drop=True)


def test_without_preemption_the_service_job_blocks_until_the_batch_work_ends(off: Simulation) -> None:
    """Nomad's default: the register eval places nothing and blocks; the allocs come at 10m."""
    web = _evals(off, "web")
    assert list(web["triggered_by"][:2]) == ["job-register", "queued-allocs"]
    assert web["placements"][0] == 0 and web["failed_placements"][0] == 2
    placed = off.results()["placements"]
    assert placed.loc[(placed["job_id"] == "web") & (placed["alloc_id"] != ""), "time"].min() >= 600
    assert off.results()["preemptions"].empty


def test_with_preemption_one_pass_places_the_service_job_evicting_batch_allocs(on: Simulation) -> None:
    """The register eval places both allocs at 1m; each evicts one batch alloc on its node, the
    first one created there (equal candidates: the preemptor keeps the first of the closest)."""
    web = _evals(on, "web")
    assert web["triggered_by"][0] == "job-register" and web["placements"][0] == 2
    assert web["failed_placements"][0] == 0 and web["plans"][0] == 1
    state = on.state
    victims = []
    for alloc in state.allocs_by_job("default", "web"):
        assert alloc.preempted_allocations is not None and len(alloc.preempted_allocations) == 1
        (victim_id,) = alloc.preempted_allocations
        victim = state.alloc_by_id(victim_id)
        assert victim is not None and victim.job_id == "crunch" and victim.node_id == alloc.node_id
        assert victim.desired_status == "evict"
        assert victim.desired_description == f"Preempted by alloc ID {alloc.id}"
        assert victim.preempted_by_allocation == alloc.id
        on_node = [a for a in state.allocs_by_job("default", "crunch")
                   if a.node_id == alloc.node_id and a.create_index == victim.create_index]
        assert min(on_node, key=lambda a: a.name).id == victim.id  # the first of its node's batch allocs
        victims.append(victim_id)
    table = on.results()["preemptions"]
    assert sorted(table["preempted_alloc_id"]) == sorted(victims)
    assert set(table["preempting_priority"]) == {80} and set(table["preempted_priority"]) == {20}
    assert table["time"].between(60.0, 61.0).all() and table["time"].nunique() == 1  # one plan at 1m
    assert (table["ran_seconds"] > 59).all() and (table["cpu_seconds_lost"] == table["ran_seconds"] * 2).all()


def test_evicted_batch_allocs_are_rescheduled_when_capacity_returns(on: Simulation) -> None:
    """The batch job's follow-up eval (TriggeredBy preemption) finds no room and blocks; when the
    other batch allocs complete the two evicted ones are placed again and complete."""
    crunch = _evals(on, "crunch")
    assert list(crunch["triggered_by"][:3]) == ["job-register", "preemption", "queued-allocs"]
    allocs = on.state.allocs_by_job("default", "crunch")
    evicted = [a for a in allocs if a.desired_status == "evict"]
    names = {a.name for a in evicted}
    again = [a for a in allocs if a.name in names and a.desired_status == "run"]
    assert len(evicted) == 2 and len(again) == 2
    assert all(a.client_status == "complete" for a in again)
    placed = on.results()["placements"]
    assert placed.loc[placed["alloc_id"].isin([a.id for a in again]), "time"].min() >= 600
    summary = on.state.job_summary("default", "crunch")
    assert summary is not None and summary.summary["g"].complete == 10


def test_same_seed_same_victims(on: Simulation) -> None:
    """Preemption is deterministic: another run of the same scenario evicts the same allocs."""
    again = _run(True)
    assert again.results()["preemptions"].equals(on.results()["preemptions"])
