"""Devices in scenarios: node groups with device groups, clusters from the openb node list."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sim.scenario.load import load_scenario
from sim.scenario.types import DeviceSpec
from sim.simulation import Simulation

from .test_load import BASE, load_error, write

TRACES = Path(__file__).resolve().parents[2] / "scenarios" / "traces"
A100 = {"vendor": "nvidia", "type": "gpu", "name": "A100", "count": 8, "attributes": {"memory": "80 GiB", "cuda_cores": 6912}}


def with_nodes(*groups: dict) -> dict:
    data = copy.deepcopy(BASE)
    data["cluster"]["nodes"] = list(groups)
    return data


def test_node_group_devices(tmp_path):
    """`devices` builds DeviceSpecs (attributes as strings); each instance gets its own seeded ID."""
    scenario = load_scenario(write(tmp_path, with_nodes({"count": 2, "resources": {"cpu": 4000, "memory": 4096},
                                                         "devices": [A100]})))
    assert scenario.cluster.nodes[0].devices == (DeviceSpec("nvidia", "gpu", "A100", 8, {"memory": "80 GiB", "cuda_cores": "6912"}),)
    ids = [[i for d in n.resources.devices for i in d.instance_ids] for n in Simulation(scenario).state.nodes.nodes]
    again = [[i for d in n.resources.devices for i in d.instance_ids] for n in Simulation(scenario).state.nodes.nodes]
    assert ids == again and len({i for node in ids for i in node}) == 16


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"devices": [A100, A100]}, "cluster.nodes[0].devices[1]", "device nvidia/gpu/A100 is listed twice"),
    ({"devices": [{**A100, "count": 0}]}, "cluster.nodes[0].devices[0].count", ""),
    ({"devices": [{**A100, "model": "x"}]}, "cluster.nodes[0].devices[0].model", ""),
    ({"names": ["a"]}, "cluster.nodes[0].names", "1 names for count 2"),
])
def test_bad_devices_are_refused(tmp_path, change, path, words):
    """Errors name the key: duplicate device IDs, counts below 1, unknown keys, names that do not match count."""
    err = load_error(tmp_path, with_nodes({"count": 2, "resources": {"cpu": 4000, "memory": 4096}, **change}))
    assert err.path == path and words in str(err)


def test_cluster_from_the_openb_node_list(tmp_path):
    """One group per node shape, the trace's node names, GPUs as nvidia/gpu/<model>."""
    nodes = {"from_trace": {"format": "openb", "path": str(TRACES / "openb_node_list_gpu_node.csv"), "mhz_per_core": 1000}}
    scenario = load_scenario(write(tmp_path, with_nodes(nodes)))
    names = scenario.cluster.node_names()
    assert len(names) == 1213 and names[0] == "openb-node-0000" and len(set(names)) == 1213
    g2 = next(g for g in scenario.cluster.nodes if g.devices and g.devices[0].name == "G2")
    assert (g2.count, g2.resources.cpu, g2.resources.memory, g2.devices[0].count) == (549, 96000, 393216, 8)
    assert sum(g.count * g.devices[0].count for g in scenario.cluster.nodes) == 6212


def test_from_trace_errors_name_the_key(tmp_path):
    """A missing node list or an unknown format is refused with the key path."""
    err = load_error(tmp_path, with_nodes({"from_trace": {"format": "openb", "path": "nope.csv"}}))
    assert err.path == "cluster.nodes[0].from_trace.path" and "file not found" in str(err)
    err = load_error(tmp_path, with_nodes({"from_trace": {"format": "google2011", "path": "x.csv"}}))
    assert err.path.startswith("cluster.nodes[0].from_trace")
