"""Tests of sim.scenario.topology: the region → datacenter → rack → node graph and metrics grouped by domain."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.scenario.load import load_scenario
from sim.scenario.topology import Topology, allocs_per_domain, failures_per_domain, spread_across
from sim.simulation import Simulation
from sim.structs.node import Node, NodeResources


def _node(i: int, dc: str = "dc1") -> Node:
    return Node(id=f"id-{i}", name=f"n-{i}", datacenter=dc, resources=NodeResources(1000, 1000, 1000))


@pytest.fixture
def topo() -> Topology:
    """Six nodes: r1 and r2 in dc1, two rackless nodes in dc2."""
    nodes = [_node(i, "dc1" if i < 4 else "dc2") for i in range(6)]
    racks = {"n-0": "r1", "n-1": "r2", "n-2": "r1", "n-3": "r2"}
    return Topology.build(nodes, racks)


def test_nodes_under_rack_are_in_cluster_order(topo):
    """A rack holds exactly its nodes, in the order the cluster lists them."""
    assert topo.nodes_under("r1") == ["id-0", "id-2"]
    assert topo.nodes_under("r2") == ["id-1", "id-3"]


def test_nodes_under_datacenter_include_racks_and_rackless_nodes(topo):
    """A datacenter holds its racks' nodes and the nodes hanging directly under it."""
    assert topo.nodes_under("dc1") == ["id-0", "id-1", "id-2", "id-3"]
    assert topo.nodes_under("dc2") == ["id-4", "id-5"]
    assert topo.nodes_under("global") == [f"id-{i}" for i in range(6)]


def test_unknown_domain_is_a_key_error(topo):
    """Asking for a domain that does not exist fails loudly."""
    with pytest.raises(KeyError, match="r9"):
        topo.nodes_under("r9")


def test_graph_levels_form_a_tree(topo):
    """Every node vertex has one parent: a rack or, without one, its datacenter."""
    parents = {v[1]: next(iter(topo.graph.predecessors(v))) for v in topo.graph if v[0] == "node"}
    assert parents["id-0"] == ("rack", "r1")
    assert parents["id-4"] == ("datacenter", "dc2")
    assert topo.domains("rack") == ["r1", "r2"]


def test_domain_of_and_frame(topo):
    """The nodes table gives every node's region, datacenter and rack."""
    assert topo.domain_of("id-3", "rack") == "r2"
    assert topo.domain_of("id-5", "rack") == ""
    assert topo.domain_of("id-5", "datacenter") == "dc2"
    frame = topo.frame()
    assert list(frame["rack"]) == ["r1", "r2", "r1", "r2", "", ""]
    assert str(frame["node_id"].dtype) == "string"


def test_from_cluster_reads_the_groups_rack_key():
    """A scenario's `rack: meta.rack` puts each group's nodes in its rack."""
    scenario = load_scenario({
        "name": "t", "duration": "1m", "cluster": {"nodes": [
            {"count": 2, "name_prefix": "a", "resources": {"cpu": 1000, "memory": 1000}, "meta": {"rack": "ra"},
             "rack": "meta.rack"},
            {"count": 1, "name_prefix": "b", "resources": {"cpu": 1000, "memory": 1000}}]}})
    sim = Simulation(scenario)
    topo = sim.workload.topology
    names = {n.id: n.name for n in sim.state.nodes.nodes}
    assert [names[i] for i in topo.nodes_under("ra")] == ["a-0", "a-1"]
    assert [names[i] for i in topo.nodes_under("dc1")] == ["a-0", "a-1", "b-0"]


def _placements(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"alloc_id": [r[0] for r in rows], "job_id": "j", "task_group": "g",
                         "node_id": [r[1] for r in rows], "time": 0.0})


def test_allocs_per_rack_lists_empty_racks(topo):
    """Counting placements per rack keeps racks with none (and skips failed placements)."""
    placed = _placements([("a1", "id-0", ""), ("a2", "id-2", ""), ("", "", "")])
    counts = allocs_per_domain(placed, topo.frame(), "rack")
    assert counts.to_dict() == {"": 0, "r1": 2, "r2": 0}


def test_spread_across_racks(topo):
    """A job on two racks, 2 allocs on one and 1 on the other: 2 domains, max share 2/3."""
    placed = _placements([("a1", "id-0", ""), ("a2", "id-2", ""), ("a3", "id-1", "")])
    spread = spread_across(placed, topo.frame(), "rack").iloc[0]
    assert (spread["allocs"], spread["domains"]) == (3, 2)
    assert spread["max_share"] == pytest.approx(2 / 3)


def test_failures_per_domain_counts_each_alloc_once(topo):
    """Failed and lost transitions are counted once per alloc and status, per datacenter."""
    allocs = pd.DataFrame({"alloc_id": ["a", "a", "b", "c"], "node_id": ["id-0", "id-0", "id-4", "id-1"],
                           "client_status": ["failed", "failed", "lost", "complete"], "time": 0.0})
    counts = failures_per_domain(allocs, topo.frame(), "datacenter")
    assert counts.to_dict() == {"dc1": 1, "dc2": 1}
