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
