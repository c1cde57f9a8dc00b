"""The Jobs API in process (sim/api/jobs.py): every seed endpoint's answers, shapes and errors.

Statuses and messages follow Nomad's command/agent/job_endpoint.go and nomad/job_endpoint.go
(and docs/fidelity.md#api-shapes). Every rejected request leaves the state index unchanged.
"""

from __future__ import annotations

import pytest

from sim.errors import ApiError

from .support import (
    batch_job,
    example_job,
    rejects,
    sample,
    shape_problems,
    validate_response,
)


def test_register_answers_nomad_register_response(sim):
    """POST /v1/jobs answers every key of the create-job sample, with the eval it created."""
    out = sim.api.register_job(example_job())
    assert shape_problems(sample("create-job.response.json"), out) == []
    assert out["EvalID"] and out["Index"] == out["EvalCreateIndex"] == out["JobModifyIndex"] == sim.state.index
    assert sim.api.last_index == out["Index"]
    validate_response("RegisterJobResponse", out)
    evals = sim.api.job_evaluations("example")
    assert [(e["ID"], e["TriggeredBy"], e["Status"]) for e in evals] == [(out["EvalID"], "job-register", "pending")]


def test_list_jobs_stub_shape_prefix_and_index(sim):
    """GET /v1/jobs lists stubs sorted by ID, filtered by prefix; the index covers jobs and summaries."""
    sim.api.register_job(example_job())
    sim.api.register_job(batch_job("alpha"))
    stubs = sim.api.list_jobs()
    assert [s["ID"] for s in stubs] == ["alpha", "example"]
    assert shape_problems(sample("list-jobs.response.json")[0], stubs[1]) == []
    assert [s["ID"] for s in sim.api.list_jobs(prefix="ex")] == ["example"]
    assert [s["ID"] for s in sim.api.list_jobs(namespace="*")] == ["alpha", "example"]
    assert sim.api.list_jobs(namespace="other") == []
    assert sim.api.last_index == max(sim.state.table_index["jobs"], sim.state.table_index["job_summary"])
    validate_response("GetJobsResponse", stubs)


def test_read_job_has_the_seed_read_job_keys(sim):
    """GET /v1/job/:id answers the job with the keys of the versions sample's job, index = ModifyIndex."""
    sim.api.register_job(example_job())
    job = sim.api.read_job("example")
    assert (job["ID"], job["Status"], job["Version"], job["Type"]) == ("example", "pending", 0, "service")
    assert sim.api.last_index == job["ModifyIndex"]
    validate_response("GetJobResponse", job)


def test_settled_job_runs_and_is_counted(running):
    """After settling: allocations running, evaluations complete, the summary counts them."""
    api = running.api
    allocs = api.job_allocations("example")
    assert [(a["Name"], a["ClientStatus"], a["DesiredStatus"]) for a in allocs] == [("example.cache[0]", "running", "run")]
    assert shape_problems(sample("job-allocations.response.json")[0], allocs[0]) == []
    assert {e["Status"] for e in api.job_evaluations("example")} == {"complete"}
    summary = api.job_summary("example")
    assert summary["Summary"]["cache"]["Running"] == 1 and summary["Summary"]["cache"]["Queued"] == 0
    assert shape_problems(sample("job-summary.response.json"), summary) == []
    assert api.read_job("example")["Status"] == "running"
    validate_response("GetJobAllocationsResponse", allocs)
    validate_response("GetJobEvaluationsResponse", api.job_evaluations("example"))
    validate_response("GetJobSummaryResponse", summary)


def test_versions_newest_first_with_diffs(running):
    """An update makes version 1; versions list newest first, diffs compare each to its predecessor."""
    job = example_job()
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {"foo": "bar"}
    running.api.update_job("example", job)
    out = running.api.job_versions("example")
    assert [v["Version"] for v in out["Versions"]] == [1, 0] and out["Diffs"] is None
    assert shape_problems(sample("job-versions.response.json"), out) == []
    diffs = running.api.job_versions("example", diffs=True)["Diffs"]
    assert len(diffs) == 1 and diffs[0]["Type"] == "Edited"
    task = diffs[0]["TaskGroups"][0]["Tasks"][0]
    assert {"Type": "Added", "Name": "Env[foo]", "Old": "", "New": "bar"}.items() <= task["Fields"][0].items()
    validate_response("GetJobVersionsResponse", running.api.job_versions("example", diffs=True))


def test_update_with_enforce_index(sim):
    """EnforceIndex is a check-and-set on JobModifyIndex; a mismatch is a 500 and writes nothing."""
    first = sim.api.register_job(example_job())
    job = example_job()
    job["Job"]["Priority"] = 60
    rejects(sim, lambda: sim.api.update_job("example", {**job, "EnforceIndex": True, "JobModifyIndex": 1}), 500,
            f"Enforcing job modify index 1: job exists with conflicting job modify index: {first['JobModifyIndex']}")
    out = sim.api.update_job("example", {**job, "EnforceIndex": True, "JobModifyIndex": first["JobModifyIndex"]})
    assert out["JobModifyIndex"] > first["JobModifyIndex"]
    assert sim.api.read_job("example")["Priority"] == 60
    validate_response("PostJobResponse", out)


