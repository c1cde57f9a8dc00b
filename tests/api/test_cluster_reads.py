"""The endpoints beyond jobs, in process (sim/api/allocations.py, agent.py, search.py, scale.py).

Nomad: nomad/{alloc,eval,search,job}_endpoint.go and command/agent/*_endpoint.go: list order and
filters, alloc stop, Job.Scale's checks and messages, prefix/fuzzy search, namespaces, agent and
metrics shapes. Every rejected request leaves the state index unchanged (`rejects`).
"""

from __future__ import annotations

import pytest

from sim.errors import ApiError
from sim.simulation import Simulation

from .support import batch_job, example_job, rejects, tiny_scenario, validate_response


def _two_jobs(sim: Simulation) -> None:
    sim.api.register_job(batch_job("alpha", count=2))
    sim.api.register_job(example_job())
    sim.settle(120)


# -- allocation and evaluation lists --------------------------------------------------------------


def test_allocation_list_order_prefix_task_states_and_filter(sim):
    _two_jobs(sim)
    api = sim.api
    allocs = api.list_allocations()
    validate_response("GetAllocationsResponse", allocs)
    assert api.last_index == sim.state.table_index["allocs"]
    keys = [(a["CreateIndex"], a["ID"]) for a in allocs]
    assert keys == sorted(keys) and len(allocs) == 3
    first = allocs[0]["ID"]
    assert [a["ID"] for a in api.list_allocations(prefix=first[:4])] == [first]
    assert all(a["TaskStates"] is None for a in api.list_allocations(task_states=False))
    assert all(a["AllocatedResources"]["Tasks"] for a in api.list_allocations(resources=True))
    assert {a["JobID"] for a in api.list_allocations(filter='JobID == "alpha"')} == {"alpha"}
    assert len(api.list_allocations(filter='JobID == "alpha" or TaskGroup == "cache"')) == 3
    assert api.list_allocations(namespace="other") == []
    assert len(api.list_allocations(namespace="*")) == 3


@pytest.mark.parametrize(("expression", "message"), [
    ('JobID ==', "failed to create result paginator: failed to read filter expression: "
                 "expected a value, found 'end of input' in 'JobID =='"),
    ('Bogus == "x"', 'failed to read result page: error finding value in datum: /Bogus at part 0: '
                     'couldn\'t find key: struct field with name "Bogus"'),
])
def test_allocation_filter_errors_are_nomads_400s(running, expression, message):
    rejects(running, lambda: running.api.list_allocations(filter=expression), 400, message)


def test_evaluation_list_filters(sim):
    _two_jobs(sim)
    api = sim.api
    evals = api.list_evaluations()
    validate_response("GetEvaluationsResponse", evals)
    assert {e["JobID"] for e in evals} == {"alpha", "example"}
    assert {e["JobID"] for e in api.list_evaluations(job="alpha")} == {"alpha"}
    assert api.list_evaluations(status="pending") == []
    assert len(api.list_evaluations(status="complete")) == len([e for e in evals if e["Status"] == "complete"])
    assert [e["JobID"] for e in api.list_evaluations(filter='JobID == "example"')] == ["example"] * len(
        api.list_evaluations(job="example"))
    rejects(sim, lambda: api.list_evaluations(job="alpha", filter='JobID == "x"'), 500,
            "Filter expression cannot be used with other filter parameters")


def test_allocations_of_an_eval_a_deployment_and_a_node(running):
    api = running.api
    alloc = api.list_allocations()[0]
    in_eval = api.eval_allocations(alloc["EvalID"])
    validate_response("GetEvaluationAllocationsResponse", in_eval)
    assert [a["ID"] for a in in_eval] == [alloc["ID"]]
    dep = api.list_deployments()[0]
    on_dep = api.deployment_allocations(dep["ID"])
    validate_response("GetDeploymentAllocationsResponse", on_dep)
    assert [a["ID"] for a in on_dep] == [alloc["ID"]]
    on_node = api.node_allocations(alloc["NodeID"])
    validate_response("GetNodeAllocationsResponse", on_node)
    assert [a["ID"] for a in on_node] == [alloc["ID"]] and on_node[0]["Job"]["ID"] == "example"
    assert api.eval_allocations("nope") == [] and api.deployment_allocations("nope") == []
    rejects(running, lambda: api.node_allocations("nope"), 404, "node not found")


# -- alloc stop -----------------------------------------------------------------------------------


