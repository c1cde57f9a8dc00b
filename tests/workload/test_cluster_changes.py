"""Clusters that grow and shrink: `cluster.nodes: []`, `add_nodes` and `remove_nodes` events
(sim/workload/events.py, sim/world.py, sim/server/node_endpoint.py register/deregister, the
node table's growth and tombstones, and the tables built over a changing node set).

Nomad: Node.Register (a ready node unblocks its class: fsm.applyUpsertNode) and
Node.BatchDeregister (node deleted, node evals whose schedulers mark its allocs lost).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.state.node_table import NodeTable
from sim.structs.node import Node, NodeResources


def _job(job_id: str, count: int, kind: str = "service", runtime: str | None = None) -> dict:
    task = {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 500, "MemoryMB": 256}}
    if runtime:
        task["Meta"] = {"sim.runtime": runtime}
    return {"ID": job_id, "Type": kind, "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [task]}]}


def _group(count: int, prefix: str = "spot") -> dict:
    return {"count": count, "name_prefix": prefix, "resources": {"cpu": 4000, "memory": 8192}}


def _scenario(nodes: list[dict], events: list[dict], workload: list[dict] | None = None, duration: str = "2h") -> dict:
    workload = workload if workload is not None else [
        {"at": 0, "register": _job("web", 3)}, {"at": 0, "register": _job("batch", 2, "batch", "10m")}]
    return {"name": "grow", "seed": 1, "duration": duration, "cluster": {"nodes": nodes},
            "workload": workload, "events": events}


def test_empty_cluster_blocks_until_nodes_join_at_1h():
    """Acceptance: `cluster.nodes: []` with nodes added at 1 h: jobs registered at 0 are blocked,
    then placed right after 1 h (the joining nodes unblock their blocked evals)."""
    sim = Simulation(load_scenario(_scenario([], [{"at": "1h", "add_nodes": _group(2)}])))
    sim.run(3599)
    assert sim.state.allocs_by_job("default", "web") == []
    blocked = [e for e in sim.state.evals() if e.status == "blocked"]
    assert sorted(e.job_id for e in blocked) == ["batch", "web"]
    sim.run(3601)
    placements = sim.results()["placements"]
    placed = placements[placements.alloc_id != ""]
    assert sorted(placed.job_id) == ["batch", "batch", "web", "web", "web"]
    assert placed.time.min() >= 3600.0 and placed.time.max() < 3600.1
    assert all(sim.state.eval_by_id(e.id).status == "complete" for e in blocked)
    assert len(sim.state.allocs_by_job("default", "web")) == 3


def test_empty_cluster_reports_queued_work_in_the_cluster_table():
    """Samples before any node joins have no node_usage rows, but the cluster table keeps them
    (0 nodes, NaN utilisation, the blocked evals and queued allocs)."""
    sim = Simulation(load_scenario(_scenario([], [{"at": "1h", "add_nodes": _group(2)}])))
    sim.run()
    tables = sim.results()
    cluster = tables["cluster"].set_index("time")
    assert cluster.loc[1800.0, "nodes"] == 0 and np.isnan(cluster.loc[1800.0, "cpu_utilisation"])
    assert cluster.loc[1800.0, "blocked_evals"] == 2 and cluster.loc[1800.0, "queued_allocs"] == 5
    assert cluster.loc[3610.0, "nodes"] == 2 and cluster.loc[3610.0, "running_allocs"] == 5
    assert tables["node_usage"].time.min() == 3600.0
    assert len(tables["nodes"]) == 2  # the joining nodes are in the topology table


def test_removed_nodes_lose_their_allocs_which_are_replaced():
    """`remove_nodes` deregisters the highest-numbered registered nodes of the prefix: their
    service allocs are marked lost (`alloc is lost since its node is down`) and replaced."""
    events = [{"at": "1h", "add_nodes": _group(3)}, {"at": "90m", "remove_nodes": {"name_prefix": "spot", "count": 2}}]
    sim = Simulation(load_scenario(_scenario([_group(1, "base")], events)))
    sim.run(5399)
    spot = {n.name: n.id for n in sim.state.nodes.live() if n.name.startswith("spot")}
    assert sorted(spot) == ["spot-0", "spot-1", "spot-2"]
    on_removed = [a for a in sim.state.allocs_by_job("default", "web") if a.node_id in (spot["spot-1"], spot["spot-2"])]
    sim.run(5500)
    assert sorted(n.name for n in sim.state.nodes.live()) == ["base-0", "spot-0"]
    assert sim.state.node_by_id(spot["spot-2"]) is None
    for alloc in on_removed:
        stored = sim.state.alloc_by_id(alloc.id)
        assert (stored.client_status, stored.desired_status) == ("lost", "stop")
        assert stored.desired_description == "alloc is lost since its node is down"
    live = [a for a in sim.state.allocs_by_job("default", "web") if not a.terminal()]
    assert len(live) == 3 and {a.node_id for a in live} <= {spot["spot-0"], sim.state.nodes.live()[0].id}
    node_events = sim.results()["node_events"]
    removed = node_events[node_events.event == "remove"]
    assert list(removed.node_id) == [spot["spot-2"], spot["spot-1"]]


def test_nodes_joining_later_continue_the_prefix_numbering():
    """Node names go on from the nodes of the same prefix, in the order the scenario lists them."""
    events = [{"at": "1h", "add_nodes": _group(2)}, {"at": "2h", "add_nodes": _group(1)},
              {"at": "150m", "node_drain": "spot-2", "deadline": "5m"}]
    scenario = load_scenario(_scenario([_group(1)], events, duration="3h"))
    assert [e.group.node_names() for e in scenario.events[:2]] == [["spot-1", "spot-2"], ["spot-3"]]
    sim = Simulation(scenario)
    sim.run()
    assert [n.name for n in sim.state.nodes.live()] == ["spot-0", "spot-1", "spot-2", "spot-3"]
    drained = sim.results()["node_events"].query("event == 'drain'")
    assert len(drained) == 1


def test_events_on_nodes_that_are_not_registered_are_rejected_not_raised():
    """A node event naming a node before it joins, or after it left, is a `workload_errors` row."""
    events = [{"at": "10m", "node_down": "spot-1"}, {"at": "1h", "add_nodes": _group(1)},
              {"at": "90m", "remove_nodes": {"name_prefix": "spot"}}, {"at": "100m", "node_drain": "spot-1"},
              {"at": "110m", "remove_nodes": {"name_prefix": "spot"}}]
    sim = Simulation(load_scenario(_scenario([_group(1)], events)))
    sim.run()
    errors = sim.results()["workload_errors"]
    assert len(errors) == 3
    assert not sim.state.nodes.live()


def test_same_scenario_same_bytes():
    """Growing and shrinking clusters are deterministic."""
    events = [{"at": "1h", "add_nodes": _group(3)}, {"at": "90m", "remove_nodes": {"name_prefix": "spot", "count": 2}}]
    frames = []
    for _ in range(2):
        sim = Simulation(load_scenario(_scenario([], events)))
        sim.run()
        frames.append(sim.results())
    for name in ("placements", "evaluations", "node_usage", "cluster", "node_events"):
        assert frames[0][name].equals(frames[1][name]), name


@pytest.mark.parametrize(("events", "path", "message"), [
    ([{"at": "1h", "remove_nodes": {"name_prefix": "spt"}}], "events[0].remove_nodes.name_prefix", "did you mean"),
    ([{"at": "1h", "add_nodes": _group(1), "deadline": "1m"}], "events[0].deadline", "node_drain only"),
    ([{"add_nodes": _group(1)}], "events[0].at", "required key 'at'"),
    ([{"at": "1h", "node_drain": "spot-7"}], "events[0].node_drain", "no node named"),
])
def test_bad_cluster_events_are_refused(events, path, message):
    """Bad add/remove events name the key path and the problem."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario([_group(1)], events))
    assert info.value.path == path and message in str(info.value)


