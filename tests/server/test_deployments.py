"""The deployment watcher (sim/server/deployments.py), its pure rules (deployment_rules.py) and the
deployments table (sim/metrics/deployments.py).

Ported cases name their Nomad test (nomad/deploymentwatcher/deployments_watcher_test.go); the
watcher cases run a small simulation and drive the deployment API in process.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from sim.errors import ApiError, ValidationError
from sim.metrics.deployments import deployment_end_times, deployments_table
from sim.server.deployment_rules import (
    done_groups,
    group_should_fail,
    latest_eval_index,
    multierror,
    progress_cutoff,
    promotion_errors,
    rollback_description,
)
from sim.simulation import Simulation
from sim.structs.alloc import Allocation, AllocDeploymentStatus
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job

S = 1_000_000_000
BAD_RULE = [{"match": {"image": "*-bad"}, "fail_health": True}]

# -- builders ------------------------------------------------------------------------------------


def web_job(image: str = "web:1.0", count: int = 3, group: dict | None = None, **update: Any) -> dict:
    """A small service job with a rolling update block (MaxParallel 1, 10 s healthy, 60 s deadline)."""
    strategy = {"MaxParallel": 1, "HealthCheck": "task_states", "MinHealthyTime": 10 * S,
                "HealthyDeadline": 60 * S, "ProgressDeadline": 300 * S}
    strategy.update(update)
    tg = {"Name": "web", "Count": count, "Tasks": [{"Name": "server", "Driver": "docker", "Config": {"image": image},
                                                   "Resources": {"CPU": 100, "MemoryMB": 64}}]}
    tg.update(group or {})
    return {"Job": {"ID": "web", "Type": "service", "Datacenters": ["dc1"], "Update": strategy, "TaskGroups": [tg]}}


def simulation(job: dict, rules: list | None = None, settle: bool = True) -> Simulation:
    """Three nodes with `job` registered; with `settle`, version 0's deployment has finished."""
    sim = Simulation.from_scenario({"name": "w", "seed": 5, "duration": "1h", "task_behavior": rules or [],
                                    "cluster": {"nodes": [{"count": 3, "resources": {"cpu": 4000, "memory": 4096}}]}})
    sim.api.register_job(job)
    if settle:
        sim.run(60)
        assert sim.api.job_deployment("web")["Status"] == "successful"
    return sim


def latest(sim: Simulation) -> dict:
    """The job's latest deployment."""
    return sim.api.job_deployment("web")


def alloc(alloc_id: str, group: str = "web", healthy: bool | None = None, canary: bool = False,
          desired: str = "run") -> Allocation:
    """A bare allocation with an optional health verdict."""
    status = AllocDeploymentStatus(healthy=healthy, canary=canary) if healthy is not None or canary else None
    return Allocation(id=alloc_id, namespace="default", eval_id="e", name=f"web.{group}[0]", node_id="n",
                      node_name="n", job_id="web", job=Job(id="web"), task_group=group, desired_status=desired,
                      deployment_id="d", deployment_status=status)


def deployment(**groups: DeploymentState) -> Deployment:
    """A deployment with the given group states."""
    return Deployment(id="d", namespace="default", job_id="web", job_version=1, job_modify_index=1,
                      job_spec_modify_index=1, job_create_index=1, task_groups=dict(groups))


# -- pure rules ----------------------------------------------------------------------------------


def test_progress_cutoff_is_the_earliest_deadline_of_unfinished_groups() -> None:
    """Done groups and unset RequireProgressBy are skipped. Nomad: TestDeploymentWatcher_ProgressCutoff."""
    dep = deployment(a=DeploymentState(require_progress_by=50.0), b=DeploymentState(require_progress_by=30.0),
                     c=DeploymentState(require_progress_by=0.0))
    assert progress_cutoff(dep, {"a": False, "b": False, "c": False}) == 30.0
    assert progress_cutoff(dep, {"a": False, "b": True, "c": False}) == 50.0
    assert progress_cutoff(dep, {"a": True, "b": True, "c": False}) == 0.0