def test_alloc_stop_marks_migrate_creates_an_eval_and_the_alloc_is_replaced(running):
    api = running.api
    old = api.list_allocations()[0]
    out = api.stop_allocation(old["ID"])
    validate_response("PostAllocationStopResponse", out)
    assert set(out) == {"EvalID", "Index"} and out["Index"] == running.state.index == api.last_index
    ev = api.read_evaluation(out["EvalID"])
    assert (ev["TriggeredBy"], ev["JobID"], ev["Type"], ev["Priority"]) == ("alloc-stop", "example", "service", 50)
    assert api.read_allocation(old["ID"])["DesiredTransition"]["Migrate"] is True
    assert api.read_allocation(old["ID"])["ModifyIndex"] == ev["CreateIndex"] == out["Index"]  # one write
    running.settle(300)
    stopped = api.read_allocation(old["ID"])
    assert stopped["DesiredStatus"] == "stop"
    live = [a for a in api.list_allocations() if a["DesiredStatus"] == "run"]
    assert len(live) == 1 and live[0]["ID"] != old["ID"] and live[0]["PreviousAllocation"] == old["ID"]
    rejects(running, lambda: api.stop_allocation("nope"), 404, "allocation not found")


# -- job scale ------------------------------------------------------------------------------------


def test_scale_writes_a_version_an_eval_and_an_event(running):
    api = running.api
    before = api.read_job("example")
    at = running.server.unix_nanos()
    out = api.scale_job("example", {"Count": 2, "Target": {"Group": "cache", "Job": "example"}, "Message": "more",
                                    "Meta": {"by": "test"}})
    assert out["Index"] == api.last_index == running.state.index
    validate_response("PostJobScalingResponse", out)
    job = api.read_job("example")
    assert job["Version"] == before["Version"] + 1 and job["TaskGroups"][0]["Count"] == 2
    assert out["JobModifyIndex"] == job["JobModifyIndex"] < out["EvalCreateIndex"] < out["Index"]
    assert api.read_evaluation(out["EvalID"])["TriggeredBy"] == "job-scaling"
    running.settle(300)
    status = api.job_scale_status("example")
    validate_response("GetJobScaleStatusResponse", status)
    group = status["TaskGroups"]["cache"]
    assert (group["Desired"], group["Placed"], group["Running"], group["Healthy"]) == (2, 2, 2, 2)
    event = group["Events"][0]
    assert (event["Count"], event["PreviousCount"], event["Message"], event["Meta"], event["EvalID"]) == (
        2, 1, "more", {"by": "test"}, out["EvalID"])
    assert (event["CreateIndex"], event["Time"]) == (out["Index"], at)


def test_scale_without_count_records_only_an_event(running):
    api = running.api
    version = api.read_job("example")["Version"]
    out = api.scale_job("example", {"Target": {"Group": "cache"}, "Error": True, "Message": "autoscaler failed"})
    assert out["EvalID"] == "" and api.read_job("example")["Version"] == version
    event = api.job_scale_status("example")["TaskGroups"]["cache"]["Events"][0]
    assert (event["Count"], event["Error"], event["EvalID"]) == (None, True, None)


@pytest.mark.parametrize(("job_id", "body", "status", "message"), [
    ("example", {"Count": 1, "Target": {"Group": "cache", "Job": "other"}}, 400, "job ID in payload did not match URL"),
    ("example", {"Count": 1, "Target": {"Group": "cache", "Namespace": "x"}}, 400,
     "namespace in payload did not match header"),
    ("example", {"Count": 1, "Target": {}}, 400, "missing task group name for scaling action"),
    ("example", {"Count": -1, "Target": {"Group": "cache"}}, 400, "scaling action count can't be negative"),
    ("example", {"Count": 1, "Error": True, "Target": {"Group": "cache"}}, 400,
     "scaling action should not contain count if error is true"),
    ("nope", {"Count": 1, "Target": {"Group": "cache"}}, 404, 'job "nope" not found'),
    ("example", {"Count": 1, "Target": {"Group": "web"}}, 400,
     'task group "web" specified for scaling does not exist in job'),
    ("example", {"Count": "1", "Target": {"Group": "cache"}}, 400,
     "json: cannot unmarshal string into Go struct field ScalingRequest.Count of type int64"),
    ("example", [], 400, "json: cannot unmarshal array into Go value of type structs.ScalingRequest"),
])
def test_scale_rejections(running, job_id, body, status, message):
    rejects(running, lambda: running.api.scale_job(job_id, body), status, message)


