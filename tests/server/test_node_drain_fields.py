"""Drain fields of a node through the node endpoint (sim/server/node_endpoint.py, drainer.py),
ported from Nomad's nomad/node_endpoint_test.go TestClientEndpoint_UpdateDrain and
TestClientEndpoint_UpdatedDrainAndCompleted (times in simulated seconds: whole Unix seconds in the
API). The drainer's pass only runs when time advances, which stands in for Nomad's disabled drainer.
"""

from __future__ import annotations

from conftest import tiny_scenario

from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.structs.node import DrainMetadata

LONG_BATCH = {"ID": "long", "Type": "batch", "TaskGroups": [{"Name": "g", "Tasks": [
    {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": {"sim.runtime": "1h"},
     "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}


def _one_node(**extra) -> tuple[Simulation, str]:
    sim = Simulation(load_scenario(tiny_scenario(nodes=1, **extra)))
    return sim, sim.state.nodes.nodes[0].id


def test_update_drain_sets_strategy_last_drain_and_events():
    """Nomad: TestClientEndpoint_UpdateDrain."""
    sim, node_id = _one_node()
    sim.api.register_job({"Job": {**LONG_BATCH, "ID": "sys", "Type": "system", "TaskGroups": [
        {**LONG_BATCH["TaskGroups"][0], "Tasks": [{**LONG_BATCH["TaskGroups"][0]["Tasks"][0], "Meta": {}}]}]}})
    sim.run(5)
    endpoint = sim.server.node_endpoint
    start = sim.now
    endpoint.set_drain(node_id, True, 10.0, meta={"message": "this node is not needed"})
    node = sim.state.node_by_id(node_id)
    assert node.drain_strategy.deadline == 10.0 and node.drain_strategy.force_deadline == start + 10.0
    assert [e.message for e in node.events] == ["Node registered", "Node drain strategy set"]
    assert node.last_drain == DrainMetadata(started_at=start, updated_at=start, status="draining",
                                            meta={"message": "this node is not needed"})
    started_at = node.drain_strategy.started_at
    assert started_at == start
    endpoint.set_drain(node_id, True, 10.0, meta={"message": "this node is not needed"})
    assert sim.state.node_by_id(node_id).drain_strategy.started_at == started_at  # kept while draining
    evals = endpoint.set_drain(node_id, False, mark_eligible=True, meta={"cancelled": "yes"})
    assert len(evals) == 1 and evals[0].job_id == "sys"  # the node is eligible again: its system job
    node = sim.state.node_by_id(node_id)
    assert len(node.events) == 4 and node.events[3].message == "Node drain disabled"
    assert node.last_drain == DrainMetadata(started_at=start, updated_at=start, status="canceled",
                                            meta={"cancelled": "yes"})
    endpoint.set_drain(node_id, False, mark_eligible=True, meta={"cancelled": "yes"})
    assert len(sim.state.node_by_id(node_id).events) == 4  # no drain before or after: no event


def test_updated_drain_and_completed():
    """Nomad: TestClientEndpoint_UpdatedDrainAndCompleted: an updated drain keeps its start and
    takes the new meta; when the drainer completes it, LastDrain is `complete`."""
    sim, node_id = _one_node()
    sim.api.register_job({"Job": LONG_BATCH})
    sim.run(5)
    endpoint = sim.server.node_endpoint
    first = sim.now
    endpoint.set_drain(node_id, True, 100.0, meta={"message": "first drain"})
    assert sim.state.node_by_id(node_id).last_drain == DrainMetadata(first, first, "draining", meta={"message": "first drain"})
    sim.advance(1)
    second = sim.now
    endpoint.set_drain(node_id, True, 200.0, meta={"message": "second drain"})
    node = sim.state.node_by_id(node_id)
    assert node.last_drain == DrainMetadata(first, second, "draining", meta={"message": "second drain"})
    assert node.drain_strategy.force_deadline == second + 200.0 and node.drain_strategy.started_at == first
    sim.advance(100)
    assert sim.state.node_by_id(node_id).drain_strategy is not None  # the batch alloc is left to finish
    sim.advance(101)
    node = sim.state.node_by_id(node_id)
    assert node.drain_strategy is None and not node.drain and node.scheduling_eligibility == "ineligible"
    assert node.last_drain.status == "complete" and node.last_drain.started_at == first
    assert node.last_drain.updated_at == second + 200.0 and node.last_drain.meta == {"message": "second drain"}
    assert node.events[-1].message == "Node drain complete" and node.events[-1].details == {"deadline_reached": "true"}


def test_ignore_system_jobs_leaves_system_allocs_running():
    """With IgnoreSystemJobs the drain completes without stopping the node's system allocs."""
    sim, node_id = _one_node()
    sim.api.register_job({"Job": {**LONG_BATCH, "ID": "sys", "Type": "system"}})
    sim.run(5)
    sim.server.node_endpoint.set_drain(node_id, True, 0.0, ignore_system_jobs=True)
    sim.advance(30)
    node = sim.state.node_by_id(node_id)
    assert node.last_drain.status == "complete"
    assert [a.desired_status for a in sim.state.allocs_by_job("default", "sys")] == ["run"]