def test_done_groups_need_promotion_and_enough_healthy_live_allocs() -> None:
    """Unpromoted canary groups are never done; terminal or unhealthy allocs do not count."""
    dep = deployment(web=DeploymentState(desired_total=2), api=DeploymentState(desired_total=1, desired_canaries=1))
    allocs = [alloc("1", healthy=True), alloc("2", healthy=True, desired="stop"), alloc("3", "api", healthy=True)]
    assert done_groups(dep, allocs) == {"web": False, "api": False}
    allocs.append(alloc("4", healthy=True))
    dep.task_groups["api"].promoted = True
    assert done_groups(dep, allocs) == {"web": True, "api": True}


def test_group_should_fail_counts_canaries_until_promoted() -> None:
    """Nomad: deploymentWatcher.shouldFail: DesiredCanaries before promotion, DesiredTotal after."""
    group = DeploymentState(desired_total=5, desired_canaries=2, healthy_allocs=2)
    assert not group_should_fail(group)
    group.promoted = True
    assert group_should_fail(group)
    group.healthy_allocs = 5
    assert not group_should_fail(group)


def test_promotion_errors_count_healthy_live_canaries_of_the_promoted_groups() -> None:
    """Nomad's message per group; groups left out of a partial promotion are not checked."""
    dep = deployment(web=DeploymentState(desired_canaries=2, placed_canaries=["1", "2"]),
                     api=DeploymentState(desired_canaries=1, placed_canaries=["3"]))
    allocs = [alloc("1", healthy=True, canary=True), alloc("2", healthy=True, canary=True, desired="stop"),
              alloc("3", "api", healthy=False, canary=True)]
    assert promotion_errors(dep, allocs, None) == ['Task group "api" has 0/1 healthy allocations',
                                                   'Task group "web" has 1/2 healthy allocations']
    assert promotion_errors(dep, allocs, ["web"]) == ['Task group "web" has 1/2 healthy allocations']
    allocs[1] = alloc("2", healthy=True, canary=True)
    assert promotion_errors(dep, allocs, ["web"]) == []


def test_rollback_description_variants() -> None:
    """Rolling back, same spec (no revert loop), or no stable version. Nomad: handleRollbackValidity."""
    base = "Failed due to unhealthy allocations"
    stable, current = Job(id="web", version=3, meta={"a": "1"}), Job(id="web", version=5, meta={"a": "2"})
    assert rollback_description(base, current, stable) == (f"{base} - rolling back to job version 3", True)
    same = Job(id="web", version=5, meta={"a": "1"})
    assert rollback_description(base, same, stable) == (
        f"{base} - not rolling back to stable job version 3 as current job has same specification", False)
    assert rollback_description(base, current, None) == (f"{base} - no stable job version to auto revert to", False)


def test_latest_eval_index_prefers_snapshots_and_skips_cancelled() -> None:
    """Nomad: deploymentWatcher.jobEvalStatus."""
    def ev(eval_id: str, **fields: Any) -> Evaluation:
        return Evaluation(id=eval_id, namespace="default", priority=50, type="service",
                          triggered_by="job-register", job_id="web", **fields)

    evals = [ev("1", create_index=10, snapshot_index=14), ev("2", create_index=12),
             ev("3", create_index=40, status="canceled")]
    assert latest_eval_index(evals) == 14
    assert latest_eval_index([]) == 0


def test_multierror_prints_like_go_multierror() -> None:
    """One error, and several (hashicorp/go-multierror ListFormatFunc)."""
    assert multierror(["a"]) == "1 error occurred:\n\t* a\n\n"
    assert multierror(["a", "b"]) == "2 errors occurred:\n\t* a\n\t* b\n\n"


# -- the watcher ---------------------------------------------------------------------------------


