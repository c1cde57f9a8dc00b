"""The node drainer (sim/server/drainer.py): batches, deadlines, system allocs, completion.

Cases follow Nomad's nomad/drainer/watch_jobs_test.go (TestHandleTaskGroup_*) and drainer_test /
draining_node_test.go; each docstring names the Nomad test it ports.
"""

from __future__ import annotations

from sim.structs.alloc import Allocation

from .test_node_endpoint import ClusterHarness, service_job


def migrating(ch: ClusterHarness) -> list[str]:
    """IDs of allocs marked for migration, in creation order."""
    return [a.id for a in ch.state.allocs() if a.desired_transition.migrate]


def replace_alloc(ch: ClusterHarness, old: Allocation, node: int) -> Allocation:
    """What the scheduler and client do for a migrated alloc: stop it, place a replacement."""
    ch.stop(old)
    ch.server.node_endpoint.update_allocs([(old, {"client_status": "complete"})])
    return ch.place(old.job, node)


def test_drain_marks_max_parallel_then_waits_for_health() -> None:
    """Count 3, max_parallel 1, all healthy: one alloc migrates; the next waits for a healthy replacement.

    Nomad: watch_jobs_test.go TestHandleTaskGroup_Migrations / TestDrainingJobWatcher_DrainJobs.
    """
    ch = ClusterHarness()
    job = ch.register(service_job(count=3))
    allocs = [ch.place(job, 0, healthy=True), ch.place(job, 0, healthy=True), ch.place(job, 1, healthy=True)]
    ch.endpoint.set_drain("node-0", True, None)
    ch.env.run(until=1)
    assert migrating(ch) == [allocs[0].id]
    assert ch.triggers() == [("node-drain", "web")]
    fresh = replace_alloc(ch, allocs[0], 2)
    ch.env.run(until=2)
    assert migrating(ch) == [allocs[0].id]
    ch.server.node_endpoint.update_allocs([(fresh, {"healthy": True})])
    ch.env.run(until=3)
    assert migrating(ch) == [allocs[0].id, allocs[1].id]
    assert ch.triggers() == [("node-drain", "web")] * 2


def test_larger_max_parallel_marks_a_bigger_batch() -> None:
    """max_parallel 2 with every alloc healthy marks two at once. Nomad: TestHandleTaskGroup_Migrations."""
    ch = ClusterHarness()
    job = ch.register(service_job(count=4, max_parallel=2))
    for _ in range(3):
        ch.place(job, 0, healthy=True)
    ch.place(job, 1, healthy=True)
    ch.endpoint.set_drain("node-0", True, None)
    ch.env.run(until=1)
    assert len(migrating(ch)) == 2


def test_unhealthy_group_is_not_drained_before_the_deadline() -> None:
    """With no health verdicts nothing is marked until the deadline, then everything is."""
    ch = ClusterHarness()
    job = ch.register(service_job(count=2))
    ch.place(job, 0)
    ch.place(job, 0)
    ch.endpoint.set_drain("node-0", True, 60)
    ch.env.run(until=59)
    assert migrating(ch) == []
    ch.env.run(until=61)
    assert len(migrating(ch)) == 2
    node = ch.state.node_by_id("node-0")
    assert not node.drain and node.scheduling_eligibility == "ineligible"


def test_batch_allocs_finish_before_drain_completes() -> None:
    """Batch allocs are never marked; the drain completes once they finish. Nomad: TestHandleTaskGroup_Batch."""
    ch = ClusterHarness()
    job = ch.register(service_job("b", count=1, type="batch"))
    alloc = ch.place(job, 0)
    ch.endpoint.set_drain("node-0", True, None)
    ch.env.run(until=5)
    assert migrating(ch) == [] and ch.state.node_by_id("node-0").drain
    ch.server.node_endpoint.update_allocs([(alloc, {"client_status": "complete"})])
    ch.env.run(until=6)
    assert not ch.state.node_by_id("node-0").drain


def test_system_allocs_are_marked_last() -> None:
    """System allocs stay until the rest is done, then are marked and the drain completes.

    Nomad: draining_node.go IsDone / drainer.go handleMigratedAllocs.
    """
    ch = ClusterHarness()
    system = ch.register(service_job("sys", count=1, type="system", reschedule=None))
    batch = ch.register(service_job("b", count=1, type="batch"))
    sys_alloc, batch_alloc = ch.place(system, 0), ch.place(batch, 0)
    ch.endpoint.set_drain("node-0", True, None)
    ch.env.run(until=5)
    assert migrating(ch) == []
    ch.server.node_endpoint.update_allocs([(batch_alloc, {"client_status": "complete"})])
    ch.env.run(until=6)
    assert migrating(ch) == [sys_alloc.id] and ("node-drain", "sys") in ch.triggers()
    assert not ch.state.node_by_id("node-0").drain


def test_empty_node_drain_completes_at_once() -> None:
    """A node with nothing on it finishes draining on the first pass."""
    ch = ClusterHarness()
    ch.endpoint.set_drain("node-1", True, None)
    ch.env.run(until=1)
    node = ch.state.node_by_id("node-1")
    assert not node.drain and node.scheduling_eligibility == "ineligible" and ch.server.evals == []


def test_forced_drain_marks_everything_now() -> None:
    """A negative deadline forces the drain: every alloc migrates at once."""
    ch = ClusterHarness()
    job = ch.register(service_job(count=2))
    ch.place(job, 0)
    ch.place(ch.register(service_job("b", type="batch")), 0)
    ch.endpoint.set_drain("node-0", True, -1)
    ch.env.run(until=0.01)
    assert len(migrating(ch)) == 2
    assert sorted(ch.triggers()) == [("node-drain", "b"), ("node-drain", "web")]


def test_cancelled_drain_stops_marking() -> None:
    """After the drain is cancelled, its deadline does nothing."""
    ch = ClusterHarness()
    job = ch.register(service_job(count=2))
    ch.place(job, 0)
    ch.endpoint.set_drain("node-0", True, 30)
    ch.env.run(until=10)
    ch.endpoint.set_drain("node-0", False)
    ch.env.run(until=40)
    assert migrating(ch) == []


def test_drain_helper_goes_through_the_endpoint() -> None:
    """`Drainer.drain` (scenario events) sets the flag and ineligibility like the API does."""
    ch = ClusterHarness()
    ch.place(ch.register(service_job(count=2)), 0, healthy=True)
    ch.server.drainer.drain("node-0", 120)
    node = ch.state.node_by_id("node-0")
    assert node.drain and node.scheduling_eligibility == "ineligible"
    assert ch.server.drainer.deadline_of("node-0") == 120
