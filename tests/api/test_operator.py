"""The operator's scheduler configuration: GET/PUT /v1/operator/scheduler/configuration.

Nomad: command/agent/operator_endpoint.go and api/operator.go: the response shapes, Validate's
message, check-and-set, and the configuration taking effect from the next scheduler pass.
"""

from __future__ import annotations

import json

import pytest
import requests

from sim.errors import ApiError
from sim.simulation import Simulation

from .support import start_server, stop_server, tiny_scenario, validate_response


def _job(job_id: str, priority: int, count: int, job_type: str = "service") -> dict:
    return {"Job": {"ID": job_id, "Type": job_type, "Priority": priority, "Datacenters": ["dc1"],
                    "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{
                        "Name": "t", "Driver": "exec", "Config": {"command": "x"},
                        "Resources": {"CPU": 1000, "MemoryMB": 256}}]}]}}


def test_get_answers_the_scenarios_configuration() -> None:
    """The scenario's control_plane knobs, in Nomad's shape, before any write."""
    scenario = {**tiny_scenario(), "control_plane": {"scheduler_algorithm": "spread", "preemption": {"batch": True}}}
    sim = Simulation.from_scenario(scenario)
    out = sim.api.scheduler_configuration()
    validate_response("GetOperatorSchedulerConfigurationResponse", out)
    assert out["SchedulerConfig"] == {
        "SchedulerAlgorithm": "spread",
        "PreemptionConfig": {"SystemSchedulerEnabled": True, "SysBatchSchedulerEnabled": False,
                             "BatchSchedulerEnabled": True, "ServiceSchedulerEnabled": False},
        "MemoryOversubscriptionEnabled": False, "RejectJobRegistration": False, "PauseEvalBroker": False,
        "CreateIndex": 0, "ModifyIndex": 0}
    assert out["Index"] == 0 and out["KnownLeader"] is True


def test_put_replaces_the_configuration_and_cas_guards_it(sim: Simulation) -> None:
    """A PUT writes the whole configuration (absent switches are false); `cas` must match ModifyIndex."""
    out = sim.api.update_scheduler_configuration({"SchedulerAlgorithm": "binpack",
                                                  "PreemptionConfig": {"ServiceSchedulerEnabled": True}})
    validate_response("PostOperatorSchedulerConfigurationResponse", out)
    assert out["Updated"] is True and out["Index"] == sim.state.index
    config = sim.api.scheduler_configuration()["SchedulerConfig"]
    assert config["PreemptionConfig"] == {"SystemSchedulerEnabled": False, "SysBatchSchedulerEnabled": False,
                                          "BatchSchedulerEnabled": False, "ServiceSchedulerEnabled": True}
    assert config["CreateIndex"] == config["ModifyIndex"] == out["Index"]
    stale = sim.api.update_scheduler_configuration({"SchedulerAlgorithm": "spread"}, cas=out["Index"] - 1)
    assert stale == {"Updated": False, "Index": out["Index"]}
    assert sim.state.scheduler_config.scheduler_algorithm == "binpack"
    fresh = sim.api.update_scheduler_configuration({"SchedulerAlgorithm": "spread"}, cas=out["Index"])
    assert fresh["Updated"] is True and sim.state.scheduler_config.scheduler_algorithm == "spread"


@pytest.mark.parametrize(("payload", "message"), [
    ({"SchedulerAlgorithm": "tetris"}, "invalid scheduler algorithm: tetris"),
    ({"PreemptionConfig": {"BatchSchedulerEnabled": "yes"}},
     "Error parsing scheduler config: json: cannot unmarshal string into Go struct field "
     "SchedulerConfiguration.PreemptionConfig.BatchSchedulerEnabled of type bool"),
    ({"PreemptionConfig": [1]}, "Error parsing scheduler config: json: cannot unmarshal array into Go struct "
                                "field SchedulerConfiguration.PreemptionConfig of type api.PreemptionConfig"),
    ({"PauseEvalBroker": True}, "PauseEvalBroker: not modelled by nomadsim (must be false)"),
])
def test_bad_configurations_are_rejected_and_nothing_changes(sim: Simulation, payload: dict, message: str) -> None:
    """Nomad's 400s (decode errors, Validate); knobs nomadsim does not model cannot be turned on."""
    before, index = sim.state.scheduler_config, sim.state.index
    with pytest.raises(ApiError) as err:
        sim.api.update_scheduler_configuration(payload)
    assert (err.value.status, err.value.message) == (400, message)
    assert sim.state.scheduler_config is before and sim.state.index == index