def test_scenario_with_cluster_events_round_trips():
    """`to_dict` gives the add/remove events back in the scenario language."""
    events = [{"at": "1h", "add_nodes": _group(2)}, {"at": "90m", "remove_nodes": {"name_prefix": "spot", "count": 1}}]
    scenario = load_scenario(_scenario([], events))
    assert load_scenario(scenario.to_dict()) == scenario


def _node(i: int) -> Node:
    return Node(id=f"n{i}", name=f"n{i}", resources=NodeResources(1000 + i, 2000, 3000))


def test_node_table_grows_by_doubling_and_keeps_rows():
    """Appending nodes one by one keeps the columns right; buffers grow geometrically."""
    table = NodeTable()
    sizes = set()
    for i in range(100):
        table.add(_node(i))
        sizes.add(len(table._cap_buf))
    assert len(table) == 100 and table.cap.shape == (100, 3) and table.used.shape == (100, 3)
    assert table.cap[:, 0].tolist() == [1000.0 + i for i in range(100)]
    assert table.ready.all() and table.present.all()
    assert sizes == {16, 32, 64, 128}
    table.reserve(5, 10, 20, 30, [])
    table.add_many([_node(i) for i in range(100, 140)])
    assert table.used[5].tolist() == [10.0, 20.0, 30.0] and len(table.ready) == 140


