"""Deployments end to end: scenario dicts run by Simulation, observed through Simulation.api.

Rolling updates, canaries with auto-promotion, auto-revert of a bad release, progress deadlines,
cancellation by a newer version, manual promotion over HTTP with python-nomad, task behaviour that
makes a release bad, and the deployments tables. Nomad behaviour: docs/fidelity.md#deployments and
nomad/deploymentwatcher/deployment_watcher.go.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import nomad
import pytest
import requests
import yaml

from sim.simulation import Simulation
from sim.structs.codec import jobs_spec_equal

S = 1_000_000_000
ROOT = Path(__file__).resolve().parents[1]
GOOD, BAD = "web:1.1", "web:1.2-bad"


def web_job(image: str = "web:1.0", count: int = 10, meta: dict | None = None, **update: Any) -> dict:
    """A count-`count` service job; `update` overrides the update block (MaxParallel 2, 10 s healthy)."""
    strategy = {"MaxParallel": 2, "HealthCheck": "task_states", "MinHealthyTime": 10 * S,
                "HealthyDeadline": 60 * S, "ProgressDeadline": 300 * S}
    strategy.update(update)
    task = {"Name": "server", "Driver": "docker", "Config": {"image": image},
            "Resources": {"CPU": 100, "MemoryMB": 64}}
    if meta:
        task["Meta"] = meta
    return {"Job": {"ID": "web", "Type": "service", "Datacenters": ["dc1"], "Update": strategy,
                    "TaskGroups": [{"Name": "web", "Count": count, "Tasks": [task]}]}}


def scenario(**extra: Any) -> dict:
    """Five roomy nodes, a 1 h run; `extra` adds scenario keys (task_behavior, workload ...)."""
    base = {"name": "deploy", "seed": 3, "duration": "1h",
            "cluster": {"nodes": [{"count": 5, "resources": {"cpu": 8000, "memory": 8192}}]}}
    base.update(extra)
    return base


def start(job: dict, **extra: Any) -> Simulation:
    """A simulation with `job` registered and its first deployment finished (version 0 stable)."""
    sim = Simulation.from_scenario(scenario(**extra))
    sim.api.register_job(job)
    sim.run(60)
    assert sim.api.job_deployment("web")["Status"] == "successful"
    return sim


def deployment_of(sim: Simulation, version: int) -> dict:
    """The (only) deployment of a job version."""
    [dep] = [d for d in sim.api.job_deployments("web") if d["JobVersion"] == version]
    return dep


def log_of(sim: Simulation, dep_id: str) -> list[tuple[float, str, str]]:
    """(time, status, description) of a deployment's status changes."""
    return [(t, status, desc) for t, i, _, _, status, desc in sim.state.deployment_log if i == dep_id]


def max_in_flight(sim: Simulation, version: int) -> int:
    """Most allocs of `version` placed but not yet healthy at one instant (from the state's history)."""
    edges = []
    for alloc in sim.state.allocs_by_job("default", "web"):
        if alloc.job.version != version:
            continue
        status = alloc.deployment_status
        end = status.timestamp if status is not None and status.healthy else alloc.modify_time
        edges += [(alloc.create_time, 1), (end, -1)]
    level = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def running_versions(sim: Simulation) -> list[int]:
    """Job versions of the running allocs, sorted."""
    return sorted(a["JobVersion"] for a in sim.api.job_allocations("web") if a["ClientStatus"] == "running")


def test_rolling_update_respects_max_parallel_and_marks_version_stable() -> None:
    """Count 10, MaxParallel 2, MinHealthyTime 10 s: successful, ≤ 2 in flight, ≥ 50 s, Stable."""
    sim = start(web_job())
    sim.api.register_job(web_job(GOOD))
    sim.run(600)
    dep = deployment_of(sim, 1)
    assert (dep["Status"], dep["StatusDescription"]) == ("successful", "Deployment completed successfully")
    group = dep["TaskGroups"]["web"]
    assert (group["DesiredTotal"], group["PlacedAllocs"], group["HealthyAllocs"]) == (10, 10, 10)
    assert max_in_flight(sim, 1) == 2
    log = log_of(sim, dep["ID"])
    assert [s for _, s, _ in log] == ["running", "successful"]
    assert log[-1][0] - log[0][0] >= 5 * 10
    versions = {v["Version"]: v["Stable"] for v in sim.api.job_versions("web")["Versions"]}
    assert versions == {0: True, 1: True}
    assert running_versions(sim) == [1] * 10


