"""Deployment endpoints beyond promote: manual allocation health and the reverted version."""

from __future__ import annotations

import pytest

from sim.errors import ApiError
from sim.simulation import Simulation

from .support import tiny_scenario


def _job(health_check: str, auto_revert: bool = False, image: str = "web:1") -> dict:
    return {"Job": {
        "ID": "web", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": 2,
            "Update": {"MaxParallel": 2, "HealthCheck": health_check, "MinHealthyTime": 5_000_000_000,
                       "HealthyDeadline": 60_000_000_000, "ProgressDeadline": 0, "AutoRevert": auto_revert},
            "Tasks": [{"Name": "web", "Driver": "docker", "Config": {"image": image},
                       "Resources": {"CPU": 100, "MemoryMB": 64}}],
        }],
    }}


def test_manual_health_marks_the_deployment_successful():
    """With HealthCheck manual, POST allocation-health with every alloc healthy completes the deployment."""
    sim = Simulation.from_scenario(tiny_scenario())
    sim.api.register_job(_job("manual"))
    sim.run(30)
    dep = sim.api.job_deployment("web")
    assert dep["Status"] == "running"
    ids = [a["ID"] for a in sim.api.job_allocations("web")]
    answer = sim.api.set_alloc_health(dep["ID"], {"HealthyAllocationIDs": ids})
    assert answer["DeploymentModifyIndex"] > 0 and answer["RevertedJobVersion"] is None
    sim.run(60)
    assert sim.api.read_deployment(dep["ID"])["Status"] == "successful"


def test_manual_fail_reports_the_reverted_version():
    """Failing a deployment of an auto-reverting group answers RevertedJobVersion = the stable version."""
    sim = Simulation.from_scenario(tiny_scenario())
    sim.api.register_job(_job("task_states", auto_revert=True))
    sim.run(60)
    assert sim.api.job_deployment("web")["Status"] == "successful"
    sim.api.register_job(_job("task_states", auto_revert=True, image="web:2"))
    sim.run(62)
    dep = sim.api.job_deployment("web")
    assert dep["JobVersion"] == 1 and dep["Status"] == "running"
    answer = sim.api.fail_deployment(dep["ID"])
    assert answer["RevertedJobVersion"] == 0
    with pytest.raises(ApiError) as err:
        sim.api.set_alloc_health(dep["ID"], {"HealthyAllocationIDs": []})
    assert (err.value.status, err.value.message) == (500, "can't set health of allocations for a terminal deployment")
