"""Tests of sim.workload.dags: `after` dependencies checked with networkx and run as a workflow."""

from __future__ import annotations

import networkx as nx
import pytest
from conftest import tiny_scenario

from sim.errors import ScenarioError
from sim.scenario.actions import JobSource, Register
from sim.simulation import Simulation
from sim.workload.dags import check_after, critical_path


def _reg(job: str, *after: str, at: float = 0.0) -> Register:
    return Register(at, JobSource({"ID": job}, None, job), tuple(after))


def _batch(job: str, runtime: str, exit_code: int = 0) -> dict:
    meta = {"sim.runtime": runtime, "sim.exit_code": str(exit_code)}
    return {"ID": job, "Type": "batch", "TaskGroups": [{
        "Name": "g", "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
        "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
        "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": meta,
                   "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}


def test_check_after_orders_parents_first():
    """A diamond a → (b, c) → d comes out parents first, ties in workload order."""
    order = check_after(list(enumerate([_reg("a"), _reg("c", "a"), _reg("b", "a"), _reg("d", "b", "c")])))
    assert order == ["a", "c", "b", "d"]


def test_check_after_names_the_register_closing_a_cycle():
    """A cycle is a ScenarioError at the `after` of the first job on it, listing the cycle."""
    with pytest.raises(ScenarioError) as info:
        check_after(list(enumerate([_reg("x"), _reg("a", "b"), _reg("b", "c"), _reg("c", "a")])))
    assert info.value.path == "workload[1].after"
    assert "cycle in after: a -> b -> c -> a" in str(info.value)


def test_critical_path_takes_the_longest_chain():
    """In a diamond the path through the longer middle job is critical; its length sums durations."""
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    path, length = critical_path(graph, {"a": 10.0, "b": 5.0, "c": 30.0, "d": 1.0})
    assert path == ["a", "c", "d"]
    assert length == pytest.approx(41.0)


def _run(workload: list[dict], until: float = 900.0) -> tuple[Simulation, dict]:
    sim = Simulation.from_scenario(tiny_scenario(workload=workload))
    sim.run(until)
    return sim, sim.results()


def test_dependent_job_is_registered_when_its_parents_complete():
    """d waits for b and c; each child's submit comes after its parents' completion."""
    sim, t = _run([
        {"at": 0, "register": _batch("a", "20s")},
        {"at": 0, "register": _batch("b", "40s"), "after": ["a"]},
        {"at": 0, "register": _batch("c", "10s"), "after": ["a"]},
        {"at": 0, "register": _batch("d", "5s"), "after": ["b", "c"]},
    ])
    jobs = t["jobs"].set_index("job_id")
    assert jobs.loc["b", "submit"] >= jobs.loc["a", "completed"]
    assert jobs.loc["d", "submit"] >= max(jobs.loc["b", "completed"], jobs.loc["c", "completed"])
    assert set(jobs["dag"]) == {"a"}
    assert list(jobs.loc[["a", "b", "c", "d"], "on_critical_path"]) == [True, True, False, True]
    dag = t["dags"].iloc[0]
    assert (dag["dag"], dag["jobs"], dag["status"], dag["critical_path"]) == ("a", 4, "complete", "a -> b -> d")
    assert dag["makespan"] == pytest.approx(jobs.loc["d", "completed"] - jobs.loc["a", "submit"])
    assert (jobs["dag_critical_path"] == "a -> b -> d").all() and (jobs["dag_makespan"] == dag["makespan"]).all()
    assert sim.workload.errors == []


def test_a_later_at_still_waits_for_its_time():
    """A dependent whose `at` is after its parent's completion is registered at `at`."""
    _, t = _run([{"at": 0, "register": _batch("a", "5s")},
                 {"at": "2m", "register": _batch("b", "5s"), "after": ["a"]}])
    assert t["jobs"].set_index("job_id").loc["b", "submit"] == pytest.approx(120.0)


def test_failed_parent_skips_its_dependents():
    """A parent that fails never releases its children; both skips are rejected actions."""
    sim, t = _run([
        {"at": 0, "register": _batch("a", "5s", exit_code=1)},
        {"at": 0, "register": _batch("b", "5s"), "after": ["a"]},
        {"at": 0, "register": _batch("c", "5s"), "after": ["b"]},
    ])
    assert set(t["jobs"]["job_id"]) == {"a"}
    assert [e[2] for e in sim.workload.errors] == ["b", "c"]
    assert "parent 'a' did not complete successfully" in sim.workload.errors[0][3]
    assert list(t["workload_errors"]["job_id"]) == ["b", "c"]
    assert t["dags"].iloc[0]["status"] == "failed"


def test_rejected_root_skips_its_dependents(monkeypatch):
    """A root the job endpoint rejects (priority out of range) never runs, nor do the jobs after it.

    Loading a scenario now refuses such a job up front; a job only the endpoint sees (an HCL file,
    parsed at run time) still can be, so the load-time check is switched off here.
    """
    monkeypatch.setattr("sim.scenario.jobs.check_registration", lambda job, path: None)
    sim, t = _run([
        {"at": 0, "register": {**_batch("a", "5s"), "Priority": 500}},
        {"at": 0, "register": _batch("b", "5s"), "after": ["a"]},
    ])
    assert len(t["jobs"]) == 0
    assert [(e[1], e[2]) for e in sim.workload.errors] == [("register", "a"), ("register", "b")]
    assert "priority must be between" in sim.workload.errors[0][3]
