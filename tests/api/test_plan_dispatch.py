"""Plan dry runs, dispatch and periodic force through the Jobs API (sim/server/job_plan.py,
sim/server/dispatch.py).

Nomad: nomad/job_endpoint_test.go TestJobEndpoint_Plan_*, TestJobEndpoint_Dispatch_*,
nomad/periodic_endpoint_test.go TestPeriodicEndpoint_Force_*.
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from sim.errors import ApiError
from sim.simulation import Simulation

from .support import (
    batch_job,
    example_job,
    parameterized_job,
    periodic_job,
    rejects,
    sample,
    shape_problems,
    validate_response,
)


def _rng_states(sim: Simulation) -> dict:
    return {name: rng.bit_generator.state for name, rng in sim.rngs.items()}


def test_plan_of_a_new_job_places_and_diffs_added(sim):
    """A new job: DesiredTGUpdates Place, an Added diff annotated `forces create`, nothing written."""
    before, streams = sim.state.index, _rng_states(sim)
    out = sim.api.plan_job("example", {**example_job(), "Diff": True})
    assert sim.state.index == before and _rng_states(sim) == streams
    assert out["Annotations"]["DesiredTGUpdates"]["cache"]["Place"] == 1
    assert out["Diff"]["Type"] == "Added" and out["Diff"]["TaskGroups"][0]["Updates"] == {"create": 1}
    assert out["Diff"]["TaskGroups"][0]["Tasks"][0]["Annotations"] == ["forces create"]
    assert out["JobModifyIndex"] == 0 and out["CreatedEvals"] == [] and out["FailedTGAllocs"] == {}
    assert out["NextPeriodicLaunch"] == "0001-01-01T00:00:00Z"
    assert shape_problems(sample("plan-job.response.json"), out) == []
    validate_response("PostJobPlanResponse", out)


def test_plan_is_repeatable_and_reports_the_existing_modify_index(sim):
    """Two identical plans answer the same; after registering, JobModifyIndex is the stored one."""
    registered = sim.api.register_job(example_job())
    job = example_job()
    job["Job"]["TaskGroups"][0]["Count"] = 3
    first = sim.api.plan_job("example", {**job, "Diff": True})
    assert first == sim.api.plan_job("example", {**job, "Diff": True})
    assert first["JobModifyIndex"] == first["Index"] == registered["JobModifyIndex"]
    count = next(f for f in first["Diff"]["TaskGroups"][0]["Fields"] if f["Name"] == "Count")
    assert (count["Old"], count["New"], count["Annotations"]) == ("1", "3", ["forces create"])


def test_plan_that_cannot_fit_reports_failures_and_blocked_eval(sim):
    """More than the cluster holds: FailedTGAllocs with exhausted nodes and a blocked CreatedEval."""
    job = batch_job("huge", count=4)
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = {"CPU": 3000, "MemoryMB": 64}
    out = sim.api.plan_job("huge", job)
    failed = out["FailedTGAllocs"]["work"]
    assert failed["NodesExhausted"] >= 1 and failed["DimensionExhausted"].get("cpu", 0) >= 1
    assert [e["Status"] for e in out["CreatedEvals"]] == ["blocked"]
    assert out["CreatedEvals"][0]["StatusDescription"] == "created to place remaining allocations"
    assert sim.state.index == 1


def test_plan_of_a_periodic_job_answers_its_next_launch(sim):
    """A periodic job's plan carries the next launch after the simulated now."""
    out = sim.api.plan_job("cron", periodic_job("cron", "0 * * * *"))
    assert out["NextPeriodicLaunch"] == "2026-01-01T01:00:00Z"


def test_plan_request_errors(sim):
    """Plan's 400s in Nomad's wording; validation failures are 500s."""
    api = sim.api
    rejects(sim, lambda: api.plan_job("example", {"Diff": True}), 400, "Job must be specified")
    rejects(sim, lambda: api.plan_job("example", {"Job": {"Name": "x"}}), 400, "Job must have a valid ID")
    rejects(sim, lambda: api.plan_job("other", example_job()), 400, "Job ID does not match")
    with pytest.raises(ApiError) as err:
        api.plan_job("x", {"Job": {"ID": "x", "Type": "nope", "TaskGroups": []}})
    assert err.value.status == 500 and sim.state.index == 1


