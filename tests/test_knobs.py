"""Every knob does something: each scenario key changes a run's results tables, or is listed in
EXEMPT with the test that shows its effect elsewhere (or why it cannot change the tables).

The audit is enforced: `test_every_scenario_key_is_audited` walks the scenario schema, so a key
added later without a test here (or an exemption with its reason) fails the suite.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT

from sim.errors import ScenarioError
from sim.scenario.load import load_scenario, schema
from sim.simulation import Simulation

JOBS = ROOT / "scenarios" / "jobs"
TRACE = ROOT / "scenarios" / "traces" / "alibaba-2017-batch-tasks.csv"


def _job(job_id: str, jtype: str = "batch", runtime: str = "3m", count: int = 1, cpu: int = 500, **extra: Any) -> dict:
    return {"ID": job_id, "Type": jtype, "Meta": {"sim.runtime": runtime}, **extra,
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                "Name": "t", "Driver": "docker", "Config": {"image": f"{job_id}:1"},
                "Resources": {"CPU": cpu, "MemoryMB": 256}}]}]}


BASE: dict[str, Any] = {
    "name": "knobs", "seed": 3, "duration": "25m", "start_time": "2024-01-01T00:00:00Z",
    "cluster": {"nodes": [
        {"count": 4, "name_prefix": "a", "datacenter": "dc1", "node_class": "std", "node_pool": "default",
         "resources": {"cpu": 8000, "memory": 8192, "disk": 20000},
         "reserved": {"cpu": 100, "memory": 128, "disk": 1000, "ports": "22"},
         "attributes": {"kernel.name": "linux"}, "meta": {"rack": "r1"}, "drivers": ["docker", "exec"],
         "port_range": {"min": 20000, "max": 20100}, "rack": "meta.rack"},
        {"count": 2, "name_prefix": "b", "datacenter": "dc1", "node_class": "big",
         "resources": {"cpu": 16000, "memory": 16384}, "meta": {"rack": "r2"}, "rack": "meta.rack"}]},
    "control_plane": {"num_schedulers": 2, "think_time": {"base": 0.005, "per_placement": 0.001},
                      "plan_apply_latency": 0.002, "heartbeat_ttl": "10s", "heartbeat_grace": "10s",
                      "eval_delivery_limit": 3, "nack_timeout": "60s", "scheduler_algorithm": "binpack",
                      "job_tracked_versions": 6},
    "workload": [
        {"at": 0, "register": str(JOBS / "web.json")},                                          # 0
        {"at": 0, "register": str(JOBS / "periodic.json")},                                     # 1
        {"at": "1m", "register": str(JOBS / "thumbnailer.json")},                               # 2
        {"at": "2m", "generate": {"arrival": "poisson", "rate": "30/h", "start": "2m", "stop": "30m",   # 3
                                  "count": 12, "type": "batch", "id_prefix": "gen",
                                  "template": str(JOBS / "worker-template.json"),
                                  "distributions": {"count": {"dist": "choice", "values": [1, 2], "weights": [0.5, 0.5]},
                                                    "cpu": {"dist": "uniform", "low": 200, "high": 900},
                                                    "memory": {"dist": "normal", "mean": 300, "std": 50, "min": 64},
                                                    "runtime": {"dist": "exponential", "mean": "4m", "max": "20m"}}}},
        {"at": "3m", "dispatch_generate": {"job": "thumbnailer", "arrival": "poisson", "rate": "20/h",   # 4
                                           "start": "3m", "stop": "30m", "count": 6, "meta": {"size": "s"},
                                           "payload": "aGk=",
                                           "distributions": {"runtime": {"dist": "uniform", "low": 30, "high": 90}}}},
        {"at": "4m", "trace": {"format": "alibaba2017", "path": str(TRACE), "limit": 2, "time_scale": 1.0,   # 5
                               "runtime_scale": 1.0,
                               "machine": {"cpu_cores": 64, "memory": 65536, "mhz_per_core": 100}}},
        {"at": "5m", "update": {"job": "web", "set": {"TaskGroups.frontend.Count": 4}}},           # 6
        {"at": "6m", "register": _job("first", runtime="2m")},                                 # 7
        {"at": "6m", "after": ["first"], "register": _job("second", runtime="2m", Constraints=[
            {"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}])},        # 8
        {"at": "7m", "dispatch": {"job": "thumbnailer", "meta": {"size": "l"}, "payload": "aGk="}},  # 9
        {"at": "12m", "revert": {"job": "web", "version": 0}},                                 # 10
        {"at": "20m", "deregister": {"job": "first", "purge": False}},                         # 11
        {"at": 0, "register": str(JOBS / "api-canary.json")},                                  # 12
        {"at": "8m", "update": {"job": "api", "set": {"TaskGroups.api.Tasks.server.Config.image": "api:2"}}},  # 13
        {"at": "9m", "promote": {"job": "api"}},                                               # 14
        {"at": "2m", "register": _job("third", runtime="1m")},                                 # 15
        {"at": "1m", "register": _job("resizer", runtime="1m", cpu=3000, ParameterizedJob={     # 16
            "Payload": "optional", "MetaOptional": ["size"]})},
    ],
    "events": [
        {"at": "10m", "node_down": "a-1"}, {"at": "12m", "node_up": "a-1"},                    # 0, 1
        {"at": "14m", "node_drain": "a-2", "deadline": "1m"},                                  # 2
        {"at": "16m", "domain_down": "r2"}, {"at": "18m", "domain_up": "r2"},                  # 3, 4
        {"random_failures": {"mtbf": "1h", "mttr": "3m", "start": "1m", "stop": "24m"}},       # 5
        {"at": "20m", "drain_fraction": {"node_class": "std", "fraction": 0.25, "deadline": "1m"}},  # 6
    ],
    "task_behavior": [
        {"match": {"job": "nightly*", "group": "etl", "task": "*"}, "runtime": {"dist": "uniform", "low": 60, "high": 120}},
        {"match": {"image": "third:*"}, "exit_code": 1},
        {"match": {"job": "second"}, "start_delay": 5, "exit_code": 0},
        {"match": {"job": "web"}, "crash_after": "20m"},
        {"match": {"job": "api"}, "fail_health": False},
        {"match": {"job": "alibaba*"}, "fail_after": "10m"},
    ],
    "metrics": {"sample_every": "1m"},
}

# dotted key (list items as [i]) -> a different value; the run's tables must differ from BASE's.
KNOBS: dict[str, Any] = {
    "seed": 4,
    "duration": "35m",
    "start_time": "2024-01-01T00:07:00Z",
    "cluster.nodes[0].count": 5,
    "cluster.nodes[1].name_prefix": "y",
    "cluster.nodes[0].datacenter": "dc9",
    "cluster.nodes[1].node_class": "other",
    "cluster.nodes[0].node_pool": "pool2",
    "cluster.nodes[0].resources.cpu": 4000,
    "cluster.nodes[0].resources.memory": 2048,
    "cluster.nodes[0].resources.disk": 1500,
    "cluster.nodes[0].reserved.cpu": 3000,
    "cluster.nodes[0].reserved.memory": 4000,
    "cluster.nodes[0].reserved.disk": 19500,
    "cluster.nodes[0].reserved.ports": "22,20000-20100",
    "cluster.nodes[0].attributes": {"kernel.name": "windows"},
    "cluster.nodes[0].meta": {"rack": "r7"},
    "cluster.nodes[0].drivers": ["exec"],
    "cluster.nodes[0].port_range": {"min": 20000, "max": 20001},
    "cluster.nodes[0].rack": "node_class",
    "control_plane.num_schedulers": 1,
    "control_plane.think_time.base": 0.5,
    "control_plane.think_time.per_placement": 0.2,
    "control_plane.plan_apply_latency": 0.3,
    "control_plane.heartbeat_ttl": "2m",
    "control_plane.heartbeat_grace": "3m",
    "control_plane.scheduler_algorithm": "spread",
    "control_plane.policy": "sim.scheduler.policies:worst_fit",
    "workload[0].at": "30s",
    "workload[7].register": _job("first", runtime="6m", count=2),
    "workload[8].after": [],
    "workload[6].update": {"job": "nightly", "set": {"TaskGroups.etl.Count": 1}},
    "workload[6].update.set": {"TaskGroups.frontend.Count": 1},
    "workload[11].deregister.job": "second",
    "workload[11].deregister.purge": True,
    "workload[9].dispatch.job": "resizer",
    "workload[10].revert.job": "api",
    "workload[10].revert.version": 1,
    "workload[14].promote.job": "web",
    "workload[3].generate.arrival": "fixed",
    "workload[3].generate.rate": "60/h",
    "workload[3].generate.start": "5m",
    "workload[3].generate.stop": "10m",
    "workload[3].generate.count": 3,
    "workload[3].generate.template": str(JOBS / "batch.json"),
    "workload[3].generate.distributions.count": {"dist": "constant", "value": 3},
    "workload[3].generate.distributions.cpu": {"dist": "lognormal", "mu": 6.0, "sigma": 0.3},
    "workload[3].generate.distributions.memory": {"dist": "uniform", "low": 100, "high": 200},
    "workload[3].generate.distributions.runtime": {"dist": "pareto", "shape": 2.0, "scale": 60, "max": 900},
    "workload[3].generate.type": "service",
    "workload[3].generate.id_prefix": "other",
    "workload[4].dispatch_generate.job": "resizer",
    "workload[4].dispatch_generate.arrival": "fixed",
    "workload[4].dispatch_generate.rate": "40/h",
    "workload[4].dispatch_generate.start": "10m",
    "workload[4].dispatch_generate.stop": "5m",
    "workload[4].dispatch_generate.count": 2,
    "workload[4].dispatch_generate.distributions.runtime": {"dist": "constant", "value": 600},
    "workload[5].trace.limit": 1,
    "workload[5].trace.runtime_scale": 3.0,
    "workload[5].trace.machine.memory": 4096,
    "workload[5].trace.machine.mhz_per_core": 1000,
    "events[0].at": "11m",
    "events[0].node_down": "b-0",
    "events[1].node_up": "a-3",
    "events[2].node_drain": "a-3",
    "events[2].deadline": "5s",
    "events[3].domain_down": "r1",
    "events[4].domain_up": "r1",
    "events[5].random_failures.mtbf": "20m",
    "events[5].random_failures.mttr": "30s",
    "events[5].random_failures.start": "20m",
    "events[5].random_failures.stop": "3m",
    "events[6].drain_fraction.node_class": "big",
    "events[6].drain_fraction.fraction": 1.0,
    "events[6].drain_fraction.deadline": "10m",
    "task_behavior[0].match.job": "web",
    "task_behavior[0].match.group": "other",
    "task_behavior[0].match.task": "other",
    "task_behavior[1].match.image": "other*",
    "task_behavior[0].runtime": {"dist": "uniform", "low": 600, "high": 900},
    "task_behavior[1].exit_code": 0,
    "task_behavior[5].fail_after": "1m",
    "task_behavior[2].start_delay": 60,
    "task_behavior[4].fail_health": True,
    "task_behavior[3].crash_after": "2m",
    "metrics.sample_every": "2m",
    "metrics.tables": ["placements", "evaluations"],
}

# Keys whose effect a results table cannot show, or that another test shows (with that test).
EXEMPT: dict[str, str] = {
    "name": "names the results folder (tests/cli/test_cli.py::test_default_folder_is_results_name_seed)",
    "control_plane.eval_delivery_limit": "evals failing delivery that many times are failed "
                                         "(tests/server/test_broker.py); no eval is nacked in BASE",
    "control_plane.nack_timeout": "an unacked eval is redelivered after it (tests/server/test_broker.py)",
    "control_plane.preemption": "nothing is preemptible in BASE: tests/test_sample_scenarios.py::test_preemption "
                                "and tests/test_preemption.py run preemption off and on",
    "events[].add_nodes": "a node group joins (its keys are cluster.nodes[] KNOBS above): "
                          "tests/workload/test_cluster_changes.py::test_empty_cluster_blocks_until_nodes_join_at_1h",
    "events[].remove_nodes": "nodes leave: tests/workload/test_cluster_changes.py::"
                             "test_removed_nodes_lose_their_allocs_which_are_replaced",
    "namespaces": "jobs in undeclared namespaces are refused: tests/scenario/test_namespaces.py",
    "node_pools": "jobs in undeclared node pools are refused: tests/scenario/test_namespaces.py",
    "workload[].trace.format": "selects the trace parser (tests/scenario/test_traces.py)",
    "workload[].trace.path": "selects the trace file (tests/scenario/test_traces.py)",
    "workload[].trace.time_scale": "scales submit offsets (tests/scenario/test_traces.py); the sample trace's "
                                   "first submissions share one instant",
    "workload[].trace.machine.cpu_cores": "google2011 traces only (their cpu is a share of a machine): "
                                          "tests/scenario/test_traces.py; alibaba2017 gives cores",
    "workload[].dispatch.meta": "becomes the child's Meta: test_dispatch_meta_and_payload_reach_the_child",
    "workload[].dispatch.payload": "becomes the child's Payload: test_dispatch_meta_and_payload_reach_the_child",
    "workload[].dispatch_generate.meta": "the same for generated dispatches: test_dispatch_meta_and_payload_reach_the_child",
    "workload[].dispatch_generate.payload": "the same: test_dispatch_meta_and_payload_reach_the_child",
    "control_plane.job_tracked_versions": "versions kept per job: test_job_tracked_versions_limits_the_versions_kept",
    "distribution parameters": "every dist family and its parameters: tests/scenario/test_distributions.py",
}
DIST_PARAMS = {"dist", "value", "low", "high", "mean", "std", "mu", "sigma", "shape", "scale", "values", "weights",
               "min", "max"}


def test_job_tracked_versions_limits_the_versions_kept():
    """control_plane.job_tracked_versions: how many versions of a job the state keeps (GET /v1/job/:id/versions)."""
    counts = {}
    for kept in (1, 6):
        sim = Simulation(load_scenario(BASE, {"control_plane.job_tracked_versions": kept}, base_dir=ROOT))
        sim.run(15 * 60)
        counts[kept] = len(sim.api.job_versions("web")["Versions"])
    assert counts == {1: 1, 6: 3}


def test_dispatch_meta_and_payload_reach_the_child():
    """dispatch and dispatch_generate: meta and payload become the dispatched child's Meta and Payload."""
    sim = Simulation(load_scenario(BASE, base_dir=ROOT))
    sim.run(10 * 60)
    children = [sim.api.read_job(j["ID"]) for j in sim.api.list_jobs(prefix="thumbnailer/dispatch-")]
    payload = base64.b64encode(b"aGk=").decode()  # the scenario's payload is the raw text
    seen = {(c["Meta"].get("size"), c["Payload"]) for c in children}
    assert ("l", payload) in seen and ("s", payload) in seen