def test_healthy_canaries_awaiting_manual_promotion_outlive_the_progress_deadline() -> None:
    """Nomad: TestDeploymentWatcher_Watch_ProgressDeadline_Canaries: still running past the deadline."""
    sim = simulation(web_job(Canary=1, ProgressDeadline=120 * S))
    sim.api.register_job(web_job("web:1.1", Canary=1, ProgressDeadline=120 * S))
    sim.run(60 + 400)
    dep = latest(sim)
    assert (dep["Status"], dep["StatusDescription"]) == ("running", "Deployment is running but requires manual promotion")
    assert dep["TaskGroups"]["web"]["HealthyAllocs"] == 1


def test_paused_deployment_ignores_the_deadline_and_resuming_restarts_it() -> None:
    """Nomad: TestWatcher_PauseDeployment_IgnoreProgressDeadline; resume answers an eval, then the deadline fails it."""
    sim = simulation(web_job(), rules=BAD_RULE)
    sim.api.register_job(web_job("web:1.1-bad", ProgressDeadline=120 * S))
    sim.run(70)
    dep_id = latest(sim)["ID"]
    sim.api.pause_deployment(dep_id, {"Pause": True})
    group = sim.state.deployment_by_id(dep_id).task_groups["web"]
    assert group.require_progress_by == pytest.approx(70 + 120)
    sim.run(400)
    assert (latest(sim)["Status"], latest(sim)["StatusDescription"]) == ("paused", "Deployment is paused")
    answer = sim.api.pause_deployment(dep_id, {"Pause": False})
    assert sim.api.read_evaluation(answer["EvalID"])["TriggeredBy"] == "deployment-watcher"
    assert (latest(sim)["Status"], latest(sim)["StatusDescription"]) == ("running", "Deployment is running")
    sim.run(400 + 119)
    assert latest(sim)["Status"] == "running"
    sim.run(400 + 121)
    assert (latest(sim)["Status"], latest(sim)["StatusDescription"]) == ("failed", "Failed due to progress deadline")


def test_unhealthy_alloc_without_reschedules_left_fails_early() -> None:
    """Nomad: TestDeploymentWatcher_Watch_FailEarly: no reschedule attempts, so no wait for the deadline."""
    no_resched = {"ReschedulePolicy": {"Attempts": 0, "Unlimited": False}}
    sim = simulation(web_job(group=no_resched), rules=BAD_RULE)
    sim.api.register_job(web_job("web:1.1-bad", group=no_resched))
    sim.run(200)
    dep = latest(sim)
    assert (dep["Status"], dep["StatusDescription"]) == ("failed", "Failed due to unhealthy allocations")
    assert [t for t, i, *_ in sim.state.deployment_log if i == dep["ID"]][-1] == pytest.approx(60 + 60, abs=1)


def test_rollback_to_a_stable_version_with_the_same_spec_is_refused() -> None:
    """Nomad: TestDeploymentWatcher_RollbackFailed: the latest stable version is the current spec."""
    sim = simulation(web_job(AutoRevert=True), rules=BAD_RULE)
    sim.api.register_job(web_job("web:1.1-bad", AutoRevert=True))
    sim.run(65)
    sim.api.stable_job("web", {"JobID": "web", "JobVersion": 1, "Stable": True})
    sim.api.fail_deployment(latest(sim)["ID"])
    assert latest(sim)["StatusDescription"] == (
        "Deployment marked as failed - not rolling back to stable job version 1 as current job has same specification")
    sim.run(120)
    assert sim.api.read_job("web")["Version"] == 1


def test_first_deployment_has_no_stable_version_to_revert_to() -> None:
    """A failing first deployment that auto-reverts says so."""
    sim = simulation(web_job("web:1.0-bad", AutoRevert=True, ProgressDeadline=0), rules=BAD_RULE, settle=False)
    sim.run(120)
    assert latest(sim)["StatusDescription"] == ("Failed due to unhealthy allocations - no stable job version "
                                                "to auto revert to")
    assert sim.api.read_job("web")["Version"] == 0