def test_dispatch_creates_a_child_with_nomads_id(sim):
    """Dispatch writes the child (JobCreateIndex) then its eval (EvalCreateIndex = Index)."""
    sim.api.register_job(parameterized_job("param", optional=["k"]))
    out = sim.api.dispatch_job("param", {"Payload": base64.b64encode(b"hi").decode(), "Meta": {"k": "v"}})
    assert re.fullmatch(r"param/dispatch-1767225600-[0-9a-f]{8}", out["DispatchedJobID"])
    assert out["Index"] == out["EvalCreateIndex"] == out["JobCreateIndex"] + 1
    assert shape_problems(sample("dispatch-job.response.json"), out) == []
    validate_response("PostJobDispatchResponse", out)
    child = sim.api.read_job(out["DispatchedJobID"])
    assert (child["ParentID"], child["Dispatched"], child["Meta"]["k"]) == ("param", True, "v")
    assert base64.b64decode(child["Payload"]) == b"hi"
    sim.settle(60)
    assert sum(sim.api.job_summary("param")["Children"].values()) == 1


def test_dispatch_idempotency_token_returns_the_same_child(sim):
    """A retried dispatch with the same token answers the existing child and writes nothing."""
    sim.api.register_job(parameterized_job("param"))
    first = sim.api.dispatch_job("param", {"IdempotencyToken": "tok"})
    before = sim.state.index
    again = sim.api.dispatch_job("param", {"IdempotencyToken": "tok"})
    assert again["DispatchedJobID"] == first["DispatchedJobID"] and sim.state.index == before


def test_dispatch_checks_in_nomads_order(sim):
    """Missing, non-parameterized, payload and meta checks answer Nomad's messages as 500s."""
    api = sim.api
    api.register_job(parameterized_job("req", payload="required", required=["a"], optional=["b"]))
    api.register_job(parameterized_job("forbid", payload="forbidden"))
    api.register_job(batch_job("plain"))
    rejects(sim, lambda: api.dispatch_job("nope", {}), 500, "parameterized job not found")
    rejects(sim, lambda: api.dispatch_job("plain", {}), 500, 'Specified job "plain" is not a parameterized job')
    rejects(sim, lambda: api.dispatch_job("req", {"Meta": {"a": "1"}}), 500,
            "Payload is not provided but required by parameterized job")
    rejects(sim, lambda: api.dispatch_job("forbid", {"Payload": "aGk="}), 500,
            "Payload provided but forbidden by parameterized job")
    big = base64.b64encode(b"x" * (16 * 1024 + 1)).decode()
    rejects(sim, lambda: api.dispatch_job("req", {"Payload": big, "Meta": {"a": "1"}}), 500,
            "Payload exceeds maximum size; 16385 > 16384")
    rejects(sim, lambda: api.dispatch_job("req", {"Payload": "aGk=", "Meta": {"a": "1", "z": "2", "c": "3"}}), 500,
            "Dispatch request included unpermitted metadata keys: [c z]")
    rejects(sim, lambda: api.dispatch_job("req", {"Payload": "aGk=", "Meta": {"b": "1"}}), 500,
            "Dispatch did not provide required meta keys: [a]")
    rejects(sim, lambda: api.dispatch_job("req", {"JobID": "other"}), 400, "Job ID does not match")
    with pytest.raises(ApiError) as err:
        api.dispatch_job("req", {"Payload": "not base64!"})
    assert err.value.status == 400


def test_evaluate_and_force_on_periodic_jobs(sim):
    """Periodic parents cannot be evaluated; force needs a periodic job (else Nomad's errors)."""
    sim.api.register_job(periodic_job("cron"))
    sim.api.register_job(batch_job("plain"))
    rejects(sim, lambda: sim.api.evaluate_job("cron"), 500, "can't evaluate periodic job")
    rejects(sim, lambda: sim.api.force_periodic("plain"), 500, "can't force launch non-periodic job")
    rejects(sim, lambda: sim.api.force_periodic("nope"), 500, "job not found")


def test_force_periodic_launches_a_child_of_a_tracked_job(sim):
    """Force answers an eval for `<id>/periodic-<unix>`; a disabled periodic job is not tracked."""
    disabled = periodic_job("off")
    disabled["Job"]["Periodic"]["Enabled"] = False
    sim.api.register_job(disabled)
    rejects(sim, lambda: sim.api.force_periodic("off"), 500,
            'force launch for job "off" failed: can\'t force run non-tracked job "off" (default)')
    sim.api.register_job(periodic_job("cron"))
    out = sim.api.force_periodic("cron")
    assert shape_problems(sample("periodic-force.response.json"), out) == []
    validate_response("PostJobPeriodicForceResponse", out)
    assert sim.api.read_evaluation(out["EvalID"])["JobID"].startswith("cron/periodic-")


def test_plan_rng_is_a_fixed_child_stream(sim):
    """The dry run's generator derives from the API stream's seed without drawing from it."""
    from sim.server.job_plan import plan_rng

    api_rng = sim.rngs["api"]
    state = api_rng.bit_generator.state
    a, b = plan_rng(api_rng).integers(0, 2**32, 4), plan_rng(api_rng).integers(0, 2**32, 4)
    assert np.array_equal(a, b) and api_rng.bit_generator.state == state