def test_canaries_auto_promote_then_the_rest_roll() -> None:
    """Canary 2 + AutoPromote: healthy canaries are promoted without help, then 8 more roll 2 at a time."""
    sim = start(web_job(Canary=2, AutoPromote=True))
    sim.api.register_job(web_job(GOOD, Canary=2, AutoPromote=True))
    sim.run(600)
    dep = deployment_of(sim, 1)
    group = dep["TaskGroups"]["web"]
    assert dep["Status"] == "successful" and group["Promoted"] is True
    assert (group["DesiredCanaries"], len(group["PlacedCanaries"]), group["HealthyAllocs"]) == (2, 2, 10)
    log = log_of(sim, dep["ID"])
    assert [d for _, _, d in log] == ["Deployment is running pending automatic promotion", "Deployment is running",
                                      "Deployment completed successfully"]
    promoted_at = log[1][0]
    canaries = set(group["PlacedCanaries"])
    rest = [a for a in sim.state.allocs_by_job("default", "web") if a.job.version == 1 and a.id not in canaries]
    assert len(rest) == 8 and min(a.create_time for a in rest) >= promoted_at
    assert max_in_flight(sim, 1) == 2
    assert running_versions(sim) == [1] * 10


BAD_RULE = [{"match": {"image": "*-bad"}, "fail_health": True}]


@pytest.mark.parametrize("how", ["task_behavior rule", "task meta"])
def test_bad_canaries_fail_and_auto_revert_to_the_stable_version(how: str) -> None:
    """Canaries that never get healthy fail the deployment and re-register version 0's spec as version 2."""
    update = {"Canary": 2, "AutoRevert": True, "ProgressDeadline": 0}
    meta = {"sim.fail_health": "true"} if how == "task meta" else None
    sim = start(web_job(**update), task_behavior=BAD_RULE if how == "task_behavior rule" else [])
    old = {a["ID"] for a in sim.api.job_allocations("web")}
    sim.api.register_job(web_job(BAD, meta=meta, **update))
    sim.run(900)
    bad = deployment_of(sim, 1)
    assert bad["Status"] == "failed"
    assert bad["StatusDescription"] == "Failed due to unhealthy allocations - rolling back to job version 0"
    assert bad["TaskGroups"]["web"]["UnhealthyAllocs"] == 2
    stable, reverted = (sim.state.job_by_version("default", "web", v) for v in (0, 2))
    assert jobs_spec_equal(stable, reverted)
    assert deployment_of(sim, 2)["Status"] == "successful"
    assert sim.api.read_job("web")["Version"] == 2 and sim.api.read_job("web")["Stable"] is True
    allocs = {a["ID"]: a for a in sim.api.job_allocations("web", all=True)}
    assert all(allocs[i]["DesiredStatus"] == "run" and allocs[i]["ClientStatus"] == "running" for i in old)
    assert running_versions(sim) == [2] * 10


def test_auto_revert_through_progress_deadline_with_reschedulable_allocs() -> None:
    """With a progress deadline and unlimited reschedules the bad canaries wait for the deadline."""
    update = {"Canary": 2, "AutoRevert": True, "ProgressDeadline": 120 * S}
    sim = start(web_job(**update), task_behavior=BAD_RULE)
    sim.api.register_job(web_job(BAD, **update))
    sim.run(900)
    bad = deployment_of(sim, 1)
    assert bad["StatusDescription"] == "Failed due to progress deadline - rolling back to job version 0"
    failed_at = log_of(sim, bad["ID"])[-1][0]
    assert failed_at == pytest.approx(60 + 120, abs=1)
    canaries = [sim.state.alloc_by_id(i) for i in bad["TaskGroups"]["web"]["PlacedCanaries"]]
    assert all(a.desired_transition.reschedule for a in canaries)  # the watcher allowed replacements
    assert running_versions(sim) == [2] * 10


