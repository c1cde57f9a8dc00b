"""The event stream's broker in process (sim/api/events.py).

Nomad: nomad/state/events.go (one event per changed object, typed by the write), nomad/stream
(buffer, topic/key/filter-key/namespace filtering) and command/agent/event_endpoint.go (topic parsing).
"""

from __future__ import annotations

import pytest

from sim.api.events import EventBroker, filtered, matches, parse_topics
from sim.simulation import Simulation

from .support import batch_job, example_job


def _broker(sim: Simulation) -> EventBroker:
    broker = EventBroker(sim.state, sim.server.unix_nanos)
    broker.attach()
    return broker


def _kinds(broker: EventBroker) -> list[tuple[str, str, str]]:
    return [(e["Topic"], e["Type"], e["Key"]) for batch in broker.buffer for e in batch["Events"]]


def test_a_job_run_as_nomads_events(sim):
    broker = _broker(sim)
    out = sim.api.register_job(example_job())
    sim.settle(120)
    kinds = _kinds(broker)
    assert kinds[:2] == [("Job", "JobRegistered", "example"), ("Evaluation", "JobRegistered", out["EvalID"])]
    alloc_id = sim.api.list_allocations()[0]["ID"]
    assert ("Allocation", "PlanResult", alloc_id) in kinds
    assert ("Allocation", "AllocationUpdated", alloc_id) in kinds
    assert ("Evaluation", "EvaluationUpdated", out["EvalID"]) in kinds
    assert any(k[0] == "Deployment" for k in kinds)
    indexes = [b["Index"] for b in broker.buffer]
    assert indexes == sorted(set(indexes))
    for batch in broker.buffer:
        for event in batch["Events"]:
            assert set(event) == {"Topic", "Type", "Key", "Namespace", "FilterKeys", "Index", "Payload"}
            assert event["Index"] == batch["Index"] and set(event["Payload"]) == {event["Topic"]}
    alloc_event = next(e for b in broker.buffer for e in b["Events"] if e["Topic"] == "Allocation")
    assert alloc_event["Payload"]["Allocation"]["Job"] is None  # Nomad drops the job from alloc events
    assert alloc_event["FilterKeys"][0] == "example"


def test_stop_purge_node_and_desired_transition_events(running):
    broker = _broker(running)
    api = running.api
    alloc = api.list_allocations()[0]
    api.stop_allocation(alloc["ID"])
    api.drain_node(alloc["NodeID"], {"DrainSpec": {"Deadline": 60_000_000_000}})
    api.deregister_job("example", purge=True)
    kinds = _kinds(broker)
    assert ("Allocation", "AllocationUpdateDesiredStatus", alloc["ID"]) in kinds
    assert any(k[:2] == ("Evaluation", "AllocationUpdateDesiredStatus") for k in kinds)
    assert ("Node", "NodeDrain", alloc["NodeID"]) in kinds
    purge = [e for b in broker.buffer for e in b["Events"] if e["Type"] == "JobDeregistered"]
    assert purge and purge[-1]["Payload"]["Job"]["ID"] == "example"


def test_nobody_attached_costs_nothing(sim):
    broker = EventBroker(sim.state, sim.server.unix_nanos)
    listeners = len(sim.state._listeners)
    sim.api.register_job(batch_job())
    assert len(sim.state._listeners) == listeners and not broker.buffer
    broker.attach()
    broker.detach()
    sim.api.register_job(batch_job("again"))
    assert not broker.buffer  # attached once, nobody streaming now: no events built


def test_buffer_keeps_the_last_hundred_writes_and_resumes_at_an_index(sim):
    broker = _broker(sim)
    for i in range(120):
        sim.api.register_job(batch_job(f"j{i}", count=0))
    assert len(broker.buffer) == 100
    last = broker.buffer[-1]["Index"]
    assert [b["Index"] for b in broker.since(last - 1)] == [last - 1, last]
    assert broker.since(0)[0] == broker.buffer[0]


@pytest.mark.parametrize(("raw", "topics"), [
    ([], {"*": ["*"]}),
    (["Job"], {"Job": ["*"]}),
    (["Job:web", "Job:api", "Allocation"], {"Job": ["web", "api"], "Allocation": ["*"]}),
])
def test_topic_parsing(raw, topics):
    assert parse_topics(raw) == topics


def test_topic_parsing_error():
    with pytest.raises(ValueError, match="Invalid key value pair for topic, topic: Job:a:b"):
        parse_topics(["Job:a:b"])


def test_filters_by_topic_key_filter_keys_and_namespace():
    alloc = {"Topic": "Allocation", "Key": "a1", "Namespace": "default", "FilterKeys": ["web", "d1"]}
    node = {"Topic": "Node", "Key": "n1", "Namespace": "", "FilterKeys": None}
    assert matches(alloc, {"Allocation": ["web"]}, "default")
    assert matches(alloc, {"Allocation": ["a1"]}, "default")
    assert not matches(alloc, {"Allocation": ["api"]}, "default")
    assert not matches(alloc, {"Job": ["*"]}, "default")
    assert not matches(alloc, {"*": ["*"]}, "other")
    assert matches(alloc, {"*": ["*"]}, "*")
    assert matches(node, {"Node": ["*"]}, "other")  # nodes have no namespace
    batch = {"Index": 5, "Events": [alloc, node]}
    assert filtered(batch, {"Node": ["*"]}, "default") == {"Index": 5, "Events": [node]}
    assert filtered(batch, {"Job": ["*"]}, "default") is None


def test_events_name_exactly_the_objects_each_write_stamped(sim):
    """The recorded changes (StateStore.record_changes) against a full scan of the store per write."""
    broker = _broker(sim)
    mismatches = []

    def check(index: int, tables: frozenset[str]) -> None:
        state = sim.state
        if not state.last_write:
            return
        batch = broker.buffer[-1] if broker.buffer and broker.buffer[-1]["Index"] == index else {"Events": []}
        got = {(e["Topic"], e["Key"]) for e in batch["Events"]}
        want = {("Allocation", a.id) for a in state.allocs() if a.modify_index == index}
        want |= {("Evaluation", e.id) for e in state.evals() if e.modify_index == index}
        want |= {("Deployment", d.id) for d in state.deployments() if d.modify_index == index}
        want |= {("Job", j.id) for j in state.jobs(None) if j.modify_index == index}
        want |= {("Node", n.id) for n in state.nodes.nodes if n.modify_index == index}
        want |= {("Job", key) for topic, key in got if topic == "Job" and state.job_by_id("default", key) is None}  # purged
        if got != want:
            mismatches.append((index, state.last_write, sorted(got ^ want)))

    sim.state.subscribe(check)
    api = sim.api
    api.register_job(example_job())
    api.register_job(batch_job("work", count=4))
    sim.settle(120)
    api.scale_job("example", {"Count": 2, "Target": {"Group": "cache"}})
    sim.advance(30)
    node = api.list_allocations()[0]["NodeID"]
    api.drain_node(node, {"DrainSpec": {"Deadline": 30_000_000_000}})
    sim.settle(300)
    api.stop_allocation(api.list_allocations(filter='ClientStatus == "running"')[0]["ID"])
    api.deregister_job("work", purge=True)
    sim.settle(300)
    assert sim.state.index > 20 and mismatches == []