def _digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _digests(overrides: dict[str, Any]) -> dict[str, str]:
    sim = Simulation(load_scenario(BASE, overrides, base_dir=ROOT))
    sim.run()
    return {name: _digest(frame) for name, frame in sorted(sim.results().items())}


@cache
def _base() -> dict[str, str]:
    return _digests({})


def test_base_scenario_runs_every_feature():
    """BASE loads and runs, and nothing in it is rejected (so each override is measured against a clean run)."""
    sim = Simulation(load_scenario(BASE, base_dir=ROOT))
    sim.run()
    assert sim.workload.errors == []
    assert len(sim.results()["placements"]) > 20


@pytest.mark.parametrize("key", sorted(KNOBS))
def test_knob_changes_the_results(key):
    """Changing the key changes at least one results table."""
    assert _digests({key: KNOBS[key]}) != _base(), f"{key}: no effect on any results table"


def _leaves(node: dict, path: str, defs: dict, out: set[str]) -> None:
    if "$ref" in node:
        _leaves(defs[node["$ref"].split("/")[-1]], path, defs, out)
        return
    for alt in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
        _leaves(alt, path, defs, out)
    if isinstance(node.get("items"), dict):
        _leaves(node["items"], path + "[]", defs, out)
    for key, sub in node.get("properties", {}).items():
        child = f"{path}.{key}" if path else key
        out.add(child)
        _leaves(sub, child, defs, out)