def test_progress_deadline_fails_the_deployment() -> None:
    """No healthy progress within ProgressDeadline: `Failed due to progress deadline`, no rollback."""
    sim = start(web_job(), task_behavior=BAD_RULE)
    sim.api.register_job(web_job(BAD, ProgressDeadline=120 * S))
    sim.run(600)
    dep = deployment_of(sim, 1)
    assert (dep["Status"], dep["StatusDescription"]) == ("failed", "Failed due to progress deadline")
    assert dep["TaskGroups"]["web"]["PlacedAllocs"] == 2  # MaxParallel: the next batch never came
    assert running_versions(sim) == [0] * 8 + [1] * 2
    assert sim.api.read_job("web")["Version"] == 1


def test_newer_version_cancels_the_running_deployment() -> None:
    """Registering version 2 mid-rollout cancels version 1's deployment; version 2 then rolls out."""
    sim = start(web_job())
    sim.api.register_job(web_job(GOOD, MinHealthyTime=30 * S))
    sim.run(100)
    assert deployment_of(sim, 1)["Status"] == "running"
    sim.api.register_job(web_job("web:1.3"))
    sim.run(700)
    old, new = deployment_of(sim, 1), deployment_of(sim, 2)
    assert (old["Status"], old["StatusDescription"]) == ("cancelled", "Cancelled due to newer version of job")
    assert new["Status"] == "successful"
    assert running_versions(sim) == [2] * 10


@pytest.mark.parametrize("behavior", [{"rule": {"fail_after": "5s"}}, {"meta": {"sim.fail_after": "5s"}}],
                         ids=["rule", "meta"])
def test_tasks_crashing_before_min_healthy_time_fail_the_release(behavior: dict) -> None:
    """A release whose tasks exit after 5 s (before MinHealthyTime) is unhealthy and reverts at once."""
    rules = [{"match": {"image": "*-bad"}, **behavior["rule"]}] if "rule" in behavior else []
    update = {"AutoRevert": True, "ProgressDeadline": 0}
    sim = start(web_job(**update), task_behavior=rules)
    sim.api.register_job(web_job(BAD, meta=behavior.get("meta"), **update))
    sim.run(600)
    dep = deployment_of(sim, 1)
    assert dep["StatusDescription"] == "Failed due to unhealthy allocations - rolling back to job version 0"
    assert log_of(sim, dep["ID"])[-1][0] < 60 + 10
    assert deployment_of(sim, 2)["Status"] == "successful"


@pytest.mark.parametrize("behavior", [{"rule": {"crash_after": "5s"}}, {"meta": {"sim.crash_after": "5s"}}],
                         ids=["rule", "meta"])
def test_tasks_crashing_after_becoming_healthy_pass_the_deployment(behavior: dict) -> None:
    """`crash_after` counts from health: the release is healthy first, so its deployment succeeds
    and the later failures do not flip health (Nomad: clientAlloc keeps a health already set)."""
    rules = [{"match": {"image": "*-bad"}, **behavior["rule"]}] if "rule" in behavior else []
    update = {"AutoRevert": True, "ProgressDeadline": 0}
    sim = start(web_job(**update), task_behavior=rules)
    sim.api.register_job(web_job(BAD, meta=behavior.get("meta"), **update))
    sim.run(600)
    dep = deployment_of(sim, 1)
    assert dep["Status"] == "successful" and dep["TaskGroups"]["web"]["UnhealthyAllocs"] == 0
    failed = [a for a in sim.api.job_allocations("web", all=True) if a["ClientStatus"] == "failed"]
    assert failed and {a["JobVersion"] for a in failed} == {1}
    assert sim.api.read_job("web")["Version"] == 1


