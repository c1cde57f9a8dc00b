"""Eval rules of Nomad's state store and leader that cancel blocked evals.

Nomad: nomad/state/state_store.go nestedUpsertEval ("cancel blocked evals for a job when a
successful eval is upserted", state_store_test.go TestStateStore_UpsertEvals_CancelBlocked) and
nomad/leader.go reapDupBlockedEvaluations (leader_test.go TestLeader_ReapDuplicateEval).
"""

from __future__ import annotations

from conftest import tiny_scenario

from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.state.store import StateStore
from sim.structs.evaluation import Evaluation


def _eval(eval_id: str, job_id: str, status: str, **fields) -> Evaluation:
    return Evaluation(id=eval_id, namespace="default", priority=50, type="service", triggered_by="job-register",
                      job_id=job_id, status=status, **fields)


def test_successful_eval_cancels_the_jobs_blocked_evals():
    """Nomad: TestStateStore_UpsertEvals_CancelBlocked: two blocked evals of a job are cancelled
    by a complete eval of that job, with `evaluation "<id>" successful`; other jobs' are kept."""
    state = StateStore(clock=lambda: 5.0)
    b1, b2 = _eval("b1", "web", "blocked"), _eval("b2", "web", "blocked")
    other = _eval("b3", "db", "blocked")
    state.upsert_evals([b1, b2, other])
    done = _eval("e1", "web", "complete")
    cancelled: list[Evaluation] = []
    index = state.upsert_evals([done], cancelled)
    assert [e.id for e in cancelled] == ["b1", "b2"]
    for eval_id in ("b1", "b2"):
        stored = state.eval_by_id(eval_id)
        assert stored.status == "canceled"
        assert stored.status_description == 'evaluation "e1" successful'
        assert stored.modify_index == index
    assert b1.status == "blocked"  # the original (held by the broker or tracker) is not mutated
    assert state.eval_by_id("b3").status == "blocked"


def test_failed_placements_keep_blocked_evals():
    """A complete eval that still failed placements, or a failed eval, cancels nothing."""
    state = StateStore(clock=lambda: 0.0)
    state.upsert_evals([_eval("b1", "web", "blocked")])
    state.upsert_evals([_eval("e1", "web", "complete", failed_tg_allocs={"g": object()})])
    state.upsert_evals([_eval("e2", "web", "failed")])
    assert state.eval_by_id("b1").status == "blocked"


def test_blocked_eval_completing_itself_is_not_cancelled():
    """The blocked eval that the scheduler completes is written complete (Nomad writes it last)."""
    state = StateStore(clock=lambda: 0.0)
    state.upsert_evals([_eval("b1", "web", "blocked")])
    state.upsert_evals([_eval("b1", "web", "complete")])
    assert state.eval_by_id("b1").status == "complete"


def _too_big(job_id: str) -> dict:
    return {"ID": job_id, "Type": "batch", "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 100000, "MemoryMB": 64}}]}]}


def test_deregistered_job_with_queued_allocs_becomes_dead():
    """A job that never placed is `pending` with a blocked eval; its deregister eval completes
    without failed placements, cancels the blocked eval, and the job is `dead`."""
    scenario = tiny_scenario(workload=[{"at": 0, "register": _too_big("huge")},
                                       {"at": 60, "deregister": {"job": "huge"}}], duration=120)
    sim = Simulation(load_scenario(scenario))
    sim.run(30)
    assert sim.state.job_by_id("default", "huge").status == "pending"
    blocked = [e for e in sim.state.evals_by_job("default", "huge") if e.status == "blocked"]
    assert len(blocked) == 1
    sim.run(120)
    evals = sim.state.evals_by_job("default", "huge")
    deregister = next(e for e in evals if e.triggered_by == "job-deregister")
    cancelled = sim.state.eval_by_id(blocked[0].id)
    assert cancelled.status == "canceled"
    assert cancelled.status_description == f'evaluation "{deregister.id}" successful'
    assert sim.state.job_by_id("default", "huge").status == "dead"
    table = sim.results()["evaluations"]
    assert table.set_index("eval_id").loc[blocked[0].id, "status"] == "canceled"


def test_leader_cancels_duplicate_blocked_evals_with_nomads_message():
    """Nomad: TestLeader_ReapDuplicateEval: of two blocked evals of one job the older is cancelled
    with `existing blocked evaluation exists for job "<job>"`."""
    sim = Simulation(load_scenario(tiny_scenario()))
    fsm = sim.server.fsm
    first = _eval(sim.server.ids.uuid(), "web", "blocked")
    fsm.create_evals([first])
    second = _eval(sim.server.ids.uuid(), "web", "blocked")
    fsm.create_evals([second])
    fsm.reap_cancelable()
    old = sim.state.eval_by_id(first.id)
    assert old.status == "canceled"
    assert old.status_description == 'existing blocked evaluation exists for job "web"'
    assert sim.state.eval_by_id(second.id).status == "blocked"