def test_scale_policy_bounds_system_jobs_and_active_deployments(sim):
    api = sim.api
    job = batch_job("bounded", count=2)
    job["Job"]["TaskGroups"][0]["Scaling"] = {"Min": 1, "Max": 3, "Enabled": True}
    api.register_job(job)
    rejects(sim, lambda: api.scale_job("bounded", {"Count": 4, "Target": {"Group": "work"}}), 400,
            "group count was greater than scaling policy maximum: 4 > 3")
    rejects(sim, lambda: api.scale_job("bounded", {"Count": 0, "Target": {"Group": "work"}}), 400,
            "group count was less than scaling policy minimum: 0 < 1")
    system = batch_job("sys", count=1, Type="system")
    api.register_job(system)
    rejects(sim, lambda: api.scale_job("sys", {"Count": 2, "Target": {"Group": "work"}}), 400,
            'cannot scale jobs of type "system"')
    api.register_job(example_job())
    sim.advance(1)  # the deployment is running
    rejects(sim, lambda: api.scale_job("example", {"Count": 2, "Target": {"Group": "cache"}}), 400,
            "job scaling blocked due to active deployment")
    rejects(sim, lambda: api.job_scale_status("nope"), 404, "job not found")


# -- search ---------------------------------------------------------------------------------------


def test_prefix_search_shapes_and_contexts(running):
    api = running.api
    out = api.search({"Prefix": "ex", "Context": "jobs"})
    validate_response("GetSearchResponse", out)
    assert (out["Matches"], out["Truncations"]) == ({"jobs": ["example"]}, {"jobs": False})
    alloc = api.list_allocations()[0]["ID"]
    assert api.search({"Prefix": alloc[:6], "Context": "allocs"})["Matches"] == {"allocs": [alloc]}
    assert api.search({"Prefix": alloc[:5], "Context": "allocs"})["Matches"] == {"allocs": [alloc]}  # rounded down
    everything = api.search({"Prefix": "", "Context": "all"})
    assert set(everything["Matches"]) == {"allocs", "jobs", "nodes", "node_pools", "evals", "deployment", "plugins",
                                          "volumes", "scaling_policy", "vars", "namespaces"}
    assert everything["Matches"]["node_pools"] == ["all", "default"] and everything["Matches"]["plugins"] is None
    assert "evals" not in api.search({"Prefix": "web", "Context": "all"})["Matches"]  # not a UUID prefix
    rejects(running, lambda: api.search({"Prefix": "x", "Context": "bogus"}), 500,
            "context must be one of [allocs jobs nodes node_pools evals deployment plugins volumes scaling_policy "
            "vars namespaces] or 'all' for all contexts; got \"bogus\"")


def test_prefix_search_truncates_at_twenty(sim):
    for i in range(25):
        sim.api.register_job(batch_job(f"job-{i:02d}", count=0))
    out = sim.api.search({"Prefix": "job-", "Context": "jobs"})
    assert len(out["Matches"]["jobs"]) == 20 and out["Truncations"]["jobs"] is True
    assert out["Matches"]["jobs"][0] == "job-00"


def test_fuzzy_search(running):
    api = running.api
    out = api.fuzzy_search({"Text": "CACHE", "Context": "all"})
    validate_response("GetFuzzySearchResponse", out)
    alloc = api.list_allocations()[0]
    assert out["Matches"]["groups"] == [{"ID": "cache", "Scope": ["default", "example"]}]
    assert out["Matches"]["allocs"] == [{"ID": alloc["Name"], "Scope": ["default", alloc["ID"]]}]
    assert out["Matches"]["services"] == [{"ID": "redis-cache", "Scope": ["default", "example", "cache"]}]
    assert out["Truncations"]["jobs"] is False
    nodes = api.fuzzy_search({"Text": "node", "Context": "nodes"})["Matches"]["nodes"]
    assert [m["ID"] for m in nodes] == ["node-0", "node-1", "node-2"]  # by position, length, name
    rejects(running, lambda: api.fuzzy_search({"Text": "x", "Context": "all"}), 500,
            "fuzzy search query must be at least 2 characters, got 1")


# -- namespaces, node pools, agent, metrics -------------------------------------------------------


