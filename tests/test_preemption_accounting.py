"""What a preemption leaves in the victims' job: its summary and its deployment.

A service job of priority 20 with an update block fills two nodes; once its deployment is
successful, a priority-80 service job evicts one of its allocs. As in Nomad, the evicted alloc is
server-terminal (its client stops it: complete), the job's follow-up eval (TriggeredBy
preemption) wants a replacement that finds no room (queued, a blocked eval), and the finished
deployment is left as it was: the job version did not change, so no new deployment starts
(the reconciler's placements of a finished deployment carry none).
"""

from __future__ import annotations

from typing import Any

from sim import Simulation

SECOND = 1_000_000_000


def _job(job_id: str, priority: int, count: int, update: dict[str, Any] | None = None) -> dict[str, Any]:
    job = {"ID": job_id, "Type": "service", "Priority": priority, "Datacenters": ["dc1"],
           "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
               "Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 2000, "MemoryMB": 512}}]}]}
    if update is not None:
        job["Update"] = update
    return job


def test_the_victims_summary_and_deployment_account_for_the_eviction() -> None:
    sim = Simulation.from_scenario({
        "name": "evicted-deployment", "seed": 1, "duration": "20m",
        "cluster": {"nodes": [{"count": 2, "resources": {"cpu": 4000, "memory": 8192, "disk": 10240}}]},
        "control_plane": {"preemption": {"service": True}},
        "workload": [{"at": "0s", "register": _job("backend", 20, 4, {
                         "MaxParallel": 2, "MinHealthyTime": 10 * SECOND, "HealthyDeadline": 300 * SECOND})},
                     {"at": "5m", "register": _job("web", 80, 1)}],
    })
    sim.run()
    state = sim.state
    allocs = state.allocs_by_job("default", "backend")
    evicted = [a for a in allocs if a.desired_status == "evict"]
    assert len(evicted) == 1 and evicted[0].client_status == "complete" and len(allocs) == 4
    summary = state.job_summary("default", "backend")
    assert summary is not None
    g = summary.summary["g"]
    assert (g.running, g.complete, g.queued) == (3, 1, 1)
    (deployment,) = state.deployments_by_job("default", "backend")
    assert deployment.status == "successful"
    assert (deployment.task_groups["g"].placed_allocs, deployment.task_groups["g"].healthy_allocs) == (4, 4)
    evals = sim.results()["evaluations"]
    backend = evals[evals["job_id"] == "backend"]
    assert list(backend["triggered_by"]) == ["job-register", "deployment-watcher", "preemption", "queued-allocs"]
    follow_up = backend[backend["triggered_by"] == "preemption"].iloc[0]
    assert follow_up["status"] == "complete" and follow_up["failed_placements"] == 1
    assert backend[backend["triggered_by"] == "queued-allocs"].iloc[0]["status"] == "blocked"
