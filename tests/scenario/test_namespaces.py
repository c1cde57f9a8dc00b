"""Namespaces and node pools a scenario declares (sim/scenario/build.py build_named, sim/state/namespaces.py).

Nomad: "default" namespace and the "all"/"default" node pools are built in; namespace names
are letters, digits and '-' (validNamespaceName), node pool names also '_'; a job in a namespace or
pool that does not exist is refused at registration (a workload error at run time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario.load import load_scenario
from sim.scenario.types import NamedSpec
from sim.simulation import Simulation

from .test_load import BASE, load_error, write


def test_declared_namespaces_and_pools_load_and_round_trip(tmp_path: Path):
    data = {**BASE, "namespaces": [{"name": "apps", "description": "A", "meta": {"team": "x"}}],
            "node_pools": [{"name": "gpu_a"}]}
    scenario = load_scenario(write(tmp_path, data))
    assert scenario.namespaces == (NamedSpec("apps", "A", {"team": "x"}),)
    assert scenario.node_pools == (NamedSpec("gpu_a"),)
    assert load_scenario(scenario.to_dict()) == scenario
    assert "namespaces" not in load_scenario(write(tmp_path, BASE)).to_dict()
    world = Simulation(scenario)
    assert set(world.state.catalog.namespaces) == {"apps", "default"}
    assert set(world.state.catalog.node_pools) == {"all", "default", "gpu_a"}


@pytest.mark.parametrize(("extra", "path", "text"), [
    ({"namespaces": [{"name": "apps", "color": "red"}]}, "namespaces[0]", "color"),
    ({"namespaces": [{"description": "no name"}]}, "namespaces[0]", "name"),
    ({"namespaces": [{"name": "has space"}]}, "namespaces[0].name", "letters, digits"),
    ({"namespaces": [{"name": "under_score"}]}, "namespaces[0].name", "invalid namespace name"),
    ({"namespaces": [{"name": "default"}]}, "namespaces[0].name", "built in"),
    ({"namespaces": [{"name": "a"}, {"name": "a"}]}, "namespaces[1].name", "declared twice"),
    ({"node_pools": [{"name": "all"}]}, "node_pools[0].name", "built in"),
    ({"node_pools": "gpu"}, "node_pools", "expected a list"),
])
def test_bad_declarations_are_refused(tmp_path: Path, extra, path, text):
    err = load_error(tmp_path, {**BASE, **extra})
    assert err.path.startswith(path) and text in str(err)


def test_a_workload_job_in_an_undeclared_namespace_is_a_workload_error(tmp_path: Path):
    path = write(tmp_path, BASE)
    web = tmp_path / "jobs" / "web.json"
    web.write_text(web.read_text().replace('"ID": "web"', '"ID": "web", "Namespace": "apps"', 1))
    sim = Simulation.from_scenario(path)
    sim.run(120)
    errors = sim.recorder.rows["workload_errors"]
    assert [(row[2], row[3]) for row in errors] == [("web", '1 error occurred:\n\t* job "web" is in nonexistent '
                                                            'namespace "apps"\n\n')]
    declared = Simulation.from_scenario(write(tmp_path, {**BASE, "namespaces": [{"name": "apps"}]}, "d.yaml"))
    declared.run(120)
    assert declared.recorder.rows["workload_errors"] == [] and declared.state.job_by_id("apps", "web") is not None