def test_namespaces_and_node_pools_are_checked_at_registration(sim):
    api = sim.api
    rejects(sim, lambda: api.register_job(batch_job("x", Namespace="apps")), 500,
            '1 error occurred:\n\t* job "x" is in nonexistent namespace "apps"\n\n')
    rejects(sim, lambda: api.register_job(batch_job("x", NodePool="gpu")), 500,
            '1 error occurred:\n\t* job "x" is in nonexistent node pool "gpu"\n\n')
    rejects(sim, lambda: api.register_job(batch_job("x", Namespace="apps", NodePool="gpu", TaskGroups=[])), 500,
            '3 errors occurred:\n\t* job "x" is in nonexistent namespace "apps"\n\t* '
            'job "x" is in nonexistent node pool "gpu"\n\t* Missing job task groups\n\n')
    assert api.register_job(batch_job("anywhere", NodePool="all"))["EvalID"]


def test_a_scenario_declares_namespaces_and_node_pools():
    scenario = {**tiny_scenario(), "namespaces": [{"name": "apps", "description": "Applications",
                                                   "meta": {"team": "a"}}],
                "node_pools": [{"name": "gpu"}]}
    sim = Simulation.from_scenario(scenario)
    api = sim.api
    assert [n["Name"] for n in api.list_namespaces()] == ["apps", "default"]
    ns = api.read_namespace("apps")
    validate_response("GetNamespaceResponse", ns)
    assert (ns["Description"], ns["Meta"]) == ("Applications", {"team": "a"})
    validate_response("GetNamespacesResponse", api.list_namespaces())
    assert [p["Name"] for p in api.list_node_pools()] == ["all", "default", "gpu"]
    api.register_job(batch_job("in-apps", Namespace="apps"))
    sim.settle(120)
    assert [j["ID"] for j in api.list_jobs(namespace="apps")] == ["in-apps"]
    assert [a["Namespace"] for a in api.list_allocations(namespace="apps")] == ["apps", "apps"]
    rejects(sim, lambda: api.read_namespace("nope"), 404, "Namespace not found")
    rejects(sim, lambda: api.read_node_pool("nope"), 404, "node pool not found")


def test_node_pools_of_registered_nodes_exist():
    scenario = tiny_scenario()
    scenario["cluster"]["nodes"][0]["node_pool"] = "batch"
    sim = Simulation.from_scenario(scenario)
    assert [p["Name"] for p in sim.api.list_node_pools()] == ["all", "batch", "default"]
    assert sim.api.register_job(batch_job("b", NodePool="batch"))["EvalID"]


def test_agent_status_and_regions(sim):
    api = sim.api
    me = api.agent_self()
    assert set(me) == {"config", "member", "stats"}
    assert (me["config"]["Region"], me["config"]["Datacenter"], me["config"]["NodeName"]) == ("global", "dc1", "nomadsim")
    member_keys = {"Name", "Addr", "Port", "Tags", "Status", "ProtocolMin", "ProtocolMax", "ProtocolCur",
                   "DelegateMin", "DelegateMax", "DelegateCur"}  # Nomad: api.AgentMember
    assert set(me["member"]) == member_keys
    assert all(isinstance(v, str) for stats in me["stats"].values() for v in stats.values())
    members = api.agent_members()
    assert set(members) == {"ServerName", "ServerRegion", "ServerDC", "Members"}
    assert members["Members"] == [me["member"]]
    assert api.status_peers() == ["127.0.0.1:4647"] and api.regions() == ["global"]


def test_metrics_carry_the_simulations_counters(running):
    out = running.api.metrics()
    validate_response("GetMetricsSummaryResponse", out)
    gauges = {(g["Name"], tuple(sorted(g["Labels"].items()))): g["Value"] for g in out["Gauges"]}
    assert gauges[("nomad.nomad.job_status.running", ())] == 1.0
    assert gauges[("nomad.nomad.job_summary.running", (("job", "example"), ("namespace", "default"),
                                                      ("task_group", "cache")))] == 1.0
    assert gauges[("nomad.client.allocations.running", ())] == 1.0
    counters = {c["Name"]: c for c in out["Counters"] if not c["Labels"]}
    assert counters["nomad.nomad.worker.dequeue_eval"]["Count"] == running.recorder.scheduler_runs()
    assert running.now == 12.0 and out["Timestamp"] == "2026-01-01 00:00:12 +0000 UTC"  # as go-metrics prints it
    with pytest.raises(ApiError) as err:
        running.api.metrics(format="prometheus")
    assert (err.value.status, err.value.message) == (415, "Prometheus is not enabled")