def test_removed_nodes_keep_their_row_as_a_tombstone():
    """A removed node keeps its row (usage can still be released) but is never ready nor found."""
    table = NodeTable()
    table.add_many([_node(i) for i in range(4)])
    table.reserve(2, 100, 100, 100, [])
    table.remove(["n2"])
    assert table.node("n2") is None and table.index_of["n2"] == 2
    assert table.ready.tolist() == [True, True, False, True] and table.present.tolist() == [True, True, False, True]
    assert [n.id for n in table.live()] == ["n0", "n1", "n3"]
    table.release(2, 100, 100, 100, [])
    table.refresh_status(table.nodes[2])
    assert not table.ready[2]


@pytest.mark.parametrize("seed", range(6))
def test_generated_workloads_with_joining_and_leaving_nodes_keep_invariants(seed: int):
    """The engine's invariants (tests/test_invariants.py oracles: capacity and ports recounted
    from the allocs, NodeTable columns, job summaries and status) hold while nodes join and leave
    a random workload with failures; no live alloc is left on a node that left."""
    from test_invariants import capacity_violations, generate_scenario, job_violations

    scenario = generate_scenario(seed)
    rng = np.random.default_rng([7, seed])
    group = {**scenario["cluster"]["nodes"][0], "name_prefix": "x", "count": 3}
    joins, leaves = sorted(rng.uniform(60, 900, size=2)), sorted(rng.uniform(300, 1500, size=2))
    scenario["events"] += [{"at": float(joins[0]), "add_nodes": group}, {"at": float(joins[1]), "add_nodes": group},
                           {"at": float(leaves[0]), "remove_nodes": {"name_prefix": "n0", "count": 1}},
                           {"at": float(leaves[1]), "remove_nodes": {"name_prefix": "x", "count": 2}}]
    sim = Simulation.from_scenario(scenario, seed=seed)
    violations: list[str] = []
    sim.state.subscribe(lambda _i, _t: violations.extend(capacity_violations(sim)))
    for t in [*sorted(rng.uniform(1, sim.scenario.duration, size=8)), sim.scenario.duration]:
        sim.run(float(t))
        violations.extend(job_violations(sim.state))
    removed = sim.state.nodes.removed
    assert len(removed) == 3 and violations == []
    left_on_removed = [a.name for a in sim.state.allocs() if a.node_id in removed and not a.terminal()]
    assert left_on_removed == []
