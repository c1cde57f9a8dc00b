"""Nodes joining and leaving over HTTP (a server subprocess of its own, since these change the
cluster): `POST /v1/sim/nodes` adds a node group, Nomad's `PUT /v1/node/:id/purge` (python-nomad
`node.purge_node`) deregisters a node, whose allocs are then lost and replaced; node fields
(LastDrain, Events) read back through python-nomad. In process: the same through `s.api`.
"""

from __future__ import annotations

import json

import nomad
import pytest
import requests

from sim.simulation import Simulation

from .support import example_job, start_server, stop_server, tiny_scenario, validate_response


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("http-nodes") / "tiny.yaml"
    path.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(path)
    yield url
    stop_server(proc)


def post(url: str, path: str, body=None) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


GROUP = {"count": 2, "name_prefix": "spot", "resources": {"cpu": 4000, "memory": 8192}}


def test_nodes_join_and_are_purged_over_http(server):
    """Added nodes are listed and ready; a purged node is gone (404), its allocs lost and replaced."""
    client = nomad.Nomad(host="127.0.0.1", port=int(server.rsplit(":", 1)[1]), timeout=30)
    added = post(server, "/v1/sim/nodes", GROUP)
    assert added.status_code == 200 and added.json()["Names"] == ["spot-0", "spot-1"]
    assert int(added.headers["X-Nomad-Index"]) == added.json()["Index"]
    nodes = {n["Name"]: n for n in client.nodes.get_nodes()}
    assert {"spot-0", "spot-1"} <= set(nodes) and nodes["spot-0"]["Status"] == "ready"
    spot = client.node.get_node(nodes["spot-0"]["ID"])
    assert [e["Message"] for e in spot["Events"]] == ["Node registered"]
    client.jobs.register_job(example_job())
    post(server, "/v1/sim/settle", {"MaxSeconds": 120})
    victim = next(a["NodeID"] for a in client.job.get_allocations("example") if a["ClientStatus"] == "running")
    out = client.node.purge_node(victim)
    assert out["EvalIDs"] and out["NodeModifyIndex"] > 0
    post(server, "/v1/sim/settle", {"MaxSeconds": 120})
    assert requests.get(f"{server}/v1/node/{victim}", timeout=10).status_code == 404
    assert victim not in {n["ID"] for n in client.nodes.get_nodes()}
    allocs = client.job.get_allocations("example")
    lost = [a for a in allocs if a["NodeID"] == victim]
    assert lost and all(a["ClientStatus"] == "lost" for a in lost)
    assert sum(a["ClientStatus"] == "running" for a in allocs) == 1  # the example job's count
    assert post(server, f"/v1/node/{victim}/purge").status_code == 500


def test_bad_node_groups_are_400s_naming_the_key(server):
    """A node group the scenario would refuse is a 400 naming the key; nothing joins."""
    before = len(requests.get(server + "/v1/nodes", timeout=10).json())
    bad = post(server, "/v1/sim/nodes", {"count": 1, "resources": {"cpu": 10}})
    assert bad.status_code == 400 and "resources" in bad.text and "memory" in bad.text
    unknown = post(server, "/v1/sim/nodes", {**GROUP, "flavour": "x"})
    assert unknown.status_code == 400 and "flavour" in unknown.text
    assert len(requests.get(server + "/v1/nodes", timeout=10).json()) == before


def test_in_process_add_and_purge():
    """`s.api.add_nodes` numbers on after existing nodes; `s.api.purge_node` answers Nomad's shape."""
    sim = Simulation.from_scenario(tiny_scenario())
    out = sim.api.add_nodes({"count": 1, "name_prefix": "node", "resources": {"cpu": 1000, "memory": 1024}})
    assert out["Names"] == ["node-3"]
    purged = sim.api.purge_node(out["NodeIDs"][0])
    validate_response("NodePurgeResponse", {**purged, "EvalIDs": purged["EvalIDs"] or []})  # Go: nil slice -> null
    again = sim.api.add_nodes({"count": 1, "name_prefix": "node", "resources": {"cpu": 1000, "memory": 1024}})
    assert again["Names"] == ["node-4"]  # a removed node's name is not reused
    events = sim.results()["node_events"]
    assert list(events.event) == ["add", "remove", "add"] and set(events.cause) == {"api"}
