"""Tests for the scheduler workers' handling of blocked evals (sim/server/worker.py).

Nomad: nomad/worker.go, ReblockEval: the eval is written to state only when its QueuedAllocations
differ from the job summary; it goes back to the blocked tracker under the scheduler's snapshot
index, so an unblock that happened while the scheduler ran sends it straight back to the broker.
Nomad: nomad/fsm.go, handleUpsertedEval: only a complete eval without failed placements untracks
the job's blocked eval.
"""

from __future__ import annotations

from sim.scenario.load import load_scenario
from sim.simulation import Simulation


def _batch(job_id: str, cpu: int, runtime: str, count: int = 1) -> dict:
    return {"ID": job_id, "Type": "batch", "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": {"sim.runtime": runtime},
         "Resources": {"CPU": cpu, "MemoryMB": 64}}]}]}


def _sim() -> Simulation:
    """One 2000 MHz node: `filler` holds 1500 MHz for 60 s, `waiter` (1000 MHz) stays blocked
    meanwhile, and a 100 MHz `tick` job every 5 s releases capacity (an unblock) each time it ends."""
    workload = [{"at": 0, "register": _batch("filler", 1500, "60s")},
                {"at": 1, "register": _batch("waiter", 1000, "10s")}]
    workload += [{"at": 2 + 5 * i, "register": _batch(f"tick{i}", 100, "1s")} for i in range(8)]
    scenario = {"name": "reblock", "seed": 3, "duration": 120,
                "cluster": {"nodes": [{"count": 1, "resources": {"cpu": 2000, "memory": 4096}}]},
                "workload": workload}
    return Simulation(load_scenario(scenario))


def test_futile_reblocks_do_not_rewrite_the_eval():
    """The waiter's blocked eval is re-run on every tick's release but written only when it ends."""
    sim = _sim()
    blocked_writes: list[str] = []
    original = sim.state.upsert_evals

    def spy(evals, *rest):
        blocked_writes.extend(e.id for e in evals if e.job_id == "waiter" and e.triggered_by == "queued-allocs")
        return original(evals, *rest)

    sim.state.upsert_evals = spy
    sim.run()
    evals = sim.results()["evaluations"]
    blocked = evals[(evals.job_id == "waiter") & (evals.triggered_by == "queued-allocs")]
    assert len(blocked) == 1
    assert int(blocked.dequeues.iloc[0]) >= 5          # re-run after every tick released capacity
    assert blocked_writes.count(blocked.eval_id.iloc[0]) == 2   # created, then completed
    waiter = sim.state.allocs_by_job("default", "waiter")
    assert [a.client_status for a in waiter] == ["complete"]
    assert waiter[0].create_time >= 60.0               # placed once the filler finished


def _contended() -> Simulation:
    """30 batch jobs of 3 x 900 MHz registered at once on 4 nodes of 4000 MHz: the two workers'
    plans keep conflicting, so some eval runs out of plan attempts with every placement rejected
    by the plan applier (none failed in the scheduler)."""
    workload = [{"at": 0, "register": _batch(f"j{i}", 900, "10s", count=3)} for i in range(30)]
    scenario = {"name": "max-plans", "seed": 1, "duration": 900,
                "cluster": {"nodes": [{"count": 4, "resources": {"cpu": 4000, "memory": 8192}}]},
                "workload": workload}
    return Simulation(load_scenario(scenario))


def test_an_eval_failed_at_max_plan_attempts_keeps_its_blocked_eval():
    """Nomad (fsm.go handleUpsertedEval): only a complete eval without failed placements untracks
    the job's blocked eval. One that failed at max plan attempts keeps the "max-plan-attempts"
    blocked eval it created, which the leader's periodic UnblockFailed releases; the job finishes."""
    sim = _contended()
    sim.run()
    evals = sim.state.evals()
    failed = [e for e in evals if e.status == "failed" and not e.failed_tg_allocs]
    assert failed and all(e.status_description == "maximum attempts reached (2)" for e in failed)
    for ev in failed:
        follow = sim.state.eval_by_id(ev.blocked_eval)
        assert follow.triggered_by == "max-plan-attempts" and follow.status == "complete"
    assert sim.server.blocked.blocked_count() == 0
    assert [j.id for j in sim.state.jobs() if j.status != "dead"] == []
    assert all(len(sim.state.allocs_by_job("default", f"j{i}")) == 3 for i in range(30))
