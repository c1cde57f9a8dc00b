"""Node fields Nomad fills, read over the API: DrainStrategy, LastDrain, StatusUpdatedAt, Events.

Nomad: nomad/node_endpoint.go (UpdateDrain: StartedAt, ForceDeadline = StartedAt + Deadline and
the drain events; UpdateEligibility; UpdateStatus: "Node reregistered by heartbeat"),
nomad/state/state_store.go (updateNodeDrainImpl: LastDrain; upsertNodeTxn: "Node registered";
appendNodeEvents: 10 events kept), nomad/heartbeat.go ("Node heartbeat missed"),
nomad/drainer/drainer.go ("Node drain complete", `deadline_reached`).
"""

from __future__ import annotations

from sim.api.encode import rfc3339
from sim.simulation import Simulation

from .support import validate_response


def _messages(node: dict) -> list[tuple[str, str]]:
    return [(e["Subsystem"], e["Message"]) for e in node["Events"]]


def _unix(sim: Simulation, t: float) -> int:
    return int(sim.scenario.start_time + t)


def test_registered_nodes_have_their_event_and_status_time(sim):
    """Every node starts with `Node registered` and a StatusUpdatedAt in Unix seconds."""
    node = sim.api.read_node(sim.api.list_nodes()[0]["ID"])
    assert _messages(node) == [("Cluster", "Node registered")]
    assert node["Events"][0]["Timestamp"] == rfc3339(sim.server.unix_nanos(0.0))
    assert node["StatusUpdatedAt"] == _unix(sim, 0.0)
    assert node["LastDrain"] is None and node["DrainStrategy"] is None


def test_drain_fills_strategy_last_drain_and_events_until_complete(running):
    """A drain with a deadline: DrainStrategy (Deadline, StartedAt, ForceDeadline = StartedAt +
    Deadline), LastDrain `draining`, then `complete` with the drain event; the node stays
    ineligible."""
    sim, api = running, running.api
    node_id = api.list_nodes()[0]["ID"]
    sim.advance(100)
    api.drain_node(node_id, {"DrainSpec": {"Deadline": 600_000_000_000, "IgnoreSystemJobs": True},
                             "Meta": {"reason": "kernel upgrade"}})
    started = sim.now
    node = api.read_node(node_id)
    strategy = node["DrainStrategy"]
    assert strategy == {"Deadline": 600_000_000_000, "IgnoreSystemJobs": True,
                        "StartedAt": rfc3339(sim.server.unix_nanos(started)),
                        "ForceDeadline": rfc3339(sim.server.unix_nanos(started + 600))}
    assert node["LastDrain"]["Status"] == "draining" and node["LastDrain"]["Meta"] == {"reason": "kernel upgrade"}
    assert node["StatusUpdatedAt"] == _unix(sim, started)
    assert _messages(node)[-1] == ("Drain", "Node drain strategy set")
    assert api.list_nodes()[0]["LastDrain"] == node["LastDrain"]
    validate_response("GetNodeResponse", node)
    sim.advance(700)
    node = api.read_node(node_id)
    assert node["Drain"] is False and node["DrainStrategy"] is None
    assert node["SchedulingEligibility"] == "ineligible"
    last = node["LastDrain"]
    assert last["Status"] == "complete" and last["StartedAt"] == rfc3339(_unix(sim, started) * 1_000_000_000)
    assert last["Meta"] == {"reason": "kernel upgrade"} and last["AccessorID"] == ""
    assert _messages(node)[-1] == ("Drain", "Node drain complete")


def test_drain_reaching_its_deadline_says_so(running):
    """A drain forced by its deadline completes with the `deadline_reached` detail."""
    sim, api = running, running.api
    node_id = next(a["NodeID"] for a in api.job_allocations("example") if a["ClientStatus"] == "running")
    api.drain_node(node_id, {"DrainSpec": {"Deadline": -1}})
    sim.advance(5)
    events = api.read_node(node_id)["Events"]
    assert events[-1]["Message"] == "Node drain complete" and events[-1]["Details"] == {"deadline_reached": "true"}


def test_cancelled_drain_and_eligibility_events(running):
    """Disabling a drain: LastDrain `canceled`, `Node drain disabled`; marking eligible again
    records Nomad's eligibility message."""
    api = running.api
    node_id = api.list_nodes()[1]["ID"]
    api.drain_node(node_id, {"DrainSpec": {"Deadline": 0}})
    api.drain_node(node_id, {"DrainSpec": {"Deadline": 0}})
    api.drain_node(node_id, {"DrainSpec": None})
    api.node_eligibility(node_id, {"Eligibility": "eligible"})
    node = api.read_node(node_id)
    assert node["LastDrain"]["Status"] == "canceled" and node["DrainStrategy"] is None
    assert _messages(node)[-4:] == [("Drain", "Node drain strategy set"), ("Drain", "Node drain strategy updated"),
                                    ("Drain", "Node drain disabled"),
                                    ("Cluster", "Node marked as eligible for scheduling")]
    assert [e["CreateIndex"] for e in node["Events"]] == sorted(e["CreateIndex"] for e in node["Events"])


def test_heartbeat_missed_and_reregistered_events(running):
    """A node that stops heartbeating is marked down with `Node heartbeat missed`; back up, it
    gets `Node reregistered by heartbeat`. Only the last 10 events are kept."""
    sim, api = running, running.api
    node = running.state.nodes.live()[2]
    for _ in range(6):
        sim.clients.node_down(node.id)
        sim.advance(120)
        sim.clients.node_up(node.id)
        sim.advance(10)
    events = api.read_node(node.id)["Events"]
    assert len(events) == 10
    assert [e["Message"] for e in events[-2:]] == ["Node heartbeat missed", "Node reregistered by heartbeat"]