def test_every_scenario_key_is_audited():
    """Every key of the scenario schema is a KNOB (with a test above) or EXEMPT (with its reason)."""
    spec = schema()
    keys: set[str] = set()
    _leaves(spec, "", spec.get("$defs", spec.get("definitions", {})), keys)
    audited = {re.sub(r"\[\d+\]", "[]", k) for k in KNOBS} | set(EXEMPT)
    missing = []
    for key in sorted(keys):
        parts = key.replace("[]", "").split(".")
        covered = key in audited or any(key.startswith(a + ".") or key.startswith(a + "[]") for a in audited)
        parent_covered = any(a.startswith(key + ".") or a.startswith(key + "[]") for a in audited)
        if covered or parent_covered or (parts[-1] in DIST_PARAMS and "distributions" in key or
                                         parts[-1] in DIST_PARAMS and key.startswith("task_behavior[].runtime")):
            continue
        missing.append(key)
    assert not missing, f"scenario keys without a knob test or an exemption: {missing}"


def test_metrics_tables_refuses_an_unknown_table():
    """A table name nothing writes is refused, naming the tables there are."""
    with pytest.raises(ScenarioError, match=r"metrics.tables\[1\]: unknown table 'placement'"):
        load_scenario({**BASE, "metrics": {"tables": ["jobs", "placement"]}}, base_dir=ROOT)