def test_register_request_errors(sim):
    """Nomad's 400s for missing job, missing ID, ID mismatch, wrong types; validation is a 500."""
    api = sim.api
    rejects(sim, lambda: api.register_job({}), 400, "Job must be specified")
    rejects(sim, lambda: api.register_job({"Job": {"Name": "x"}}), 400, "Job ID hasn't been provided")
    rejects(sim, lambda: api.update_job("other", example_job()), 400, "Job ID does not match name")
    with pytest.raises(ApiError) as err:
        api.register_job({"Job": {"ID": "x", "Priority": "high"}})
    assert err.value.status == 400 and "cannot unmarshal string" in err.value.message
    rejects(sim, lambda: api.register_job({"Job": {"ID": "x", "TaskGroups": []}, "EnforceIndex": "yes"}), 400,
            "json: cannot unmarshal string into Go struct field JobRegisterRequest.EnforceIndex of type bool")
    with pytest.raises(ApiError) as err:
        api.register_job({"Job": {"ID": "bad id", "TaskGroups": []}})
    assert err.value.status == 500 and "Job ID contains a space" in err.value.message
    assert sim.state.index == 1


def test_unknown_job_reads(sim):
    """404s for job, versions and summary; empty lists for allocations/evaluations; null deployment."""
    rejects(sim, lambda: sim.api.read_job("nope"), 404, "job not found")
    rejects(sim, lambda: sim.api.job_versions("nope"), 404, "job versions not found")
    rejects(sim, lambda: sim.api.job_summary("nope"), 404, "job not found")
    assert sim.api.job_allocations("nope") == [] and sim.api.job_evaluations("nope") == []
    assert sim.api.job_deployments("nope") == [] and sim.api.job_deployment("nope") is None


def test_deregister_stops_and_purge_deletes(running):
    """DELETE stops the job (new version, eval); purge removes it; unknown jobs answer zeros."""
    api = running.api
    out = api.deregister_job("example")
    assert out["EvalID"] and out["Index"] == out["JobModifyIndex"] == out["EvalCreateIndex"]
    assert shape_problems(sample("stop-job.response.json"), out) == []
    validate_response("DeleteJobResponse", out)
    running.settle(120)
    assert {a["DesiredStatus"] for a in api.job_allocations("example")} == {"stop"}
    assert api.read_job("example")["Stop"] is True
    api.deregister_job("example", purge=True)
    rejects(running, lambda: api.read_job("example"), 404, "job not found")
    before = running.state.index
    assert api.deregister_job("nope") == {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0, "Index": 0}
    assert running.state.index == before


def test_evaluate_creates_an_eval(running):
    """POST evaluate: a job-register eval; JobID mismatch is a 400; unknown job a 500."""
    out = running.api.evaluate_job("example", {"JobID": "example", "EvalOptions": {"ForceReschedule": True}})
    assert shape_problems(sample("evaluate-job.response.json"), out) == []
    assert running.api.read_evaluation(out["EvalID"])["TriggeredBy"] == "job-register"
    validate_response("PostJobEvaluateResponse", out)
    rejects(running, lambda: running.api.evaluate_job("example", {"JobID": "x"}), 400, "JobID not same as job name")
    rejects(running, lambda: running.api.evaluate_job("nope"), 500, "job not found")


def test_revert_and_stable(running):
    """Revert to version 0 makes version 2; stable marks a version; Nomad's errors otherwise."""
    api, job = running.api, example_job()
    job["Job"]["Priority"] = 70
    api.update_job("example", job)
    rejects(running, lambda: api.revert_job("example", {"JobID": "example", "JobVersion": 0, "EnforcePriorVersion": 0}),
            500, "Current job has version 1; enforcing version 0")
    rejects(running, lambda: api.revert_job("example", {"JobID": "example", "JobVersion": 1}), 500,
            "can't revert to current version")
    rejects(running, lambda: api.revert_job("example", {"JobID": "example", "JobVersion": 9}), 500,
            'job "example" in namespace "default" at version 9 not found')
    rejects(running, lambda: api.revert_job("example", {"JobVersion": 0}), 400, "JobID must be specified")
    rejects(running, lambda: api.revert_job("example", {"JobID": "x", "JobVersion": 0}), 400, "Job ID does not match")
    out = api.revert_job("example", {"JobID": "example", "JobVersion": 0, "EnforcePriorVersion": 1})
    assert shape_problems(sample("revert-job.response.json"), out) == []
    assert api.read_job("example")["Version"] == 2 and api.read_job("example")["Priority"] == 50
    stable = api.stable_job("example", {"JobID": "example", "JobVersion": 2, "Stable": True})
    assert shape_problems(sample("stable-job.response.json"), stable) == [] and stable["Index"] == running.state.index
    validate_response("PostJobStabilityResponse", stable)
    assert api.job_versions("example")["Versions"][0]["Stable"] is True
    rejects(running, lambda: api.stable_job("example", {"JobID": "example", "JobVersion": 9, "Stable": True}), 500,
            'job "example" in namespace "default" at version 9 not found')
