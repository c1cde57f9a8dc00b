"""Endpoints beyond the jobs page in process (sim/api/cluster.py): evaluations, allocations,
deployments, nodes and job parsing. Nomad: command/agent/{eval,alloc,deployment,node}_endpoint.go.
"""

from __future__ import annotations

import json
import re

import pytest

from sim.simulation import Simulation

from .support import (
    DATA,
    REFERENCE,
    rejects,
    sample,
    shape_problems,
    tiny_scenario,
    validate_response,
)


def test_read_evaluation_and_allocation(running):
    """GET /v1/evaluation/:id and /v1/allocation/:id answer the objects; unknown IDs are 404s."""
    api = running.api
    ev = api.job_evaluations("example")[0]
    assert api.read_evaluation(ev["ID"]) == ev and api.last_index == ev["ModifyIndex"]
    stub = api.job_allocations("example")[0]
    alloc = api.read_allocation(stub["ID"])
    assert alloc["Job"]["ID"] == "example" and alloc["Metrics"]["NodesEvaluated"] >= 1
    validate_response("GetAllocationResponse", alloc)
    rejects(running, lambda: api.read_evaluation("nope"), 404, "eval not found")
    rejects(running, lambda: api.read_allocation("nope"), 404, "alloc not found")


def test_deployments_of_a_service_job(running):
    """The example service job rolls out through a deployment listed per job and globally."""
    api = running.api
    deps = api.job_deployments("example")
    assert len(deps) == 1 and api.job_deployment("example") == deps[0]
    assert shape_problems(sample("job-deployments.response.json")[0], deps[0]) == []
    assert api.list_deployments() == deps and api.read_deployment(deps[0]["ID"]) == deps[0]
    validate_response("GetJobDeploymentsResponse", deps)
    validate_response("GetDeploymentsResponse", api.list_deployments())
    rejects(running, lambda: api.read_deployment("nope"), 404, "deployment not found")


def test_deployment_actions_answer_nomads_errors(running):
    """Promote without canaries, actions on unknown or terminal deployments fail as Nomad does."""
    api = running.api
    dep = api.job_deployment("example")
    rejects(running, lambda: api.fail_deployment("nope"), 500, "deployment not found")
    if dep["Status"] == "running":
        rejects(running, lambda: api.promote_deployment(dep["ID"], {"All": True}), 500, "no canaries to promote")
        paused = api.pause_deployment(dep["ID"], {"Pause": True})
        assert api.read_deployment(dep["ID"])["Status"] == "paused" and paused["Index"] == running.state.index
        api.pause_deployment(dep["ID"], {"Pause": False})
        out = api.fail_deployment(dep["ID"])
        validate_response("PostDeploymentFailResponse", out)
    dep = api.job_deployment("example")
    assert dep["Status"] in ("failed", "successful")
    rejects(running, lambda: api.pause_deployment(dep["ID"], {"Pause": True}), 500, "can't pause terminal deployment")
    rejects(running, lambda: api.promote_deployment(dep["ID"], {"All": True}), 500,
            "can't promote terminal deployment")


def test_nodes_list_read_eligibility_and_drain(running):
    """Nodes list sorted by ID; eligibility and drain change the node and answer update responses."""
    api = running.api
    nodes = api.list_nodes()
    assert len(nodes) == 3 and [n["ID"] for n in nodes] == sorted(n["ID"] for n in nodes)
    validate_response("GetNodesResponse", nodes)
    node_id = nodes[0]["ID"]
    assert api.read_node(node_id)["Name"] in {"node-0", "node-1", "node-2"}
    validate_response("GetNodeResponse", api.read_node(node_id))
    out = api.node_eligibility(node_id, {"Eligibility": "ineligible"})
    assert api.read_node(node_id)["SchedulingEligibility"] == "ineligible" and out["NodeModifyIndex"]
    rejects(running, lambda: api.node_eligibility(node_id, {"Eligibility": "maybe"}), 500,
            'invalid scheduling eligibility "maybe"')
    api.drain_node(node_id, {"DrainSpec": {"Deadline": 60_000_000_000}})
    assert api.read_node(node_id)["Drain"] is True
    rejects(running, lambda: api.node_eligibility(node_id, {"Eligibility": "eligible"}), 500,
            "can not set node's scheduling eligibility to eligible while it is draining")
    api.drain_node(node_id, {"DrainSpec": None, "MarkEligible": True})
    assert api.read_node(node_id)["Drain"] is False
    rejects(running, lambda: api.read_node("nope"), 404, "node not found")


def test_parse_job_hcl(running):
    """POST /v1/jobs/parse: the HCL job as JSON; canonicalized on request; errors are 400s."""
    text = (REFERENCE / "jobs-hcl" / "example-service-redis-commented.nomad.hcl").read_text()
    raw = running.api.parse_job({"JobHCL": text})
    assert raw["ID"] == "example" and "Priority" not in raw
    canonical = running.api.parse_job({"JobHCL": text, "Canonicalize": True})
    assert (canonical["Priority"], canonical["Region"], canonical["Namespace"]) == (50, "global", "default")
    assert shape_problems(sample("parse-job.response.json"), canonical) == []
    validate_response("PostJobParseResponse", canonical)
    rejects(running, lambda: running.api.parse_job({"JobHCL": ""}), 400, "Job spec is empty")
    with pytest.raises(Exception) as err:
        running.api.parse_job({"JobHCL": 'job "x" {'})
    assert getattr(err.value, "status", None) == 400


def test_seed_read_job_sample_round_trips_with_its_keys():
    """The seed's Read Job sample (without its batch update block) registers and reads back with every key."""
    sim = Simulation.from_scenario(tiny_scenario())
    md = (DATA / "seed" / "jobs-http-api.md").read_text()
    seed_read = json.loads(re.findall(r"```json\n(.*?)\n```", md, re.S)[2])
    job = {k: v for k, v in seed_read.items()
           if k not in ("Update", "Status", "StatusDescription", "CreateIndex", "ModifyIndex", "JobModifyIndex")}
    sim.api.register_job({"Job": job})
    assert shape_problems(seed_read, sim.api.read_job(job["ID"])) == []