@pytest.mark.parametrize("auto_revert", [True, False])
def test_manual_fail_rolls_back_only_with_auto_revert(auto_revert: bool) -> None:
    """Nomad: TestWatcher_FailDeployment_Running: `Deployment marked as failed` (+ rollback), with an eval."""
    sim = simulation(web_job(AutoRevert=auto_revert))
    sim.api.register_job(web_job("web:1.1", AutoRevert=auto_revert, MinHealthyTime=30 * S))
    sim.run(65)
    answer = sim.api.fail_deployment(latest(sim)["ID"])
    failed = [d for d in sim.api.job_deployments("web") if d["JobVersion"] == 1][0]
    suffix = " - rolling back to job version 0" if auto_revert else ""
    assert (failed["Status"], failed["StatusDescription"]) == ("failed", "Deployment marked as failed" + suffix)
    ev = sim.api.read_evaluation(answer["EvalID"])
    assert (ev["TriggeredBy"], ev["DeploymentID"]) == ("deployment-watcher", failed["ID"])
    sim.run(200)
    assert sim.api.read_job("web")["Version"] == (2 if auto_revert else 1)
    reverted = sim.server.deployment_watcher.reverted_versions
    assert reverted == ({failed["ID"]: 0} if auto_revert else {})


def test_promotion_is_refused_for_unhealthy_canaries_and_terminal_deployments() -> None:
    """Nomad: TestWatcher_PromoteDeployment_UnhealthyCanaries and the endpoint's terminal check."""
    sim = simulation(web_job(Canary=1))
    first = latest(sim)["ID"]
    with pytest.raises(ApiError) as err:
        sim.api.promote_deployment(first, {"All": True})
    assert (err.value.status, err.value.message) == (500, "can't promote terminal deployment")
    sim.api.register_job(web_job("web:1.1", Canary=1))
    sim.run(62)
    with pytest.raises(ApiError) as err:
        sim.api.promote_deployment(latest(sim)["ID"], {"All": True})
    assert err.value.message == '1 error occurred:\n\t* Task group "web" has 0/1 healthy allocations\n\n'


def test_auto_promotion_happens_once() -> None:
    """Nomad: TestWatcher_AutoPromoteDeployment: promoted when all canaries are healthy, and only then."""
    sim = simulation(web_job(count=4, Canary=2, AutoPromote=True))
    watcher = sim.server.deployment_watcher
    calls = []
    original = watcher._promote
    watcher._promote = lambda dep, groups: calls.append(sim.now) or original(dep, groups)
    sim.api.register_job(web_job("web:1.1", count=4, Canary=2, AutoPromote=True))
    sim.run(300)
    assert len(calls) == 1 and calls[0] == pytest.approx(60 + 10, abs=1)
    assert latest(sim)["Status"] == "successful"


def test_health_reports_of_one_period_make_one_eval() -> None:
    """Nomad: createBatchedUpdate: the 10 allocs healthy together cause one deployment-watcher eval."""
    sim = simulation(web_job(count=10))
    watcher_evals = [e for e in sim.api.job_evaluations("web") if e["TriggeredBy"] == "deployment-watcher"]
    assert len(watcher_evals) == 1


def test_in_place_update_joins_the_new_deployment() -> None:
    """An update-block-only change updates allocs in place; they join and complete the new deployment."""
    sim = simulation(web_job())
    ids = sorted(a["ID"] for a in sim.api.job_allocations("web"))
    sim.api.register_job(web_job(MinHealthyTime=5 * S))
    sim.run(120)
    dep = latest(sim)
    assert dep["JobVersion"] == 1 and dep["Status"] == "successful"
    assert (dep["TaskGroups"]["web"]["PlacedAllocs"], dep["TaskGroups"]["web"]["HealthyAllocs"]) == (3, 3)
    allocs = [sim.api.read_allocation(a["ID"]) for a in sim.api.job_allocations("web")]
    assert sorted(a["ID"] for a in allocs) == ids and {a["DeploymentID"] for a in allocs} == {dep["ID"]}