def test_deployment_tables_in_results() -> None:
    """results(): deployment_events holds each status change; deployments one row per deployment and group."""
    sim = start(web_job(Canary=2, AutoRevert=True, ProgressDeadline=0), task_behavior=BAD_RULE)
    sim.api.register_job(web_job(BAD, Canary=2, AutoRevert=True, ProgressDeadline=0))
    sim.run(600)
    tables = sim.results()
    deps = tables["deployments"]
    assert list(deps["job_version"]) == [0, 1, 2]
    assert list(deps["status"]) == ["successful", "failed", "successful"]
    bad = deps.iloc[1]
    assert (bad["desired_canaries"], bad["placed_canaries"], bad["unhealthy_allocs"]) == (2, 2, 2)
    assert bad["duration"] == pytest.approx(bad["end"] - bad["start"]) and bad["duration"] >= 60
    events = tables["deployment_events"]
    assert list(events[events["deployment_id"] == bad["deployment_id"]]["status"]) == ["running", "failed"]
    watcher_evals = tables["evaluations"][tables["evaluations"]["triggered_by"] == "deployment-watcher"]
    assert len(watcher_evals) >= 2


def test_bench_scenario_good_release_then_bad_release_reverts() -> None:
    """scenarios/bench/rolling-canary.yaml: the good release rolls out, the bad one auto-reverts."""
    sim = Simulation.from_scenario(ROOT / "scenarios" / "bench" / "rolling-canary.yaml")
    sim.run()
    deps = sim.results()["deployments"]
    assert list(deps["status"]) == ["successful", "successful", "failed", "successful"]
    assert deps.iloc[2]["status_description"].startswith("Failed due to unhealthy allocations - rolling back to job version 1")
    versions = sim.api.job_versions("web")["Versions"]
    assert [v["Version"] for v in versions if v["Stable"]] == [3, 1, 0]
    assert jobs_spec_equal(sim.state.job_by_version("default", "web", 1), sim.state.job_by_version("default", "web", 3))


# -- manual promotion over HTTP ------------------------------------------------------------------


def _api_support():
    """tests/api/support.py (start_server, stop_server), loaded by path: tests/ is not a package."""
    spec = importlib.util.spec_from_file_location("api_test_support", ROOT / "tests" / "api" / "support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def http_server(tmp_path):
    """`nomadsim serve` on a canary scenario: version 0 at 0 s, version 1 (1 canary) at 60 s."""
    support = _api_support()
    v0 = web_job(count=3, Canary=1)["Job"]
    v1 = web_job(GOOD, count=3, Canary=1)["Job"]
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(scenario(workload=[{"at": "0s", "register": v0}, {"at": "60s", "register": v1}])))
    proc, url = support.start_server(path)
    yield url
    support.stop_server(proc)


def test_manual_promotion_over_http_with_python_nomad(http_server: str) -> None:
    """POST /v1/deployment/promote/:id: refused while the canary is unhealthy, then promotes and rolls."""
    port = int(http_server.rsplit(":", 1)[1])
    client = nomad.Nomad(host="127.0.0.1", port=port, timeout=30)
    advance = lambda s: requests.post(http_server + "/v1/sim/advance", json={"Seconds": s}, timeout=30)  # noqa: E731
    advance(61)
    dep = client.job.get_deployment("web")
    assert dep["JobVersion"] == 1 and dep["StatusDescription"] == "Deployment is running but requires manual promotion"
    with pytest.raises(nomad.api.exceptions.BaseNomadException) as err:
        client.deployment.promote_deployment_all(dep["ID"])
    assert 'Task group "web" has 0/1 healthy allocations' in err.value.nomad_resp.text
    advance(30)
    assert client.deployment.get_deployment(dep["ID"])["Status"] == "running"  # waits for promotion
    answer = client.deployment.promote_deployment_all(dep["ID"])
    assert answer["EvalID"] and answer["DeploymentModifyIndex"] > 0
    settled = requests.post(http_server + "/v1/sim/settle", json={"MaxSeconds": 600}, timeout=60).json()
    assert settled["Settled"] is True
    final = client.deployment.get_deployment(dep["ID"])
    assert final["Status"] == "successful" and final["TaskGroups"]["web"]["Promoted"] is True
    assert json.dumps(sorted(a["JobVersion"] for a in client.job.get_allocations("web")
                             if a["ClientStatus"] == "running")) == "[1, 1, 1]"