def test_a_change_applies_from_the_next_scheduler_pass(sim: Simulation) -> None:
    """Service preemption turned on over the API: the next high-priority job evicts, the earlier one did not."""
    sim.api.register_job(_job("low", 20, 11))  # 3 nodes x 3900 MHz: 11 x 1000 fill them
    sim.settle(60)
    sim.api.register_job(_job("first", 80, 1))
    sim.settle(60)
    assert sim.results()["preemptions"].empty
    assert sim.api.job_allocations("first") == []
    sim.api.update_scheduler_configuration({"PreemptionConfig": {"ServiceSchedulerEnabled": True}})
    sim.api.register_job(_job("second", 80, 1))
    sim.settle(60)
    (alloc,) = sim.api.job_allocations("second")
    full = sim.api.read_allocation(alloc["ID"])
    (victim,) = full["PreemptedAllocations"]
    evicted = sim.api.read_allocation(victim)
    assert evicted["PreemptedByAllocation"] == alloc["ID"] and evicted["DesiredStatus"] == "evict"
    evals = sim.api.job_evaluations("low")
    assert "preemption" in [e["TriggeredBy"] for e in evals]


def test_plan_lists_the_allocs_it_would_preempt(sim: Simulation) -> None:
    """Nomad: Job.Plan's Annotations.PreemptedAllocs (stubs) and DesiredTGUpdates.Preemptions."""
    sim.api.register_job(_job("low", 20, 11))
    sim.settle(60)
    sim.api.update_scheduler_configuration({"PreemptionConfig": {"ServiceSchedulerEnabled": True}})
    out = sim.api.plan_job("high", _job("high", 80, 1))
    validate_response("PostJobPlanResponse", out)
    (stub,) = out["Annotations"]["PreemptedAllocs"]
    assert stub["JobID"] == "low" and stub["DesiredStatus"] == "run"
    assert out["Annotations"]["DesiredTGUpdates"]["g"]["Preemptions"] == 1
    assert all(a["DesiredStatus"] == "run" for a in sim.api.job_allocations("low"))


def test_over_http(tmp_path) -> None:
    """GET and PUT over HTTP: Nomad's bodies and X-Nomad-Index, a 400 as plain text, 405 otherwise."""
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(path)
    try:
        endpoint = url + "/v1/operator/scheduler/configuration"
        got = requests.get(endpoint, timeout=10)
        assert got.status_code == 200 and got.json()["SchedulerConfig"]["PreemptionConfig"]["SystemSchedulerEnabled"]
        put = requests.put(endpoint, json={"PreemptionConfig": {"BatchSchedulerEnabled": True}}, timeout=10)
        assert put.status_code == 200 and put.json()["Updated"] is True
        assert put.headers["X-Nomad-Index"] == str(put.json()["Index"])
        stale = requests.put(endpoint + "?cas=1", json={}, timeout=10)
        assert stale.json()["Updated"] is False
        bad = requests.put(endpoint, json={"SchedulerAlgorithm": "x"}, timeout=10)
        assert (bad.status_code, bad.text) == (400, "invalid scheduler algorithm: x")
        assert requests.delete(endpoint, timeout=10).status_code == 405
        after = requests.get(endpoint, timeout=10).json()["SchedulerConfig"]
        assert after["PreemptionConfig"]["BatchSchedulerEnabled"] is True
    finally:
        stop_server(proc)