def test_service_job_without_update_block_gets_the_default_strategy() -> None:
    """Nomad's defaults (MaxParallel 1, 10 s healthy, 10 m progress deadline) drive the update."""
    job = web_job(count=2)
    del job["Job"]["Update"]
    sim = simulation(job)
    update = sim.api.read_job("web")["TaskGroups"][0]["Update"]
    assert (update["MaxParallel"], update["MinHealthyTime"], update["ProgressDeadline"]) == (1, 10 * S, 600 * S)
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = "web:1.1"
    sim.api.register_job(job)
    sim.run(200)
    dep = latest(sim)
    assert dep["JobVersion"] == 1 and dep["Status"] == "successful"


def test_manual_health_check_waits_for_the_operator() -> None:
    """health_check = manual: no client verdict; set healthy, the rollout goes on; set unhealthy, it fails.

    Nomad: TestWatcher_SetAllocHealth_Healthy and TestWatcher_SetAllocHealth_Unhealthy_Rollback.
    """
    sim = simulation(web_job(count=2, AutoRevert=True))
    watcher = sim.server.deployment_watcher
    sim.api.register_job(web_job("web:1.1", count=2, AutoRevert=True, HealthCheck="manual"))
    sim.run(200)
    dep = latest(sim)
    [first] = [a for a in sim.state.allocs_by_job("default", "web") if a.deployment_id == dep["ID"]]
    assert first.deployment_status is None and dep["Status"] == "running"
    with pytest.raises(ValidationError, match="must specify at least one healthy/unhealthy allocation ID"):
        watcher.set_alloc_health(dep["ID"], [], [])
    with pytest.raises(ValidationError, match=f'is not part of deployment "{dep["ID"]}"'):
        watcher.set_alloc_health(dep["ID"], [sim.api.job_allocations("web")[0]["ID"]], [])
    watcher.set_alloc_health(dep["ID"], [first.id], [])
    sim.run(210)
    second = [a for a in sim.state.allocs_by_job("default", "web") if a.deployment_id == dep["ID"] and a.id != first.id]
    assert len(second) == 1 and latest(sim)["TaskGroups"]["web"]["HealthyAllocs"] == 1
    watcher.set_alloc_health(dep["ID"], [], [second[0].id])
    assert latest(sim)["StatusDescription"] == "Failed due to unhealthy allocations - rolling back to job version 0"
    with pytest.raises(ValidationError, match="can't set health of allocations for a terminal deployment"):
        watcher.set_alloc_health(dep["ID"], [first.id], [])


# -- metrics -------------------------------------------------------------------------------------


def test_deployments_table_has_one_row_per_deployment_and_group() -> None:
    """Final counters, start, the first terminal status as end, NaN while active."""
    done = deployment(api=DeploymentState(desired_total=1), web=DeploymentState(desired_total=2, healthy_allocs=2))
    done.create_time, done.status = 5.0, "successful"
    live = Deployment(id="e", namespace="default", job_id="web", job_version=2, job_modify_index=1,
                      job_spec_modify_index=1, job_create_index=1, create_time=40.0,
                      task_groups={"web": DeploymentState(desired_total=2, placed_canaries=["x"])})
    log = [(5.0, "d", "web", 1, "running", "Deployment is running"),
           (30.0, "d", "web", 1, "successful", "Deployment completed successfully"),
           (35.0, "d", "web", 1, "successful", "late counter change"),
           (40.0, "e", "web", 2, "running", "Deployment is running")]
    assert deployment_end_times(log) == {"d": 30.0}
    state = SimpleNamespace(deployment_log=log, deployments=lambda: [done, live])
    table = deployments_table(state)
    assert list(zip(table["deployment_id"], table["task_group"], strict=True)) == [("d", "api"), ("d", "web"), ("e", "web")]
    assert list(table["duration"][:2]) == [25.0, 25.0] and math.isnan(table["end"][2])
    assert (table["healthy_allocs"][1], table["placed_canaries"][2]) == (2, 1)
    assert str(table["job_version"].dtype) == "int64" and str(table["promoted"].dtype) == "bool"
